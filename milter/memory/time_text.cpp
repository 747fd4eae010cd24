#include "time_text.hpp"

#include <ctime>
#include <utility>

namespace portcullis::memory {

namespace {

std::string formatted(state::Time time, const char *format) {
    const std::time_t seconds = state::Clock::to_time_t(time);
    std::tm parts{};
    if (!gmtime_r(&seconds, &parts))
        return "?";
    char text[64];
    if (std::strftime(text, sizeof text, format, &parts) == 0)
        return "?";
    return text;
}

} // namespace

std::string utc_text(state::Time time) {
    return formatted(time, "%Y-%m-%d %H:%M:%S UTC");
}

std::string utc_json(state::Time time) {
    return formatted(time, "%Y-%m-%dT%H:%M:%SZ");
}

std::string duration_text(std::chrono::milliseconds duration) {
    const long long ms = duration.count();
    for (const auto &[unit, size] : {std::pair{"d", 86'400'000LL}, std::pair{"h", 3'600'000LL},
                                     std::pair{"m", 60'000LL}, std::pair{"s", 1000LL}})
        if (ms % size == 0)
            return std::to_string(ms / size) + unit;
    return std::to_string(ms) + "ms";
}

long long to_ms(state::Time time) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

long long seconds_left(state::Time expires, state::Time now) {
    if (expires <= now)
        return 0;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(expires - now).count();
    return (left + 999) / 1000;
}

} // namespace portcullis::memory
