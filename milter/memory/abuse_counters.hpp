// The abuse counters per client address, across sessions and MX hosts
// sharing a store: sliding-window counts of rejected recipients, RSETs,
// transactions without a recipient, unknown commands and refusals
// (keys.hpp: count:COUNTER:ADDRESS). A count past its limits.<counter>
// within limits.window blocks the address for limits.block-time
// (block:ADDRESS): its later connections get the counter's rule, a 421,
// at their first command.
//
// Each call is one store call (two when a block is written); a failure is
// reported for limits.on-store-error to decide.
#pragma once

#include "core/address.hpp"
#include "core/config.hpp"
#include "core/rule.hpp"
#include "keys.hpp"
#include "state/store.hpp"

#include <optional>
#include <span>
#include <string>

namespace portcullis::memory {

struct Block {
    std::string rule;        // too-many-rejected-recipients, ...
    std::uint64_t count = 0; // the count that passed the limit
    state::Time since{};
    state::Time until{};
};

// The rule of a counter: "too-many-rejected-recipients", ...
std::string_view counter_rule(Counter counter);
// limits.<counter>; 0 when the counter is off.
unsigned counter_limit(const Config::Limits &limits, Counter counter);

// A block entry's value ("RULE COUNT MS") read back; a malformed one is
// rule too-many-errors since `now`.
Block parse_block(std::string_view value, state::Time expires, state::Time now);

// The address's live block, if any. A malformed block entry still blocks
// (rule too-many-errors): it was written for a reason.
state::Outcome read_block(state::Store &store, const IpAddress &client, state::Time now,
                          std::optional<Block> &block);

struct CountResult {
    state::Outcome outcome;
    std::uint64_t events = 0;    // within the window, this one included
    std::optional<Block> passed; // set when this event passed the limit
};

// Counts one event. When it passes the limit and `enforce` is set, the
// block is written; `passed` is set either way, for the log.
CountResult count_event(state::Store &store, const Config::Limits &limits, Counter counter,
                        const IpAddress &client, state::Time now, bool enforce);

// The rules too-many-*, declared here with their replies and help.
std::span<const RuleSpec> counter_rules();

} // namespace portcullis::memory
