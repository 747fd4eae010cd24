// libFuzzer target: parse_date (milter/message/date.hpp) over any bytes.
// Asserts, beyond the sanitizers: a date that parses has no reason and
// lies within 1900..9999 (give or take a day of zones); its instant,
// written back as "D Mon YYYY hh:mm:ss +0000", parses to itself, also
// with a comment and a day-of-week around it; a date that does not
// parse has a printable reason.
#include "message/date.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

using namespace portcullis::message;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

std::string written(std::int64_t seconds) {
    const auto time = static_cast<std::time_t>(seconds);
    std::tm tm{};
    require(gmtime_r(&time, &tm) != nullptr);
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char text[64];
    std::snprintf(text, sizeof text, "%d %s %d %02d:%02d:%02d +0000", tm.tm_mday, months[tm.tm_mon],
                  tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return text;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char *>(data), size);
    std::string why;
    const auto seconds = parse_date(input, &why);
    if (!seconds) {
        require(!why.empty());
        for (const char c : why)
            require(c >= 0x20 && c < 0x7f);
        return 0;
    }
    require(why.empty());
    constexpr std::int64_t year_1900 = -2208988800, year_10000 = 253402300800;
    require(*seconds >= year_1900 - 86400 && *seconds < year_10000 + 86400);
    if (*seconds >= year_1900 && *seconds < year_10000) {
        const auto again = written(*seconds);
        require(parse_date(again) == seconds);
        require(parse_date("Mon, " + again + " (UTC)") == seconds);
    }
    return 0;
}
