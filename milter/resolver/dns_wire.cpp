// Each parser walks an index forward and checks the remaining length
// before every read; nothing here trusts a length byte.
#include "dns_wire.hpp"

#include "core/address.hpp"

#include <array>

namespace portcullis::dns_wire {
namespace {

constexpr std::size_t max_label = 63;
constexpr std::size_t max_name_wire = 255;

void append_label_byte(std::string &out, std::uint8_t byte) {
    if (byte >= 'A' && byte <= 'Z') {
        out += static_cast<char>(byte - 'A' + 'a');
    } else if (byte == '.' || byte == '\\') {
        out += '\\';
        out += static_cast<char>(byte);
    } else if (byte > 0x20 && byte < 0x7f) {
        out += static_cast<char>(byte);
    } else {
        out += '\\';
        out += static_cast<char>('0' + byte / 100);
        out += static_cast<char>('0' + byte / 10 % 10);
        out += static_cast<char>('0' + byte % 10);
    }
}

// Reads one name starting at `pos`; on success `pos` points past it.
std::optional<std::string> read_name(std::span<const std::uint8_t> data, std::size_t &pos) {
    std::string text;
    std::size_t wire_length = 0;
    while (true) {
        if (pos >= data.size())
            return std::nullopt;
        const std::size_t length = data[pos];
        if (length > max_label) // 0x40 and 0xC0 prefixes: extended labels, compression
            return std::nullopt;
        wire_length += 1 + length;
        if (wire_length > max_name_wire)
            return std::nullopt;
        ++pos;
        if (length == 0)
            break;
        if (data.size() - pos < length)
            return std::nullopt;
        if (!text.empty())
            text += '.';
        for (std::size_t i = 0; i < length; ++i)
            append_label_byte(text, data[pos + i]);
        pos += length;
    }
    if (text.empty())
        return ".";
    return text;
}

std::optional<std::string> whole_name(std::span<const std::uint8_t> data, std::size_t pos) {
    auto name = read_name(data, pos);
    if (!name || pos != data.size())
        return std::nullopt;
    return name;
}

std::optional<std::string> parse_txt(std::span<const std::uint8_t> data) {
    if (data.empty())
        return std::nullopt;
    std::string text;
    text.reserve(data.size());
    std::size_t pos = 0;
    while (pos < data.size()) {
        const std::size_t length = data[pos++];
        if (data.size() - pos < length)
            return std::nullopt;
        text.append(reinterpret_cast<const char *>(data.data() + pos), length);
        pos += length;
    }
    return text;
}

} // namespace

std::optional<std::string> parse_name(std::span<const std::uint8_t> rdata) {
    return whole_name(rdata, 0);
}

std::optional<std::string> parse_rdata(DnsType type, std::span<const std::uint8_t> rdata) {
    switch (type) {
    case DnsType::A: {
        if (rdata.size() != 4)
            return std::nullopt;
        return IpAddress::from_v4({rdata[0], rdata[1], rdata[2], rdata[3]}).to_string();
    }
    case DnsType::AAAA: {
        if (rdata.size() != 16)
            return std::nullopt;
        std::array<std::uint8_t, 16> bytes{};
        for (std::size_t i = 0; i < bytes.size(); ++i)
            bytes[i] = rdata[i];
        return IpAddress::from_v6(bytes).to_string();
    }
    case DnsType::CNAME:
    case DnsType::PTR:
        return whole_name(rdata, 0);
    case DnsType::MX: {
        if (rdata.size() < 3)
            return std::nullopt;
        const unsigned preference = unsigned{rdata[0]} << 8 | rdata[1];
        auto exchange = whole_name(rdata, 2);
        if (!exchange)
            return std::nullopt;
        return std::to_string(preference) + " " + *exchange;
    }
    case DnsType::TXT:
        return parse_txt(rdata);
    }
    return std::nullopt;
}

} // namespace portcullis::dns_wire
