#include "core/address.hpp"

#include <doctest/doctest.h>

using namespace portcullis;

TEST_CASE("IP addresses parse, print and reverse") {
    struct Row {
        const char *text;
        const char *canonical; // nullptr: must not parse
        const char *reverse;
    };
    const Row rows[] = {
        {"192.0.2.1", "192.0.2.1", "1.2.0.192.in-addr.arpa"},
        {"2001:db8::1", "2001:db8::1",
         "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"},
        {"2001:DB8:0:0:0:0:0:2", "2001:db8::2", nullptr},
        {"192.0.2.01", nullptr, nullptr},
        {"192.0.2", nullptr, nullptr},
        {"256.0.0.1", nullptr, nullptr},
        {"", nullptr, nullptr},
        {"[192.0.2.1]", nullptr, nullptr},
        {"fe80::1%eth0", nullptr, nullptr},
        {"mail.example.org", nullptr, nullptr},
    };
    for (const auto &row : rows) {
        CAPTURE(row.text);
        auto address = IpAddress::parse(row.text);
        if (!row.canonical) {
            CHECK_FALSE(address);
            continue;
        }
        REQUIRE(address);
        CHECK(address->to_string() == row.canonical);
        if (row.reverse)
            CHECK(address->reverse_name() == row.reverse);
    }
    CHECK_FALSE(IpAddress::parse(std::string(5000, '1')));
    CHECK_FALSE(IpAddress::parse(std::string("192.0.2.1\0junk", 14)));
}

TEST_CASE("an IPv4-mapped IPv6 address compares as IPv4") {
    auto mapped = IpAddress::parse("::ffff:192.0.2.7");
    REQUIRE(mapped);
    CHECK(mapped->unmapped() == *IpAddress::parse("192.0.2.7"));
    CHECK(Network::parse("192.0.2.0/24")->contains(*mapped));
}

TEST_CASE("networks match by prefix") {
    struct Row {
        const char *network;
        const char *address;
        bool inside;
    };
    const Row rows[] = {
        {"192.0.2.0/24", "192.0.2.200", true},    {"192.0.2.0/24", "192.0.3.1", false},
        {"192.0.2.128/25", "192.0.2.127", false}, {"192.0.2.1", "192.0.2.1", true},
        {"0.0.0.0/0", "203.0.113.9", true},       {"2001:db8::/32", "2001:db8:ffff::1", true},
        {"2001:db8::/32", "2001:db9::1", false},  {"2001:db8::/32", "192.0.2.1", false},
        {"10.0.0.0/7", "11.255.255.255", true},
    };
    for (const auto &row : rows) {
        CAPTURE(row.network);
        CAPTURE(row.address);
        auto network = Network::parse(row.network);
        REQUIRE(network);
        CHECK(network->contains(*IpAddress::parse(row.address)) == row.inside);
    }
    for (const char *bad : {"192.0.2.0/33", "2001:db8::/129", "192.0.2.0/", "x/8", "192.0.2.0/8a"})
        CHECK_FALSE(Network::parse(bad));
}

TEST_CASE("address literals") {
    CHECK(parse_address_literal("[192.0.2.1]")->to_string() == "192.0.2.1");
    CHECK(parse_address_literal("[IPv6:2001:db8::1]")->to_string() == "2001:db8::1");
    CHECK(parse_address_literal("[ipv6:2001:db8::1]")->to_string() == "2001:db8::1");
    CHECK_FALSE(parse_address_literal("[2001:db8::1]"));
    CHECK_FALSE(parse_address_literal("[IPv6:192.0.2.1]"));
    CHECK_FALSE(parse_address_literal("192.0.2.1"));
    CHECK_FALSE(parse_address_literal("[192.0.2.1"));
    CHECK_FALSE(parse_address_literal("[]"));
}

TEST_CASE("defect: a network written as an IPv4-mapped address never matches") {
    // Clients are compared unmapped (an IPv4-mapped client is IPv4), so a
    // network in the mapped form, as in trusted-networks or allow.network,
    // must stand for the IPv4 network it maps.
    struct Row {
        const char *network;
        const char *address;
        bool inside;
    };
    const Row rows[] = {
        {"::ffff:192.0.2.7", "192.0.2.7", true},
        {"::ffff:192.0.2.7", "::ffff:192.0.2.7", true},
        {"::ffff:192.0.2.0/120", "192.0.2.200", true},
        {"::ffff:192.0.2.0/120", "::ffff:192.0.2.9", true},
        {"::ffff:192.0.2.0/120", "192.0.3.1", false},
        {"::ffff:0.0.0.0/96", "203.0.113.9", true},
        {"::ffff:0.0.0.0/96", "2001:db8::1", false},
    };
    for (const auto &row : rows) {
        const std::string network_text = row.network;
        const std::string address_text = row.address;
        CAPTURE(network_text);
        CAPTURE(address_text);
        const auto network = Network::parse(row.network);
        REQUIRE(network);
        CHECK(network->contains(*IpAddress::parse(row.address)) == row.inside);
    }
}
