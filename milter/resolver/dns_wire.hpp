// Bounds-checked decoding of one record's RDATA, as libunbound hands it
// out in ub_result->data[i] (uncompressed, without the RDLENGTH), into
// the text DnsAnswer::records holds. The bytes come from the network:
// every function reads only inside the given span, and returns nullopt
// for anything malformed (a caller skips that record).
#pragma once

#include "core/dns.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace portcullis::dns_wire {

// The longest TXT text kept from one record; longer text is cut here.
inline constexpr std::size_t max_txt_text = 4096;

// A whole RDATA that is exactly one uncompressed domain name. Text is
// lower-case without the trailing dot, the root is ".", and bytes that
// would be ambiguous in text ('.', '\\', non-printable) are written as
// "\." "\\" "\DDD" like zone files do. Rejects compression pointers and
// other label types, labels over 63 bytes, names over 255 bytes.
std::optional<std::string> parse_name(std::span<const std::uint8_t> rdata);

// A: dotted quad; AAAA: RFC 5952 text; PTR/CNAME: a name as above; MX:
// "PREFERENCE NAME"; TXT: the character-strings concatenated, raw bytes
// (control characters included), at most max_txt_text bytes.
std::optional<std::string> parse_rdata(DnsType type, std::span<const std::uint8_t> rdata);

} // namespace portcullis::dns_wire
