// The administrator's own deny lists, no DNS. deny-network (connect):
// the client address is in deny.network (IPv4-mapped clients match IPv4
// networks). deny-sender (mail): the envelope sender matches deny.sender,
// whose entries are lower-case "user@domain" (that address),
// "@domain" (that domain exactly) or "domain" (that domain and its
// subdomains); senders compare case-insensitively, the null sender
// never matches. An empty list is a skip.
#include "checks/check.hpp"
#include "core/log.hpp"

namespace portcullis {

namespace {

CheckResult make_result(std::string_view check, std::string_view rule, Outcome outcome,
                        std::string detail) {
    CheckResult result;
    result.check = std::string(check);
    result.rule = std::string(rule);
    result.outcome = outcome;
    result.detail = std::move(detail);
    return result;
}

bool ends_with_subdomain(std::string_view domain, std::string_view parent) {
    return domain.size() > parent.size() + 1 &&
           domain.substr(domain.size() - parent.size()) == parent &&
           domain[domain.size() - parent.size() - 1] == '.';
}

bool sender_matches(const std::string &address, const std::string &domain, std::string_view entry) {
    if (entry.empty() || domain.empty())
        return entry.find('@') != std::string_view::npos && entry.front() != '@' &&
               address == entry;
    if (entry.front() == '@')
        return domain == normalize_host(entry.substr(1));
    if (entry.find('@') != std::string_view::npos)
        return address == entry;
    const auto parent = normalize_host(entry);
    return domain == parent || ends_with_subdomain(domain, parent);
}

class DenyNetworkCheck final : public Check {
  public:
    std::string_view name() const override { return "deny-network"; }
    Stage stage() const override { return Stage::connect; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        auto result = [](Outcome outcome, std::string detail) {
            return std::vector{
                make_result("deny-network", "deny-network", outcome, std::move(detail))};
        };
        if (!context.facts.client)
            return result(Outcome::skip, "no client IP address");
        if (context.config.deny_networks.empty())
            return result(Outcome::skip, "deny.network is empty");
        const IpAddress client = context.facts.client->unmapped();
        for (const auto &network : context.config.deny_networks)
            if (network.contains(client))
                return result(Outcome::fail,
                              client.to_string() + " is in deny.network " + network.to_string());
        return result(Outcome::pass, client.to_string() + " is not in deny.network");
    }
};

class DenySenderCheck final : public Check {
  public:
    std::string_view name() const override { return "deny-sender"; }
    Stage stage() const override { return Stage::mail; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        auto result = [](Outcome outcome, std::string detail) {
            return std::vector{
                make_result("deny-sender", "deny-sender", outcome, std::move(detail))};
        };
        const Facts &facts = context.facts;
        if (!facts.sender_seen)
            return result(Outcome::skip, "no MAIL FROM yet");
        if (context.config.deny_senders.empty())
            return result(Outcome::skip, "deny.sender is empty");
        if (facts.sender.empty())
            return result(Outcome::pass, "the null sender is never denied");
        const std::string address = to_lower(facts.sender);
        const auto at = address.rfind('@');
        const std::string domain =
            at == std::string::npos ? std::string() : normalize_host(address.substr(at + 1));
        const std::string shown = "'" + log_safe(facts.sender, 100) + "'";
        for (const auto &entry : context.config.deny_senders)
            if (sender_matches(address, domain, to_lower(entry)))
                return result(Outcome::fail,
                              "sender " + shown + " matches deny.sender " + log_safe(entry, 100));
        return result(Outcome::pass, "sender " + shown + " is not in deny.sender");
    }
};

} // namespace

const Check &deny_network_check() {
    static const DenyNetworkCheck check;
    return check;
}

const Check &deny_sender_check() {
    static const DenySenderCheck check;
    return check;
}

} // namespace portcullis
