// The Authentication-Results field (RFC 8601) a message gets at its end,
// when authentication-results is on: iprev (RFC 8601 section 2.7.3, with
// the PTR name in a comment), SPF of the MAIL FROM and the HELO identity
// (RFC 7208; for the null sender only the HELO), each DKIM signature
// evaluated (RFC 6376: header.d, header.i, header.s and the first 8
// characters of header.b, a comment where the key's answer was
// DNSSEC-secure), and auth for an authenticated client. The session's
// results only: nothing is looked up here. Formatting and escaping are
// message::format_authentication_results()'s.
#include "session.hpp"

#include "checks/spf_identity.hpp"
#include "message_state.hpp"
#include "message/auth_results.hpp"

namespace portcullis {

namespace {

using message::AuthResult;

std::string_view spf_result_name(SpfResult::Code code) {
    return to_string(code);
}

} // namespace

std::optional<std::string> Session::authentication_results() const {
    if (!config().message.authentication_results || !message_)
        return std::nullopt;
    std::vector<AuthResult> results;
    if (is_trusted()) {
        // Nothing was checked; an authenticated client is worth saying.
        if (facts_.auth_user.empty())
            return std::nullopt;
        results.push_back({"auth", "pass", "", {{"smtp", "auth", facts_.auth_user}}, ""});
        return message::format_authentication_results(authserv_id(), results);
    }

    if (identity_.address) {
        AuthResult iprev{
            "iprev", "", "", {{"policy", "iprev", identity_.address->to_string()}}, ""};
        const auto &ptr = lookups_->get(identity_.reverse_name, DnsType::PTR);
        const auto confirmed = identity_.names->confirmed();
        const auto names = identity_.names->names();
        if (!confirmed.empty()) {
            iprev.result = "pass";
            iprev.comment = confirmed.front();
        } else if (ptr.is_error()) {
            iprev.result = "temperror";
        } else if (ptr.is_negative() || names.empty()) {
            iprev.result = "permerror";
        } else {
            iprev.result = "fail";
            iprev.comment = names.front();
            const DnsType forward = identity_.address->is_v4() ? DnsType::A : DnsType::AAAA;
            for (const auto &name : names)
                if (lookups_->get(name, forward).is_error())
                    iprev.result = "temperror";
        }
        results.push_back(std::move(iprev));
    }

    const CheckContext context = this->context();
    if (const auto mail_from = read_spf(context, SpfIdentity::mail_from);
        mail_from && mail_from->identity == SpfIdentity::mail_from)
        results.push_back({"spf",
                           std::string(spf_result_name(mail_from->result.result)),
                           "",
                           {{"smtp", "mailfrom", mail_from->request.sender}},
                           ""});
    if (const auto helo = read_spf(context, SpfIdentity::helo))
        results.push_back({"spf",
                           std::string(spf_result_name(helo->result.result)),
                           "",
                           {{"smtp", "helo", helo->request.domain}},
                           ""});

    const auto &facts = message_->facts;
    if (facts.dkim_verified) {
        if (facts.dkim.empty())
            results.push_back({"dkim", "none", "", {}, ""});
        for (const auto &signature : facts.dkim) {
            AuthResult dkim{"dkim", std::string(message::to_string(signature.result)), "", {}, ""};
            if (signature.result != message::DkimResult::pass && !signature.detail.empty())
                dkim.reason = signature.detail;
            if (signature.key_secure)
                dkim.comment = "DNSSEC-secure key";
            dkim.properties.push_back({"header", "d", signature.domain});
            if (!signature.identity.empty())
                dkim.properties.push_back({"header", "i", signature.identity});
            dkim.properties.push_back({"header", "s", signature.selector});
            if (!signature.b_prefix.empty())
                dkim.properties.push_back({"header", "b", signature.b_prefix});
            results.push_back(std::move(dkim));
        }
    }
    return message::format_authentication_results(authserv_id(), results);
}

} // namespace portcullis
