// RDATA decoding: each type's happy path, and the hostile shapes a
// server can send (short buffers, compression pointers, long labels,
// TXT of every size).
#include "resolver/dns_wire.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

using portcullis::DnsType;
using portcullis::dns_wire::parse_rdata;
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes wire_name(const std::vector<std::string> &labels) {
    Bytes out;
    for (const auto &label : labels) {
        out.push_back(static_cast<std::uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
    }
    out.push_back(0);
    return out;
}

Bytes concat(Bytes a, const Bytes &b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Bytes txt_strings(const std::vector<std::string> &strings) {
    Bytes out;
    for (const auto &text : strings) {
        out.push_back(static_cast<std::uint8_t>(text.size()));
        out.insert(out.end(), text.begin(), text.end());
    }
    return out;
}

struct Case {
    const char *what;
    DnsType type;
    Bytes rdata;
    std::optional<std::string> expected;
};

} // namespace

TEST_CASE("RDATA of each type decodes to the documented text") {
    const std::string label63(63, 'a');
    const std::string label61(61, 'b');
    const Case cases[] = {
        {"A", DnsType::A, {192, 0, 2, 1}, "192.0.2.1"},
        {"A too short", DnsType::A, {192, 0, 2}, std::nullopt},
        {"A too long", DnsType::A, {192, 0, 2, 1, 0}, std::nullopt},
        {"A empty", DnsType::A, {}, std::nullopt},
        {"AAAA",
         DnsType::AAAA,
         {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
         "2001:db8::1"},
        {"AAAA mapped",
         DnsType::AAAA,
         {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1},
         "::ffff:192.0.2.1"},
        {"AAAA short", DnsType::AAAA, Bytes(15, 0), std::nullopt},
        {"PTR lower-cased", DnsType::PTR, wire_name({"Mail", "EXAMPLE", "test"}),
         "mail.example.test"},
        {"CNAME", DnsType::CNAME, wire_name({"target", "example", "test"}), "target.example.test"},
        {"PTR root", DnsType::PTR, {0}, "."},
        {"PTR empty", DnsType::PTR, {}, std::nullopt},
        {"PTR compression pointer", DnsType::PTR, {0xc0, 0x0c}, std::nullopt},
        {"PTR pointer after a label", DnsType::PTR, {3, 'a', 'b', 'c', 0xc0, 0x00}, std::nullopt},
        {"PTR extended label type", DnsType::PTR, {0x41, 0}, std::nullopt},
        {"PTR label of 63", DnsType::PTR, wire_name({label63, "test"}), label63 + ".test"},
        {"PTR label of 64", DnsType::PTR, wire_name({label63 + "a", "test"}), std::nullopt},
        {"PTR name of 255", DnsType::PTR, wire_name({label63, label63, label63, label61}),
         label63 + "." + label63 + "." + label63 + "." + label61},
        {"PTR name of 256", DnsType::PTR, wire_name({label63, label63, label63, label61 + "b"}),
         std::nullopt},
        {"PTR label past the end", DnsType::PTR, {5, 'm', 'a', 'i'}, std::nullopt},
        {"PTR without the root label", DnsType::PTR, {4, 'm', 'a', 'i', 'l'}, std::nullopt},
        {"PTR with trailing bytes", DnsType::PTR, concat(wire_name({"mail"}), {1}), std::nullopt},
        {"PTR dot inside a label", DnsType::PTR, wire_name({"a.b", "test"}), "a\\.b.test"},
        {"PTR backslash and space", DnsType::PTR, wire_name({"a\\ b"}), "a\\\\\\032b"},
        {"PTR control byte", DnsType::PTR, {2, 'a', 0x07, 0}, "a\\007"},
        {"PTR high byte", DnsType::PTR, {1, 0xe9, 0}, "\\233"},
        {"MX", DnsType::MX, concat({0, 10}, wire_name({"mail", "example", "test"})),
         "10 mail.example.test"},
        {"MX highest preference", DnsType::MX, concat({0xff, 0xff}, wire_name({"mx"})), "65535 mx"},
        {"MX null", DnsType::MX, {0, 0, 0}, "0 ."},
        {"MX preference only", DnsType::MX, {0, 10}, std::nullopt},
        {"MX one byte", DnsType::MX, {0}, std::nullopt},
        {"MX compressed exchange", DnsType::MX, {0, 10, 0xc0, 0x0c}, std::nullopt},
        {"TXT one string", DnsType::TXT, txt_strings({"v=spf1 -all"}), "v=spf1 -all"},
        {"TXT strings concatenated", DnsType::TXT, txt_strings({"part one ", "part two"}),
         "part one part two"},
        {"TXT empty string", DnsType::TXT, {0}, ""},
        {"TXT empty strings", DnsType::TXT, {0, 0, 1, 'x', 0}, "x"},
        {"TXT control characters kept raw", DnsType::TXT, txt_strings({"a\r\nb\x07", "\t"}),
         "a\r\nb\x07\t"},
        {"TXT NUL kept", DnsType::TXT, {3, 'a', 0, 'b'}, std::string("a\0b", 3)},
        {"TXT no strings", DnsType::TXT, {}, std::nullopt},
        {"TXT string past the end", DnsType::TXT, {5, 'a', 'b'}, std::nullopt},
        {"TXT second string past the end", DnsType::TXT, {1, 'a', 2, 'b'}, std::nullopt},
    };
    for (const auto &test : cases) {
        CAPTURE(test.what);
        CHECK(parse_rdata(test.type, test.rdata) == test.expected);
    }
}

TEST_CASE("a TXT record is kept whole, up to the largest RDATA the DNS carries") {
    // 255 strings of 255 bytes and one of 254: 65535 bytes of RDATA, the
    // most a record can hold.
    Bytes rdata;
    std::string expected;
    for (int i = 0; i < 256; ++i) {
        const std::string part(i < 255 ? 255 : 254, static_cast<char>('a' + i % 26));
        rdata = concat(rdata, txt_strings({part}));
        expected += part;
    }
    REQUIRE(rdata.size() == 65535);
    const auto text = parse_rdata(DnsType::TXT, rdata);
    REQUIRE(text.has_value());
    CHECK(text->size() == 65535 - 256);
    const bool whole = *text == expected;
    CHECK(whole);

    // A string running past the end is malformed however long the rest.
    rdata.push_back(9);
    CHECK_FALSE(parse_rdata(DnsType::TXT, rdata).has_value());
}

TEST_CASE("every truncation of valid RDATA is rejected, never read past") {
    const Case whole[] = {
        {"MX", DnsType::MX, concat({0, 5}, wire_name({"mx", "example", "test"})),
         "5 mx.example.test"},
        {"PTR", DnsType::PTR, wire_name({"host", "example", "test"}), "host.example.test"},
        {"AAAA", DnsType::AAAA, Bytes(16, 0), "::"},
    };
    for (const auto &test : whole) {
        CAPTURE(test.what);
        CHECK(parse_rdata(test.type, test.rdata) == test.expected);
        for (std::size_t size = 0; size < test.rdata.size(); ++size) {
            // A fresh heap copy of exactly `size` bytes, so that ASan sees
            // any read beyond it.
            const Bytes cut(test.rdata.begin(), test.rdata.begin() + static_cast<long>(size));
            CAPTURE(size);
            CHECK_FALSE(parse_rdata(test.type, cut).has_value());
        }
    }
}
