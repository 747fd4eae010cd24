// The deny-sender check (mail): the envelope sender matches one of the
// administrator's deny.sender address patterns (core/address_pattern.hpp,
// the syntax exempt-recipients shares); the null sender never matches.
// No DNS. An empty list is a skip.
#include "checks/check.hpp"
#include "core/log.hpp"

namespace portcullis {

namespace {

constexpr std::string_view deny_sender_text[] = {
    "Sender address <${sender}> is not accepted here.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "deny-sender",
     .stage = Stage::mail,
     .default_action = "reject",
     .summary = "the envelope sender is in deny.sender",
     .help = "The administrator of this server does not accept mail from your sender address "
             "or its domain. If you think that is a mistake, ask the postmaster of the "
             "recipient's domain (postmaster@ always gets through).",
     .text = deny_sender_text,
     .example = "reject"},
};

class DenySenderCheck final : public Check {
  public:
    std::string_view name() const override { return "deny-sender"; }
    Stage stage() const override { return Stage::mail; }
    std::span<const RuleSpec> rules() const override { return declared; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        auto one = [this](Outcome outcome, std::string detail) {
            return std::vector{result("deny-sender", outcome, std::move(detail))};
        };
        const Facts &facts = context.facts;
        if (!facts.sender_seen)
            return one(Outcome::skip, "no MAIL FROM yet");
        if (context.config.deny_senders.empty())
            return one(Outcome::skip, "deny.sender is empty");
        if (facts.sender.empty())
            return one(Outcome::pass, "the null sender is never denied");
        const std::string shown = "'" + log_safe(facts.sender, 100) + "'";
        if (const auto *entry = first_match(facts.sender, context.config.deny_senders))
            return one(Outcome::fail,
                       "sender " + shown + " matches deny.sender " + log_safe(entry->text(), 100));
        return one(Outcome::pass, "sender " + shown + " is not in deny.sender");
    }
};

} // namespace

const Check &deny_sender_check() {
    static const DenySenderCheck check;
    return check;
}

} // namespace portcullis
