// The byte handling here is where libspf2's CVEs sat: bytes are read as
// unsigned char, the digit transformer saturates instead of overflowing,
// and every output is bounded by construction.
#include "spf/macro.hpp"

#include <algorithm>

namespace portcullis::spf {

namespace {

// A digit transformer beyond any possible part count means "all parts".
constexpr std::uint32_t max_keep = 1u << 16;

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
bool is_delimiter(char c) {
    return std::string_view(".-+,/_=").find(c) != std::string_view::npos;
}

std::string describe_byte(char c) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte > 0x20 && byte < 0x7f)
        return std::string("'") + c + "'";
    static constexpr char hex[] = "0123456789abcdef";
    return std::string("byte 0x") + hex[byte >> 4] + hex[byte & 0x0f];
}

MacroParse failure(std::string error) {
    MacroParse parse;
    parse.error = std::move(error);
    return parse;
}

// toplabel = ( *alphanum ALPHA *alphanum ) /
//            ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool is_toplabel(std::string_view label) {
    if (label.empty())
        return false;
    bool has_alpha = false;
    bool has_hyphen = false;
    for (const char c : label) {
        if (c == '-')
            has_hyphen = true;
        else if (is_alpha(c))
            has_alpha = true;
        else if (!is_digit(c))
            return false;
    }
    if (has_hyphen)
        return label.front() != '-' && label.back() != '-';
    return has_alpha;
}

void add_literal(MacroString &macro, char c) {
    if (macro.tokens.empty() || macro.tokens.back().kind != MacroToken::Kind::literal)
        macro.tokens.push_back({});
    macro.tokens.back().text += c;
}

// Parses "%{" ... "}" starting at text[at] == '%'; returns the index past
// the closing brace, or 0 after filling `error`.
std::size_t parse_macro(std::string_view text, std::size_t at, MacroUse use, MacroToken &token,
                        std::string &error) {
    std::size_t i = at + 2;
    if (i >= text.size()) {
        error = "unterminated macro";
        return 0;
    }
    const char letter = lower(text[i]);
    if (std::string_view("slodiphcrtv").find(letter) == std::string_view::npos ||
        !is_alpha(text[i])) {
        error = "unknown macro letter " + describe_byte(text[i]);
        return 0;
    }
    if (use == MacroUse::domain_spec && (letter == 'c' || letter == 'r' || letter == 't')) {
        error = std::string("macro letter '") + text[i] + "' is only allowed in explanations";
        return 0;
    }
    token.kind = MacroToken::Kind::macro;
    token.letter = letter;
    token.url_escape = text[i] != letter;
    ++i;
    bool has_digits = false;
    std::uint32_t keep = 0;
    while (i < text.size() && is_digit(text[i])) {
        has_digits = true;
        keep = std::min<std::uint32_t>(max_keep,
                                       keep * 10 + static_cast<std::uint32_t>(text[i] - '0'));
        ++i;
    }
    if (has_digits && keep == 0) {
        error = "a macro digit transformer of zero";
        return 0;
    }
    token.keep = keep;
    if (i < text.size() && lower(text[i]) == 'r') {
        token.reverse = true;
        ++i;
    }
    while (i < text.size() && is_delimiter(text[i]))
        token.delimiters += text[i++];
    if (i >= text.size() || text[i] != '}') {
        error = "malformed macro (expected '}'" +
                (i < text.size() ? ", found " + describe_byte(text[i]) : std::string()) + ")";
        return 0;
    }
    return i + 1;
}

std::string transform(const MacroToken &token, const MacroValues &values) {
    const std::string value = macro_value(token.letter, values);
    const std::string_view delimiters =
        token.delimiters.empty() ? std::string_view(".") : std::string_view(token.delimiters);
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= value.size(); ++i) {
        if (i == value.size() || delimiters.find(value[i]) != std::string_view::npos) {
            parts.emplace_back(value.data() + start, i - start);
            start = i + 1;
        }
    }
    if (token.reverse)
        std::reverse(parts.begin(), parts.end());
    if (token.keep != 0 && token.keep < parts.size())
        parts.erase(parts.begin(), parts.end() - token.keep);
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i)
            out += '.';
        out += parts[i];
    }
    return token.url_escape ? url_escape(out) : out;
}

