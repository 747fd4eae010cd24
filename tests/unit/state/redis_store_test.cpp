// The store contract (store.hpp) on the Redis backend, against a
// redis-server of the test's own.
#include "state/redis_store.hpp"

#include "redis_server.hpp"

#include <doctest/doctest.h>

using namespace portcullis::state;
using portcullis::testing::RedisServer;
using namespace std::chrono_literals;

namespace {

// A caller's clock far from the real one: Redis must not judge by its own.
const Time t0 = Time(std::chrono::seconds(1'000'000'000)); // 2001-09-09

std::unique_ptr<RedisStore> open_store(const std::string &url, RedisSettings settings = {}) {
    settings.url = url;
    std::string error;
    auto store = RedisStore::create(settings, error);
    REQUIRE_MESSAGE(store, error);
    return store;
}

std::optional<Entry> get(Store &store, std::string_view key, Time now) {
    std::optional<Entry> entry;
    auto outcome = store.get(key, now, entry);
    REQUIRE_MESSAGE(outcome.ok(), outcome.why);
    return entry;
}

std::uint64_t count(Store &store, std::string_view key, Time now, bool record = true,
                    std::chrono::milliseconds window = 1h, std::chrono::milliseconds keep = 2h) {
    std::uint64_t events = 0;
    auto outcome = store.count_event(key, now, window, keep, record, events);
    REQUIRE_MESSAGE(outcome.ok(), outcome.why);
    return events;
}

std::vector<std::string> listed(Store &store, std::string_view prefix, Time now,
                                std::size_t limit = 100) {
    std::vector<Entry> entries;
    auto outcome = store.list(prefix, now, limit, entries);
    REQUIRE_MESSAGE(outcome.ok(), outcome.why);
    std::vector<std::string> keys;
    for (const auto &entry : entries)
        keys.push_back(entry.key);
    return keys;
}

} // namespace

TEST_CASE("put and get follow the caller's clock") {
    RedisServer server;
    auto store = open_store(server.url());
    CHECK(store->describe() == "redis " + server.url());

    REQUIRE(store->put("a", "one", t0 + 1h, t0).ok());
    auto entry = get(*store, "a", t0);
    REQUIRE(entry);
    CHECK(entry->key == "a");
    CHECK(entry->value == "one");
    CHECK(entry->expires == t0 + 1h);
    CHECK(get(*store, "a", t0 + 1h - 1ms));
    CHECK_FALSE(get(*store, "a", t0 + 1h));
    CHECK_FALSE(get(*store, "missing", t0));

    // Redis sweeps after expires - now of the caller's clock, not its own.
    auto ttl = server.command({"PTTL", "portcullis:a"});
    CHECK(ttl->integer > std::chrono::milliseconds(1h).count());
    CHECK(ttl->integer <= std::chrono::milliseconds(1h + 1min).count());

    const std::string binary("v\0\r\n,\xff", 6);
    const std::string largest(max_value_bytes, 'x');
    REQUIRE(store->put("a", binary, t0 + 2h, t0).ok());
    CHECK(get(*store, "a", t0)->value == binary);
    REQUIRE(store->put("big", largest, t0 + 1h, t0).ok());
    CHECK(get(*store, "big", t0)->value == largest);

    // An entry put already expired replaces the live one with nothing.
    REQUIRE(store->put("a", "late", t0 - 1s, t0).ok());
    CHECK_FALSE(get(*store, "a", t0 - 1h));
    CHECK(server.command({"EXISTS", "portcullis:a"})->integer == 0);
}

TEST_CASE("times are kept to the millisecond, far from now and before 1970") {
    RedisServer server;
    auto store = open_store(server.url());
    const Time early = Time(-std::chrono::hours(24 * 365 * 10));
    REQUIRE(store->put("old", "x", early + 1min, early).ok());
    CHECK(get(*store, "old", early)->expires == early + 1min);
    const Time late = Time(std::chrono::hours(24 * 365 * 200));
    REQUIRE(store->put("future", "x", Time::max(), late).ok());
    auto entry = get(*store, "future", late);
    REQUIRE(entry);
    CHECK(Time::max() - entry->expires < 1ms);
    REQUIRE(store->put("fraction", "x", t0 + 1500us, t0).ok());
    CHECK(get(*store, "fraction", t0)->expires == t0 + 1ms);
}

TEST_CASE("put_if_absent stores only over no live entry") {
    RedisServer server;
    auto store = open_store(server.url());
    std::optional<Entry> existing;
    REQUIRE(store->put_if_absent("k", "first", t0 + 10min, t0, existing).ok());
    CHECK_FALSE(existing);
    REQUIRE(store->put_if_absent("k", "second", t0 + 20min, t0 + 1min, existing).ok());
    REQUIRE(existing);
    CHECK(existing->key == "k");
    CHECK(existing->value == "first");
    CHECK(existing->expires == t0 + 10min);
    CHECK(get(*store, "k", t0 + 1min)->value == "first");

    // Expired by the caller's clock, though Redis still holds it.
    REQUIRE(store->put_if_absent("k", "third", t0 + 30min, t0 + 10min, existing).ok());
    CHECK_FALSE(existing);
    CHECK(get(*store, "k", t0 + 10min)->value == "third");

    // Put already expired: nothing is stored, nothing was there.
    REQUIRE(store->put_if_absent("gone", "x", t0, t0, existing).ok());
    CHECK_FALSE(existing);
    CHECK(server.command({"EXISTS", "portcullis:gone"})->integer == 0);
}

TEST_CASE("erase removes an entry; erasing nothing is fine") {
    RedisServer server;
    auto store = open_store(server.url());
    REQUIRE(store->put("k", "v", t0 + 1h, t0).ok());
    CHECK(store->erase("k").ok());
    CHECK_FALSE(get(*store, "k", t0));
    CHECK(store->erase("k").ok());
}

TEST_CASE("count_event counts in a sliding window, reads without counting, keeps 1000") {
    RedisServer server;
    auto store = open_store(server.url());
    CHECK(count(*store, "c", t0, false) == 0);
    CHECK(server.command({"EXISTS", "portcullis:c"})->integer == 0);

    CHECK(count(*store, "c", t0, true, 15s) == 1);
    CHECK(count(*store, "c", t0 + 10s, true, 15s) == 2);
    CHECK(count(*store, "c", t0 + 20s, true, 15s) == 2);        // t0 has left the window
    CHECK(count(*store, "c", t0 + 25s - 1ms, false, 15s) == 2); // t0+10s is just inside
    CHECK(count(*store, "c", t0 + 25s, false, 15s) == 1);       // and at the edge, gone
    CHECK(count(*store, "c", t0 + 25s, false, 15s) == 1);       // reading did not count

    // The entry lives `keep` past the last event; then counting starts over.
    CHECK(count(*store, "k", t0, true, 1h, 1min) == 1);
    CHECK(count(*store, "k", t0 + 30s, true, 1h, 1min) == 2);
    CHECK(count(*store, "k", t0 + 89s, false, 1h, 1min) == 2);
    CHECK(count(*store, "k", t0 + 90s, false, 1h, 1min) == 0);
    CHECK(count(*store, "k", t0 + 90s, true, 1h, 1min) == 1);

    // A counter is an entry: its value lists the event times.
    auto entry = get(*store, "k", t0 + 90s);
    REQUIRE(entry);
    CHECK(entry->value == std::to_string((t0 + 90s).time_since_epoch() / 1ms));
    CHECK(entry->expires == t0 + 150s);

    for (int i = 0; i < 1005; ++i)
        count(*store, "many", t0 + std::chrono::milliseconds(i));
    CHECK(count(*store, "many", t0 + 1005ms, false) == max_counted_events);
    // The oldest five went: the 1000 kept (from t0 + 5 ms) are all still in
    // the window at t0 + 1 h + 4 ms, and the first leaves it 1 ms later.
    CHECK(count(*store, "many", t0 + 1h + 4ms, false) == max_counted_events);
    CHECK(count(*store, "many", t0 + 1h + 5ms, false) == max_counted_events - 1);

    // An event from a host whose clock lags still lands in order.
    CHECK(count(*store, "skew", t0 + 10s) == 1);
    CHECK(count(*store, "skew", t0 + 5s) == 2);
    CHECK(get(*store, "skew", t0)->expires == t0 + 10s + 2h); // nor does it shorten the entry
    CHECK(get(*store, "skew", t0)->value ==
          std::to_string((t0 + 5s).time_since_epoch() / 1ms) + "," +
              std::to_string((t0 + 10s).time_since_epoch() / 1ms));
}

TEST_CASE("list returns live entries by prefix, in key order, up to the limit") {
    RedisServer server;
    auto store = open_store(server.url());
    for (auto key : {"b", "a", "ab", "abc", "c:1", "c:2", "aa"})
        REQUIRE(store->put(key, "v", t0 + 1h, t0).ok());
    REQUIRE(store->put("ax", "v", t0 + 1min, t0).ok());
    CHECK(listed(*store, "", t0) ==
          std::vector<std::string>{"a", "aa", "ab", "abc", "ax", "b", "c:1", "c:2"});
    CHECK(listed(*store, "a", t0 + 2min) == std::vector<std::string>{"a", "aa", "ab", "abc"});
    CHECK(listed(*store, "a", t0 + 2min, 2) == std::vector<std::string>{"a", "aa"});
    CHECK(listed(*store, "c:", t0) == std::vector<std::string>{"c:1", "c:2"});
    CHECK(listed(*store, "zz", t0).empty());
    CHECK(listed(*store, "a", t0, 0).empty());

    std::vector<Entry> entries;
    REQUIRE(store->list("abc", t0, 10, entries).ok());
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].value == "v");
    CHECK(entries[0].expires == t0 + 1h);
}

