#include "date.hpp"

#include "syntax.hpp"

#include <array>

namespace portcullis::message {

namespace {

using syntax::Cursor;

constexpr std::array<std::string_view, 7> day_names = {"Mon", "Tue", "Wed", "Thu",
                                                       "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 12> month_names = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 12> month_long_names = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

struct NamedZone {
    std::string_view name;
    int minutes;
};
constexpr std::array<NamedZone, 10> named_zones = {{{"UT", 0},
                                                    {"GMT", 0},
                                                    {"EST", -5 * 60},
                                                    {"EDT", -4 * 60},
                                                    {"CST", -6 * 60},
                                                    {"CDT", -5 * 60},
                                                    {"MST", -7 * 60},
                                                    {"MDT", -6 * 60},
                                                    {"PST", -8 * 60},
                                                    {"PDT", -7 * 60}}};

template <std::size_t N>
int index_of(const std::array<std::string_view, N> &names, std::string_view word) {
    for (std::size_t i = 0; i < N; ++i)
        if (syntax::equal_ignoring_case(names[i], word))
            return static_cast<int>(i);
    return -1;
}

std::string_view read_while(Cursor &cursor, bool (*accept)(char)) {
    const std::size_t start = cursor.at;
    while (!cursor.done() && accept(cursor.peek()))
        ++cursor.at;
    return cursor.text.substr(start, cursor.at - start);
}

// Digits into a number; runs longer than 9 digits give -1 (out of range).
long number_of(std::string_view digits) {
    if (digits.size() > 9)
        return -1;
    long value = 0;
    for (const char c : digits)
        value = value * 10 + (c - '0');
    return value;
}

bool leap(long year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(long year, int month) {
    constexpr std::array<int, 12> days = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 1 && leap(year) ? 29 : days[static_cast<std::size_t>(month)];
}

// Days from 1970-01-01 to a civil date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
    year -= month <= 2;
    const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
    const auto year_of_era = static_cast<unsigned>(year - era * 400);
    const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const unsigned day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

class DateParser {
  public:
    explicit DateParser(std::string_view value) : cursor_{value} {}

    std::optional<std::int64_t> parse(std::string &why);

  private:
    bool cfws(bool *saw_space = nullptr) {
        if (syntax::skip_cfws(cursor_, saw_space))
            return true;
        return fail("comment not closed");
    }
    bool fail(std::string reason) {
        if (why_.empty())
            why_ = std::move(reason);
        return false;
    }
    bool day_of_week();
    bool date();
    bool time_of_day();
    bool two_digits(const char *what, long maximum, long &out);
    bool zone();

    Cursor cursor_;
    std::string why_;
    long day_ = 0, year_ = 0, hour_ = 0, minute_ = 0, second_ = 0;
    int month_ = 0;
    int zone_minutes_ = 0;
};

bool DateParser::day_of_week() {
    if (!syntax::is_alpha(cursor_.peek()))
        return true;
    const auto word = read_while(cursor_, syntax::is_alpha);
    if (!cfws())
        return false;
    if (index_of(month_names, word) >= 0)
        return fail("no day of month");
    if (index_of(day_names, word) < 0)
        return fail("day-of-week '" + syntax::shown(word) + "' unknown");
    if (!cursor_.next_is(','))
        return fail("no ',' after day-of-week");
    ++cursor_.at;
    return cfws();
}

bool DateParser::date() {
    const auto day = read_while(cursor_, syntax::is_digit);
    if (day.empty())
        return fail("no day of month");
    if (day.size() > 2)
        return fail("day '" + syntax::shown(day) + "' invalid");
    day_ = number_of(day);
    if (!cfws())
        return false;
    const auto month = read_while(cursor_, syntax::is_alpha);
    if (month.empty())
        return fail("no month");
    month_ = index_of(month_names, month);
    if (month_ < 0)
        return fail("month '" + syntax::shown(month) + "' unknown");
    if (!cfws())
        return false;
    const auto year = read_while(cursor_, syntax::is_digit);
    if (year.empty())
        return fail("no year");
    if (year.size() < 2)
        return fail("year '" + syntax::shown(year) + "' invalid");
    year_ = number_of(year);
    // RFC 5322 4.3: two digits are 1950..2049, three digits 1900 + year.
    if (year.size() == 2)
        year_ += year_ < 50 ? 2000 : 1900;
    else if (year.size() == 3)
        year_ += 1900;
    if (year_ < 1900 || year_ > 9999)
        return fail("year " + syntax::shown(year) + " out of range");
    if (day_ < 1 || day_ > days_in_month(year_, month_))
        return fail("day " + std::to_string(day_) + " of " +
                    std::string(month_long_names[static_cast<std::size_t>(month_)]) +
                    (month_ == 1 && day_ == 29 ? " " + std::to_string(year_) : ""));
    return cfws();
}

bool DateParser::two_digits(const char *what, long maximum, long &out) {
    const auto digits = read_while(cursor_, syntax::is_digit);
    if (digits.empty())
        return fail(std::string("no ") + what);
    if (digits.size() != 2)
        return fail(std::string(what) + " '" + syntax::shown(digits) + "' not two digits");
    out = number_of(digits);
    if (out > maximum)
        return fail(std::string(what) + " " + std::string(digits) + " out of range");
    return true;
}

bool DateParser::time_of_day() {
    if (!two_digits("hour", 23, hour_) || !cfws())
        return false;
    if (!cursor_.next_is(':'))
        return fail("no ':' after hour");
    ++cursor_.at;
    if (!cfws() || !two_digits("minute", 59, minute_))
        return false;
    bool spaced = false;
    if (!cfws(&spaced))
        return false;
    if (cursor_.next_is(':')) {
        ++cursor_.at;
        spaced = false;
        if (!cfws() || !two_digits("second", 60, second_) || !cfws(&spaced))
            return false;
    }
    if (cursor_.next_is('+') || cursor_.next_is('-')) {
        if (!spaced)
            return fail("no space before zone");
    }
    return true;
}

bool DateParser::zone() {
    if (cursor_.done())
        return fail("no zone");
    const char sign = cursor_.peek();
    if (sign == '+' || sign == '-') {
        const std::size_t start = cursor_.at++;
        const auto digits = read_while(cursor_, syntax::is_digit);
        const auto written = cursor_.text.substr(start, cursor_.at - start);
        const long hhmm = number_of(digits);
        if (digits.size() != 4 || hhmm / 100 > 23 || hhmm % 100 > 59)
            return fail("zone '" + syntax::shown(written) + "' invalid");
        zone_minutes_ = static_cast<int>(hhmm / 100 * 60 + hhmm % 100) * (sign == '-' ? -1 : 1);
        return true;
    }
    const auto name = read_while(cursor_, syntax::is_alpha);
    if (name.empty())
        return fail("no zone");
    for (const auto &zone : named_zones)
        if (syntax::equal_ignoring_case(zone.name, name)) {
            zone_minutes_ = zone.minutes;
            return true;
        }
    // Military zones (one letter but J): -0000, RFC 5322 4.3.
    if (name.size() == 1 && syntax::lower(name[0]) != 'j')
        return true;
    return fail("zone '" + syntax::shown(name) + "' unknown");
}

std::optional<std::int64_t> DateParser::parse(std::string &why) {
    const bool read =
        cfws() && day_of_week() && date() && time_of_day() && zone() && cfws() &&
        (cursor_.done() ||
         fail("text after zone: '" + syntax::shown(cursor_.text.substr(cursor_.at)) + "'"));
    if (!read) {
        why = why_;
        return std::nullopt;
    }
    const std::int64_t days =
        days_from_civil(year_, static_cast<unsigned>(month_ + 1), static_cast<unsigned>(day_));
    return days * 86400 + hour_ * 3600 + minute_ * 60 + second_ - zone_minutes_ * 60;
}

} // namespace

std::optional<std::int64_t> parse_date(std::string_view value, std::string *why) {
    std::string reason;
    auto seconds = DateParser(value).parse(reason);
    if (!seconds && why)
        *why = std::move(reason);
    return seconds;
}

} // namespace portcullis::message
