// The message stage of a session: the header fields as they arrive (kept
// within headers.max-fields and headers.max-bytes), DKIM verification fed
// as the message arrives (key lookups start at the DKIM-Signature field),
// the header checks at the end of the header, the DKIM and From: checks
// at the end of the message, and what the end of the message changes:
// forged Authentication-Results fields deleted, ours and Received-SPF
// added.
//
// A verdict here is for the whole message. The results of the envelope
// (evaluate()) take part, so that scores add up across stages; a decision
// the envelope alone made was enforced at RCPT already and is not made
// again. Trusted and authenticated clients are not checked.
#include "session.hpp"

#include "message_state.hpp"

#include "core/log.hpp"
#include "metrics/registry.hpp"
#include "message/auth_results.hpp"
#include "message/syntax.hpp"

#include <algorithm>
#include <ctime>
#include <unistd.h>

namespace portcullis {

namespace {

bool acts(const Config &config, const RuleSpec &rule) {
    const auto found = config.actions.find(std::string(rule.id));
    return found == config.actions.end() || found->second.kind != ActionKind::ignore;
}

// Whether any check of `stage` has a rule that does something.
bool stage_acts(const Config &config, Stage stage) {
    for (const Check *check : all_checks())
        if (check->stage() == stage)
            for (const auto &rule : check->rules())
                if (acts(config, rule) &&
                    (rule.id != "from-spoofed" || !config.message.own_domains.empty()))
                    return true;
    return false;
}

std::string host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0)
        return "localhost";
    return normalize_host(name);
}

std::string quoted_field(std::string_view key, std::string_view value, std::size_t limit = 255) {
    return " " + std::string(key) + "=\"" + log_quoted(value, limit) + "\"";
}

} // namespace

MessageNeeds message_needs(const Config &config) {
    MessageNeeds needs;
    const auto &message = config.message;
    const bool header_checks = stage_acts(config, Stage::header);
    const bool message_checks = stage_acts(config, Stage::message);
    needs.header =
        header_checks || message_checks || message.dkim_verify || message.authentication_results;
    needs.body = message.dkim_verify;
    needs.add_fields = config.spf.add_header || message.authentication_results;
    needs.change_fields = message.authentication_results;
    return needs;
}

Session::~Session() = default;

Session::MessageState &Session::message_state() {
    if (!message_) {
        message_ = std::make_unique<MessageState>(config());
        if (runtime_->dkim && !is_trusted())
            message_->dkim = std::make_unique<message::DkimVerification>(
                *runtime_->dkim, *lookups_,
                message::DkimSettings{config().message.dkim_max_signatures});
    }
    return *message_;
}

std::string Session::authserv_id() const {
    if (!config().message.authserv_id.empty())
        return config().message.authserv_id;
    if (!facts_.mta_hostname.empty())
        return normalize_host(facts_.mta_hostname);
    static const std::string fallback = host_name();
    return fallback;
}

void Session::header(std::string_view name, std::string_view value) {
    auto &message = message_state();
    // Our own parsers read the value without the white space after the colon.
    const auto start = value.find_first_not_of(" \t");
    const auto trimmed = start == std::string_view::npos ? std::string_view{} : value.substr(start);
    message.header.add(name, trimmed);
    if (message::syntax::equal_ignoring_case(name, "Authentication-Results")) {
        ++message.authentication_results_seen;
        if (config().message.authentication_results &&
            message::authserv_id_of(trimmed) == authserv_id())
            message.ours.push_back(message.authentication_results_seen);
    }
    if (!message.dkim)
        return;
    const auto &findings = message.header.findings();
    if (findings.too_many_fields || findings.too_many_bytes) {
        // libopendkim would keep what we do not: the header is not verified.
        message.dkim.reset();
        message.dkim_dropped = true;
        return;
    }
    message.dkim->header(name, value);
}

MessageAnswer Session::end_of_header() {
    auto &message = message_state();
    if (message.header_ended)
        return {};
    message.header_ended = true;
    if (message.dkim)
        message.dkim->end_of_headers();
    if (is_trusted())
        return {};
    message.facts.header = &message.header;
    message.facts.smtputf8 = facts_.smtputf8;
    message.facts.now = static_cast<std::int64_t>(std::time(nullptr));
    CheckContext context = this->context();
    context.message = &message.facts;
    for (const Check *check : all_checks())
        if (check->stage() == Stage::header)
            for (auto &result : check->evaluate(context))
                message.results.push_back({Stage::header, std::move(result)});
    return message_verdict(Stage::header);
}

bool Session::body(std::string_view chunk) {
    auto &message = message_state();
    return message.dkim && message.dkim->body(chunk);
}

