// The header-sanity check: the header of the message as bytes, at the end
// of the header. A header beyond headers.max-fields or headers.max-bytes
// (header-too-large), a NUL, a CR that does not end a line or a field
// name outside RFC 5322's printable ASCII (header-bad-bytes: what SMTP
// smuggling and parser confusion attacks send), a line over RFC 5322's
// 998 octets (header-line-too-long) and bytes over 127 in a message sent
// without SMTPUTF8 (header-8bit, RFC 6532). No DNS. Reply variable
// ${header_field}: the field at fault.
#include "checks/check.hpp"
#include "core/log.hpp"

namespace portcullis {

namespace {

constexpr std::string_view too_large_text[] = {
    "The header of this message is larger than this server accepts "
    "(${header_limit}).",
    "See ${url}",
};
constexpr std::string_view bad_bytes_text[] = {
    "The message header holds a byte RFC 5322 does not allow (${header_problem} in "
    "\"${header_field}\").",
    "Fix the software that wrote this message: lines end in CR LF, and field names are "
    "printable ASCII.",
    "See ${url}",
};
constexpr std::string_view long_line_text[] = {
    "The header field \"${header_field}\" has a line longer than the 998 characters RFC 5322 "
    "allows.",
    "Fold long header fields, as RFC 5322 section 2.2.3 describes.",
    "See ${url}",
};
constexpr std::string_view eight_bit_text[] = {
    "The header field \"${header_field}\" holds 8-bit characters, but the message was not "
    "sent with SMTPUTF8.",
    "Encode them as RFC 2047 encoded words, or send with SMTPUTF8.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "header-too-large",
     .stage = Stage::header,
     .default_action = "reject",
     .summary = "the header has more fields than headers.max-fields or more bytes than "
                "headers.max-bytes",
     .help = "The header of your message was larger than this server accepts. Real mail has "
             "tens of header fields, not thousands; a header this size is usually a loop "
             "(a message that went round between servers, gaining Received fields) or an "
             "attack. Check the message's Received fields for a loop.",
     .reject = "552 5.3.4",
     .tempfail = "452 4.3.4",
     .text = too_large_text,
     .example = "reject",
     .notes = "Harm: only mail that has looped a great many times, or an archive sent as header "
              "fields, comes near the defaults (1000 fields, 1m). Whatever the MTA lets "
              "through, portcullis keeps no more than these limits."},
    {.id = "header-bad-bytes",
     .stage = Stage::header,
     .default_action = "reject",
     .summary = "the header holds a NUL byte, a CR not followed by LF, or a field name that is "
                "not printable ASCII",
     .help = "Your message's header held a byte that RFC 5322 never allows there: a NUL, a "
             "carriage return that does not end a line, or a control or 8-bit byte in a field "
             "name. Such bytes make servers and filters read the message differently (SMTP "
             "smuggling and header injection use them). Fix the software that wrote the "
             "message so that every line ends in CR LF.",
     .reject = "550 5.6.0",
     .tempfail = "451 4.6.0",
     .text = bad_bytes_text,
     .example = "reject",
     .notes = "Harm: very rarely, a broken script that writes bare CR line ends; its mail is "
              "mangled by most servers anyway."},
    {.id = "header-line-too-long",
     .stage = Stage::header,
     .default_action = "log",
     .summary = "a header line is longer than 998 octets (RFC 5322 section 2.1.1)",
     .help = "A header field of your message had a line longer than the 998 characters RFC 5322 "
             "allows. Configure the software that writes it to fold long fields (a line break "
             "followed by a space).",
     .reject = "550 5.6.0",
     .tempfail = "451 4.6.0",
     .text = long_line_text,
     .example = "reject",
     .notes = "Harm: some mailing-list software and ticket systems write long References or "
              "To fields unfolded; the default only logs."},
    {.id = "header-8bit",
     .stage = Stage::header,
     .default_action = "log",
     .summary = "the header holds bytes over 127 and the sender did not use SMTPUTF8",
     .help = "A header field of your message held 8-bit characters (UTF-8 or another character "
             "set) although the message was not sent with SMTPUTF8 (RFC 6531/6532). Encode "
             "non-ASCII text in header fields as RFC 2047 encoded words, or send with "
             "SMTPUTF8.",
     .reject = "550 5.6.0",
     .tempfail = "451 4.6.0",
     .text = eight_bit_text,
     .example = "score:1",
     .notes = "Harm: much legitimate mail from older clients has raw 8-bit subjects or display "
              "names; the default only logs."},
};

class HeaderSanityCheck final : public Check {
  public:
    std::string_view name() const override { return "header-sanity"; }
    Stage stage() const override { return Stage::header; }
    std::span<const RuleSpec> rules() const override { return declared; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        if (!context.message || !context.message->header)
            return {result("header-too-large", Outcome::skip, "no message header")};
        const auto &header = *context.message->header;
        const auto &findings = header.findings();
        const auto &limits = context.config.message;
        std::vector<CheckResult> results;

        auto too_large = result("header-too-large", Outcome::pass,
                                std::to_string(header.fields_seen()) + " fields, " +
                                    std::to_string(header.bytes_seen()) + " bytes");
        if (findings.too_many_fields || findings.too_many_bytes) {
            too_large.outcome = Outcome::fail;
            too_large.vars["header_limit"] =
                findings.too_many_fields
                    ? "more than " + std::to_string(limits.max_fields) + " fields"
                    : "more than " + std::to_string(limits.max_bytes) + " bytes";
            too_large.detail =
                too_large.vars["header_limit"] + " in the header (" + too_large.detail + " seen)";
        }
        results.push_back(std::move(too_large));

        const std::optional<std::string> *bad = nullptr;
        std::string problem;
        if (findings.nul) {
            bad = &findings.nul;
            problem = "a NUL byte";
        } else if (findings.bare_cr) {
            bad = &findings.bare_cr;
            problem = "a CR not followed by LF";
        } else if (findings.bad_name) {
            bad = &findings.bad_name;
            problem = "a field name that is not printable ASCII";
        }
        results.push_back(field_result("header-bad-bytes", bad ? bad : &findings.nul, problem));
        results.push_back(
            field_result("header-line-too-long", &findings.long_line, "a line over 998 octets"));
        if (context.message->smtputf8)
            results.push_back(result("header-8bit", Outcome::skip, "the sender used SMTPUTF8"));
        else
            results.push_back(
                field_result("header-8bit", &findings.eight_bit, "8-bit bytes without SMTPUTF8"));
        return results;
    }

  private:
    CheckResult field_result(std::string_view rule, const std::optional<std::string> *field,
                             const std::string &problem) const {
        if (!field || !*field)
            return result(rule, Outcome::pass, "none found");
        const auto shown = log_safe(**field, 64);
        auto found = result(rule, Outcome::fail, problem + " in the field '" + shown + "'");
        found.vars["header_field"] = shown;
        found.vars["header_problem"] = problem;
        return found;
    }
};

} // namespace

const Check &header_sanity_check() {
    static const HeaderSanityCheck check;
    return check;
}

} // namespace portcullis
