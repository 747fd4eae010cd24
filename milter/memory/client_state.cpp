#include "client_state.hpp"

namespace portcullis::memory {

namespace {

std::optional<state::Time> time_of(std::string_view text) {
    const auto ms = parse_ms(text);
    if (!ms)
        return std::nullopt;
    return state::Time(std::chrono::milliseconds(*ms));
}

state::Outcome reading(state::Outcome outcome, const std::string &what) {
    if (!outcome.ok())
        outcome.why = "reading " + what + ": " + outcome.why;
    return outcome;
}

} // namespace

bool ClientState::empty() const {
    for (const auto &reading : counters)
        if (reading.events > 0)
            return false;
    return !block && allowed.empty() && !pass && triplets.empty();
}

PassReading parse_pass(state::Entry entry) {
    PassReading reading;
    const std::string_view value = entry.value;
    const auto space = value.find(' ');
    reading.passed = time_of(value.substr(0, space));
    if (reading.passed && space != std::string_view::npos)
        reading.how = std::string(value.substr(space + 1));
    else if (!reading.passed)
        reading.how = entry.value;
    reading.entry = std::move(entry);
    return reading;
}

TripletReading parse_triplet(state::Entry entry, std::string_view origin) {
    TripletReading reading;
    const std::size_t skip = triplet_prefix.size() + origin.size() + 1;
    const std::string_view parts =
        entry.key.size() > skip ? std::string_view(entry.key).substr(skip) : std::string_view();
    const auto bar = parts.find('|');
    reading.sender = std::string(parts.substr(0, bar));
    if (bar != std::string_view::npos)
        reading.recipient = std::string(parts.substr(bar + 1));
    reading.first_try = time_of(entry.value);
    reading.entry = std::move(entry);
    return reading;
}

state::Outcome read_client_state(state::Store &store, const Config &config, const IpAddress &client,
                                 state::Time now, const ClientStateQuery &query,
                                 ClientState &state) {
    state = ClientState();
    state.address = client.unmapped();
    state.origin =
        network_origin(state.address, config.greylist.prefix_v4, config.greylist.prefix_v6);

    if (auto outcome = read_block(store, state.address, now, state.block); !outcome.ok())
        return reading(outcome, block_key(state.address));
    for (const Counter counter : all_counters) {
        CounterReading counted{counter, counter_limit(config.limits, counter), 0};
        const std::string key = count_key(counter, state.address);
        if (auto outcome = store.count_event(key, now, config.limits.window, config.limits.window,
                                             false, counted.events);
            !outcome.ok())
            return reading(outcome, key);
        state.counters.push_back(counted);
    }

    Allowlist allowlist;
    if (auto outcome = read_allowlist(store, now, allowlist); !outcome.ok())
        return reading(outcome, std::string(allowlist_key));
    state.allowlist_malformed = allowlist.malformed();
    for (const auto &entry : allowlist.entries())
        if (entry.expires > now && entry.network.contains(state.address))
            state.allowed.push_back(entry);

    std::optional<state::Entry> passed;
    const std::string passed_key = pass_key(state.origin);
    if (auto outcome = store.get(passed_key, now, passed); !outcome.ok())
        return reading(outcome, passed_key);
    if (passed)
        state.pass = parse_pass(std::move(*passed));

    if (!query.triplets)
        return {};
    const std::string prefix = std::string(triplet_prefix) + state.origin + "|";
    std::vector<state::Entry> entries;
    // One more than the limit tells whether the limit left some out.
    const std::size_t most = query.triplet_limit + 1;
    if (auto outcome = store.list(prefix, now, most, entries); !outcome.ok())
        return reading(outcome, prefix + "*");
    state.more_triplets = entries.size() > query.triplet_limit;
    if (state.more_triplets)
        entries.resize(query.triplet_limit);
    for (auto &entry : entries)
        state.triplets.push_back(parse_triplet(std::move(entry), state.origin));
    return {};
}

} // namespace portcullis::memory
