// The helo-dns check: what DNS says about the HELO/EHLO name. Only for
// names that are valid and fully qualified (literals, bare addresses and
// malformed names are helo-syntax's business: skip). Prefetches A and
// AAAA of the name. Rules: helo-unresolvable (no A/AAAA records, or
// records reached only through a CNAME) and helo-address-mismatch (the
// name has addresses, none is the client's, and it is not one of the
// client's verified PTR names). A failed lookup that could change the
// answer makes the rule an error, never a fail.
#include "checks/check.hpp"
#include "core/log.hpp"

#include <algorithm>

namespace portcullis {

namespace {

constexpr std::string_view check_name = "helo-dns";

constexpr std::string_view helo_unresolvable_text[] = {
    "HELO/EHLO name \"${helo}\" does not resolve to an address (A/AAAA): ${detail}.",
    "See ${url}",
};
constexpr std::string_view helo_address_mismatch_text[] = {
    "HELO/EHLO name \"${helo}\" does not resolve to the client address ${client_addr}.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "helo-unresolvable",
     .stage = Stage::helo,
     .default_action = "log",
     .summary = "the HELO/EHLO name has no A/AAAA records (or only a CNAME)",
     .help = "The name your mail server introduced itself with (HELO/EHLO) has no address in "
             "DNS, or only one reached through a CNAME. Publish an A or AAAA record for the "
             "name, pointing to the server's address.",
     .reject = "550 5.7.1",
     .tempfail = "450 4.7.1",
     .text = helo_unresolvable_text,
     .example = "score:1",
     .notes = "HELO names that do not resolve are too common on legitimate servers to refuse: "
              "the finding is logged, or can be given a score."},
    {.id = "helo-address-mismatch",
     .stage = Stage::helo,
     .default_action = "log",
     .summary = "the HELO/EHLO name resolves, but neither to the client nor to its PTR name",
     .help = "The name your mail server introduced itself with (HELO/EHLO) resolves to "
             "addresses other than the one it connects from. Greet with the server's own "
             "name, the one its reverse DNS names, and give that name an A or AAAA record "
             "with the server's address.",
     .reject = "550 5.7.1",
     .tempfail = "450 4.7.1",
     .text = helo_address_mismatch_text,
     .example = "score:1",
     .notes = "HELO names that resolve elsewhere are too common on legitimate servers to "
              "refuse: the finding is logged, or can be given a score."},
};

CheckResult make_result(std::string_view rule, Outcome outcome, std::string detail) {
    return {std::string(check_name), std::string(rule), outcome, std::move(detail), {}};
}

std::string failure(const std::string &name, DnsType type, const DnsAnswer &answer) {
    return "lookup of " + name + "/" + std::string(to_string(type)) +
           " failed: " + std::string(to_string(answer.status));
}

CheckResult unresolvable(const std::string &name, const DnsAnswer &a, const DnsAnswer &aaaa) {
    auto direct = [](const DnsAnswer &answer) {
        return answer.has_records() && !answer.via_cname();
    };
    if (direct(a) || direct(aaaa))
        return make_result("helo-unresolvable", Outcome::pass, name + " has address records");
    if (a.is_error())
        return make_result("helo-unresolvable", Outcome::error, failure(name, DnsType::A, a));
    if (aaaa.is_error())
        return make_result("helo-unresolvable", Outcome::error, failure(name, DnsType::AAAA, aaaa));
    if (a.has_records() || aaaa.has_records()) {
        const auto &target = a.has_records() ? a.canonical_name : aaaa.canonical_name;
        return make_result("helo-unresolvable", Outcome::fail,
                           name + " has addresses only through a CNAME to " + log_safe(target));
    }
    return make_result("helo-unresolvable", Outcome::fail,
                       name + " has no A or AAAA records (A: " + std::string(to_string(a.status)) +
                           ", AAAA: " + std::string(to_string(aaaa.status)) + ")");
}

CheckResult address_mismatch(const CheckContext &context, const std::string &name,
                             const DnsAnswer &a, const DnsAnswer &aaaa) {
    const IpAddress &client = *context.identity.address;
    const auto verified = context.identity.names->confirmed();
    if (std::find(verified.begin(), verified.end(), name) != verified.end())
        return make_result("helo-address-mismatch", Outcome::pass,
                           name + " is a verified PTR name of the client");
    std::vector<std::string> addresses;
    for (const auto *answer : {&a, &aaaa})
        if (answer->has_records())
            for (const auto &record : answer->records) {
                auto address = IpAddress::parse(record);
                if (address && address->unmapped() == client)
                    return make_result("helo-address-mismatch", Outcome::pass,
                                       name + " resolves to the client " + client.to_string());
                addresses.push_back(log_safe(record, 64));
            }
    const DnsType type = client.is_v4() ? DnsType::A : DnsType::AAAA;
    const DnsAnswer &relevant = client.is_v4() ? a : aaaa;
    if (relevant.is_error())
        return make_result("helo-address-mismatch", Outcome::error, failure(name, type, relevant));
    // Addresses of the other family might have been there.
    const DnsType other_type = client.is_v4() ? DnsType::AAAA : DnsType::A;
    const DnsAnswer &other = client.is_v4() ? aaaa : a;
    if (addresses.empty() && other.is_error())
        return make_result("helo-address-mismatch", Outcome::error,
                           failure(name, other_type, other));
    if (addresses.empty())
        return make_result("helo-address-mismatch", Outcome::skip, name + " has no addresses");
    std::string list;
    for (std::size_t i = 0; i < addresses.size() && i < 3; ++i)
        list += (i ? ", " : "") + addresses[i];
    if (addresses.size() > 3)
        list += " and " + std::to_string(addresses.size() - 3) + " more";
    return make_result("helo-address-mismatch", Outcome::fail,
                       name + " resolves to " + list + ", not to the client " + client.to_string());
}

class HeloDnsCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::helo; }
    std::span<const RuleSpec> rules() const override { return declared; }
    bool needs_client_names() const override { return true; }

    void prefetch(const CheckContext &context) const override {
        const auto &name = context.identity.fqdn_helo();
        if (!context.identity.address || name.empty())
            return;
        context.lookups.start(name, DnsType::A);
        context.lookups.start(name, DnsType::AAAA);
    }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        if (!context.identity.address)
            return {make_result("helo-unresolvable", Outcome::skip, "no client IP address")};
        const auto &name = context.identity.fqdn_helo();
        if (name.empty())
            return {make_result("helo-unresolvable", Outcome::skip,
                                "HELO/EHLO argument is not a fully qualified host name")};
        const auto &a = context.lookups.get(name, DnsType::A);
        const auto &aaaa = context.lookups.get(name, DnsType::AAAA);
        return {unresolvable(name, a, aaaa), address_mismatch(context, name, a, aaaa)};
    }
};

} // namespace

const Check &helo_dns_check() {
    static const HeloDnsCheck check;
    return check;
}

} // namespace portcullis
