// `portcullis db` over an LMDB store in a directory of the test's own:
// the command line checked before any store, then each subcommand (list,
// show, allow, delete, unblock, stats) on what the daemon writes, hostile
// values printed safely, and a failing store giving exit status 3.
#include "../state/lmdb_test_support.hpp"
#include "db_support.hpp"

#include "memory/allowlist.hpp"
#include "memory/client_state.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using namespace portcullis::testing;
using namespace std::chrono_literals;

namespace {

struct LmdbFixture {
    TempDir dir;
    std::unique_ptr<state::LmdbStore> store = testing::open_store(settings_for(dir));
    Config config = db_config_small_limits();

    DbRun db(db::Arguments arguments, state::Time now = db_later) {
        return run_db(*store, config, std::move(arguments), now);
    }
};

bool has_control_byte(std::string_view text) {
    for (const unsigned char byte : text)
        if ((byte < 0x20 && byte != '\n') || byte == 0x7f)
            return true;
    return false;
}

} // namespace

TEST_CASE("db: the command line is checked before any store is opened") {
    struct Case {
        db::Arguments arguments;
        std::string_view problem;
    };
    const std::string long_key(600, 'k');
    const Case cases[] = {
        {{}, "subcommand is missing"},
        {{.words = {"frob"}}, "no subcommand 'frob'"},
        {{.words = {"show"}}, "show: give an ADDRESS"},
        {{.words = {"allow"}}, "allow: give an ADDRESS or a NETWORK"},
        {{.words = {"delete"}}, "delete: give the KEY"},
        {{.words = {"unblock"}}, "unblock: give an ADDRESS"},
        {{.words = {"show", "192.0.2.0/24"}}, "'192.0.2.0/24' is not an IP address"},
        {{.words = {"unblock", "mail.example.com"}}, "is not an IP address"},
        {{.words = {"show", "192.0.2.1", "192.0.2.2"}}, "show: too many arguments"},
        {{.words = {"stats", "x"}}, "stats: too many arguments"},
        {{.words = {"allow", "300.1.1.1"}}, "neither an IP address nor a network"},
        {{.words = {"allow", "192.0.2.0/33"}}, "neither an IP address nor a network"},
        {{.words = {"allow", "192.0.2.0/"}}, "neither an IP address nor a network"},
        {{.words = {"delete", "a b"}}, "'a b' is not a key"},
        {{.words = {"delete", long_key}}, "key longer than 511 bytes"},
        {{.words = {"list", "grey: x"}}, "cannot start a key"},
        {{.words = {"list"}, .limit = "0"}, "--limit '0': not a number from 1 to 1000000"},
        {{.words = {"list"}, .limit = "-1"}, "--limit '-1'"},
        {{.words = {"list"}, .limit = "1000001"}, "--limit '1000001'"},
        {{.words = {"list"}, .limit = "12x"}, "--limit '12x'"},
        {{.words = {"allow", "192.0.2.1"}, .limit = "5"}, "--limit is for list and show"},
        {{.words = {"allow", "192.0.2.1"}, .duration = "0s"}, "--for '0s': not a duration"},
        {{.words = {"allow", "192.0.2.1"}, .duration = "3651d"}, "--for '3651d'"},
        {{.words = {"allow", "192.0.2.1"}, .duration = "5 minutes"}, "--for '5 minutes'"},
        {{.words = {"show", "192.0.2.1"}, .duration = "1h"}, "show: --for is for allow"},
    };
    for (const auto &test : cases) {
        std::string problem;
        CAPTURE(test.problem);
        CHECK_FALSE(db::parse_request(test.arguments, problem));
        CHECK(problem.find(test.problem) != std::string::npos);
    }

    SUBCASE("hostile text comes back printable, and long text shortened") {
        std::string problem;
        CHECK_FALSE(db::parse_request({.words = {"show", "\x1b[2J\x07\xff"}}, problem));
        CHECK_FALSE(has_control_byte(problem));
        CHECK(problem.find("'\\x1B[2J\\x07\\xFF'") != std::string::npos);
        CHECK_FALSE(db::parse_request({.words = {"delete", long_key}}, problem));
        CHECK(problem.find(std::string(100, 'k') + "...'") != std::string::npos);
        CHECK(problem.find(std::string(101, 'k')) == std::string::npos);
    }

    SUBCASE("networks are normalised; mapped addresses unmapped") {
        std::string problem;
        auto request = db::parse_request({.words = {"allow", "192.0.2.7/24"}}, problem);
        REQUIRE(request);
        CHECK(request->network->to_string() == "192.0.2.0/24");
        CHECK_FALSE(request->address); // a network: no block to erase
        request = db::parse_request({.words = {"allow", "2001:DB8:0:1::7/48"}}, problem);
        REQUIRE(request);
        CHECK(request->network->to_string() == "2001:db8::/48");
        request = db::parse_request({.words = {"allow", "::ffff:192.0.2.7"}}, problem);
        REQUIRE(request);
        CHECK(request->network->to_string() == "192.0.2.7/32");
        CHECK(request->address->to_string() == "192.0.2.7");
        request = db::parse_request({.words = {"show", "::ffff:192.0.2.7"}}, problem);
        REQUIRE(request);
        CHECK(request->address->to_string() == "192.0.2.7");
        request = db::parse_request({.words = {"list"}, .json = true, .limit = "5"}, problem);
        REQUIRE(request);
        CHECK(request->prefix.empty());
        CHECK(request->limit == 5);
        CHECK(request->json);
        CHECK(problem.empty());
    }
}

