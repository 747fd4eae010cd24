// The dkim check: what the DKIM signatures of the message (RFC 6376),
// verified by libopendkim at the end of the message over the session's
// lookups (message/dkim_verifier.hpp), add up to. A message with a passing
// signature passes, whatever its other signatures say (a mailing list
// breaks the author's signature and adds its own). Without one: a
// signature that could not be verified for a DNS error (dkim-temperror,
// never a reject: its key might have made it pass) comes first, then one
// that failed to verify (dkim-fail), then one that could not be evaluated
// (dkim-permerror: no key, a broken signature or key). An unsigned message
// is none of these. Reply variables: ${dkim_domain}, ${dkim_selector},
// ${dkim_problem}.
#include "checks/check.hpp"
#include "core/log.hpp"

namespace portcullis {

namespace {

constexpr std::string_view fail_text[] = {
    "The DKIM signature of ${dkim_domain} (selector ${dkim_selector}) does not verify "
    "(${dkim_problem}).",
    "The message was changed after it was signed, or signed with another key than the one "
    "published.",
    "See ${url}",
};
constexpr std::string_view temperror_text[] = {
    "The DKIM key of ${dkim_domain} (selector ${dkim_selector}) could not be looked up; "
    "please try again later.",
    "See ${url}",
};
constexpr std::string_view permerror_text[] = {
    "The DKIM signature of ${dkim_domain} (selector ${dkim_selector}) cannot be verified "
    "(${dkim_problem}).",
    "Publish the key of that selector, or sign with a valid signature.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "dkim-fail",
     .stage = Stage::message,
     .default_action = "log",
     .summary = "no DKIM signature of the message verifies and at least one failed (body or "
                "header changed, wrong key)",
     .help = "Your message carried a DKIM signature that did not verify: the message was "
             "changed after it was signed (a footer added, a header rewritten), or it was signed "
             "with a key other than the one published in DNS. Sign after every change to the "
             "message, and check that the published key matches the signing key.",
     .reject = "550 5.7.20",
     .tempfail = "451 4.7.20",
     .text = fail_text,
     .example = "score:2",
     .notes = "Harm: mailing lists and forwarders that change messages break their "
              "signatures; reject only with care."},
    {.id = "dkim-temperror",
     .stage = Stage::message,
     .default_action = "log",
     .summary = "no DKIM signature verifies and the key of one could not be looked up (DNS "
                "error or timeout)",
     .help = "The DNS lookup of the DKIM key of your message's signature failed or timed out, "
             "so it could not be verified. Check that the name servers of the signing domain "
             "answer for the selector's _domainkey name.",
     .reject = "550 5.7.20",
     .tempfail = "451 4.4.3",
     .text = temperror_text,
     .example = "tempfail",
     .notes = "Never rejects: the key might have made the signature pass.",
     .may_reject = false},
    {.id = "dkim-permerror",
     .stage = Stage::message,
     .default_action = "log",
     .summary = "no DKIM signature verifies and one cannot be evaluated (no key published, a "
                "broken signature or key, an unknown algorithm)",
     .help = "Your message carried a DKIM signature that could not be evaluated: no key is "
             "published for its selector, the key or the signature is malformed, or it uses an "
             "algorithm that is not supported. Publish the key for the selector the signature "
             "names.",
     .reject = "550 5.7.20",
     .tempfail = "451 4.7.20",
     .text = permerror_text,
     .example = "score:1"},
};

class DkimCheck final : public Check {
  public:
    std::string_view name() const override { return "dkim"; }
    Stage stage() const override { return Stage::message; }
    std::span<const RuleSpec> rules() const override { return declared; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        const auto *message = context.message;
        if (!message || !message->dkim_verified)
            return {result("dkim-fail", Outcome::skip, "DKIM not verified (dkim.verify)")};
        if (message->dkim.empty())
            return {result("dkim-fail", Outcome::skip, "no DKIM signature")};
        using message::DkimResult;
        const message::DkimSignature *temperror = nullptr;
        const message::DkimSignature *fail = nullptr;
        const message::DkimSignature *permerror = nullptr;
        for (const auto &signature : message->dkim) {
            switch (signature.result) {
            case DkimResult::pass:
                return {result("dkim-fail", Outcome::pass,
                               "signature of " + signature.domain + " (s=" + signature.selector +
                                   ") verifies")};
            case DkimResult::temperror:
                temperror = temperror ? temperror : &signature;
                break;
            case DkimResult::fail:
                fail = fail ? fail : &signature;
                break;
            default:
                permerror = permerror ? permerror : &signature;
                break;
            }
        }
        if (temperror) {
            auto found = finding("dkim-temperror", *temperror);
            // Its key might have made it pass; what else was found stays undecided.
            if (fail)
                found.could_be.push_back("dkim-fail");
            if (permerror)
                found.could_be.push_back("dkim-permerror");
            return {found};
        }
        if (fail)
            return {finding("dkim-fail", *fail)};
        return {finding("dkim-permerror", *permerror)};
    }

  private:
    CheckResult finding(std::string_view rule, const message::DkimSignature &signature) const {
        auto found = result(rule, Outcome::fail,
                            "signature of " + signature.domain + " (s=" + signature.selector +
                                "): " + log_safe(signature.detail, 120));
        found.vars["dkim_domain"] = signature.domain;
        found.vars["dkim_selector"] = signature.selector;
        found.vars["dkim_problem"] = log_safe(signature.detail, 120);
        return found;
    }
};

} // namespace

const Check &dkim_check() {
    static const DkimCheck check;
    return check;
}

} // namespace portcullis
