// The deny-network check (connect): the client address is in the
// administrator's deny.network list (IPv4-mapped clients match IPv4
// networks). No DNS. An empty list is a skip.
#include "checks/check.hpp"

namespace portcullis {

namespace {

constexpr std::string_view deny_network_text[] = {
    "Client host ${client_addr} is not allowed to send mail here.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "deny-network",
     .stage = Stage::connect,
     .default_action = "reject",
     .summary = "the client address is in deny.network",
     .help = "The administrator of this server does not accept mail from your network. If "
             "you think that is a mistake, ask the postmaster of the recipient's domain "
             "(postmaster@ always gets through).",
     .text = deny_network_text,
     .example = "tempfail"},
};

class DenyNetworkCheck final : public Check {
  public:
    std::string_view name() const override { return "deny-network"; }
    Stage stage() const override { return Stage::connect; }
    std::span<const RuleSpec> rules() const override { return declared; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        auto one = [this](Outcome outcome, std::string detail) {
            return std::vector{result("deny-network", outcome, std::move(detail))};
        };
        if (!context.identity.address)
            return one(Outcome::skip, "no client IP address");
        if (context.config.deny_networks.empty())
            return one(Outcome::skip, "deny.network is empty");
        const IpAddress &client = *context.identity.address;
        for (const auto &network : context.config.deny_networks)
            if (network.contains(client))
                return one(Outcome::fail,
                           client.to_string() + " is in deny.network " + network.to_string());
        return one(Outcome::pass, client.to_string() + " is not in deny.network");
    }
};

} // namespace

const Check &deny_network_check() {
    static const DenyNetworkCheck check;
    return check;
}

} // namespace portcullis
