// rhsbl: the sender domain, the HELO name and the forward-confirmed PTR
// names against domain lists written like DNSBL zones; weights counted
// once per list, list errors and failed lookups never count.
#include "check_harness.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>

using namespace portcullis;
using portcullis::testing::CheckHarness;
using portcullis::testing::ScriptedResolver;

namespace {

using Vars = std::map<std::string, std::string>;

// A client 192.0.2.1 whose PTR names are mail.client.example (confirmed)
// and other.client.example (pointing elsewhere), after HELO and MAIL.
struct RhsblHarness : CheckHarness {
    RhsblHarness(std::string helo, std::string sender) : CheckHarness(std::string("192.0.2.1")) {
        facts.helo = facts.first_helo = std::move(helo);
        facts.helo_count = 1;
        facts.sender = std::move(sender);
        facts.sender_seen = true;
        dns->add("1.2.0.192.in-addr.arpa", DnsType::PTR,
                 {"mail.client.example", "other.client.example"});
        dns->add("mail.client.example", DnsType::A, {"192.0.2.1"});
        dns->add("other.client.example", DnsType::A, {"198.51.100.1"});
    }

    void zones(const std::vector<std::string> &entries) {
        for (const auto &entry : entries) {
            std::string error;
            auto zone = DnsblZone::parse(entry, &error);
            REQUIRE_MESSAGE(zone, entry << ": " << error);
            config.rhsbl_zones.push_back(*zone);
        }
    }

    bool was_asked(const std::string &name) const {
        const auto asked = dns->asked();
        return std::any_of(asked.begin(), asked.end(),
                           [&](const auto &entry) { return entry.first == name; });
    }
};

} // namespace

TEST_CASE("rhsbl looks up the sender domain, the HELO name and confirmed client names") {
    struct Row {
        std::string what;
        std::vector<std::string> zones;
        double threshold;
        std::function<void(ScriptedResolver &)> script;
        Outcome outcome;
        Vars vars;
        const char *detail_part;
    };
    const std::vector<Row> rows = {
        {"sender domain listed, with its reason",
         {"dbl.example"},
         1,
         [](ScriptedResolver &dns) {
             dns.add("spam.example.dbl.example", DnsType::A, {"127.0.1.2"});
             dns.add("spam.example.dbl.example", DnsType::TXT, {"spam domain, 100% sure"});
         },
         Outcome::fail,
         {{"rhsbl_zone", "dbl.example"},
          {"rhsbl_domain", "spam.example"},
          {"rhsbl_source", "sender domain"},
          {"rhsbl_txt", "spam domain, 100% sure"},
          {"rhsbl_score", "1"}},
         "listed: dbl.example (sender domain spam.example) 127.0.1.2 *1; score 1 >= threshold 1"},
        {"HELO name listed",
         {"dbl.example"},
         1,
         [](ScriptedResolver &dns) {
             dns.add("helo.bad.example.dbl.example", DnsType::A, {"127.0.1.2"});
         },
         Outcome::fail,
         {{"rhsbl_domain", "helo.bad.example"}, {"rhsbl_source", "HELO name"}, {"rhsbl_txt", ""}},
         "(HELO name helo.bad.example)"},
        {"confirmed client name listed",
         {"dbl.example"},
         1,
         [](ScriptedResolver &dns) {
             dns.add("mail.client.example.dbl.example", DnsType::A, {"127.0.1.2"});
         },
         Outcome::fail,
         {{"rhsbl_domain", "mail.client.example"}, {"rhsbl_source", "client name"}},
         "(client name mail.client.example)"},
        {"unconfirmed client name: never asked",
         {"dbl.example"},
         1,
         [](ScriptedResolver &dns) {
             dns.add("other.client.example.dbl.example", DnsType::A, {"127.0.1.2"});
         },
         Outcome::pass,
         {},
         "not listed (sender domain spam.example, HELO name helo.bad.example, client name "
         "mail.client.example); score 0 below threshold 1"},
        {"a list counts once for several listed names",
         {"dbl.example*1", "other.example*1"},
         2,
         [](ScriptedResolver &dns) {
             dns.add("spam.example.dbl.example", DnsType::A, {"127.0.1.2"});
             dns.add("helo.bad.example.dbl.example", DnsType::A, {"127.0.1.2"});
         },
         Outcome::pass,
         {},
         "score 1 below threshold 2"},
        {"two lists reach the threshold; the heavier one is named",
         {"dbl.example*1", "heavy.example*2"},
         3,
         [](ScriptedResolver &dns) {
             dns.add("spam.example.dbl.example", DnsType::A, {"127.0.1.2"});
             dns.add("helo.bad.example.heavy.example", DnsType::A, {"127.0.0.2"});
         },
         Outcome::fail,
         {{"rhsbl_zone", "heavy.example"}, {"rhsbl_domain", "helo.bad.example"}},
         "score 3 >= threshold 3"},
        {"an allow list takes weight off",
         {"dbl.example*1", "white.example*-1"},
         1,
         [](ScriptedResolver &dns) {
             dns.add("spam.example.dbl.example", DnsType::A, {"127.0.1.2"});
             dns.add("mail.client.example.white.example", DnsType::A, {"127.0.0.2"});
         },
         Outcome::pass,
         {},
         "score 0 below threshold 1"},
        {"code outside the filter",
         {"dbl.example=127.0.1.[2..99]"},
         1,
         [](ScriptedResolver &dns) {
             dns.add("spam.example.dbl.example", DnsType::A, {"127.0.1.255"});
         },
         Outcome::pass,
         {},
         "not listed"},
        {"list error code 127.255.255.254 never counts",
         {"dbl.example"},
         1,
         [](ScriptedResolver &dns) {
             dns.add("spam.example.dbl.example", DnsType::A, {"127.255.255.254"});
         },
         Outcome::pass,
         {},
         "not counted: dbl.example refused the query (127.255.255.254)"},
        {"failed lookup counts as not listed",
         {"dbl.example"},
         1,
         [](ScriptedResolver &dns) {
             dns.fail("spam.example.dbl.example", DnsType::A, DnsAnswer::Status::timeout);
         },
         Outcome::pass,
         {},
         "not counted: dbl.example timeout for spam.example"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.what);
        RhsblHarness harness("helo.bad.example", "x@Spam.Example");
        harness.zones(row.zones);
        harness.config.rhsbl_threshold = row.threshold;
        row.script(*harness.dns);
        const auto results = harness.run("rhsbl");
        REQUIRE(results.size() == 1);
        const auto &result = results.front();
        CHECK(result.rule == "rhsbl-listed");
        CHECK(result.outcome == row.outcome);
        for (const auto &[name, value] : row.vars) {
            CAPTURE(name);
            CHECK(result.vars.at(name) == value);
        }
        CAPTURE(result.detail);
        CHECK(result.detail.find(row.detail_part) != std::string::npos);
        for (char c : result.detail)
            CHECK((c >= 0x20 && c < 0x7f));
        CHECK_FALSE(harness.was_asked("other.client.example.dbl.example"));
    }
}

