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

class SpfMailFromCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::mail; }

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
