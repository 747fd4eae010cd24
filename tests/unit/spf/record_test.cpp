#include "spf/record.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace portcullis;
using namespace portcullis::spf;

TEST_CASE("an SPF record is told apart from other TXT records") {
    struct Case {
        std::string text;
        bool spf;
    };
    const std::vector<Case> cases = {
        {"v=spf1", true},
        {"v=spf1 -all", true},
        {"V=SpF1 -all", true},
        {"v=spf1 ", true},
        {"v=spf10", false},
        {"v=spf1mx", false},
        {"v=spf1\t-all", false},
        {" v=spf1 -all", false},
        {"v=spf2.0/pra -all", false},
        {"spf1", false},
        {"", false},
    };
    for (const auto &c : cases) {
        CAPTURE(c.text);
        CHECK(is_spf_record(c.text) == c.spf);
    }
}

TEST_CASE("records are parsed with the exact ABNF of RFC 7208") {
    struct Case {
        std::string text;
        bool valid;
    };
    const std::vector<Case> cases = {
        {"v=spf1", true},
        {"v=spf1   -all   ", true},
        {"v=spf1 +all ~all ?all -all all", true},
        {"v=spf1 include:_spf.example.com", true},
        {"v=spf1 include:%{d}", true},
        {"v=spf1 include:%%", true}, // domain-end = macro-expand, "%%" is one
        {"v=spf1 include", false},
        {"v=spf1 include:", false},
        {"v=spf1 include:example.com/24", false},
        {"v=spf1 a mx ptr", true},
        {"v=spf1 a:example.com a/24 a//64 a/24//64 a:example.com/0//0", true},
        {"v=spf1 a/33", false},
        {"v=spf1 a//129", false},
        {"v=spf1 a/024", false},
        {"v=spf1 a/24/64", false},
        {"v=spf1 a/", false},
        {"v=spf1 a:foo:bar/baz.example.com", true},
        {"v=spf1 a:example.com:8080", false},
        {"v=spf1 a:museum", false},
        {"v=spf1 a:museum.", false},
        {"v=spf1 a:example.com.", true},
        {"v=spf1 a:example.xn--zckzah", true},
        {"v=spf1 a:example.-com", false},
        {"v=spf1 a:example.com-", false},
        {"v=spf1 a:example.123", false},
        {"v=spf1 a:example.123-4", true}, // 1*alphanum "-" ... alphanum
        {"v=spf1 a:%{d}.", false},        // a dot after a macro is no top label
        {"v=spf1 ptr/0", false},
        {"v=spf1 ptr:", false},
        {"v=spf1 ptr:example.com", true},
        {"v=spf1 ip4:192.0.2.0/24 ip4:192.0.2.1 ip4:0.0.0.0/0", true},
        {"v=spf1 ip4:192.0.2.1/33", false},
        {"v=spf1 ip4:192.0.2.1/032", false},
        {"v=spf1 ip4:192.0.2.01", false},
        {"v=spf1 ip4:192.0.2", false},
        {"v=spf1 ip4:192.0.2.256", false},
        {"v=spf1 ip4:192.0.2.1//32", false},
        {"v=spf1 ip4:192.0.2.1:25", false},
        {"v=spf1 ip4", false},
        {"v=spf1 ip4:", false},
        {"v=spf1 ip6:2001:db8::/32 ip6:::1 ip6:::ffff:192.0.2.1/128", true},
        {"v=spf1 ip6:2001:db8::/129", false},
        {"v=spf1 ip6:2001:db8::/032", false},
        {"v=spf1 ip6:2001:db8:://32", false},
        {"v=spf1 ip6::2001::db8", false},
        {"v=spf1 ip6:192.0.2.1", false},
        {"v=spf1 exists:%{ir}.%{v}._spf.%{d2}", true},
        {"v=spf1 exists", false},
        {"v=spf1 exists:example.com/24", false},
        {"v=spf1 redirect=example.com", true},
        {"v=spf1 REDIRECT=example.com", true},
        {"v=spf1 redirect=", false},
        {"v=spf1 redirect=-all", false},
        {"v=spf1 redirect=a.example redirect=b.example", false},
        {"v=spf1 redirect=a.example Redirect=b.example", false},
        {"v=spf1 redirect:example.com", false},
        {"v=spf1 exp=explain.example.com", true},
        {"v=spf1 exp=", false},
        {"v=spf1 exp=a.example exp=b.example", false},
        {"v=spf1 exp=%{r}.example.com", false}, // c, r, t only in explanation text
        {"v=spf1 exp=%{c}.example.com", false},
        {"v=spf1 exp=%{t}.example.com", false},
        {"v=spf1 moo.cow-far_out=man:dog/cat", true},
        {"v=spf1 moo.cow/far_out=man:dog/cat", false},
        {"v=spf1 default=pass", true},
        {"v=spf1 default=", true}, // unknown-modifier = name "=" macro-string
        {"v=spf1 foo=%{c}", true},
        {"v=spf1 foo=%abc", false},
        {"v=spf1 1up=foo", false},
        {"v=spf1 =all", false},
        {"v=spf1 moo", false},
        {"v=spf1 -all moo", false},
        {"v=spf1 all.", false},
        {"v=spf1 all:x", false},
        {"v=spf1 all/8", false},
        {"v=spf1 *all", false},
        {"v=spf1 +", false},
        {"v=spf1 a:foo.example.com\r", false},
        {"v=spf1 a:foo.example.com\nptr", false},
        {std::string("v=spf1 a:foo.example.com\0", 25), false},
        {"v=spf1 a:\xef\xbb\xbf"
         "example.com",
         false},
        {"v=spf1 \x80"
         "all",
         false},
        {"v=spf1 a:exa\x7fmple.com", false},
        {"v=spf1 exists:%{x}.example.com", false},
        {"v=spf1 exists:%{d0}.example.com", false},
        {"v=spf1 exists:%{d00}.example.com", false},
        {"v=spf1 exists:%{d4294967296}.example.com", true},
        {"v=spf1 exists:%{d", false},
        {"v=spf1 exists:%{d}x.example", true},
        {"v=spf1 exists:%{d}x", false},
        {"v=spf1 exists:example.com%", false},
        {"v=spf1 exists:%{ir}.%{l1r-}.lp.%{d2}", true},
        {"v=spf1 exists:%{lR-}.example.com", true},
        {"v=spf1 exists:%{l-r}.example.com", false},
    };
    for (const auto &c : cases) {
        CAPTURE(c.text);
        const auto parse = parse_record(c.text);
        CHECK(parse.record.has_value() == c.valid);
        CHECK(parse.error.empty() == c.valid);
        for (const char byte : parse.error)
            CHECK((byte >= 0x20 && byte < 0x7f));
    }
}

