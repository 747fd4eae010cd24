// The header-date check: the Date: field at the end of the header. Not an
// RFC 5322 date-time, obsolete forms included (header-date-syntax); older
// than headers.date-past (header-date-past) or later than
// headers.date-future (header-date-future) against this host's clock. A
// missing Date is header-fields' business; a repeated one is read at its
// first occurrence. No DNS. Reply variables: ${header_date} (the field,
// cleaned) and ${header_problem}.
#include "checks/check.hpp"
#include "core/log.hpp"
#include "message/date.hpp"

#include <ctime>

namespace portcullis {

namespace {

constexpr std::string_view syntax_text[] = {
    "The Date: field of this message is not RFC 5322 compliant (${header_problem}).",
    "Write it as RFC 5322 section 3.3 describes, e.g. \"Tue, 1 Dec 2026 09:30:00 +0100\".",
    "See ${url}",
};
constexpr std::string_view past_text[] = {
    "The Date: field of this message (${header_date}) is too far in the past.",
    "Check the clock and time zone of the host that wrote it, and resend as a new message.",
    "See ${url}",
};
constexpr std::string_view future_text[] = {
    "The Date: field of this message (${header_date}) is in the future.",
    "Check the clock and time zone of the host that wrote it.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "header-date-syntax",
     .stage = Stage::header,
     .default_action = "log",
     .summary = "the Date: field is not an RFC 5322 date-time (obsolete forms accepted)",
     .help = "The Date: field of your message could not be read as the date-time RFC 5322 "
             "section 3.3 defines (day, month name, year, time and zone, such as "
             "\"Tue, 1 Dec 2026 09:30:00 +0100\"). Fix the software that writes it.",
     .reject = "550 5.6.0",
     .tempfail = "451 4.6.0",
     .text = syntax_text,
     .example = "score:1",
     .notes = "Harm: home-made scripts write dates in their own formats; the default only logs."},
    {.id = "header-date-past",
     .stage = Stage::header,
     .default_action = "log",
     .summary = "the Date: field is further in the past than headers.date-past",
     .help = "The Date: field of your message was far in the past. Either the clock of the host "
             "that wrote it is wrong, or an old message was sent again unchanged. Check that "
             "host's clock and time zone.",
     .reject = "550 5.6.0",
     .tempfail = "451 4.6.0",
     .text = past_text,
     .example = "score:2",
     .notes = "Harm: a message bounced or redirected from a mail client keeps its original "
              "date, and mail that sat in a queue for days arrives late; the default only "
              "logs."},
    {.id = "header-date-future",
     .stage = Stage::header,
     .default_action = "reject",
     .summary = "the Date: field is further in the future than headers.date-future",
     .help = "The Date: field of your message was in the future. The clock or the time zone of "
             "the host that wrote it is wrong (a local time written with the zone +0000 is the "
             "usual cause). Set its clock by NTP and check its time zone.",
     .reject = "550 5.6.0",
     .tempfail = "451 4.6.0",
     .text = future_text,
     .example = "reject",
     .notes = "Harm: a sender whose clock or time zone is wrong by more than headers.date-future "
              "(2h by default); spam is dated ahead to sort at the top of mailboxes."},
};

std::string utc(std::int64_t seconds) {
    const std::time_t time = static_cast<std::time_t>(seconds);
    std::tm parts{};
    if (!gmtime_r(&time, &parts))
        return std::to_string(seconds);
    char text[64];
    if (std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &parts) == 0)
        return std::to_string(seconds);
    return text;
}

class HeaderDateCheck final : public Check {
  public:
    std::string_view name() const override { return "header-date"; }
    Stage stage() const override { return Stage::header; }
    std::span<const RuleSpec> rules() const override { return declared; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        if (!context.message || !context.message->header)
            return {result("header-date-syntax", Outcome::skip, "no message header")};
        const std::string *value = context.message->header->first("Date");
        if (!value)
            return {result("header-date-syntax", Outcome::skip, "no Date: field")};
        const auto shown = log_safe(*value, 80);
        std::string why;
        auto date = message::parse_date(*value, &why);
        // Years the arithmetic below could overflow on are no dates.
        if (date && (*date < -100'000'000'000 || *date > 100'000'000'000)) {
            date.reset();
            why = "year out of range";
        }
        if (!date) {
            auto found = result("header-date-syntax", Outcome::fail,
                                "Date '" + shown + "': " + log_safe(why, 100));
            found.vars["header_date"] = shown;
            found.vars["header_problem"] = log_safe(why, 100);
            return {found};
        }
        std::vector<CheckResult> results;
        results.push_back(result("header-date-syntax", Outcome::pass, "Date " + utc(*date)));
        const auto &limits = context.config.message;
        const std::int64_t now = context.message->now;
        const std::int64_t past = limits.date_past.count() / 1000;
        const std::int64_t future = limits.date_future.count() / 1000;
        const std::int64_t age = now - *date;
        auto window = [&](std::string_view rule, bool outside, std::string detail) {
            auto found = result(rule, outside ? Outcome::fail : Outcome::pass, std::move(detail));
            if (outside) {
                found.vars["header_date"] = shown;
                found.vars["header_problem"] = found.detail;
            }
            return found;
        };
        results.push_back(window("header-date-past", age > past,
                                 "Date " + utc(*date) + " is " + std::to_string(age) +
                                     " s old (limit " + std::to_string(past) + " s)"));
        results.push_back(window("header-date-future", -age > future,
                                 "Date " + utc(*date) + " is " + std::to_string(-age) +
                                     " s ahead (limit " + std::to_string(future) + " s)"));
        return results;
    }
};

} // namespace

const Check &header_date_check() {
    static const HeaderDateCheck check;
    return check;
}

} // namespace portcullis
