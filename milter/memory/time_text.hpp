// Times and durations as greylisting, the counters and `portcullis db`
// write them in replies, logs and reports: one form everywhere.
#pragma once

#include "state/store.hpp"

#include <chrono>
#include <string>

namespace portcullis::memory {

// "2100-01-01 00:05:00 UTC"; "?" for a time the C library cannot show.
std::string utc_text(state::Time time);
// "2100-01-01T00:05:00Z", for JSON.
std::string utc_json(state::Time time);
// "1h", "90s", "250ms": as the configuration writes durations.
std::string duration_text(std::chrono::milliseconds duration);
// Milliseconds since the epoch, as the store's values hold times.
long long to_ms(state::Time time);
// The whole seconds from `now` to `expires`, rounded up; 0 once passed.
long long seconds_left(state::Time expires, state::Time now);

} // namespace portcullis::memory
