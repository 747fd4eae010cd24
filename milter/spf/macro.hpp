// SPF macro strings (RFC 7208 §7): parsing with the exact ABNF of §7.1
// and §12, and expansion against the values of one check_host() call.
// Pure functions. %{p} needs DNS: the evaluator computes it and passes it
// in MacroValues. Expansion never fails and its output is bounded: a
// domain keeps its rightmost bytes (all that survives the §7.3 left
// truncation), an explanation its leftmost.
#pragma once

#include "core/address.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::spf {

// Where a macro string appears; decides the letters and bytes it may hold.
enum class MacroUse {
    domain_spec,      // mechanism and modifier targets: no c, r, t
    explanation,      // the TXT text exp= points to: c, r, t and spaces too
    unknown_modifier, // value of a modifier nobody knows: never expanded
};

struct MacroToken {
    enum class Kind {
        literal, // bytes as written
        escape,  // "%%", "%_" or "%-": their text in `text`
        macro,   // "%{...}"
    };
    Kind kind = Kind::literal;
    std::string text;        // literal and escape
    char letter = 0;         // macro: the letter, lower-case
    bool url_escape = false; // macro: the letter was upper-case
    std::uint32_t keep = 0;  // macro: right-hand parts to keep; 0 = all
    bool reverse = false;    // macro: the "r" transformer
    std::string delimiters;  // macro: as written; empty means "."
};

struct MacroString {
    std::vector<MacroToken> tokens;
    bool uses(char letter) const;
};

struct MacroParse {
    std::optional<MacroString> value;
    std::string error; // set when value is not
};

// macro-string (or explain-string for MacroUse::explanation).
MacroParse parse_macro_string(std::string_view text, MacroUse use);
// domain-spec = macro-string domain-end; "" is a syntax error.
MacroParse parse_domain_spec(std::string_view text);

struct MacroValues {
    std::string sender;         // s: local-part@domain
    std::string local_part;     // l
    std::string sender_domain;  // o
    std::string domain;         // d: the current check_host() domain
    IpAddress client;           // i, c, v (already unmapped)
    std::string validated_name; // p: "unknown" when there is none
    std::string helo;           // h
    std::string receiver;       // r: "unknown" when empty
    std::int64_t timestamp = 0; // t
};

enum class ExpansionUse { domain_name, explanation };

// Expansion bounds: a domain name keeps this many rightmost bytes, an
// explanation this many leftmost ones.
inline constexpr std::size_t max_domain_expansion = 1024;
inline constexpr std::size_t max_explanation_expansion = 1024;

std::string expand(const MacroString &macro, const MacroValues &values, ExpansionUse use);

// The value of one macro letter before any transformer.
std::string macro_value(char letter, const MacroValues &values);
// RFC 3986 escaping of every byte outside the unreserved set, upper-case hex.
std::string url_escape(std::string_view text);

} // namespace portcullis::spf
