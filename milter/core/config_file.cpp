#include "config_file.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace portcullis {

namespace {

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos)
        return {};
    const auto last = text.find_last_not_of(" \t\r");
    return text.substr(first, last - first + 1);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

} // namespace

ConfigFileIndex::ConfigFileIndex(const std::string &file) : file_(file) {
    if (file.empty())
        return;
    std::ifstream in(file);
    readable_ = static_cast<bool>(in);
    std::string section;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        auto text = trim(line);
        const auto hash = text.find('#');
        if (hash != std::string_view::npos)
            text = trim(text.substr(0, hash));
        if (text.empty())
            continue;
        if (text.front() == '[') {
            if (text.back() != ']' || text.size() < 3) {
                problems_.push_back(
                    {"", "malformed section header '" + std::string(text) + "'", number});
                continue;
            }
            section = std::string(trim(text.substr(1, text.size() - 2)));
            continue;
        }
        const auto equals = text.find('=');
        if (equals == std::string_view::npos) {
            problems_.push_back(
                {"", "expected 'option = value', found '" + std::string(text) + "'", number});
            continue;
        }
        const auto name = std::string(trim(text.substr(0, equals)));
        if (name.empty()) {
            problems_.push_back({"", "missing option name before '='", number});
            continue;
        }
        entries_.push_back({section.empty() ? name : section + "." + name,
                            std::string(trim(text.substr(equals + 1))), number});
    }
}

int ConfigFileIndex::line_of(std::string_view option, std::string_view value, bool first) const {
    int found = 0;
    for (const auto &entry : entries_) {
        if (entry.option != option)
            continue;
        if (!value.empty() && entry.value.find(value) == std::string::npos)
            continue;
        found = entry.line;
        if (first)
            break;
    }
    return found;
}

std::string ConfigFileIndex::suggestion(std::string_view unknown,
                                        std::span<const OptionSpec> options) const {
    std::string_view best;
    std::size_t best_distance = 4;
    for (const auto &option : options) {
        const auto distance = edit_distance(unknown, option.name);
        if (distance < best_distance) {
            best_distance = distance;
            best = option.name;
        }
    }
    return best.empty() ? "" : " (did you mean '" + std::string(best) + "'?)";
}

OptionOrigins::OptionOrigins(ConfigFileIndex index,
                             std::map<std::string, bool, std::less<>> command_line,
                             std::filesystem::path base)
    : index_(std::move(index)), command_line_(std::move(command_line)), base_(std::move(base)) {}

int OptionOrigins::line_holding(std::string_view option, std::string_view value) const {
    int found = 0;
    for (const auto &entry : index_.entries()) {
        if (entry.option != option)
            continue;
        bool holds = entry.value.find(value) != std::string::npos;
        std::istringstream words(entry.value);
        for (std::string word; !holds && words >> word;) {
            const std::filesystem::path path(word);
            holds = !path.is_absolute() && (base_ / path).lexically_normal().string() == value;
        }
        if (holds)
            found = entry.line;
    }
    return found;
}

ConfigError OptionOrigins::locate(std::string_view option, std::string_view value,
                                  std::string message) const {
    ConfigError error;
    error.file = index_.file();
    error.option = std::string(option);
    error.message = std::move(message);
    const auto command_line = command_line_.find(option);
    const bool on_command_line = command_line != command_line_.end();
    if (on_command_line && !command_line->second) {
        error.source = ConfigError::Source::command_line;
        return error;
    }
    error.line = value.empty() ? 0 : line_holding(option, value);
    if (error.line > 0)
        return error;
    if (on_command_line) {
        error.source = ConfigError::Source::command_line;
        return error;
    }
    error.line = index_.line_of(option, "");
    if (error.line == 0)
        error.source = ConfigError::Source::default_value;
    return error;
}

} // namespace portcullis
