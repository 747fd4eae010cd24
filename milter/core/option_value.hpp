// One configuration option's value while load_config() converts it, for
// the bindings of the option table (config.cpp): the text given on the
// command line or in the file, else the table's default, read as the
// option's declared type. Problems become ConfigErrors naming the file,
// the line and the option; a reader then returns a harmless value and
// loading goes on, so one run reports every error. Reading an option as
// another type than declared is a programming error (std::logic_error);
// every load converts every option, defaults included, so the first load
// shows it. Internal to core.
#pragma once

#include "config.hpp"
#include "config_file.hpp"

#include <boost/program_options/variables_map.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

// What the values come from: the parsed command line and file, where
// each was set (for errors, and the directory relative file names
// resolve against), and the errors so far.
struct OptionSources {
    const boost::program_options::variables_map &values;
    const OptionOrigins &origins;
    std::vector<ConfigError> &errors;
};

class OptionValue {
  public:
    OptionValue(const OptionSpec &spec, const OptionSources &sources)
        : spec_(spec), sources_(sources) {}

    const OptionSpec &spec() const { return spec_; }
    // The value as written, for a single-valued option of any type.
    std::string written() const;

    std::string text() const;
    // A file name; a relative one resolves against the configuration
    // file's directory.
    std::string path() const;
    std::string choice() const;
    bool boolean() const;
    double number() const;
    unsigned whole_number(unsigned low, unsigned high) const;
    std::chrono::milliseconds duration() const;
    std::uint64_t size() const;
    Action action() const;

    // List options: the words of every occurrence, or of the default.
    std::vector<std::string> list() const;
    std::vector<std::string> paths() const;
    std::vector<Network> networks() const;

    // An error where this option was set to (a value containing) `value`:
    // a line of the file, the command line or its default.
    void fail(std::string_view value, std::string message) const;

  private:
    void expect(OptionType type) const;

    const OptionSpec &spec_;
    const OptionSources &sources_;
};

} // namespace portcullis
