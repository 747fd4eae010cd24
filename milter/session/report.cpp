#include "report.hpp"

#include "core/log.hpp"

#include <sstream>

namespace portcullis {

namespace {

std::string overall_verdict(const Evaluation &evaluation) {
    if (evaluation.trusted)
        return "accept";
    return std::string(to_string(evaluation.decision.verdict));
}

bool refused(Verdict verdict) {
    return verdict == Verdict::reject || verdict == Verdict::tempfail;
}

} // namespace

nlohmann::json report_json(const CheckReport &report) {
    const auto &decision = report.evaluation.decision;
    const bool is_refused = refused(decision.verdict);
    nlohmann::json out;
    out["verdict"] = overall_verdict(report.evaluation);
    out["stage"] = is_refused ? std::string(to_string(decision.stage)) : "rcpt";
    out["code"] = is_refused ? report.reply.code : "";
    out["status"] = is_refused ? report.reply.status : "";
    out["text"] = is_refused ? report.reply.text() : "";
    out["rule"] = decision.rule;
    out["score"] = decision.score;
    out["dry_run"] = report.session.config().dry_run;
    out["skipped"] = report.evaluation.skip_reason;
    out["client"] = {{"address", report.session.facts().client
                                     ? report.session.facts().client->to_string()
                                     : ""},
                     {"helo", log_safe(report.session.facts().helo, 1024)},
                     {"sender", log_safe(report.session.facts().sender, 1024)}};
    auto checks = nlohmann::json::array();
    for (const auto &staged : report.evaluation.results)
        checks.push_back(
            {{"name", staged.result.check},
             {"stage", std::string(to_string(staged.stage))},
             {"rule", staged.result.rule},
             {"result", std::string(to_string(staged.result.outcome))},
             {"action", report.session.config().action_for(staged.result.rule).to_string()},
             {"detail", log_safe(staged.result.detail, 2048)}});
    out["checks"] = checks;
    auto recipients = nlohmann::json::array();
    for (const auto &recipient : report.recipients)
        recipients.push_back({{"address", log_safe(recipient.address, 1024)},
                              {"verdict", std::string(to_string(recipient.answer.verdict))},
                              {"exempt", recipient.answer.exempt}});
    out["recipients"] = recipients;
    return out;
}

std::string report_text(const CheckReport &report) {
    std::ostringstream out;
    const auto &facts = report.session.facts();
    out << "client " << (facts.client ? facts.client->to_string() : "unknown");
    if (!facts.helo.empty())
        out << ", helo " << log_safe(facts.helo);
    if (facts.sender_seen)
        out << ", from <" << log_safe(facts.sender) << ">";
    out << "\n";
    if (!report.evaluation.skip_reason.empty())
        out << "checks skipped: " << report.evaluation.skip_reason << "\n";
    Stage stage = Stage::rcpt;
    for (const auto &staged : report.evaluation.results) {
        if (staged.stage != stage) {
            stage = staged.stage;
            out << "stage " << to_string(stage) << ":\n";
        }
        const auto &result = staged.result;
        out << "  " << result.check << " " << result.rule << ": " << to_string(result.outcome);
        if (result.outcome == Outcome::fail || result.outcome == Outcome::error)
            out << " (action " << report.session.config().action_for(result.rule).to_string()
                << ")";
        if (!result.detail.empty())
            out << " - " << log_safe(result.detail, 1024);
        out << "\n";
    }
    const auto &decision = report.evaluation.decision;
    out << "decision: " << overall_verdict(report.evaluation);
    if (refused(decision.verdict))
        out << " at " << to_string(decision.stage) << " by rule " << decision.rule << "\n"
            << "reply: " << report.reply.code << " " << report.reply.status << " "
            << report.reply.text();
    out << "\n";
    if (report.session.config().dry_run && refused(decision.verdict))
        out << "(mode is dry-run: the milter would log this and accept)\n";
    for (const auto &recipient : report.recipients)
        out << "recipient <" << log_safe(recipient.address)
            << ">: " << to_string(recipient.answer.verdict)
            << (recipient.answer.exempt ? " (exempt)" : "") << "\n";
    return out.str();
}

} // namespace portcullis
