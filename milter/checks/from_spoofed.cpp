// The from-spoofed check, at the end of the message: a From: address in
// one of own-domains (or below one) must be vouched for, since mail from
// outside that claims to be ours is the classic CEO fraud. It is vouched
// for by a DKIM signature that passes with d= under the same own-domains
// entry, or an SPF pass for a MAIL FROM domain under it (relaxed
// alignment, with the entry standing for the organisational domain).
// Trusted and authenticated clients are never checked (the session skips
// them). When a DKIM key or the SPF record of an aligned domain could not
// be looked up, the check cannot decide: an error, for policy.dns-error,
// never a reject. A From: that cannot be parsed is searched for the
// protected domains as text, so that a broken address cannot hide one.
// Reply variables: ${from_domain}.
#include "checks/check.hpp"
#include "checks/spf_identity.hpp"
#include "core/log.hpp"
#include "message/address_list.hpp"
#include "message/syntax.hpp"

#include <algorithm>

namespace portcullis {

namespace {

constexpr std::string_view spoofed_text[] = {
    "This message claims to come from ${from_domain}, but neither DKIM nor SPF confirms it.",
    "Mail from ${from_domain} must be sent through its own servers (which sign it with DKIM) "
    "or from an address its SPF record permits.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "from-spoofed",
     .stage = Stage::message,
     .default_action = "reject",
     .summary = "the From: domain is one of own-domains, and neither a DKIM pass nor an aligned "
                "SPF pass confirms it (trusted and authenticated clients excepted)",
     .help = "Your message's From: address is in a domain that this server's operators run "
             "themselves, but it came from outside without proof: no DKIM signature of that "
             "domain verified, and the envelope sender was not in that domain with an SPF pass. "
             "If you are a user of that domain, send through its own mail servers (submission "
             "with authentication); if you are a service sending on its behalf, ask its "
             "operators to set up DKIM signing for you or to authorise you in SPF.",
     .reject = "550 5.7.1",
     .tempfail = "451 4.7.1",
     .text = spoofed_text,
     .example = "reject",
     .notes = "Applies only when own-domains is set. Harm: a forwarder or mailing list that "
              "breaks the DKIM signature of a message from one of your own users and sends it "
              "back to you; list such hosts in trusted-networks."},
};

bool under(std::string_view name, std::string_view domain) {
    return name == domain || (name.size() > domain.size() && name.ends_with(domain) &&
                              name[name.size() - domain.size() - 1] == '.');
}

bool domain_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

// Whether an unparsed From: value names `domain` after an '@' (directly
// or as a subdomain).
bool names_in_text(const std::string &value, const std::string &domain) {
    for (auto at = value.find(domain); at != std::string::npos; at = value.find(domain, at + 1)) {
        const auto end = at + domain.size();
        if (end < value.size() && domain_char(value[end]))
            continue;
        if (at == 0 || (value[at - 1] != '@' && value[at - 1] != '.'))
            continue;
        auto start = at;
        while (start > 0 && domain_char(value[start - 1]))
            --start;
        if (start > 0 && value[start - 1] == '@')
            return true;
    }
    return false;
}

class FromSpoofedCheck final : public Check {
  public:
    std::string_view name() const override { return "from-spoofed"; }
    Stage stage() const override { return Stage::message; }
    std::span<const RuleSpec> rules() const override { return declared; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        const auto &own = context.config.message.own_domains;
        if (own.empty())
            return {result("from-spoofed", Outcome::skip, "own-domains is empty")};
        if (!context.message || !context.message->header)
            return {result("from-spoofed", Outcome::skip, "no message header")};
        const std::string *from = context.message->header->first("From");
        if (!from)
            return {result("from-spoofed", Outcome::skip, "no From: field")};
        const auto claimed = protected_domain(*from, own);
        if (!claimed)
            return {result("from-spoofed", Outcome::pass, "From: domain is not one of ours")};
        const auto &[from_domain, entry] = *claimed;
        return {vouched(context, from_domain, entry)};
    }

  private:
    // The From: domain that falls under an own-domains entry, and the entry.
    static std::optional<std::pair<std::string, std::string>>
    protected_domain(const std::string &value, const std::vector<std::string> &own) {
        const auto parsed = message::mailbox_domains(value);
        for (const auto &domain : parsed.domains)
            for (const auto &entry : own)
                if (under(domain, entry))
                    return std::pair{domain, entry};
        if (!parsed.complete) {
            const auto text = message::syntax::lowercase(value);
            for (const auto &entry : own)
                if (names_in_text(text, entry))
                    return std::pair{entry, entry};
        }
        return std::nullopt;
    }

    CheckResult vouched(const CheckContext &context, const std::string &from_domain,
                        const std::string &entry) const {
        std::vector<std::string> undecided;
        if (context.message->dkim_verified)
            for (const auto &signature : context.message->dkim) {
                if (!under(message::syntax::lowercase(signature.domain), entry))
                    continue;
                if (signature.result == message::DkimResult::pass)
                    return result("from-spoofed", Outcome::pass,
                                  "From: " + from_domain + " has a DKIM pass of " +
                                      signature.domain);
                if (signature.result == message::DkimResult::temperror)
                    undecided.push_back("the DKIM key of " + signature.domain +
                                        " (s=" + signature.selector + ") could not be looked up");
            }
        const auto sender_at = context.facts.sender.rfind('@');
        if (sender_at != std::string::npos) {
            const auto sender_domain =
                message::syntax::lowercase(context.facts.sender.substr(sender_at + 1));
            if (under(sender_domain, entry)) {
                if (const auto spf = read_spf(context, SpfIdentity::mail_from);
                    spf && spf->identity == SpfIdentity::mail_from) {
                    if (spf->result.result == SpfResult::Code::pass)
                        return result("from-spoofed", Outcome::pass,
                                      "From: " + from_domain + " aligned with the SPF pass of " +
                                          sender_domain);
                    if (spf->result.result == SpfResult::Code::temperror)
                        undecided.push_back("SPF of " + sender_domain + " temperror");
                }
            }
        }
        if (!undecided.empty()) {
            auto error = result("from-spoofed", Outcome::error,
                                "From: " + from_domain + " undecided: " + undecided.front());
            error.vars["from_domain"] = from_domain;
            return error;
        }
        auto found = result("from-spoofed", Outcome::fail,
                            "From: " + from_domain +
                                " is ours, without an aligned DKIM or SPF pass (MAIL FROM <" +
                                log_safe(context.facts.sender, 100) + ">)");
        found.vars["from_domain"] = from_domain;
        return found;
    }
};

} // namespace

const Check &from_spoofed_check() {
    static const FromSpoofedCheck check;
    return check;
}

} // namespace portcullis