TEST_CASE("a parsed record keeps qualifiers, targets, CIDR lengths and modifiers") {
    const auto parse = parse_record(
        "v=spf1 -a:mail.example.com/24//64 ~mx ?ptr ip4:192.0.2.0/25 ip6:2001:DB8::/48 "
        "+include:_spf.example.net exists:%{i}.bl.example unknown=x exp=why.example "
        "redirect=other.example");
    REQUIRE(parse.record);
    const auto &record = *parse.record;
    REQUIRE(record.mechanisms.size() == 7);
    CHECK(record.mechanisms[0].qualifier == Qualifier::fail);
    CHECK(record.mechanisms[0].kind == MechanismKind::a);
    CHECK(record.mechanisms[0].domain.has_value());
    CHECK(record.mechanisms[0].cidr4 == 24);
    CHECK(record.mechanisms[0].cidr6 == 64);
    CHECK(record.mechanisms[0].text == "-a:mail.example.com/24//64");
    CHECK(record.mechanisms[1].qualifier == Qualifier::softfail);
    CHECK(record.mechanisms[1].kind == MechanismKind::mx);
    CHECK_FALSE(record.mechanisms[1].domain.has_value());
    CHECK(record.mechanisms[1].cidr4 == 32);
    CHECK(record.mechanisms[1].cidr6 == 128);
    CHECK(record.mechanisms[2].qualifier == Qualifier::neutral);
    CHECK(record.mechanisms[2].kind == MechanismKind::ptr);
    CHECK(record.mechanisms[3].kind == MechanismKind::ip4);
    CHECK(record.mechanisms[3].network == *IpAddress::parse("192.0.2.0"));
    CHECK(record.mechanisms[3].cidr4 == 25);
    CHECK(record.mechanisms[4].kind == MechanismKind::ip6);
    CHECK(record.mechanisms[4].network == *IpAddress::parse("2001:db8::"));
    CHECK(record.mechanisms[4].cidr6 == 48);
    CHECK(record.mechanisms[5].qualifier == Qualifier::pass);
    CHECK(record.mechanisms[5].kind == MechanismKind::include);
    CHECK(record.mechanisms[6].kind == MechanismKind::exists);
    CHECK(record.mechanisms[6].domain->uses('i'));
    CHECK(record.explanation.has_value());
    CHECK(record.redirect.has_value());
    CHECK_FALSE(record.has_all());
    int dns_terms = 0;
    for (const auto &mechanism : record.mechanisms)
        dns_terms += mechanism.queries_dns() ? 1 : 0;
    CHECK(dns_terms == 5);
}

TEST_CASE("network matching honours family and prefix") {
    struct Case {
        std::string address;
        std::string network;
        unsigned prefix;
        bool inside;
    };
    const std::vector<Case> cases = {
        {"192.0.2.1", "192.0.2.0", 24, true},
        {"192.0.3.1", "192.0.2.0", 24, false},
        {"192.0.2.1", "192.0.2.1", 32, true},
        {"192.0.2.2", "192.0.2.1", 32, false},
        {"192.0.2.129", "192.0.2.128", 25, true},
        {"192.0.2.127", "192.0.2.128", 25, false},
        {"203.0.113.9", "1.1.1.1", 0, true},
        {"2001:db8::1", "2001:db8::", 32, true},
        {"2001:db9::1", "2001:db8::", 32, false},
        {"cafe:babe:8000::", "cafe:babe:8000::", 33, true},
        {"cafe:babe::", "cafe:babe:8000::", 33, false},
        {"::1", "::", 0, true},
        {"192.0.2.1", "::", 0, false}, // families never mix
        {"::ffff:192.0.2.1", "192.0.2.0", 24, false},
        {"192.0.2.1", "192.0.2.0", 33, false},
    };
    for (const auto &c : cases) {
        CAPTURE(c.address);
        CAPTURE(c.network);
        CAPTURE(c.prefix);
        CHECK(in_network(*IpAddress::parse(c.address), *IpAddress::parse(c.network), c.prefix) ==
              c.inside);
    }
}
