// The LMDB state store against the contract of store.hpp and
// lmdb_store.hpp: the caller's clock, atomic put_if_absent, counters,
// listing, refusals, a full map, reopening, sweeping, corrupt values and
// open() errors. Killed processes and racing threads: lmdb_store_concurrency_test.cpp.
#include "lmdb_test_support.hpp"

#include <lmdb.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <thread>

using namespace portcullis::testing;

namespace {

// Writes bytes the store would never write, with the store closed.
void write_raw(const std::string &directory, std::string_view key, std::string_view value) {
    MDB_env *env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    std::unique_ptr<MDB_env, void (*)(MDB_env *)> closer(env, mdb_env_close);
    const std::string file = directory + "/" + LmdbStore::file_name;
    REQUIRE(mdb_env_open(env, file.c_str(), MDB_NOSUBDIR, 0600) == 0);
    MDB_txn *txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi = 0;
    MDB_val k{key.size(), const_cast<char *>(key.data())};
    MDB_val data{value.size(), const_cast<char *>(value.data())};
    const bool written =
        mdb_dbi_open(txn, nullptr, 0, &dbi) == 0 && mdb_put(txn, dbi, &k, &data, 0) == 0;
    if (!written)
        mdb_txn_abort(txn);
    REQUIRE(written);
    REQUIRE(mdb_txn_commit(txn) == 0);
}

} // namespace

TEST_CASE("put and get by the caller's clock") {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    REQUIRE(store->put("greylist:a", "first", t0 + 10s, t0).ok());
    REQUIRE(store->put("greylist:empty", "", t0 + 10s, t0).ok());

    struct Read {
        std::string key;
        std::chrono::milliseconds at;
        std::optional<std::string> value;
    };
    const std::vector<Read> reads = {
        {"greylist:a", -1h, "first"},
        {"greylist:a", 0ms, "first"},
        {"greylist:a", 9999ms, "first"},
        {"greylist:a", 10s, std::nullopt}, // expiry is the end
        {"greylist:a", 1h, std::nullopt},
        {"greylist:empty", 0ms, ""},
        {"greylist:none", 0ms, std::nullopt},
    };
    for (const Read &read : reads) {
        CAPTURE(read.key);
        CAPTURE(read.at.count());
        CHECK(value_of(*store, read.key, t0 + read.at) == read.value);
    }

    std::optional<Entry> entry;
    REQUIRE(store->get("greylist:a", t0, entry).ok());
    REQUIRE(entry);
    CHECK(entry->key == "greylist:a");
    CHECK(entry->expires == t0 + 10s);

    REQUIRE(store->put("greylist:a", "second", t0 + 20s, t0 + 5s).ok());
    CHECK(value_of(*store, "greylist:a", t0 + 15s) == "second");

    // A put that is dead on arrival leaves no live entry behind it.
    REQUIRE(store->put("greylist:a", "third", t0, t0 + 1s).ok());
    CHECK(value_of(*store, "greylist:a", t0 - 1h) == std::nullopt);
    CHECK(entries_in(*store) == 1);
}

TEST_CASE("put_if_absent stores only where no live entry is") {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    struct Case {
        std::string key;
        std::optional<std::chrono::milliseconds> old_expires; // relative to t0; none: no entry
        bool stored;
    };
    const std::vector<Case> cases = {
        {"no-entry", std::nullopt, true},
        {"live-entry", 1h, false},
        {"expired-entry", -1s, true},
        {"entry-expiring-now", 0ms, true},
    };
    for (const Case &c : cases) {
        CAPTURE(c.key);
        if (c.old_expires)
            REQUIRE(store->put(c.key, "old", t0 + *c.old_expires, t0 - 2h).ok());
        std::optional<Entry> existing;
        REQUIRE(store->put_if_absent(c.key, "new", t0 + 2h, t0, existing).ok());
        CHECK(existing.has_value() == !c.stored);
        if (existing) {
            CHECK(existing->key == c.key);
            CHECK(existing->value == "old");
            CHECK(existing->expires == t0 + *c.old_expires);
        }
        CHECK(value_of(*store, c.key, t0) == (c.stored ? "new" : "old"));
    }
}

