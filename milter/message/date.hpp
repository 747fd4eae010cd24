// The Date: field (RFC 5322 3.3 date-time, with the obsolete syntax of
// 4.3) read into seconds since the epoch, for the header checks. Pure
// function over hostile bytes: linear, bounded, never reads outside the
// view.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::message {

// RFC 5322 3.3 date-time, with the obsolete syntax of 4.3 accepted (obs-zone names UT GMT EST EDT
// CST CDT MST MDT PST PDT, military zones read as -0000, 2-digit and 3-digit years as 4.3 says,
// CFWS/comments anywhere the RFC allows, day-of-week optional, seconds optional).
// Returns seconds since the epoch (UTC), or nullopt with `why` set to a short reason for logs
// ("no day of month", "month 'Foo' unknown", "hour 25 out of range", "zone '+2500' invalid",
// "day 31 of February" ...). Day-of-week, when present, must be a valid name (not checked against
// the date: the RFC says SHOULD). Input may hold any bytes; length is bounded by the caller but the
// parser must be linear and never read outside the view.
// Also: years 1900..9999 (3.3: "1900 or later"); second 60 (a leap
// second) is taken; a numeric zone needs white space before it and its
// hours at most 23, minutes at most 59; other zone names (CET, ...) are
// refused, as the grammar has no place for them; reasons show at most 24
// bytes of the input, non-printable bytes as '?'.
std::optional<std::int64_t> parse_date(std::string_view value, std::string *why = nullptr);

} // namespace portcullis::message
