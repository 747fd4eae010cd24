// The lexical pieces of RFC 5322 (3.2: CFWS, atoms, quoted strings,
// domain literals; with the obsolete forms of 4.1 and the UTF-8 of RFC
// 6532 in atext) that the parsers of this directory share. Each reads at
// a position of a view and moves it past what it read, never outside the
// view, in time linear in what it reads (comments are nested without
// recursion). Internal to portcullis::message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace portcullis::message::syntax {

struct Cursor {
    std::string_view text;
    std::size_t at = 0;

    bool done() const { return at >= text.size(); }
    char peek() const { return at < text.size() ? text[at] : '\0'; }
    bool next_is(char c) const { return at < text.size() && text[at] == c; }
};

// Space, tab, CR and LF: folding as libmilter hands it ("\n" or "\r\n"
// then WSP) and its unfolded form.
bool is_space(char c);
// atext (RFC 5322 3.2.3), plus bytes >= 0x80 (RFC 6532 utf8-non-ascii).
bool is_atext(char c);
bool is_digit(char c);
bool is_alpha(char c);
char lower(char c);
std::string lowercase(std::string_view text);
// Equal but for the case of ASCII letters (field names, zone names).
bool equal_ignoring_case(std::string_view a, std::string_view b);

// Skips [CFWS]. False (cursor left at the comment) when a comment is not
// closed. `saw_space`, when given, is set when white space was skipped.
bool skip_cfws(Cursor &cursor, bool *saw_space = nullptr);
// A comment starting at the cursor ('('), nested, with quoted-pairs.
bool skip_comment(Cursor &cursor);
// 1*atext at the cursor (may be empty).
std::string_view read_atext(Cursor &cursor);
// A quoted-string at the cursor ('"'): its content, quoted-pairs undone,
// folding kept. False when it is not closed.
bool read_quoted_string(Cursor &cursor, std::string *content = nullptr);
// A domain-literal at the cursor ('['): "[" *([FWS] dtext) [FWS] "]" with
// obs-dtext (quoted-pairs). `literal` gets it as written, brackets
// included, white space removed.
bool read_domain_literal(Cursor &cursor, std::string *literal = nullptr);

// local-part = dot-atom / quoted-string / obs-local-part (word *("." word)),
// CFWS around words allowed (obs). Leaves the cursor after trailing CFWS.
bool read_local_part(Cursor &cursor);
// domain = dot-atom / domain-literal / obs-domain (atom *("." atom)), CFWS
// around atoms allowed (obs). `domain` gets the atoms joined by '.'
// (or the literal). One trailing dot is accepted when
// `allow_trailing_dot` (it is dropped). Leaves the cursor after CFWS.
bool read_domain(Cursor &cursor, std::string *domain, bool allow_trailing_dot = false);

// Text of a hostile value fit for a reason string: at most `limit` bytes,
// bytes outside printable ASCII shown as '?', "..." when cut.
std::string shown(std::string_view text, std::size_t limit = 24);

} // namespace portcullis::message::syntax
