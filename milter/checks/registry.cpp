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
const Check &deny_sender_check();

std::span<const Check *const> all_checks() {
    static const std::array<const Check *, 8> checks = {
        &deny_network_check(), &reverse_dns_check(),   &generic_rdns_check(), &dnsbl_check(),
        &helo_syntax_check(),  &helo_identity_check(), &helo_dns_check(),     &deny_sender_check(),
    };
    return checks;
}

} // namespace portcullis
