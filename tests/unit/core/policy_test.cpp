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

TEST_CASE("defect: configuration can turn a DNS fault into a reject") {
    auto loaded =
        load_config("", {{"policy.spf-temperror", "score:10"}, {"policy.score-reject", "5"}});
    REQUIRE(loaded.errors.empty());
    REQUIRE(loaded.config);
    auto config = *loaded.config;
    const std::vector<StagedResult> temperror = {
        result(Stage::mail, "spf-temperror", Outcome::fail)};
    CHECK(decide(temperror, config).verdict == Verdict::continue_);

    // Toward score-tempfail it counts.
    config.score_tempfail = 3;
    auto decision = decide(temperror, config);
    CHECK(decision.verdict == Verdict::tempfail);
    CHECK(decision.reply_id == "score");
    CHECK(decision.rule == "spf-temperror");

    // Nor does it add to another rule's score toward score-reject.
    config.actions["rdns-generic"] = *Action::parse("score:3");
    const std::vector<StagedResult> together = {
        result(Stage::connect, "rdns-generic", Outcome::fail),
        result(Stage::mail, "spf-temperror", Outcome::fail)};
    decision = decide(together, config);
    CHECK(decision.verdict == Verdict::tempfail);
    CHECK(decision.rule == "spf-temperror");

    // A rule that may reject still rejects on its own score.
    config.actions["rdns-generic"] = *Action::parse("score:6");
    decision = decide(together, config);
    CHECK(decision.verdict == Verdict::reject);
    CHECK(decision.rule == "rdns-generic");
}

TEST_CASE("a reject by score stands only if undecided results could not have lowered it") {
    auto config = default_config();
    config.score_reject = 3;
    config.actions["helo-not-fqdn"] = *Action::parse("score:3");
    config.actions["rdns-unconfirmed"] = *Action::parse("score:-2");
    config.actions["spf-softfail"] = *Action::parse("score:-1");
    config.actions["spf-temperror"] = *Action::parse("log");
    const auto helo = result(Stage::helo, "helo-not-fqdn", Outcome::fail);
    auto temperror = result(Stage::mail, "spf-temperror", Outcome::fail);
    temperror.result.could_be = {"spf-fail", "spf-softfail", "spf-permerror"};
    struct Row {
        const char *name;
        std::vector<StagedResult> results;
        const char *dns_error;
        Verdict verdict;
        const char *rule;
        const char *reply;
    };
    const Row rows[] = {
        {"the score alone rejects", {helo}, "tempfail", Verdict::reject, "helo-not-fqdn", "score"},
        {"an error that might have taken 2 off tempfails",
         {helo, result(Stage::connect, "rdns-unconfirmed", Outcome::error)},
         "tempfail",
         Verdict::tempfail,
         "rdns-unconfirmed",
         "dns-error"},
        {"or is logged", // and the client goes on
         {helo, result(Stage::connect, "rdns-unconfirmed", Outcome::error)},
         "log",
         Verdict::continue_,
         "",
         ""},
        {"a temperror that might have been a softfail (-1) tempfails",
         {helo, temperror},
         "tempfail",
         Verdict::tempfail,
         "spf-temperror",
         "dns-error"},
        {"an error of a positively scored rule leaves the reject",
         {helo, result(Stage::helo, "helo-unresolvable", Outcome::error)},
         "tempfail",
         Verdict::reject,
         "helo-not-fqdn",
         "score"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.name);
        config.dns_error_action = *Action::parse(row.dns_error);
        const auto decision = decide(row.results, config);
        CHECK(to_string(decision.verdict) == to_string(row.verdict));
        CHECK(decision.rule == row.rule);
        CHECK(decision.reply_id == row.reply);
    }
}

