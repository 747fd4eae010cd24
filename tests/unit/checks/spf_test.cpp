// The SPF checks: spf-mail-from and spf-helo map check_host() results to
// their rules and reply vars; the evaluation starts in prefetch(), lands
// in the session's notes from a Lookups continuation (so wait_until()
// covers it, also when answers come later from another thread), and a
// new transaction starts afresh.
#include "../later_resolver.hpp"
#include "check_harness.hpp"
#include "checks/spf_identity.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <map>

using namespace portcullis;
using portcullis::testing::CheckHarness;
using portcullis::testing::LaterResolver;
using portcullis::testing::ScriptedResolver;

namespace {

using Vars = std::map<std::string, std::string>;

// CheckHarness after HELO and (unless `sender` is nullopt) MAIL FROM.
struct SpfHarness : CheckHarness {
    SpfHarness(std::string client, std::string helo, std::optional<std::string> sender)
        : CheckHarness(std::move(client)) {
        facts.helo = facts.first_helo = std::move(helo);
        facts.helo_count = 1;
        if (sender) {
            facts.sender = *sender;
            facts.sender_seen = true;
        }
    }

    CheckResult only(std::string_view check) {
        auto results = run(check);
        REQUIRE(results.size() == 1);
        CHECK(results.front().check == check);
        for (char c : results.front().detail)
            CHECK_MESSAGE((c >= 0x20 && c < 0x7f),
                          "unprintable detail: " << results.front().detail);
        return results.front();
    }
};

void spf_world(ScriptedResolver &dns) {
    dns.add("pass.example", DnsType::TXT, {"v=spf1 ip4:192.0.2.0/24 -all"});
    dns.add("fail.example", DnsType::TXT, {"v=spf1 -all exp=why.fail.example"});
    dns.add("why.fail.example", DnsType::TXT, {"%{i} may not send for %{d}: 100%% sure"});
    dns.add("plain-fail.example", DnsType::TXT, {"v=spf1 -all"});
    dns.add("soft.example", DnsType::TXT, {"v=spf1 ~all"});
    dns.add("neutral.example", DnsType::TXT, {"v=spf1 ?all"});
    dns.add("norecord.example", DnsType::TXT, {"some other text"});
    dns.fail("broken-dns.example", DnsType::TXT, DnsAnswer::Status::servfail);
    dns.add("broken.example", DnsType::TXT, {"v=spf1 ip4:192.0.2.0/33 -all"});
    dns.add("helo.example", DnsType::TXT, {"v=spf1 -all"});
    dns.add("mx.pass.example", DnsType::TXT, {"v=spf1 ip4:192.0.2.1 -all"});
    dns.add("include.example", DnsType::TXT, {"v=spf1 include:pass.example -all"});
    dns.add("voids.example", DnsType::TXT, {"v=spf1 a:v1.example a:v2.example a:v3.example -all"});
}

} // namespace

TEST_CASE("spf-mail-from maps each SPF result to its rule") {
    struct Row {
        const char *what;
        const char *sender;
        const char *rule;
        Outcome outcome;
        Vars vars; // a subset of the result's vars
        const char *detail_part;
    };
    const std::vector<Row> rows = {
        {"pass",
         "a@pass.example",
         "spf-fail",
         Outcome::pass,
         {{"spf_result", "pass"},
          {"spf_mechanism", "ip4:192.0.2.0/24"},
          {"spf_domain", "pass.example"},
          {"spf_identity", "mailfrom"}},
         "SPF pass for <a@pass.example> from 192.0.2.1 (identity mailfrom): mechanism "
         "\"ip4:192.0.2.0/24\", 0 DNS lookups, 0 void lookups"},
        {"fail with the domain's explanation",
         "a@fail.example",
         "spf-fail",
         Outcome::fail,
         {{"spf_result", "fail"},
          {"spf_explanation", "192.0.2.1 may not send for fail.example: 100% sure"},
          {"spf_sender", "a@fail.example"},
          {"spf_mechanism", "-all"}},
         "explanation \"192.0.2.1 may not send for fail.example: 100% sure\""},
        {"fail with the default explanation",
         "a@plain-fail.example",
         "spf-fail",
         Outcome::fail,
         {{"spf_explanation",
           "plain-fail.example does not designate 192.0.2.1 as a permitted sender"}},
         "mechanism \"-all\""},
        {"softfail",
         "a@soft.example",
         "spf-softfail",
         Outcome::fail,
         {{"spf_result", "softfail"}, {"spf_explanation", ""}},
         "SPF softfail"},
        {"neutral",
         "a@neutral.example",
         "spf-fail",
         Outcome::pass,
         {{"spf_result", "neutral"}},
         "SPF neutral"},
        {"none: no record",
         "a@norecord.example",
         "spf-fail",
         Outcome::pass,
         {{"spf_result", "none"}},
         "SPF none"},
        {"none: no such domain",
         "a@nxdomain.example",
         "spf-fail",
         Outcome::pass,
         {{"spf_result", "none"}},
         "SPF none"},
        {"none: sender without a domain",
         "user",
         "spf-fail",
         Outcome::pass,
         {{"spf_result", "none"}},
         "SPF none"},
        {"temperror",
         "a@broken-dns.example",
         "spf-temperror",
         Outcome::fail,
         {{"spf_result", "temperror"}},
         "SPF temperror"},
        {"permerror",
         "a@broken.example",
         "spf-permerror",
         Outcome::fail,
         {{"spf_result", "permerror"}, {"spf_domain", "broken.example"}},
         "SPF permerror"},
        {"null sender: postmaster@HELO",
         "",
         "spf-fail",
         Outcome::fail,
         {{"spf_sender", "postmaster@helo.example"},
          {"spf_identity", "helo"},
          {"spf_domain", "helo.example"}},
         "<postmaster@helo.example>"},
        {"include: counted as a lookup",
         "a@include.example",
         "spf-fail",
         Outcome::pass,
         {{"spf_result", "pass"}, {"spf_mechanism", "include:pass.example"}},
         "1 DNS lookup, 0 void lookups"},
    };
    for (const auto &row : rows) {
        const std::string what = row.what;
        CAPTURE(what);
        SpfHarness harness("192.0.2.1", "helo.example", std::string(row.sender));
        spf_world(*harness.dns);
        const auto result = harness.only("spf-mail-from");
        CHECK(result.rule == row.rule);
        CHECK(result.outcome == row.outcome);
        for (const auto &[name, value] : row.vars) {
            CAPTURE(name);
            CHECK(result.vars.at(name) == value);
        }
        CAPTURE(result.detail);
        CHECK(result.detail.find(row.detail_part) != std::string::npos);
    }
}

