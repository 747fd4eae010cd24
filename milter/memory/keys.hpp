// The keys greylisting, the abuse counters and `portcullis db` keep in
// the state store (milter/state/), in one place so that the daemon, the
// command line and a second MX host sharing a Redis server read the same
// entries. Every key is printable ASCII without spaces (the store's rule):
//
//   grey:ORIGIN|SENDER|RECIPIENT  a triplet seen and not yet passed; value
//                                 the first try, milliseconds since the epoch;
//                                 lives greylist.retry-window from that try
//   pass:ORIGIN                   a passed retry; value "MS TRIPLET-KEY" (when
//                                 and which triplet passed);
//                                 lives greylist.allow-time, renewed by mail
//   allowlist                     `portcullis db allow`: lines "NETWORK MS",
//                                 each network with its own expiry
//   count:COUNTER:ADDRESS         a sliding-window counter (Store::count_event)
//   block:ADDRESS                 a blocked client; value "RULE COUNT MS" (the
//                                 rule, the count that passed its limit, since)
//
// ORIGIN is the client's network at greylist.prefix-v4/-v6 ("192.0.2.0/24",
// "2001:db8:1::/64"), or "d:" and the organisational domain (public suffix
// list, libpsl) of the client's forward-confirmed, non-generic PTR name or,
// without one, of the domain of an SPF pass: a provider that retries from
// another address of its pool keeps its origin. SENDER and RECIPIENT are
// lower-cased, with every byte outside [A-Za-z0-9.@_+=-] written %XX; one
// whose encoded form is over 200 bytes is "#" and 16 hex digits of its
// FNV-1a 64 hash (stable across hosts). The null sender is empty.
// ADDRESS is the unmapped client address as IpAddress::to_string() prints it.
#pragma once

#include "core/address.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace portcullis::memory {

enum class Counter { rejected_recipients, rsets, empty_transactions, unknown_commands, errors };
constexpr Counter all_counters[] = {Counter::rejected_recipients, Counter::rsets,
                                    Counter::empty_transactions, Counter::unknown_commands,
                                    Counter::errors};
// "rejected-recipients", "rsets", ... as in limits.<name> and the keys.
std::string_view to_string(Counter counter);
std::optional<Counter> parse_counter(std::string_view text);

inline constexpr std::string_view allowlist_key = "allowlist";
inline constexpr std::string_view triplet_prefix = "grey:";
inline constexpr std::string_view pass_prefix = "pass:";
inline constexpr std::string_view count_prefix = "count:";
inline constexpr std::string_view block_prefix = "block:";

// An envelope address as a key part (see above).
std::string encode_address(std::string_view address);

// The origin of a client network: "192.0.2.0/24".
std::string network_origin(const IpAddress &client, unsigned prefix_v4, unsigned prefix_v6);
// The organisational domain of a host or domain name ("mail-7.out.example.co.uk" ->
// "example.co.uk"), lower-case; nullopt for a name that is a public suffix
// itself or not a domain name.
std::optional<std::string> organisational_domain(std::string_view name);
// The origin of a pool domain: "d:example.co.uk".
std::string domain_origin(std::string_view organisational_domain);

std::string triplet_key(std::string_view origin, std::string_view sender,
                        std::string_view recipient);
std::string pass_key(std::string_view origin);
std::string count_key(Counter counter, const IpAddress &client);
std::string block_key(const IpAddress &client);

// Milliseconds since the epoch as the values hold them, and back (up to
// 9e12, in year 2255: the system clock's nanoseconds end in 2262;
// anything else is nullopt).
std::string format_ms(long long ms);
std::optional<long long> parse_ms(std::string_view text);

} // namespace portcullis::memory
