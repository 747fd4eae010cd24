// The allowlist `portcullis db allow` writes: networks (or single
// addresses) that greylisting and the abuse counters leave alone, each
// until its own expiry. One store entry (keys.hpp: allowlist) holds them
// all, one "NETWORK MS" line each, so that a session reads it with one
// call at connect; it is meant for a handful of operator decisions, not a
// list of thousands (the store's 64 KiB value limit holds about 1,500).
#pragma once

#include "core/address.hpp"
#include "state/store.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace portcullis::memory {

struct AllowEntry {
    Network network;
    state::Time expires;
};

class Allowlist {
  public:
    // Reads a stored value; malformed lines are skipped (and counted).
    static Allowlist parse(std::string_view value);
    std::string serialize() const;

    // The live entry that contains `client`, or null.
    const AllowEntry *match(const IpAddress &client, state::Time now) const;
    // Adds or extends (replaces the expiry of) `network`, and drops
    // entries that expired before `now`.
    void add(const Network &network, state::Time expires, state::Time now);
    // Removes the entries equal to `network`; how many went.
    std::size_t remove(const Network &network);
    // The latest expiry of its entries (the store entry lives as long).
    state::Time last_expiry() const;

    const std::vector<AllowEntry> &entries() const { return entries_; }
    std::size_t malformed() const { return malformed_; }

  private:
    std::vector<AllowEntry> entries_;
    std::size_t malformed_ = 0;
};

// Reads the allowlist from the store; an absent entry is an empty list.
state::Outcome read_allowlist(state::Store &store, state::Time now, Allowlist &allowlist);

} // namespace portcullis::memory
