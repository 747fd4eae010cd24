// The header fields of one message as libmilter hands them (xxfi_header:
// name, value; the value as the MTA sends it, folded lines joined by "\n"
// or "\r\n" then WSP, the space after the colon removed), gathered for
// the header checks: the fields kept within limits, counts of the fields
// RFC 5322 3.6 limits, and what is wrong with the header as a whole
// (RFC 5322 2.1.1 line length, 2.2 field names; NUL, bare CR, 8-bit).
// Past the limits a field is only counted and scanned: memory stays
// bounded however many bytes arrive, and each field costs O(its length).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::message {

struct HeaderLimits {
    std::size_t max_fields = 1000;
    std::size_t max_bytes = 1 << 20;
};

struct HeaderField {
    std::string name;
    std::string value;
};

// What was wrong with the header as a whole; each set once, at the first field that shows it.
struct HeaderFindings {
    std::optional<std::string> long_line; // name of the first field with a line over 998 octets
                                          // (counting "Name: " on its first line, CR LF excluded)
    std::optional<std::string> nul;       // field holding a NUL (in name or value)
    std::optional<std::string> bare_cr;   // field holding a CR not followed by LF
    std::optional<std::string> eight_bit; // field holding a byte >= 0x80
    std::optional<std::string> bad_name;  // a field name that is not RFC 5322 ftext (printable
                                          // US-ASCII 33..126 except ':'), or empty
    bool too_many_fields = false;         // more than max_fields fields arrived
    bool too_many_bytes = false;          // more than max_bytes bytes (names + values) arrived
};

class HeaderBlock {
  public:
    explicit HeaderBlock(HeaderLimits limits = {});

    // One field. Kept (copied) while both limits hold; past them it is only counted and scanned
    // for the findings above (O(length), no allocation proportional to input past the limit).
    // Once one limit is passed, no later field is kept. The names in the
    // findings are the fields' names as given, cut to 128 bytes.
    void add(std::string_view name, std::string_view value);
    void clear();

    // Fields kept, in arrival order.
    const std::vector<HeaderField> &fields() const { return fields_; }
    // Occurrences of a field name (case-insensitive) among ALL fields seen, kept or not, for
    // the names of counted_fields(); other names are counted among the kept fields only.
    std::size_t count(std::string_view name) const;
    // Value of the first kept field of that name (case-insensitive), or null.
    const std::string *first(std::string_view name) const;
    const HeaderFindings &findings() const { return findings_; }
    std::size_t fields_seen() const { return fields_seen_; }
    std::size_t bytes_seen() const { return bytes_seen_; }

  private:
    void scan(std::string_view name, std::string_view value);

    HeaderLimits limits_;
    std::vector<HeaderField> fields_;
    HeaderFindings findings_;
    std::size_t fields_seen_ = 0;
    std::size_t bytes_seen_ = 0;
    bool keeping_ = true;
    std::array<std::size_t, 13> counts_{};
};

// The names HeaderBlock counts among all fields seen: From Sender Date Subject To Cc Message-ID
// Reply-To In-Reply-To References Bcc Authentication-Results DKIM-Signature.
std::span<const std::string_view> counted_fields();
// The singleton fields of RFC 5322 3.6 (max 1 occurrence), for the repeated-field rule.
std::span<const std::string_view> singleton_fields();

} // namespace portcullis::message