EndOfMessage Session::end_of_message() {
    EndOfMessage out;
    if (!runtime_->message_needs.header) {
        // Every message check is off: the MTA sent no header.
        if (auto spf = received_spf_header())
            out.add_fields.emplace_back("Received-SPF", std::move(*spf));
        return out;
    }
    auto &message = message_state();
    if (!message.header_ended) {
        out.answer = end_of_header();
        if (out.answer.verdict != Verdict::continue_)
            return out;
    }
    if (message.dkim) {
        const auto deadline = Lookups::Clock::now() + config().resolver.stage_budget;
        message.facts.dkim = message.dkim->end_of_message(deadline);
        message.facts.dkim_verified = true;
    }
    if (!is_trusted()) {
        CheckContext context = this->context();
        context.message = &message.facts;
        for (const Check *check : all_checks())
            if (check->stage() == Stage::message)
                for (auto &result : check->evaluate(context))
                    message.results.push_back({Stage::message, std::move(result)});
        out.answer = message_verdict(Stage::message);
    }
    if (out.answer.verdict != Verdict::continue_)
        return out;
    out.delete_authentication_results.assign(message.ours.rbegin(), message.ours.rend());
    if (auto results = authentication_results())
        out.add_fields.emplace_back("Authentication-Results", std::move(*results));
    if (auto spf = received_spf_header())
        out.add_fields.emplace_back("Received-SPF", std::move(*spf));
    return out;
}

MessageAnswer Session::message_verdict(Stage stage) {
    evaluate();
    // The message's results join the envelope's for the decision (scores
    // add up), in place, and leave again below.
    auto &all = evaluation_->results;
    const std::size_t envelope_size = all.size();
    all.insert(all.end(), message_->results.begin(), message_->results.end());
    struct Restore {
        std::vector<StagedResult> &results;
        std::size_t size;
        ~Restore() { results.resize(size); }
    } restore{all, envelope_size};
    const auto &envelope = evaluation_->decision;
    const Decision decision = decide(all, config());
    const bool refused =
        decision.verdict == Verdict::reject || decision.verdict == Verdict::tempfail;
    // What the envelope decided alone was answered at RCPT, what the
    // header decided at its end.
    if (!message_->decided)
        message_->decided = std::pair{envelope.verdict, envelope.rule};
    const bool new_refusal =
        refused && std::pair{decision.verdict, decision.rule} != *message_->decided;
    if (refused)
        message_->decided = std::pair{decision.verdict, decision.rule};
    MessageAnswer answer;
    if (new_refusal) {
        answer.policy_verdict = decision.verdict;
        answer.rule = decision.rule;
        answer.reply = render(decision, "");
        answer.exempt = accepted_recipients_ == 0;
        answer.dry_run = config().dry_run;
        if (!answer.exempt && !answer.dry_run)
            answer.verdict = decision.verdict;
    }
    // The rules of this stage that only log; those of the envelope were
    // logged at RCPT, those of the header at its end.
    std::vector<std::string> logged;
    for (const auto *result : decision.logged)
        for (std::size_t i = envelope_size; i < all.size(); ++i)
            if (&all[i].result == result && all[i].stage == stage)
                logged.push_back(result->rule);
    if (new_refusal || !logged.empty())
        log_message_decision(answer, new_refusal ? decision.stage : stage, logged);
    return answer;
}

void Session::log_message_decision(const MessageAnswer &answer, Stage stage,
                                   const std::vector<std::string> &logged) const {
    std::string line = decision_fields();
    if (const std::string *from = message_->header.first("From"))
        line += quoted_field("header_from", *from, 200);
    line += " stage=" + std::string(to_string(stage));
    const bool refused =
        answer.policy_verdict == Verdict::reject || answer.policy_verdict == Verdict::tempfail;
    if (refused) {
        line += " rule=" + answer.rule +
                " action=" + std::string(to_string(answer.policy_verdict)) + " code=\"" +
                answer.reply.code + " " + answer.reply.status + "\"";
        if (answer.exempt)
            line += " exempt=yes";
        if (answer.dry_run)
            line += " dry-run=yes";
        line += " text=\"" + log_quoted(answer.reply.text(), 600) + "\"";
    } else {
        line += " action=continue";
    }
    for (const auto &signature : message_->facts.dkim)
        line += " dkim=" + std::string(to_string(signature.result)) + ":" +
                log_safe(signature.domain, 64);
    for (const auto &rule : logged) {
        line += " log=" + rule;
        metrics::global().count_verdict(rule, "log");
    }
    metrics::global().count_verdict(refused && !answer.rule.empty() ? std::string_view(answer.rule)
                                                                    : "none",
                                    refused ? to_string(answer.policy_verdict) : "continue");
    log_message(refused && !answer.exempt && !answer.dry_run ? LOG_NOTICE : LOG_INFO, line);
}

} // namespace portcullis
