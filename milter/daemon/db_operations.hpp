// `portcullis db`: what each subcommand does to a state store, apart from
// the command line and the process (db_command.cpp), so that tests run
// them over a store of their own with a clock of their own.
//
// Contract:
// - parse_request() checks everything the command line gives (addresses,
//   networks, keys, prefixes, --limit, --for) before a store is opened;
//   run() does one subcommand and returns its exit status.
// - Only allow, delete and unblock write; list, show and stats only read
//   (counters are read with Store::count_event(count = false)).
// - Everything read from the store is hostile: keys and values are
//   printed through printable() (no control byte reaches the terminal),
//   and in JSON as the same printable strings.
// - With json, `out` receives exactly one JSON document, a failure of the
//   store included ({"error": ..., "status": ...}); `err` gets messages.
#pragma once

#include "core/address.hpp"
#include "core/config.hpp"
#include "memory/client_state.hpp"
#include "memory/time_text.hpp"
#include "state/store.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::db {

inline constexpr int exit_done = 0;
inline constexpr int exit_not_found = 1; // nothing stored, nothing to do
inline constexpr int exit_usage = 2;     // the command line or the configuration
inline constexpr int exit_store_failed = 3;

inline constexpr std::size_t default_limit = 1000;
inline constexpr std::size_t most_limit = 1'000'000;
// --for: as greylist.allow-time allows.
inline constexpr std::chrono::milliseconds shortest_allow{1000};
inline constexpr std::chrono::milliseconds longest_allow{3650LL * 86'400'000};

enum class Command { list, show, allow, erase, unblock, stats };

// The command line after `db`, as given.
struct Arguments {
    std::vector<std::string> words = {}; // SUBCOMMAND [ARGUMENT]
    bool json = false;
    std::optional<std::string> limit = {};    // --limit N
    std::optional<std::string> duration = {}; // --for DURATION
};

struct Request {
    Command command = Command::list;
    std::string prefix;                                // list
    std::string key;                                   // delete
    std::optional<IpAddress> address;                  // show, unblock; allow of a single address
    std::optional<Network> network;                    // allow, normalised (host bits cleared)
    std::optional<std::chrono::milliseconds> duration; // allow --for
    std::size_t limit = default_limit;
    bool json = false;

    // allow creates the store when it is missing; the others never do.
    bool creates() const { return command == Command::allow; }
};

// The request, or nullopt with `problem` saying what is wrong (one line,
// the hostile text made printable).
std::optional<Request> parse_request(const Arguments &arguments, std::string &problem);

// Does `request`; 0, 1 (not found / nothing to do) or 3 (the store failed).
int run(const Request &request, state::Store &store, const Config &config, state::Time now,
        std::ostream &out, std::ostream &err);

// Printable ASCII as it is, `\` as `\\`, newline and tab as `\n` and `\t`,
// any other byte as `\xNN`.
std::string printable(std::string_view text);
// Times as memory/time_text.hpp writes them.
using memory::seconds_left;
using memory::utc_json;
using memory::utc_text;

// What `db show` and `portcullis check` print of a client's state: lines
// each starting with `indent` (block, counters, allowlist, greylist pass,
// triplets when read), and the JSON object (address, origin, block,
// window_seconds, counters, allowlist, allowlist_malformed, pass, and
// triplets and more_triplets when read).
std::string client_state_text(const memory::ClientState &state,
                              const memory::ClientStateQuery &query, const Config &config,
                              state::Time now, std::string_view indent);
nlohmann::json client_state_json(const memory::ClientState &state,
                                 const memory::ClientStateQuery &query, const Config &config,
                                 state::Time now);

} // namespace portcullis::db
