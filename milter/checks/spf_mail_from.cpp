// The spf-mail-from check: SPF (RFC 7208) of the MAIL FROM identity,
// postmaster@<HELO> for the null sender. check_host() starts at MAIL over
// the session's Lookups and its result waits in the session's notes (see
// spf_identity.hpp). Rules: spf-fail, spf-softfail, spf-temperror,
// spf-permerror; pass, neutral and none pass. Vars as spf_check_result()
// gives them, e.g. spf_explanation for the spf-fail reply.
#include "checks/spf_identity.hpp"

namespace portcullis {

namespace {

constexpr std::string_view check_name = "spf-mail-from";

constexpr std::string_view spf_fail_text[] = {
    "SPF validation failed for <${spf_sender}> from [${client_addr}]: ${spf_explanation}",
    "See ${url}",
};
constexpr std::string_view spf_softfail_text[] = {
    "SPF validation of <${spf_sender}> from [${client_addr}] gave softfail:",
    "the domain ${spf_domain} does not designate this host as a permitted sender.",
    "See ${url}",
};
constexpr std::string_view spf_temperror_text[] = {
    "Temporary error during SPF validation of <${spf_sender}> from [${client_addr}]: "
    "${spf_problem}.",
    "Please try again later.",
};
constexpr std::string_view spf_permerror_text[] = {
    "The SPF record of ${spf_domain} is broken, so <${spf_sender}> cannot be validated: "
    "${spf_problem}.",
    "The owner of ${spf_domain} must correct its SPF (TXT \"v=spf1 ...\") record (RFC 7208).",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "spf-fail",
     .stage = Stage::mail,
     .default_action = "reject",
     .summary = "SPF of the MAIL FROM identity gives fail",
     .help = "The domain of your sender address publishes an SPF record that does not allow "
             "the address your mail came from to send its mail. If the mail is legitimate, "
             "the domain's owner must add the sending server to the SPF record, or you must "
             "send through a server the record lists.",
     .reject = "550 5.7.23",
     .tempfail = "451 4.7.23",
     .text = spf_fail_text,
     .example = "score:5",
     .notes = "The reply carries the domain's explanation. An SPF fail is the domain owner's "
              "own statement that the client may not use the name, so it rejects by "
              "default."},
    {.id = "spf-softfail",
     .stage = Stage::mail,
     .default_action = "log",
     .summary = "SPF of the MAIL FROM identity gives softfail",
     .help = "The SPF record of your sender domain says the address your mail came from is "
             "probably not allowed to send its mail (~all). Add the sending server to the "
             "domain's SPF record, or send through a server the record lists.",
     .reject = "550 5.7.23",
     .tempfail = "451 4.7.23",
     .text = spf_softfail_text,
     .example = "score:1",
     .notes = "A softfail is the owner's request not to refuse yet: it is logged by default."},
    {.id = "spf-temperror",
     .stage = Stage::mail,
     .default_action = "tempfail",
     .summary = "SPF of the MAIL FROM identity gives temperror (a DNS error)",
     .help = "The SPF record of your sender domain could not be read because of a DNS error. "
             "Your server will retry; if it persists, check that the DNS servers of the "
             "domain answer.",
     .reject = "550 5.7.24",
     .tempfail = "451 4.7.24",
     .text = spf_temperror_text,
     .example = "log",
     .notes = "It cannot be set to reject. Set it to log to let mail through while DNS fails, "
              "as policy.dns-error = log does for the other checks.",
     .may_reject = false},
    {.id = "spf-permerror",
     .stage = Stage::mail,
     .default_action = "reject",
     .summary = "SPF of the MAIL FROM identity gives permerror (a broken SPF record)",
     .help = "The SPF record of your sender domain is broken (a syntax error, more than 10 "
             "DNS lookups, or two records), so your mail cannot be validated. The domain's "
             "owner must correct the SPF (TXT \"v=spf1 ...\") record; the reply names the "
             "problem.",
     .reject = "550 5.7.24",
     .tempfail = "451 4.7.24",
     .text = spf_permerror_text,
     .example = "tempfail",
     .notes = "The reply names the problem. A broken record of the sender's domain makes its "
              "mail unverifiable, and the sender has to hear it, so it rejects by default."},
};

class SpfMailFromCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::mail; }
    std::span<const RuleSpec> rules() const override { return declared; }

    void prefetch(const CheckContext &context) const override {
        start_spf(context, SpfIdentity::mail_from);
    }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        std::string why_not;
        if (!spf_request(context, SpfIdentity::mail_from, &why_not)) {
            CheckResult result;
            result.check = std::string(check_name);
            result.rule = "spf-fail";
            result.outcome = Outcome::skip;
            result.detail = why_not;
            return {result};
        }
        return {spf_check_result(check_name, "spf-", *read_spf(context, SpfIdentity::mail_from))};
    }
};

} // namespace

const Check &spf_mail_from_check() {
    static const SpfMailFromCheck check;
    return check;
}

} // namespace portcullis
