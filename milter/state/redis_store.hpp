// The Redis backend of the state store (store.hpp): state shared by
// several MX hosts on one Redis server.
//
// Layout: the entry of key K is the hash `portcullis:K` with the fields
// `v` (the value) and `e` (the expiry, milliseconds since the epoch of
// the caller's clock). A counter (count_event) is such an entry whose
// value is its event times, oldest first, in milliseconds, comma-separated.
// Times are kept to the millisecond.
//
// Expiry: the caller's `now` compared with `e` decides whether an entry
// is live; the Redis TTL (expires - now plus a minute, measured on the
// caller's clock) only lets Redis sweep it, so clocks that differ between
// the hosts and Redis change nothing.
//
// Atomicity: put, put_if_absent and count_event are Lua scripts (EVALSHA,
// EVAL when the server has forgotten them), atomic across hosts.
//
// Failures: every call carries a deadline of `timeout` (connecting, waiting
// for a free connection of the pool, sending, reading); a host name in the
// URL is resolved by the system resolver, outside that deadline, so an
// address is the stricter choice. An unreachable server is not an error at
// creation: calls report unavailable or timeout, and the store recovers by
// itself when the server returns. After `breaker_failures` consecutive
// calls that failed on the server, calls are refused at once for
// `breaker_interval`, then one trial call goes through.
//
// Data read from Redis is hostile: an entry of the wrong type or with the
// wrong fields is Outcome::error, naming the key.
#pragma once

#include "state/circuit_breaker.hpp"
#include "state/redis_connection.hpp"
#include "state/redis_url.hpp"
#include "state/store.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace portcullis::state {

using namespace std::chrono_literals;

struct RedisSettings {
    std::string url = "redis://127.0.0.1:6379/0";
    std::chrono::milliseconds timeout = 250ms;
    unsigned pool_size = 4;
    unsigned breaker_failures = 3;
    std::chrono::milliseconds breaker_interval = 10s;
};

class RedisStore final : public Store {
  public:
    // nullptr with the reason in `error` for a bad URL or a setting out of
    // range (a zero timeout, pool size, breaker count or interval).
    static std::unique_ptr<RedisStore> create(const RedisSettings &settings, std::string &error);

    Outcome get(std::string_view key, Time now, std::optional<Entry> &value) override;
    Outcome put(std::string_view key, std::string_view value, Time expires, Time now) override;
    Outcome put_if_absent(std::string_view key, std::string_view value, Time expires, Time now,
                          std::optional<Entry> &existing) override;
    Outcome erase(std::string_view key) override;
    Outcome count_event(std::string_view key, Time now, std::chrono::milliseconds window,
                        std::chrono::milliseconds keep, bool count, std::uint64_t &events) override;
    // Scans the keys under `portcullis:` + prefix (SCAN MATCH), so its cost
    // grows with the number of matching keys, whatever the limit.
    Outcome list(std::string_view prefix, Time now, std::size_t limit,
                 std::vector<Entry> &entries) override;
    // entries: the keys under `portcullis:` counted with SCAN (expired ones
    // Redis has not swept yet included); bytes: used_memory of the whole
    // server; capacity: its maxmemory.
    Outcome stats(Time now, Stats &stats) override;
    std::string describe() const override;

    bool breaker_open() const { return breaker_.open(); }
    std::uint64_t breaker_openings() const { return breaker_.openings(); }

  private:
    using Body = std::function<Outcome(redis::Connection &, redis::Deadline)>;

    RedisStore(const RedisSettings &settings, RedisUrl url);
    // The deadline, the breaker and a pooled connection around `body`.
    Outcome run(const Body &body);
    Outcome eval(redis::Connection &connection, redis::Deadline deadline, std::size_t script,
                 redis::Command arguments, redis::Reply &reply);

    const RedisUrl url_;
    const std::chrono::milliseconds timeout_;
    CircuitBreaker breaker_;
    redis::Pool pool_;
};

} // namespace portcullis::state