TEST_CASE("list takes glob characters in the prefix literally") {
    RedisServer server;
    auto store = open_store(server.url());
    for (auto key : {"a*b", "a*c", "axb", "a?x", "aqx", "a[1]", "a1", "a\\z", "az", "a]"})
        REQUIRE(store->put(key, "v", t0 + 1h, t0).ok());
    CHECK(listed(*store, "a*", t0) == std::vector<std::string>{"a*b", "a*c"});
    CHECK(listed(*store, "a?", t0) == std::vector<std::string>{"a?x"});
    CHECK(listed(*store, "a[", t0) == std::vector<std::string>{"a[1]"});
    CHECK(listed(*store, "a]", t0) == std::vector<std::string>{"a]"});
    CHECK(listed(*store, "a\\", t0) == std::vector<std::string>{"a\\z"});
}

TEST_CASE("bad keys and values are refused before Redis is asked") {
    // No server at all: a refusal must not depend on one.
    auto store = open_store("unix:/nonexistent/redis.sock");
    const std::string bad_keys[] = {"",
                                    "with space",
                                    "tab\there",
                                    std::string("nul\0", 4),
                                    "del\x7f",
                                    "caf\xc3\xa9",
                                    std::string(max_key_bytes + 1, 'k')};
    for (const auto &key : bad_keys) {
        CAPTURE(key);
        std::optional<Entry> entry;
        std::uint64_t events = 0;
        std::vector<Entry> entries;
        CHECK(store->get(key, t0, entry).status == Outcome::Status::error);
        CHECK(store->put(key, "v", t0 + 1h, t0).status == Outcome::Status::error);
        CHECK(store->put_if_absent(key, "v", t0 + 1h, t0, entry).status == Outcome::Status::error);
        CHECK(store->erase(key).status == Outcome::Status::error);
        CHECK(store->count_event(key, t0, 1h, 1h, true, events).status == Outcome::Status::error);
        if (!key.empty())
            CHECK(store->list(key, t0, 10, entries).status == Outcome::Status::error);
    }
    const std::string too_big(max_value_bytes + 1, 'v');
    std::optional<Entry> existing;
    auto outcome = store->put("k", too_big, t0 + 1h, t0);
    CHECK(outcome.status == Outcome::Status::error);
    CHECK(outcome.why == "value longer than 64 KiB");
    CHECK(store->put_if_absent("k", too_big, t0 + 1h, t0, existing).status ==
          Outcome::Status::error);
    CHECK_FALSE(store->breaker_open());
    // The longest key is accepted (and then finds no server).
    CHECK(store->put(std::string(max_key_bytes, 'k'), "v", t0 + 1h, t0).status ==
          Outcome::Status::unavailable);
}