TEST_CASE("erase removes one entry, and erasing nothing is fine") {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    REQUIRE(store->put("allow:192.0.2.0/24", "1", t0 + 1h, t0).ok());
    REQUIRE(store->put("allow:198.51.100.0/24", "1", t0 + 1h, t0).ok());
    CHECK(store->erase("allow:192.0.2.0/24").ok());
    CHECK(value_of(*store, "allow:192.0.2.0/24", t0) == std::nullopt);
    CHECK(value_of(*store, "allow:198.51.100.0/24", t0) == "1");
    CHECK(store->erase("allow:192.0.2.0/24").ok());
    CHECK(store->erase("never-written").ok());
    CHECK(entries_in(*store) == 1);
}

TEST_CASE("count_event counts in a sliding window, reads without counting, keeps for keep") {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    const std::string key = "rejected:192.0.2.1";
    struct Step {
        std::chrono::milliseconds at;
        bool count;
        std::uint64_t events;
    };
    // Window 10 s: an event exactly 10 s old no longer counts.
    const std::vector<Step> steps = {
        {0ms, true, 1},  {1s, true, 2},  {5s, false, 2},  {5s, false, 2}, {9999ms, true, 3},
        {10s, false, 2}, {11s, true, 2}, {30s, false, 0}, {30s, true, 1},
    };
    for (const Step &step : steps) {
        CAPTURE(step.at.count());
        CAPTURE(step.count);
        std::uint64_t events = 99;
        REQUIRE(store->count_event(key, t0 + step.at, 10s, 1h, step.count, events).ok());
        CHECK(events == step.events);
    }
    std::optional<Entry> entry;
    REQUIRE(store->get(key, t0 + 30s, entry).ok());
    REQUIRE(entry);
    CHECK(entry->expires == t0 + 30s + 1h); // keep runs from the last counted event

    std::uint64_t events = 99;
    REQUIRE(store->count_event(key, t0 + 30s + 1h, 2h, 1h, false, events).ok());
    CHECK(events == 0);

    // Reading a counter that does not exist creates nothing.
    REQUIRE(store->count_event("rset:192.0.2.9", t0, 10s, 1h, false, events).ok());
    CHECK(events == 0);
    CHECK(value_of(*store, "rset:192.0.2.9", t0) == std::nullopt);

    // A value that is not a list of times: its unreadable words are dropped.
    REQUIRE(store->put("junk", "12 abc 99999999999999999999999 - 4102444799999", t0 + 1h, t0).ok());
    REQUIRE(store->count_event("junk", t0, 10s, 1h, true, events).ok());
    CHECK(events == 2);
    CHECK(value_of(*store, "junk", t0) == "4102444799999 4102444800000");
}

TEST_CASE("count_event keeps at most max_counted_events, dropping the oldest") {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    std::uint64_t events = 0;
    for (std::size_t i = 0; i < max_counted_events + 5; ++i) {
        REQUIRE(store
                    ->count_event("bad-command:192.0.2.1", t0 + std::chrono::milliseconds(i), 1h,
                                  1h, true, events)
                    .ok());
        CHECK(events == std::min(i + 1, max_counted_events));
    }
    const auto value = value_of(*store, "bad-command:192.0.2.1", t0);
    REQUIRE(value);
    CHECK(value->starts_with("4102444800005 4102444800006 "));
    CHECK(value->ends_with(" 4102444801004"));
}

