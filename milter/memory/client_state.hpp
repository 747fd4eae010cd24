// What the state store holds about one client address, read without
// writing anything, for `portcullis db show` and `portcullis check`: its
// block, each abuse counter's events in the current limits.window (read,
// not counted), the live allowlist entries that contain it, the greylist
// pass of its network origin (greylist.prefix-v4/-v6) and, when asked,
// that origin's triplets. A pool-domain origin ("d:example.com") is not
// derived from an address; `portcullis db list pass:d:` shows those.
//
// The reads stop at the first failure; its Outcome's why names what was
// being read. Values are kept as the store returned them: whoever prints
// them makes them safe.
#pragma once

#include "abuse_counters.hpp"
#include "allowlist.hpp"
#include "core/address.hpp"
#include "core/config.hpp"
#include "keys.hpp"
#include "state/store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace portcullis::memory {

struct CounterReading {
    Counter counter;
    unsigned limit = 0;       // limits.<counter>; 0: off
    std::uint64_t events = 0; // within the window ending now
};

// pass:ORIGIN, its value "MS HOW" read back; `passed` is unset (and `how`
// the whole value) when the value is malformed.
struct PassReading {
    state::Entry entry;
    std::optional<state::Time> passed;
    std::string how;
};

// grey:ORIGIN|SENDER|RECIPIENT; `first_try` is unset when the value is malformed.
struct TripletReading {
    state::Entry entry;
    std::string sender;    // as encoded in the key (keys.hpp)
    std::string recipient; // as encoded in the key
    std::optional<state::Time> first_try;
};

struct ClientState {
    IpAddress address;  // unmapped
    std::string origin; // its network origin
    std::optional<Block> block;
    std::vector<CounterReading> counters; // every counter, in all_counters order
    std::vector<AllowEntry> allowed;      // the live allowlist entries containing it
    std::size_t allowlist_malformed = 0;  // lines of the allowlist that were unreadable
    std::optional<PassReading> pass;
    std::vector<TripletReading> triplets; // when asked for
    bool more_triplets = false;           // the limit left some out

    // Nothing is stored about the address.
    bool empty() const;
};

struct ClientStateQuery {
    bool triplets = false;
    std::size_t triplet_limit = 1000;
};

state::Outcome read_client_state(state::Store &store, const Config &config, const IpAddress &client,
                                 state::Time now, const ClientStateQuery &query,
                                 ClientState &state);

PassReading parse_pass(state::Entry entry);
// `entry.key` must start with triplet_prefix + origin + "|".
TripletReading parse_triplet(state::Entry entry, std::string_view origin);

} // namespace portcullis::memory