TEST_CASE("db list: live entries under a prefix, at most --limit") {
    LmdbFixture fixture;
    populate(*fixture.store, fixture.config);

    auto ran = fixture.db({.words = {"list", "block:"}});
    CHECK(ran.status == db::exit_done);
    CHECK(ran.out == "block:192.0.2.7  until 2100-01-01 01:00:00 UTC (3240 s left)  "
                     "too-many-rsets 4 4102444800000\n"
                     "block:198.51.100.1  until 2100-01-01 01:00:00 UTC (3240 s left)  "
                     "too-many-errors 51 4102444800000\n");
    CHECK(ran.err.empty());

    ran = fixture.db({.words = {"list"}, .json = true});
    CHECK(ran.status == db::exit_done);
    auto document = ran.json();
    CHECK(document["more"] == false);
    std::vector<std::string> keys;
    for (const auto &entry : document["entries"])
        keys.push_back(entry["key"]);
    CHECK(keys == std::vector<std::string>{
                      "allowlist", "block:192.0.2.7", "block:198.51.100.1",
                      "count:errors:198.51.100.1", "count:rejected-recipients:192.0.2.7",
                      "count:rsets:192.0.2.7", "grey:192.0.2.0/24|a@x.test|b@y.test",
                      "grey:192.0.2.0/24|a@x.test|e@y.test", "pass:192.0.2.0/24"});
    CHECK(document["entries"][0]["value"] == "203.0.113.0/24 4102448400000\\n");
    CHECK(document["entries"][0]["expires"] == "2100-01-01T01:00:00Z");
    CHECK(document["entries"][0]["seconds_left"] == 3240);

    SUBCASE("--limit keeps the first, and says that there are more") {
        ran = fixture.db({.words = {"list", "grey:"}, .json = true, .limit = "1"});
        CHECK(ran.status == db::exit_done);
        CHECK(ran.json()["entries"].size() == 1);
        CHECK(ran.json()["more"] == true);
        CHECK(ran.err.find("more than 1 entries") != std::string::npos);
        ran = fixture.db({.words = {"list", "grey:"}, .limit = "2"});
        CHECK(ran.err.empty());
    }
    SUBCASE("expired entries are not listed; nothing listed is still done") {
        ran = fixture.db({.words = {"list", "allowlist"}}, db_t0 + 2h);
        CHECK(ran.status == db::exit_done);
        CHECK(ran.out.empty());
        ran = fixture.db({.words = {"list", "nothing-here"}, .json = true});
        CHECK(ran.json()["entries"].empty());
    }
    SUBCASE("values with control bytes are printed escaped, in text and JSON") {
        REQUIRE(fixture.store->put("weird", "a\x1b[2J\nb\t\x01\xff\\", db_t0 + 1h, db_t0).ok());
        ran = fixture.db({.words = {"list", "weird"}});
        CHECK_FALSE(has_control_byte(ran.out));
        CHECK(ran.out.find("a\\x1B[2J\\nb\\t\\x01\\xFF\\\\\n") != std::string::npos);
        ran = fixture.db({.words = {"list", "weird"}, .json = true});
        CHECK(ran.json()["entries"][0]["value"] == "a\\x1B[2J\\nb\\t\\x01\\xFF\\\\");
    }
}