TEST_CASE("rhsbl skips what it cannot look up") {
    SUBCASE("no zones: no lookups") {
        RhsblHarness harness("helo.bad.example", "x@spam.example");
        const auto results = harness.run("rhsbl");
        REQUIRE(results.size() == 1);
        CHECK(results.front().outcome == Outcome::skip);
        CHECK(results.front().detail == "no rhsbl.zone configured");
        CHECK_FALSE(harness.was_asked("spam.example.dbl.example"));
    }
    SUBCASE("null sender, address literal, no client names") {
        RhsblHarness harness("[192.0.2.1]", "");
        harness.dns->add("1.2.0.192.in-addr.arpa", DnsType::PTR, {});
        harness.zones({"dbl.example"});
        const auto results = harness.run("rhsbl");
        REQUIRE(results.size() == 1);
        CHECK(results.front().outcome == Outcome::skip);
        CHECK(results.front().detail == "no domain name to look up");
    }
    SUBCASE("names that are no host names, and query names over 253 bytes, are not asked") {
        const std::string long_domain = std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                                        std::string(60, 'c') + "." + std::string(55, 'd') +
                                        ".example";
        RhsblHarness harness("bad_name.example", "x@" + long_domain);
        harness.zones({"dbl.example"});
        harness.run("rhsbl");
        CHECK_FALSE(harness.was_asked("bad_name.example.dbl.example"));
        CHECK_FALSE(harness.was_asked(long_domain + ".dbl.example"));
        CHECK(harness.was_asked("mail.client.example.dbl.example"));
    }
    SUBCASE("an IPv6 client's names are confirmed by AAAA") {
        CheckHarness harness("2001:db8::1");
        harness.facts.sender_seen = true;
        harness.facts.sender = "";
        harness.dns->add(IpAddress::parse("2001:db8::1")->reverse_name(), DnsType::PTR,
                         {"v6.client.example"});
        harness.dns->add("v6.client.example", DnsType::AAAA, {"2001:db8::1"});
        harness.dns->add("v6.client.example.dbl.example", DnsType::A, {"127.0.0.2"});
        std::string error;
        harness.config.rhsbl_zones.push_back(*DnsblZone::parse("dbl.example", &error));
        const auto results = harness.run("rhsbl");
        REQUIRE(results.size() == 1);
        CHECK(results.front().outcome == Outcome::fail);
        CHECK(results.front().vars.at("rhsbl_domain") == "v6.client.example");
    }
}

