// Command-line parsing shared by the daemon and `portcullis check`:
// -c FILE plus any configuration option as --name=value.
#pragma once

#include "session/runtime.hpp"

#include <boost/program_options.hpp>

#include <string>
#include <utility>
#include <vector>

namespace portcullis {

// Adds one --name option per configuration option (repeatable).
void add_config_overrides(boost::program_options::options_description &description);
// Collects the --name=value pairs given on the command line.
std::vector<std::pair<std::string, std::string>>
collect_overrides(const boost::program_options::variables_map &values);

// For the one-shot commands (check, spf): logging to stderr unless --json,
// then the configuration (-c and overrides) and its runtime. Errors are
// printed; null when there are any.
std::shared_ptr<const Runtime>
load_command_runtime(const boost::program_options::variables_map &values);

inline constexpr const char *default_config_file = "/etc/portcullis/portcullis.conf";

} // namespace portcullis