TEST_CASE("db show: block, counters, allowlist, greylist pass and triplets of one address") {
    LmdbFixture fixture;
    populate(*fixture.store, fixture.config);

    auto ran = fixture.db({.words = {"show", "192.0.2.7"}});
    CHECK(ran.status == db::exit_done);
    CHECK(ran.out ==
          "client 192.0.2.7, origin 192.0.2.0/24\n"
          "block: too-many-rsets since 2100-01-01 00:00:00 UTC, until 2100-01-01 01:00:00 UTC "
          "(3240 s left), 4 counted\n"
          "counters in the last 1h:\n"
          "  rejected-recipients 2 (limit 20)\n"
          "  rsets 4 (limit 3)\n"
          "  empty-transactions 0 (limit 50)\n"
          "  unknown-commands 0 (limit 10)\n"
          "  errors 0 (limit 50)\n"
          "allowlist: no live entry contains 192.0.2.7\n"
          "greylist pass: pass:192.0.2.0/24 since 2100-01-01 00:06:00 UTC, until 2100-02-06 "
          "00:06:00 UTC (3110400 s left): grey:192.0.2.0/24|c@x.test|d@y.test\n"
          "triplets of 192.0.2.0/24: 2\n"
          "  <a@x.test> -> <b@y.test> first try 2100-01-01 00:00:00 UTC, a retry passes from "
          "2100-01-01 00:05:00 UTC, until 2100-01-03 00:00:00 UTC (172440 s left)\n"
          "  <a@x.test> -> <e@y.test> first try 2100-01-01 00:00:00 UTC, a retry passes from "
          "2100-01-01 00:05:00 UTC, until 2100-01-03 00:00:00 UTC (172440 s left)\n");

    SUBCASE("as JSON") {
        ran = fixture.db({.words = {"show", "::ffff:192.0.2.7"}, .json = true});
        CHECK(ran.status == db::exit_done);
        const auto document = ran.json();
        CHECK(document["address"] == "192.0.2.7");
        CHECK(document["origin"] == "192.0.2.0/24");
        CHECK(document["stored"] == true);
        CHECK(document["block"]["rule"] == "too-many-rsets");
        CHECK(document["block"]["count"] == 4);
        CHECK(document["block"]["since"] == "2100-01-01T00:00:00Z");
        CHECK(document["block"]["expires"] == "2100-01-01T01:00:00Z");
        CHECK(document["window_seconds"] == 3600);
        CHECK(document["counters"]["rsets"] == nlohmann::json{{"events", 4}, {"limit", 3}});
        CHECK(document["counters"]["errors"]["events"] == 0);
        CHECK(document["allowlist"].empty());
        CHECK(document["pass"]["key"] == "pass:192.0.2.0/24");
        CHECK(document["pass"]["passed"] == "2100-01-01T00:06:00Z");
        CHECK(document["pass"]["how"] == "grey:192.0.2.0/24|c@x.test|d@y.test");
        CHECK(document["triplets"].size() == 2);
        CHECK(document["triplets"][1]["recipient"] == "e@y.test");
        CHECK(document["triplets"][1]["retry_from"] == "2100-01-01T00:05:00Z");
        CHECK(document["more_triplets"] == false);
    }
    SUBCASE("reading the counters does not count") {
        for (int i = 0; i < 3; ++i)
            fixture.db({.words = {"show", "192.0.2.7"}});
        std::uint64_t events = 0;
        REQUIRE(fixture.store->count_event("count:rsets:192.0.2.7", db_later, 1h, 1h, false, events)
                    .ok());
        CHECK(events == 4);
    }
    SUBCASE("another address of the network shares its origin, not its block") {
        ran = fixture.db({.words = {"show", "192.0.2.99"}, .json = true, .limit = "1"});
        CHECK(ran.status == db::exit_done);
        const auto document = ran.json();
        CHECK(document["block"].is_null());
        CHECK(document["counters"]["rsets"]["events"] == 0);
        CHECK(document["pass"]["key"] == "pass:192.0.2.0/24");
        CHECK(document["triplets"].size() == 1);
        CHECK(document["more_triplets"] == true);
    }
    SUBCASE("the allowlist entries containing it") {
        ran = fixture.db({.words = {"show", "203.0.113.9"}});
        CHECK(ran.status == db::exit_done);
        CHECK(
            ran.out.find("allowlist: 203.0.113.0/24 until 2100-01-01 01:00:00 UTC (3240 s left)") !=
            std::string::npos);
    }
    SUBCASE("nothing stored: exit status 1") {
        ran = fixture.db({.words = {"show", "2001:db8::1"}});
        CHECK(ran.status == db::exit_not_found);
        CHECK(ran.out.find("origin 2001:db8::/64") != std::string::npos);
        CHECK(ran.out.find("nothing is stored about 2001:db8::1") != std::string::npos);
        ran = fixture.db({.words = {"show", "2001:db8::1"}, .json = true});
        CHECK(ran.status == db::exit_not_found);
        CHECK(ran.json()["stored"] == false);
    }
    SUBCASE("hostile values: malformed, out of range, control bytes") {
        auto &store = *fixture.store;
        REQUIRE(
            store.put("block:203.0.113.5", "too-many-rsets 5 253402300799999", db_t0 + 1h, db_t0)
                .ok());
        REQUIRE(store.put("pass:203.0.113.0/24", "\x1b]0;owned\x07", db_t0 + 1h, db_t0).ok());
        REQUIRE(store.put("grey:203.0.113.0/24|\x1b|x", "soon", db_t0 + 1h, db_t0).ok() == false);
        REQUIRE(store.put("grey:203.0.113.0/24|%1B|x", "soon\x1b", db_t0 + 1h, db_t0).ok());
        ran = fixture.db({.words = {"show", "203.0.113.5"}});
        CHECK(ran.status == db::exit_done);
        CHECK_FALSE(has_control_byte(ran.out));
        CHECK(ran.out.find("block: too-many-errors since 2100-01-01 00:06:00 UTC") !=
              std::string::npos);
        CHECK(ran.out.find("pass:203.0.113.0/24 (malformed value), until") != std::string::npos);
        CHECK(ran.out.find(": \\x1B]0;owned\\x07\n") != std::string::npos);
        CHECK(ran.out.find("<%1B> -> <x> malformed value soon\\x1B, until") != std::string::npos);
        ran = fixture.db({.words = {"show", "203.0.113.5"}, .json = true});
        const auto document = ran.json();
        CHECK(document["pass"]["passed"].is_null());
        CHECK(document["pass"]["how"] == "\\x1B]0;owned\\x07");
        CHECK(document["triplets"][0]["first_try"].is_null());
        CHECK(document["triplets"][0]["value"] == "soon\\x1B");
    }
}