TEST_CASE("two stores on one server see each other's writes (two MX hosts)") {
    RedisServer server;
    auto mx1 = open_store(server.url());
    auto mx2 = open_store(server.url());
    REQUIRE(mx1->put("triplet", "seen", t0 + 1h, t0).ok());
    CHECK(get(*mx2, "triplet", t0)->value == "seen");
    std::optional<Entry> existing;
    REQUIRE(mx2->put_if_absent("triplet", "again", t0 + 2h, t0, existing).ok());
    CHECK(existing->value == "seen");
    CHECK(count(*mx1, "client", t0) == 1);
    CHECK(count(*mx2, "client", t0 + 1s) == 2);
    REQUIRE(mx2->erase("triplet").ok());
    CHECK_FALSE(get(*mx1, "triplet", t0));
}

TEST_CASE("stats count the store's keys and read Redis's memory figures") {
    RedisServer server(RedisServer::Listen::unix_socket, {"--maxmemory", "64mb"});
    auto store = open_store(server.url());
    server.command({"SET", "not-ours", "x"});
    for (int i = 0; i < 2500; ++i)
        REQUIRE(store->put("k" + std::to_string(i), "v", t0 + 1h, t0).ok());
    Stats stats;
    REQUIRE(store->stats(t0, stats).ok());
    CHECK(stats.entries == 2500);
    CHECK(stats.bytes > 0);
    CHECK(stats.capacity == 64u * 1024 * 1024);
}