TEST_CASE("list gives live entries under a prefix, in key order, up to the limit") {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    for (const char *key : {"grey:b", "allow:1", "grey:d", "greylist:x", "grey:a", "grex:1"})
        REQUIRE(store->put(key, std::string("value of ") + key, t0 + 1h, t0).ok());
    REQUIRE(store->put("grey:c", "expired", t0 - 1s, t0 - 1h).ok());

    struct Case {
        std::string prefix;
        std::size_t limit;
        std::vector<std::string> keys;
    };
    const std::vector<Case> cases = {
        {"grey:", 100, {"grey:a", "grey:b", "grey:d"}},
        {"grey:", 2, {"grey:a", "grey:b"}},
        {"grey:", 0, {}},
        {"grey", 100, {"grey:a", "grey:b", "grey:d", "greylist:x"}},
        {"", 100, {"allow:1", "grex:1", "grey:a", "grey:b", "grey:d", "greylist:x"}},
        {"", 1, {"allow:1"}},
        {"grey:c", 100, {}},
        {"zzz", 100, {}},
    };
    for (const Case &c : cases) {
        CAPTURE(c.prefix);
        CAPTURE(c.limit);
        CHECK(keys_listed(*store, c.prefix, t0, c.limit) == c.keys);
    }
    std::vector<Entry> entries;
    REQUIRE(store->list("grex:", t0, 10, entries).ok());
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].value == "value of grex:1");
    CHECK(entries[0].expires == t0 + 1h);
    CHECK(keys_listed(*store, "grey:", t0 - 30min, 100) ==
          std::vector<std::string>{"grey:a", "grey:b", "grey:c", "grey:d"});
    CHECK(store->list("bad prefix", t0, 10, entries).status == Outcome::Status::error);
}

TEST_CASE("keys and values outside the contract are refused, not stored") {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    const std::vector<std::string> bad_keys = {
        "", std::string(512, 'k'), "a b", std::string("a\x01z"), "a\x7fz", "caf\xc3\xa9", "a\nb",
    };
    for (const std::string &key : bad_keys) {
        CAPTURE(key);
        std::optional<Entry> entry;
        std::uint64_t events = 0;
        const std::vector<Outcome> outcomes = {
            store->get(key, t0, entry),
            store->put(key, "v", t0 + 1h, t0),
            store->put_if_absent(key, "v", t0 + 1h, t0, entry),
            store->erase(key),
            store->count_event(key, t0, 1h, 1h, true, events),
        };
        for (const Outcome &outcome : outcomes) {
            CHECK(outcome.status == Outcome::Status::error);
            CHECK_FALSE(outcome.why.empty());
        }
    }
    const std::string longest_key(max_key_bytes, 'k');
    CHECK(store->put(longest_key, "v", t0 + 1h, t0).ok());
    CHECK(value_of(*store, longest_key, t0) == "v");

    const std::string largest(max_value_bytes, 'v');
    CHECK(store->put("large", largest, t0 + 1h, t0).ok());
    CHECK(value_of(*store, "large", t0) == largest);
    const Outcome too_large = store->put("larger", largest + "v", t0 + 1h, t0);
    CHECK(too_large.status == Outcome::Status::error);
    CHECK(too_large.why.find("value") != std::string::npos);
    std::optional<Entry> existing;
    CHECK(store->put_if_absent("larger", largest + "v", t0 + 1h, t0, existing).status ==
          Outcome::Status::error);
    CHECK(entries_in(*store) == 2);
}

