#include "header_block.hpp"

#include "syntax.hpp"

namespace portcullis::message {

namespace {

constexpr std::array<std::string_view, 13> counted = {
    "From",          "Sender",   "Date",        "Subject",    "To",  "Cc",
    "Message-ID",    "Reply-To", "In-Reply-To", "References", "Bcc", "Authentication-Results",
    "DKIM-Signature"};

// RFC 5322 3.6: orig-date, from, sender, reply-to, to, cc, bcc,
// message-id, in-reply-to, references, subject.
constexpr std::array<std::string_view, 11> singletons = {
    "Date", "From",       "Sender",      "Reply-To",   "To",     "Cc",
    "Bcc",  "Message-ID", "In-Reply-To", "References", "Subject"};

// RFC 5322 2.1.1: lines of at most 998 characters, CR LF excluded.
constexpr std::size_t max_line = 998;
constexpr std::size_t max_name_shown = 128;

bool good_name(std::string_view name) {
    if (name.empty())
        return false;
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 33 || byte > 126 || c == ':')
            return false;
    }
    return true;
}

void note(std::optional<std::string> &finding, std::string_view name) {
    if (!finding)
        finding = std::string(name.substr(0, max_name_shown));
}

} // namespace

std::span<const std::string_view> counted_fields() {
    return counted;
}

std::span<const std::string_view> singleton_fields() {
    return singletons;
}

HeaderBlock::HeaderBlock(HeaderLimits limits) : limits_(limits) {}

void HeaderBlock::clear() {
    fields_.clear();
    findings_ = {};
    fields_seen_ = 0;
    bytes_seen_ = 0;
    keeping_ = true;
    counts_ = {};
}

void HeaderBlock::scan(std::string_view name, std::string_view value) {
    if (!good_name(name))
        note(findings_.bad_name, name);
    for (const char c : name) {
        if (c == '\0')
            note(findings_.nul, name);
        else if (c == '\r')
            note(findings_.bare_cr, name); // a name has no line break at all
        else if (static_cast<unsigned char>(c) >= 0x80)
            note(findings_.eight_bit, name);
    }
    std::size_t line = name.size() + 2; // "Name: "
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (c == '\n') {
            line = 0;
            continue;
        }
        if (c == '\r') {
            if (i + 1 < value.size() && value[i + 1] == '\n')
                continue;
            note(findings_.bare_cr, name);
        } else if (c == '\0') {
            note(findings_.nul, name);
        } else if (static_cast<unsigned char>(c) >= 0x80) {
            note(findings_.eight_bit, name);
        }
        if (++line > max_line)
            note(findings_.long_line, name);
    }
    if (line > max_line)
        note(findings_.long_line, name);
}

void HeaderBlock::add(std::string_view name, std::string_view value) {
    ++fields_seen_;
    bytes_seen_ += name.size() + value.size();
    if (fields_seen_ > limits_.max_fields)
        findings_.too_many_fields = true;
    if (bytes_seen_ > limits_.max_bytes)
        findings_.too_many_bytes = true;
    if (findings_.too_many_fields || findings_.too_many_bytes)
        keeping_ = false;
    for (std::size_t i = 0; i < counted.size(); ++i)
        if (syntax::equal_ignoring_case(counted[i], name)) {
            ++counts_[i];
            break;
        }
    scan(name, value);
    if (keeping_)
        fields_.push_back({std::string(name), std::string(value)});
}

std::size_t HeaderBlock::count(std::string_view name) const {
    for (std::size_t i = 0; i < counted.size(); ++i)
        if (syntax::equal_ignoring_case(counted[i], name))
            return counts_[i];
    std::size_t kept = 0;
    for (const auto &field : fields_)
        kept += syntax::equal_ignoring_case(field.name, name);
    return kept;
}

const std::string *HeaderBlock::first(std::string_view name) const {
    for (const auto &field : fields_)
        if (syntax::equal_ignoring_case(field.name, name))
            return &field.value;
    return nullptr;
}

} // namespace portcullis::message
