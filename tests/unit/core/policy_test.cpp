#include "checks/check.hpp"
#include "core/policy.hpp"

#include <doctest/doctest.h>

using namespace portcullis;

namespace {

Config default_config() {
    auto loaded = load_config("");
    REQUIRE(loaded.config);
    return *loaded.config;
}

StagedResult result(Stage stage, const char *rule, Outcome outcome) {
    return {stage, CheckResult{"test", rule, outcome, std::string(rule) + " detail", {}}};
}

} // namespace

TEST_CASE("check results combine into one decision") {
    struct Row {
        const char *name;
        std::vector<StagedResult> results;
        Verdict verdict;
        const char *rule;
        const char *reply;
    };
    const Row rows[] = {
        {"nothing wrong",
         {result(Stage::connect, "rdns-missing", Outcome::pass)},
         Verdict::continue_,
         "",
         ""},
        {"no PTR rejects",
         {result(Stage::connect, "rdns-missing", Outcome::fail)},
         Verdict::reject,
         "rdns-missing",
         "rdns-missing"},
        {"unconfirmed PTR tempfails",
         {result(Stage::connect, "rdns-unconfirmed", Outcome::fail)},
         Verdict::tempfail,
         "rdns-unconfirmed",
         "rdns-unconfirmed"},
        {"generic rDNS only logs",
         {result(Stage::connect, "rdns-generic", Outcome::fail)},
         Verdict::continue_,
         "",
         ""},
        {"a DNS error tempfails a check that would act",
         {result(Stage::connect, "rdns-missing", Outcome::error)},
         Verdict::tempfail,
         "rdns-missing",
         "dns-error"},
        {"a DNS error of a log-only check does nothing",
         {result(Stage::helo, "helo-unresolvable", Outcome::error)},
         Verdict::continue_,
         "",
         ""},
        {"a definite reject beats a DNS error",
         {result(Stage::connect, "rdns-missing", Outcome::error),
          result(Stage::helo, "helo-syntax", Outcome::fail)},
         Verdict::reject,
         "helo-syntax",
         "helo-syntax"},
        {"the first reject in stage order decides",
         {result(Stage::connect, "dnsbl-listed", Outcome::fail),
          result(Stage::helo, "helo-syntax", Outcome::fail)},
         Verdict::reject,
         "dnsbl-listed",
         "dnsbl-listed"},
        {"a policy tempfail beats a DNS error for the reply",
         {result(Stage::connect, "dnsbl-listed", Outcome::error),
          result(Stage::connect, "rdns-unconfirmed", Outcome::fail)},
         Verdict::tempfail,
         "rdns-unconfirmed",
         "rdns-unconfirmed"},
    };
    const auto config = default_config();
    for (const auto &row : rows) {
        CAPTURE(row.name);
        const auto decision = decide(row.results, config);
        CHECK(decision.verdict == row.verdict);
        CHECK(decision.rule == row.rule);
        CHECK(decision.reply_id == row.reply);
    }
}

TEST_CASE("scores add up against the thresholds") {
    auto config = default_config();
    config.actions["rdns-generic"] = *Action::parse("score:3");
    config.actions["helo-unresolvable"] = *Action::parse("score:2.5");
    config.actions["helo-address-mismatch"] = *Action::parse("score:-2");
    config.score_tempfail = 4;
    config.score_reject = 6;
    const std::vector<StagedResult> two = {result(Stage::connect, "rdns-generic", Outcome::fail),
                                           result(Stage::helo, "helo-unresolvable", Outcome::fail)};
    auto decision = decide(two, config);
    CHECK(decision.verdict == Verdict::tempfail);
    CHECK(decision.score == doctest::Approx(5.5));
    CHECK(decision.reply_id == "score");
    CHECK(decision.rule == "rdns-generic");

    auto three = two;
    three.push_back(result(Stage::helo, "helo-address-mismatch", Outcome::fail));
    CHECK(decide(three, config).verdict == Verdict::continue_);

    config.score_reject = 5;
    CHECK(decide(two, config).verdict == Verdict::reject);
}

TEST_CASE("policy.dns-error may only log") {
    auto config = default_config();
    config.dns_error_action = *Action::parse("log");
    const std::vector<StagedResult> results = {
        result(Stage::connect, "rdns-missing", Outcome::error)};
    const auto decision = decide(results, config);
    CHECK(decision.verdict == Verdict::continue_);
    CHECK(decision.logged.size() == 1);
}

TEST_CASE("actions parse") {
    CHECK(Action::parse("reject")->kind == ActionKind::reject);
    CHECK(Action::parse("score:-2.5")->score == -2.5);
    CHECK(Action::parse("score:+3")->score == 3);
    for (const char *bad : {"", "Reject", "score:", "score:x", "score:1e999", "drop"})
        CHECK_FALSE(Action::parse(bad));
}