TEST_CASE("spf-mail-from waits for MAIL and needs a client address") {
    SpfHarness before_mail("192.0.2.1", "helo.example", std::nullopt);
    auto result = before_mail.only("spf-mail-from");
    CHECK(result.outcome == Outcome::skip);
    CHECK(result.detail == "no MAIL FROM yet");

    SpfHarness local(std::string("192.0.2.1"), "helo.example", std::string("a@fail.example"));
    local.facts.client.reset();
    result = local.only("spf-mail-from");
    CHECK(result.outcome == Outcome::skip);
    CHECK(local.dns->asked().empty());
}

TEST_CASE("spf-helo checks fully qualified HELO names only") {
    struct Row {
        const char *helo;
        std::optional<std::string> sender;
        const char *rule;
        Outcome outcome;
        const char *detail_part;
    };
    const std::vector<Row> rows = {
        {"helo.example", std::nullopt, "spf-helo-fail", Outcome::fail,
         "SPF fail for <postmaster@helo.example> from 192.0.2.1 (identity helo)"},
        {"HELO.Example.", std::string("a@pass.example"), "spf-helo-fail", Outcome::fail,
         "<postmaster@helo.example>"},
        {"mx.pass.example", std::nullopt, "spf-helo-fail", Outcome::pass, "SPF pass"},
        {"soft.example", std::nullopt, "spf-helo-softfail", Outcome::fail, "SPF softfail"},
        {"broken.example", std::nullopt, "spf-helo-permerror", Outcome::fail, "SPF permerror"},
        {"broken-dns.example", std::nullopt, "spf-helo-temperror", Outcome::fail, "SPF temperror"},
        {"[192.0.2.1]", std::nullopt, "spf-helo-fail", Outcome::skip, "address literal"},
        {"192.0.2.1", std::nullopt, "spf-helo-fail", Outcome::skip, "HELO is not"},
        {"localhost", std::nullopt, "spf-helo-fail", Outcome::skip, "fully qualified"},
        {"bad_name.example", std::nullopt, "spf-helo-fail", Outcome::skip, "not a valid host"},
        {"", std::nullopt, "spf-helo-fail", Outcome::skip, "no HELO"},
        {"helo.example", std::string(""), "spf-helo-fail", Outcome::skip,
         "null sender: spf-mail-from checks postmaster@HELO"},
    };
    for (const auto &row : rows) {
        const std::string helo = row.helo;
        CAPTURE(helo);
        SpfHarness harness("192.0.2.1", row.helo, row.sender);
        spf_world(*harness.dns);
        const auto result = harness.only("spf-helo");
        CHECK(result.rule == row.rule);
        CHECK(result.outcome == row.outcome);
        CAPTURE(result.detail);
        CHECK(result.detail.find(row.detail_part) != std::string::npos);
        if (row.outcome == Outcome::skip && row.sender != std::string(""))
            CHECK(harness.dns->asked().empty());
    }
}

