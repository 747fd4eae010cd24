// The table of checks, in evaluation order: connect, helo, mail. Each
// check lives in its own file and is reached through its accessor.
#include "checks/check.hpp"

#include <array>

namespace portcullis {

const Check &deny_network_check();
const Check &reverse_dns_check();
const Check &generic_rdns_check();
const Check &dnsbl_check();
const Check &helo_syntax_check();
const Check &helo_identity_check();
const Check &helo_dns_check();
const Check &spf_helo_check();
const Check &deny_sender_check();
const Check &sender_domain_check();
const Check &spf_mail_from_check();
const Check &rhsbl_check();

std::span<const Check *const> all_checks() {
    // Within a stage the first rejecting rule decides: a missing sender
    // domain is named before SPF's view of it.
    static const std::array<const Check *, 12> checks = {
        &deny_network_check(),  &reverse_dns_check(),   &generic_rdns_check(),
        &dnsbl_check(),         &helo_syntax_check(),   &helo_identity_check(),
        &helo_dns_check(),      &spf_helo_check(),      &deny_sender_check(),
        &sender_domain_check(), &spf_mail_from_check(), &rhsbl_check(),
    };
    return checks;
}

} // namespace portcullis
