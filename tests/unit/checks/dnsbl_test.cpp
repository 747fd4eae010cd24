// dnsbl: weights against the threshold, filters, allow lists, TXT
// reasons, and list errors that must never count as listings.
#include "check_harness.hpp"
#include "checks/dnsbl.hpp"

#include <doctest/doctest.h>

#include <functional>

using namespace portcullis;
using portcullis::testing::CheckHarness;
using portcullis::testing::ScriptedResolver;

namespace {

// CheckHarness with the DNSBL zones in the config, and a count of queries.
struct DnsblHarness : CheckHarness {
    using CheckHarness::CheckHarness;

    void zones(const std::vector<std::string> &entries) {
        config.dnsbl_zones.clear();
        for (const auto &entry : entries) {
            std::string error;
            auto zone = DnsblZone::parse(entry, &error);
            REQUIRE_MESSAGE(zone, entry << ": " << error);
            config.dnsbl_zones.push_back(*zone);
        }
    }
    std::size_t asked(DnsType type) const {
        std::size_t count = 0;
        for (const auto &entry : dns->asked())
            count += entry.second == type;
        return count;
    }
};

const std::string zen = "1.2.0.192.zen.example";
const std::string wl = "1.2.0.192.wl.example";
const std::string bl = "1.2.0.192.bl.example";

} // namespace

