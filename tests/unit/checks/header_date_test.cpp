// header-date: the Date: field's syntax and its window against the clock
// (headers.date-past, headers.date-future). No DNS.
#include "check_harness.hpp"

#include <doctest/doctest.h>

#include <ctime>

using namespace portcullis;
using namespace std::chrono_literals;
using portcullis::testing::CheckHarness;
using portcullis::testing::MessageFixture;
using Fields = std::vector<std::pair<std::string, std::string>>;

namespace {

std::int64_t utc(int year, int month, int day, int hour, int minute, int second) {
    std::tm parts{};
    parts.tm_year = year - 1900;
    parts.tm_mon = month - 1;
    parts.tm_mday = day;
    parts.tm_hour = hour;
    parts.tm_min = minute;
    parts.tm_sec = second;
    return static_cast<std::int64_t>(timegm(&parts));
}

} // namespace

TEST_CASE("header-date: syntax, then the window against now") {
    const std::int64_t now = utc(2026, 12, 3, 12, 0, 0);
    struct Row {
        std::string date;
        std::string failing; // "" none
        std::string detail;
    };
    const std::vector<Row> rows = {
        {"Thu, 3 Dec 2026 12:00:00 +0000", "", "Date 2026-12-03 12:00:00 UTC"},
        {"Thu, 03 Dec 2026 13:00:00 +0100", "", "Date 2026-12-03 12:00:00 UTC"},
        {"3 Dec 2026 07:00 -0500", "", "Date 2026-12-03 12:00:00 UTC"},
        // The obsolete forms RFC 5322 section 4.3 keeps readable.
        {"Thu, 3 Dec 26 12:00:00 GMT", "", "Date 2026-12-03 12:00:00 UTC"},
        {"Thu, 3 Dec 2026 07:00:00 EST", "", "Date 2026-12-03 12:00:00 UTC"},
        {"Thu,  3 Dec 2026 12:00:00 +0000 (UTC)", "", "Date 2026-12-03 12:00:00 UTC"},
        // Six days and 23 hours old: inside the default 7d; 8 days: outside.
        {"Fri, 27 Nov 2026 13:00:00 +0000", "", ""},
        {"Wed, 25 Nov 2026 12:00:00 +0000", "header-date-past", "691200 s old (limit 604800 s)"},
        {"Mon, 1 Jan 1990 00:00:00 +0000", "header-date-past", "s old"},
        // An hour ahead is inside the default 2h; three hours is not.
        {"Thu, 3 Dec 2026 13:00:00 +0000", "", ""},
        {"Thu, 3 Dec 2026 15:00:00 +0000", "header-date-future", "10800 s ahead (limit 7200 s)"},
        // A local time written with the zone +0000 by a host five hours behind UTC is fine;
        // one five hours ahead is in the future.
        {"Thu, 3 Dec 2026 17:00:00 +0000", "header-date-future", "s ahead"},
        {"yesterday", "header-date-syntax", "Date 'yesterday'"},
        {"Thu, 32 Dec 2026 12:00:00 +0000", "header-date-syntax", "Date"},
        {"Thu, 3 Foo 2026 12:00:00 +0000", "header-date-syntax", "Date"},
        {"2026-12-03T12:00:00Z", "header-date-syntax", "Date"},
        {"", "header-date-syntax", "Date"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.date);
        MessageFixture fixture({{"From", "a@example.org"}, {"Date", row.date}});
        fixture.facts.now = now;
        CheckHarness harness("192.0.2.1");
        harness.message = &fixture.facts;
        const auto results = harness.run("header-date");
        REQUIRE(!results.empty());
        bool seen = row.failing.empty();
        for (const auto &result : results) {
            CAPTURE(result.rule);
            CAPTURE(result.detail);
            if (result.rule == row.failing) {
                seen = true;
                CHECK(result.outcome == Outcome::fail);
                CHECK(result.detail.find(row.detail) != std::string::npos);
            } else {
                CHECK(result.outcome != Outcome::fail);
                if (row.failing.empty() && !row.detail.empty() &&
                    result.rule == "header-date-syntax")
                    CHECK(result.detail == row.detail);
            }
        }
        CHECK(seen);
    }
}

TEST_CASE("header-date follows headers.date-past and headers.date-future") {
    const std::int64_t now = utc(2026, 12, 3, 12, 0, 0);
    MessageFixture fixture(Fields{{"Date", "Thu, 3 Dec 2026 11:00:00 +0000"}});
    fixture.facts.now = now;
    CheckHarness harness("192.0.2.1");
    harness.config.message.date_past = 30min;
    harness.message = &fixture.facts;
    bool past = false;
    for (const auto &result : harness.run("header-date"))
        if (result.rule == "header-date-past")
            past = result.outcome == Outcome::fail;
    CHECK(past);

    MessageFixture ahead(Fields{{"Date", "Thu, 3 Dec 2026 12:20:00 +0000"}});
    ahead.facts.now = now;
    harness.config.message.date_future = 10min;
    harness.message = &ahead.facts;
    bool future = false;
    for (const auto &result : harness.run("header-date"))
        if (result.rule == "header-date-future")
            future = result.outcome == Outcome::fail;
    CHECK(future);
}

TEST_CASE("header-date skips a message without Date (header-date-missing's business)") {
    MessageFixture fixture(Fields{{"From", "a@example.org"}});
    CheckHarness harness("192.0.2.1");
    harness.message = &fixture.facts;
    const auto results = harness.run("header-date");
    REQUIRE(results.size() == 1);
    CHECK(results[0].outcome == Outcome::skip);
}
