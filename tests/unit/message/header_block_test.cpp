#include "message/header_block.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace portcullis::message;

TEST_CASE("fields are kept in order, counted and found case-insensitively") {
    HeaderBlock block;
    block.add("From", "a@example.org");
    block.add("subject", "hello");
    block.add("DKIM-Signature", "v=1; d=example.org");
    block.add("X-Custom", "1");
    block.add("dkim-signature", "v=1; d=example.net");
    block.add("x-custom", "2");
    REQUIRE(block.fields().size() == 6);
    CHECK(block.fields()[1].name == "subject");
    CHECK(block.fields()[4].value == "v=1; d=example.net");
    CHECK(block.count("FROM") == 1);
    CHECK(block.count("Subject") == 1);
    CHECK(block.count("DKIM-SIGNATURE") == 2);
    CHECK(block.count("Date") == 0);
    CHECK(block.count("X-Custom") == 2); // not in the counted list: among the kept fields
    CHECK(block.count("X-Other") == 0);
    REQUIRE(block.first("SUBJECT"));
    CHECK(*block.first("SUBJECT") == "hello");
    CHECK(*block.first("x-CUSTOM") == "1");
    CHECK(block.first("Date") == nullptr);
    CHECK(block.fields_seen() == 6);
    CHECK(block.bytes_seen() == 4 + 13 + 7 + 5 + 14 + 18 + 8 + 1 + 14 + 18 + 8 + 1);
    const auto &findings = block.findings();
    CHECK_FALSE(findings.long_line);
    CHECK_FALSE(findings.nul);
    CHECK_FALSE(findings.bare_cr);
    CHECK_FALSE(findings.eight_bit);
    CHECK_FALSE(findings.bad_name);
    CHECK_FALSE(findings.too_many_fields);
    CHECK_FALSE(findings.too_many_bytes);
    block.clear();
    CHECK(block.fields().empty());
    CHECK(block.count("From") == 0);
    CHECK(block.fields_seen() == 0);
    CHECK(block.bytes_seen() == 0);
}

TEST_CASE("past the field limit, fields are counted but not kept") {
    HeaderBlock block(HeaderLimits{3, 1 << 20});
    for (int i = 0; i < 10; ++i)
        block.add("Received", "from x");
    block.add("From", "a@example.org");
    block.add("From", "b@example.org");
    CHECK(block.fields().size() == 3);
    CHECK(block.fields_seen() == 12);
    CHECK(block.findings().too_many_fields);
    CHECK_FALSE(block.findings().too_many_bytes);
    CHECK(block.count("From") == 2);
    CHECK(block.first("From") == nullptr);
}

TEST_CASE("past the byte limit, no later field is kept") {
    HeaderBlock block(HeaderLimits{1000, 100});
    block.add("Subject", std::string(50, 'a')); // 57 bytes
    block.add("To", std::string(41, 'b'));      // 100 bytes in all: still within
    CHECK_FALSE(block.findings().too_many_bytes);
    block.add("Cc", "c");   // 103
    block.add("From", "d"); // later and small: still not kept
    CHECK(block.findings().too_many_bytes);
    CHECK_FALSE(block.findings().too_many_fields);
    CHECK(block.fields().size() == 2);
    CHECK(block.count("Cc") == 1);
    CHECK(block.count("From") == 1);
    CHECK(block.first("From") == nullptr);
    CHECK(block.bytes_seen() == 108);
    // Scanned even when not kept.
    block.add("X-Late", std::string("bad\0", 4));
    REQUIRE(block.findings().nul);
    CHECK(*block.findings().nul == "X-Late");
}

