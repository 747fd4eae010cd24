// The DKIM-Signature tag reader and the DNS wire answers for libopendkim.
#include "message/dkim_wire.hpp"

#include <doctest/doctest.h>

#include <array>
#include <vector>

using namespace portcullis;
using namespace portcullis::message;

TEST_CASE("the tags of a DKIM-Signature value are read as libopendkim reads them") {
    const std::string base = "v=1; a=rsa-sha256; h=from; bh=x; b=";
    struct Row {
        std::string value;
        bool well_formed;
        const char *domain;
        const char *selector;
        const char *key_name;
    };
    const Row rows[] = {
        {base + "abcdefghij; d=example.org; s=sel", true, "example.org", "sel",
         "sel._domainkey.example.org"},
        {base + "ab\n\tcd; d = exa\r\n mple.org ; s=\tsel ;", true, "example.org", "sel",
         "sel._domainkey.example.org"},
        {base + "x; d=Example.ORG; s=a.b", true, "Example.ORG", "a.b",
         "a.b._domainkey.Example.ORG"},
        {base + "x; d=example.org", false, "example.org", "", ""},
        {base + "x; d=; s=sel", true, "", "sel", ""},
        {base + "x; d=example.org; s=sel; d=other.example", false, "other.example", "sel",
         "sel._domainkey.other.example"},
        {base + "x; d=example.org; s=sel; novalue", false, "example.org", "sel",
         "sel._domainkey.example.org"},
        {base + "x; d=example.org; s=sel; ;", false, "example.org", "sel",
         "sel._domainkey.example.org"},
        {base + "x; d=example.org; s=s e l", true, "example.org", "sel",
         "sel._domainkey.example.org"},
        {base + "x; d=example.org; s=sel; t a g=1", false, "example.org", "sel",
         "sel._domainkey.example.org"},
        {base + "x; d=exa\x01mple.org; s=sel", false, "exa\x01mple.org", "sel",
         "sel._domainkey.exa\x01mple.org"},
        {base + "x; d=example..org; s=sel", true, "example..org", "sel", ""},
        {base + "x; d=" + std::string(64, 'a') + ".org; s=sel", true, nullptr, "sel", ""},
        {base + "x; d=" + std::string(250, 'a') + "; s=sel", true, nullptr, "sel", ""},
        {"", false, "", "", ""},
        {";;;", false, "", "", ""},
        {"=", false, "", "", ""},
    };
    for (const auto &row : rows) {
        CAPTURE(row.value);
        const auto tags = read_signature_tags(row.value);
        CHECK(tags.well_formed == row.well_formed);
        if (row.domain != nullptr)
            CHECK(tags.domain == row.domain);
        CHECK(tags.selector == row.selector);
        CHECK(tags.key_name == row.key_name);
    }
    const auto tags = read_signature_tags(base + "0123456789abc; d=x.example; s=s; i=@x.example");
    CHECK(tags.b_prefix == "01234567");
    CHECK(tags.algorithm == "rsa-sha256");
    CHECK(tags.identity == "@x.example");
    // Long values are cut for logs; too long a field is not read at all.
    const auto long_tags = read_signature_tags(base + "x; d=" + std::string(1000, 'a') + "; s=s");
    CHECK(long_tags.domain.size() == 255);
    CHECK(long_tags.key_name.empty());
    CHECK_FALSE(read_signature_tags(
                    base + "x; d=e.example; s=s; z=" + std::string(max_signature_value, 'z'))
                    .well_formed);
}

namespace {

std::vector<unsigned char> answer_bytes(std::string_view name, const DnsAnswer &answer,
                                        std::size_t room = 8192, bool *written = nullptr) {
    std::vector<unsigned char> out(room);
    const auto size = write_txt_answer(name, answer, out);
    if (written != nullptr)
        *written = size.has_value();
    out.resize(size.value_or(0));
    return out;
}

DnsAnswer txt(std::vector<std::string> records) {
    DnsAnswer answer;
    answer.status = records.empty() ? DnsAnswer::Status::nodata : DnsAnswer::Status::ok;
    answer.records = std::move(records);
    return answer;
}

} // namespace

TEST_CASE("a TXT answer is written as DNS wire, strings cut at 255 octets") {
    const std::string record(600, 'k');
    const auto wire = answer_bytes("sel._domainkey.example.org.", txt({record}));
    // header 12, question 28 + 4, RR 2+2+2+4+2, RDATA 600 + 3 length octets
    REQUIRE(wire.size() == 12 + 28 + 4 + 12 + 603);
    CHECK(wire[2] == 0x81);
    CHECK(wire[3] == 0x80);
    CHECK(wire[5] == 1); // QDCOUNT
    CHECK(wire[7] == 1); // ANCOUNT
    CHECK(wire[12] == 3);
    CHECK(std::string(wire.begin() + 13, wire.begin() + 16) == "sel");
    const std::size_t rr = 12 + 28 + 4;
    CHECK(wire[rr] == 0xc0);
    CHECK(wire[rr + 1] == 0x0c);
    CHECK(wire[rr + 3] == 16);
    CHECK(wire[rr + 10] * 256 + wire[rr + 11] == 603);
    CHECK(wire[rr + 12] == 255);
    CHECK(wire[rr + 12 + 256] == 255);
    CHECK(wire[rr + 12 + 512] == 90);

    const auto nxdomain = answer_bytes("a.example", [] {
        DnsAnswer answer;
        answer.status = DnsAnswer::Status::nxdomain;
        return answer;
    }());
    REQUIRE(nxdomain.size() == 12 + 11 + 4);
    CHECK((nxdomain[3] & 0x0f) == 3);
    CHECK(nxdomain[7] == 0);
    const auto nodata = answer_bytes("a.example", txt({}));
    REQUIRE(nodata.size() == 12 + 11 + 4);
    CHECK((nodata[3] & 0x0f) == 0);
    const auto empty_record = answer_bytes("a.example", txt({""}));
    REQUIRE(empty_record.size() == 12 + 11 + 4 + 12 + 1);
    CHECK(empty_record.back() == 0);
    const auto two = answer_bytes("a.example", txt({"one", "two"}));
    CHECK(two[7] == 2);
}

TEST_CASE("a TXT answer that is an error, a bad name or too big is refused, never cut") {
    for (auto status :
         {DnsAnswer::Status::servfail, DnsAnswer::Status::timeout, DnsAnswer::Status::bogus}) {
        DnsAnswer answer;
        answer.status = status;
        bool written = true;
        answer_bytes("a.example", answer, 8192, &written);
        CHECK_FALSE(written);
    }
    bool written = true;
    for (const std::string &name : {std::string(), std::string("a..example"), std::string(64, 'a'),
                                    std::string(254, 'a'), std::string(".")}) {
        answer_bytes(name, txt({"x"}), 8192, &written);
        CHECK_FALSE(written);
    }
    const std::string record(9000, 'k');
    answer_bytes("a.example", txt({record}), 8192, &written);
    CHECK_FALSE(written);
    // Exactly fitting, and one octet short.
    const auto size = answer_bytes("a.example", txt({"0123456789"})).size();
    answer_bytes("a.example", txt({"0123456789"}), size, &written);
    CHECK(written);
    answer_bytes("a.example", txt({"0123456789"}), size - 1, &written);
    CHECK_FALSE(written);
    answer_bytes("a.example", txt({std::string(70000, 'k')}), 1 << 20, &written);
    CHECK_FALSE(written);
}
