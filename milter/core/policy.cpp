#include "policy.hpp"

#include "rule_table.hpp"

namespace portcullis {

namespace {

bool acts(const Action &action) {
    return action.kind == ActionKind::reject || action.kind == ActionKind::tempfail ||
           (action.kind == ActionKind::score && action.score > 0);
}

} // namespace

Decision decide(std::span<const StagedResult> results, const Config &config) {
    Decision decision;
    const StagedResult *reject = nullptr;
    const StagedResult *tempfail = nullptr;
    bool tempfail_is_dns = false;
    const StagedResult *strongest_score = nullptr;

    for (const auto &staged : results) {
        const auto &result = staged.result;
        const Action &action = config.action_for(result.rule);
        if (result.outcome == Outcome::fail) {
            switch (action.kind) {
            case ActionKind::ignore: break;
            case ActionKind::log: decision.logged.push_back(&result); break;
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
                if (action.score > 0 &&
                    (!strongest_score ||
                     action.score > config.action_for(strongest_score->result.rule).score))
                    strongest_score = &staged;
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
    if (config.score_reject > 0 && decision.score >= config.score_reject)
        return settle(Verdict::reject, strongest_score, std::string(score_rule));
    if (tempfail)
        return settle(Verdict::tempfail, tempfail,
                      tempfail_is_dns ? std::string(dns_error_rule) : "");
    if (config.score_tempfail > 0 && decision.score >= config.score_tempfail)
        return settle(Verdict::tempfail, strongest_score, std::string(score_rule));
    return decision;
}

} // namespace portcullis
