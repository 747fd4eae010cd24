// `portcullis db` over the Redis store, on a redis-server of the test's
// own (127.0.0.1, a port of its own): list, show, allow and unblock read
// and write what the daemon's Redis store holds, hostile values written
// straight into Redis come out printable, and a stopped server is exit
// status 3.
#include "../state/redis_server.hpp"
#include "db_support.hpp"

#include "memory/allowlist.hpp"
#include "state/redis_store.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace portcullis;
using namespace portcullis::testing;
using namespace std::chrono_literals;

namespace {

struct RedisFixture {
    RedisServer server{RedisServer::Listen::tcp};
    std::unique_ptr<state::RedisStore> store;
    Config config = db_config_small_limits();

    RedisFixture() {
        state::RedisSettings settings;
        settings.url = server.url();
        settings.timeout = 2s; // sanitizer builds are slow; nothing here should wait
        std::string error;
        store = state::RedisStore::create(settings, error);
        INFO(error);
        REQUIRE(store);
        populate(*store, config);
    }

    DbRun db(db::Arguments arguments, state::Time now = db_later) {
        return run_db(*store, config, std::move(arguments), now);
    }
};

} // namespace

TEST_CASE("db over Redis: list, show, allow and unblock") {
    RedisFixture fixture;

    SUBCASE("list") {
        auto ran = fixture.db({.words = {"list", "grey:"}});
        CHECK(ran.status == db::exit_done);
        CHECK(ran.out == "grey:192.0.2.0/24|a@x.test|b@y.test  until 2100-01-03 00:00:00 UTC "
                         "(172440 s left)  4102444800000\n"
                         "grey:192.0.2.0/24|a@x.test|e@y.test  until 2100-01-03 00:00:00 UTC "
                         "(172440 s left)  4102444800000\n");
        ran = fixture.db({.words = {"list"}, .json = true, .limit = "3"});
        CHECK(ran.json()["entries"].size() == 3);
        CHECK(ran.json()["more"] == true);
    }
    SUBCASE("show") {
        auto ran = fixture.db({.words = {"show", "192.0.2.7"}, .json = true});
        CHECK(ran.status == db::exit_done);
        const auto document = ran.json();
        CHECK(document["block"]["rule"] == "too-many-rsets");
        CHECK(document["counters"]["rsets"]["events"] == 4);
        CHECK(document["counters"]["rejected-recipients"]["events"] == 2);
        CHECK(document["pass"]["how"] == "grey:192.0.2.0/24|c@x.test|d@y.test");
        CHECK(document["triplets"].size() == 2);
        // Read, not counted.
        ran = fixture.db({.words = {"show", "192.0.2.7"}, .json = true});
        CHECK(ran.json()["counters"]["rsets"]["events"] == 4);
        ran = fixture.db({.words = {"show", "2001:db8::1"}});
        CHECK(ran.status == db::exit_not_found);
    }
    SUBCASE("allow") {
        auto ran = fixture.db({.words = {"allow", "192.0.2.7"}, .duration = "2h"}, db_t0);
        CHECK(ran.status == db::exit_done);
        CHECK(ran.out == "allowed 192.0.2.7/32 until 2100-01-01 02:00:00 UTC (7200 s)\n"
                         "unblocked 192.0.2.7\n");
        memory::Allowlist allowlist;
        REQUIRE(memory::read_allowlist(*fixture.store, db_t0, allowlist).ok());
        CHECK(allowlist.match(ip("192.0.2.7"), db_t0));
        CHECK(allowlist.match(ip("203.0.113.1"), db_t0));
        std::optional<memory::Block> block;
        REQUIRE(memory::read_block(*fixture.store, ip("192.0.2.7"), db_t0, block).ok());
        CHECK_FALSE(block);
        // Redis keeps the entry as long as its latest line.
        const auto expiry = fixture.server.command({"HGET", "portcullis:allowlist", "e"});
        REQUIRE(expiry->type == REDIS_REPLY_STRING);
        CHECK(std::string(expiry->str, expiry->len) == "4102452000000");
    }
    SUBCASE("unblock") {
        auto ran = fixture.db({.words = {"unblock", "192.0.2.7"}});
        CHECK(ran.status == db::exit_done);
        CHECK(ran.out == "deleted block:192.0.2.7\n"
                         "deleted count:rejected-recipients:192.0.2.7\n"
                         "deleted count:rsets:192.0.2.7\n");
        CHECK(fixture.server.command({"EXISTS", "portcullis:block:192.0.2.7"})->integer == 0);
        CHECK(fixture.server.command({"EXISTS", "portcullis:count:rsets:192.0.2.7"})->integer == 0);
        CHECK(fixture.server.command({"EXISTS", "portcullis:block:198.51.100.1"})->integer == 1);
        ran = fixture.db({.words = {"unblock", "192.0.2.7"}});
        CHECK(ran.status == db::exit_not_found);
    }
    SUBCASE("delete and stats") {
        auto ran = fixture.db({.words = {"delete", "pass:192.0.2.0/24"}});
        CHECK(ran.status == db::exit_done);
        ran = fixture.db({.words = {"stats"}, .json = true});
        CHECK(ran.status == db::exit_done);
        CHECK(
            ran.json()["live"] ==
            nlohmann::json{{"grey", 2}, {"pass", 0}, {"count", 3}, {"block", 2}, {"allowlist", 1}});
        CHECK(ran.json()["store"].get<std::string>().starts_with("redis redis://127.0.0.1:"));
    }
}

