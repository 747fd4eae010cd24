// from-spoofed: a From: in own-domains needs an aligned DKIM pass or an
// aligned SPF pass; a DNS error leaves it undecided, never a fail. And the
// dkim check's rules over per-signature results.
#include "check_harness.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using portcullis::testing::CheckHarness;
using portcullis::testing::MessageFixture;
using Fields = std::vector<std::pair<std::string, std::string>>;

namespace {

message::DkimSignature signature(message::DkimResult result, std::string domain) {
    message::DkimSignature out;
    out.result = result;
    out.domain = std::move(domain);
    out.selector = "sel";
    out.detail = "scripted";
    return out;
}

struct Spoof {
    std::string from;
    std::string sender;
    std::vector<message::DkimSignature> dkim;
    std::string spf;           // the sender domain's SPF record, "" none
    bool spf_servfail = false; // its lookup fails instead
    Outcome expected;
    std::string detail;
};

} // namespace

TEST_CASE("from-spoofed: own domains need an aligned DKIM or SPF pass") {
    using message::DkimResult;
    const std::vector<Spoof> rows = {
        {"Boss <ceo@example.org>",
         "x@evil.example",
         {},
         "",
         false,
         Outcome::fail,
         "From: example.org is ours"},
        {"ceo@mail.example.org",
         "x@evil.example",
         {},
         "",
         false,
         Outcome::fail,
         "From: mail.example.org is ours"},
        {"ceo@example.org.evil.example",
         "x@evil.example",
         {},
         "",
         false,
         Outcome::pass,
         "not one of ours"},
        {"ceo@notexample.org", "x@evil.example", {}, "", false, Outcome::pass, "not one of ours"},
        {"ceo@example.org",
         "x@evil.example",
         {signature(DkimResult::pass, "example.org")},
         "",
         false,
         Outcome::pass,
         "DKIM pass of example.org"},
        {"ceo@example.org",
         "x@evil.example",
         {signature(DkimResult::pass, "Mail.Example.Org")},
         "",
         false,
         Outcome::pass,
         "DKIM pass"},
        {"ceo@example.org",
         "x@evil.example",
         {signature(DkimResult::pass, "evil.example")},
         "",
         false,
         Outcome::fail,
         "is ours"},
        {"ceo@example.org",
         "x@evil.example",
         {signature(DkimResult::fail, "example.org")},
         "",
         false,
         Outcome::fail,
         "is ours"},
        {"ceo@example.org",
         "x@evil.example",
         {signature(DkimResult::temperror, "example.org")},
         "",
         false,
         Outcome::error,
         "could not be looked up"},
        {"ceo@example.org",
         "bounce@example.org",
         {},
         "v=spf1 ip4:192.0.2.1 -all",
         false,
         Outcome::pass,
         "SPF pass of example.org"},
        {"ceo@example.org",
         "bounce@lists.example.org",
         {},
         "v=spf1 ip4:192.0.2.1 -all",
         false,
         Outcome::pass,
         "SPF pass of lists.example.org"},
        {"ceo@example.org",
         "bounce@example.org",
         {},
         "v=spf1 -all",
         false,
         Outcome::fail,
         "is ours"},
        {"ceo@example.org", "bounce@example.org", {}, "", true, Outcome::error, "SPF of"},
        // Several mailboxes: any one of ours counts.
        {"a@other.example, ceo@example.org",
         "x@evil.example",
         {},
         "",
         false,
         Outcome::fail,
         "example.org"},
        // An address the parser cannot read still cannot hide the domain.
        {"\"Boss\" <ceo@example.org",
         "x@evil.example",
         {},
         "",
         false,
         Outcome::fail,
         "example.org"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.from);
        CAPTURE(row.sender);
        MessageFixture fixture(Fields{{"From", row.from}});
        fixture.facts.dkim = row.dkim;
        fixture.facts.dkim_verified = true;
        CheckHarness harness("192.0.2.1");
        harness.config.message.own_domains = {"example.org"};
        harness.facts.helo = harness.facts.first_helo = "mail.sender.example";
        harness.facts.helo_count = 1;
        harness.facts.sender = row.sender;
        harness.facts.sender_seen = true;
        const auto domain = row.sender.substr(row.sender.find('@') + 1);
        if (row.spf_servfail)
            harness.dns->fail(domain, DnsType::TXT, DnsAnswer::Status::servfail);
        else if (!row.spf.empty())
            harness.dns->add(domain, DnsType::TXT, {row.spf});
        harness.run("spf-mail-from");
        harness.message = &fixture.facts;
        const auto results = harness.run("from-spoofed");
        REQUIRE(results.size() == 1);
        CAPTURE(results[0].detail);
        CHECK(results[0].outcome == row.expected);
        CHECK(results[0].detail.find(row.detail) != std::string::npos);
    }
}

TEST_CASE("from-spoofed is off without own-domains") {
    MessageFixture fixture(Fields{{"From", "ceo@example.org"}});
    CheckHarness harness("192.0.2.1");
    harness.message = &fixture.facts;
    const auto results = harness.run("from-spoofed");
    REQUIRE(results.size() == 1);
    CHECK(results[0].outcome == Outcome::skip);
}

TEST_CASE("dkim: a pass wins; then temperror, fail, permerror") {
    using message::DkimResult;
    struct Row {
        std::string name;
        std::vector<message::DkimSignature> dkim;
        std::string failing; // "" none
        std::vector<std::string> could_be;
    };
    const std::vector<Row> rows = {
        {"unsigned", {}, "", {}},
        {"one pass", {signature(DkimResult::pass, "a.example")}, "", {}},
        {"a list's pass beside the author's fail",
         {signature(DkimResult::fail, "a.example"), signature(DkimResult::pass, "list.example")},
         "",
         {}},
        {"one fail", {signature(DkimResult::fail, "a.example")}, "dkim-fail", {}},
        {"no key", {signature(DkimResult::permerror, "a.example")}, "dkim-permerror", {}},
        {"fail and permerror",
         {signature(DkimResult::permerror, "b.example"), signature(DkimResult::fail, "a.example")},
         "dkim-fail",
         {}},
        {"temperror and fail",
         {signature(DkimResult::fail, "a.example"), signature(DkimResult::temperror, "b.example")},
         "dkim-temperror",
         {"dkim-fail"}},
    };
    for (const auto &row : rows) {
        CAPTURE(row.name);
        MessageFixture fixture(Fields{{"From", "a@a.example"}});
        fixture.facts.dkim = row.dkim;
        fixture.facts.dkim_verified = true;
        CheckHarness harness("192.0.2.1");
        harness.message = &fixture.facts;
        const auto results = harness.run("dkim");
        REQUIRE(results.size() == 1);
        if (row.failing.empty()) {
            CHECK(results[0].outcome != Outcome::fail);
        } else {
            CHECK(results[0].outcome == Outcome::fail);
            CHECK(results[0].rule == row.failing);
            CHECK(results[0].could_be == row.could_be);
            CHECK(!results[0].vars.at("dkim_domain").empty());
        }
    }
}

TEST_CASE("dkim-temperror may never reject") {
    const auto *rule = find_rule("dkim-temperror");
    REQUIRE(rule);
    CHECK_FALSE(rule->may_reject);
    CHECK(load_config("", {{"policy.dkim-temperror", "reject"}}).config == std::nullopt);
}
