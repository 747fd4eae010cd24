// Memory across sessions in the session: the abuse counters' blocks and
// counts, and greylisting, over the runtime's state store
// (milter/memory/ holds what the store says; this file decides who is
// counted and who is greylisted, and answers).
//
// Never counted, blocked or greylisted: sessions without a store or an
// IP client, trusted and authenticated clients, allow.network and
// `portcullis db allow` entries. Greylisting also spares clients the
// checks let through on allow.hostname, DNSWL-listed clients (a listing
// with a negative weight) and exempt recipients; and it runs only for a
// recipient the checks accepted. A refusal counts as an error (and a
// reject as a rejected recipient) only when its rule may reject: a DNS
// fault, a greylisting or a session budget never builds a block.
#include "session.hpp"

#include "checks/dnsbl.hpp"
#include "checks/spf_identity.hpp"
#include "core/log.hpp"
#include "metrics/registry.hpp"
#include "memory/abuse_counters.hpp"
#include "memory/allowlist.hpp"
#include "memory/greylist.hpp"
#include "memory/store_failure.hpp"
#include "memory/time_text.hpp"

#include <ctime>

namespace portcullis {

namespace {

// "42 seconds", "5 minutes", "2 hours": rounded up, as a retry must wait.
std::string wait_text(std::chrono::milliseconds wait) {
    const long long seconds = std::max<long long>(0, (wait.count() + 999) / 1000);
    auto unit = [](long long n, const char *one) {
        return std::to_string(n) + " " + one + (n == 1 ? "" : "s");
    };
    if (seconds < 120)
        return unit(seconds, "second");
    if (seconds < 7200)
        return unit((seconds + 59) / 60, "minute");
    return unit((seconds + 3599) / 3600, "hour");
}

bool acts(const Action &action) {
    return action.kind == ActionKind::tempfail || action.kind == ActionKind::reject;
}

} // namespace

state::Time Session::now() const {
    return runtime_->clock ? runtime_->clock() : state::Clock::now();
}

bool Session::remembers() const {
    if (!runtime_->store || !facts_.client || allowlisted_ || is_trusted())
        return false;
    for (const auto &network : config().allow_networks)
        if (network.contains(*facts_.client))
            return false;
    return true;
}

void Session::store_failed(std::string_view feature, const state::Outcome &outcome) {
    store_down_ = true;
    memory::report_store_failure(feature,
                                 "session=" + id_ + " " +
                                     std::string(state::to_string(outcome.status)) +
                                     (outcome.why.empty() ? "" : ": " + outcome.why),
                                 config().state.breaker_interval);
}

void Session::memory_connect() {
    if (!remembers())
        return;
    const auto &greylist = config().greylist;
    const auto &limits = config().limits;
    const bool counting = limits.rejected_recipients || limits.rsets || limits.empty_transactions ||
                          limits.unknown_commands || limits.errors;
    if (greylist.mode == Config::Greylist::Mode::off && !counting)
        return;
    auto &store = *runtime_->store;
    const auto time = now();
    // Whether the client is blocked cannot be told: limits.on-store-error.
    auto unknown_block = [&](const state::Outcome &outcome, std::string_view what) {
        store_failed(what, outcome);
        if (!counting || !limits.tempfail_on_store_error)
            return;
        block_ =
            CheckResult{"limits",
                        std::string(memory::state_error_rule),
                        Outcome::fail,
                        "the state store failed: " + std::string(state::to_string(outcome.status)),
                        {}};
        block_enforced_ = !config().dry_run;
    };
    memory::Allowlist allowlist;
    if (auto outcome = memory::read_allowlist(store, time, allowlist); !outcome.ok())
        return unknown_block(outcome, "the allowlist");
    if (allowlist.match(*facts_.client, time)) {
        allowlisted_ = true;
        return;
    }
    if (!counting)
        return;
    std::optional<memory::Block> block;
    if (auto outcome = memory::read_block(store, *facts_.client, time, block); !outcome.ok())
        return unknown_block(outcome, "the abuse counters");
    if (!block)
        return;
    const Action &action = config().action_for(block->rule);
    if (action.kind == ActionKind::ignore)
        return;
    block_ = CheckResult{"limits",
                         block->rule,
                         Outcome::fail,
                         "blocked since " + memory::utc_text(block->since) + " (" +
                             std::to_string(block->count) + " counted)",
                         {}};
    block_->vars["limit_count"] = std::to_string(block->count);
    block_->vars["limit_window"] = memory::duration_text(config().limits.window);
    block_->vars["block_until"] = memory::utc_text(block->until);
    block_enforced_ = acts(action) && !config().dry_run;
    if (!block_enforced_) {
        // Log-only (action log, or dry-run): said once, and the session
        // goes on, counted as any other.
        log_block(Stage::connect, "", block_->detail + "; not enforced");
        block_.reset();
    }
}

Decision Session::block_decision() const {
    Decision decision;
    decision.verdict = Verdict::tempfail;
    decision.stage = Stage::connect;
    decision.rule = block_ ? block_->rule : "";
    decision.reply_id = decision.rule;
    decision.cause = block_ ? &*block_ : nullptr;
    return decision;
}

void Session::log_block(Stage stage, const std::string &recipient, const std::string &why) const {
    const auto reply = render(block_decision(), recipient);
    std::string line = "session=" + id_ + " client=" + facts_.client->to_string() +
                       " stage=" + std::string(to_string(stage)) + " rule=" + block_->rule +
                       " action=" + (block_enforced_ ? "tempfail" : "log") + " code=\"" +
                       reply.code + " " + reply.status + "\" why=\"" + log_quoted(why) + "\"";
    if (config().dry_run)
        line += " dry-run=yes";
    line += " text=\"" + log_quoted(reply.text(), 600) + "\"";
    metrics::global().count_verdict(block_->rule, block_enforced_ ? "tempfail" : "log");
    log_message(block_enforced_ ? LOG_NOTICE : LOG_INFO, line);
}

std::optional<CommandAnswer> Session::blocked_command(Stage stage) {
    if (!block_ || !block_enforced_)
        return std::nullopt;
    log_block(stage, "", block_->detail);
    CommandAnswer answer;
    answer.verdict = Verdict::tempfail;
    answer.reply = render(block_decision(), "");
    answer.rule = block_->rule;
    return answer;
}

std::optional<RecipientAnswer> Session::blocked_recipient(const std::string &recipient) {
    if (!block_ || !block_enforced_)
        return std::nullopt;
    log_block(Stage::rcpt, recipient, block_->detail);
    RecipientAnswer answer;
    answer.verdict = answer.policy_verdict = Verdict::tempfail;
    answer.rule = block_->rule;
    answer.reply = render(block_decision(), recipient);
    answer.stage = Stage::connect;
    return answer;
}

void Session::count(memory::Counter counter, Stage stage, const std::string &recipient) {
    if (store_down_ || block_ || !remembers())
        return;
    const auto rule = memory::counter_rule(counter);
    const Action &action = config().action_for(rule);
    if (action.kind == ActionKind::ignore || !memory::counter_limit(config().limits, counter))
        return;
    const bool enforce = acts(action) && !config().dry_run;
    const auto time = now();
    const auto result = memory::count_event(*runtime_->store, config().limits, counter,
                                            *facts_.client, time, enforce);
    if (!result.outcome.ok()) {
        store_failed("the abuse counters", result.outcome);
        return;
    }
    if (!result.passed)
        return;
    block_ =
        CheckResult{"limits",
                    std::string(rule),
                    Outcome::fail,
                    std::to_string(result.events) + " " + std::string(to_string(counter)) +
                        " within " + memory::duration_text(config().limits.window) + ", limit " +
                        std::to_string(memory::counter_limit(config().limits, counter)),
                    {}};
    block_->vars["limit_count"] = std::to_string(result.events);
    block_->vars["limit_window"] = memory::duration_text(config().limits.window);
    block_->vars["block_until"] = memory::utc_text(result.passed->until);
    block_enforced_ = enforce;
    log_block(stage, recipient,
              block_->detail + (enforce
                                    ? "; blocked until " + memory::utc_text(result.passed->until)
                                    : "; not blocked (action " + action.to_string() +
                                          (config().dry_run ? ", dry-run" : "") + ")"));
    if (!enforce)
        block_.reset(); // logged once; the session goes on
}

void Session::count_refusal(const RecipientAnswer &answer, const std::string &recipient) {
    if (answer.verdict != Verdict::reject && answer.verdict != Verdict::tempfail)
        return;
    const auto &rule = answer.rule;
    if (config().never_reject.contains(rule) || rule == session_budget_rule ||
        rule == internal_error_rule || rule == memory::greylisted_rule ||
        rule == memory::state_error_rule)
        return;
    // A rule that tempfails because its lookup failed answers with the
    // dns-error reply: a DNS fault, not the client's.
    if (evaluation_ && evaluation_->decision.rule == rule &&
        evaluation_->decision.reply_id == dns_error_rule)
        return;
    count(memory::Counter::errors, Stage::rcpt, recipient);
    if (answer.verdict == Verdict::reject)
        count(memory::Counter::rejected_recipients, Stage::rcpt, recipient);
}

void Session::end_transaction() {
    if (transaction_open_ && transaction_recipients_ == 0)
        count(memory::Counter::empty_transactions, Stage::mail);
    transaction_open_ = false;
    transaction_recipients_ = 0;
}

std::string Session::greylist_trigger() {
    const auto &greylist = config().greylist;
    if (greylist.mode == Config::Greylist::Mode::all)
        return "all";
    const CheckContext context = this->context();
    const auto &results = evaluate().results;
    auto failed = [&](std::string_view rule, bool or_error) {
        for (const auto &staged : results)
            if (staged.result.rule == rule &&
                (staged.result.outcome == Outcome::fail ||
                 (or_error && staged.result.outcome == Outcome::error)))
                return true;
        return false;
    };
    for (const auto trigger : greylist.triggers) {
        using T = Config::GreylistTrigger;
        switch (trigger) {
        case T::no_fcrdns:
            if (identity_.address && identity_.names->confirmed().empty())
                return "no-fcrdns";
            break;
        case T::generic_rdns:
            if (failed("rdns-generic", false))
                return "generic-rdns";
            break;
        case T::dnsbl_score:
            if (!config().dnsbl_zones.empty() && identity_.address) {
                const auto report = read_dnsbl(context);
                if (report.score > 0 && report.score < config().dnsbl_threshold)
                    return "dnsbl-score";
            }
            break;
        case T::spf_softfail:
        case T::spf_neutral:
        case T::spf_none:
            if (const auto note = read_spf(context, SpfIdentity::mail_from)) {
                using Code = SpfResult::Code;
                const auto code = note->result.result;
                if ((trigger == T::spf_softfail && code == Code::softfail) ||
                    (trigger == T::spf_neutral && code == Code::neutral) ||
                    (trigger == T::spf_none && code == Code::none))
                    return "spf-" + std::string(to_string(code));
            }
            break;
        case T::helo_unresolved:
            if (failed("helo-unresolvable", true))
                return "helo-unresolved";
            break;
        }
    }
    return "";
}

std::string Session::greylist_origin() {
    const auto &greylist = config().greylist;
    // A forward-confirmed name that is not generic stands for a sending
    // platform; a generic one for a whole access network, which must not
    // pass as one.
    bool generic = false;
    for (const auto &staged : evaluate().results)
        generic = generic ||
                  (staged.result.rule == "rdns-generic" && staged.result.outcome != Outcome::pass &&
                   staged.result.outcome != Outcome::skip);
    if (!generic)
        for (const auto &name : identity_.names->confirmed())
            if (auto domain = memory::organisational_domain(name))
                return memory::domain_origin(*domain);
    if (const auto note = read_spf(context(), SpfIdentity::mail_from);
        note && note->result.result == SpfResult::Code::pass)
        if (auto domain = memory::organisational_domain(note->request.domain))
            return memory::domain_origin(*domain);
    return memory::network_origin(*facts_.client, greylist.prefix_v4, greylist.prefix_v6);
}

void Session::greylist(RecipientAnswer &answer, const std::string &recipient) {
    const auto &settings = config().greylist;
    if (settings.mode == Config::Greylist::Mode::off || !remembers() || evaluate().allowed ||
        first_match(recipient, config().exempt_recipients))
        return;
    if (answer.policy_verdict != Verdict::continue_ && answer.policy_verdict != Verdict::accept)
        return;
    const Action &action = config().action_for(memory::greylisted_rule);
    if (action.kind == ActionKind::ignore)
        return;
    if (!config().dnsbl_zones.empty())
        for (const auto &listing : read_dnsbl(context()).listings)
            if (listing.weight < 0)
                return; // DNSWL-listed
    const auto trigger = greylist_trigger();
    if (trigger.empty())
        return;
    const auto origin = greylist_origin();
    // `outcome`: the call that failed now; null when an earlier call of
    // the session did (reported then).
    auto fail_open = [&](const state::Outcome *outcome) {
        if (outcome)
            store_failed("greylisting", *outcome);
        answer.log_fields += " greylist=store-error";
        if (!settings.tempfail_on_store_error)
            return;
        Decision decision;
        decision.verdict = Verdict::tempfail;
        decision.stage = Stage::rcpt;
        decision.rule = decision.reply_id = std::string(memory::state_error_rule);
        answer.policy_verdict = Verdict::tempfail;
        answer.rule = decision.rule;
        answer.stage = Stage::rcpt;
        answer.reply = render(decision, recipient);
        answer.verdict = answer.dry_run ? Verdict::continue_ : Verdict::tempfail;
    };
    if (store_down_) {
        fail_open(nullptr);
        return;
    }
    const auto time = now();
    const auto decision = memory::decide_greylist(
        *runtime_->store, {settings.delay, settings.retry_window, settings.allow_time}, origin,
        facts_.sender, recipient, time);
    using Result = memory::GreylistDecision::Result;
    if (decision.result == Result::store_error) {
        fail_open(&decision.outcome);
        return;
    }
    answer.log_fields += " greylist=\"" + log_quoted(origin) + "\" trigger=" + trigger;
    if (decision.result == Result::passed) {
        answer.log_fields += " greylist-result=\"" + decision.how + "\"";
        return;
    }
    CheckResult cause{"greylist",
                      std::string(memory::greylisted_rule),
                      Outcome::fail,
                      (decision.first_try ? "first try" : "retried too early") +
                          std::string(" of origin ") + origin,
                      {}};
    cause.vars["greylist_wait"] =
        wait_text(std::chrono::duration_cast<std::chrono::milliseconds>(decision.retry_at - time));
    cause.vars["greylist_retry_at"] = memory::utc_text(decision.retry_at);
    cause.vars["greylist_origin"] = origin;
    answer.log_fields += std::string(" greylist-result=") + (decision.first_try ? "new" : "early");
    if (!acts(action))
        answer.log_fields += " log-only=yes";
    Decision refused;
    refused.verdict = Verdict::tempfail;
    refused.stage = Stage::rcpt;
    refused.rule = refused.reply_id = std::string(memory::greylisted_rule);
    refused.cause = &cause;
    answer.policy_verdict = Verdict::tempfail;
    answer.rule = refused.rule;
    answer.stage = Stage::rcpt;
    answer.reply = render(refused, recipient);
    answer.verdict = acts(action) && !answer.dry_run ? Verdict::tempfail : Verdict::continue_;
}

} // namespace portcullis
