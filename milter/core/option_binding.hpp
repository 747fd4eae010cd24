// How an option of the table is bound to the Config member its value
// goes to: its declaration and the conversion that checks and stores it.
// config.cpp holds the general and policy options; the options of the
// state store, greylisting and the abuse counters live in
// memory_options.cpp, those of the message stage in message_options.cpp. Internal to core.
#pragma once

#include "config.hpp"
#include "option_value.hpp"

#include <span>

namespace portcullis {

// Converts an option's value (checking it as the option needs) and
// stores it in its Config member.
using OptionStore = void (*)(const OptionValue &in, Config &config);

struct BoundOption {
    OptionSpec spec;
    OptionStore store;
};

// state.*, greylist.* and limits.*, in the order of --help and
// portcullis.conf(5), after the general options.
std::span<const BoundOption> memory_options();

// headers.*, own-domains, dkim.*, authentication-results and authserv-id:
// the message stage, after the memory options.
std::span<const BoundOption> message_options();

} // namespace portcullis
