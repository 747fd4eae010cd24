// The LMDB state store under concurrent use: a process killed with
// SIGKILL in the middle of writes (the judging point: every
// greylist entry whose reply reached the client is there after the
// restart), and threads racing on the same keys (test suite "threads",
// also run under ThreadSanitizer).
#include "lmdb_test_support.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <latch>
#include <map>
#include <thread>

using namespace portcullis::testing;

namespace {

bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t written = ::write(fd, bytes.data(), bytes.size());
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return false;
        bytes.remove_prefix(static_cast<std::size_t>(written));
    }
    return true;
}

// The child: greylists triplets until it is killed, telling the parent
// each key once put_if_absent has returned (as the 451 would go out).
[[noreturn]] void write_until_killed(const TempDir &dir, int round, int acknowledgements) {
    LmdbSettings settings = settings_for(dir);
    settings.sweep_interval = 60s; // the sweeper's thread is there, as in the daemon
    std::string error;
    auto store = LmdbStore::open(settings, error);
    if (!store)
        ::_exit(2);
    for (int i = 0; i < 100'000'000; ++i) {
        const std::string key = "greylist:" + std::to_string(round) + ":192.0.2.0/24:sender" +
                                std::to_string(i) + ":rcpt";
        std::optional<Entry> existing;
        if (!store->put_if_absent(key, "first-seen", t0 + 1h, t0, existing).ok())
            ::_exit(3);
        if (!write_all(acknowledgements, key + "\n"))
            ::_exit(4);
    }
    ::_exit(5);
}

// Runs a child and kills it after `kill_after` acknowledgements; returns
// every key it acknowledged, those still in the pipe after its death too.
std::vector<std::string> acknowledged_before_kill(const TempDir &dir, int round,
                                                  std::size_t kill_after) {
    int pipe_ends[2];
    REQUIRE(::pipe(pipe_ends) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(pipe_ends[0]);
        write_until_killed(dir, round, pipe_ends[1]);
    }
    ::close(pipe_ends[1]);
    std::vector<std::string> acknowledged;
    std::string pending;
    bool killed = false;
    char buffer[4096];
    for (;;) {
        const ssize_t got = ::read(pipe_ends[0], buffer, sizeof buffer);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        pending.append(buffer, static_cast<std::size_t>(got));
        for (std::size_t end; (end = pending.find('\n')) != std::string::npos;) {
            acknowledged.push_back(pending.substr(0, end));
            pending.erase(0, end + 1);
        }
        if (!killed && acknowledged.size() >= kill_after) {
            REQUIRE(::kill(child, SIGKILL) == 0);
            killed = true;
        }
    }
    ::close(pipe_ends[0]);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CAPTURE(status);
    REQUIRE(WIFSIGNALED(status)); // not an exit: 2 open, 3 put, 4 pipe
    CHECK(WTERMSIG(status) == SIGKILL);
    REQUIRE(acknowledged.size() >= kill_after);
    return acknowledged;
}

} // namespace

TEST_CASE("kill -9 in the middle of writes loses no entry whose put had returned") {
    // Several rounds on one store, each killed at another point of a
    // commit, and each restart finding what every earlier round wrote.
    TempDir dir;
    std::vector<std::string> acknowledged;
    for (int round = 0; round < 5; ++round) {
        CAPTURE(round);
        const auto killed = acknowledged_before_kill(dir, round, 100 + 37 * round);
        acknowledged.insert(acknowledged.end(), killed.begin(), killed.end());
        auto store = open_store(settings_for(dir)); // closed again before the next fork
        std::size_t missing = 0;
        for (const std::string &key : acknowledged)
            if (value_of(*store, key, t0) != "first-seen")
                ++missing;
        CHECK(missing == 0);
        CHECK(entries_in(*store) >= acknowledged.size());
        CHECK(store->put("restart:" + std::to_string(round), "x", t0 + 1h, t0).ok());
    }
}

TEST_CASE("racing put_if_absent: exactly one thread wins each key" *
          doctest::test_suite("threads")) {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    constexpr int threads = 8;
    constexpr int keys = 100;
    std::vector<std::vector<int>> won(threads);
    std::atomic<int> failures{0};
    std::latch start(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            start.arrive_and_wait();
            for (int k = 0; k < keys; ++k) {
                std::optional<Entry> existing;
                const Outcome outcome =
                    store->put_if_absent("triplet:" + std::to_string(k),
                                         "thread " + std::to_string(t), t0 + 1h, t0, existing);
                if (!outcome.ok() || (existing && !existing->value.starts_with("thread ")))
                    ++failures;
                else if (!existing)
                    won[t].push_back(k);
            }
        });
    for (std::thread &worker : workers)
        worker.join();
    CHECK(failures == 0);
    std::map<int, int> winner;
    for (int t = 0; t < threads; ++t)
        for (int k : won[t])
            CHECK(winner.emplace(k, t).second);
    CHECK(winner.size() == keys);
    for (const auto &[k, t] : winner)
        CHECK(value_of(*store, "triplet:" + std::to_string(k), t0) ==
              "thread " + std::to_string(t));
}

TEST_CASE("counting from several threads loses no event" * doctest::test_suite("threads")) {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    constexpr int threads = 4;
    constexpr int each = 50;
    std::atomic<int> failures{0};
    std::latch start(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            start.arrive_and_wait();
            for (int i = 0; i < each; ++i) {
                std::uint64_t events = 0;
                const Time at = t0 + std::chrono::milliseconds(i * threads + t);
                if (!store->count_event("rejected:192.0.2.1", at, 1h, 1h, true, events).ok())
                    ++failures;
            }
        });
    for (std::thread &worker : workers)
        worker.join();
    CHECK(failures == 0);
    std::uint64_t events = 0;
    REQUIRE(store->count_event("rejected:192.0.2.1", t0 + 1s, 1h, 1h, false, events).ok());
    CHECK(events == threads * each);
}

TEST_CASE("a sweep racing renewals never erases a renewed entry" * doctest::test_suite("threads")) {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    constexpr int keys = 2000;
    for (int k = 0; k < keys; ++k)
        REQUIRE(store->put("allow:" + std::to_string(k), "old", t0 + 1s, t0).ok());
    std::atomic<bool> renewing{true};
    std::atomic<int> failures{0};
    std::thread sweeper([&] {
        while (renewing)
            if (!store->sweep(t0 + 2s).ok())
                ++failures;
    });
    for (int k = 0; k < keys; ++k)
        if (!store->put("allow:" + std::to_string(k), "renewed", t0 + 1h, t0 + 2s).ok())
            ++failures;
    renewing = false;
    sweeper.join();
    CHECK(failures == 0);
    REQUIRE(store->sweep(t0 + 2s).ok());
    CHECK(entries_in(*store) == keys);
    CHECK(keys_listed(*store, "allow:", t0 + 2s, keys + 1).size() == keys);
}