// The DNS-fault property of issue 9: whatever actions and thresholds a
// configuration gives, no result with Outcome::error and no rule that
// may not reject ever makes decide() reject. Every rule of rule_table()
// and of the policy is covered, so a rule added later is too.
TEST_CASE("DNS-fault property: an error or a rule that may not reject never causes a reject") {
    std::vector<RuleSpec> rules(rule_table().begin(), rule_table().end());
    rules.insert(rules.end(), policy_rules().begin(), policy_rules().end());
    auto is_error_class = [&](const StagedResult &staged) {
        const auto *rule = find_rule(rules, staged.result.rule);
        return staged.result.outcome == Outcome::error || (rule && !rule->may_reject);
    };
    const double scores[] = {-10, -2.5, -1, 0.5, 1, 2.5, 5, 10, 1000};
    auto actions_for = [&](const RuleSpec &rule) {
        std::vector<Action> actions = {
            {ActionKind::ignore}, {ActionKind::log}, {ActionKind::tempfail}};
        if (rule.may_reject)
            actions.push_back({ActionKind::reject});
        for (double score : scores)
            actions.push_back({ActionKind::score, score});
        return actions;
    };
    const std::pair<double, double> thresholds[] = {{0, 0}, {0, 1}, {0, 5}, {1, 0},
                                                    {3, 0}, {1, 5}, {3, 5}, {5, 5}};
    const char *dns_error_actions[] = {"tempfail", "log", "ignore"};
    const Outcome outcomes[] = {Outcome::fail, Outcome::error};
    const std::size_t other_patterns = 6;

    auto base = default_config();
    std::size_t decisions = 0;
    std::size_t rejects = 0;
    for (std::size_t index = 0; index < rules.size(); ++index) {
        const auto &rule = rules[index];
        for (const auto &action : actions_for(rule))
            for (const auto &[tempfail_at, reject_at] : thresholds)
                for (const char *dns_error : dns_error_actions)
                    for (const Outcome outcome : outcomes)
                        for (std::size_t pattern = 0; pattern <= other_patterns; ++pattern) {
                            auto config = base;
                            config.score_tempfail = tempfail_at;
                            config.score_reject = reject_at;
                            config.dns_error_action = *Action::parse(dns_error);
                            config.actions[std::string(rule.id)] = action;
                            std::vector<StagedResult> results = {
                                {rule.stage,
                                 CheckResult{
                                     "test", std::string(rule.id), outcome, "under test", {}}}};
                            // Pattern 0: the rule alone; else every other
                            // rule fails or errs with an action of its own,
                            // picked by position so that the patterns differ.
                            for (std::size_t other = 0; pattern && other < rules.size(); ++other) {
                                if (other == index)
                                    continue;
                                const auto other_actions = actions_for(rules[other]);
                                config.actions[std::string(rules[other].id)] =
                                    other_actions[(other * 7 + pattern * 3) % other_actions.size()];
                                const Outcome other_outcome =
                                    (other + pattern) % 3 == 0 ? Outcome::error : Outcome::fail;
                                results.push_back(
                                    {rules[other].stage, CheckResult{"test",
                                                                     std::string(rules[other].id),
                                                                     other_outcome,
                                                                     "other",
                                                                     {}}});
                            }
                            const auto decision = decide(results, config);
                            ++decisions;
                            if (decision.verdict != Verdict::reject)
                                continue;
                            ++rejects;
                            CAPTURE(rule.id);
                            CAPTURE(action.to_string());
                            CAPTURE(tempfail_at);
                            CAPTURE(reject_at);
                            const std::string dns_error_action = dns_error;
                            CAPTURE(dns_error_action);
                            CAPTURE(to_string(outcome));
                            CAPTURE(pattern);
                            CAPTURE(decision.rule);
                            REQUIRE(decision.cause);
                            REQUIRE_FALSE(decision.cause->outcome == Outcome::error);
                            const auto *deciding = find_rule(rules, decision.rule);
                            REQUIRE((deciding && deciding->may_reject));
                            // The reject stands without any error-class result.
                            std::vector<StagedResult> definite;
                            for (const auto &staged : results)
                                if (!is_error_class(staged))
                                    definite.push_back(staged);
                            REQUIRE(decide(definite, config).verdict == Verdict::reject);
                        }
    }
    CHECK(decisions > 10000);
    CHECK(rejects > 0); // the property is not vacuous
}
