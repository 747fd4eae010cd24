// The helo-localhost check: the HELO/EHLO argument is "localhost" or
// "localhost.localdomain" (any case, a trailing dot tolerated), a common
// signature of bots and badly configured hosts: no real server outside
// this host is called that. A client that really connects from a
// loopback address passes; clients without an IP address are skipped.
// No DNS. Rule: helo-localhost.
#include "checks/check.hpp"
#include "core/log.hpp"

namespace portcullis {

namespace {

constexpr std::string_view helo_localhost_text[] = {
    "HELO/EHLO name \"${helo}\" names the local host, not this client ${client_addr}.",
    "Use this host's fully qualified domain name, the one its reverse DNS names.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "helo-localhost",
     .stage = Stage::helo,
     .default_action = "reject",
     .summary = "the HELO/EHLO name is localhost or localhost.localdomain",
     .help = "Your mail server introduced itself (HELO/EHLO) as \"localhost\", a name every "
             "host gives itself and no mail server on the Internet is known by. Configure the "
             "server to greet with its fully qualified domain name, the one its reverse DNS "
             "names.",
     .reject = "550 5.5.2",
     .tempfail = "450 4.5.2",
     .text = helo_localhost_text,
     .example = "score:3",
     .notes = "A client that connects from a loopback address passes."},
};

bool is_loopback(const IpAddress &address) {
    static const auto v4 = *Network::parse("127.0.0.0/8");
    static const auto v6 = *Network::parse("::1/128");
    return v4.contains(address) || v6.contains(address);
}

class HeloLocalhostCheck final : public Check {
  public:
    std::string_view name() const override { return "helo-localhost"; }
    Stage stage() const override { return Stage::helo; }
    std::span<const RuleSpec> rules() const override { return declared; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        const auto &identity = context.identity;
        if (!identity.address)
            return {result("helo-localhost", Outcome::skip, "no client IP address")};
        if (identity.helo_form == HeloForm::missing)
            return {result("helo-localhost", Outcome::skip, "no HELO/EHLO yet")};
        const std::string shown = "'" + log_safe(context.facts.helo, 100) + "'";
        if (identity.helo_name != "localhost" && identity.helo_name != "localhost.localdomain")
            return {result("helo-localhost", Outcome::pass, "HELO " + shown + " is not localhost")};
        if (is_loopback(*identity.address))
            return {result("helo-localhost", Outcome::pass,
                           "HELO " + shown + " from the loopback address " +
                               identity.address->to_string())};
        return {result("helo-localhost", Outcome::fail,
                       "HELO " + shown + " names the local host, but the client is " +
                           identity.address->to_string())};
    }
};

} // namespace

const Check &helo_localhost_check() {
    static const HeloLocalhostCheck check;
    return check;
}

} // namespace portcullis
