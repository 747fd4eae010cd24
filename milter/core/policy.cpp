#include "policy.hpp"

#include <algorithm>

namespace portcullis {

namespace {

constexpr std::string_view dns_error_text[] = {
    "Temporary DNS failure while checking ${client_addr} for rule ${rule}: ${detail}.",
    "Please try again later.",
};
constexpr std::string_view internal_error_text[] = {
    "Temporary local problem, please try again later.",
};
constexpr std::string_view session_budget_text[] = {
    "Too much in one session from ${client_addr}: ${detail}.",
    "Please open a new connection.",
};
constexpr std::string_view score_text[] = {
    "Too many policy problems with client ${client_addr} (score ${score}): ${detail}.",
    "See ${url}",
};

constexpr RuleSpec rules[] = {
    {.id = dns_error_rule,
     .stage = Stage::rcpt,
     .default_action = "tempfail",
     .summary = "a lookup failed for a check whose rule would act",
     .help = "A DNS lookup needed to check your mail server failed or timed out on our side "
             "or yours. Nothing needs fixing if it was a passing fault: your server will "
             "retry. If it persists, check that the DNS servers of your domain and of your "
             "address block answer.",
     .reject = "550 5.7.1",
     .tempfail = "451 4.4.3",
     .text = dns_error_text,
     .may_reject = false},
    {.id = score_rule,
     .stage = Stage::rcpt,
     .default_action = "ignore",
     .summary = "the total score reaches policy.score-tempfail or policy.score-reject",
     .help = "Several smaller problems with your mail server added up. The reply names the "
             "largest; fix the problems the other rules describe.",
     .text = score_text},
    {.id = internal_error_rule,
     .stage = Stage::connect,
     .default_action = "tempfail",
     .summary = "portcullis itself failed while handling a command of the MTA",
     .help = "Our mail filter failed on our side while checking your connection; nothing is "
             "wrong with your mail server, which will retry. If the failure persists, tell "
             "the postmaster of this domain.",
     .reject = "550 5.3.0",
     .tempfail = "451 4.3.0",
     .text = internal_error_text,
     .may_reject = false},
    // Beyond a budget, the session's next connection starts afresh: a
    // condition of this connection, not of the mail, so it never rejects
    // (Postfix's own per-session limits answer 421 and 452 too). 421
    // makes the MTA close the session, at HELO as well.
    {.id = session_budget_rule,
     .stage = Stage::helo,
     .default_action = "tempfail",
     .summary = "one SMTP session goes beyond a session.max-* budget (HELO/EHLO commands, "
                "transactions, recipients, DNS lookups or answer bytes held), at HELO, MAIL or "
                "RCPT",
     .help = "Your server sent more in one SMTP session than a mail server needs (many "
             "HELO/EHLO, MAIL or RCPT commands), or made this server look up more DNS data "
             "for one session than it allows. Nothing is wrong with the mail itself: open a "
             "new connection and it is handled as usual. If your server meets this often, "
             "send fewer messages per connection.",
     .reject = "550 5.7.0",
     .tempfail = "421 4.7.0",
     .text = session_budget_text,
     .may_reject = false},
};

bool may_reject(std::string_view rule, const Config &config) {
    if (config.never_reject.contains(rule))
        return false;
    const auto *policy_rule = find_rule(policy_rules(), rule);
    return !policy_rule || policy_rule->may_reject;
}

bool acts(const Action &action) {
    return action.kind == ActionKind::reject || action.kind == ActionKind::tempfail ||
           (action.kind == ActionKind::score && action.score > 0);
}

// The most a rule's fail could take off the score: its negative score.
double relief(const Action &action) {
    return action.kind == ActionKind::score && action.score < 0 ? action.score : 0;
}

// What an undecided result might have taken off the score had DNS
// answered: the most negative score of the fails it might have been.
double possible_relief(const CheckResult &result, const Config &config) {
    double most = result.outcome == Outcome::error ? relief(config.action_for(result.rule)) : 0;
    for (const auto &rule : result.could_be)
        most = std::min(most, relief(config.action_for(rule)));
    return most;
}

} // namespace

Decision decide(std::span<const StagedResult> results, const Config &config) {
    Decision decision;
    const StagedResult *reject = nullptr;
    const StagedResult *tempfail = nullptr;
    bool tempfail_is_dns = false;
    // Every score counts toward score-tempfail; toward score-reject only
    // those of rules that may reject.
    double reject_score = 0;
    // What undecided results might have taken off it, and the one that
    // might have taken off the most.
    double unknown_relief = 0;
    const StagedResult *undecided = nullptr;
    double undecided_relief = 0;
    const StagedResult *strongest_score = nullptr;
    const StagedResult *strongest_reject_score = nullptr;
    auto stronger = [&](const StagedResult *than, double score) {
        return !than || score > config.action_for(than->result.rule).score;
    };

    for (const auto &staged : results) {
        const auto &result = staged.result;
        const Action &action = config.action_for(result.rule);
        const bool rejecting = may_reject(result.rule, config);
        if (const double relief = possible_relief(result, config); relief < 0) {
            unknown_relief += relief;
            if (relief < undecided_relief) {
                undecided_relief = relief;
                undecided = &staged;
            }
        }
        if (result.outcome == Outcome::fail) {
            const ActionKind kind = action.kind == ActionKind::reject && !rejecting
                                        ? ActionKind::tempfail
                                        : action.kind;
            switch (kind) {
            case ActionKind::ignore:
                break;
            case ActionKind::log:
                decision.logged.push_back(&result);
                break;
            case ActionKind::reject:
                if (!reject)
                    reject = &staged;
                break;
            case ActionKind::tempfail:
                if (!tempfail || tempfail_is_dns) {
                    tempfail = &staged;
                    tempfail_is_dns = false;
                }
                break;
            case ActionKind::score:
                decision.score += action.score;
                if (action.score > 0 && stronger(strongest_score, action.score))
                    strongest_score = &staged;
                if (rejecting) {
                    reject_score += action.score;
                    if (action.score > 0 && stronger(strongest_reject_score, action.score))
                        strongest_reject_score = &staged;
                }
                break;
            }
        } else if (result.outcome == Outcome::error && acts(action)) {
            if (config.dns_error_action.kind == ActionKind::tempfail && !tempfail) {
                tempfail = &staged;
                tempfail_is_dns = true;
            } else if (config.dns_error_action.kind == ActionKind::log) {
                decision.logged.push_back(&result);
            }
        }
    }

    auto settle = [&](Verdict verdict, const StagedResult *by, std::string reply_id) {
        decision.verdict = verdict;
        if (by) {
            decision.stage = by->stage;
            decision.rule = by->result.rule;
            decision.cause = &by->result;
        }
        decision.reply_id = reply_id.empty() ? decision.rule : std::move(reply_id);
        return decision;
    };

    if (reject)
        return settle(Verdict::reject, reject, "");
    if (config.score_reject > 0 && reject_score >= config.score_reject) {
        if (reject_score + unknown_relief >= config.score_reject) {
            decision.score = reject_score;
            return settle(Verdict::reject, strongest_reject_score, std::string(score_rule));
        }
        // Had DNS answered, the score might have stayed below: a DNS error
        // of the result that might have taken off the most.
        if (config.dns_error_action.kind == ActionKind::tempfail && !tempfail) {
            tempfail = undecided;
            tempfail_is_dns = true;
        } else if (config.dns_error_action.kind == ActionKind::log &&
                   std::find(decision.logged.begin(), decision.logged.end(), &undecided->result) ==
                       decision.logged.end()) {
            decision.logged.push_back(&undecided->result);
        }
    }
    if (tempfail)
        return settle(Verdict::tempfail, tempfail,
                      tempfail_is_dns ? std::string(dns_error_rule) : "");
    if (config.score_tempfail > 0 && decision.score >= config.score_tempfail)
        return settle(Verdict::tempfail, strongest_score, std::string(score_rule));
    return decision;
}

std::span<const RuleSpec> policy_rules() {
    return rules;
}

const RuleSpec *find_rule(std::span<const RuleSpec> rules, std::string_view id) {
    for (const auto &rule : rules)
        if (rule.id == id)
            return &rule;
    return nullptr;
}

} // namespace portcullis
