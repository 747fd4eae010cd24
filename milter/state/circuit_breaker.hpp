// A circuit breaker for a backend that can go away (the Redis store).
//
// After `failures` consecutive failed calls it opens: calls are refused at
// once, without touching the backend, for `interval`; then one call is let
// through as a trial. Its success closes the breaker; its failure opens it
// for another interval. A call that says nothing of the backend's health
// (it never reached it) is reported as `neutral` and changes nothing.
// Times are passed in, so that tests drive it with a clock of their own.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace portcullis::state {

class CircuitBreaker {
  public:
    using TimePoint = std::chrono::steady_clock::time_point;
    enum class Admission { refused, pass, trial };
    enum class Result { success, failure, neutral };

    CircuitBreaker(unsigned failures, std::chrono::milliseconds interval)
        : threshold_(failures), interval_(interval) {}

    Admission admit(TimePoint now);
    // Ends a call that admit() let through, with what it admitted.
    void report(Admission admission, Result result, TimePoint now);

    bool open() const;
    // How many times it has opened (a failed trial opens it again): a
    // caller that logs when this changes logs once per interval.
    std::uint64_t openings() const;
    // When the next trial may go, while open.
    TimePoint retry_at() const;

  private:
    const unsigned threshold_;
    const std::chrono::milliseconds interval_;
    mutable std::mutex mutex_;
    unsigned failures_ = 0;
    bool open_ = false;
    bool trial_running_ = false;
    TimePoint retry_at_{};
    std::uint64_t openings_ = 0;
};

} // namespace portcullis::state
