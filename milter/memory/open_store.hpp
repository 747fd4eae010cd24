// The state store a configuration names (state.backend and the state.*
// options): LMDB under state.path or Redis at state.redis. The daemon
// opens it once at start (after dropping privileges, so that the files
// are its user's) and keeps it across reloads; `portcullis db` and
// `portcullis check` open their own, without the background sweep.
#pragma once

#include "core/config.hpp"
#include "state/store.hpp"

#include <memory>
#include <string>

namespace portcullis::memory {

struct StoreUse {
    bool sweep = true; // LMDB: sweep expired entries in the background
    // LMDB: create state.path (mode 0750) when it is missing.
    bool create_directory = false;
};

// What a configuration's state options get wrong that load_config()
// cannot see (a state.redis URL that does not parse, with state.backend =
// redis): empty when nothing; `portcullis -n` and every load report it.
std::string store_options_problem(const Config &config);

// nullptr with `error` set (naming the option and the cause) on failure.
std::unique_ptr<state::Store> open_store(const Config &config, const StoreUse &use,
                                         std::string &error);

} // namespace portcullis::memory
