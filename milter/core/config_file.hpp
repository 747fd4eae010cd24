// A line index of a configuration file, so that errors found after
// Boost.Program_options has read it can name the line. It also catches
// what Boost reports without a line: malformed lines and unknown options.
// OptionOrigins adds the command line and the defaults: where each
// option's value came from, for every error about it.
#pragma once

#include "config.hpp"

#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

class ConfigFileIndex {
  public:
    struct Entry {
        std::string option; // "section.name"
        std::string value;
        int line = 0;
    };
    struct Problem {
        std::string option;
        std::string message;
        int line = 0;
    };

    explicit ConfigFileIndex(const std::string &file);

    bool readable() const { return readable_; }
    const std::string &file() const { return file_; }
    const std::vector<Entry> &entries() const { return entries_; }
    const std::vector<Problem> &syntax_errors() const { return problems_; }

    // The line that sets `option` (to a value containing `value` when given),
    // the last such line for single options; 0 if the file does not set it.
    int line_of(std::string_view option, std::string_view value, bool first = false) const;
    // " (did you mean 'x'?)" for a near miss among the known options, or "".
    std::string suggestion(std::string_view unknown, std::span<const OptionSpec> options) const;

  private:
    std::string file_;
    bool readable_ = false;
    std::vector<Entry> entries_;
    std::vector<Problem> problems_;
};

class OptionOrigins {
  public:
    // `command_line`: the options set there, each with whether it is a
    // list (whose values add to the file's; any other option set there
    // ignores the file). `base`: the directory relative file names in
    // the file resolve against.
    OptionOrigins(ConfigFileIndex index, std::map<std::string, bool, std::less<>> command_line,
                  std::filesystem::path base);

    // An error about `option`: at the line of the file that sets it to a
    // value holding `value` (a word, or a file name that resolves to it),
    // else on the command line when set there, else at the last line
    // that sets it, else at its default.
    ConfigError locate(std::string_view option, std::string_view value, std::string message) const;

    const ConfigFileIndex &index() const { return index_; }
    const std::filesystem::path &base() const { return base_; }

  private:
    int line_holding(std::string_view option, std::string_view value) const;

    ConfigFileIndex index_;
    std::map<std::string, bool, std::less<>> command_line_;
    std::filesystem::path base_;
};

} // namespace portcullis
