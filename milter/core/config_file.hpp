// A line index of a configuration file, so that errors found after
// Boost.Program_options has read it can name the line. It also catches
// what Boost reports without a line: malformed lines and unknown options.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

struct OptionSpec;

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

} // namespace portcullis
