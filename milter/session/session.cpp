#include "session.hpp"

#include "core/log.hpp"

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
    lookups_ = Lookups::create(runtime_->resolver, std::move(on_error));
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
    if (!is_trusted()) {
        // Asked once for every check that reads them, and allow.hostname.
        if (identity_.address && (needs_client_names() || !config().allow_hostnames.empty()))
            identity_.names->start(*lookups_, *identity_.address, config().rdns_max_names);
        prefetch(Stage::connect);
    }
}

void Session::helo(std::string name) {
    if (facts_.helo_count == 0)
        facts_.first_helo = name;
    facts_.helo = std::move(name);
    ++facts_.helo_count;
    identity_.update(facts_);
    reset_transaction();
    if (!is_trusted())
        prefetch(Stage::helo);
}

void Session::mail(std::string sender, std::string auth_user) {
    reset_transaction();
    facts_.sender = std::move(sender);
    facts_.sender_seen = true;
    facts_.auth_user = std::move(auth_user);
    identity_.update(facts_);
    if (!is_trusted())
        prefetch(Stage::mail);
}

void Session::reset_transaction() {
    evaluation_.reset();
    notes_->forget_transaction();
    queue_id_.clear();
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

RecipientAnswer Session::recipient(const std::string &address) {
    const auto &evaluation = evaluate();
    const auto &decision = evaluation.decision;
    RecipientAnswer answer;
    answer.policy_verdict = decision.verdict;
    answer.rule = decision.rule;
    answer.dry_run = config().dry_run;
    if (decision.verdict == Verdict::reject || decision.verdict == Verdict::tempfail) {
        answer.reply = render(decision, address);
        answer.exempt = recipient_matches(address, config().exempt_recipients);
        if (!answer.exempt && !answer.dry_run)
            answer.verdict = decision.verdict;
    }
    log_decision(answer, address);
    return answer;
}

void Session::log_decision(const RecipientAnswer &answer, const std::string &recipient) const {
    const auto &evaluation = *evaluation_;
    std::string line = "session=" + id_ + " queue=" + (queue_id_.empty() ? "-" : queue_id_) +
                       " client=" + (facts_.client ? facts_.client->to_string() : "unknown") +
                       quoted_field("ptr", facts_.client_name) + quoted_field("helo", facts_.helo) +
                       address_field("from", facts_.sender) + address_field("rcpt", recipient);
    const bool refused =
        answer.policy_verdict == Verdict::reject || answer.policy_verdict == Verdict::tempfail;
    if (refused) {
        line += " stage=" + std::string(to_string(evaluation.decision.stage)) +
                " rule=" + answer.rule +
                " action=" + std::string(to_string(answer.policy_verdict)) + " code=\"" +
                answer.reply.code + " " + answer.reply.status + "\"";
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
    for (const auto *logged : evaluation.decision.logged)
        line += " log=" + logged->rule;
    log_message(refused && !answer.exempt && !answer.dry_run ? LOG_NOTICE : LOG_INFO, line);
}

bool recipient_matches(const std::string &recipient, const std::vector<std::string> &patterns) {
    auto address = to_lower(recipient);
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>')
        address = address.substr(1, address.size() - 2);
    const auto at = address.rfind('@');
    const auto local = address.substr(0, at);
    const auto domain = at == std::string::npos ? std::string() : address.substr(at + 1);
    for (const auto &pattern : patterns) {
        const auto pattern_at = pattern.rfind('@');
        const auto pattern_local = pattern.substr(0, pattern_at);
        const auto pattern_domain =
            pattern_at == std::string::npos ? std::string("*") : pattern.substr(pattern_at + 1);
        if ((pattern_local == "*" || pattern_local == local) &&
            (pattern_domain == "*" || pattern_domain == domain))
            return true;
    }
    return false;
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
