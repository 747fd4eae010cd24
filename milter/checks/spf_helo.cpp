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

class SpfHeloCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::helo; }

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
