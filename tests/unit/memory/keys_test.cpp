// The keys and values greylisting and the abuse counters share with
// `portcullis db` and other MX hosts.
#include "memory/abuse_counters.hpp"
#include "memory/allowlist.hpp"
#include "memory/keys.hpp"
#include "state/store.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using namespace portcullis::memory;

namespace {
const state::Time t0 = state::Time(std::chrono::milliseconds(4'102'444'800'000));
}

TEST_CASE("envelope addresses become key parts the store accepts, lower-cased") {
    CHECK(encode_address("Someone@Example.ORG") == "someone@example.org");
    CHECK(encode_address("") == "");
    CHECK(encode_address("a b|c%d:e@x") == "a%20b%7Cc%25d%3Ae@x");
    CHECK(encode_address(std::string("\x01\x7f\xff", 3)) == "%01%7F%FF");
    const std::string long_address(300, 'a');
    const auto hashed = encode_address(long_address);
    CHECK(hashed.size() == 17);
    CHECK(hashed.front() == '#');
    CHECK(encode_address(long_address) == hashed); // stable
    CHECK(encode_address(std::string(300, 'b')) != hashed);
    const auto key = triplet_key("192.0.2.0/24", "a b@x", std::string(5000, '\n'));
    CHECK(state::key_problem(key).empty());
}

TEST_CASE("the origin of a client: its network, or its pool's organisational domain") {
    CHECK(network_origin(*IpAddress::parse("192.0.2.77"), 24, 64) == "192.0.2.0/24");
    CHECK(network_origin(*IpAddress::parse("::ffff:192.0.2.77"), 24, 64) == "192.0.2.0/24");
    CHECK(network_origin(*IpAddress::parse("2001:db8:1:2:3::9"), 24, 64) == "2001:db8:1:2::/64");
    CHECK(network_origin(*IpAddress::parse("192.0.2.77"), 32, 64) == "192.0.2.77/32");
    CHECK(organisational_domain("mail-7.Out.Example.co.uk.") == "example.co.uk");
    CHECK(organisational_domain("a.b.example.com") == "example.com");
    CHECK(organisational_domain("out1.pool.example.test") == "example.test");
    CHECK_FALSE(organisational_domain("co.uk"));
    CHECK_FALSE(organisational_domain(""));
    CHECK_FALSE(organisational_domain("bad name.example.com"));
    CHECK(domain_origin("example.com") == "d:example.com");
}

TEST_CASE("times in values: milliseconds up to year 2255, nothing else") {
    CHECK(parse_ms("0") == 0);
    CHECK(parse_ms("4102444800000") == 4102444800000);
    CHECK(parse_ms("9000000000000") == 9000000000000);
    // A larger one could overflow the system clock's nanoseconds (found by
    // state_value_fuzz with 51024844800000 in an allowlist line).
    CHECK_FALSE(parse_ms("9000000000001"));
    CHECK_FALSE(parse_ms("51024844800000"));
    CHECK_FALSE(parse_ms("9223372036854775807"));
    CHECK_FALSE(parse_ms("-1"));
    CHECK_FALSE(parse_ms("-0"));
    CHECK_FALSE(parse_ms("+5"));
    CHECK(parse_ms("007") == 7);
    CHECK_FALSE(parse_ms(""));
    CHECK_FALSE(parse_ms("12x"));
}

TEST_CASE("the allowlist reads hostile values and writes its own back") {
    auto list = Allowlist::parse("192.0.2.0/24 4102444900000\ngarbage\n2001:db8::/32 1\n"
                                 "198.51.100.7 99999999999999999999\n\n");
    CHECK(list.entries().size() == 2);
    CHECK(list.malformed() == 2);
    CHECK(list.match(*IpAddress::parse("192.0.2.200"), t0));
    CHECK_FALSE(list.match(*IpAddress::parse("2001:db8::1"), t0)); // expired
    CHECK_FALSE(list.match(*IpAddress::parse("198.51.100.7"), t0));
    list.add(*Network::parse("198.51.100.7"), t0 + std::chrono::hours(1), t0);
    CHECK(list.entries().size() == 2); // the expired entry went
    CHECK(list.match(*IpAddress::parse("198.51.100.7"), t0));
    const auto again = Allowlist::parse(list.serialize());
    CHECK(again.serialize() == list.serialize());
    CHECK(again.malformed() == 0);
    CHECK(list.remove(*Network::parse("192.0.2.0/24")) == 1);
    CHECK_FALSE(list.match(*IpAddress::parse("192.0.2.200"), t0));
}

TEST_CASE("a block value read back, a malformed one still blocking") {
    auto block = parse_block("too-many-rsets 51 4102444800000", t0 + std::chrono::hours(1), t0);
    CHECK(block.rule == "too-many-rsets");
    CHECK(block.count == 51);
    CHECK(block.since == t0);
    auto unknown = parse_block("no-such-rule 3 4102444800000", t0, t0);
    CHECK(unknown.rule == "too-many-errors");
    auto broken = parse_block("too-many-rsets 9999999999999999999999 x", t0, t0);
    CHECK(broken.rule == "too-many-errors");
    CHECK(broken.since == t0);
}
