// The helo-identity check: who the HELO/EHLO argument says the client
// is, no DNS. Rules: helo-claims-us (the argument names one of our host
// names, or one of our addresses as a literal or bare IP, while the
// client does not really connect from that address or from one of ours)
// and helo-changed (a later HELO/EHLO of the session names another host
// than the first: the sending system changed during the session). Names
// compare lower-case without a trailing dot, literals as addresses.
// Clients without an IP address (local submission) are skipped.
#include "checks/check.hpp"
#include "core/log.hpp"

#include <algorithm>

namespace portcullis {

namespace {

constexpr std::string_view check_name = "helo-identity";

constexpr std::string_view helo_claims_us_text[] = {
    "HELO/EHLO \"${helo}\" names this server, but the client ${client_addr} is not this "
    "server.",
    "See ${url}",
};
constexpr std::string_view helo_changed_text[] = {
    "Sending system changed during the session: HELO/EHLO \"${first_helo}\" and then "
    "\"${helo}\".",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "helo-claims-us",
     .stage = Stage::helo,
     .default_action = "reject",
     .summary = "the HELO/EHLO names this server or one of its addresses",
     .help = "Your mail server introduced itself (HELO/EHLO) with the name or address of the "
             "server it is talking to. It must greet with its own fully qualified domain "
             "name.",
     .reject = "550 5.7.1",
     .tempfail = "450 4.7.1",
     .text = helo_claims_us_text,
     .example = "reject",
     .notes = "See own-hostnames and own-addresses."},
    {.id = "helo-changed",
     .stage = Stage::helo,
     .default_action = "reject",
     .summary = "a second HELO/EHLO in the session names another host",
     .help = "Your mail server introduced itself (HELO/EHLO) twice in one session with two "
             "different names. A server keeps its name for the whole session; configure it to "
             "greet with one fully qualified domain name.",
     .reject = "550 5.7.1",
     .tempfail = "450 4.7.1",
     .text = helo_changed_text,
     .example = "log"},
};

CheckResult make_result(std::string_view rule, Outcome outcome, std::string detail) {
    return {std::string(check_name), std::string(rule), outcome, std::move(detail), {}};
}

std::string quoted(std::string_view helo) {
    return "'" + log_safe(helo, 100) + "'";
}

// The address a HELO argument spells, as a literal or bare. Address
// parsing stops at a NUL byte: such arguments are never addresses.
std::optional<IpAddress> spelled_address(std::string_view helo) {
    for (char c : helo)
        if (c <= 0x20 || c >= 0x7f)
            return std::nullopt;
    if (auto literal = parse_address_literal(helo))
        return literal->unmapped();
    if (!helo.empty() && helo.back() == '.')
        helo.remove_suffix(1);
    if (auto bare = IpAddress::parse(helo))
        return bare->unmapped();
    return std::nullopt;
}

// What two HELO arguments are compared as.
std::string canonical(std::string_view helo) {
    if (auto address = spelled_address(helo))
        return address->to_string();
    return normalize_host(helo);
}

bool is_own_address(const CheckContext &context, const IpAddress &address) {
    auto same = [&](const IpAddress &own) { return own.unmapped() == address; };
    return std::any_of(context.facts.own_addresses.begin(), context.facts.own_addresses.end(),
                       same) ||
           std::any_of(context.config.own_addresses.begin(), context.config.own_addresses.end(),
                       same);
}

bool is_own_hostname(const CheckContext &context, const std::string &name) {
    auto same = [&](const std::string &own) { return normalize_host(own) == name; };
    return std::any_of(context.facts.own_hostnames.begin(), context.facts.own_hostnames.end(),
                       same) ||
           std::any_of(context.config.own_hostnames.begin(), context.config.own_hostnames.end(),
                       same);
}

CheckResult claims_us(const CheckContext &context, const IpAddress &client) {
    const std::string &helo = context.facts.helo;
    if (auto address = spelled_address(helo)) {
        if (*address == client)
            return make_result("helo-claims-us", Outcome::pass,
                               "HELO " + quoted(helo) + " is the client's own address");
        if (is_own_address(context, *address))
            return make_result("helo-claims-us", Outcome::fail,
                               "HELO " + quoted(helo) + " claims our address " +
                                   address->to_string());
        return make_result("helo-claims-us", Outcome::pass,
                           "HELO " + quoted(helo) + " is not one of our addresses");
    }
    if (!is_own_hostname(context, normalize_host(helo)))
        return make_result("helo-claims-us", Outcome::pass,
                           "HELO " + quoted(helo) + " is not one of our host names");
    if (is_own_address(context, client))
        return make_result("helo-claims-us", Outcome::pass,
                           "HELO " + quoted(helo) + " is our name, and the client " +
                               client.to_string() + " is one of our addresses");
    return make_result("helo-claims-us", Outcome::fail,
                       "HELO " + quoted(helo) + " claims our host name");
}

CheckResult changed(const Facts &facts) {
    if (facts.helo_count <= 1)
        return make_result("helo-changed", Outcome::pass, "one HELO/EHLO in this session");
    if (canonical(facts.helo) == canonical(facts.first_helo))
        return make_result("helo-changed", Outcome::pass,
                           "repeated HELO/EHLO names the same host " + quoted(facts.helo));
    return make_result("helo-changed", Outcome::fail,
                       "sending system changed during session: HELO/EHLO " +
                           quoted(facts.first_helo) + " then " + quoted(facts.helo));
}

class HeloIdentityCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::helo; }
    std::span<const RuleSpec> rules() const override { return declared; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        const Facts &facts = context.facts;
        if (!context.identity.address)
            return {make_result("helo-claims-us", Outcome::skip, "no client IP address")};
        if (facts.helo.empty() && facts.helo_count == 0)
            return {make_result("helo-claims-us", Outcome::skip, "no HELO/EHLO yet")};
        return {claims_us(context, *context.identity.address), changed(facts)};
    }
};

} // namespace

const Check &helo_identity_check() {
    static const HeloIdentityCheck check;
    return check;
}

} // namespace portcullis
