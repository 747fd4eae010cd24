// header-fields: From and Date present, singleton fields once, Message-ID
// one msg-id; and header-sanity's findings as rules. No DNS.
#include "check_harness.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using portcullis::testing::CheckHarness;
using portcullis::testing::MessageFixture;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

const Fields good = {
    {"Received", "from a.example by b.example; Tue, 1 Dec 2026 09:00:00 +0000"},
    {"From", "Alice <alice@example.org>"},
    {"To", "bob@example.net"},
    {"Subject", "hello"},
    {"Date", "Tue, 1 Dec 2026 09:30:00 +0100"},
    {"Message-ID", "<1234.5678@mail.example.org>"},
};

Fields with(Fields fields, const std::string &name, const std::string &value) {
    fields.emplace_back(name, value);
    return fields;
}

Fields without(Fields fields, const std::string &name) {
    std::erase_if(fields, [&](const auto &field) { return field.first == name; });
    return fields;
}

const CheckResult *find(const std::vector<CheckResult> &results, std::string_view rule) {
    for (const auto &result : results)
        if (result.rule == rule)
            return &result;
    return nullptr;
}

} // namespace

TEST_CASE("header-fields: each rule fails on what it describes and only on that") {
    struct Row {
        std::string name;
        Fields fields;
        std::string failing; // "" none
        std::string detail;
    };
    const std::vector<Row> rows = {
        {"a plain message", good, "", ""},
        {"no From", without(good, "From"), "header-from-missing", "no From: field"},
        {"no Date", without(good, "Date"), "header-date-missing", "no Date: field"},
        {"two From", with(good, "From", "mallory@evil.example"), "header-repeated", "2 From"},
        {"From in another case", with(good, "FROM", "x@y.example"), "header-repeated", "From"},
        {"two Subject", with(good, "Subject", "again"), "header-repeated", "Subject"},
        {"two Message-ID", with(good, "Message-ID", "<a@b>"), "header-repeated", "Message-ID"},
        {"two References", with(with(good, "References", "<a@b>"), "References", "<c@d>"),
         "header-repeated", "References"},
        {"two Received are fine", with(good, "Received", "from c by d; x"), "", ""},
        {"two Comments are fine", with(with(good, "Comments", "a"), "Comments", "b"), "", ""},
        {"Message-ID without brackets", with(without(good, "Message-ID"), "Message-ID", "abc@def"),
         "header-message-id-syntax", "Message-ID 'abc@def'"},
        {"Message-ID with two ids", with(without(good, "Message-ID"), "Message-ID", "<a@b> <c@d>"),
         "header-message-id-syntax", "Message-ID"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.name);
        MessageFixture fixture(row.fields);
        CheckHarness harness("192.0.2.1");
        harness.message = &fixture.facts;
        const auto results = harness.run("header-fields");
        REQUIRE(results.size() == 4);
        for (const auto &result : results) {
            CAPTURE(result.rule);
            CAPTURE(result.detail);
            if (result.rule == row.failing) {
                CHECK(result.outcome == Outcome::fail);
                CHECK(result.detail.find(row.detail) != std::string::npos);
            } else {
                CHECK(result.outcome != Outcome::fail);
            }
        }
    }
}

TEST_CASE("header-repeated names the field and the count for the reply") {
    MessageFixture fixture(with(with(good, "From", "b@example.org"), "From", "c@example.org"));
    CheckHarness harness("192.0.2.1");
    harness.message = &fixture.facts;
    const auto results = harness.run("header-fields");
    const auto *repeated = find(results, "header-repeated");
    REQUIRE(repeated);
    CHECK(repeated->vars.at("header_field") == "From");
    CHECK(repeated->vars.at("header_count") == "3");
}

TEST_CASE("header-sanity: sizes, bytes, long lines and 8-bit") {
    struct Row {
        std::string name;
        Fields fields;
        bool smtputf8;
        std::string failing;
        std::string field;
    };
    const std::string long_value(995, 'x');
    const std::vector<Row> rows = {
        {"a plain message", good, false, "", ""},
        {"a NUL", with(good, "X-Bad", std::string("a\0b", 3)), false, "header-bad-bytes", "X-Bad"},
        {"a bare CR", with(good, "X-Cr", "a\rb"), false, "header-bad-bytes", "X-Cr"},
        {"CR LF folding is fine", with(good, "X-Fold", "a\r\n\tb"), false, "", ""},
        {"a field name with a space", with(good, "X Bad", "v"), false, "header-bad-bytes", "X Bad"},
        {"a line of 1001 octets", with(good, "X-Long", long_value), false, "header-line-too-long",
         "X-Long"},
        {"a folded long field is fine",
         with(good, "X-Folded", std::string(500, 'a') + "\n\t" + std::string(500, 'b')), false, "",
         ""},
        {"8-bit without SMTPUTF8", with(good, "Subject2", "caf\xc3\xa9"), false, "header-8bit",
         "Subject2"},
        {"8-bit with SMTPUTF8", with(good, "Subject2", "caf\xc3\xa9"), true, "", ""},
    };
    for (const auto &row : rows) {
        CAPTURE(row.name);
        MessageFixture fixture(row.fields);
        fixture.facts.smtputf8 = row.smtputf8;
        CheckHarness harness("192.0.2.1");
        harness.message = &fixture.facts;
        const auto results = harness.run("header-sanity");
        REQUIRE(results.size() == 4);
        for (const auto &result : results) {
            CAPTURE(result.rule);
            CAPTURE(result.detail);
            if (result.rule == row.failing) {
                CHECK(result.outcome == Outcome::fail);
                CHECK(result.vars.at("header_field") == row.field);
            } else {
                CHECK(result.outcome != Outcome::fail);
            }
        }
    }
}

TEST_CASE("header-too-large: beyond either limit, whatever arrives") {
    SUBCASE("fields") {
        Fields many = good;
        for (int i = 0; i < 20; ++i)
            many.emplace_back("X-Many", "v");
        MessageFixture fixture(many, {10, 1 << 20});
        CheckHarness harness("192.0.2.1");
        harness.config.message.max_fields = 10;
        harness.message = &fixture.facts;
        const auto results = harness.run("header-sanity");
        const auto *found = find(results, "header-too-large");
        REQUIRE(found);
        CHECK(found->outcome == Outcome::fail);
        CHECK(found->vars.at("header_limit") == "more than 10 fields");
        CHECK(fixture.header.fields().size() <= 10);
    }
    SUBCASE("bytes") {
        MessageFixture fixture(with(good, "X-Big", std::string(5000, 'a')), {1000, 4096});
        CheckHarness harness("192.0.2.1");
        harness.config.message.max_bytes = 4096;
        harness.message = &fixture.facts;
        const auto results = harness.run("header-sanity");
        const auto *found = find(results, "header-too-large");
        REQUIRE(found);
        CHECK(found->outcome == Outcome::fail);
        CHECK(found->vars.at("header_limit") == "more than 4096 bytes");
    }
}

TEST_CASE("the header checks skip a session without a message") {
    for (const auto *name : {"header-sanity", "header-fields", "header-date"}) {
        CAPTURE(name);
        CheckHarness harness("192.0.2.1");
        const auto results = harness.run(name);
        REQUIRE(results.size() == 1);
        CHECK(results[0].outcome == Outcome::skip);
    }
}
