// Authentication-Results (RFC 8601): the authserv-id of a field that
// arrived (to remove forged ones claiming to be ours), and the field
// portcullis adds at end of message. Pure functions over hostile bytes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace portcullis::message {

// The authserv-id of an A-R field value: after leading CFWS, the value token or quoted-string up
// to ";" or CFWS; lower-cased; "" when there is none. Reads only what it needs (an 8 KiB value
// or a hostile one with unbalanced comments/quotes must still give a correct answer or "").
// The token (RFC 2045: US-ASCII, no CTL, SPACE or tspecials) or quoted-string must end at ';',
// CFWS or the end of the value, else it is not an authserv-id and the answer is "".
std::string authserv_id_of(std::string_view value);

struct AuthProperty {
    std::string ptype, property, value; // "smtp" "mailfrom" "a@b.example"
};
struct AuthResult {
    std::string method; // "dkim", "spf", "iprev"
    std::string result; // "pass", "fail", "none", "temperror", ...
    std::string reason; // optional reason= text ("" none)
    std::vector<AuthProperty> properties;
    std::string comment; // optional, "" none: written as (comment)
};

// The field value (no "Authentication-Results:" prefix): "authserv-id; method=result ...; ..." or
// "authserv-id; none" when `results` is empty. Folded for the header: "\n\t" between
// resinfo entries (libmilter/Postfix accept LF-folded values), each line under 998 octets.
// Every value that is not an RFC 2045 token is written as a quoted-string (escape " and \);
// control bytes (< 0x20 except tab, 0x7f) dropped; comments have ( ) \ escaped. Property values
// that are domain names / addresses stay tokens where allowed (RFC 8601 allows "@" in pvalue).
// Also: the first line counts the 24 octets of "Authentication-Results: "; an entry too long
// for its line is folded between its parts; method, result, ptype and property keep only
// letters, digits, '-' and '_' (at most 64), values and comments keep at most 400 bytes;
// each entry is "method=result (comment) reason=... ptype.property=value ...".
std::string format_authentication_results(std::string_view authserv_id,
                                          const std::vector<AuthResult> &results);

} // namespace portcullis::message
