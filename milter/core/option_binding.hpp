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

// A duration that must lie within [low, high]; `range` says so in the
// error ("between 1s and 1d").
inline std::chrono::milliseconds duration_in(const OptionValue &in, std::chrono::milliseconds low,
                                             std::chrono::milliseconds high, const char *range) {
    const auto value = in.duration();
    if (value < low || value > high)
        in.fail(in.written(), std::string("must be ") + range);
    return value;
}

// state.*, greylist.* and limits.*, in the order of --help and
// portcullis.conf(5), after the general options.
std::span<const BoundOption> memory_options();

// headers.*, own-domains, dkim.*, authentication-results and authserv-id:
// the message stage, after the memory options.
std::span<const BoundOption> message_options();

// metrics.listen, after the message options.
std::span<const BoundOption> metrics_options();

} // namespace portcullis
