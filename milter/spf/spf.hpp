// SPF (RFC 7208): check_host() over the project's resolver interface,
// for the MAIL FROM and HELO checks and the CLI. Contract:
// - spf_check_host() never blocks. It asks for DNS answers through a
//   session's Lookups (cached, each name and type asked once) and calls
//   `done` exactly once with the result: before it returns when every
//   answer is already at hand, else later on the thread that delivered
//   the last answer it needed. If the Lookups object is destroyed first
//   (the session went away), `done` is never called.
// - Lookups that do not depend on each other are in flight together
//   (the TXT records of several include: targets, the A records of all MX
//   hosts, ...), but results and counts are those of the sequential
//   left-to-right evaluation of the RFC: 10 DNS-querying terms, 2 void
//   lookups, 10 MX names per mx, the first 10 PTR names.
// - A DNS error (SERVFAIL, timeout, bogus) where the RFC needs an answer
//   gives temperror; the caller bounds the whole evaluation in time.
// - The explanation (fail only) is printable ASCII (0x20-0x7e), at most
//   spf_max_explanation bytes; it may hold '%' and words from DNS, so a reply
//   built from it must still be escaped for the MTA.
#pragma once

#include "core/address.hpp"
#include "core/dns.hpp"
#include "core/lookups.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis {

struct SpfResult {
    enum class Code { none, neutral, pass, fail, softfail, temperror, permerror };
    Code result = Code::none;
    std::string explanation;   // fail only: exp= text or the default explanation
    std::string mechanism;     // the term that decided, as written ("-all"); "" for a default
    unsigned dns_lookups = 0;  // DNS-querying terms evaluated (RFC 7208 §4.6.4)
    unsigned void_lookups = 0; // of those, answers with no records or NXDOMAIN
    std::string problem;       // why none, permerror or temperror; printable ASCII
    // A DNS error RFC 7208 section 5.5 makes the evaluation pass over (the
    // PTR lookup of ptr or %{p}, the address lookup of one of the names):
    // had DNS answered, the result might have been another. Empty when
    // none; printable ASCII.
    std::string skipped_error;
};

std::string_view to_string(SpfResult::Code code);

// The inputs of check_host() (RFC 7208 §4.1). Build them with
// spf_mail_from_request() or spf_helo_request().
struct SpfRequest {
    IpAddress client;     // an IPv4-mapped IPv6 address counts as IPv4
    std::string sender;   // local-part@domain; postmaster@<HELO> for the null sender
    std::string helo;     // for %{h}
    std::string domain;   // the <domain> where evaluation starts
    std::string receiver; // this host's name, for %{r}
};

// No defaults for the first two: the daemon's come from the configuration
// (spf.default-explanation, spf.void-lookup-limit), whose option table is
// the one place they are written; tests state their own.
struct SpfOptions {
    // Used when a fail has no usable exp= text; a macro string with the
    // explanation letters ("%{c}", ...), or literal text if it is not one.
    std::string default_explanation;
    // RFC 7208 §4.6.4 recommends 2 and allows making it configurable.
    unsigned max_void_lookups = 0;
    // %{t}; unset means the current time.
    std::optional<std::int64_t> timestamp;
    // Start the lookups of later terms while earlier ones are answered.
    // Never changes a result; off only to compare against in tests.
    bool prefetch = true;
};

inline constexpr unsigned spf_max_dns_lookups = 10;
inline constexpr std::size_t spf_max_explanation = 512;

// The MAIL FROM identity (RFC 7208 §2.4): `mail_from` with or without
// angle brackets; the null sender ("" or "<>") becomes postmaster@<helo>
// with the HELO name as domain, and a missing local-part "postmaster".
SpfRequest spf_mail_from_request(const IpAddress &client, std::string_view mail_from,
                                 std::string_view helo, std::string_view receiver = {});
// The HELO identity (RFC 7208 §2.3): postmaster@<helo>.
SpfRequest spf_helo_request(const IpAddress &client, std::string_view helo,
                            std::string_view receiver = {});

using SpfDone = std::function<void(SpfResult)>;

void spf_check_host(const std::shared_ptr<Lookups> &lookups, SpfRequest request, SpfOptions options,
                    SpfDone done);
// With lookups of its own over `resolver`; they live until `done` ran.
void spf_check_host(std::shared_ptr<Resolver> resolver, SpfRequest request, SpfOptions options,
                    SpfDone done);

// For the CLI and tests: waits for the result at most `budget`, then
// returns temperror ("no result within ...").
SpfResult spf_check_host_blocking(std::shared_ptr<Resolver> resolver, SpfRequest request,
                                  SpfOptions options, std::chrono::milliseconds budget);

} // namespace portcullis
