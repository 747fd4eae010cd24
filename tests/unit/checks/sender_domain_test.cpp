// sender-domain: MX, A and AAAA of the MAIL FROM domain decide
// sender-domain-missing and sender-null-mx; a lookup error that matters
// is an error (the policy tempfails), never a fail.
#include "check_harness.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <map>

using namespace portcullis;
using portcullis::testing::CheckHarness;
using portcullis::testing::ScriptedResolver;

namespace {

using S = DnsAnswer::Status;
constexpr auto pass = Outcome::pass;
constexpr auto fail = Outcome::fail;
constexpr auto error = Outcome::error;
constexpr auto skip = Outcome::skip;

struct Run {
    std::map<std::string, CheckResult> by_rule;
    std::vector<std::pair<std::string, DnsType>> asked;
};

Run run_for(const std::string &sender, const std::function<void(ScriptedResolver &)> &script) {
    CheckHarness harness("192.0.2.1");
    harness.facts.sender = sender;
    harness.facts.sender_seen = true;
    script(*harness.dns);
    Run run;
    for (auto &result : harness.run("sender-domain")) {
        CHECK(result.check == "sender-domain");
        for (char c : result.detail)
            CHECK_MESSAGE((c >= 0x20 && c < 0x7f), "unprintable detail: " << result.detail);
        run.by_rule[result.rule] = std::move(result);
    }
    run.asked = harness.dns->asked();
    return run;
}

} // namespace

TEST_CASE("sender-domain: MX, A or AAAA make a sender domain, a null MX refuses mail") {
    struct Row {
        const char *what;
        const char *sender;
        std::function<void(ScriptedResolver &)> script;
        Outcome missing;
        Outcome null_mx;
        const char *detail_part; // of sender-domain-missing
    };
    const std::vector<Row> rows = {
        {"MX records", "a@ok.example",
         [](ScriptedResolver &dns) { dns.add("ok.example", DnsType::MX, {"10 mx.ok.example"}); },
         pass, pass, "ok.example has MX records"},
        {"only an A record (implicit MX)", "a@ok.example",
         [](ScriptedResolver &dns) { dns.add("ok.example", DnsType::A, {"192.0.2.7"}); }, pass,
         pass, "implicit MX"},
        {"only an AAAA record", "a@ok.example",
         [](ScriptedResolver &dns) { dns.add("ok.example", DnsType::AAAA, {"2001:db8::7"}); }, pass,
         pass, "implicit MX"},
        {"NXDOMAIN", "a@gone.example", [](ScriptedResolver &) {}, fail, pass,
         "gone.example does not exist (MX: nxdomain, A: nxdomain, AAAA: nxdomain)"},
        {"NXDOMAIN wins over an error of another type", "a@gone.example",
         [](ScriptedResolver &dns) {
             DnsAnswer nx;
             nx.status = S::nxdomain;
             dns.set("gone.example", DnsType::MX, nx);
             dns.set("gone.example", DnsType::A, nx);
             dns.fail("gone.example", DnsType::AAAA, S::timeout);
         },
         fail, pass, "does not exist"},
        {"the name exists without mail records", "a@bare.example",
         [](ScriptedResolver &dns) { dns.add("bare.example", DnsType::TXT, {"v=spf1 -all"}); },
         fail, pass,
         "bare.example has no MX, A or AAAA record (MX: nodata, A: nodata, AAAA: nodata)"},
        {"null MX", "a@nomail.example",
         [](ScriptedResolver &dns) {
             dns.add("nomail.example", DnsType::MX, {"0 ."});
             dns.add("nomail.example", DnsType::A, {"192.0.2.8"});
         },
         pass, fail, "has MX records"},
        {"a root exchange beside real MX records is no null MX", "a@mixed.example",
         [](ScriptedResolver &dns) {
             dns.add("mixed.example", DnsType::MX, {"0 .", "10 mx.mixed.example"});
         },
         pass, pass, "has MX records"},
        {"MX fails, A answers: exists, but a null MX cannot be ruled out", "a@flaky.example",
         [](ScriptedResolver &dns) {
             dns.fail("flaky.example", DnsType::MX, S::servfail);
             dns.add("flaky.example", DnsType::A, {"192.0.2.9"});
         },
         pass, error, "implicit MX"},
        {"every lookup fails", "a@down.example",
         [](ScriptedResolver &dns) {
             dns.fail("down.example", DnsType::MX, S::timeout);
             dns.fail("down.example", DnsType::A, S::timeout);
             dns.fail("down.example", DnsType::AAAA, S::bogus);
         },
         error, error, "cannot tell whether down.example exists"},
        {"no records and one failed lookup", "a@half.example",
         [](ScriptedResolver &dns) {
             dns.add("half.example", DnsType::MX, {});
             dns.add("half.example", DnsType::A, {});
             dns.fail("half.example", DnsType::AAAA, S::servfail);
         },
         error, pass, "AAAA: servfail"},
        {"case and a trailing dot", "A@OK.Example.",
         [](ScriptedResolver &dns) { dns.add("ok.example", DnsType::MX, {"10 mx.ok.example"}); },
         pass, pass, "ok.example has MX records"},
    };
    for (const auto &row : rows) {
        const std::string what = row.what;
        CAPTURE(what);
        const auto run = run_for(row.sender, row.script);
        REQUIRE(run.by_rule.size() == 2);
        const auto &missing = run.by_rule.at("sender-domain-missing");
        const auto &null_mx = run.by_rule.at("sender-null-mx");
        CHECK(missing.outcome == row.missing);
        CHECK(null_mx.outcome == row.null_mx);
        CAPTURE(missing.detail);
        CHECK(missing.detail.find(row.detail_part) != std::string::npos);
        CHECK(missing.vars.count("sender_domain") == 1);
    }
}

TEST_CASE("sender-domain skips senders without a domain to look up") {
    struct Row {
        const char *sender;
        const char *detail;
    };
    const std::vector<Row> rows = {
        {"", "the null sender has no domain"},
        {"user", "sender <user> has no domain"},
        {"user@", "sender <user@> has no domain"},
        {"user@[192.0.2.1]", "sender domain is an address literal"},
        {"user@bad_name.example", "sender domain 'bad_name.example' is not a host name"},
        {"user@b\xc3\xbc"
         "cher.example",
         "is not a host name"},
    };
    for (const auto &row : rows) {
        const std::string sender = row.sender;
        CAPTURE(sender);
        const auto run = run_for(row.sender, [](ScriptedResolver &) {});
        for (const auto &[rule, result] : run.by_rule) {
            CHECK(result.outcome == skip);
            CHECK(result.detail.find(row.detail) != std::string::npos);
        }
        CHECK(run.asked.empty());
    }
}

TEST_CASE("sender-domain asks MX, A and AAAA once each, at MAIL") {
    const auto run = run_for("a@ok.example", [](ScriptedResolver &dns) {
        dns.add("ok.example", DnsType::MX, {"10 mx.ok.example"});
    });
    REQUIRE(run.asked.size() == 3);
    CHECK(run.asked[0] == std::pair<std::string, DnsType>{"ok.example", DnsType::MX});
    CHECK(run.asked[1] == std::pair<std::string, DnsType>{"ok.example", DnsType::A});
    CHECK(run.asked[2] == std::pair<std::string, DnsType>{"ok.example", DnsType::AAAA});

    CheckHarness before_mail("192.0.2.1");
    const auto results = before_mail.run("sender-domain");
    REQUIRE(results.size() == 2);
    CHECK(results[0].outcome == skip);
    CHECK(before_mail.dns->asked().empty());
}
