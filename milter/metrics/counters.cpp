// Histogram arithmetic (counters.hpp).
#include "counters.hpp"

namespace portcullis::metrics {

void Histogram::observe_microseconds(std::uint64_t microseconds) {
    std::size_t bucket = 0;
    while (bucket < bounds_microseconds.size() && microseconds > bounds_microseconds[bucket])
        ++bucket;
    buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_microseconds_.fetch_add(microseconds, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot out;
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        running += buckets_[i].load(std::memory_order_relaxed);
        out.cumulative[i] = running;
    }
    // The count is the +Inf bucket, so that the two always agree.
    out.count = running;
    out.sum_seconds = static_cast<double>(sum_microseconds_.load(std::memory_order_relaxed)) / 1e6;
    return out;
}

} // namespace portcullis::metrics
