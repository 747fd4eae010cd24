#include "rule_table.hpp"

#include <array>

namespace portcullis {

namespace {
constexpr std::array rules = {
    RuleSpec{"rdns-missing", "reject", "the client address has no PTR record"},
    RuleSpec{"rdns-unconfirmed", "tempfail",
             "no PTR name of the client resolves back to its address"},
    RuleSpec{"rdns-generic", "log", "the PTR name looks like a dynamic or generic pool name"},
    RuleSpec{"helo-syntax", "reject", "the HELO/EHLO argument is not a valid host name"},
    RuleSpec{"helo-not-fqdn", "reject", "the HELO/EHLO name is not fully qualified"},
    RuleSpec{"helo-bare-ip", "reject", "the HELO/EHLO argument is an IP address without brackets"},
    RuleSpec{"helo-literal-mismatch", "reject",
             "the HELO/EHLO address literal is not the client's address"},
    RuleSpec{"helo-claims-us", "reject", "the HELO/EHLO names this server or one of its addresses"},
    RuleSpec{"helo-changed", "reject", "a second HELO/EHLO in the session names another host"},
    RuleSpec{"helo-unresolvable", "log",
             "the HELO/EHLO name has no A/AAAA records (or only a CNAME)"},
    RuleSpec{"helo-address-mismatch", "log",
             "the HELO/EHLO name resolves, but neither to the client nor to its PTR name"},
    RuleSpec{"dnsbl-listed", "reject", "the DNSBL/DNSWL weights reach dnsbl.threshold"},
    RuleSpec{"deny-network", "reject", "the client address is in deny.network"},
    RuleSpec{"deny-sender", "reject", "the envelope sender is in deny.sender"},
    RuleSpec{"sender-domain-missing", "reject",
             "the domain of the envelope sender has no MX, A or AAAA record"},
    RuleSpec{"sender-null-mx", "reject",
             "the domain of the envelope sender publishes a null MX (RFC 7505)"},
    RuleSpec{"spf-fail", "reject", "SPF of the MAIL FROM identity gives fail"},
    RuleSpec{"spf-softfail", "log", "SPF of the MAIL FROM identity gives softfail"},
    RuleSpec{"spf-temperror", "tempfail",
             "SPF of the MAIL FROM identity gives temperror (a DNS error)", true},
    RuleSpec{"spf-permerror", "reject",
             "SPF of the MAIL FROM identity gives permerror (a broken SPF record)"},
    RuleSpec{"spf-helo-fail", "reject", "SPF of the HELO/EHLO identity gives fail"},
    RuleSpec{"spf-helo-softfail", "log", "SPF of the HELO/EHLO identity gives softfail"},
    RuleSpec{"spf-helo-temperror", "tempfail",
             "SPF of the HELO/EHLO identity gives temperror (a DNS error)", true},
    RuleSpec{"spf-helo-permerror", "log",
             "SPF of the HELO/EHLO identity gives permerror (a broken SPF record)"},
    RuleSpec{"rhsbl-listed", "reject",
             "the RHSBL weights of the sender domain, HELO name and client name reach rhsbl.threshold"},
};
} // namespace

std::span<const RuleSpec> rule_table() { return rules; }

const RuleSpec *find_rule(std::string_view id) {
    for (const auto &rule : rules)
        if (rule.id == id)
            return &rule;
    return nullptr;
}

} // namespace portcullis