std::string nibbles(const IpAddress &address) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < address.size(); ++i) {
        const auto byte = address.bytes()[i];
        if (i)
            out += '.';
        out += hex[byte >> 4];
        out += '.';
        out += hex[byte & 0x0f];
    }
    return out;
}

} // namespace

bool MacroString::uses(char letter) const {
    return std::any_of(tokens.begin(), tokens.end(), [letter](const MacroToken &token) {
        return token.kind == MacroToken::Kind::macro && token.letter == letter;
    });
}

MacroParse parse_macro_string(std::string_view text, MacroUse use) {
    MacroString macro;
    std::size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        const auto byte = static_cast<unsigned char>(c);
        if (c != '%') {
            const bool space_allowed = use == MacroUse::explanation && c == ' ';
            if ((byte < 0x21 || byte > 0x7e) && !space_allowed)
                return failure(describe_byte(c) + " in a macro string");
            add_literal(macro, c);
            ++i;
            continue;
        }
        if (i + 1 == text.size())
            return failure("a '%' at the end of a macro string");
        MacroToken token;
        token.kind = MacroToken::Kind::escape;
        switch (text[i + 1]) {
        case '%':
            token.text = "%";
            break;
        case '_':
            token.text = " ";
            break;
        case '-':
            token.text = "%20";
            break;
        case '{': {
            std::string error;
            const auto next = parse_macro(text, i, use, token, error);
            if (next == 0)
                return failure(std::move(error));
            macro.tokens.push_back(std::move(token));
            i = next;
            continue;
        }
        default:
            return failure("'%' followed by " + describe_byte(text[i + 1]));
        }
        macro.tokens.push_back(std::move(token));
        i += 2;
    }
    MacroParse parse;
    parse.value = std::move(macro);
    return parse;
}

MacroParse parse_domain_spec(std::string_view text) {
    auto parse = parse_macro_string(text, MacroUse::domain_spec);
    if (!parse.value)
        return parse;
    const auto &tokens = parse.value->tokens;
    if (tokens.empty())
        return failure("empty domain-spec");
    if (tokens.back().kind != MacroToken::Kind::literal)
        return parse; // domain-end = macro-expand
    std::string_view tail = tokens.back().text;
    if (tail.back() == '.')
        tail.remove_suffix(1);
    const auto dot = tail.rfind('.');
    if (dot == std::string_view::npos)
        return failure("domain-spec '" + std::string(text) + "' does not end in a top label");
    if (!is_toplabel(tail.substr(dot + 1)))
        return failure("invalid top label '" + std::string(tail.substr(dot + 1)) + "'");
    return parse;
}

std::string macro_value(char letter, const MacroValues &values) {
    switch (letter) {
    case 's':
        return values.sender;
    case 'l':
        return values.local_part;
    case 'o':
        return values.sender_domain;
    case 'd':
        return values.domain;
    case 'i':
        return values.client.is_v4() ? values.client.to_string() : nibbles(values.client);
    case 'p':
        return values.validated_name.empty() ? "unknown" : values.validated_name;
    case 'v':
        return values.client.is_v4() ? "in-addr" : "ip6";
    case 'h':
        return values.helo;
    case 'c':
        return values.client.to_string();
    case 'r':
        return values.receiver.empty() ? "unknown" : values.receiver;
    case 't':
        return std::to_string(values.timestamp);
    default:
        return "";
    }
}

std::string url_escape(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[byte >> 4];
            out += hex[byte & 0x0f];
        }
    }
    return out;
}

std::string expand(const MacroString &macro, const MacroValues &values, ExpansionUse use) {
    std::string out;
    for (const auto &token : macro.tokens) {
        const std::string piece =
            token.kind == MacroToken::Kind::macro ? transform(token, values) : token.text;
        if (use == ExpansionUse::explanation) {
            out.append(piece, 0, std::min(piece.size(), max_explanation_expansion - out.size()));
            if (out.size() == max_explanation_expansion)
                break;
            continue;
        }
        out += piece;
        // Only the rightmost 253 bytes can survive the left truncation of
        // RFC 7208 §7.3; keeping a wider tail changes nothing.
        if (out.size() > 2 * max_domain_expansion)
            out.erase(0, out.size() - max_domain_expansion);
    }
    return out;
}

} // namespace portcullis::spf
