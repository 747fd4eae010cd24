// Address parsing relies on inet_pton, which rejects leading zeros in
// IPv4 octets and every non-canonical oddity an SMTP client may send.
#include "address.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <cstring>

namespace portcullis {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.empty() || text.size() > INET6_ADDRSTRLEN || text.find('\0') != std::string_view::npos)
        return std::nullopt;
    std::string copy(text);
    std::array<std::uint8_t, 16> buffer{};
    if (copy.find(':') == std::string::npos) {
        if (inet_pton(AF_INET, copy.c_str(), buffer.data()) != 1)
            return std::nullopt;
        return from_v4({buffer[0], buffer[1], buffer[2], buffer[3]});
    }
    if (inet_pton(AF_INET6, copy.c_str(), buffer.data()) != 1)
        return std::nullopt;
    return from_v6(buffer);
}

IpAddress IpAddress::from_v4(const std::array<std::uint8_t, 4> &bytes) {
    IpAddress address;
    address.family_ = Family::v4;
    std::memcpy(address.bytes_.data(), bytes.data(), 4);
    return address;
}

IpAddress IpAddress::from_v6(const std::array<std::uint8_t, 16> &bytes) {
    IpAddress address;
    address.family_ = Family::v6;
    address.bytes_ = bytes;
    return address;
}

std::string IpAddress::to_string() const {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), text, sizeof text);
    return text;
}

std::string IpAddress::reversed() const {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    if (is_v4()) {
        for (int i = 3; i >= 0; --i) {
            out += std::to_string(bytes_[static_cast<std::size_t>(i)]);
            if (i > 0)
                out += '.';
        }
        return out;
    }
    for (int i = 15; i >= 0; --i) {
        const auto byte = bytes_[static_cast<std::size_t>(i)];
        out += hex[byte & 0x0f];
        out += '.';
        out += hex[byte >> 4];
        if (i > 0)
            out += '.';
    }
    return out;
}

std::string IpAddress::reverse_name() const {
    return reversed() + (is_v4() ? ".in-addr.arpa" : ".ip6.arpa");
}

IpAddress IpAddress::unmapped() const {
    if (is_v4())
        return *this;
    static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bytes_.data(), prefix, 12) != 0)
        return *this;
    return from_v4({bytes_[12], bytes_[13], bytes_[14], bytes_[15]});
}

std::optional<Network> Network::parse(std::string_view text) {
    const auto slash = text.find('/');
    auto base = IpAddress::parse(text.substr(0, slash));
    if (!base)
        return std::nullopt;
    Network network;
    network.base_ = *base;
    network.prefix_ = static_cast<unsigned>(base->size() * 8);
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        unsigned prefix = 0;
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (error != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
            prefix > network.prefix_)
            return std::nullopt;
        network.prefix_ = prefix;
    }
    // Clients are compared unmapped: a network within the IPv4-mapped
    // range (::ffff:0:0/96) stands for the IPv4 network it maps.
    if (!base->is_v4() && base->unmapped().is_v4() && network.prefix_ >= 96) {
        network.base_ = base->unmapped();
        network.prefix_ -= 96;
    }
    return network;
}

Network Network::of(const IpAddress &address, unsigned prefix) {
    const IpAddress unmapped = address.unmapped();
    const unsigned bits = static_cast<unsigned>(unmapped.size() * 8);
    prefix = std::min(prefix, bits);
    auto bytes = unmapped.bytes();
    for (unsigned bit = prefix; bit < bits; ++bit)
        bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    Network network;
    if (unmapped.is_v4())
        network.base_ = IpAddress::from_v4({bytes[0], bytes[1], bytes[2], bytes[3]});
    else
        network.base_ = IpAddress::from_v6(bytes);
    network.prefix_ = prefix;
    return network;
}

bool Network::contains(const IpAddress &candidate) const {
    const IpAddress address = candidate.unmapped();
    if (address.family() != base_.family())
        return false;
    const auto &a = address.bytes();
    const auto &b = base_.bytes();
    unsigned bits = prefix_;
    for (std::size_t i = 0; bits > 0; ++i) {
        const unsigned take = bits >= 8 ? 8 : bits;
        const auto mask = static_cast<std::uint8_t>(0xff << (8 - take));
        if ((a[i] & mask) != (b[i] & mask))
            return false;
        bits -= take;
    }
    return true;
}

std::string Network::to_string() const {
    return base_.to_string() + "/" + std::to_string(prefix_);
}

std::optional<IpAddress> parse_address_literal(std::string_view text) {
    if (text.size() < 3 || text.front() != '[' || text.back() != ']')
        return std::nullopt;
    auto inner = text.substr(1, text.size() - 2);
    constexpr std::string_view v6_tag = "IPv6:";
    if (inner.size() > v6_tag.size() && to_lower(inner.substr(0, v6_tag.size())) == "ipv6:") {
        auto address = IpAddress::parse(inner.substr(v6_tag.size()));
        if (!address || address->is_v4())
            return std::nullopt;
        return address;
    }
    auto address = IpAddress::parse(inner);
    if (!address || !address->is_v4())
        return std::nullopt;
    return address;
}

std::string to_lower(std::string_view text) {
    std::string out(text);
    for (auto &c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string normalize_host(std::string_view name) {
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    return to_lower(name);
}

} // namespace portcullis