TEST_CASE("defect: a dead allow list turns into a reject (rhsbl)") {
    using S = DnsAnswer::Status;
    struct Row {
        std::string what;
        std::vector<std::string> zones;
        std::function<void(ScriptedResolver &)> script;
        Outcome outcome;
        const char *detail_part;
    };
    const std::vector<Row> rows = {
        {"allow list servfail could have cancelled the listing",
         {"bl.test*3", "deadwl.test*-5"},
         [](ScriptedResolver &dns) {
             dns.add("spam.example.bl.test", DnsType::A, {"127.0.0.2"});
             dns.fail("mail.client.example.deadwl.test", DnsType::A, S::servfail);
         },
         Outcome::error,
         "deadwl.test servfail for mail.client.example"},
        {"allow list timeout could have cancelled the listing",
         {"bl.test*3", "deadwl.test*-5"},
         [](ScriptedResolver &dns) {
             dns.add("spam.example.bl.test", DnsType::A, {"127.0.0.2"});
             dns.fail("spam.example.deadwl.test", DnsType::A, S::timeout);
         },
         Outcome::error,
         "deadwl.test timeout for spam.example"},
        {"allow list answered for another name: counted",
         {"bl.test*3", "deadwl.test*-5"},
         [](ScriptedResolver &dns) {
             dns.add("spam.example.bl.test", DnsType::A, {"127.0.0.2"});
             dns.fail("spam.example.deadwl.test", DnsType::A, S::timeout);
             dns.add("helo.bad.example.deadwl.test", DnsType::A, {"127.0.0.2"});
         },
         Outcome::pass,
         "below threshold 1"},
        {"allow list too light to cancel the listing",
         {"bl.test*10", "deadwl.test*-5"},
         [](ScriptedResolver &dns) {
             dns.add("spam.example.bl.test", DnsType::A, {"127.0.0.2"});
             dns.fail("spam.example.deadwl.test", DnsType::A, S::servfail);
         },
         Outcome::fail,
         "score 10 >= threshold 1"},
        {"dead block list still counts as not listed",
         {"bl.test*3", "deadbl.test*5"},
         [](ScriptedResolver &dns) {
             dns.fail("spam.example.deadbl.test", DnsType::A, S::servfail);
         },
         Outcome::pass,
         "not counted: deadbl.test servfail for spam.example"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.what);
        RhsblHarness harness("helo.bad.example", "x@spam.example");
        harness.zones(row.zones);
        harness.config.rhsbl_threshold = 1;
        row.script(*harness.dns);
        const auto results = harness.run("rhsbl");
        REQUIRE(results.size() == 1);
        CAPTURE(results.front().detail);
        CHECK(results.front().outcome == row.outcome);
        CHECK(results.front().detail.find(row.detail_part) != std::string::npos);
    }
}

TEST_CASE("a client name DNS could not tell counts as a name no list answered for") {
    using S = DnsAnswer::Status;
    struct Row {
        std::string what;
        std::vector<std::string> zones;
        std::function<void(ScriptedResolver &)> script;
        Outcome outcome;
        std::vector<std::string> could_be;
        const char *detail_part;
    };
    const std::vector<Row> rows = {
        {"the PTR lookup failed: an allow list could have listed the name",
         {"bl.test*3", "wl.test*-5"},
         [](ScriptedResolver &dns) {
             dns.add("spam.example.bl.test", DnsType::A, {"127.0.0.2"});
             dns.fail("1.2.0.192.in-addr.arpa", DnsType::PTR, S::timeout);
         },
         Outcome::error,
         {},
         "client names unknown: PTR lookup timeout"},
        {"a forward lookup failed",
         {"bl.test*3", "wl.test*-5"},
         [](ScriptedResolver &dns) {
             dns.add("spam.example.bl.test", DnsType::A, {"127.0.0.2"});
             dns.fail("mail.client.example", DnsType::A, S::servfail);
         },
         Outcome::error,
         {},
         "client name mail.client.example unconfirmed: A lookup servfail"},
        {"a block list could have listed the name",
         {"bl.test*3"},
         [](ScriptedResolver &dns) {
             dns.fail("1.2.0.192.in-addr.arpa", DnsType::PTR, S::servfail);
         },
         Outcome::pass,
         {"rhsbl-listed"},
         "client names unknown"},
        {"a name that did not confirm, with its answer, is no unknown",
         {"bl.test*3", "wl.test*-5"},
         [](ScriptedResolver &dns) { dns.add("spam.example.bl.test", DnsType::A, {"127.0.0.2"}); },
         Outcome::fail,
         {},
         "score 3 >= threshold 1"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.what);
        RhsblHarness harness("[192.0.2.1]", "x@spam.example");
        harness.zones(row.zones);
        harness.config.rhsbl_threshold = 1;
        row.script(*harness.dns);
        const auto results = harness.run("rhsbl");
        REQUIRE(results.size() == 1);
        CAPTURE(results.front().detail);
        CHECK(results.front().outcome == row.outcome);
        CHECK(results.front().could_be == row.could_be);
        CHECK(results.front().detail.find(row.detail_part) != std::string::npos);
    }
}
