#include "abuse_counters.hpp"

#include "time_text.hpp"

namespace portcullis::memory {

namespace {

constexpr std::string_view rejected_recipients_text[] = {
    "Excessive unknown recipients from ${client_addr} - possible open relay",
    "(${limit_count} refused within ${limit_window}); try again after ${block_until}.",
    "See ${url}",
};
constexpr std::string_view rsets_text[] = {
    "Too many RSETs from ${client_addr} (${limit_count} within ${limit_window});",
    "try again after ${block_until}. See ${url}",
};
constexpr std::string_view empty_transactions_text[] = {
    "Too many transactions without a recipient from ${client_addr}",
    "(${limit_count} within ${limit_window}); try again after ${block_until}. See ${url}",
};
constexpr std::string_view unknown_commands_text[] = {
    "Too many unknown commands from ${client_addr} (${limit_count} within ${limit_window});",
    "try again after ${block_until}. See ${url}",
};
constexpr std::string_view errors_text[] = {
    "Too many errors from your IP ${client_addr} (${limit_count} within ${limit_window});",
    "subsequent connections are blocked until ${block_until}. See ${url}",
};

constexpr std::string_view block_notes =
    "Counted per client address across sessions (and MX hosts sharing a Redis store) within "
    "limits.window; past the limit the session gets this 421, which ends it, and the address "
    "gets it at the first command of every connection for limits.block-time, exempt "
    "recipients included. Action log counts and logs what would have been blocked; ignore "
    "does not count. Reply variables: limit_count, limit_window, block_until (UTC).";

constexpr RuleSpec rules[] = {
    {.id = "too-many-rejected-recipients",
     .stage = Stage::connect,
     .default_action = "tempfail",
     .summary = "a client address sends more than limits.rejected-recipients recipients that the "
                "MTA or portcullis refused within limits.window",
     .help = "Your server sent many recipients that do not exist here or that we do not relay "
             "for, as a dictionary attack or an open relay does. Check your server for a "
             "compromised account or an open relay, correct the addresses, and retry after "
             "the block ends.",
     .reject = "550 5.7.1",
     .tempfail = "421 4.7.0",
     .text = rejected_recipients_text,
     .notes = block_notes,
     .may_reject = false},
    {.id = "too-many-rsets",
     .stage = Stage::connect,
     .default_action = "tempfail",
     .summary = "a client address sends more than limits.rsets RSET commands within limits.window",
     .help = "Your server reset many SMTP transactions in a row, which address harvesters do. "
             "A mail server needs few: check what makes it reset, and retry after the block "
             "ends.",
     .reject = "550 5.7.1",
     .tempfail = "421 4.7.0",
     .text = rsets_text,
     .notes = block_notes,
     .may_reject = false},
    {.id = "too-many-empty-transactions",
     .stage = Stage::connect,
     .default_action = "tempfail",
     .summary = "a client address starts more than limits.empty-transactions transactions "
                "without any RCPT within limits.window",
     .help = "Your server started many transactions (MAIL FROM) and named no recipient in them, "
             "as address probes do. Check what your server sends, and retry after the block "
             "ends.",
     .reject = "550 5.7.1",
     .tempfail = "421 4.7.0",
     .text = empty_transactions_text,
     .notes = block_notes,
     .may_reject = false},
    {.id = "too-many-unknown-commands",
     .stage = Stage::connect,
     .default_action = "tempfail",
     .summary = "a client address sends more than limits.unknown-commands unknown SMTP commands "
                "(as the MTA reports them) within limits.window",
     .help = "Your client sent commands that are not SMTP, as a misdirected program or a scanner "
             "does. Point it at the right service, and retry after the block ends.",
     .reject = "550 5.7.1",
     .tempfail = "421 4.7.0",
     .text = unknown_commands_text,
     .notes = block_notes,
     .may_reject = false},
    {.id = "too-many-errors",
     .stage = Stage::connect,
     .default_action = "tempfail",
     .summary = "a client address gets more than limits.errors refusals from portcullis "
                "(greylisting aside) within limits.window",
     .help = "Our checks refused your server many times in a short while. Read the earlier "
             "replies: each says what to fix. Fix it, and retry after the block ends.",
     .reject = "550 5.7.1",
     .tempfail = "421 4.7.0",
     .text = errors_text,
     .notes = block_notes,
     .may_reject = false},
};

Counter counter_of_rule(std::string_view rule) {
    for (const Counter counter : all_counters)
        if (counter_rule(counter) == rule)
            return counter;
    return Counter::errors;
}

} // namespace

std::string_view counter_rule(Counter counter) {
    return rules[static_cast<std::size_t>(counter)].id;
}

unsigned counter_limit(const Config::Limits &limits, Counter counter) {
    switch (counter) {
    case Counter::rejected_recipients:
        return limits.rejected_recipients;
    case Counter::rsets:
        return limits.rsets;
    case Counter::empty_transactions:
        return limits.empty_transactions;
    case Counter::unknown_commands:
        return limits.unknown_commands;
    case Counter::errors:
        return limits.errors;
    }
    return 0;
}

Block parse_block(std::string_view value, state::Time expires, state::Time now) {
    Block found;
    found.until = expires;
    const auto first = value.find(' ');
    const auto second = first == std::string_view::npos ? first : value.find(' ', first + 1);
    const auto count = second == std::string_view::npos
                           ? std::nullopt
                           : parse_ms(value.substr(first + 1, second - first - 1));
    const auto since =
        second == std::string_view::npos ? std::nullopt : parse_ms(value.substr(second + 1));
    if (count && since) {
        found.rule = std::string(counter_rule(counter_of_rule(value.substr(0, first))));
        found.count = static_cast<std::uint64_t>(*count);
        found.since = state::Time(std::chrono::milliseconds(*since));
    } else {
        found.rule = std::string(counter_rule(Counter::errors));
        found.since = now;
    }
    return found;
}

state::Outcome read_block(state::Store &store, const IpAddress &client, state::Time now,
                          std::optional<Block> &block) {
    block.reset();
    std::optional<state::Entry> entry;
    auto outcome = store.get(block_key(client), now, entry);
    if (!outcome.ok() || !entry)
        return outcome;
    block = parse_block(entry->value, entry->expires, now);
    return outcome;
}

CountResult count_event(state::Store &store, const Config::Limits &limits, Counter counter,
                        const IpAddress &client, state::Time now, bool enforce) {
    CountResult result;
    const unsigned limit = counter_limit(limits, counter);
    if (limit == 0)
        return result;
    result.outcome = store.count_event(count_key(counter, client), now, limits.window,
                                       limits.window, true, result.events);
    if (!result.outcome.ok() || result.events <= limit)
        return result;
    Block block;
    block.rule = std::string(counter_rule(counter));
    block.count = result.events;
    block.since = now;
    block.until = now + limits.block_time;
    if (enforce) {
        // The block starts the count afresh: when it ends, the address is
        // not blocked again at once by the events that blocked it.
        store.erase(count_key(counter, client));
        result.outcome =
            store.put(block_key(client),
                      block.rule + " " + std::to_string(block.count) + " " + format_ms(to_ms(now)),
                      block.until, now);
    }
    result.passed = block;
    return result;
}

std::span<const RuleSpec> counter_rules() {
    return rules;
}

} // namespace portcullis::memory
