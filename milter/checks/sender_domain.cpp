// The sender-domain check: the domain of the MAIL FROM address must be
// able to take replies. MX, A and AAAA of the domain are asked together at
// MAIL. Rules: sender-domain-missing (NXDOMAIN, or no MX, A or AAAA
// record: RFC 5321 section 5.1 finds no mail server) and sender-null-mx
// (a single MX record whose exchange is the root, "0 .": RFC 7505 says the
// domain accepts no mail, so it should send none either). A lookup error
// that could change the answer makes a rule an error (the policy
// tempfails, 4.4.3), never a fail. The null sender, domain literals and
// names that are not valid host names (internationalized ones among them)
// are skipped. Var: sender_domain.
#include "checks/check.hpp"
#include "core/host_name.hpp"
#include "core/log.hpp"

#include <array>

namespace portcullis {

namespace {

constexpr std::string_view check_name = "sender-domain";
constexpr std::array<DnsType, 3> types = {DnsType::MX, DnsType::A, DnsType::AAAA};

constexpr std::string_view sender_domain_missing_text[] = {
    "Domain of sender address <${sender}> does not exist: ${sender_domain} has no MX, A or "
    "AAAA record.",
    "Use a sender address whose domain can receive replies.",
    "See ${url}",
};
constexpr std::string_view sender_null_mx_text[] = {
    "Sender address <${sender}> is not accepted: its domain ${sender_domain} publishes a null "
    "MX",
    "(RFC 7505), so it accepts no mail and replies to it could not be delivered.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "sender-domain-missing",
     .stage = Stage::mail,
     .default_action = "reject",
     .summary = "the domain of the envelope sender has no MX, A or AAAA record",
     .help = "The domain of your sender address (MAIL FROM) does not exist in DNS, or has no "
             "MX, A or AAAA record, so nobody could reply to the mail or return it. Send with "
             "an address whose domain can receive mail.",
     .reject = "550 5.1.8",
     .tempfail = "450 4.1.8",
     .text = sender_domain_missing_text,
     .example = "score:3",
     .notes = "Or the domain does not exist."},
    {.id = "sender-null-mx",
     .stage = Stage::mail,
     .default_action = "reject",
     .summary = "the domain of the envelope sender publishes a null MX (RFC 7505)",
     .help = "The domain of your sender address publishes a null MX record (RFC 7505): it "
             "declares that it accepts no mail, so replies and bounces to it could not be "
             "delivered. Send with an address whose domain can receive mail.",
     .reject = "550 5.7.27",
     .tempfail = "450 4.7.27",
     .text = sender_null_mx_text,
     .example = "log"},
};

CheckResult make_result(std::string_view rule, Outcome outcome, std::string detail,
                        const std::string &domain) {
    CheckResult result;
    result.check = std::string(check_name);
    result.rule = std::string(rule);
    result.outcome = outcome;
    result.detail = std::move(detail);
    if (!domain.empty())
        result.vars["sender_domain"] = domain;
    return result;
}

// The exchange of an MX record "PREFERENCE NAME"; the root is "." or "".
bool is_null_mx_record(std::string_view record) {
    const auto space = record.find(' ');
    const auto exchange =
        space == std::string_view::npos ? std::string_view() : record.substr(space + 1);
    return exchange == "." || exchange.empty();
}

std::string status_of(const DnsAnswer &answer) {
    return std::string(to_string(answer.status));
}

class SenderDomainCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::mail; }
    std::span<const RuleSpec> rules() const override { return declared; }

    void prefetch(const CheckContext &context) const override {
        const auto &domain = context.identity.sender_domain;
        if (domain.empty())
            return;
        for (const DnsType type : types)
            context.lookups.start(domain, type);
    }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        const auto &domain = context.identity.sender_domain;
        const auto &why_not = context.identity.no_sender_domain;
        if (domain.empty())
            return {make_result("sender-domain-missing", Outcome::skip, why_not, ""),
                    make_result("sender-null-mx", Outcome::skip, why_not, "")};
        const DnsAnswer &mx = context.lookups.get(domain, DnsType::MX);
        const DnsAnswer &a = context.lookups.get(domain, DnsType::A);
        const DnsAnswer &aaaa = context.lookups.get(domain, DnsType::AAAA);
        return {missing(domain, mx, a, aaaa), null_mx(domain, mx)};
    }

  private:
    static CheckResult missing(const std::string &domain, const DnsAnswer &mx, const DnsAnswer &a,
                               const DnsAnswer &aaaa) {
        constexpr std::string_view rule = "sender-domain-missing";
        if (mx.has_records())
            return make_result(rule, Outcome::pass, domain + " has MX records", domain);
        if (a.has_records() || aaaa.has_records())
            return make_result(rule, Outcome::pass,
                               domain + " has no MX but address records (implicit MX)", domain);
        const std::string statuses =
            "MX: " + status_of(mx) + ", A: " + status_of(a) + ", AAAA: " + status_of(aaaa);
        const bool nxdomain = mx.status == DnsAnswer::Status::nxdomain ||
                              a.status == DnsAnswer::Status::nxdomain ||
                              aaaa.status == DnsAnswer::Status::nxdomain;
        if (nxdomain) // RFC 8020: no name, no records of any type
            return make_result(rule, Outcome::fail, domain + " does not exist (" + statuses + ")",
                               domain);
        if (mx.is_error() || a.is_error() || aaaa.is_error())
            return make_result(rule, Outcome::error,
                               "cannot tell whether " + domain + " exists (" + statuses + ")",
                               domain);
        return make_result(rule, Outcome::fail,
                           domain + " has no MX, A or AAAA record (" + statuses + ")", domain);
    }

    static CheckResult null_mx(const std::string &domain, const DnsAnswer &mx) {
        constexpr std::string_view rule = "sender-null-mx";
        if (mx.is_error())
            return make_result(rule, Outcome::error,
                               "MX lookup of " + domain + " failed: " + status_of(mx), domain);
        if (mx.has_records() && mx.records.size() == 1 && is_null_mx_record(mx.records.front()))
            return make_result(rule, Outcome::fail,
                               domain + " has a null MX (\"" + log_safe(mx.records.front(), 64) +
                                   "\"): it accepts no mail",
                               domain);
        return make_result(rule, Outcome::pass, domain + " has no null MX", domain);
    }
};

} // namespace

const Check &sender_domain_check() {
    static const SenderDomainCheck check;
    return check;
}

} // namespace portcullis
