// libFuzzer target: arbitrary bytes as DNS answers, the way libunbound
// hands them to the resolver. First the whole input as the RDATA of
// every record type the resolver asks for (A, AAAA, PTR, CNAME, MX, TXT:
// every DnsType); then the input as one whole ub_result read by
// answer_from_unbound():
//   TYPE FLAGS RCODE [CANON_LENGTH CANONNAME] (LENGTH_HI LENGTH_LO RDATA)*
// (FLAGS: havedata, nxdomain, secure, bogus, an error code, canonname
// present). Asserts the parser's promises beyond the sanitizers: text of
// bounded size, addresses that read back as addresses, names that are
// printable, lower-case and unescape to the wire's labels; and that an
// answer's status follows the result's flags, records appear only in an
// ok answer and each is a valid text of its type.
#include "core/address.hpp"
#include "resolver/dns_wire.hpp"
#include "resolver/unbound_resolver.hpp"

#include <unbound.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <vector>

using portcullis::DnsAnswer;
using portcullis::DnsType;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

constexpr DnsType all_types[] = {DnsType::A,     DnsType::AAAA, DnsType::PTR,
                                 DnsType::CNAME, DnsType::MX,   DnsType::TXT};

// The labels of a name in presentation form as parse_name() writes it:
// '.' between labels, "\DDD" and "\X" escapes. Nullopt when malformed.
std::optional<std::vector<std::string>> unescape_labels(const std::string &text) {
    std::vector<std::string> labels;
    if (text == ".")
        return labels;
    std::string label;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '.') {
            if (label.empty())
                return std::nullopt;
            labels.push_back(std::move(label));
            label.clear();
            continue;
        }
        if (text[i] != '\\') {
            label += text[i];
            continue;
        }
        if (i + 1 >= text.size())
            return std::nullopt;
        if (text[i + 1] >= '0' && text[i + 1] <= '9') {
            if (i + 3 >= text.size())
                return std::nullopt;
            const int value =
                (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
            require(value <= 255);
            label += static_cast<char>(value);
            i += 3;
        } else {
            label += text[++i];
        }
    }
    if (label.empty())
        return std::nullopt;
    labels.push_back(std::move(label));
    return labels;
}

// The labels of an uncompressed wire name filling `rdata` from `pos`,
// lower-cased: an independent reading to compare parse_name() with.
std::vector<std::string> wire_labels(std::span<const std::uint8_t> rdata, std::size_t pos) {
    std::vector<std::string> labels;
    while (rdata[pos] != 0) {
        std::string label;
        for (std::size_t i = 1; i <= rdata[pos]; ++i) {
            const char c = static_cast<char>(rdata[pos + i]);
            label += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        }
        pos += 1 + rdata[pos];
        labels.push_back(std::move(label));
    }
    return labels;
}

void check_name(const std::string &text, std::span<const std::uint8_t> rdata, std::size_t pos) {
    // 253 text bytes, each at worst written as \DDD.
    require(!text.empty() && text.size() <= 4 * 255);
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        require(byte > 0x20 && byte < 0x7f && !(c >= 'A' && c <= 'Z'));
    }
    const auto labels = unescape_labels(text);
    require(labels.has_value());
    require(*labels == wire_labels(rdata, pos));
}

void check_rdata(DnsType type, std::span<const std::uint8_t> rdata, const std::string &text) {
    switch (type) {
    case DnsType::A:
    case DnsType::AAAA: {
        const auto address = portcullis::IpAddress::parse(text);
        require(address.has_value() && address->is_v4() == (type == DnsType::A));
        require(address->to_string() == text);
        break;
    }
    case DnsType::PTR:
    case DnsType::CNAME:
        check_name(text, rdata, 0);
        require(portcullis::dns_wire::parse_name(rdata) == text);
        break;
    case DnsType::MX: {
        const auto space = text.find(' ');
        require(space != std::string::npos);
        require(text.substr(0, space) == std::to_string(unsigned{rdata[0]} << 8 | rdata[1]));
        check_name(text.substr(space + 1), rdata, 2);
        break;
    }
    case DnsType::TXT:
        // Whole, never cut: every byte but the length bytes.
        require(text.size() < rdata.size());
        break;
    }
}

