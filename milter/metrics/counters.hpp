// The counting primitives of the metrics: a Counter and a Histogram of
// fixed buckets. Contract: add() and observe() take no lock and never
// allocate (relaxed atomics), so the session path may count freely from
// any thread; a reader sees each value whole, though a scrape taken
// while others count may see one counter a step ahead of another.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace portcullis::metrics {

class Counter {
  public:
    void add(std::uint64_t amount = 1) { value_.fetch_add(amount, std::memory_order_relaxed); }
    std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> value_{0};
};

// A latency histogram over `latency_bounds` (upper bounds in seconds,
// inclusive, ascending), the last bucket being +Inf. Times are counted in
// whole microseconds, compared with the bounds in microseconds, so that a
// time on a bound falls in that bound's bucket.
class Histogram {
  public:
    static constexpr std::array<std::uint64_t, 12> bounds_microseconds = {
        500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
    static constexpr std::array<double, 12> latency_bounds = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

    void observe_microseconds(std::uint64_t microseconds);

    struct Snapshot {
        std::array<std::uint64_t, latency_bounds.size() + 1> cumulative{}; // the last is +Inf
        std::uint64_t count = 0; // equals cumulative.back()
        double sum_seconds = 0;
    };
    Snapshot snapshot() const;

  private:
    std::array<std::atomic<std::uint64_t>, latency_bounds.size() + 1> buckets_{};
    std::atomic<std::uint64_t> sum_microseconds_{0};
};

} // namespace portcullis::metrics
