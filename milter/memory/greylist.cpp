#include "greylist.hpp"

#include "keys.hpp"
#include "time_text.hpp"

namespace portcullis::memory {

namespace {

using state::Outcome;

GreylistDecision failed(const Outcome &outcome, std::string_view what) {
    GreylistDecision decision;
    decision.result = GreylistDecision::Result::store_error;
    decision.outcome = outcome;
    decision.outcome.why = std::string(what) + (outcome.why.empty() ? "" : ": " + outcome.why);
    return decision;
}

constexpr std::string_view greylisted_text[] = {
    "Greylisted: ${client_addr} is new here for <${sender}> to <${recipient}>;",
    "please retry in ${greylist_wait} (after ${greylist_retry_at}).",
    "See ${url}",
};

constexpr RuleSpec rules[] = {
    {.id = greylisted_rule,
     .stage = Stage::rcpt,
     .default_action = "tempfail",
     .summary = "greylist.mode selects the client and its triplet (network or pool domain, "
                "sender, recipient) is new, or retried before greylist.delay",
     .help = "Your server tried to deliver a message from a network or sender we have not "
             "seen recently. This is greylisting (RFC 6647): a mail server that retries, as "
             "RFC 5321 section 4.5.4.1 asks, is accepted after a short delay, and later mail "
             "from your network passes at once. Nothing needs fixing: let your server retry. "
             "If it gives up, make it retry a temporary failure for at least an hour.",
     .reject = "550 5.7.1",
     .tempfail = "451 4.7.1",
     .text = greylisted_text,
     .example = "log",
     .notes = "Its action is tempfail or log (log-only greylisting records the triplets and "
              "logs what would have been greylisted); reject is refused like any temporary "
              "condition. Reply variables: greylist_wait (\"5 minutes\"), greylist_retry_at "
              "(UTC), greylist_origin.",
     .may_reject = false},
};

} // namespace

GreylistDecision decide_greylist(state::Store &store, const GreylistSettings &settings,
                                 std::string_view origin, std::string_view sender,
                                 std::string_view recipient, state::Time now) {
    const std::string passed_key = pass_key(origin);
    std::optional<state::Entry> passed;
    if (auto outcome = store.get(passed_key, now, passed); !outcome.ok())
        return failed(outcome, "reading " + passed_key);
    GreylistDecision decision;
    if (passed) {
        decision.how = "origin passed";
        // Renewed sparingly: a write costs a sync, a read does not.
        if (passed->expires - now < settings.allow_time / 2) {
            if (auto outcome = store.put(passed_key, passed->value, now + settings.allow_time, now);
                !outcome.ok())
                return failed(outcome, "renewing " + passed_key);
            decision.how = "origin passed, renewed";
        }
        return decision;
    }
    const std::string key = triplet_key(origin, sender, recipient);
    std::optional<state::Entry> existing;
    if (auto outcome = store.put_if_absent(key, format_ms(to_ms(now)), now + settings.retry_window,
                                           now, existing);
        !outcome.ok())
        return failed(outcome, "recording " + key);
    if (!existing) {
        decision.result = GreylistDecision::Result::greylisted;
        decision.first_try = true;
        decision.retry_at = now + settings.delay;
        return decision;
    }
    const auto first = parse_ms(existing->value);
    if (!first) {
        // A corrupt entry: start this triplet afresh.
        if (auto outcome = store.put(key, format_ms(to_ms(now)), now + settings.retry_window, now);
            !outcome.ok())
            return failed(outcome, "replacing " + key);
        decision.result = GreylistDecision::Result::greylisted;
        decision.first_try = true;
        decision.retry_at = now + settings.delay;
        return decision;
    }
    const state::Time first_try{std::chrono::milliseconds(*first)};
    if (now < first_try + settings.delay) {
        decision.result = GreylistDecision::Result::greylisted;
        decision.retry_at = first_try + settings.delay;
        return decision;
    }
    if (auto outcome = store.put(passed_key, format_ms(to_ms(now)) + " " + key,
                                 now + settings.allow_time, now);
        !outcome.ok())
        return failed(outcome, "writing " + passed_key);
    // The triplet has done its work; a failed erase leaves it to expire.
    store.erase(key);
    decision.how = "retry passed";
    return decision;
}

std::span<const RuleSpec> greylist_rules() {
    return rules;
}

} // namespace portcullis::memory
