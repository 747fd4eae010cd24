// SPF records (RFC 7208 §4.5, §4.6, §5, §6, §12): recognising an SPF
// record among the TXT records of a name, and parsing it into terms with
// the exact ABNF. Any syntax error anywhere in the record is an error for
// the whole record (check_host() then returns permerror). Pure functions.
#pragma once

#include "core/address.hpp"
#include "spf/macro.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::spf {

enum class Qualifier : char { pass = '+', fail = '-', softfail = '~', neutral = '?' };

enum class MechanismKind { all, include, a, mx, ptr, ip4, ip6, exists };

struct Mechanism {
    Qualifier qualifier = Qualifier::pass;
    MechanismKind kind = MechanismKind::all;
    std::optional<MacroString> domain; // include, exists; a, mx, ptr when given
    IpAddress network;                 // ip4, ip6
    unsigned cidr4 = 32;               // ip4, a, mx
    unsigned cidr6 = 128;              // ip6, a, mx
    std::string text;                  // the term as written (printable ASCII)

    // include, a, mx, ptr and exists count against the 10-lookup limit.
    bool queries_dns() const;
};

struct SpfRecord {
    std::vector<Mechanism> mechanisms; // in record order
    std::optional<MacroString> redirect;
    std::optional<MacroString> explanation;
    bool has_all() const;
};

struct RecordParse {
    std::optional<SpfRecord> record;
    std::string error; // set when record is not; printable ASCII
};

// "v=spf1" (any case) followed by a space or the end (RFC 7208 §4.5).
bool is_spf_record(std::string_view text);

// Parses a text for which is_spf_record() holds.
RecordParse parse_record(std::string_view text);

// The first `prefix` bits of `address` and `network` agree and both are
// of the same family.
bool in_network(const IpAddress &address, const IpAddress &network, unsigned prefix);

} // namespace portcullis::spf
