// `portcullis db`: reads and edits the state store of greylisting and the
// abuse counters (state.backend, LMDB or Redis) from the command line:
// list, show, allow, delete, unblock and stats (db_operations.hpp does
// them; this file is the command line, the configuration and the store).
// Exit status: 0 done, 1 nothing found or nothing to do, 2 usage or
// configuration error, 3 the store failed or is missing.
#pragma once

#include "core/config.hpp"
#include "state/store.hpp"

#include <memory>
#include <string>

namespace portcullis {

int db_command(int argc, char **argv);

// The store of `config` for `portcullis db` and `portcullis check`, opened
// without the background sweep. An LMDB store whose file is missing is
// created only with `create`; otherwise this is an error saying so, so
// that reading never leaves files behind. Files of an LMDB store created
// by root are given to the owner of state.path (the daemon's user, which
// could not open them otherwise). nullptr with `error` set on failure.
std::unique_ptr<state::Store> open_state_store(const Config &config, bool create,
                                               std::string &error);

} // namespace portcullis
