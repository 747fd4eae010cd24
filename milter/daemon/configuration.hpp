// Every load step of a start and of a SIGHUP reload, in one function that
// `portcullis -n` runs too, so that the three cannot drift apart: the
// configuration file and the command line, the replies file, each check's
// data (Check::load), the resolver's unbound-config and trust anchor
// files (read by a libunbound context that never starts), and the user
// and group to switch to. Every error is collected, each located where
// its option was set (ConfigError: FILE:LINE: OPTION: message).
#pragma once

#include "core/config.hpp"
#include "session/runtime.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace portcullis {

struct VerifiedConfiguration {
    std::vector<ConfigError> errors;      // by file line, then command line, then defaults
    std::shared_ptr<const Config> config; // when there are no errors
    // With start_resolver and no errors: ready for sessions.
    std::shared_ptr<const Runtime> runtime;
};

// Whether `user` and `group` must exist: for a start, a reload and -n,
// not for `portcullis check` and `portcullis spf`, which switch to no one.
enum class Accounts { check, ignore };

// With `start_resolver` false (`portcullis -n`, and a start before it
// detaches) nothing is started; with it true, a configuration without
// errors comes back as a Runtime with a running resolver.
VerifiedConfiguration
verify_configuration(const std::string &file,
                     const std::vector<std::pair<std::string, std::string>> &overrides,
                     bool start_resolver, Accounts accounts = Accounts::check);

// EX_CONFIG: what a start and `portcullis -n` exit with on errors.
inline constexpr int exit_config_error = 78;

} // namespace portcullis
