// The Redis store when Redis goes away, stalls or never answers: every
// call ends within its timeout, the circuit breaker opens and closes, and
// service resumes without a new store. Then several threads on one pool.
#include "state/redis_store.hpp"

#include "redis_server.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace portcullis::state;
using portcullis::testing::RedisServer;
using portcullis::testing::SilentTcpServer;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

const Time t0 = Time(std::chrono::seconds(1'000'000'000));

std::unique_ptr<RedisStore> open_store(const std::string &url, RedisSettings settings = {}) {
    settings.url = url;
    std::string error;
    auto store = RedisStore::create(settings, error);
    REQUIRE_MESSAGE(store, error);
    return store;
}

struct Timed {
    Outcome outcome;
    std::chrono::milliseconds took;
};

Timed timed_get(Store &store, std::string_view key = "k") {
    const auto start = SteadyClock::now();
    std::optional<Entry> entry;
    Timed result{store.get(key, t0, entry), {}};
    result.took = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
    return result;
}

} // namespace

TEST_CASE("a stopped server: calls fail at once, the breaker opens, service resumes by itself") {
    RedisServer server;
    RedisSettings settings;
    settings.breaker_failures = 3;
    settings.breaker_interval = 300ms;
    auto store = open_store(server.url(), settings);
    REQUIRE(store->put("k", "v", t0 + 1h, t0).ok());

    server.stop();
    for (unsigned i = 0; i < settings.breaker_failures; ++i) {
        CHECK_FALSE(store->breaker_open());
        auto result = timed_get(*store);
        CHECK(result.outcome.status == Outcome::Status::unavailable);
        CHECK(result.took < settings.timeout * 3);
    }
    CHECK(store->breaker_open());
    CHECK(store->breaker_openings() == 1);
    const auto opened = SteadyClock::now();

    auto refused = timed_get(*store);
    CHECK(refused.outcome.status == Outcome::Status::unavailable);
    CHECK_MESSAGE(refused.outcome.why.find("circuit breaker") != std::string::npos,
                  refused.outcome.why);
    CHECK(refused.took < 50ms);
    std::uint64_t events = 0;
    CHECK(store->count_event("c", t0, 1h, 1h, true, events).status == Outcome::Status::unavailable);
    CHECK(store->breaker_openings() == 1); // once per interval: one line in the log

    server.start();
    std::this_thread::sleep_until(opened + settings.breaker_interval + 20ms);
    auto resumed = timed_get(*store);
    CHECK_MESSAGE(resumed.outcome.ok(), resumed.outcome.why);
    CHECK_FALSE(store->breaker_open());
    REQUIRE(store->put("k", "back", t0 + 1h, t0).ok());
    std::optional<Entry> entry;
    REQUIRE(store->get("k", t0, entry).ok());
    CHECK(entry->value == "back");
}

TEST_CASE("a failed trial opens the breaker for another interval") {
    RedisServer server;
    RedisSettings settings;
    settings.breaker_failures = 1;
    settings.breaker_interval = 200ms;
    auto store = open_store(server.url(), settings);
    server.stop();
    CHECK(timed_get(*store).outcome.status == Outcome::Status::unavailable);
    REQUIRE(store->breaker_open());
    std::this_thread::sleep_for(settings.breaker_interval + 20ms);
    auto trial = timed_get(*store);
    CHECK(trial.outcome.status == Outcome::Status::unavailable);
    CHECK(trial.outcome.why.find("circuit breaker") == std::string::npos); // it tried
    CHECK(store->breaker_openings() == 2);
    CHECK(timed_get(*store).outcome.why.find("circuit breaker") != std::string::npos);
}

TEST_CASE("a restarted server costs no failed call: idle connections it closed are dropped") {
    for (auto listen : {RedisServer::Listen::unix_socket, RedisServer::Listen::tcp}) {
        CAPTURE(int(listen));
        RedisServer server(listen);
        RedisSettings settings;
        settings.breaker_failures = 1;
        auto store = open_store(server.url(), settings);
        REQUIRE(store->put("k", "v", t0 + 1h, t0).ok());
        server.stop();
        server.start();
        for (int i = 0; i < 3; ++i) {
            auto result = timed_get(*store);
            CHECK_MESSAGE(result.outcome.ok(), result.outcome.why);
        }
        CHECK(store->breaker_openings() == 0);
    }
}

TEST_CASE("a server unreachable at creation is no error; the store works once it answers") {
    RedisServer server;
    server.stop();
    auto store = open_store(server.url());
    CHECK(timed_get(*store).outcome.status == Outcome::Status::unavailable);
    server.start();
    auto result = timed_get(*store);
    CHECK_MESSAGE(result.outcome.ok(), result.outcome.why);
}

TEST_CASE("a stalled server (SIGSTOP): calls time out within the timeout") {
    RedisServer server;
    RedisSettings settings;
    settings.timeout = 200ms;
    settings.breaker_failures = 2;
    settings.breaker_interval = 300ms;
    auto store = open_store(server.url(), settings);
    REQUIRE(store->put("k", "v", t0 + 1h, t0).ok());

    server.pause();
    for (unsigned i = 0; i < settings.breaker_failures; ++i) {
        auto result = timed_get(*store); // first on the pooled connection, then on a new one
        CHECK(result.outcome.status == Outcome::Status::timeout);
        CHECK(result.took >= settings.timeout - 10ms);
        CHECK(result.took < settings.timeout * 3);
    }
    CHECK(store->breaker_open());
    auto refused = timed_get(*store);
    CHECK(refused.outcome.status == Outcome::Status::unavailable);
    CHECK(refused.took < 50ms);

    server.resume();
    std::this_thread::sleep_for(settings.breaker_interval + 20ms);
    auto resumed = timed_get(*store);
    CHECK_MESSAGE(resumed.outcome.ok(), resumed.outcome.why);
    CHECK(resumed.outcome.ok());
}

TEST_CASE("a server that accepts and never answers: timeout within bounds, then the breaker") {
    SilentTcpServer silent;
    RedisSettings settings;
    settings.timeout = 150ms;
    settings.breaker_failures = 3;
    auto store = open_store(silent.url(), settings);
    for (unsigned i = 0; i < settings.breaker_failures; ++i) {
        const auto start = SteadyClock::now();
        std::uint64_t events = 0;
        auto outcome = store->count_event("c", t0, 1h, 1h, true, events);
        const auto took = SteadyClock::now() - start;
        CHECK(outcome.status == Outcome::Status::timeout);
        CHECK(took >= settings.timeout - 10ms);
        CHECK(took < settings.timeout * 3);
    }
    CHECK(store->breaker_open());
    auto refused = timed_get(*store);
    CHECK(refused.outcome.status == Outcome::Status::unavailable);
    CHECK(refused.took < 50ms);
}

TEST_CASE("threads of two stores count every event once" * doctest::test_suite("threads")) {
    RedisServer server;
    RedisSettings settings;
    settings.pool_size = 2;
    settings.timeout = 2s; // the threads test atomicity, not speed
    auto mx1 = open_store(server.url(), settings);
    auto mx2 = open_store(server.url(), settings);
    constexpr int threads = 8, per_thread = 100;
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            Store &store = t % 2 ? *mx1 : *mx2;
            for (int i = 0; i < per_thread; ++i) {
                std::uint64_t events = 0;
                if (!store
                         .count_event("client", t0 + std::chrono::milliseconds(t * 1000 + i), 1h,
                                      2h, true, events)
                         .ok())
                    ++failures;
            }
        });
    for (auto &worker : workers)
        worker.join();
    CHECK(failures == 0);
    std::uint64_t events = 0;
    REQUIRE(mx1->count_event("client", t0 + 10s, 1h, 2h, false, events).ok());
    CHECK(events == threads * per_thread);
}