TEST_CASE("malformed data in Redis is an error naming the key, never a crash") {
    RedisServer server;
    auto store = open_store(server.url());
    const std::vector<std::vector<std::string>> writes = {
        {"SET", "portcullis:string", "x"},
        {"RPUSH", "portcullis:list", "x"},
        {"HSET", "portcullis:fields", "value", "x", "expires", "1"},
        {"HSET", "portcullis:only-v", "v", "x"},
        {"HSET", "portcullis:extra", "v", "x", "e", "99999999999999", "f", "y"},
        {"HSET", "portcullis:text-e", "v", "x", "e", "soon"},
        {"HSET", "portcullis:float-e", "v", "x", "e", "1.5"},
        {"HSET", "portcullis:huge-e", "v", "x", "e", "99999999999999999999999"},
        {"HSET", "portcullis:plus-e", "v", "x", "e", "+5"},
    };
    for (const auto &write : writes)
        REQUIRE(server.command(write)->type != REDIS_REPLY_ERROR);
    for (const auto &write : writes) {
        const std::string key = write[1].substr(11);
        CAPTURE(key);
        std::optional<Entry> entry;
        std::uint64_t events = 0;
        auto outcome = store->get(key, t0, entry);
        CHECK(outcome.status == Outcome::Status::error);
        CHECK_MESSAGE(outcome.why.find("portcullis:" + key) != std::string::npos, outcome.why);
        CHECK_FALSE(entry);
        outcome = store->put_if_absent(key, "v", t0 + 1h, t0, entry);
        CHECK(outcome.status == Outcome::Status::error);
        CHECK_MESSAGE(outcome.why.find("portcullis:" + key) != std::string::npos, outcome.why);
        CHECK_FALSE(entry);
        outcome = store->count_event(key, t0, 1h, 1h, true, events);
        CHECK(outcome.status == Outcome::Status::error);
        CHECK(events == 0);
        std::vector<Entry> entries;
        CHECK(store->list(key, t0, 10, entries).status == Outcome::Status::error);
    }
    CHECK_FALSE(store->breaker_open()); // Redis answered each time

    // A counter whose event times are not numbers.
    server.command({"HSET", "portcullis:counter", "v", "1,x,3", "e", "99999999999999"});
    std::uint64_t events = 0;
    CHECK(store->count_event("counter", t0, 1h, 1h, false, events).status ==
          Outcome::Status::error);
    server.command({"HSET", "portcullis:counter", "v", "1,,3"});
    CHECK(store->count_event("counter", t0, 1h, 1h, false, events).status ==
          Outcome::Status::error);

    // A value longer than the store allows, written by someone else.
    server.command({"HSET", "portcullis:long", "v", std::string(max_value_bytes + 1, 'x'), "e",
                    "99999999999999"});
    std::optional<Entry> entry;
    CHECK(store->get("long", t0, entry).status == Outcome::Status::error);

    // put replaces whatever was there; erase removes it.
    REQUIRE(store->put("string", "fixed", t0 + 1h, t0).ok());
    CHECK(get(*store, "string", t0)->value == "fixed");
    REQUIRE(store->erase("list").ok());
    CHECK_FALSE(get(*store, "list", t0));

    // Keys under portcullis: that no store key could name are not entries.
    server.command({"HSET", "portcullis:with space", "v", "x", "e", "99999999999999"});
    server.command({"HSET", "portcullis:", "v", "x", "e", "99999999999999"});
    REQUIRE(store->put("zz", "v", t0 + 1h, t0).ok());
    CHECK(listed(*store, "z", t0) == std::vector<std::string>{"zz"});
    CHECK(listed(*store, "w", t0).empty());
}