TEST_CASE("db over Redis: values written straight into Redis are printed safely") {
    RedisFixture fixture;
    fixture.server.command({"HSET", "portcullis:pass:192.0.2.0/24", "v",
                            std::string("1 \x1b]2;title\x07\r\n\0x", 16), "e", "4102448400000"});
    fixture.server.command(
        {"HSET", "portcullis:block:192.0.2.7", "v", "\xff\xfe", "e", "4102448400000"});
    auto ran = fixture.db({.words = {"show", "192.0.2.7"}});
    CHECK(ran.status == db::exit_done);
    INFO(ran.out);
    const bool printable = std::all_of(ran.out.begin(), ran.out.end(), [](unsigned char byte) {
        return (byte >= 0x20 || byte == '\n') && byte < 0x7f;
    });
    CHECK(printable);
    CHECK(ran.out.find("block: too-many-errors since 2100-01-01 00:06:00 UTC") !=
          std::string::npos);
    CHECK(ran.out.find(" since 1970-01-01 00:00:00 UTC, until 2100-01-01 01:00:00 UTC (3240 s "
                       "left): \\x1B]2;title\\x07\\x0D\\n\\x00x\n") != std::string::npos);

    ran = fixture.db({.words = {"list", "pass:"}, .json = true});
    CHECK(ran.json()["entries"][0]["value"] == "1 \\x1B]2;title\\x07\\x0D\\n\\x00x");

    SUBCASE("an entry of the wrong type is an error naming its key") {
        fixture.server.command({"SET", "portcullis:block:192.0.2.8", "x"});
        ran = fixture.db({.words = {"show", "192.0.2.8"}});
        CHECK(ran.status == db::exit_store_failed);
        CHECK(ran.err.find("block:192.0.2.8") != std::string::npos);
    }
}

TEST_CASE("db over Redis: a stopped server is exit status 3, unavailable") {
    RedisFixture fixture;
    fixture.server.stop();
    for (const auto &words :
         {std::vector<std::string>{"list"}, std::vector<std::string>{"show", "192.0.2.7"},
          std::vector<std::string>{"allow", "192.0.2.0/24"},
          std::vector<std::string>{"unblock", "192.0.2.7"}}) {
        CAPTURE(words.front());
        const auto ran = fixture.db({.words = words, .json = true});
        CHECK(ran.status == db::exit_store_failed);
        CHECK(ran.json()["status"] == "unavailable");
    }
}