TEST_CASE("a full map gives Outcome full; reads and erases work, then writes again") {
    TempDir dir;
    LmdbSettings settings = settings_for(dir);
    settings.map_size = 256 * 1024; // 64 pages, the smallest map
    auto store = open_store(settings);
    const std::string value(1000, 'v');
    Outcome last;
    std::size_t stored = 0;
    while (stored < 1000) {
        last = store->put("fill:" + std::to_string(1000 + stored), value, t0 + 1h, t0);
        if (!last.ok())
            break;
        ++stored;
    }
    CAPTURE(stored);
    REQUIRE(last.status == Outcome::Status::full);
    CHECK(last.why.find("full") != std::string::npos);
    CHECK(stored >= 10);

    std::optional<Entry> existing;
    CHECK(store->put_if_absent("fill:new", value, t0 + 1h, t0, existing).status ==
          Outcome::Status::full);
    CHECK(value_of(*store, "fill:1000", t0) == value);
    CHECK(keys_listed(*store, "fill:", t0, 1000).size() == stored);
    Stats stats;
    REQUIRE(store->stats(t0, stats).ok());
    CHECK(stats.entries == stored);
    CHECK(stats.capacity == 256 * 1024);
    CHECK(stats.bytes > 0);
    CHECK(stats.bytes <= stats.capacity);

    for (std::size_t i = 0; i < stored / 2; ++i) {
        const Outcome erased = store->erase("fill:" + std::to_string(1000 + i));
        INFO(erased.why);
        CHECK(erased.ok());
    }
    const Outcome after = store->put("after", value, t0 + 1h, t0);
    INFO(after.why);
    CHECK(after.ok());
    CHECK(value_of(*store, "after", t0) == value);
}

TEST_CASE("entries outlive the store: reopening the directory finds them") {
    TempDir dir;
    {
        auto store = open_store(settings_for(dir));
        CHECK(store->describe() == "lmdb " + dir.path());
        for (int i = 0; i < 100; ++i)
            REQUIRE(store
                        ->put("k" + std::to_string(i), "v" + std::to_string(i),
                              t0 + std::chrono::seconds(i + 1), t0)
                        .ok());
        std::uint64_t events = 0;
        REQUIRE(store->count_event("counter", t0, 1h, 1h, true, events).ok());
    }
    auto store = open_store(settings_for(dir));
    for (int i = 0; i < 100; ++i) {
        std::optional<Entry> entry;
        REQUIRE(store->get("k" + std::to_string(i), t0, entry).ok());
        REQUIRE(entry);
        CHECK(entry->value == "v" + std::to_string(i));
        CHECK(entry->expires == t0 + std::chrono::seconds(i + 1));
    }
    std::uint64_t events = 0;
    REQUIRE(store->count_event("counter", t0 + 1s, 1h, 1h, false, events).ok());
    CHECK(events == 1);
}

TEST_CASE("a process opens a directory once at a time") {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    std::string error;
    CHECK(LmdbStore::open(settings_for(dir), error) == nullptr);
    CHECK(error.find("already open") != std::string::npos);
    store.reset();
    store = open_store(settings_for(dir));
}

TEST_CASE("sweep() erases what is dead by its clock, in batches, and nothing live") {
    TempDir dir;
    auto store = open_store(settings_for(dir));
    for (int i = 0; i < 2500; ++i)
        REQUIRE(store->put("old:" + std::to_string(10000 + i), "x", t0 + 1s, t0).ok());
    for (int i = 0; i < 10; ++i)
        REQUIRE(store->put("new:" + std::to_string(i), "x", t0 + 1h, t0).ok());
    REQUIRE(store->sweep(t0).ok());
    CHECK(entries_in(*store) == 2510);
    REQUIRE(store->sweep(t0 + 2s).ok());
    CHECK(entries_in(*store) == 10);
    const SweepTotals totals = store->sweep_totals();
    CHECK(totals.passes == 2);
    CHECK(totals.expired == 2500);
    CHECK(totals.corrupt == 0);
}

