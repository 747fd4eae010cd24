// `portcullis spf`: evaluates SPF (RFC 7208) for one MAIL FROM identity
// with the configured resolver, as the milter's spf-mail-from check would,
// and prints the result with what it cost: the mechanism that matched,
// the explanation, the problem, and the DNS and void lookups spent.
// --json prints one object with keys result, explanation, mechanism,
// problem, dns_lookups, void_lookups, identity, domain, sender, client.
#pragma once

namespace portcullis {

int spf_command(int argc, char **argv);

} // namespace portcullis
