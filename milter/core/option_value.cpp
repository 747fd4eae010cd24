#include "option_value.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace portcullis {

namespace {

std::vector<std::string> split_words(std::string_view text) {
    std::vector<std::string> words;
    std::istringstream in{std::string(text)};
    for (std::string word; in >> word;)
        words.push_back(word);
    return words;
}

std::string resolve_path(const std::filesystem::path &base, const std::string &path) {
    if (path.empty() || std::filesystem::path(path).is_absolute())
        return path;
    return (base / path).lexically_normal().string();
}

} // namespace

void OptionValue::expect(OptionType type) const {
    if (spec_.type != type)
        throw std::logic_error("option " + std::string(spec_.name) +
                               " is read as another type than it is declared");
}

std::string OptionValue::written() const {
    const std::string name(spec_.name);
    if (sources_.values.count(name))
        return sources_.values[name].as<std::string>();
    return std::string(spec_.default_value);
}

std::string OptionValue::text() const {
    expect(OptionType::string);
    return written();
}

std::string OptionValue::path() const {
    return resolve_path(sources_.origins.base(), text());
}

std::string OptionValue::choice() const {
    expect(OptionType::choice);
    const auto value = written();
    std::string choices(spec_.choices);
    std::replace(choices.begin(), choices.end(), '|', ' ');
    for (const auto &allowed : split_words(choices))
        if (allowed == value)
            return value;
    fail(value, "expected one of " + std::string(spec_.choices) + ", not '" + value + "'");
    return split_words(choices).front();
}

bool OptionValue::boolean() const {
    expect(OptionType::boolean);
    const auto value = to_lower(written());
    if (value == "yes" || value == "true" || value == "on" || value == "1")
        return true;
    if (value == "no" || value == "false" || value == "off" || value == "0")
        return false;
    fail(value, "expected yes or no, not '" + value + "'");
    return false;
}

double OptionValue::number() const {
    expect(OptionType::number);
    const auto value = written();
    double number = 0;
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (value.empty() || error != std::errc() || end != value.data() + value.size() ||
        !std::isfinite(number)) {
        fail(value, "expected a number, not '" + value + "'");
        return 0;
    }
    return number;
}

unsigned OptionValue::whole_number(unsigned low, unsigned high) const {
    const double value = number();
    if (value < low || value > high || value != std::floor(value)) {
        fail(written(),
             "expected a whole number from " + std::to_string(low) + " to " + std::to_string(high));
        return low;
    }
    return static_cast<unsigned>(value);
}

std::chrono::milliseconds OptionValue::duration() const {
    expect(OptionType::duration);
    const auto value = written();
    auto parsed = parse_duration(value);
    if (!parsed || parsed->count() <= 0) {
        fail(value, "expected a duration such as 5s or 250ms, not '" + value + "'");
        return std::chrono::milliseconds(1000);
    }
    return *parsed;
}

std::uint64_t OptionValue::size() const {
    expect(OptionType::size);
    const auto value = written();
    auto parsed = parse_size(value);
    if (!parsed) {
        fail(value, "expected a size such as 32m, not '" + value + "'");
        return 1 << 20;
    }
    return *parsed;
}

Action OptionValue::action() const {
    expect(OptionType::action);
    const auto value = written();
    if (auto action = Action::parse(value))
        return *action;
    fail(value, "expected ignore, log, tempfail, reject or score:N, not '" + value + "'");
    return Action{ActionKind::log};
}

std::vector<std::string> OptionValue::list() const {
    expect(OptionType::list);
    const std::string name(spec_.name);
    if (!sources_.values.count(name))
        return split_words(spec_.default_value);
    std::vector<std::string> out;
    for (const auto &value : sources_.values[name].as<std::vector<std::string>>())
        for (auto &word : split_words(value))
            out.push_back(word);
    return out;
}

std::vector<std::string> OptionValue::paths() const {
    std::vector<std::string> out;
    for (const auto &file : list())
        out.push_back(resolve_path(sources_.origins.base(), file));
    return out;
}

std::vector<Network> OptionValue::networks() const {
    std::vector<Network> out;
    for (const auto &word : list()) {
        if (auto network = Network::parse(word))
            out.push_back(*network);
        else
            fail(word, "'" + word + "' is not an address or network (CIDR)");
    }
    return out;
}

void OptionValue::fail(std::string_view value, std::string message) const {
    sources_.errors.push_back(sources_.origins.locate(spec_.name, value, std::move(message)));
}

} // namespace portcullis