TEST_CASE("dnsbl adds the weights of matching lists and compares with the threshold") {
    using S = DnsAnswer::Status;
    using Vars = std::map<std::string, std::string>;
    struct Row {
        std::string what;
        std::vector<std::string> zones;
        double threshold;
        std::function<void(ScriptedResolver &)> script;
        Outcome outcome;
        Vars vars;
        const char *detail;
        std::size_t txt_lookups;
    };
    const std::vector<Row> rows = {
        {"listed",
         {"zen.example=127.0.0.[2..11]*3"},
         1,
         [](ScriptedResolver &dns) {
             dns.add(zen, DnsType::A, {"127.0.0.2"});
             dns.add(zen, DnsType::TXT, {"Listed by SBL, see https://zen.example/q/192.0.2.1"});
         },
         Outcome::fail,
         {{"dnsbl_zone", "zen.example"},
          {"dnsbl_txt", "Listed by SBL, see https://zen.example/q/192.0.2.1"},
          {"dnsbl_score", "3"}},
         "listed: zen.example 127.0.0.2 *3; score 3 >= threshold 1",
         1},
        {"not listed",
         {"zen.example=127.0.0.[2..11]*3"},
         1,
         [](ScriptedResolver &) {},
         Outcome::pass,
         {},
         "not listed; score 0 below threshold 1",
         0},
        {"code outside the filter (RFC 5782 127.0.0.1)",
         {"zen.example=127.0.0.[2..11]*3"},
         1,
         [](ScriptedResolver &dns) { dns.add(zen, DnsType::A, {"127.0.0.1"}); },
         Outcome::pass,
         {},
         "not listed",
         0},
        {"list refuses the query",
         {"zen.example"},
         1,
         [](ScriptedResolver &dns) { dns.add(zen, DnsType::A, {"127.255.255.254"}); },
         Outcome::pass,
         {},
         "not listed; score 0 below threshold 1; not counted: zen.example refused the query "
         "(127.255.255.254)",
         0},
        {"refusal next to a listing code",
         {"zen.example"},
         1,
         [](ScriptedResolver &dns) {
             dns.add(zen, DnsType::A, {"127.0.0.2", "127.255.255.255"});
         },
         Outcome::pass,
         {},
         "refused the query (127.255.255.255)",
         0},
        {"list servfail",
         {"zen.example"},
         1,
         [](ScriptedResolver &dns) { dns.fail(zen, DnsType::A, S::servfail); },
         Outcome::pass,
         {},
         "not counted: zen.example servfail",
         0},
        {"list timeout, another list listed",
         {"zen.example*2", "bl.example"},
         2,
         [](ScriptedResolver &dns) {
             dns.fail(zen, DnsType::A, S::timeout);
             dns.add(bl, DnsType::A, {"127.0.0.2"});
         },
         Outcome::pass,
         {},
         "listed: bl.example 127.0.0.2 *1; score 1 below threshold 2; not counted: zen.example "
         "timeout",
         1},
        {"allow list cancels a block list",
         {"bl.example*2", "wl.example=127.0.[0..255].[0..255]*-2"},
         1,
         [](ScriptedResolver &dns) {
             dns.add(bl, DnsType::A, {"127.0.0.2"});
             dns.add(wl, DnsType::A, {"127.0.10.2"});
         },
         Outcome::pass,
         {},
         "listed: bl.example 127.0.0.2 *2, wl.example 127.0.10.2 *-2; score 0 below threshold 1",
         2},
        {"two lists reach the threshold together",
         {"bl.example", "zen.example=127.0.0.[2..11]*2", "wl.example*-0.5"},
         3,
         [](ScriptedResolver &dns) {
             dns.add(bl, DnsType::A, {"127.0.0.2"});
             dns.add(bl, DnsType::TXT, {"bl reason"});
             dns.add(zen, DnsType::A, {"127.0.0.1", "127.0.0.4"});
             dns.add(zen, DnsType::TXT, {"zen reason"});
         },
         Outcome::fail,
         {{"dnsbl_zone", "zen.example"}, {"dnsbl_txt", "zen reason"}, {"dnsbl_score", "3"}},
         "listed: bl.example 127.0.0.2 *1, zen.example 127.0.0.4 *2; score 3 >= threshold 3",
         2},
        {"fractional weights",
         {"bl.example*0.5", "zen.example*0.25"},
         0.75,
         [](ScriptedResolver &dns) {
             dns.add(bl, DnsType::A, {"127.0.0.2"});
             dns.add(zen, DnsType::A, {"127.0.0.2"});
         },
         Outcome::fail,
         {{"dnsbl_zone", "bl.example"}, {"dnsbl_txt", ""}, {"dnsbl_score", "0.75"}},
         "score 0.75 >= threshold 0.75",
         2},
        {"same zone, two filters, one lookup",
         {"zen.example=127.0.0.2*3", "zen.example=127.0.0.[10;11]*1"},
         4,
         [](ScriptedResolver &dns) {
             dns.add(zen, DnsType::A, {"127.0.0.2", "127.0.0.10"});
             dns.add(zen, DnsType::TXT, {"SBL", "PBL"});
         },
         Outcome::fail,
         {{"dnsbl_zone", "zen.example"}, {"dnsbl_txt", "SBL; PBL"}, {"dnsbl_score", "4"}},
         "zen.example 127.0.0.2 *3, zen.example 127.0.0.10 *1",
         1},
        {"TXT lookup fails",
         {"zen.example"},
         1,
         [](ScriptedResolver &dns) {
             dns.add(zen, DnsType::A, {"127.0.0.2"});
             dns.fail(zen, DnsType::TXT, S::servfail);
         },
         Outcome::fail,
         {{"dnsbl_zone", "zen.example"}, {"dnsbl_txt", ""}, {"dnsbl_score", "1"}},
         "listed",
         1},
        {"garbage A records",
         {"zen.example"},
         1,
         [](ScriptedResolver &dns) {
             dns.add(zen, DnsType::A, {"", "not-an-address", "::1", "127.0.0.2.5", "2.0.0.127"});
         },
         Outcome::pass,
         {},
         "not listed",
         0},
        {"threshold 0 without any listing",
         {"zen.example"},
         0,
         [](ScriptedResolver &) {},
         Outcome::pass,
         {},
         "not listed; score 0 below threshold 0",
         0},
        {"only an allow list, negative threshold",
         {"wl.example*-1"},
         -1,
         [](ScriptedResolver &dns) { dns.add(wl, DnsType::A, {"127.0.0.2"}); },
         Outcome::pass,
         {},
         "listed: wl.example 127.0.0.2 *-1",
         1},
    };
    for (const auto &row : rows) {
        CAPTURE(row.what);
        DnsblHarness harness("192.0.2.1");
        harness.zones(row.zones);
        harness.config.dnsbl_threshold = row.threshold;
        row.script(*harness.dns);
        const auto results = harness.run("dnsbl");
        REQUIRE(results.size() == 1);
        const auto &result = results[0];
        CAPTURE(result.detail);
        CHECK(result.check == "dnsbl");
        CHECK(result.rule == "dnsbl-listed");
        CHECK(result.outcome == row.outcome);
        CHECK(result.vars == row.vars);
        CHECK(result.detail.find(row.detail) != std::string::npos);
        CHECK(harness.asked(DnsType::TXT) == row.txt_lookups);
        CHECK(harness.asked(DnsType::A) <= row.zones.size());
    }
}

