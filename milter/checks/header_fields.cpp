// The header-fields check: the fields RFC 5322 section 3.6 requires and
// limits, at the end of the header. No From: field (header-from-missing)
// or no Date: field (header-date-missing); a field that may appear once
// appearing more often (header-repeated: several From fields are a known
// way to make a DMARC verifier and the reader's client disagree on the
// author); a Message-ID that is not one msg-id (header-message-id-syntax).
// No DNS. Reply variables: ${header_field}, ${header_count}.
#include "checks/check.hpp"
#include "core/log.hpp"
#include "message/message_id.hpp"

namespace portcullis {

namespace {

constexpr std::string_view from_missing_text[] = {
    "The message has no From: field; RFC 5322 requires one.",
    "Fix the software that wrote it to name the author in a From: field.",
    "See ${url}",
};
constexpr std::string_view date_missing_text[] = {
    "The message has no Date: field; RFC 5322 requires one.",
    "Fix the software that wrote it to add the date it was written.",
    "See ${url}",
};
constexpr std::string_view repeated_text[] = {
    "The message has ${header_count} ${header_field}: fields; RFC 5322 allows one.",
    "Several From, Date or Subject fields let readers and filters see different messages.",
    "See ${url}",
};
constexpr std::string_view message_id_text[] = {
    "The Message-ID of this message is not RFC 5322 compliant (${header_problem}).",
    "It must be one <left@right> identifier, as RFC 5322 section 3.6.4 describes.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "header-from-missing",
     .stage = Stage::header,
     .default_action = "reject",
     .summary = "the message has no From: field",
     .help = "Your message had no From: field. RFC 5322 requires every message to name its "
             "author, and no receiver can tell who sent it without one. Configure the software "
             "that sends it to add a From: field with a real address.",
     .reject = "550 5.6.0",
     .tempfail = "451 4.6.0",
     .text = from_missing_text,
     .example = "reject",
     .notes = "Harm: next to none; some monitoring scripts send without From: and are better "
              "fixed. Postfix adds a From: only to mail submitted on this host."},
    {.id = "header-date-missing",
     .stage = Stage::header,
     .default_action = "log",
     .summary = "the message has no Date: field",
     .help = "Your message had no Date: field, which RFC 5322 requires. Configure the software "
             "that sends it to add the date the message was written.",
     .reject = "550 5.6.0",
     .tempfail = "451 4.6.0",
     .text = date_missing_text,
     .example = "score:1",
     .notes = "Harm: some appliances and scripts leave the Date to their MTA, and not every MTA "
              "adds it; the default only logs."},
    {.id = "header-repeated",
     .stage = Stage::header,
     .default_action = "reject",
     .summary = "a field that RFC 5322 allows once (From, Sender, Date, Subject, To, Cc, "
                "Message-ID, Reply-To, In-Reply-To, References) appears more than once",
     .help = "Your message had a header field more than once that RFC 5322 allows only once. "
             "With two From or Subject fields, mail clients and filters disagree about which one "
             "counts: a known way to make forged mail look authenticated. Send each of these "
             "fields once.",
     .reject = "550 5.6.0",
     .tempfail = "451 4.6.0",
     .text = repeated_text,
     .example = "reject",
     .notes = "Harm: rarely, a list manager that adds a second To or Cc; From, Date and Subject "
              "twice are almost always forgery."},
    {.id = "header-message-id-syntax",
     .stage = Stage::header,
     .default_action = "log",
     .summary = "the Message-ID field is not one RFC 5322 msg-id",
     .help = "Your message's Message-ID field was not one identifier of the form "
             "<left-part@right-part> that RFC 5322 section 3.6.4 defines. Configure the software "
             "that writes the message to make a proper one, or to leave it to the MTA.",
     .reject = "550 5.6.0",
     .tempfail = "451 4.6.0",
     .text = message_id_text,
     .example = "score:1",
     .notes = "Harm: old and home-made mailers write identifiers without angle brackets or "
              "with spaces; the default only logs."},
};

class HeaderFieldsCheck final : public Check {
  public:
    std::string_view name() const override { return "header-fields"; }
    Stage stage() const override { return Stage::header; }
    std::span<const RuleSpec> rules() const override { return declared; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        if (!context.message || !context.message->header)
            return {result("header-from-missing", Outcome::skip, "no message header")};
        const auto &header = *context.message->header;
        std::vector<CheckResult> results;
        results.push_back(present(header, "header-from-missing", "From"));
        results.push_back(present(header, "header-date-missing", "Date"));
        results.push_back(repeated(header));
        results.push_back(message_id(header));
        return results;
    }

  private:
    CheckResult present(const message::HeaderBlock &header, std::string_view rule,
                        std::string_view field) const {
        if (header.count(field) == 0)
            return result(rule, Outcome::fail, "no " + std::string(field) + ": field");
        return result(rule, Outcome::pass, std::string(field) + ": present");
    }

    CheckResult repeated(const message::HeaderBlock &header) const {
        for (const auto field : message::singleton_fields()) {
            const auto count = header.count(field);
            if (count > 1) {
                auto found = result("header-repeated", Outcome::fail,
                                    std::to_string(count) + " " + std::string(field) + ": fields");
                found.vars["header_field"] = std::string(field);
                found.vars["header_count"] = std::to_string(count);
                return found;
            }
        }
        return result("header-repeated", Outcome::pass, "no field repeated");
    }

    CheckResult message_id(const message::HeaderBlock &header) const {
        const std::string *value = header.first("Message-ID");
        if (!value)
            return result("header-message-id-syntax", Outcome::skip, "no Message-ID field");
        std::string why;
        if (message::valid_message_id(*value, &why))
            return result("header-message-id-syntax", Outcome::pass, "Message-ID is one msg-id");
        auto found = result("header-message-id-syntax", Outcome::fail,
                            "Message-ID '" + log_safe(*value, 100) + "': " + log_safe(why, 100));
        found.vars["header_problem"] = log_safe(why, 100);
        found.vars["header_field"] = "Message-ID";
        return found;
    }
};

} // namespace

const Check &header_fields_check() {
    static const HeaderFieldsCheck check;
    return check;
}

} // namespace portcullis
