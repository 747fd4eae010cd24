// greylist-rate: greylisting decisions per second over the two backends
// of the state store, one decision at a time, by the path a decision takes
// through memory::decide_greylist (milter/memory/greylist.cpp):
//
//   passed  the origin has passed (the usual case): one get
//   new     a triplet never seen: a get and a put_if_absent (one write)
//   retry   a retry after greylist.delay: a get, a put_if_absent that finds
//           the triplet (a read), a put of the pass and an erase (two writes)
//
//   greylist-rate [--lmdb DIR] [--redis URL] [--seconds S] [--json FILE]
//
// --lmdb: an LmdbStore in a new directory under DIR (removed at exit),
// opened as the daemon opens it (one fdatasync per write), without the
// background sweeper so that only decisions use the CPU.
// --redis: a RedisStore on URL (a server of the caller's: the keys it
// writes are under portcullis:grey:/pass: with a tag of this run). The
// server's CPU comes from its INFO cpu (used_cpu_user + used_cpu_sys, to
// the microsecond), read before and after each timed path.
//
// Each path runs for at least S seconds (default 1) and 200 decisions.
// The retry path needs a triplet first tried longer than greylist.delay
// ago and an origin of its own per decision: those are written beforehand,
// untimed (as many as the new path's rate says S seconds need, twice over).
//
// Reported per backend and path: decisions, decisions/s, the driver's CPU
// per decision (CLOCK_PROCESS_CPUTIME_ID: decide_greylist, the store's
// client side and, for LMDB, the whole write), the Redis server's CPU per
// decision, and the p50/p99/max latency. Every decision's result is
// checked against its path. Exit status 1 when one was wrong or the store
// failed, 64 on bad usage.
#include "memory/greylist.hpp"
#include "memory/keys.hpp"
#include "state/lmdb_store.hpp"
#include "state/redis_store.hpp"
#include "state/redis_url.hpp"

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <sys/vfs.h>
#include <unistd.h>
#include <vector>

using namespace portcullis;
using namespace std::chrono_literals;

namespace {

struct Options {
    std::string lmdb_parent;
    std::string redis_url;
    double seconds = 1.0;
    std::string json;
};

[[noreturn]] void usage(const std::string &problem) {
    std::fprintf(stderr,
                 "greylist-rate: %s\n"
                 "usage: greylist-rate [--lmdb DIR] [--redis URL] [--seconds S] [--json FILE]\n",
                 problem.c_str());
    std::exit(64);
}

Options parse_options(int argc, char **argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string option = argv[i];
        if (i + 1 >= argc)
            usage(option + " needs a value");
        const std::string value = argv[++i];
        if (option == "--lmdb")
            options.lmdb_parent = value;
        else if (option == "--redis")
            options.redis_url = value;
        else if (option == "--json")
            options.json = value;
        else if (option == "--seconds") {
            char *end = nullptr;
            options.seconds = std::strtod(value.c_str(), &end);
            if (value.empty() || *end != '\0' || !(options.seconds > 0) || options.seconds > 600)
                usage("--seconds wants a number of seconds in (0, 600]: " + value);
        } else
            usage("unknown option " + option);
    }
    if (options.lmdb_parent.empty() && options.redis_url.empty())
        usage("give --lmdb, --redis or both");
    return options;
}

// The file system a directory is on, by its magic number (statfs(2)): a
// sync on tmpfs costs nothing, on a disk it is most of a write's time.
std::string filesystem_of(const std::string &directory) {
    struct statfs info {};
    if (::statfs(directory.c_str(), &info) != 0)
        return "?";
    switch (static_cast<unsigned long>(info.f_type)) {
    case 0xEF53:
        return "ext4";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x01021994:
        return "tmpfs";
    case 0x794C7630:
        return "overlayfs";
    default: {
        char text[32];
        std::snprintf(text, sizeof text, "fs 0x%lx", static_cast<unsigned long>(info.f_type));
        return text;
    }
    }
}

double process_cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// The Redis server's own CPU seconds (INFO cpu), or nullopt.
class RedisCpu {
  public:
    explicit RedisCpu(const state::RedisUrl &url) {
        const timeval timeout{2, 0};
        context_ =
            url.kind == state::RedisUrl::Kind::tcp
                ? redisConnectWithTimeout(url.host.c_str(), static_cast<int>(url.port), timeout)
                : redisConnectUnixWithTimeout(url.path.c_str(), timeout);
    }
    ~RedisCpu() {
        if (context_)
            redisFree(context_);
    }
    RedisCpu(const RedisCpu &) = delete;
    RedisCpu &operator=(const RedisCpu &) = delete;

