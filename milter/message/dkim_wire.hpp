// The parts of DKIM verification that are plain byte work, kept apart
// from libopendkim so that the fuzz targets compile them without it:
// reading d= and s= from a DKIM-Signature value to start the key lookup
// early, and writing a key lookup's answer as the DNS wire message that
// libopendkim's query hooks must hand back. Both take hostile input:
// bounded, linear, never reading or writing outside what they are given.
#pragma once

#include "core/dns.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace portcullis::message {

// A DKIM-Signature field value holds at most this much that we read.
inline constexpr std::size_t max_signature_value = 64 * 1024;

// What a DKIM-Signature value (RFC 6376 3.2 tag-list) says, read as
// libopendkim reads it: white space removed from tag names and values;
// bytes other than printable US-ASCII and white space, a tag name not
// starting with a letter or digit, a tag without "=", a duplicate tag
// name, or a missing v= a= b= d= h= s= make the list not well-formed.
// Values kept are cut at 255 octets (for logs); key_name is
// "<s>._domainkey.<d>", empty when either is missing or empty or the
// name could not be a DNS name (over 253 octets, an empty label, a label
// over 63 octets). A value over max_signature_value octets is not read.
struct SignatureTags {
    bool well_formed = false;
    std::string domain, selector, algorithm, identity; // d= s= a= i=
    std::string b_prefix;                              // the first 8 characters of b=
    std::string key_name;
};
SignatureTags read_signature_tags(std::string_view value);

// Writes the answer to "name TXT IN" as a DNS response into `out`:
// header, the question, and one TXT RR per record of `answer` (each
// record cut into character-strings of at most 255 octets), rcode
// NXDOMAIN for nxdomain, NOERROR with no answer RR for nodata. Returns
// the bytes written, or nullopt when the answer is a DNS error (servfail,
// timeout, bogus), when `name` cannot be written as a DNS name, or when
// the message would not fit in `out` (never truncated).
std::optional<std::size_t> write_txt_answer(std::string_view name, const DnsAnswer &answer,
                                            std::span<unsigned char> out);

} // namespace portcullis::message
