// The DNS lookups of one SMTP session. Checks start what they need as
// soon as the facts are known (PTR and DNSBLs at connect, A/AAAA of the
// PTR names when the PTR answers, the HELO name at HELO); nothing waits
// until the recipient stage, which calls wait_until() once. Each (name,
// type) is asked once per session. Thread-safe: completions arrive from
// the resolver's thread while the session's callbacks run on libmilter's.
#pragma once

#include "dns.hpp"

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace portcullis {

class Lookups : public std::enable_shared_from_this<Lookups> {
  public:
    using Clock = std::chrono::steady_clock;
    using Continuation = std::function<void(const DnsAnswer &)>;
    // Called once per failed lookup (to log DNS and list errors once).
    using ErrorSink = std::function<void(const std::string &name, DnsType, const DnsAnswer &)>;

    static std::shared_ptr<Lookups> create(std::shared_ptr<Resolver> resolver,
                                           ErrorSink on_error = {});

    // Starts the lookup unless it was started before. `then` runs once
    // when the answer is in (immediately if it already is), on whichever
    // thread completes it; it may start further lookups.
    void start(const std::string &name, DnsType type, Continuation then = {});

    // The answer if complete. A lookup never started, or still pending
    // after wait_until() gave up, reads as a timeout. The reference stays
    // valid while this Lookups lives: a completed answer is never changed
    // nor erased (the timeouts are static).
    const DnsAnswer &get(const std::string &name, DnsType type) const;
    bool complete(const std::string &name, DnsType type) const;

    // Waits until every started lookup (including those started by
    // continuations) is complete, or the deadline passes. Returns true if
    // all completed.
    bool wait_until(Clock::time_point deadline);

    std::size_t started() const;

  private:
    explicit Lookups(std::shared_ptr<Resolver> resolver, ErrorSink on_error);
    struct Entry;
    void finish(Entry &entry, DnsAnswer answer);
    static std::string key_of(const std::string &name, DnsType type);
    // key_of() into `buffer` when it fits, without allocating.
    static std::string_view key_view(const std::string &name, DnsType type, char *buffer,
                                     std::size_t size, std::string &fallback);

    struct Entry {
        std::optional<DnsAnswer> answer;
        std::vector<Continuation> waiting;
        std::string name;
        DnsType type{};
    };

    std::shared_ptr<Resolver> resolver_;
    ErrorSink on_error_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, Entry, std::less<>> entries_;
    std::size_t pending_ = 0;
};

} // namespace portcullis