    std::optional<double> seconds() {
        if (!context_ || context_->err)
            return std::nullopt;
        auto *reply = static_cast<redisReply *>(redisCommand(context_, "INFO cpu"));
        if (!reply)
            return std::nullopt;
        std::optional<double> total;
        if (reply->type == REDIS_REPLY_STRING) {
            const std::string text(reply->str, reply->len);
            double sum = 0;
            int found = 0;
            for (const char *field : {"used_cpu_user:", "used_cpu_sys:"}) {
                const auto at = text.find(std::string("\n") + field);
                if (at == std::string::npos)
                    continue;
                sum += std::strtod(text.c_str() + at + 1 + std::strlen(field), nullptr);
                ++found;
            }
            if (found == 2)
                total = sum;
        }
        freeReplyObject(reply);
        return total;
    }

  private:
    redisContext *context_ = nullptr;
};

struct PathResult {
    std::string path;
    unsigned long decisions = 0;
    unsigned long wrong = 0; // results other than the path's, store errors included
    std::string first_wrong;
    double seconds = 0;
    double cpu_seconds = 0;
    std::optional<double> server_cpu_seconds;
    std::vector<double> micros;
};

using memory::GreylistDecision;
using Result = GreylistDecision::Result;

const memory::GreylistSettings settings{5min, 48h, 36 * 24h};

// Runs `decide(i)` for i = 0, 1, ... until `seconds` have passed and at
// least 200 decisions were made, or `most` decisions (0: no bound).
template <typename Decide, typename Expected>
PathResult timed(const std::string &name, double seconds, unsigned long most, RedisCpu *server,
                 Decide decide, Expected expected) {
    PathResult result;
    result.path = name;
    std::optional<double> server_before = server ? server->seconds() : std::nullopt;
    const double cpu_before = process_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    const auto until = start + std::chrono::duration<double>(seconds);
    for (unsigned long i = 0; most == 0 || i < most; ++i) {
        const auto before = std::chrono::steady_clock::now();
        if (i >= 200 && before >= until)
            break;
        const GreylistDecision decision = decide(i);
        result.micros.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - before)
                .count());
        ++result.decisions;
        if (const std::string problem = expected(decision); !problem.empty()) {
            if (result.wrong++ == 0)
                result.first_wrong = problem;
        }
    }
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.cpu_seconds = process_cpu_seconds() - cpu_before;
    if (server_before)
        if (const auto after = server->seconds())
            result.server_cpu_seconds = *after - *server_before;
    return result;
}

std::string describe(const GreylistDecision &decision) {
    switch (decision.result) {
    case Result::passed:
        return "passed (" + decision.how + ")";
    case Result::greylisted:
        return decision.first_try ? "greylisted, first try" : "greylisted, early retry";
    case Result::store_error:
        return "store error: " + std::string(state::to_string(decision.outcome.status)) + ": " +
               decision.outcome.why;
    }
    return "?";
}

// The three paths over one store; `tag` keeps this run's keys apart.
std::vector<PathResult> run_paths(state::Store &store, const std::string &tag, double seconds,
                                  RedisCpu *server, bool &ok) {
    std::vector<PathResult> results;
    const std::string sender = "sender@senders.bench.example";
    auto recipient = [](unsigned long i) { return "user" + std::to_string(i) + "@dest.example"; };

    // passed: one origin, passed beforehand.
    const std::string passed_origin = "d:passed-" + tag + ".example";
    auto now = state::Clock::now();
    if (auto outcome =
            store.put(memory::pass_key(passed_origin), "0 bench", now + settings.allow_time, now);
        !outcome.ok()) {
        std::fprintf(stderr, "greylist-rate: %s: cannot write the passed origin: %s\n",
                     store.describe().c_str(), outcome.why.c_str());
        ok = false;
        return results;
    }
    results.push_back(timed(
        "passed", seconds, 0, server,
        [&](unsigned long i) {
            return memory::decide_greylist(store, settings, passed_origin, sender, recipient(i),
                                           state::Clock::now());
        },
        [](const GreylistDecision &d) {
            return d.result == Result::passed && d.how == "origin passed" ? "" : describe(d);
        }));

    // new: one origin never passed, a new recipient each time.
    const std::string new_origin = "d:new-" + tag + ".example";
    results.push_back(timed(
        "new", seconds, 0, server,
        [&](unsigned long i) {
            return memory::decide_greylist(store, settings, new_origin, sender, recipient(i),
                                           state::Clock::now());
        },
        [](const GreylistDecision &d) {
            return d.result == Result::greylisted && d.first_try ? "" : describe(d);
        }));

    // retry: triplets first tried delay + 1 minute ago, each its own origin.
    const double new_rate = static_cast<double>(results.back().decisions) / results.back().seconds;
    const auto prepared = static_cast<unsigned long>(std::max(400.0, 2 * new_rate * seconds + 200));
    auto retry_origin = [&](unsigned long i) {
        return "d:retry-" + tag + "-" + std::to_string(i) + ".example";
    };
    now = state::Clock::now();
    const auto first_try = std::chrono::duration_cast<std::chrono::milliseconds>(
                               (now - settings.delay - 1min).time_since_epoch())
                               .count();
    for (unsigned long i = 0; i < prepared; ++i) {
        const auto key = memory::triplet_key(retry_origin(i), sender, recipient(0));
        if (auto outcome = store.put(key, memory::format_ms(first_try), now + 24h, now);
            !outcome.ok()) {
            std::fprintf(stderr, "greylist-rate: %s: cannot write triplet %lu: %s\n",
                         store.describe().c_str(), i, outcome.why.c_str());
            ok = false;
            return results;
        }
    }
    results.push_back(timed(
        "retry", seconds, prepared, server,
        [&](unsigned long i) {
            return memory::decide_greylist(store, settings, retry_origin(i), sender, recipient(0),
                                           state::Clock::now());
        },
        [](const GreylistDecision &d) {
            return d.result == Result::passed && d.how == "retry passed" ? "" : describe(d);
        }));
    return results;
}

