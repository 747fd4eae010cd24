// Greylisting over the state store (RFC 6647): the first try of an
// unknown triplet (origin, sender, recipient) is tempfailed; a retry after
// greylist.delay and within greylist.retry-window passes, and lets the
// origin (the client network or pool domain, keys.hpp) pass without delay
// for greylist.allow-time, renewed by accepted mail.
//
// decide() is the whole store side of one recipient: one read when the
// origin has passed (the usual case), a put_if_absent for a triplet, and
// a put and an erase when a retry passes. It never waits longer than the
// store's own timeout per call and stops at the first failure, which it
// reports (Result::store_error) for greylist.on-store-error to decide.
// Which clients are greylisted at all (mode, triggers, exemptions) is the
// session's to decide (session/memory.cpp).
#pragma once

#include "core/rule.hpp"
#include "state/store.hpp"

#include <chrono>
#include <span>
#include <string>

namespace portcullis::memory {

inline constexpr std::string_view greylisted_rule = "greylisted";

struct GreylistSettings {
    std::chrono::milliseconds delay{};
    std::chrono::milliseconds retry_window{};
    std::chrono::milliseconds allow_time{};
};

struct GreylistDecision {
    enum class Result {
        passed,      // the origin has passed (or the retry just did)
        greylisted,  // first try, or a retry before the delay
        store_error, // the store failed; `why` says how
    } result = Result::passed;
    // For greylisted: when a retry passes; `first_try` says whether this
    // try was the first (a new triplet).
    state::Time retry_at{};
    bool first_try = false;
    // For passed: "origin passed", "retry passed", "renewed".
    std::string how;
    // For store_error: the failed call's outcome, its `why` naming the
    // key and what was done.
    state::Outcome outcome;
};

GreylistDecision decide_greylist(state::Store &store, const GreylistSettings &settings,
                                 std::string_view origin, std::string_view sender,
                                 std::string_view recipient, state::Time now);

// The rule greylisted, declared here with its reply and help.
std::span<const RuleSpec> greylist_rules();

} // namespace portcullis::memory
