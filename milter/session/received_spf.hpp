// The Received-SPF: header (RFC 7208 section 9.1) that records an SPF
// result in the message, for the milter's end-of-message step. Every value
// that came from the network or DNS (sender, HELO, mechanism, problem)
// is made printable ASCII, put in a quoted-string or comment with
// backslash escapes, and cut, so it cannot add a header line or a
// key=value pair: the value is one line of at most
// max_received_spf_length bytes, without CR or LF.
#pragma once

#include "checks/spf_identity.hpp"

#include <string>
#include <string_view>

namespace portcullis {

// Leaves room for "Received-SPF: " within RFC 5322's 998-byte line.
inline constexpr std::size_t max_received_spf_length = 900;

// The header's value (without "Received-SPF: "): result, comment and
// client-ip, envelope-from, helo, receiver, identity, mechanism, problem.
// `envelope_from` is the MAIL FROM argument ("" for the null sender).
std::string received_spf_value(const SpfNote &note, std::string_view envelope_from);

} // namespace portcullis