TEST_CASE("dnsbl queries reversed IPv4 octets and IPv6 nibbles") {
    struct Row {
        std::string client;
        std::string query;
    };
    const std::vector<Row> rows = {
        {"192.0.2.1", "1.2.0.192.zen.example"},
        {"::ffff:192.0.2.1", "1.2.0.192.zen.example"},
        {"2001:db8::1",
         "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.example"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.client);
        DnsblHarness harness(row.client);
        harness.zones({"zen.example"});
        harness.dns->add(row.query, DnsType::A, {"127.0.0.2"});
        const auto results = harness.run("dnsbl");
        CHECK(results[0].outcome == Outcome::fail);
        CHECK(dnsbl_query_name(harness.identity.reversed, harness.config.dnsbl_zones[0]) ==
              row.query);
        const std::vector<std::pair<std::string, DnsType>> expected = {{row.query, DnsType::A},
                                                                       {row.query, DnsType::TXT}};
        CHECK(harness.dns->asked() == expected);
    }
}

TEST_CASE("dnsbl passes TXT reasons raw but bounded") {
    struct Row {
        std::string txt;
        unsigned max_length;
        std::string expected;
    };
    const std::vector<Row> rows = {
        {"short", 200, "short"},
        {std::string(5000, 'x'), 200, std::string(200, 'x')},
        {"0123456789abcdef", 10, "0123456789"},
        {"anything", 0, ""},
        {std::string("bad\0\r\nline 100%\xff", 17), 200, std::string("bad\0\r\nline 100%\xff", 17)},
    };
    for (const auto &row : rows) {
        DnsblHarness harness("192.0.2.1");
        harness.zones({"zen.example"});
        harness.config.dnsbl_txt_max_length = row.max_length;
        harness.dns->add(zen, DnsType::A, {"127.0.0.2"});
        harness.dns->add(zen, DnsType::TXT, {row.txt});
        const auto results = harness.run("dnsbl");
        REQUIRE(results[0].outcome == Outcome::fail);
        CHECK(results[0].vars.at("dnsbl_txt") == row.expected);
        for (char c : results[0].detail)
            CHECK((c >= 0x20 && c < 0x7f));
    }
}

TEST_CASE("dnsbl skips without zones or without a client address") {
    DnsblHarness no_zones("192.0.2.1");
    CHECK(no_zones.run("dnsbl")[0].outcome == Outcome::skip);
    CHECK(no_zones.dns->asked().empty());
    DnsblHarness no_client(std::nullopt);
    no_client.zones({"zen.example"});
    CHECK(no_client.run("dnsbl")[0].outcome == Outcome::skip);
    CHECK(no_client.dns->asked().empty());
}

TEST_CASE("read_dnsbl exposes every listing and problem") {
    DnsblHarness harness("192.0.2.1");
    harness.zones({"zen.example=127.0.0.[2..11]*3", "bl.example", "wl.example*-1"});
    harness.dns->add(zen, DnsType::A, {"127.0.0.4", "127.0.0.11"});
    harness.dns->add(zen, DnsType::TXT, {"XBL"});
    harness.dns->fail(bl, DnsType::A, DnsAnswer::Status::timeout);
    harness.dns->add(wl, DnsType::A, {"127.0.0.2"});
    harness.run("dnsbl");
    const auto report = read_dnsbl(harness.context());
    REQUIRE(report.listings.size() == 2);
    CHECK(report.listings[0].zone == "zen.example");
    CHECK(report.listings[0].entry == "zen.example=127.0.0.[2..11]*3");
    CHECK(report.listings[0].codes == std::vector<std::string>{"127.0.0.4", "127.0.0.11"});
    CHECK(report.listings[0].txt == "XBL");
    CHECK(report.listings[1].zone == "wl.example");
    CHECK(report.listings[1].weight == -1);
    CHECK(report.problems == std::vector<std::string>{"bl.example timeout"});
    CHECK(report.score == 2);
}

TEST_CASE("is_dnsbl_error_code recognizes 127.255.255.0/24 only") {
    CHECK(is_dnsbl_error_code("127.255.255.254"));
    CHECK(is_dnsbl_error_code("127.255.255.0"));
    CHECK_FALSE(is_dnsbl_error_code("127.0.0.2"));
    CHECK_FALSE(is_dnsbl_error_code("127.255.254.255"));
    CHECK_FALSE(is_dnsbl_error_code("::ffff:127.255.255.254"));
    CHECK_FALSE(is_dnsbl_error_code(""));
}

