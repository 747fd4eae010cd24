#include "syntax.hpp"

namespace portcullis::message::syntax {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_atext(char c) {
    if (is_alpha(c) || is_digit(c) || static_cast<unsigned char>(c) >= 0x80)
        return true;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
        return true;
    default:
        return false;
    }
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char &c : out)
        c = lower(c);
    return out;
}

bool skip_comment(Cursor &cursor) {
    std::size_t at = cursor.at + 1;
    std::size_t depth = 1;
    while (at < cursor.text.size()) {
        const char c = cursor.text[at++];
        if (c == '\\') {
            if (at >= cursor.text.size())
                return false;
            ++at;
        } else if (c == '(') {
            ++depth;
        } else if (c == ')' && --depth == 0) {
            cursor.at = at;
            return true;
        }
    }
    return false;
}

bool skip_cfws(Cursor &cursor, bool *saw_space) {
    while (!cursor.done()) {
        const char c = cursor.peek();
        if (is_space(c)) {
            if (saw_space)
                *saw_space = true;
            ++cursor.at;
        } else if (c == '(') {
            if (!skip_comment(cursor))
                return false;
        } else {
            break;
        }
    }
    return true;
}

std::string_view read_atext(Cursor &cursor) {
    const std::size_t start = cursor.at;
    while (!cursor.done() && is_atext(cursor.peek()))
        ++cursor.at;
    return cursor.text.substr(start, cursor.at - start);
}

bool read_quoted_string(Cursor &cursor, std::string *content) {
    std::size_t at = cursor.at + 1;
    while (at < cursor.text.size()) {
        char c = cursor.text[at++];
        if (c == '"') {
            cursor.at = at;
            return true;
        }
        if (c == '\\') {
            if (at >= cursor.text.size())
                return false;
            c = cursor.text[at++];
        }
        if (content)
            *content += c;
    }
    return false;
}

bool read_domain_literal(Cursor &cursor, std::string *literal) {
    std::size_t at = cursor.at + 1;
    std::string written = "[";
    while (at < cursor.text.size()) {
        const char c = cursor.text[at++];
        const auto byte = static_cast<unsigned char>(c);
        if (c == ']') {
            cursor.at = at;
            if (literal)
                *literal = written + "]";
            return true;
        }
        if (is_space(c))
            continue;
        if (c == '[' || c == '\0' || byte >= 0x80)
            return false;
        if (c == '\\') { // obs-dtext: quoted-pair
            if (at >= cursor.text.size())
                return false;
            written += c;
            written += cursor.text[at++];
            continue;
        }
        written += c;
    }
    return false;
}

bool read_local_part(Cursor &cursor) {
    if (!skip_cfws(cursor))
        return false;
    for (;;) {
        if (cursor.next_is('"')) {
            if (!read_quoted_string(cursor))
                return false;
        } else if (read_atext(cursor).empty()) {
            return false;
        }
        if (!skip_cfws(cursor))
            return false;
        if (!cursor.next_is('.'))
            return true;
        ++cursor.at;
        if (!skip_cfws(cursor))
            return false;
    }
}

bool read_domain(Cursor &cursor, std::string *domain, bool allow_trailing_dot) {
    if (!skip_cfws(cursor))
        return false;
    std::string joined;
    if (cursor.next_is('[')) {
        if (!read_domain_literal(cursor, &joined) || !skip_cfws(cursor))
            return false;
    } else {
        for (;;) {
            const auto atom = read_atext(cursor);
            if (atom.empty())
                return false;
            joined += atom;
            if (!skip_cfws(cursor))
                return false;
            if (!cursor.next_is('.'))
                break;
            ++cursor.at;
            if (!skip_cfws(cursor))
                return false;
            if (allow_trailing_dot && !is_atext(cursor.peek()) && !cursor.next_is('.'))
                break;
            joined += '.';
        }
    }
    if (domain)
        *domain = std::move(joined);
    return true;
}

std::string shown(std::string_view text, std::size_t limit) {
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        out += byte >= 0x20 && byte < 0x7f ? text[i] : '?';
    }
    if (text.size() > limit)
        out += "...";
    return out;
}

} // namespace portcullis::message::syntax
