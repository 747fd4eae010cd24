#include "core/host_name.hpp"

namespace portcullis {

namespace {

bool is_letter_or_digit(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string describe_byte(char c) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte > 0x20 && byte < 0x7f)
        return std::string("character '") + c + "'";
    static constexpr char hex[] = "0123456789abcdef";
    return std::string("byte 0x") + hex[byte >> 4] + hex[byte & 0x0f];
}

} // namespace

std::string host_name_problem(std::string_view name, bool allow_underscore) {
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    if (name.empty())
        return "empty name";
    if (name.size() > 253)
        return "longer than 253 bytes";
    std::size_t label_start = 0;
    bool numeric_label = true;
    for (std::size_t i = 0; i <= name.size(); ++i) {
        if (i == name.size() || name[i] == '.') {
            const auto label = name.substr(label_start, i - label_start);
            if (label.empty())
                return "empty label";
            if (label.size() > 63)
                return "label longer than 63 bytes";
            if (label.front() == '-' || label.back() == '-')
                return "label starts or ends with a hyphen";
            if (i == name.size() && numeric_label)
                return "the last label is all digits";
            label_start = i + 1;
            numeric_label = true;
            continue;
        }
        const char c = name[i];
        if (is_letter_or_digit(c) || c == '-' || (c == '_' && allow_underscore)) {
            numeric_label = numeric_label && c >= '0' && c <= '9';
            continue;
        }
        if (c == '_')
            return "underscore";
        return describe_byte(c);
    }
    return "";
}

} // namespace portcullis
