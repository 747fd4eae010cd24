// Answers shared between the sessions of one runtime, in front of the
// real resolver, so that a client that connects again and again (the
// load that matters) costs one trip through libunbound's threads, not
// one per session (about 35 us of CPU per lookup, measured with
// bench/milter-load). A hit is answered on the caller's thread.
//
// An answer is kept for its TTL, at most `max_ttl`
// (resolver.cache-max-ttl): records for the smallest TTL among them,
// nxdomain and nodata for the negative-caching TTL of the zone's SOA
// (RFC 2308), as libunbound reports them. Errors (servfail, timeout,
// bogus) and answers with a TTL of 0 are never kept. The cache holds at
// most `max_entries` answers and `max_bytes` of them (names and record
// text, counted with a fixed overhead per entry and record); beyond
// either, the answer used longest ago goes first. An expired answer is
// dropped when it is met; one never asked for again waits for the bounds
// to push it out (no walk over the whole cache under its lock). An answer
// handed out keeps the TTL it arrived with. Owned by the Runtime; a
// reload brings a new, empty one. Thread-safe.
#pragma once

#include "core/dns.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace portcullis {

// The bounds of a SharedAnswers (resolver.cache-max-ttl, -entries, -size).
struct AnswerCacheLimits {
    std::chrono::seconds max_ttl{3600};
    std::size_t max_entries = 65536;
    std::size_t max_bytes = 32u << 20;
};

class SharedAnswers final : public Resolver, public std::enable_shared_from_this<SharedAnswers> {
  public:
    using Clock = std::chrono::steady_clock;
    using Limits = AnswerCacheLimits;
    // Bytes counted for an entry beyond its text, and for each record.
    static constexpr std::size_t entry_overhead = 128;
    static constexpr std::size_t record_overhead = 32;

    explicit SharedAnswers(std::shared_ptr<Resolver> resolver, Limits limits = {},
                           std::function<Clock::time_point()> now = Clock::now);

    void resolve(const std::string &name, DnsType type, Callback done) override;

    // What the cache holds now (for tests and metrics).
    std::size_t entries() const;
    std::size_t bytes() const;

    // The bytes an answer under `key` counts for.
    static std::size_t size_of(const std::string &key, const DnsAnswer &answer);

  private:
    struct Entry {
        DnsAnswer answer;
        Clock::time_point expires;
        std::size_t bytes = 0;
        std::list<std::string>::iterator use; // its place in uses_
    };

    std::optional<DnsAnswer> find(const std::string &key);
    void store(const std::string &key, const DnsAnswer &answer);
    void erase(std::unordered_map<std::string, Entry>::iterator it);

    std::shared_ptr<Resolver> resolver_;
    const Limits limits_;
    const std::function<Clock::time_point()> now_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
    std::list<std::string> uses_; // keys, used most recently first
    std::size_t bytes_ = 0;
};

} // namespace portcullis
