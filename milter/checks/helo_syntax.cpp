// The helo-syntax check: the form of the HELO/EHLO argument, no DNS.
// Rules: helo-syntax (not a valid host name, or an address literal that
// does not parse), helo-not-fqdn (a single label), helo-bare-ip (an
// address without brackets), helo-literal-mismatch (an address literal
// that is not the client's address; the client's own literal passes, as
// RFC 5321 allows it). One result per rule that applies to the form of
// the argument; a trailing dot is tolerated. Clients without an IP
// address (local submission) are skipped.
#include "checks/check.hpp"
#include "core/host_name.hpp"
#include "core/log.hpp"

namespace portcullis {

namespace {

constexpr std::string_view check_name = "helo-syntax";

constexpr std::string_view helo_syntax_text[] = {
    "HELO/EHLO argument \"${helo}\" is not a valid host name (RFC 5321 section 4.1.1.1): "
    "${detail}.",
    "Use this host's fully qualified domain name (letters, digits, hyphens and dots only).",
    "See ${url}",
};
constexpr std::string_view helo_not_fqdn_text[] = {
    "HELO/EHLO name \"${helo}\" is not fully qualified.",
    "Use this host's fully qualified domain name, or its address literal such as "
    "[${client_addr}].",
    "See ${url}",
};
constexpr std::string_view helo_bare_ip_text[] = {
    "HELO/EHLO argument \"${helo}\" is an IP address without brackets.",
    "An address must be written as a literal, such as [${client_addr}] (RFC 5321 section "
    "4.1.3).",
    "See ${url}",
};
constexpr std::string_view helo_literal_mismatch_text[] = {
    "HELO/EHLO address literal ${helo} is not the address this client connects from "
    "(${client_addr}).",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "helo-syntax",
     .stage = Stage::helo,
     .default_action = "reject",
     .summary = "the HELO/EHLO argument is not a valid host name",
     .help = "Your mail server introduced itself (HELO/EHLO) with something that is not a "
             "valid host name: only letters, digits, hyphens and dots are allowed, no "
             "underscores or spaces. Configure the server to greet with its fully qualified "
             "domain name, the one its reverse DNS names.",
     .reject = "550 5.5.2",
     .tempfail = "450 4.5.2",
     .text = helo_syntax_text,
     .example = "reject"},
    {.id = "helo-not-fqdn",
     .stage = Stage::helo,
     .default_action = "reject",
     .summary = "the HELO/EHLO name is not fully qualified",
     .help = "Your mail server introduced itself (HELO/EHLO) with a bare host name such as "
             "\"desktop\". RFC 5321 asks for a fully qualified domain name, such as "
             "mail.example.com, or an address literal such as [192.0.2.1]. Configure the "
             "server's host name accordingly.",
     .reject = "550 5.5.2",
     .tempfail = "450 4.5.2",
     .text = helo_not_fqdn_text,
     .example = "score:3",
     .notes = "For example desktop."},
    {.id = "helo-bare-ip",
     .stage = Stage::helo,
     .default_action = "reject",
     .summary = "the HELO/EHLO argument is an IP address without brackets",
     .help = "Your mail server introduced itself (HELO/EHLO) with a bare IP address. An "
             "address must be written as a literal in brackets, such as [192.0.2.1] (RFC 5321 "
             "section 4.1.3); better, greet with the server's fully qualified domain name.",
     .reject = "550 5.5.2",
     .tempfail = "450 4.5.2",
     .text = helo_bare_ip_text,
     .example = "log",
     .notes = "RFC 5321 asks for an address literal such as [192.0.2.1]."},
    {.id = "helo-literal-mismatch",
     .stage = Stage::helo,
     .default_action = "reject",
     .summary = "the HELO/EHLO address literal is not the client's address",
     .help = "Your mail server introduced itself (HELO/EHLO) with an address literal that is "
             "not the address it connects from. Greet with your own address literal or, "
             "better, with the server's fully qualified domain name.",
     .reject = "550 5.7.1",
     .tempfail = "450 4.7.1",
     .text = helo_literal_mismatch_text,
     .example = "tempfail"},
};

CheckResult make_result(std::string_view rule, Outcome outcome, std::string detail) {
    return {std::string(check_name), std::string(rule), outcome, std::move(detail), {}};
}

std::string quoted(std::string_view helo) {
    return "'" + log_safe(helo, 100) + "'";
}

// Address parsing stops at a NUL byte: such arguments are never addresses.
bool printable_ascii(std::string_view text) {
    for (char c : text)
        if (c <= 0x20 || c >= 0x7f)
            return false;
    return true;
}

std::vector<CheckResult> check_literal(std::string_view helo, const IpAddress &client) {
    const auto literal =
        printable_ascii(helo) ? parse_address_literal(helo) : std::optional<IpAddress>();
    if (!literal)
        return {make_result("helo-syntax", Outcome::fail,
                            "HELO " + quoted(helo) + " is an address literal that does not parse")};
    std::vector<CheckResult> results{make_result(
        "helo-syntax", Outcome::pass, "HELO " + quoted(helo) + " is an address literal")};
    if (literal->unmapped() == client)
        results.push_back(make_result("helo-literal-mismatch", Outcome::pass,
                                      "HELO literal is the client address " + client.to_string()));
    else
        results.push_back(make_result("helo-literal-mismatch", Outcome::fail,
                                      "HELO literal " + literal->to_string() +
                                          " is not the client address " + client.to_string()));
    return results;
}

std::vector<CheckResult> check_name_form(std::string_view helo) {
    std::string_view name = helo;
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    if (printable_ascii(name) && IpAddress::parse(name))
        return {make_result("helo-bare-ip", Outcome::fail,
                            "HELO " + quoted(helo) + " is an IP address without brackets")};
    std::vector<CheckResult> results;
    if (const auto problem = host_name_problem(helo); !problem.empty())
        results.push_back(
            make_result("helo-syntax", Outcome::fail,
                        "HELO " + quoted(helo) + " is not a valid host name: " + problem));
    else
        results.push_back(make_result("helo-syntax", Outcome::pass,
                                      "HELO " + quoted(helo) + " is a valid host name"));
    if (name.find('.') == std::string_view::npos)
        results.push_back(make_result("helo-not-fqdn", Outcome::fail,
                                      "HELO " + quoted(helo) + " is not fully qualified"));
    else
        results.push_back(make_result("helo-not-fqdn", Outcome::pass,
                                      "HELO " + quoted(helo) + " is fully qualified"));
    return results;
}

class HeloSyntaxCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::helo; }
    std::span<const RuleSpec> rules() const override { return declared; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        const Facts &facts = context.facts;
        if (!context.identity.address)
            return {make_result("helo-syntax", Outcome::skip, "no client IP address")};
        if (facts.helo.empty() && facts.helo_count == 0)
            return {make_result("helo-syntax", Outcome::skip, "no HELO/EHLO yet")};
        if (facts.helo.empty())
            return {make_result("helo-syntax", Outcome::fail, "empty HELO/EHLO argument")};
        if (facts.helo.front() == '[')
            return check_literal(facts.helo, *context.identity.address);
        return check_name_form(facts.helo);
    }
};

} // namespace

const Check &helo_syntax_check() {
    static const HeloSyntaxCheck check;
    return check;
}

} // namespace portcullis
