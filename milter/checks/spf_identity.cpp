#include "checks/spf_identity.hpp"

#include "core/host_name.hpp"
#include "core/log.hpp"
#include "metrics/registry.hpp"

#include <algorithm>

namespace portcullis {

namespace {

constexpr std::size_t max_var_length = 255;

std::string receiver_of(const CheckContext &context) {
    if (!context.config.spf.receiver.empty())
        return context.config.spf.receiver;
    return normalize_host(context.facts.mta_hostname);
}

// A HELO argument SPF can check: a fully qualified host name.
bool checkable_helo(const ClientIdentity &identity, std::string *why_not) {
    auto refuse = [&](std::string why) {
        if (why_not)
            *why_not = std::move(why);
        return false;
    };
    switch (identity.helo_form) {
    case HeloForm::missing:
        return refuse("no HELO/EHLO name");
    case HeloForm::address_literal:
        return refuse("HELO is an address literal (RFC 7208 section 2.3)");
    case HeloForm::not_host_name:
        return refuse("HELO is not a valid host name");
    case HeloForm::not_fqdn:
        return refuse("HELO is not a fully qualified domain name");
    case HeloForm::fqdn:
        return true;
    }
    return refuse("no HELO/EHLO name");
}

std::string note_key(SpfIdentity identity, const SpfRequest &request) {
    // Everything check_host() reads from the request; NUL cannot occur in
    // a libmilter argument, so it separates unambiguously.
    std::string key = "spf ";
    key += to_string(identity);
    for (const auto *part : {&request.sender, &request.domain, &request.helo, &request.receiver}) {
        key += '\0';
        key += *part;
    }
    key += '\0';
    key += request.client.to_string();
    return key;
}

std::string cut(std::string_view text, std::size_t limit = max_var_length) {
    return std::string(text.substr(0, std::min(text.size(), limit)));
}

std::string plural(unsigned count, std::string_view word) {
    return std::to_string(count) + " " + std::string(word) + (count == 1 ? "" : "s");
}

} // namespace

std::string_view to_string(SpfIdentity identity) {
    return identity == SpfIdentity::helo ? "helo" : "mailfrom";
}

std::optional<SpfRequest> spf_request(const CheckContext &context, SpfIdentity identity,
                                      std::string *why_not) {
    const Facts &facts = context.facts;
    if (!context.identity.address) {
        if (why_not)
            *why_not = "no client IP address";
        return std::nullopt;
    }
    const IpAddress &client = *context.identity.address;
    if (identity == SpfIdentity::helo) {
        if (!checkable_helo(context.identity, why_not))
            return std::nullopt;
        return spf_helo_request(client, context.identity.helo_name, receiver_of(context));
    }
    if (!facts.sender_seen) {
        if (why_not)
            *why_not = "no MAIL FROM yet";
        return std::nullopt;
    }
    return spf_mail_from_request(client, facts.sender, facts.helo, receiver_of(context));
}

SpfOptions spf_options(const Config &config) {
    SpfOptions options;
    options.default_explanation = config.spf.default_explanation;
    options.max_void_lookups = config.spf.void_lookup_limit;
    return options;
}

void start_spf(const CheckContext &context, SpfIdentity identity) {
    auto request = spf_request(context, identity);
    if (!request)
        return;
    auto key = note_key(identity, *request);
    if (context.notes.get<SpfResult>(key))
        return;
    auto notes = context.notes.shared_from_this();
    auto lookups = context.lookups.shared_from_this();
    SpfDone done;
    if (identity == SpfIdentity::mail_from)
        done = [notes, key, transaction = notes->transaction()](SpfResult result) {
            metrics::global().count_spf_result(to_string(SpfIdentity::mail_from),
                                               to_string(result.result));
            notes->put_for_transaction(transaction, key, std::move(result));
        };
    else
        done = [notes, key](SpfResult result) {
            metrics::global().count_spf_result(to_string(SpfIdentity::helo),
                                               to_string(result.result));
            notes->put_for_session(key, std::move(result));
        };
    spf_check_host(lookups, std::move(*request), spf_options(context.config), std::move(done));
}

std::optional<SpfNote> read_spf(const CheckContext &context, SpfIdentity identity) {
    auto request = spf_request(context, identity);
    if (!request)
        return std::nullopt;
    SpfNote note;
    note.identity = identity;
    if (identity == SpfIdentity::mail_from && context.facts.sender.empty())
        note.identity = SpfIdentity::helo;
    if (auto result = context.notes.get<SpfResult>(note_key(identity, *request))) {
        note.result = std::move(*result);
        note.completed = true;
    } else {
        note.result.result = SpfResult::Code::temperror;
        note.result.problem = "no SPF result within resolver.stage-budget";
    }
    note.request = std::move(*request);
    return note;
}

CheckResult spf_check_result(std::string_view check, std::string_view rule_prefix,
                             const SpfNote &note) {
    using Code = SpfResult::Code;
    const SpfResult &spf = note.result;
    CheckResult result;
    result.check = std::string(check);
    const bool failed = spf.result == Code::fail || spf.result == Code::softfail ||
                        spf.result == Code::temperror || spf.result == Code::permerror;
    result.rule = std::string(rule_prefix) + std::string(failed ? to_string(spf.result) : "fail");
    result.outcome = failed ? Outcome::fail : Outcome::pass;
    // Had DNS answered, a temperror, or a result the RFC reached by
    // passing over a DNS error (ptr, %{p}), might have been another. Such
    // a failed result cannot refuse the client: it is an error (the
    // policy's dns-error). The result itself (Received-SPF) stays as the
    // RFC has it.
    if (spf.result == Code::temperror || !spf.skipped_error.empty())
        for (const auto code : {Code::fail, Code::softfail, Code::permerror})
            if (code != spf.result)
                result.could_be.push_back(std::string(rule_prefix) + std::string(to_string(code)));
    if (failed && spf.result != Code::temperror && !spf.skipped_error.empty())
        result.outcome = Outcome::error;

    std::string detail = "SPF " + std::string(to_string(spf.result)) + " for <" +
                         log_safe(note.request.sender, 200) + "> from " +
                         note.request.client.to_string() + " (identity " +
                         std::string(to_string(note.identity)) + ")";
    if (note.completed) {
        detail += ": mechanism " +
                  (spf.mechanism.empty() ? std::string("none (default result)")
                                         : "\"" + log_safe(spf.mechanism, 200) + "\"") +
                  ", " + plural(spf.dns_lookups, "DNS lookup") + ", " +
                  plural(spf.void_lookups, "void lookup");
    }
    if (!spf.explanation.empty())
        detail += "; explanation \"" + log_safe(spf.explanation, 512) + "\"";
    if (!spf.problem.empty())
        detail += "; " + log_safe(spf.problem, 300);
    if (!spf.skipped_error.empty())
        detail +=
            "; passed over a DNS error (RFC 7208 section 5.5): " + log_safe(spf.skipped_error, 300);
    result.detail = std::move(detail);

    result.vars["spf_result"] = std::string(to_string(spf.result));
    result.vars["spf_explanation"] = spf.explanation; // at most spf_max_explanation bytes
    result.vars["spf_problem"] = cut(spf.problem);
    result.vars["spf_mechanism"] = cut(spf.mechanism);
    result.vars["spf_domain"] = cut(note.request.domain);
    result.vars["spf_sender"] = cut(note.request.sender, 320);
    result.vars["spf_identity"] = std::string(to_string(note.identity));
    return result;
}

} // namespace portcullis
