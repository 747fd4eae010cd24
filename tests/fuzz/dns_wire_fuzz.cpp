// libFuzzer target: arbitrary bytes as the RDATA of every record type.
// Besides the sanitizers' checks, asserts the parser's promises: text of
// bounded size, and addresses that read back as addresses.
#include "core/address.hpp"
#include "resolver/dns_wire.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

using portcullis::DnsType;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::span<const std::uint8_t> rdata(data, size);
    const DnsType types[] = {DnsType::A,     DnsType::AAAA, DnsType::PTR,
                             DnsType::CNAME, DnsType::MX,   DnsType::TXT};
    for (const auto type : types) {
        const auto text = portcullis::dns_wire::parse_rdata(type, rdata);
        if (!text)
            continue;
        switch (type) {
        case DnsType::A:
        case DnsType::AAAA:
            require(portcullis::IpAddress::parse(*text).has_value());
            break;
        case DnsType::PTR:
        case DnsType::CNAME:
            // 254 name bytes, each at worst written as \DDD.
            require(!text->empty() && text->size() <= 4 * 255);
            break;
        case DnsType::MX:
            require(text->size() <= 6 + 4 * 255);
            break;
        case DnsType::TXT:
            // Whole, never cut: every byte but the length bytes.
            require(text->size() < size);
            break;
        }
    }
    return 0;
}
