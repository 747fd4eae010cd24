// Turns check results into one decision, using the actions of the
// configuration. Order of precedence: a definite reject (a failed rule
// whose action is reject, or the score reaching policy.score-reject)
// beats a tempfail (an action tempfail, a DNS error of a check that would
// act, or the score reaching policy.score-tempfail). A DNS error never
// rejects, by any route: a result with Outcome::error adds no score, and
// a rule that may not reject (Config::never_reject, the policy's own
// dns-error) tempfails where its action says reject, and its score counts
// toward policy.score-tempfail only, never toward policy.score-reject.
// Nor does a DNS error reject by taking a negative score away: a reject
// by score must stand whichever fail an undecided result (an error, or
// one with CheckResult::could_be) might have been; when it might not,
// policy.dns-error applies instead, for the result that might have
// taken off the most.
// Pure function: no DNS, no libmilter.
#pragma once

#include "config.hpp"
#include "rule.hpp"
#include "verdict.hpp"

#include <span>
#include <string>
#include <vector>

namespace portcullis {

struct Decision {
    Verdict verdict = Verdict::continue_;
    Stage stage = Stage::connect;       // the stage of the result that decided
    std::string rule;                   // the rule that decided ("" when continuing)
    std::string reply_id;               // reply template: the rule, "dns-error" or "score"
    const CheckResult *cause = nullptr; // the deciding result, if one
    // The total score; for a reject by score, the part of it that the
    // rules that may reject added.
    double score = 0;
    std::vector<const CheckResult *> logged; // failed rules whose action is log
};

struct StagedResult {
    Stage stage;
    CheckResult result;
};

Decision decide(std::span<const StagedResult> results, const Config &config);

// Rules that no check reports but the policy itself: a DNS error of a
// check whose rule would act, the score reaching a threshold, an
// internal error of portcullis (an exception while handling a command,
// which the milter glue tempfails), and a session going beyond its
// budget (session.max-*; the session tempfails it at the command that
// went beyond). They have replies and help texts, but no policy.<rule>
// option.
inline constexpr std::string_view dns_error_rule = "dns-error";
inline constexpr std::string_view score_rule = "score";
inline constexpr std::string_view internal_error_rule = "internal-error";
inline constexpr std::string_view session_budget_rule = "session-budget";
std::span<const RuleSpec> policy_rules();

} // namespace portcullis