TEST_CASE("put_if_absent elects one writer among threads of two stores" *
          doctest::test_suite("threads")) {
    RedisServer server;
    RedisSettings settings;
    settings.timeout = 2s;
    auto mx1 = open_store(server.url(), settings);
    auto mx2 = open_store(server.url(), settings);
    constexpr int rounds = 20, threads = 8;
    std::atomic<int> stored[rounds] = {};
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            Store &store = t % 2 ? *mx1 : *mx2;
            for (int round = 0; round < rounds; ++round) {
                std::optional<Entry> existing;
                auto outcome = store.put_if_absent("key" + std::to_string(round), std::to_string(t),
                                                   t0 + 1h, t0, existing);
                if (!outcome.ok())
                    ++failures;
                else if (!existing)
                    ++stored[round];
            }
        });
    for (auto &worker : workers)
        worker.join();
    CHECK(failures == 0);
    for (int round = 0; round < rounds; ++round)
        CHECK(stored[round] == 1);
}

TEST_CASE("the pool bounds the connections; threads beyond it wait their turn" *
          doctest::test_suite("threads")) {
    RedisServer server;
    RedisSettings settings;
    settings.pool_size = 2;
    settings.timeout = 2s;
    auto store = open_store(server.url(), settings);
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < 8; ++t)
        workers.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                const auto key = "k" + std::to_string(t) + "-" + std::to_string(i);
                std::optional<Entry> entry;
                if (!store->put(key, "v", t0 + 1h, t0).ok() || !store->get(key, t0, entry).ok() ||
                    !entry)
                    ++failures;
            }
        });
    for (auto &worker : workers)
        worker.join();
    CHECK(failures == 0);
    // The test's own connection is the one more.
    auto info = server.command({"INFO", "clients"});
    const std::string text(info->str, info->len);
    const auto at = text.find("connected_clients:");
    REQUIRE(at != std::string::npos);
    const int clients = std::atoi(text.c_str() + at + 18);
    CHECK(clients >= 2);
    CHECK(clients <= 3);
}

TEST_CASE("with every connection stuck, waiting threads give up at their deadline" *
          doctest::test_suite("threads")) {
    SilentTcpServer silent;
    RedisSettings settings;
    settings.pool_size = 1;
    settings.timeout = 200ms;
    settings.breaker_failures = 100;
    auto store = open_store(silent.url(), settings);
    constexpr int threads = 4;
    std::vector<Timed> results(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] { results[t] = timed_get(*store); });
    for (auto &worker : workers)
        worker.join();
    for (const auto &result : results) {
        CHECK(result.outcome.status == Outcome::Status::timeout);
        CHECK(result.took < settings.timeout * 3);
    }
}