TEST_CASE("the receiver and the default explanation come from the configuration") {
    struct Row {
        const char *receiver; // spf.receiver
        const char *mta_hostname;
        const char *explanation;
    };
    const std::vector<Row> rows = {
        {"", "MX.Dest.Example", "mx.dest.example refuses 192.0.2.1 for a@plain-fail.example"},
        {"spf.dest.example", "mx.dest.example",
         "spf.dest.example refuses 192.0.2.1 for a@plain-fail.example"},
        {"", "", "unknown refuses 192.0.2.1 for a@plain-fail.example"},
    };
    for (const auto &row : rows) {
        const std::string receiver = row.receiver;
        CAPTURE(receiver);
        SpfHarness harness("192.0.2.1", "helo.example", std::string("a@plain-fail.example"));
        spf_world(*harness.dns);
        harness.config.spf.receiver = row.receiver;
        harness.config.spf.default_explanation = "%{r} refuses %{i} for %{s}";
        harness.facts.mta_hostname = row.mta_hostname;
        const auto result = harness.only("spf-mail-from");
        CHECK(result.vars.at("spf_explanation") == row.explanation);
    }
}

TEST_CASE("spf.void-lookup-limit reaches check_host()") {
    for (const auto &[limit, expected] :
         {std::pair{2u, "spf-permerror"}, std::pair{3u, "spf-fail"}}) {
        CAPTURE(limit);
        SpfHarness harness("192.0.2.1", "helo.example", std::string("a@voids.example"));
        spf_world(*harness.dns);
        harness.config.spf.void_lookup_limit = limit;
        const auto result = harness.only("spf-mail-from");
        CHECK(result.rule == expected);
        CHECK(result.outcome == Outcome::fail);
    }
}

TEST_CASE("a result that is not in reads as temperror, never as a verdict") {
    SpfHarness harness("192.0.2.1", "helo.example", std::string("a@fail.example"));
    spf_world(*harness.dns);
    // evaluate() without prefetch(): nothing was started.
    const auto results = all_checks();
    const Check *check = nullptr;
    for (const Check *candidate : results)
        if (candidate->name() == "spf-mail-from")
            check = candidate;
    REQUIRE(check);
    const auto evaluated = check->evaluate(harness.context());
    REQUIRE(evaluated.size() == 1);
    CHECK(evaluated.front().rule == "spf-temperror");
    CHECK(evaluated.front().outcome == Outcome::fail);
    CHECK(evaluated.front().vars.at("spf_problem") == "no SPF result within resolver.stage-budget");
}

TEST_CASE("Lookups::wait_until() covers an SPF evaluation answered later by another thread" *
          doctest::test_suite("threads")) {
    auto answers = std::make_shared<ScriptedResolver>();
    spf_world(*answers);
    auto later = std::make_shared<LaterResolver>(answers, std::chrono::milliseconds(30));
    SpfHarness harness("192.0.2.1", "helo.example", std::string("a@include.example"));
    harness.lookups = Lookups::create(later);
    const auto context = harness.context();

    start_spf(context, SpfIdentity::mail_from);
    auto note = read_spf(context, SpfIdentity::mail_from);
    REQUIRE(note);
    CHECK_FALSE(note->completed); // the first answer is 30 ms away

    // include: needs a second round trip, started from a continuation on
    // the resolver's thread; the result must be in when the wait ends.
    REQUIRE(harness.lookups->wait_until(Lookups::Clock::now() + std::chrono::seconds(5)));
    note = read_spf(context, SpfIdentity::mail_from);
    REQUIRE(note);
    CHECK(note->completed);
    CHECK(note->result.result == SpfResult::Code::pass);
    CHECK(note->result.dns_lookups == 1);
    CHECK(later->answered() >= 2);
}

TEST_CASE("a new transaction starts afresh; a late result of the old one is dropped") {
    auto answers = std::make_shared<ScriptedResolver>();
    spf_world(*answers);
    auto later = std::make_shared<LaterResolver>(answers, std::chrono::milliseconds(30));
    SpfHarness harness("192.0.2.1", "helo.example", std::string("a@plain-fail.example"));
    harness.lookups = Lookups::create(later);
    const auto context = harness.context();

    start_spf(context, SpfIdentity::helo);
    start_spf(context, SpfIdentity::mail_from); // its answer comes after the reset
    harness.notes->forget_transaction();
    harness.facts.sender = "a@pass.example";
    start_spf(context, SpfIdentity::mail_from);
    REQUIRE(harness.lookups->wait_until(Lookups::Clock::now() + std::chrono::seconds(5)));

    auto note = read_spf(context, SpfIdentity::mail_from);
    REQUIRE(note);
    CHECK(note->completed);
    CHECK(note->result.result == SpfResult::Code::pass);

    harness.facts.sender = "a@plain-fail.example"; // the first transaction's identity
    note = read_spf(context, SpfIdentity::mail_from);
    REQUIRE(note);
    CHECK_FALSE(note->completed);

    // The HELO result belongs to the session: it outlives the reset.
    harness.notes->forget_transaction();
    note = read_spf(context, SpfIdentity::helo);
    REQUIRE(note);
    CHECK(note->completed);
    CHECK(note->result.result == SpfResult::Code::fail);
}
