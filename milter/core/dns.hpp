// The resolver interface every check talks to. One implementation runs
// over libunbound (milter/resolver/); tests use a scripted one. Contract:
// resolve() never blocks, and calls `done` exactly once, from any thread,
// for every outcome (answer, NXDOMAIN, SERVFAIL, bogus, timeout, shutdown).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

enum class DnsType : std::uint16_t { A = 1, CNAME = 5, PTR = 12, MX = 15, TXT = 16, AAAA = 28 };

std::string_view to_string(DnsType type);

struct DnsAnswer {
    enum class Status {
        ok,       // records present (may still be empty after filtering)
        nxdomain, // the name does not exist
        nodata,   // the name exists, no records of this type
        servfail, // server failure, refusal, malformed RDATA: a DNS error
        timeout,  // no answer within the per-lookup timeout: a DNS error
        bogus,    // DNSSEC validation failed: a DNS error, never a negative
    };
    Status status = Status::servfail;
    // Textual RDATA: addresses in canonical text, names lower-case without
    // the trailing dot, TXT strings of one record concatenated, MX as
    // "PREFERENCE NAME".
    std::vector<std::string> records;
    // Set when the answer was reached through a CNAME (the final owner name).
    std::string canonical_name;
    bool secure = false;
    std::string why; // the reason of an error, for the log
    // How long the answer may be kept, in seconds: the smallest TTL of its
    // records (and of the CNAMEs on the way), for nxdomain and nodata the
    // negative-caching TTL the zone's SOA gives (RFC 2308), 0 for errors.
    // An answer from libunbound's cache carries what is left of it there;
    // the answers shared between sessions keep the TTL they arrived with.
    std::uint32_t ttl = 0;

    bool is_error() const {
        return status == Status::servfail || status == Status::timeout || status == Status::bogus;
    }
    bool is_negative() const { return status == Status::nxdomain || status == Status::nodata; }
    bool has_records() const { return status == Status::ok && !records.empty(); }
    bool via_cname() const { return !canonical_name.empty(); }
};

std::string_view to_string(DnsAnswer::Status status);

class Resolver {
  public:
    using Callback = std::function<void(DnsAnswer)>;
    virtual ~Resolver() = default;
    virtual void resolve(const std::string &name, DnsType type, Callback done) = 0;
};

} // namespace portcullis
