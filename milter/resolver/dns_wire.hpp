// Bounds-checked decoding of one record's RDATA, as libunbound hands it
// out in ub_result->data[i] (uncompressed, without the RDLENGTH), into
// the text DnsAnswer::records holds. The bytes come from the network:
// every function reads only inside the given span, and returns nullopt
// for anything malformed (the caller makes the whole answer a DNS error:
// a record it cannot read is never dropped, nor read in part).
#pragma once

#include "core/dns.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace portcullis::dns_wire {

// A whole RDATA that is exactly one uncompressed domain name. Text is
// lower-case without the trailing dot, the root is ".", and bytes that
// would be ambiguous in text ('.', '\\', non-printable) are written as
// "\." "\\" "\DDD" like zone files do. Rejects compression pointers and
// other label types, labels over 63 bytes, names over 255 bytes.
std::optional<std::string> parse_name(std::span<const std::uint8_t> rdata);

// A: dotted quad; AAAA: RFC 5952 text; PTR/CNAME: a name as above; MX:
// "PREFERENCE NAME"; TXT: the character-strings concatenated, raw bytes
// (control characters included), all of them: the text is shorter than
// the RDATA, which the DNS bounds at 65535 bytes. No cap of its own:
// text cut short would be evaluated as another record (SPF, DKIM keys).
std::optional<std::string> parse_rdata(DnsType type, std::span<const std::uint8_t> rdata);

} // namespace portcullis::dns_wire