TEST_CASE("the sweeper's thread erases expired entries, and stops at once with the store") {
    TempDir dir;
    LmdbSettings settings = settings_for(dir);
    settings.sweep_interval = 20ms;
    auto store = open_store(settings);
    const Time real_now = Clock::now();
    for (int i = 0; i < 1500; ++i)
        REQUIRE(store->put("old:" + std::to_string(i), "x", real_now - 1h, real_now - 2h).ok());
    REQUIRE(store->put("live", "x", real_now + 1h, real_now).ok());
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (entries_in(*store) > 1 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    CHECK(entries_in(*store) == 1);
    CHECK(store->sweep_totals().expired == 1500);
    CHECK(value_of(*store, "live", real_now) == "x");

    settings.sweep_interval = 1h;
    store.reset();
    store = open_store(settings);
    const auto before = std::chrono::steady_clock::now();
    store.reset();
    CHECK(std::chrono::steady_clock::now() - before < 5s);
}

TEST_CASE("a corrupt value reads as absent; the sweeper erases it and reports it") {
    TempDir dir;
    open_store(settings_for(dir))->put("good", "x", t0 + 1h, t0);
    write_raw(dir.path(), "bad:short", "abc");
    write_raw(dir.path(), "bad:empty", "");
    write_raw(dir.path(), "bad:counter", "1234567");

    std::mutex mutex;
    std::vector<std::string> reports;
    LmdbSettings settings = settings_for(dir);
    settings.report = [&](const std::string &line) {
        std::lock_guard lock(mutex);
        reports.push_back(line);
    };
    auto store = open_store(settings);
    CHECK(value_of(*store, "bad:short", t0) == std::nullopt);
    CHECK(keys_listed(*store, "", t0, 100) == std::vector<std::string>{"good"});
    std::optional<Entry> existing;
    REQUIRE(store->put_if_absent("bad:short", "mended", t0 + 1h, t0, existing).ok());
    CHECK_FALSE(existing);
    CHECK(value_of(*store, "bad:short", t0) == "mended");
    std::uint64_t events = 0;
    REQUIRE(store->count_event("bad:counter", t0, 1h, 1h, true, events).ok());
    CHECK(events == 1);

    REQUIRE(store->sweep(t0).ok());
    CHECK(store->sweep_totals().corrupt == 1);
    CHECK(entries_in(*store) == 3);
    std::lock_guard lock(mutex);
    REQUIRE(reports.size() == 1);
    CHECK(reports[0] ==
          "lmdb " + dir.path() + ": erased the corrupt entry bad:empty (a value of 0 bytes)");
}

TEST_CASE("open() refuses what it cannot use and says why") {
    TempDir dir;
    const std::string file = dir.path() + "/plain-file";
    std::ofstream(file) << "not a directory\n";
    const std::string not_lmdb = dir.path() + "/not-lmdb";
    REQUIRE(::mkdir(not_lmdb.c_str(), 0700) == 0);
    std::ofstream(not_lmdb + "/" + LmdbStore::file_name) << std::string(8192, 'x');
    // root writes to a directory of mode 0500; sysfs refuses it too.
    std::string unwritable = dir.path() + "/unwritable";
    REQUIRE(::mkdir(unwritable.c_str(), 0500) == 0);
    if (::geteuid() == 0)
        unwritable = "/sys";

    struct Case {
        std::string path;
        std::size_t map_size;
        std::vector<std::string> said;
    };
    const std::vector<Case> cases = {
        {dir.path() + "/missing", 1 << 20, {dir.path() + "/missing", "No such file or directory"}},
        {file, 1 << 20, {file, "not a directory"}},
        {unwritable, 1 << 20, {unwritable + "/portcullis.mdb", "cannot open"}},
        {not_lmdb, 1 << 20, {not_lmdb, "MDB_INVALID"}},
        {"", 1 << 20, {"no directory"}},
        {dir.path(), 0, {"map size of 0 bytes is below the smallest"}},
        {dir.path(), 64 * 1024, {"map size of 65536 bytes is below the smallest"}},
    };
    for (const Case &c : cases) {
        CAPTURE(c.path);
        LmdbSettings settings;
        settings.path = c.path;
        settings.map_size = c.map_size;
        std::string error;
        CHECK(LmdbStore::open(settings, error) == nullptr);
        for (const std::string &part : c.said) {
            CAPTURE(error);
            CHECK(error.find(part) != std::string::npos);
        }
    }
}
