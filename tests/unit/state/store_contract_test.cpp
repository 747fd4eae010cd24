// The store contract (store.hpp) where the two backends must answer alike,
// run against each: an LMDB store in a directory of its own and a Redis
// store on a redis-server of the test's own. A backend's own behaviour is
// tested in lmdb_store_test.cpp and redis_store_test.cpp.
#include "state/redis_store.hpp"

#include "lmdb_test_support.hpp"
#include "redis_server.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

using namespace portcullis::testing;

namespace {

// Runs `body` once against each backend, as a subcase named after it.
void on_each_backend(const std::function<void(Store &)> &body) {
    SUBCASE("lmdb") {
        TempDir dir;
        auto store = open_store(settings_for(dir));
        body(*store);
    }
    SUBCASE("redis") {
        RedisServer server;
        RedisSettings settings;
        settings.url = server.url();
        std::string error;
        auto store = RedisStore::create(settings, error);
        REQUIRE_MESSAGE(store, error);
        body(*store);
    }
}

// The entry is kept well past the window, so that only the window decides.
std::uint64_t events_at(Store &store, const std::string &key, Time now,
                        std::chrono::milliseconds window, bool count) {
    std::uint64_t events = 99;
    const Outcome outcome = store.count_event(key, now, window, 3 * window + 1h, count, events);
    INFO(outcome.why);
    REQUIRE(outcome.ok());
    return events;
}

} // namespace

TEST_CASE("a counter's window is (now - window, now]: an event exactly `window` old is gone") {
    on_each_backend([](Store &store) {
        const std::vector<std::chrono::milliseconds> windows = {1ms, 2ms, 10s, 1h, 24h * 30};
        for (const auto window : windows) {
            CAPTURE(window.count());
            const std::string key = "window:" + std::to_string(window.count());
            REQUIRE(events_at(store, key, t0, window, true) == 1);
            CHECK(events_at(store, key, t0 + window - 1ms, window, false) == 1);
            CHECK(events_at(store, key, t0 + window, window, false) == 0);
            // Counting at the edge finds only the new event.
            CHECK(events_at(store, key, t0 + window, window, true) == 1);
            CHECK(events_at(store, key, t0 + 2 * window - 1ms, window, false) == 1);
            CHECK(events_at(store, key, t0 + 2 * window, window, false) == 0);
        }
    });
}
