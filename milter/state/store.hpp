// Memory across sessions: the key-value store behind greylisting, the
// abuse counters and `portcullis db`. Two backends implement it: LMDB
// (embedded, the default) and Redis (shared by several MX hosts).
//
// Contract:
// - Every call returns within the store's timeout (LMDB is local and
//   answers at once; Redis calls carry a deadline) and reports its outcome;
//   no call throws for a fault of the backend.
// - Entries expire: `expires` is an absolute time; an entry whose expiry
//   has passed is never returned and is swept in the background.
// - Times come from the caller (`now`), so that tests and `portcullis
//   check` decide with a clock of their own.
// - Keys are 1-511 printable ASCII bytes (no space, no control byte);
//   values at most 64 KiB. Anything else is refused with Outcome::error.
// - Callable from any thread at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::state {

using Clock = std::chrono::system_clock;
using Time = Clock::time_point;

struct Outcome {
    enum class Status {
        ok,
        timeout,     // the backend did not answer within the timeout
        unavailable, // no connection, or the circuit breaker is open
        full,        // the store has no room (LMDB's map is full)
        error,       // anything else: a refused key, a corrupt entry, a protocol error
    };
    Status status = Status::ok;
    std::string why; // for the log; empty when ok

    bool ok() const { return status == Status::ok; }
    static Outcome failed(Status status, std::string why) { return {status, std::move(why)}; }
};

std::string_view to_string(Outcome::Status status);

struct Entry {
    std::string key;
    std::string value;
    Time expires;
};

struct Stats {
    std::uint64_t entries = 0;  // live and not yet swept
    std::uint64_t bytes = 0;    // used by the store, where the backend can tell
    std::uint64_t capacity = 0; // the most it can hold in bytes, 0 when unbounded
};

class Store {
  public:
    virtual ~Store() = default;

    // `value` is set when the key holds a live entry; left empty otherwise.
    virtual Outcome get(std::string_view key, Time now, std::optional<Entry> &value) = 0;
    virtual Outcome put(std::string_view key, std::string_view value, Time expires, Time now) = 0;
    // Stores the entry only if the key holds no live entry; `existing` then
    // receives the live one. Atomic across threads and, for Redis, hosts.
    virtual Outcome put_if_absent(std::string_view key, std::string_view value, Time expires,
                                  Time now, std::optional<Entry> &existing) = 0;
    virtual Outcome erase(std::string_view key) = 0;
    // A sliding-window counter: records one event at `now` (unless `count`
    // is false, which only reads), keeps the entry for `keep`, and returns
    // in `events` how many events lie in the window (now - window, now]:
    // an event exactly `window` old no longer counts. At most 1,000 events
    // are kept per key; older ones go first.
    virtual Outcome count_event(std::string_view key, Time now, std::chrono::milliseconds window,
                                std::chrono::milliseconds keep, bool count,
                                std::uint64_t &events) = 0;
    // Live entries whose key starts with `prefix`, in key order, at most `limit`.
    virtual Outcome list(std::string_view prefix, Time now, std::size_t limit,
                         std::vector<Entry> &entries) = 0;
    virtual Outcome stats(Time now, Stats &stats) = 0;
    // "lmdb /var/lib/portcullis" or "redis redis://127.0.0.1:6379/0", for logs.
    virtual std::string describe() const = 0;
};

// The checks a store's key and value must pass; an empty string when they do.
std::string key_problem(std::string_view key);
constexpr std::size_t max_key_bytes = 511;
constexpr std::size_t max_value_bytes = 64 * 1024;
constexpr std::size_t max_counted_events = 1000;

} // namespace portcullis::state
