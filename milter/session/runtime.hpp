// Everything a session needs that comes from configuration: the Config,
// the reply templates, the data the checks load (generic-rDNS patterns)
// and the resolver given for them (the daemon builds the libunbound one,
// tests a scripted one; this layer sees only the Resolver interface).
// Immutable once built; a reload builds a new Runtime and swaps
// the current pointer, while running sessions keep the one they started
// with (shared ownership).
#pragma once

#include "checks/check.hpp"
#include "core/config.hpp"
#include "core/dns.hpp"
#include "core/replies.hpp"
#include "message/dkim_verifier.hpp"
#include "state/store.hpp"

#include <memory>
#include <string>
#include <vector>

namespace portcullis {

// What the message stage needs the MTA to send and allow under a
// configuration; all false when every message check is off.
struct MessageNeeds {
    bool header = false;        // header fields and the end of the header
    bool body = false;          // the body (DKIM)
    bool add_fields = false;    // SMFIF_ADDHDRS
    bool change_fields = false; // SMFIF_CHGHDRS (deleting forged A-R fields)
};
MessageNeeds message_needs(const Config &config);

struct Runtime {
    std::shared_ptr<const Config> config;
    ReplyBook replies;
    CheckDataSet check_data;
    std::shared_ptr<Resolver> resolver;
    // The state store greylisting and the abuse counters use; null: they
    // are off (`portcullis -n`, tests of other things). The daemon opens
    // it once and hands it to every runtime it builds (with_store()).
    std::shared_ptr<state::Store> store;
    // libopendkim's library handle, with its DNS hooks on our lookups;
    // null when dkim.verify is off.
    std::shared_ptr<const message::DkimLibrary> dkim;
    // message_needs(*config), for the negotiation and every session.
    MessageNeeds message_needs;
    // The clock the store's entries are written and read with; null: the
    // system clock (tests set their own).
    state::Time (*clock)() = nullptr;

    // The load steps of this layer: the files the config names (the
    // reply templates, each check's data), every problem in `errors`,
    // located at the option that names the file. The result has no
    // resolver yet: `portcullis -n` stops here, a start goes on to start().
    static Runtime load(Config config, std::vector<ConfigError> &errors);
    // A loaded runtime, ready for sessions: lookups go to `resolver` (not
    // null) through a SharedAnswers cache.
    static std::shared_ptr<const Runtime> start(Runtime loaded, std::shared_ptr<Resolver> resolver);
    // load() and start(); null, with `errors` filled, when anything is wrong.
    static std::shared_ptr<const Runtime> build(Config config, std::vector<ConfigError> &errors,
                                                std::shared_ptr<Resolver> resolver);
};

// `runtime` with `store` attached.
std::shared_ptr<const Runtime> with_store(const std::shared_ptr<const Runtime> &runtime,
                                          std::shared_ptr<state::Store> store);

// The runtime new sessions start with; swapped on reload.
std::shared_ptr<const Runtime> current_runtime();
void install_runtime(std::shared_ptr<const Runtime> runtime);

} // namespace portcullis