TEST_CASE("line length: 998 octets with \"Name: \" on the first line") {
    struct Row {
        std::string name;
        std::string value;
        bool long_line;
    };
    const Row rows[] = {
        {"Subject", std::string(998 - 9, 'a'), false},
        {"Subject", std::string(998 - 8, 'a'), true},
        {"Subject", "short\r\n " + std::string(997, 'a'), false},
        {"Subject", "short\r\n " + std::string(998, 'a'), true},
        {"Subject", "short\n\t" + std::string(997, 'a') + "\n next", false},
        {"Subject", "short\n\t" + std::string(998, 'a') + "\n next", true},
        {"Subject", std::string(900, 'a') + "\r\n " + std::string(900, 'a'), false},
        {std::string(997, 'X'), "", true},
        {std::string(996, 'X'), "", false},
        {"Subject", "", false},
    };
    for (const auto &row : rows) {
        CAPTURE(row.name.size());
        CAPTURE(row.value.size());
        HeaderBlock block;
        block.add("Date", "x");
        block.add(row.name, row.value);
        block.add("To", std::string(2000, 'c')); // later: never the first
        REQUIRE(block.findings().long_line);
        CHECK(*block.findings().long_line == (row.long_line ? row.name.substr(0, 128) : "To"));
    }
}

TEST_CASE("NUL, bare CR, 8-bit and bad names, each at its first field") {
    struct Row {
        std::string name;
        std::string value;
        std::string findings; // of "nul", "bare_cr", "eight_bit", "bad_name"
    };
    const Row rows[] = {
        {"Subject", std::string("a\0b", 3), "nul"},
        {std::string("Sub\0ject", 8), "x", "nul bad_name"},
        {"Subject", "a\rb", "bare_cr"},
        {"Subject", "a\r", "bare_cr"},
        {"Subject", "a\r\r\n b", "bare_cr"},
        {"Sub\rject", "x", "bare_cr bad_name"},
        {"Subject", "a\r\n b", ""},
        {"Subject", "a\n b", ""},
        {"Subject", "caf\xc3\xa9", "eight_bit"},
        {"Subj\xc3\xa9", "x", "eight_bit bad_name"},
        {"", "x", "bad_name"},
        {"Sub ject", "x", "bad_name"},
        {"Sub:ject", "x", "bad_name"},
        {"Sub\x7fject", "x", "bad_name"},
        {"Sub\tject", "x", "bad_name"},
        {"!#$%&'*+-.^_`|~", "x", ""},
        {"Subject", "\t tabs and spaces \x7e", ""},
    };
    for (const auto &row : rows) {
        CAPTURE(row.name);
        CAPTURE(row.value);
        HeaderBlock block;
        block.add("From", "a@example.org");
        block.add(row.name, row.value);
        // A later field shows every finding again: the first one stays.
        const std::string later = "Later\x80:";
        block.add(later, std::string("\0\r\x80", 3));
        const auto &findings = block.findings();
        const auto expect = [&](const char *finding) {
            return row.findings.find(finding) != std::string::npos ? row.name : later;
        };
        CHECK(*findings.nul == expect("nul"));
        CHECK(*findings.bare_cr == expect("bare_cr"));
        CHECK(*findings.eight_bit == expect("eight_bit"));
        CHECK(*findings.bad_name == expect("bad_name"));
        CHECK_FALSE(findings.long_line);
    }
}

TEST_CASE("a field name in a finding is cut to 128 bytes") {
    HeaderBlock block;
    block.add(std::string(5000, 'X') + ":", "x");
    REQUIRE(block.findings().bad_name);
    CHECK(*block.findings().bad_name == std::string(128, 'X'));
}

TEST_CASE("the singleton fields of RFC 5322 3.6") {
    const auto names = singleton_fields();
    CHECK(names.size() == 11);
    for (const char *name : {"Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Message-ID",
                             "In-Reply-To", "References", "Subject"})
        CHECK(std::find(names.begin(), names.end(), name) != names.end());
    // Each is counted among all fields seen, kept or not.
    HeaderBlock block(HeaderLimits{1, 1 << 20});
    for (const auto name : names) {
        block.add(name, "x");
        block.add(name, "y");
    }
    for (const auto name : names)
        CHECK(block.count(name) == 2);
    for (const char *name : {"Resent-From", "Received", "Comments", "Keywords"})
        CHECK(std::find(names.begin(), names.end(), name) == names.end());
}