void check_answer(std::span<const std::uint8_t> input) {
    if (input.size() < 3)
        return;
    const DnsType type = all_types[input[0] % std::size(all_types)];
    const unsigned flags = input[1];
    const int rcode = input[2] % 16;
    std::size_t pos = 3;

    std::string canonname;
    if (flags & 0x20 && pos < input.size()) {
        const std::size_t length = std::min<std::size_t>(input[pos], input.size() - pos - 1);
        canonname.assign(reinterpret_cast<const char *>(input.data() + pos + 1), length);
        canonname = canonname.substr(0, canonname.find('\0')); // a C string
        pos += 1 + length;
    }
    std::vector<std::vector<char>> records;
    while (pos + 2 <= input.size()) {
        const std::size_t wanted = std::size_t{input[pos]} << 8 | input[pos + 1];
        const std::size_t length = std::min(wanted, input.size() - pos - 2);
        records.emplace_back(input.begin() + static_cast<std::ptrdiff_t>(pos + 2),
                             input.begin() + static_cast<std::ptrdiff_t>(pos + 2 + length));
        pos += 2 + length;
    }
    std::vector<char *> data;
    std::vector<int> lengths;
    static char empty_rdata = 0; // libunbound's data[] ends at the first null
    for (auto &record : records) {
        data.push_back(record.empty() ? &empty_rdata : record.data());
        lengths.push_back(static_cast<int>(record.size()));
    }
    data.push_back(nullptr);
    lengths.push_back(0);

    const std::string query = "Query.Example.";
    char why[] = "fuzzed why_bogus";
    ub_result result{};
    result.qname = const_cast<char *>(query.c_str());
    result.qtype = static_cast<int>(type);
    result.qclass = 1;
    result.data = data.data();
    result.len = lengths.data();
    result.canonname = flags & 0x20 ? canonname.data() : nullptr;
    result.rcode = rcode;
    result.havedata = (flags & 0x01) != 0;
    result.nxdomain = (flags & 0x02) != 0;
    result.secure = (flags & 0x04) != 0;
    result.bogus = (flags & 0x08) != 0;
    result.why_bogus = flags & 0x40 ? why : nullptr;
    const int err = flags & 0x10 ? UB_SERVFAIL : 0;

    const auto answer = portcullis::answer_from_unbound(err, &result, type, query);
    using Status = DnsAnswer::Status;
    if (err != 0)
        require(answer.status == Status::servfail);
    else if (result.bogus)
        require(answer.status == Status::bogus);
    else if (rcode != 0 && rcode != 3 && !result.nxdomain)
        require(answer.status == Status::servfail);
    else if (result.nxdomain || rcode == 3)
        require(answer.status == Status::nxdomain);
    else if (!result.havedata)
        require(answer.status == Status::nodata);
    else {
        // Every record read, in order, or the answer is a DNS error: one
        // that cannot be read is never left out.
        std::vector<std::string> readable;
        for (const auto &record : records) {
            const std::span<const std::uint8_t> rdata(
                reinterpret_cast<const std::uint8_t *>(record.data()), record.size());
            if (auto text = portcullis::dns_wire::parse_rdata(type, rdata))
                readable.push_back(std::move(*text));
        }
        if (readable.size() == records.size())
            require(answer.status == Status::ok && answer.records == readable);
        else
            require(answer.status == Status::servfail);
    }
    require(answer.status == Status::ok || answer.records.empty());
    if (!answer.canonical_name.empty()) {
        require(answer.canonical_name == portcullis::normalize_host(canonname));
        require(answer.canonical_name != portcullis::normalize_host(query));
    }
    require(!answer.secure || result.secure);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::span<const std::uint8_t> rdata(data, size);
    for (const auto type : all_types) {
        const auto text = portcullis::dns_wire::parse_rdata(type, rdata);
        if (text)
            check_rdata(type, rdata, *text);
    }
    if (const auto name = portcullis::dns_wire::parse_name(rdata))
        check_name(*name, rdata, 0);
    check_answer(rdata);
    return 0;
}
