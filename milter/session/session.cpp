#include "session.hpp"

#include "message_state.hpp"

#include "core/log.hpp"
#include "metrics/registry.hpp"

#include <atomic>
#include <cstdio>
#include <unistd.h>

namespace portcullis {

namespace {

bool needs_client_names() {
    static const bool needed = [] {
        for (const Check *check : all_checks())
            if (check->needs_client_names())
                return true;
        return false;
    }();
    return needed;
}

// The queue id (the MTA's i macro) as a field's value: the log_safe()
// word when it holds no space, '"' or '\\', else a "..." string, so that
// no value can end its field or add one.
std::string field_value(std::string_view text, std::size_t limit) {
    auto word = log_safe(text, limit);
    if (word.find_first_of(" \"\\") == std::string::npos)
        return word;
    return "\"" + log_quoted(text, limit) + "\"";
}

// A field of the decision line the client controls: always quoted, so
// that quotes and spaces inside stay in it.
std::string quoted_field(std::string_view key, std::string_view value, std::size_t limit = 255) {
    return " " + std::string(key) + "=\"" + log_quoted(value, limit) + "\"";
}

// An envelope address in angle brackets, quoted.
std::string address_field(std::string_view key, const std::string &address) {
    return quoted_field(key, "<" + address + ">", 258);
}

// reply-url with ${rule} filled in.
std::string reply_url(const Config &config, const std::string &rule) {
    auto url = config.reply_url;
    for (auto at = url.find("${rule}"); at != std::string::npos; at = url.find("${rule}"))
        url.replace(at, 7, rule);
    return url;
}

// The allow.hostname entry that `name` matches, or null.
const std::string *allow_hostname_match(const std::string &name,
                                        const std::vector<std::string> &suffixes) {
    for (const auto &suffix : suffixes) {
        const bool dotted = !suffix.empty() && suffix.front() == '.';
        if (name == suffix ||
            (name.size() > suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
             (dotted || name[name.size() - suffix.size() - 1] == '.')))
            return &suffix;
    }
    return nullptr;
}

// The counts of one RCPT decision line: its rule and action (rule "none"
// for continue, or for a refusal without a rule), and each rule it names
// in log=.
void count_decision(bool refused, std::string_view rule, std::string_view verdict,
                    const std::vector<const CheckResult *> &logged) {
    metrics::global().count_verdict(refused && !rule.empty() ? rule : "none",
                                    refused ? verdict : "continue");
    for (const auto *result : logged)
        metrics::global().count_verdict(result->rule, "log");
}

} // namespace

std::string next_session_id() {
    static std::atomic<unsigned long> counter{0};
    char text[32];
    std::snprintf(text, sizeof text, "%X.%lX", static_cast<unsigned>(getpid()), ++counter);
    return text;
}

Session::Session(std::shared_ptr<const Runtime> runtime, std::string id)
    : runtime_(std::move(runtime)), id_(std::move(id)) {
    const std::string session = id_;
    auto on_error = [session](const std::string &name, DnsType type, const DnsAnswer &a) {
        log_warning("session=" + session + " dns-error lookup=\"" + log_quoted(name) + "/" +
                    std::string(to_string(type)) + "\" status=" + std::string(to_string(a.status)) +
                    " why=\"" + log_quoted(a.why) + "\"");
    };
    const auto &budget = config().session;
    lookups_ = Lookups::create(runtime_->resolver, std::move(on_error),
                               {budget.max_lookups, budget.max_answer_bytes});
}

void Session::connect(std::optional<IpAddress> client, std::string client_name,
                      std::string mta_hostname, std::optional<IpAddress> daemon_address) {
    facts_.client = client ? std::optional(client->unmapped()) : std::nullopt;
    facts_.client_name = std::move(client_name);
    facts_.own_hostnames = config().own_hostnames;
    facts_.mta_hostname = mta_hostname;
    if (!mta_hostname.empty())
        facts_.own_hostnames.push_back(normalize_host(mta_hostname));
    facts_.own_addresses = config().own_addresses;
    if (daemon_address)
        facts_.own_addresses.push_back(daemon_address->unmapped());
    identity_.update(facts_);
    memory_connect();
    if (!is_trusted()) {
        // Asked once for every check that reads them, and allow.hostname.
        if (identity_.address && (needs_client_names() || !config().allow_hostnames.empty()))
            identity_.names->start(*lookups_, *identity_.address, config().rdns_max_names);
        prefetch(Stage::connect);
    }
}

CommandAnswer Session::helo(std::string name) {
    if (facts_.helo_count == 0)
        facts_.first_helo = name;
    facts_.helo = std::move(name);
    ++facts_.helo_count;
    identity_.update(facts_);
    abort_pending_ = false; // the MTA's abort was this HELO's, not an RSET
    end_transaction();
    reset_transaction();
    if (auto blocked = blocked_command(Stage::helo))
        return *blocked;
    const bool refused = over_budget(Stage::helo);
    if (!refused && !is_trusted())
        prefetch(Stage::helo);
    lookups_->release_ended();
    return refused ? refused_command() : CommandAnswer{};
}

CommandAnswer Session::mail(std::string sender, std::string auth_user, bool smtputf8) {
    if (auto blocked = blocked_command(Stage::mail))
        return *blocked;
    if (abort_pending_) {
        abort_pending_ = false;
        count(memory::Counter::rsets, Stage::mail);
    }
    end_transaction();
    reset_transaction();
    facts_.sender = std::move(sender);
    facts_.sender_seen = true;
    facts_.auth_user = std::move(auth_user);
    facts_.smtputf8 = smtputf8;
    identity_.update(facts_);
    ++transactions_;
    transaction_open_ = true;
    if (auto blocked = blocked_command(Stage::mail))
        return *blocked;
    const bool refused = over_budget(Stage::mail);
    if (!refused && !is_trusted()) {
        // What the MAIL checks start belongs to this transaction; what
        // the previous one asked and this one does not is released below.
        lookups_->ask_for_transaction(true);
        prefetch(Stage::mail);
        lookups_->ask_for_transaction(false);
    }
    lookups_->release_ended();
    return refused ? refused_command() : CommandAnswer{};
}

void Session::reset_transaction() {
    message_.reset();
    accepted_recipients_ = 0;
    transaction_open_ = false;
    transaction_recipients_ = 0;
    evaluation_.reset();
    notes_->forget_transaction();
    queue_id_.clear();
    lookups_->end_transaction();
}

CheckContext Session::context() const {
    return CheckContext{facts_, identity_, config(), runtime_->check_data, *lookups_, *notes_};
}

void Session::prefetch(Stage stage) {
    const CheckContext context = this->context();
    for (const Check *check : all_checks())
        if (check->stage() == stage)
            check->prefetch(context);
}

bool Session::is_trusted() const {
    if (!facts_.auth_user.empty())
        return true;
    if (!facts_.client)
        return false;
    for (const auto &network : config().trusted_networks)
        if (network.contains(*facts_.client))
            return true;
    return false;
}

std::string Session::allow_reason() {
    if (!identity_.address)
        return "";
    for (const auto &network : config().allow_networks)
        if (network.contains(*identity_.address))
            return "allow.network " + network.to_string();
    if (config().allow_hostnames.empty())
        return "";
    for (const auto &name : identity_.names->confirmed())
        if (const auto *suffix = allow_hostname_match(name, config().allow_hostnames))
            return "allow.hostname " + *suffix;
    return "";
}

std::string Session::allow_undecided() const {
    if (!identity_.address || config().allow_hostnames.empty())
        return "";
    const auto &ptr = lookups_->get(identity_.reverse_name, DnsType::PTR);
    if (ptr.is_error())
        return "allow.hostname undecided: PTR lookup of " + identity_.reverse_name + " " +
               std::string(to_string(ptr.status));
    // Only a name an entry matches could have allowed the client.
    const DnsType forward = identity_.address->is_v4() ? DnsType::A : DnsType::AAAA;
    for (const auto &name : identity_.names->names()) {
        if (!allow_hostname_match(name, config().allow_hostnames))
            continue;
        const auto &answer = lookups_->get(name, forward);
        if (answer.is_error())
            return "allow.hostname undecided: " + std::string(to_string(forward)) + " lookup of " +
                   log_safe(name) + " " + std::string(to_string(answer.status));
    }
    return "";
}

const Evaluation &Session::evaluate() {
    if (evaluation_)
        return *evaluation_;
    Evaluation evaluation;
    if (is_trusted()) {
        evaluation.trusted = true;
        evaluation.skip_reason = facts_.auth_user.empty() ? "trusted-networks" : "authenticated";
        evaluation_ = std::move(evaluation);
        return *evaluation_;
    }
    lookups_->wait_until(Lookups::Clock::now() + config().resolver.stage_budget);
    const auto allowed = allow_reason();
    evaluation.allowed = !allowed.empty();
    evaluation.skip_reason = allowed;
    if (!evaluation.allowed)
        evaluation.allow_undecided = allow_undecided();
    const CheckContext context = this->context();
    for (const Check *check : all_checks()) {
        const Stage stage = check->stage();
        const bool seen = stage == Stage::connect || (stage == Stage::helo && facts_.helo_count) ||
                          (stage == Stage::mail && facts_.sender_seen);
        if (!seen || (evaluation.allowed && stage != Stage::mail))
            continue;
        for (auto &result : check->evaluate(context)) {
            // What allow.hostname might have skipped cannot refuse the
            // client while DNS cannot tell whether it is allowed: a fail
            // becomes an error, for policy.dns-error.
            if (!evaluation.allow_undecided.empty() && stage != Stage::mail &&
                result.outcome == Outcome::fail) {
                result.outcome = Outcome::error;
                result.detail += "; " + evaluation.allow_undecided;
            }
            evaluation.results.push_back({stage, std::move(result)});
        }
    }
    evaluation.decision = decide(evaluation.results, config());
    evaluation_ = std::move(evaluation);
    return *evaluation_;
}

Reply Session::render(const Decision &decision, const std::string &recipient) const {
    std::map<std::string, std::string> vars;
    if (decision.cause)
        vars = decision.cause->vars;
    vars["client_addr"] = facts_.client ? facts_.client->to_string() : "unknown";
    vars["client_name"] = facts_.client_name;
    vars["helo"] = facts_.helo;
    vars["first_helo"] = facts_.first_helo;
    vars["sender"] = facts_.sender;
    vars["recipient"] = recipient;
    vars["rule"] = decision.rule.empty() ? decision.reply_id : decision.rule;
    vars["detail"] = decision.cause ? decision.cause->detail : "";
    vars["score"] = format_number(decision.score);
    vars["url"] = reply_url(config(), vars["rule"]);
    return render_reply(runtime_->replies.find(decision.reply_id), decision.verdict, vars);
}

RecipientAnswer Session::recipient(const std::string &address, bool mta_rejected) {
    ++recipients_;
    ++transaction_recipients_;
    // The MTA answers a recipient it refused itself, whatever we say: a
    // blocked session is not logged again for it.
    if (mta_rejected && block_ && block_enforced_)
        return {};
    if (auto blocked = blocked_recipient(address))
        return *blocked;
    if (mta_rejected) {
        // The MTA answers it; a block it brings about answers the next command.
        count(memory::Counter::rejected_recipients, Stage::rcpt, address);
        if (auto blocked = blocked_recipient(address))
            return *blocked;
        return {};
    }
    if (over_budget(Stage::rcpt, address))
        return refused_recipient(address);
    const auto &evaluation = evaluate();
    // A lookup budget spent while waiting leaves checks without answers:
    // the budget decides, not the DNS errors it caused.
    if (over_budget(Stage::rcpt, address))
        return refused_recipient(address);
    const auto &decision = evaluation.decision;
    RecipientAnswer answer;
    answer.policy_verdict = decision.verdict;
    answer.rule = decision.rule;
    answer.dry_run = config().dry_run;
    if (decision.verdict == Verdict::reject || decision.verdict == Verdict::tempfail) {
        answer.reply = render(decision, address);
        answer.exempt = first_match(address, config().exempt_recipients) != nullptr;
        if (!answer.exempt && !answer.dry_run)
            answer.verdict = decision.verdict;
    }
    greylist(answer, address);
    log_decision(answer, address);
    count_refusal(answer, address);
    if (auto blocked = blocked_recipient(address))
        return *blocked;
    if (answer.verdict == Verdict::continue_ && !first_match(address, config().exempt_recipients))
        ++accepted_recipients_;
    return answer;
}

CommandAnswer Session::unknown_command() {
    if (auto blocked = blocked_command(Stage::connect))
        return *blocked;
    count(memory::Counter::unknown_commands, Stage::connect);
    if (auto blocked = blocked_command(Stage::connect))
        return *blocked;
    return {};
}

void Session::abort_transaction() {
    abort_pending_ = transaction_open_;
    // Counted when the client goes on (MAIL: an RSET) or leaves.
    const bool open = transaction_open_;
    const unsigned recipients = transaction_recipients_;
    reset_transaction();
    transaction_open_ = open;
    transaction_recipients_ = recipients;
}

void Session::close() {
    end_transaction();
}

std::string Session::decision_fields() const {
    return "session=" + id_ + " queue=" + (queue_id_.empty() ? "-" : field_value(queue_id_, 64)) +
           " client=" + (facts_.client ? facts_.client->to_string() : "unknown") +
           quoted_field("ptr", facts_.client_name) + quoted_field("helo", facts_.helo) +
           address_field("from", facts_.sender);
}

void Session::log_decision(const RecipientAnswer &answer, const std::string &recipient) const {
    const auto &evaluation = *evaluation_;
    std::string line = decision_fields() + address_field("rcpt", recipient);
    const bool refused =
        answer.policy_verdict == Verdict::reject || answer.policy_verdict == Verdict::tempfail;
    if (refused) {
        line +=
            " stage=" + std::string(to_string(answer.stage.value_or(evaluation.decision.stage))) +
            " rule=" + answer.rule + " action=" + std::string(to_string(answer.policy_verdict)) +
            " code=\"" + answer.reply.code + " " + answer.reply.status + "\"";
        if (answer.exempt)
            line += " exempt=yes";
        if (answer.dry_run)
            line += " dry-run=yes";
        line += " text=\"" + log_quoted(answer.reply.text(), 600) + "\"";
    } else {
        line += " stage=rcpt action=continue";
        if (!evaluation.skip_reason.empty())
            line += " skipped=\"" + log_quoted(evaluation.skip_reason) + "\"";
    }
    line += answer.log_fields;
    for (const auto *logged : evaluation.decision.logged)
        line += " log=" + logged->rule;
    count_decision(refused, answer.rule, to_string(answer.policy_verdict),
                   evaluation.decision.logged);
    log_message(refused && !answer.exempt && !answer.dry_run ? LOG_NOTICE : LOG_INFO, line);
}

std::optional<CheckResult> Session::budget_excess() const {
    const auto &budget = config().session;
    auto excess = [](std::string name, std::uint64_t limit, std::string what) {
        CheckResult result{"session",
                           std::string(session_budget_rule),
                           Outcome::fail,
                           "more than " + std::to_string(limit) + " " + what,
                           {}};
        result.vars["session_budget"] = std::move(name);
        result.vars["session_budget_limit"] = std::to_string(limit);
        return result;
    };
    if (budget.max_helos && static_cast<unsigned>(facts_.helo_count) > budget.max_helos)
        return excess("helos", budget.max_helos, "HELO/EHLO commands");
    if (budget.max_transactions && transactions_ > budget.max_transactions)
        return excess("transactions", budget.max_transactions, "transactions");
    if (budget.max_recipients && recipients_ > budget.max_recipients)
        return excess("recipients", budget.max_recipients, "recipients");
    if (const auto spent = lookups_->exhausted())
        return excess(spent->budget, spent->limit,
                      spent->budget == "lookups" ? "DNS lookups" : "bytes of DNS answers held");
    return std::nullopt;
}

bool Session::over_budget(Stage stage, const std::string &recipient) {
    if (over_budget_)
        return true;
    if (is_trusted())
        return false;
    over_budget_ = budget_excess();
    if (!over_budget_)
        return false;
    over_budget_stage_ = stage;
    log_over_budget(recipient);
    return true;
}

// The one line a session beyond its budget logs, in the form of the
// decision lines.
void Session::log_over_budget(const std::string &recipient) const {
    const auto reply = render(budget_decision(), recipient);
    std::string line = "session=" + id_ +
                       " client=" + (facts_.client ? facts_.client->to_string() : "unknown") +
                       quoted_field("ptr", facts_.client_name) + quoted_field("helo", facts_.helo) +
                       address_field("from", facts_.sender);
    if (over_budget_stage_ == Stage::rcpt)
        line += address_field("rcpt", recipient);
    line += " stage=" + std::string(to_string(over_budget_stage_)) + " rule=" + over_budget_->rule +
            " action=tempfail code=\"" + reply.code + " " + reply.status +
            "\" budget=" + over_budget_->vars.at("session_budget") +
            " limit=" + over_budget_->vars.at("session_budget_limit");
    if (config().dry_run)
        line += " dry-run=yes";
    line += " text=\"" + log_quoted(reply.text(), 600) + "\"";
    metrics::global().count_verdict(over_budget_->rule, "tempfail");
    log_message(config().dry_run ? LOG_INFO : LOG_NOTICE, line);
}

Decision Session::budget_decision() const {
    Decision decision;
    decision.verdict = Verdict::tempfail;
    decision.stage = over_budget_stage_;
    decision.rule = std::string(session_budget_rule);
    decision.reply_id = decision.rule;
    decision.cause = over_budget_ ? &*over_budget_ : nullptr;
    return decision;
}

CommandAnswer Session::refused_command() {
    CommandAnswer answer;
    answer.reply = render(budget_decision(), "");
    answer.rule = std::string(session_budget_rule);
    if (!config().dry_run)
        answer.verdict = Verdict::tempfail;
    return answer;
}

RecipientAnswer Session::refused_recipient(const std::string &recipient) {
    RecipientAnswer answer;
    answer.policy_verdict = Verdict::tempfail;
    answer.rule = std::string(session_budget_rule);
    answer.reply = render(budget_decision(), recipient);
    answer.dry_run = config().dry_run;
    if (!answer.dry_run)
        answer.verdict = Verdict::tempfail;
    return answer;
}

Reply internal_error_reply(const Runtime *runtime) {
    const std::string rule(internal_error_rule);
    std::map<std::string, std::string> vars = {{"rule", rule}};
    if (!runtime) {
        const ReplyBook built_in(std::span<const RuleSpec>{});
        return render_reply(built_in.find(rule), Verdict::tempfail, vars);
    }
    vars["url"] = reply_url(*runtime->config, rule);
    return render_reply(runtime->replies.find(rule), Verdict::tempfail, vars);
}

} // namespace portcullis