TEST_CASE("scripts flushed from the server are sent again (NOSCRIPT)") {
    RedisServer server;
    auto store = open_store(server.url());
    std::optional<Entry> existing;
    REQUIRE(store->put_if_absent("k", "v", t0 + 1h, t0, existing).ok());
    REQUIRE(server.command({"SCRIPT", "FLUSH"})->type == REDIS_REPLY_STATUS);
    REQUIRE(store->put_if_absent("k", "w", t0 + 1h, t0, existing).ok());
    CHECK(existing->value == "v");
    REQUIRE(server.command({"SCRIPT", "FLUSH"})->type == REDIS_REPLY_STATUS);
    CHECK(count(*store, "c", t0) == 1);
    REQUIRE(server.command({"SCRIPT", "FLUSH"})->type == REDIS_REPLY_STATUS);
    REQUIRE(store->put("p", "v", t0 + 1h, t0).ok());
    CHECK(get(*store, "p", t0));
}

TEST_CASE("a password and a database from the URL; describe() masks the password") {
    RedisServer server(RedisServer::Listen::tcp, {"--requirepass", "hunter2"});
    auto store = open_store(server.url(3, "hunter2"));
    CHECK(store->describe() ==
          "redis redis://:***@127.0.0.1:" + std::to_string(server.port()) + "/3");
    REQUIRE(store->put("k", "v", t0 + 1h, t0).ok());
    CHECK(server.command({"EXISTS", "portcullis:k"}, 3, "hunter2")->integer == 1);
    CHECK(server.command({"EXISTS", "portcullis:k"}, 0, "hunter2")->integer == 0);

    auto unix_store = open_store("unix:" + server.socket_path() + "?db=3&password=hunter2");
    CHECK(unix_store->describe() == "redis unix:" + server.socket_path() + "?db=3&password=***");
    CHECK(get(*unix_store, "k", t0));

    auto wrong = open_store(server.url(3, "wrong"));
    std::optional<Entry> entry;
    auto outcome = wrong->get("k", t0, entry);
    CHECK(outcome.status == Outcome::Status::unavailable);
    CHECK_MESSAGE(outcome.why.find("AUTH refused") != std::string::npos, outcome.why);
    CHECK(outcome.why.find("wrong") == std::string::npos);

    auto no_password = open_store(server.url(3));
    CHECK(no_password->get("k", t0, entry).status == Outcome::Status::unavailable);

    auto no_such_db = open_store(server.url(99, "hunter2"));
    outcome = no_such_db->get("k", t0, entry);
    CHECK(outcome.status == Outcome::Status::unavailable);
    CHECK_MESSAGE(outcome.why.find("SELECT refused") != std::string::npos, outcome.why);
}