TEST_CASE("db allow: adds or renews a network, normalised, and unblocks a single address") {
    LmdbFixture fixture;
    populate(*fixture.store, fixture.config);
    auto &store = *fixture.store;

    auto ran = fixture.db({.words = {"allow", "192.0.2.200/24"}, .duration = "1h"}, db_t0);
    CHECK(ran.status == db::exit_done);
    CHECK(ran.out == "allowed 192.0.2.0/24 until 2100-01-01 01:00:00 UTC (3600 s)\n");
    CHECK(value_of(store, "allowlist", db_t0) ==
          "203.0.113.0/24 4102448400000\n192.0.2.0/24 4102448400000\n");
    CHECK(value_of(store, "block:192.0.2.7", db_t0)); // a network unblocks nobody

    // What a session reads at connect.
    memory::Allowlist allowlist;
    REQUIRE(memory::read_allowlist(store, db_t0, allowlist).ok());
    CHECK(allowlist.match(ip("192.0.2.7"), db_t0));
    CHECK_FALSE(allowlist.match(ip("192.0.3.7"), db_t0));

    SUBCASE("again: renewed, by default for greylist.allow-time, not duplicated") {
        ran = fixture.db({.words = {"allow", "192.0.2.0/24"}}, db_later);
        CHECK(ran.status == db::exit_done);
        CHECK(ran.out == "allowed 192.0.2.0/24 until 2100-02-06 00:06:00 UTC (3110400 s), was "
                         "until 2100-01-01 01:00:00 UTC\n");
        CHECK(value_of(store, "allowlist", db_later) ==
              "203.0.113.0/24 4102448400000\n192.0.2.0/24 4105555560000\n");
        // The entry lives as long as its latest line.
        std::vector<state::Entry> entries;
        REQUIRE(store.list("allowlist", db_later, 10, entries).ok());
        CHECK(entries.at(0).expires == db_later + fixture.config.greylist.allow_time);
    }
    SUBCASE("a single address: allowed and its block erased, its counters kept") {
        ran = fixture.db({.words = {"allow", "192.0.2.7"}, .json = true}, db_later);
        CHECK(ran.status == db::exit_done);
        const auto document = ran.json();
        CHECK(document["network"] == "192.0.2.7/32");
        CHECK(document["expires"] == "2100-02-06T00:06:00Z");
        CHECK(document["previous_expires"].is_null());
        CHECK(document["unblocked"] == true);
        CHECK_FALSE(value_of(store, "block:192.0.2.7", db_later));
        CHECK(value_of(store, "count:rsets:192.0.2.7", db_later));
        CHECK(value_of(store, "block:198.51.100.1", db_later));
    }
    SUBCASE("malformed and expired lines are dropped when the list is written") {
        REQUIRE(store
                    .put("allowlist", "junk\n192.0.2.0/24 x\n198.51.100.0/24 4102444800001\n",
                         db_t0 + 1h, db_t0)
                    .ok());
        ran = fixture.db({.words = {"allow", "2001:db8::/32"}}, db_later);
        CHECK(ran.status == db::exit_done);
        CHECK(ran.out.find("dropped 2 malformed line(s)") != std::string::npos);
        CHECK(value_of(store, "allowlist", db_later) == "2001:db8::/32 4105555560000\n");
    }
    SUBCASE("a list that would not fit in one value is left as it was") {
        std::string full;
        for (unsigned i = 0; full.size() < state::max_value_bytes - 30; ++i)
            full += "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
                    ".0/24 4102448400000\n";
        REQUIRE(store.put("allowlist", full, db_t0 + 1h, db_t0).ok());
        ran = fixture.db({.words = {"allow", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"}}, db_t0);
        CHECK(ran.status == db::exit_store_failed);
        CHECK(ran.err.find("the allowlist is full") != std::string::npos);
        CHECK(value_of(store, "allowlist", db_t0) == full);
    }
}

TEST_CASE("db delete: one entry, saying whether it was there") {
    LmdbFixture fixture;
    populate(*fixture.store, fixture.config);

    auto ran = fixture.db({.words = {"delete", "pass:192.0.2.0/24"}});
    CHECK(ran.status == db::exit_done);
    CHECK(ran.out == "deleted pass:192.0.2.0/24\n");
    CHECK_FALSE(value_of(*fixture.store, "pass:192.0.2.0/24", db_later));
    ran = fixture.db({.words = {"delete", "pass:192.0.2.0/24"}, .json = true});
    CHECK(ran.status == db::exit_not_found);
    CHECK(ran.json() == nlohmann::json{{"key", "pass:192.0.2.0/24"}, {"existed", false}});
    ran = fixture.db({.words = {"delete", "no-such-key"}});
    CHECK(ran.status == db::exit_not_found);
    CHECK(ran.out == "no-such-key: no such entry\n");

    SUBCASE("an entry past its expiry is not there, and goes all the same") {
        REQUIRE(fixture.store->put("short", "x", db_t0 + 1s, db_t0).ok());
        ran = fixture.db({.words = {"delete", "short"}}, db_t0 + 2s);
        CHECK(ran.status == db::exit_not_found);
        CHECK(keys_listed(*fixture.store, "short", db_t0, 10).empty());
    }
}

TEST_CASE("db unblock: the block and the counters of one address, nothing else") {
    LmdbFixture fixture;
    populate(*fixture.store, fixture.config);

    auto ran = fixture.db({.words = {"unblock", "192.0.2.7"}, .json = true});
    CHECK(ran.status == db::exit_done);
    CHECK(ran.json()["erased"] == nlohmann::json{"block:192.0.2.7",
                                                 "count:rejected-recipients:192.0.2.7",
                                                 "count:rsets:192.0.2.7"});
    CHECK(keys_listed(*fixture.store, "block:", db_later, 10) ==
          std::vector<std::string>{"block:198.51.100.1"});
    CHECK(keys_listed(*fixture.store, "count:", db_later, 10) ==
          std::vector<std::string>{"count:errors:198.51.100.1"});
    CHECK(value_of(*fixture.store, "pass:192.0.2.0/24", db_later));

    ran = fixture.db({.words = {"unblock", "192.0.2.7"}});
    CHECK(ran.status == db::exit_not_found);
    CHECK(ran.out == "nothing stored for 192.0.2.7: no block, no counter\n");
    ran = fixture.db({.words = {"unblock", "198.51.100.1"}});
    CHECK(ran.status == db::exit_done);
    CHECK(ran.out == "deleted block:198.51.100.1\ndeleted count:errors:198.51.100.1\n");
}

TEST_CASE("db stats: the store's totals and the live entries of each kind") {
    LmdbFixture fixture;
    populate(*fixture.store, fixture.config);

    auto ran = fixture.db({.words = {"stats"}, .json = true});
    CHECK(ran.status == db::exit_done);
    const auto document = ran.json();
    CHECK(document["store"] == "lmdb " + fixture.dir.path());
    CHECK(document["entries"] == 9);
    CHECK(document["bytes"].get<std::uint64_t>() > 0);
    CHECK(document["capacity"] == 16 * 1024 * 1024);
    CHECK(document["live"] ==
          nlohmann::json{{"grey", 2}, {"pass", 1}, {"count", 3}, {"block", 2}, {"allowlist", 1}});
    CHECK(document["more"].empty());
    CHECK(document["allowlist_malformed"] == 0);

    // Two hours on, only the greylist entries are live (the counters keep
    // limits.window, the blocks and the allowlist an hour); none swept yet.
    ran = fixture.db({.words = {"stats"}}, db_t0 + 2h);
    CHECK(ran.status == db::exit_done);
    CHECK(ran.out == "store: lmdb " + fixture.dir.path() +
                         "\n"
                         "entries: 9 (expired ones not yet swept included)\n"
                         "bytes: " +
                         std::to_string(document["bytes"].get<std::uint64_t>()) + " of 16777216\n" +
                         "live grey: 2\nlive pass: 1\nlive count: 0\nlive block: 0\n"
                         "live allowlist: 0\n");
}

TEST_CASE("db: a store that fails gives exit status 3 with its status and why") {
    FailingStore store(state::Outcome::Status::timeout);
    const Config config = db_config();
    const std::vector<std::string> commands[] = {
        {"list"},          {"show", "192.0.2.1"},    {"allow", "192.0.2.1"},
        {"delete", "key"}, {"unblock", "192.0.2.1"}, {"stats"},
    };
    for (const auto &words : commands) {
        CAPTURE(words.front());
        auto ran = run_db(store, config, {.words = words});
        CHECK(ran.status == db::exit_store_failed);
        CHECK(ran.err.starts_with("portcullis db: the store failed: timeout: "));
        CHECK(ran.err.ends_with("the server said \\x1B[2Jno\n"));
        CHECK_FALSE(has_control_byte(ran.err));
        CHECK(ran.out.empty());
        ran = run_db(store, config, {.words = words, .json = true});
        CHECK(ran.status == db::exit_store_failed);
        const auto document = ran.json();
        CHECK(document["status"] == "timeout");
        CHECK(document["error"].get<std::string>().ends_with("the server said \\x1B[2Jno"));
    }
    // show names what it was reading.
    const auto ran = run_db(store, config, {.words = {"show", "192.0.2.1"}});
    CHECK(ran.err.find("timeout: reading block:192.0.2.1: the server") != std::string::npos);
}

TEST_CASE("the client state read without writing: stops at the first failure, naming it") {
    FailingStore store(state::Outcome::Status::unavailable);
    memory::ClientState client;
    const auto outcome =
        memory::read_client_state(store, db_config(), ip("192.0.2.1"), db_t0, {}, client);
    CHECK(outcome.status == state::Outcome::Status::unavailable);
    CHECK(outcome.why.starts_with("reading block:192.0.2.1: "));
}
