// The helo-syntax check: the form of the HELO/EHLO argument, no DNS.
// Rules: helo-syntax (not a valid host name, or an address literal that
// does not parse), helo-not-fqdn (a single label), helo-bare-ip (an
// address without brackets), helo-literal-mismatch (an address literal
// that is not the client's address; the client's own literal passes, as
// RFC 5321 allows it). One result per rule that applies to the form of
// the argument; a trailing dot is tolerated. Clients without an IP
// address (local submission) are skipped.
#include "checks/check.hpp"
#include "checks/reverse_dns.hpp"
#include "core/log.hpp"

namespace portcullis {

namespace {

constexpr std::string_view check_name = "helo-syntax";

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

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        const Facts &facts = context.facts;
        if (!facts.client)
            return {make_result("helo-syntax", Outcome::skip, "no client IP address")};
        if (facts.helo.empty() && facts.helo_count == 0)
            return {make_result("helo-syntax", Outcome::skip, "no HELO/EHLO yet")};
        if (facts.helo.empty())
            return {make_result("helo-syntax", Outcome::fail, "empty HELO/EHLO argument")};
        if (facts.helo.front() == '[')
            return check_literal(facts.helo, facts.client->unmapped());
        return check_name_form(facts.helo);
    }
};

} // namespace

const Check &helo_syntax_check() {
    static const HeloSyntaxCheck check;
    return check;
}

} // namespace portcullis