TEST_CASE("error replies map to outcomes: OOM is full, a server that cannot serve unavailable") {
    // Redis 7.0 lets EVAL scripts without flags write past maxmemory, so
    // a real OOM reply comes from older servers; the mapping is tested alone.
    struct Row {
        const char *text;
        Outcome::Status status;
    };
    const Row rows[] = {
        {"OOM command not allowed when used memory > 'maxmemory'.", Outcome::Status::full},
        {"LOADING Redis is loading the dataset in memory", Outcome::Status::unavailable},
        {"BUSY Redis is busy running a script.", Outcome::Status::unavailable},
        {"READONLY You can't write against a read only replica.", Outcome::Status::unavailable},
        {"MISCONF Redis is configured to save RDB snapshots", Outcome::Status::unavailable},
        {"NOAUTH Authentication required.", Outcome::Status::unavailable},
        {"MASTERDOWN Link with MASTER is down", Outcome::Status::unavailable},
        {"WRONGTYPE Operation against a key", Outcome::Status::error},
        {"ERR unknown command", Outcome::Status::error},
        {"OOMPH", Outcome::Status::error},
        {"", Outcome::Status::error},
    };
    for (const auto &row : rows) {
        CAPTURE(row.text);
        std::string text = row.text;
        redisReply reply{};
        reply.type = REDIS_REPLY_ERROR;
        reply.str = text.data();
        reply.len = text.size();
        auto outcome = redis::error_reply_outcome(reply);
        CHECK(outcome.status == row.status);
        CHECK(outcome.why == "redis: " + text);
    }
    std::string hostile = "ERR \x01\n" + std::string(1000, 'x');
    redisReply reply{};
    reply.type = REDIS_REPLY_ERROR;
    reply.str = hostile.data();
    reply.len = hostile.size();
    auto outcome = redis::error_reply_outcome(reply);
    CHECK(outcome.why.size() <= 207);
    CHECK(outcome.why.starts_with("redis: ERR ??x"));
}

TEST_CASE("settings out of range and bad URLs are refused at creation") {
    struct Row {
        RedisSettings settings;
        const char *reason;
    };
    auto with = [](auto change) {
        RedisSettings settings;
        change(settings);
        return settings;
    };
    const Row rows[] = {
        {with([](RedisSettings &s) { s.url = "redis://host:0"; }), "port"},
        {with([](RedisSettings &s) { s.url = "memcached://host"; }), "redis://"},
        {with([](RedisSettings &s) { s.timeout = 0ms; }), "timeout"},
        {with([](RedisSettings &s) { s.timeout = -5ms; }), "timeout"},
        {with([](RedisSettings &s) { s.pool_size = 0; }), "pool"},
        {with([](RedisSettings &s) { s.breaker_failures = 0; }), "breaker"},
        {with([](RedisSettings &s) { s.breaker_interval = 0ms; }), "breaker"},
    };
    for (const auto &row : rows) {
        std::string error;
        CHECK_FALSE(RedisStore::create(row.settings, error));
        CHECK_MESSAGE(error.find(row.reason) != std::string::npos, error);
    }
    std::string error;
    CHECK(RedisStore::create(RedisSettings{}, error)); // nothing is contacted at creation
    CHECK(error.empty());
}
