// Reverse DNS of the client, for the reverse-dns check and for everyone
// who needs the client's confirmed names (the HELO checks, allow.hostname
// in the session). Contract: prefetch_reverse_dns() starts the PTR lookup
// and, when it answers, A (IPv4 client) or AAAA (IPv6 client) of the
// first rdns.max-names usable PTR names; everything else here only reads
// completed lookups. An IPv4-mapped IPv6 client is treated as IPv4.
#pragma once

#include "checks/check.hpp"
#include "core/host_name.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

// The PTR names worth confirming from a PTR answer: usable host names,
// lower-case, without duplicates, at most `max_names` of them, in answer
// order.
std::vector<std::string> ptr_names_to_confirm(const DnsAnswer &ptr, unsigned max_names);

// Starts the PTR lookup of the client and the forward lookups of its
// names. Safe to call more than once per session (lookups are shared).
void prefetch_reverse_dns(const CheckContext &context);

// PTR names of the client whose A/AAAA records contain the client
// address, lower-case. Empty when there is no client or no such name.
std::vector<std::string> verified_ptr_names(const CheckContext &context);

} // namespace portcullis
