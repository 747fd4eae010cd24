// The spf-helo check: SPF (RFC 7208 section 2.3) of the HELO/EHLO
// identity, postmaster@<HELO>, started at HELO. Skipped for address
// literals and names that are not fully qualified host names, and once
// MAIL FROM is the null sender: then spf-mail-from evaluates the same
// identity and speaks for it (one finding, not two). Rules: spf-helo-fail,
// spf-helo-softfail, spf-helo-temperror, spf-helo-permerror.
#include "checks/spf_identity.hpp"

namespace portcullis {

namespace {

constexpr std::string_view check_name = "spf-helo";

constexpr std::string_view spf_helo_fail_text[] = {
    "SPF validation failed for HELO/EHLO name ${spf_domain} from [${client_addr}]: "
    "${spf_explanation}",
    "See ${url}",
};
constexpr std::string_view spf_helo_softfail_text[] = {
    "SPF validation of HELO/EHLO name ${spf_domain} from [${client_addr}] gave softfail:",
    "the domain does not designate this host as a permitted sender.",
    "See ${url}",
};
constexpr std::string_view spf_helo_temperror_text[] = {
    "Temporary error during SPF validation of HELO/EHLO name ${spf_domain} from "
    "[${client_addr}]: ${spf_problem}.",
    "Please try again later.",
};
constexpr std::string_view spf_helo_permerror_text[] = {
    "The SPF record of HELO/EHLO name ${spf_domain} is broken: ${spf_problem}.",
    "The owner of ${spf_domain} must correct its SPF (TXT \"v=spf1 ...\") record (RFC 7208).",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "spf-helo-fail",
     .stage = Stage::helo,
     .default_action = "reject",
     .summary = "SPF of the HELO/EHLO identity gives fail",
     .help = "The name your mail server introduced itself with (HELO/EHLO) publishes an SPF "
             "record that does not allow the address it connects from. Greet with the "
             "server's own name, or add the server to that name's SPF record.",
     .reject = "550 5.7.23",
     .tempfail = "451 4.7.23",
     .text = spf_helo_fail_text,
     .example = "log",
     .notes = "A HELO name without an SPF record gives none, not fail, so only clients that "
              "announce a name whose owner excludes them are refused."},
    {.id = "spf-helo-softfail",
     .stage = Stage::helo,
     .default_action = "log",
     .summary = "SPF of the HELO/EHLO identity gives softfail",
     .help = "The SPF record of the name your mail server introduced itself with (HELO/EHLO) "
             "says the server's address is probably not allowed to use it. Greet with the "
             "server's own name, or add the server to that name's SPF record.",
     .reject = "550 5.7.23",
     .tempfail = "451 4.7.23",
     .text = spf_helo_softfail_text,
     .example = "score:1"},
    {.id = "spf-helo-temperror",
     .stage = Stage::helo,
     .default_action = "tempfail",
     .summary = "SPF of the HELO/EHLO identity gives temperror (a DNS error)",
     .help = "The SPF record of the name your mail server introduced itself with (HELO/EHLO) "
             "could not be read because of a DNS error. Your server will retry; if it "
             "persists, check that the DNS servers of that name answer.",
     .reject = "550 5.7.24",
     .tempfail = "451 4.7.24",
     .text = spf_helo_temperror_text,
     .example = "log",
     .notes = "It cannot be set to reject.",
     .may_reject = false},
    {.id = "spf-helo-permerror",
     .stage = Stage::helo,
     .default_action = "log",
     .summary = "SPF of the HELO/EHLO identity gives permerror (a broken SPF record)",
     .help = "The SPF record of the name your mail server introduced itself with (HELO/EHLO) "
             "is broken. Its owner must correct the SPF (TXT \"v=spf1 ...\") record.",
     .reject = "550 5.7.24",
     .tempfail = "451 4.7.24",
     .text = spf_helo_permerror_text,
     .example = "ignore",
     .notes = "Broken records on HELO names are common and say little about the mail, so it "
              "only logs by default."},
};

class SpfHeloCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::helo; }
    std::span<const RuleSpec> rules() const override { return declared; }

    void prefetch(const CheckContext &context) const override {
        start_spf(context, SpfIdentity::helo);
    }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        std::string why_not;
        if (!spf_request(context, SpfIdentity::helo, &why_not))
            return {skip(why_not)};
        if (context.facts.sender_seen && context.facts.sender.empty())
            return {skip("null sender: spf-mail-from checks postmaster@HELO")};
        return {spf_check_result(check_name, "spf-helo-", *read_spf(context, SpfIdentity::helo))};
    }

  private:
    static CheckResult skip(std::string why) {
        CheckResult result;
        result.check = std::string(check_name);
        result.rule = "spf-helo-fail";
        result.outcome = Outcome::skip;
        result.detail = std::move(why);
        return result;
    }
};

} // namespace

const Check &spf_helo_check() {
    static const SpfHeloCheck check;
    return check;
}

} // namespace portcullis
