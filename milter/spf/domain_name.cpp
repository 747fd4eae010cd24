#include "spf/domain_name.hpp"

#include <cctype>

namespace portcullis::spf {

namespace {

constexpr std::size_t max_name = 253;
constexpr std::size_t max_label = 63;

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Every label 1..63 bytes and the whole at most 253: a query can be built.
bool labels_fit(std::string_view name) {
    if (name.empty() || name.size() > max_name)
        return false;
    std::size_t start = 0;
    while (true) {
        const auto dot = name.find('.', start);
        const auto length = (dot == std::string_view::npos ? name.size() : dot) - start;
        if (length == 0 || length > max_label)
            return false;
        if (dot == std::string_view::npos)
            return true;
        start = dot + 1;
    }
}

} // namespace

std::string identity_domain_problem(std::string_view name) {
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    if (name.empty())
        return "empty domain";
    if (name.front() == '[')
        return "an address literal, not a domain";
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f)
            return "a space, control or non-ASCII byte in the domain";
    }
    if (name.size() > max_name)
        return "domain longer than 253 bytes";
    if (!labels_fit(name))
        return "an empty label or a label longer than 63 bytes";
    const auto last_dot = name.rfind('.');
    if (last_dot == std::string_view::npos)
        return "not a multi-label domain";
    const auto top = name.substr(last_dot + 1);
    bool all_digits = true;
    for (const char c : top)
        all_digits = all_digits && c >= '0' && c <= '9';
    if (all_digits)
        return "the top label is all digits";
    return "";
}

std::optional<std::string> name_for_query(std::string_view expanded) {
    if (!expanded.empty() && expanded.back() == '.')
        expanded.remove_suffix(1);
    while (expanded.size() > max_name) {
        const auto dot = expanded.find('.');
        if (dot == std::string_view::npos)
            return std::nullopt;
        expanded.remove_prefix(dot + 1);
    }
    if (!labels_fit(expanded))
        return std::nullopt;
    std::string name;
    name.reserve(expanded.size());
    for (const char c : expanded)
        name += lower(c);
    return name;
}

std::string escape_name(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (const char c : raw) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\\') {
            out += "\\\\";
        } else if (byte > 0x20 && byte < 0x7f) {
            out += lower(c);
        } else {
            out += '\\';
            out += static_cast<char>('0' + byte / 100);
            out += static_cast<char>('0' + byte / 10 % 10);
            out += static_cast<char>('0' + byte % 10);
        }
    }
    return out;
}

std::string unescape_name(std::string_view presentation) {
    std::string out;
    out.reserve(presentation.size());
    for (std::size_t i = 0; i < presentation.size(); ++i) {
        const char c = presentation[i];
        if (c != '\\' || i + 1 == presentation.size()) {
            out += c;
            continue;
        }
        const auto digit = [&](std::size_t at) {
            return at < presentation.size() && presentation[at] >= '0' && presentation[at] <= '9';
        };
        if (digit(i + 1) && digit(i + 2) && digit(i + 3)) {
            const int value = (presentation[i + 1] - '0') * 100 + (presentation[i + 2] - '0') * 10 +
                              (presentation[i + 3] - '0');
            if (value <= 255) {
                out += static_cast<char>(value);
                i += 3;
                continue;
            }
        }
        // "\." stays escaped: a dot inside a label cannot be told apart
        // from a label separator in raw form, and such names never match.
        if (presentation[i + 1] == '.') {
            out += "\\.";
            ++i;
            continue;
        }
        out += presentation[i + 1];
        ++i;
    }
    return out;
}

bool is_within(std::string_view name, std::string_view domain) {
    if (domain.empty() || name.size() < domain.size())
        return false;
    const auto tail = name.substr(name.size() - domain.size());
    for (std::size_t i = 0; i < tail.size(); ++i)
        if (lower(tail[i]) != lower(domain[i]))
            return false;
    return name.size() == domain.size() || name[name.size() - domain.size() - 1] == '.';
}

} // namespace portcullis::spf