TEST_CASE("defect: a dead allow list turns into a reject") {
    using S = DnsAnswer::Status;
    const std::string deadwl = "1.2.0.192.deadwl.test";
    const std::string bltest = "1.2.0.192.bl.test";
    struct Row {
        std::string what;
        std::vector<std::string> zones;
        std::function<void(ScriptedResolver &)> script;
        Outcome outcome;
        const char *detail;
    };
    const std::vector<Row> rows = {
        {"allow list servfail could have cancelled the listing",
         {"bl.test*3", "deadwl.test*-5"},
         [&](ScriptedResolver &dns) {
             dns.add(bltest, DnsType::A, {"127.0.0.2"});
             dns.fail(deadwl, DnsType::A, S::servfail);
         },
         Outcome::error,
         "not counted: deadwl.test servfail"},
        {"allow list timeout could have cancelled the listing",
         {"bl.test*3", "deadwl.test*-5"},
         [&](ScriptedResolver &dns) {
             dns.add(bltest, DnsType::A, {"127.0.0.2"});
             dns.fail(deadwl, DnsType::A, S::timeout);
         },
         Outcome::error,
         "deadwl.test timeout"},
        {"allow list too light to cancel the listing",
         {"bl.test*10", "deadwl.test*-5"},
         [&](ScriptedResolver &dns) {
             dns.add(bltest, DnsType::A, {"127.0.0.2"});
             dns.fail(deadwl, DnsType::A, S::servfail);
         },
         Outcome::fail,
         "score 10 >= threshold 1"},
        {"dead block list still counts as not listed",
         {"bl.test*3", "deadwl.test*5"},
         [&](ScriptedResolver &dns) { dns.fail(deadwl, DnsType::A, S::servfail); },
         Outcome::pass,
         "not counted: deadwl.test servfail"},
        {"dead allow list, not listed anyway",
         {"bl.test*3", "deadwl.test*-5"},
         [&](ScriptedResolver &dns) { dns.fail(deadwl, DnsType::A, S::timeout); },
         Outcome::pass,
         "not listed"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.what);
        DnsblHarness harness("192.0.2.1");
        harness.zones(row.zones);
        harness.config.dnsbl_threshold = 1;
        row.script(*harness.dns);
        const auto results = harness.run("dnsbl");
        REQUIRE(results.size() == 1);
        CAPTURE(results[0].detail);
        CHECK(results[0].outcome == row.outcome);
        CHECK(results[0].detail.find(row.detail) != std::string::npos);
    }
}

TEST_CASE("a pass that block lists that did not answer could have made a fail says so") {
    using S = DnsAnswer::Status;
    struct Row {
        std::string what;
        std::vector<std::string> zones;
        std::function<void(ScriptedResolver &)> script;
        bool could_fail;
    };
    const std::vector<Row> rows = {
        {"a dead list that alone reaches the threshold",
         {"bl.example"},
         [](ScriptedResolver &dns) { dns.fail(bl, DnsType::A, S::timeout); },
         true},
        {"a list error that alone reaches the threshold",
         {"bl.example"},
         [](ScriptedResolver &dns) { dns.add(bl, DnsType::A, {"127.255.255.254"}); },
         true},
        {"a dead list that makes up the difference",
         {"bl.example*0.5", "zen.example*0.5"},
         [](ScriptedResolver &dns) {
             dns.add(zen, DnsType::A, {"127.0.0.2"});
             dns.fail(bl, DnsType::A, S::servfail);
         },
         true},
        {"a dead list too light to",
         {"bl.example*0.25", "zen.example*0.5"},
         [](ScriptedResolver &dns) {
             dns.add(zen, DnsType::A, {"127.0.0.2"});
             dns.fail(bl, DnsType::A, S::servfail);
         },
         false},
        {"a dead allow list",
         {"wl.example*-1"},
         [](ScriptedResolver &dns) { dns.fail(wl, DnsType::A, S::servfail); },
         false},
        {"every list answered", {"bl.example"}, [](ScriptedResolver &) {}, false},
    };
    for (const auto &row : rows) {
        CAPTURE(row.what);
        DnsblHarness harness("192.0.2.1");
        harness.zones(row.zones);
        harness.config.dnsbl_threshold = 1;
        row.script(*harness.dns);
        const auto results = harness.run("dnsbl");
        REQUIRE(results.size() == 1);
        CAPTURE(results[0].detail);
        CHECK(results[0].outcome == Outcome::pass);
        CHECK((results[0].could_be == std::vector<std::string>{"dnsbl-listed"}) == row.could_fail);
    }
}
