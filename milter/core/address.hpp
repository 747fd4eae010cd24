// IP addresses and networks for policy decisions: parsing, printing,
// CIDR matching and the reverse-lookup name forms used by PTR and DNSBL
// queries. Pure values; no DNS, no libmilter.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis {

class IpAddress {
  public:
    enum class Family { v4, v6 };

    IpAddress() = default;
    // Accepts dotted IPv4 and any RFC 4291 IPv6 text form (no brackets,
    // no zone id). Returns nullopt for anything else.
    static std::optional<IpAddress> parse(std::string_view text);
    static IpAddress from_v4(const std::array<std::uint8_t, 4> &bytes);
    static IpAddress from_v6(const std::array<std::uint8_t, 16> &bytes);

    Family family() const { return family_; }
    bool is_v4() const { return family_ == Family::v4; }
    // 4 or 16 meaningful bytes.
    const std::array<std::uint8_t, 16> &bytes() const { return bytes_; }
    std::size_t size() const { return is_v4() ? 4 : 16; }

    // Canonical text: dotted quad, or RFC 5952 compressed IPv6.
    std::string to_string() const;
    // "4.3.2.1.in-addr.arpa" or the 32-nibble ip6.arpa name.
    std::string reverse_name() const;
    // The reversed form without suffix, for DNSBL queries: "4.3.2.1" or 32 nibbles.
    std::string reversed() const;
    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as IPv4; otherwise unchanged.
    IpAddress unmapped() const;

    friend bool operator==(const IpAddress &, const IpAddress &) = default;

  private:
    Family family_ = Family::v4;
    std::array<std::uint8_t, 16> bytes_{};
};

class Network {
  public:
    // "192.0.2.0/24", "2001:db8::/32" or a single address.
    static std::optional<Network> parse(std::string_view text);
    // The network of the first `prefix` bits of `address` (unmapped), its
    // host bits cleared; prefix is capped at the address's length.
    static Network of(const IpAddress &address, unsigned prefix);
    const IpAddress &base() const { return base_; }
    unsigned prefix() const { return prefix_; }
    bool contains(const IpAddress &address) const;
    std::string to_string() const;

  private:
    IpAddress base_;
    unsigned prefix_ = 0;
};

// An SMTP address literal as written in HELO: "[192.0.2.1]" or
// "[IPv6:2001:db8::1]". Returns nullopt when the text is not one.
std::optional<IpAddress> parse_address_literal(std::string_view text);

// ASCII lower-casing, the only case folding DNS names need.
std::string to_lower(std::string_view text);
// A host name as compared: lower-case, one trailing dot removed.
std::string normalize_host(std::string_view name);

} // namespace portcullis
