// The address patterns of exempt-recipients and deny.sender: every
// spelling portcullis.conf(5) lists, against the addresses it should and
// should not match, and the entries parse() must refuse.
#include "core/address_pattern.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace portcullis;

namespace {

AddressPattern pattern(const char *text) {
    std::string error;
    auto parsed = AddressPattern::parse(text, &error);
    INFO(text << ": " << error);
    REQUIRE(parsed);
    return *parsed;
}

} // namespace

TEST_CASE("address patterns match what portcullis.conf(5) says") {
    struct Row {
        const char *pattern;
        const char *address;
        bool matches;
    };
    const Row rows[] = {
        // user@domain: that address
        {"user@example.org", "user@example.org", true},
        {"user@example.org", "USER@Example.ORG", true},
        {"user@example.org", "<user@example.org>", true},
        {"user@example.org", "user@example.org.", true},
        {"user@example.org", "other@example.org", false},
        {"user@example.org", "user@sub.example.org", false},
        {"user@example.org", "user@example.org.evil", false},
        {"user@example.org", "user", false},
        {"User@Example.Org.", "user@example.org", true},
        // user@ and its aliases: that local part at any domain
        {"postmaster@", "postmaster@anywhere.example", true},
        {"postmaster@", "POSTMASTER@anywhere.example", true},
        {"postmaster@", "postmaster", true},
        {"postmaster@", "postmaster.fake@anywhere.example", false},
        {"postmaster@*", "postmaster@anywhere.example", true},
        {"postmaster@*", "abuse@anywhere.example", false},
        {"postmaster", "postmaster@anywhere.example", true},
        {"postmaster", "<POSTMASTER@any.example>", true},
        {"postmaster", "x@postmaster", false},
        // @domain and *@domain: that domain only
        {"@example.org", "anyone@example.org", true},
        {"@example.org", "anyone@EXAMPLE.org.", true},
        {"@example.org", "@example.org", true},
        {"@example.org", "anyone@sub.example.org", false},
        {"@example.org", "anyone@badexample.org", false},
        {"@example.org", "anyone", false},
        {"*@example.org", "anyone@example.org", true},
        {"*@example.org", "anyone@sub.example.org", false},
        // domain: that domain and below (Postfix access(5))
        {"example.org", "anyone@example.org", true},
        {"example.org", "anyone@sub.example.org", true},
        {"example.org", "anyone@deep.sub.EXAMPLE.org", true},
        {"example.org", "anyone@badexample.org", false},
        {"example.org", "anyone@example.org.evil", false},
        {"example.org", "example.org", false},
        // .domain and its aliases: below the domain only
        {".example.org", "anyone@sub.example.org", true},
        {".example.org", "anyone@example.org", false},
        {".example.org", "anyone@badexample.org", false},
        {"*.example.org", "anyone@sub.example.org", true},
        {"*.example.org", "anyone@example.org", false},
        {"@.example.org", "anyone@a.b.example.org", true},
        {"*@.example.org", "anyone@a.example.org", true},
        {"*@*.example.org", "anyone@a.example.org", true},
        {"*@*.example.org", "anyone@example.org", false},
        // user@.domain: that local part below the domain
        {"ops@.example.org", "ops@mx.example.org", true},
        {"ops@.example.org", "ops@example.org", false},
        {"ops@.example.org", "dev@mx.example.org", false},
        // hostile addresses
        {"@example.org", "\"a@evil.example\"@example.org", true},
        {"@evil.example", "\"a@evil.example\"@example.org", false},
        {"@example.org", "", false},
        {"@example.org", "<>", false},
        {"postmaster@", "", false},
        {"local.part@", "local.part@example.org", true},
        {"a+tag@example.org", "a+tag@example.org", true},
        {"a+tag@example.org", "a@example.org", false},
        {"ünïcode@example.org", "ünïcode@example.org", true},
    };
    for (const auto &row : rows) {
        CAPTURE(row.pattern);
        CAPTURE(row.address);
        CHECK(pattern(row.pattern).matches(row.address) == row.matches);
    }
}

TEST_CASE("an address with a NUL byte does not match the address before it") {
    const auto exact = pattern("user@example.org");
    CHECK_FALSE(exact.matches(std::string("user@example.org\0x", 18)));
    CHECK_FALSE(pattern("@example.org").matches(std::string("x@example.org\0", 14)));
    CHECK(pattern("@example.org").matches(std::string(10000, 'a') + "@example.org"));
    CHECK_FALSE(pattern("@example.org").matches("x@" + std::string(10000, 'b')));
}

TEST_CASE("address patterns that can match no address, or every one, are refused") {
    struct Row {
        const char *text;
        const char *why;
    };
    const Row rows[] = {
        {"", "empty"},
        {"spam*@example.com", "'*'"},
        {"*spam@example.com", "'*'"},
        {"user@exa*mple.com", "'*'"},
        {"user@*.*", "'*'"},
        {"user@**.example.com", "'*'"},
        {"spam*", "'*'"},
        {"*", "every address"},
        {"*@*", "every address"},
        {"@", "every address"},
        {"*@", "every address"},
        {"@*", "every address"},
        {"user@@example.com", "more than one '@'"},
        {"a@b@example.com", "more than one '@'"},
        {"\"quoted\"@example.com", "quoted"},
        {"us(er@example.com", "'('"},
        {"us,er@example.com", "','"},
        {"user@[192.0.2.1]", "address literals"},
        {"user@192.0.2.1", "not a host name"},
        {"user@-bad-.example", "not a host name"},
        {"user@exa_mple.com", "not a host name"},
        {"user@example..com", "not a host name"},
        {"user@.", "not a host name"},
        {".", "not a host name"},
        {"..example.com", "not a host name"},
        {"example.com/24", "not a host name"},
        {"user@ex\xc3\xa4mple.com", "not a host name"},
        {"user name@example.com", "spaces"},
        {"user@example.com\t", "spaces"},
        {"user\x7f@example.com", "control"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.text);
        std::string error;
        CHECK_FALSE(AddressPattern::parse(row.text, &error));
        CAPTURE(error);
        CHECK(error.find(row.why) != std::string::npos);
    }
}

TEST_CASE("first_match returns the first pattern that matches, for logs") {
    std::vector<AddressPattern> patterns = {pattern("news@"), pattern("example.org"),
                                            pattern("@example.org")};
    const auto *found = first_match("NEWS@example.org", patterns);
    REQUIRE(found != nullptr);
    CHECK(found->text() == "news@");
    found = first_match("other@example.org", patterns);
    REQUIRE(found != nullptr);
    CHECK(found->text() == "example.org");
    CHECK(first_match("other@example.net", patterns) == nullptr);
    CHECK(first_match("", patterns) == nullptr);
}