double percentile(std::vector<double> values, double p) {
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
}

nlohmann::json report(const std::string &backend, const std::string &where,
                      const std::vector<PathResult> &results, bool &ok) {
    nlohmann::json out = {
        {"backend", backend}, {"store", where}, {"paths", nlohmann::json::array()}};
    for (const auto &r : results) {
        const double n = static_cast<double>(std::max<unsigned long>(r.decisions, 1));
        nlohmann::json row = {{"path", r.path},
                              {"decisions", r.decisions},
                              {"wrong", r.wrong},
                              {"seconds", r.seconds},
                              {"per_second", static_cast<double>(r.decisions) / r.seconds},
                              {"cpu_us", r.cpu_seconds * 1e6 / n},
                              {"p50_us", percentile(r.micros, 0.50)},
                              {"p99_us", percentile(r.micros, 0.99)},
                              {"max_us", percentile(r.micros, 1.0)}};
        if (r.server_cpu_seconds)
            row["server_cpu_us"] = *r.server_cpu_seconds * 1e6 / n;
        std::string server_text;
        if (r.server_cpu_seconds) {
            char text[48];
            std::snprintf(text, sizeof text, " (+ server %.1f us)",
                          row["server_cpu_us"].get<double>());
            server_text = text;
        }
        const std::string wrong_text =
            r.wrong ? "  WRONG x" + std::to_string(r.wrong) + ": " + r.first_wrong : "";
        std::printf("%-6s %-7s %8lu decisions %9.0f /s  CPU %7.1f us/decision%s  "
                    "p50 %7.1f us  p99 %7.1f us  max %8.1f us%s\n",
                    backend.c_str(), r.path.c_str(), r.decisions, row["per_second"].get<double>(),
                    row["cpu_us"].get<double>(), server_text.c_str(), row["p50_us"].get<double>(),
                    row["p99_us"].get<double>(), row["max_us"].get<double>(), wrong_text.c_str());
        if (r.wrong)
            ok = false;
        out["paths"].push_back(row);
    }
    return out;
}

} // namespace

int main(int argc, char **argv) {
    const Options options = parse_options(argc, argv);
    const std::string tag = std::to_string(::getpid()) + "-" +
                            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                               state::Clock::now().time_since_epoch())
                                               .count());
    bool ok = true;
    nlohmann::json out = {{"seconds", options.seconds}, {"backends", nlohmann::json::array()}};

    if (!options.lmdb_parent.empty()) {
        std::string pattern = options.lmdb_parent + "/greylist-rate.XXXXXX";
        if (!::mkdtemp(pattern.data())) {
            std::perror(("greylist-rate: mkdtemp under " + options.lmdb_parent).c_str());
            return 1;
        }
        const std::string directory = pattern;
        out["lmdb_filesystem"] = filesystem_of(directory);
        {
            state::LmdbSettings lmdb;
            lmdb.path = directory;
            lmdb.sweep_interval = 0ms;
            std::string error;
            auto store = state::LmdbStore::open(lmdb, error);
            if (!store) {
                std::fprintf(stderr, "greylist-rate: %s\n", error.c_str());
                ok = false;
            } else {
                const auto results = run_paths(*store, tag, options.seconds, nullptr, ok);
                out["backends"].push_back(report("lmdb", store->describe(), results, ok));
            }
        }
        std::error_code ignored;
        std::filesystem::remove_all(directory, ignored);
    }

    if (!options.redis_url.empty()) {
        std::string error;
        const auto url = state::parse_redis_url(options.redis_url, error);
        state::RedisSettings redis;
        redis.url = options.redis_url;
        auto store = url ? state::RedisStore::create(redis, error) : nullptr;
        if (!store) {
            std::fprintf(stderr, "greylist-rate: --redis %s: %s\n", options.redis_url.c_str(),
                         error.c_str());
            ok = false;
        } else {
            RedisCpu server(*url);
            const auto results = run_paths(*store, tag, options.seconds, &server, ok);
            out["backends"].push_back(report("redis", store->describe(), results, ok));
        }
    }

    if (!options.json.empty()) {
        std::ofstream file(options.json);
        file << out.dump(1) << "\n";
        if (!file) {
            std::fprintf(stderr, "greylist-rate: cannot write %s\n", options.json.c_str());
            ok = false;
        }
    }
    return ok ? 0 : 1;
}
