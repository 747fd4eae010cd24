#include "auth_results.hpp"

#include "syntax.hpp"

#include <string_view>

namespace portcullis::message {

namespace {

constexpr std::size_t max_line = 998;                       // RFC 5322 2.1.1
constexpr std::size_t prefix_length = 24;                   // "Authentication-Results: "
constexpr std::size_t max_keyword = 64;                     // method, result, ptype, property
constexpr std::size_t max_value = 400;                      // values and comments, before quoting
constexpr std::string_view tspecials = "()<>@,;:\\\"/[]?="; // RFC 2045 5.1

bool token_char(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte > 0x20 && byte < 0x7f && tspecials.find(c) == std::string_view::npos;
}

bool is_token(std::string_view text) {
    if (text.empty())
        return false;
    for (const char c : text)
        if (!token_char(c))
            return false;
    return true;
}

bool control(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && c != '\t') || byte == 0x7f;
}

// Without control bytes, at most max_value bytes.
std::string cleaned(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (out.size() >= max_value)
            break;
        if (!control(c))
            out += c;
    }
    return out;
}

std::string keyword(std::string_view text) {
    std::string out;
    for (const char c : text)
        if ((syntax::is_alpha(c) || syntax::is_digit(c) || c == '-' || c == '_') &&
            out.size() < max_keyword)
            out += c;
    return out;
}

std::string quoted(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string value_text(std::string_view raw) {
    const auto text = cleaned(raw);
    return is_token(text) ? text : quoted(text);
}

// A domain-name: LDH labels (underscore tolerated) joined by single dots.
bool domain_name(std::string_view text) {
    if (text.empty() || text.front() == '.' || text.back() == '.')
        return false;
    char previous = '.';
    for (const char c : text) {
        if (c == '.' && previous == '.')
            return false;
        if (c != '.' && !syntax::is_alpha(c) && !syntax::is_digit(c) && c != '-' && c != '_')
            return false;
        previous = c;
    }
    return true;
}

// dot-atom-text over ASCII atext.
bool dot_atom_text(std::string_view text) {
    if (text.empty() || text.front() == '.' || text.back() == '.')
        return false;
    char previous = '.';
    for (const char c : text) {
        if (c == '.' ? previous == '.'
                     : !syntax::is_atext(c) || static_cast<unsigned char>(c) >= 0x80)
            return false;
        previous = c;
    }
    return true;
}

// pvalue (RFC 8601 2.2): value / [ [ local-part ] "@" ] domain-name.
std::string property_value(std::string_view raw) {
    const auto text = cleaned(raw);
    if (is_token(text))
        return text;
    const auto at = text.rfind('@');
    if (at != std::string::npos && domain_name(std::string_view(text).substr(at + 1)) &&
        (at == 0 || dot_atom_text(std::string_view(text).substr(0, at))))
        return text;
    return quoted(text);
}

std::string comment_text(std::string_view raw) {
    std::string out = "(";
    for (const char c : cleaned(raw)) {
        if (c == '(' || c == ')' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + ")";
}

// The parts of one resinfo, each to be kept whole on a line.
std::vector<std::string> parts_of(const AuthResult &result) {
    std::vector<std::string> parts;
    auto method = keyword(result.method);
    auto outcome = keyword(result.result);
    parts.push_back((method.empty() ? "unknown" : method) + "=" +
                    (outcome.empty() ? "none" : outcome));
    if (!result.comment.empty())
        parts.push_back(comment_text(result.comment));
    if (!result.reason.empty())
        parts.push_back("reason=" + value_text(result.reason));
    for (const auto &property : result.properties)
        parts.push_back(keyword(property.ptype) + "." + keyword(property.property) + "=" +
                        property_value(property.value));
    return parts;
}

// Appends text to the field, after a space or, when the line would reach
// past its limit (with room for a ';' after it), after a fold.
class Folder {
  public:
    explicit Folder(std::string start) : field_(std::move(start)) {
        line_ = prefix_length + field_.size();
    }
    void append(std::string_view text, bool fold) {
        if (fold || line_ + 1 + text.size() + 1 >= max_line) {
            field_ += "\n\t";
            line_ = 1;
        } else {
            field_ += ' ';
            ++line_;
        }
        field_ += text;
        line_ += text.size();
    }
    void end_entry() {
        field_ += ';';
        ++line_;
    }
    std::string take() { return std::move(field_); }

  private:
    std::string field_;
    std::size_t line_ = 0;
};

} // namespace

std::string authserv_id_of(std::string_view value) {
    syntax::Cursor cursor{value};
    if (!syntax::skip_cfws(cursor))
        return "";
    std::string id;
    if (cursor.next_is('"')) {
        if (!syntax::read_quoted_string(cursor, &id))
            return "";
    } else {
        while (!cursor.done() && token_char(cursor.peek())) {
            id += cursor.peek();
            ++cursor.at;
        }
    }
    if (!cursor.done() && !cursor.next_is(';') && !cursor.next_is('(') &&
        !syntax::is_space(cursor.peek()))
        return "";
    return syntax::lowercase(id);
}

std::string format_authentication_results(std::string_view authserv_id,
                                          const std::vector<AuthResult> &results) {
    Folder field(value_text(authserv_id.substr(0, 255)) + ";");
    if (results.empty()) {
        field.append("none", false);
        return field.take();
    }
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (i > 0)
            field.end_entry();
        const auto parts = parts_of(results[i]);
        for (std::size_t j = 0; j < parts.size(); ++j)
            field.append(parts[j], i > 0 && j == 0);
    }
    return field.take();
}

} // namespace portcullis::message
