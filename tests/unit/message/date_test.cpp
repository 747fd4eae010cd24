#include "message/date.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <ctime>
#include <string>

using namespace portcullis::message;

namespace {

// "YYYY-MM-DD hh:mm:ss" (UTC) to seconds since the epoch, by the C library.
std::int64_t utc(const char *text) {
    std::tm tm{};
    REQUIRE(std::sscanf(text, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<std::int64_t>(timegm(&tm));
}

} // namespace

TEST_CASE("dates that parse, with their instant in UTC") {
    struct Row {
        const char *value;
        const char *utc;
    };
    const Row rows[] = {
        {"Mon, 1 Jan 2024 10:00:00 +0000", "2024-01-01 10:00:00"},
        {"Mon, 01 Jan 2024 10:00:00 +0100", "2024-01-01 09:00:00"},
        {"1 Jan 2024 10:00:00 -0230", "2024-01-01 12:30:00"},
        {"Tue, 31 Dec 2024 23:59:59 -1200", "2025-01-01 11:59:59"},
        {"Thu, 1 Jan 1970 00:00:00 +0000", "1970-01-01 00:00:00"},
        {"Mon, 1 Jan 1900 00:00:00 +0000", "1900-01-01 00:00:00"},
        {"Fri, 31 Dec 9999 23:59:59 +0000", "9999-12-31 23:59:59"},
        {"Sat, 29 Feb 2020 12:00:00 +0000", "2020-02-29 12:00:00"},
        {"Tue, 29 Feb 2000 12:00:00 +0000", "2000-02-29 12:00:00"},
        {"Mon, 1 Jan 2024 10:00 +0000", "2024-01-01 10:00:00"},     // no seconds
        {"Sat, 31 Dec 2016 23:59:60 +0000", "2017-01-01 00:00:00"}, // leap second
        {"Mon, 1 Jan 2024 10:00:00 -0000", "2024-01-01 10:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 +2359", "2023-12-31 10:01:00"},
        {"mon, 1 jan 2024 10:00:00 +0000", "2024-01-01 10:00:00"}, // case-insensitive
        {"MON, 1 JAN 2024 10:00:00 gmt", "2024-01-01 10:00:00"},
        // obs-zone names (RFC 5322 4.3)
        {"Mon, 1 Jan 2024 10:00:00 UT", "2024-01-01 10:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 GMT", "2024-01-01 10:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 EST", "2024-01-01 15:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 EDT", "2024-01-01 14:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 CST", "2024-01-01 16:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 CDT", "2024-01-01 15:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 MST", "2024-01-01 17:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 MDT", "2024-01-01 16:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 PST", "2024-01-01 18:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 PDT", "2024-01-01 17:00:00"},
        // military zones are -0000
        {"Mon, 1 Jan 2024 10:00:00 Z", "2024-01-01 10:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 A", "2024-01-01 10:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 y", "2024-01-01 10:00:00"},
        // obs-year: 2 digits (< 50: 20xx, else 19xx), 3 digits (+1900)
        {"1 Jan 24 10:00:00 +0000", "2024-01-01 10:00:00"},
        {"1 Jan 49 10:00:00 +0000", "2049-01-01 10:00:00"},
        {"1 Jan 50 10:00:00 +0000", "1950-01-01 10:00:00"},
        {"1 Jan 99 10:00:00 +0000", "1999-01-01 10:00:00"},
        {"1 Jan 124 10:00:00 +0000", "2024-01-01 10:00:00"},
        {"1 Jan 02024 10:00:00 +0000", "2024-01-01 10:00:00"},
        // CFWS where the obsolete syntax allows it
        {"  Mon , 1 Jan 2024 10:00:00 +0000  ", "2024-01-01 10:00:00"},
        {"(c) Mon (d), (e) 1 (f) Jan (g) 2024 (h) 10 (i) : (j) 00 : 00 (k) +0000 (CET)",
         "2024-01-01 10:00:00"},
        {"Mon, 1 Jan 2024 10:00:00 +0100 (CET (nested \\) comment))", "2024-01-01 09:00:00"},
        {"Mon,\r\n\t1 Jan 2024\n 10:00:00 +0000", "2024-01-01 10:00:00"},
        {"1Jan2024 10:00:00 GMT", "2024-01-01 10:00:00"},
        {"Mon, 1 Jan 2024 10:00:00GMT", "2024-01-01 10:00:00"},
        {"Sun, 1 Jan 2024 10:00:00 +0000", "2024-01-01 10:00:00"}, // wrong day: SHOULD only
    };
    for (const auto &row : rows) {
        CAPTURE(row.value);
        std::string why;
        const auto seconds = parse_date(row.value, &why);
        CHECK(why == "");
        REQUIRE(seconds);
        CHECK(*seconds == utc(row.utc));
    }
}

TEST_CASE("dates that do not parse, with the reason") {
    struct Row {
        const char *value;
        const char *why;
    };
    const Row rows[] = {
        {"", "no day of month"},
        {"   ", "no day of month"},
        {"Mon, Jan 2024 10:00:00 +0000", "no day of month"},
        {"Jan 1 2024 10:00:00 +0000", "no day of month"},
        {"Foo, 1 Jan 2024 10:00:00 +0000", "day-of-week 'Foo' unknown"},
        {"Monday, 1 Jan 2024 10:00:00 +0000", "day-of-week 'Monday' unknown"},
        {"Mon 1 Jan 2024 10:00:00 +0000", "no ',' after day-of-week"},
        {"Mon, 123 Jan 2024 10:00:00 +0000", "day '123' invalid"},
        {"Mon, 1 Foo 2024 10:00:00 +0000", "month 'Foo' unknown"},
        {"Mon, 1 January 2024 10:00:00 +0000", "month 'January' unknown"},
        {"Mon, 1 2024 10:00:00 +0000", "no month"},
        {"Mon, 1 Jan 10:00:00 +0000", "no hour"},
        {"Mon, 1 Jan +0000", "no year"},
        {"Mon, 1 Jan 7 10:00:00 +0000", "year '7' invalid"},
        {"Mon, 1 Jan 1899 10:00:00 +0000", "year 1899 out of range"},
        {"Mon, 1 Jan 10000 10:00:00 +0000", "year 10000 out of range"},
        {"Mon, 1 Jan 99999999999999999999 10:00:00 +0000",
         "year 99999999999999999999 out of range"},
        {"Mon, 0 Jan 2024 10:00:00 +0000", "day 0 of January"},
        {"Mon, 32 Jan 2024 10:00:00 +0000", "day 32 of January"},
        {"Mon, 31 Apr 2024 10:00:00 +0000", "day 31 of April"},
        {"Mon, 31 Feb 2024 10:00:00 +0000", "day 31 of February"},
        {"Mon, 30 Feb 2024 10:00:00 +0000", "day 30 of February"},
        {"Mon, 29 Feb 2023 10:00:00 +0000", "day 29 of February 2023"},
        {"Mon, 29 Feb 1900 10:00:00 +0000", "day 29 of February 1900"},
        {"Mon, 1 Jan 2024 25:00:00 +0000", "hour 25 out of range"},
        {"Mon, 1 Jan 2024 24:00:00 +0000", "hour 24 out of range"},
        {"Mon, 1 Jan 2024 10:60:00 +0000", "minute 60 out of range"},
        {"Mon, 1 Jan 2024 10:00:61 +0000", "second 61 out of range"},
        {"Mon, 1 Jan 2024 1:00:00 +0000", "hour '1' not two digits"},
        {"Mon, 1 Jan 2024 10:0:00 +0000", "minute '0' not two digits"},
        {"Mon, 1 Jan 2024 10:00:000 +0000", "second '000' not two digits"},
        {"Mon, 1 Jan 2024 10 +0000", "no ':' after hour"},
        {"Mon, 1 Jan 2024 10: +0000", "no minute"},
        {"Mon, 1 Jan 2024 10:00:00", "no zone"},
        {"Mon, 1 Jan 2024 10:00:00 (comment only)", "no zone"},
        {"Mon, 1 Jan 2024 10:00:00 +2500", "zone '+2500' invalid"},
        {"Mon, 1 Jan 2024 10:00:00 +0060", "zone '+0060' invalid"},
        {"Mon, 1 Jan 2024 10:00:00 +100", "zone '+100' invalid"},
        {"Mon, 1 Jan 2024 10:00:00 +01000", "zone '+01000' invalid"},
        {"Mon, 1 Jan 2024 10:00:00 -", "zone '-' invalid"},
        {"Mon, 1 Jan 2024 10:00:00+0000", "no space before zone"},
        {"Mon, 1 Jan 2024 10:00:00 CET", "zone 'CET' unknown"},
        {"Mon, 1 Jan 2024 10:00:00 J", "zone 'J' unknown"},
        {"Mon, 1 Jan 2024 10:00:00 +0000 extra", "text after zone: 'extra'"},
        {"Mon, 1 Jan 2024 10:00:00 +0000 +0000", "text after zone: '+0000'"},
        {"Mon, 1 Jan 2024 10:00:00 +0000 (unclosed", "comment not closed"},
        {"(unclosed Mon, 1 Jan 2024 10:00:00 +0000", "comment not closed"},
        {"Mon, 1 Jan 2024 10:00:00 +0000 (a\\", "comment not closed"},
        {"Mon, 1 Jan 2024 10:00:00 \x01\xff", "no zone"},
        {"Mon, 1 Jan 2024 10:00:00 +0000\x1b[31m", "text after zone: '?[31m'"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.value);
        std::string why;
        CHECK_FALSE(parse_date(row.value, &why));
        CHECK(why == row.why);
    }
}
