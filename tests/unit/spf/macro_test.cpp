#include "spf/domain_name.hpp"
#include "spf/macro.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace portcullis;
using namespace portcullis::spf;

namespace {

MacroValues example_values(const char *client = "192.0.2.3") {
    MacroValues values;
    values.sender = "strong-bad@email.example.com";
    values.local_part = "strong-bad";
    values.sender_domain = "email.example.com";
    values.domain = "email.example.com";
    values.client = *IpAddress::parse(client);
    values.helo = "mx.example.org";
    values.receiver = "mx.example.net";
    values.timestamp = 1234567890;
    return values;
}

std::string expand_text(const std::string &text, const MacroValues &values,
                        MacroUse use = MacroUse::explanation) {
    const auto parse = parse_macro_string(text, use);
    REQUIRE_MESSAGE(parse.value, text << ": " << parse.error);
    return expand(*parse.value, values,
                  use == MacroUse::explanation ? ExpansionUse::explanation
                                               : ExpansionUse::domain_name);
}

} // namespace

TEST_CASE("macro expansion follows the examples of RFC 7208 section 7.4") {
    struct Case {
        std::string macro;
        std::string expanded;
    };
    const std::vector<Case> cases = {
        {"%{s}", "strong-bad@email.example.com"},
        {"%{o}", "email.example.com"},
        {"%{d}", "email.example.com"},
        {"%{d4}", "email.example.com"},
        {"%{d3}", "email.example.com"},
        {"%{d2}", "example.com"},
        {"%{d1}", "com"},
        {"%{dr}", "com.example.email"},
        {"%{d2r}", "example.email"},
        {"%{l}", "strong-bad"},
        {"%{l-}", "strong.bad"},
        {"%{lr}", "strong-bad"},
        {"%{lr-}", "bad.strong"},
        {"%{l1r-}", "strong"},
        {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
        {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
        {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
        {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
        {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
    };
    const auto values = example_values();
    for (const auto &c : cases) {
        CAPTURE(c.macro);
        CHECK(expand_text(c.macro, values, MacroUse::domain_spec) == c.expanded);
    }
    CHECK(expand_text("%{ir}.%{v}._spf.%{d2}", example_values("2001:db8::cb01"),
                      MacroUse::domain_spec) ==
          "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

TEST_CASE("macro letters, transformers, delimiters and escapes") {
    struct Case {
        std::string macro;
        std::string expanded;
    };
    const std::vector<Case> cases = {
        {"%%", "%"},
        {"%_", " "},
        {"%-", "%20"},
        {"a%%b%_c%-d", "a%b c%20d"},
        {"%{i}", "192.0.2.3"},
        {"%{c}", "192.0.2.3"},
        {"%{v}", "in-addr"},
        {"%{h}", "mx.example.org"},
        {"%{r}", "mx.example.net"},
        {"%{t}", "1234567890"},
        {"%{p}", "unknown"},
        {"%{S}", "strong-bad%40email.example.com"},
        {"%{L}", "strong-bad"},
        {"%{D2R}", "example.email"},
        {"%{dR}", "com.example.email"},
        {"%{d2147483647}", "email.example.com"},
        {"%{d2147483648}", "email.example.com"},
        {"%{d4294967297}", "email.example.com"}, // a wrapped counter would keep 1 part
        {"%{d99999999999999999999}", "email.example.com"},
        {"%{d01}", "com"},
        {"%{l.-+,/_=}", "strong.bad"},
        {"%{s@}", ""}, // '@' is no delimiter: a syntax error, checked below
        {"%{sr@.}", ""},
    };
    const auto values = example_values();
    for (const auto &c : cases) {
        CAPTURE(c.macro);
        const auto parse = parse_macro_string(c.macro, MacroUse::explanation);
        if (c.expanded.empty()) {
            CHECK_FALSE(parse.value);
            continue;
        }
        REQUIRE(parse.value);
        CHECK(expand(*parse.value, values, ExpansionUse::explanation) == c.expanded);
    }
}

TEST_CASE("transformers split on every delimiter and keep empty parts") {
    auto values = example_values();
    values.local_part = "a..b-c+d";
    CHECK(expand_text("%{lr}", values) == "b-c+d..a");
    CHECK(expand_text("%{lr-+.}", values) == "d.c.b..a");
    CHECK(expand_text("%{l2r-+.}", values) == ".a");
    CHECK(expand_text("%{l1}", values) == "b-c+d");
    values.local_part = "";
    CHECK(expand_text("%{l}", values).empty());
    CHECK(expand_text("%{lr}", values).empty());
    CHECK(expand_text("%{l3r}", values).empty());
    values.domain = "trailing.example.";
    CHECK(expand_text("%{dr}", values) == ".example.trailing");
}

TEST_CASE("upper-case macros are URL-escaped byte by byte, bytes over 0x7f too") {
    auto values = example_values();
    values.local_part = "~jack&jill=up-a_b3.c";
    CHECK(expand_text("%{L}", values) == "~jack%26jill%3Dup-a_b3.c");
    values.local_part = "\xe9t\xe9 \x80\xff\x01/";
    CHECK(expand_text("%{L}", values) == "%E9t%E9%20%80%FF%01%2F");
    CHECK(url_escape(std::string("\0", 1)) == "%00");
    CHECK(url_escape("AZaz09-._~") == "AZaz09-._~");
}

TEST_CASE("IPv6 clients expand to nibbles and RFC 5952 text") {
    const auto values = example_values("CAFE:BABE::1");
    CHECK(expand_text("%{i}", values) ==
          "c.a.f.e.b.a.b.e.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1");
    CHECK(expand_text("%{c}", values) == "cafe:babe::1");
    CHECK(expand_text("%{v}", values) == "ip6");
    CHECK(expand_text("%{i4}", values) == "0.0.0.1");
    CHECK(expand_text("%{i4r}", values) == "e.f.a.c");
}

TEST_CASE("macro syntax errors and the letters each context allows") {
    struct Case {
        std::string text;
        MacroUse use;
        bool valid;
    };
    const std::vector<Case> cases = {
        {"%{c}", MacroUse::explanation, true},       {"%{r}", MacroUse::explanation, true},
        {"%{t}", MacroUse::explanation, true},       {"%{C}", MacroUse::domain_spec, false},
        {"%{r}", MacroUse::domain_spec, false},      {"%{t}", MacroUse::domain_spec, false},
        {"%{c}", MacroUse::unknown_modifier, true},  {"%{a}", MacroUse::explanation, false},
        {"%{x}", MacroUse::explanation, false},      {"%{}", MacroUse::explanation, false},
        {"%{", MacroUse::explanation, false},        {"%{d", MacroUse::explanation, false},
        {"%{d2", MacroUse::explanation, false},      {"%{d0}", MacroUse::explanation, false},
        {"%{d2r", MacroUse::explanation, false},     {"%{d2rr}", MacroUse::explanation, false},
        {"%{dr2}", MacroUse::explanation, false},    {"%{d;}", MacroUse::explanation, false},
        {"%(d)", MacroUse::explanation, false},      {"%", MacroUse::explanation, false},
        {"100%", MacroUse::explanation, false},      {"%a", MacroUse::explanation, false},
        {"two words", MacroUse::explanation, true},  {"two words", MacroUse::domain_spec, false},
        {"tab\there", MacroUse::explanation, false}, {"caf\xc3\xa9", MacroUse::explanation, false},
        {"", MacroUse::explanation, true},           {"", MacroUse::unknown_modifier, true},
    };
    for (const auto &c : cases) {
        CAPTURE(c.text);
        CAPTURE(static_cast<int>(c.use));
        CHECK(parse_macro_string(c.text, c.use).value.has_value() == c.valid);
    }
    CHECK_FALSE(parse_domain_spec("").value);
    CHECK(parse_domain_spec("%{d}").value);
    CHECK(parse_domain_spec("%_").value);
    CHECK_FALSE(parse_domain_spec("%{d}.").value);
    CHECK(parse_domain_spec(".com").value);
    CHECK_FALSE(parse_domain_spec("example.c_m").value);
}

TEST_CASE("expanded domains are truncated from the left to 253 bytes, at label boundaries") {
    const std::string label(60, 'a');
    std::string name;
    for (int i = 0; i < 5; ++i)
        name += label + ".";
    name += "example.com"; // 5 * 61 + 11 = 316 bytes; 4 labels would be 255
    const auto truncated = name_for_query(name);
    REQUIRE(truncated);
    CHECK(*truncated == label + "." + label + "." + label + ".example.com");
    const std::string exact = std::string(241, 'b') + ".example.com"; // 253 bytes
    CHECK_FALSE(name_for_query(exact));                               // a 241-byte label
    const std::string fits = std::string(63, 'c') + "." + std::string(63, 'c') + "." +
                             std::string(63, 'c') + "." + std::string(49, 'c') + ".example.com";
    CHECK(fits.size() == 253);
    CHECK(name_for_query(fits) == std::optional<std::string>(fits));
    CHECK(name_for_query(fits + ".") == std::optional<std::string>(fits));
    CHECK(name_for_query("x." + fits) == std::optional<std::string>(fits));
    CHECK(name_for_query("Example.COM.") == std::optional<std::string>("example.com"));
    CHECK_FALSE(name_for_query("a..example.com"));
    CHECK_FALSE(name_for_query(std::string(64, 'a') + ".example.com"));
    CHECK(name_for_query(std::string(63, 'a') + ".example.com"));
    CHECK_FALSE(name_for_query(std::string(300, 'a')));
    CHECK_FALSE(name_for_query(""));
    CHECK_FALSE(name_for_query("."));
}

TEST_CASE("a huge domain expansion keeps the bytes the truncation would keep") {
    auto values = example_values();
    values.local_part = std::string(50, 'x') + ".y";
    std::string text;
    std::string full;
    for (int i = 0; i < 400; ++i) {
        text += "%{l}.";
        full += values.local_part + ".";
    }
    text += "%{d}";
    full += values.domain;
    const auto parse = parse_macro_string(text, MacroUse::domain_spec);
    REQUIRE(parse.value);
    const auto expanded = expand(*parse.value, values, ExpansionUse::domain_name);
    CHECK(expanded.size() <= 2 * max_domain_expansion);
    CHECK(full.size() > 20000);
    const auto truncated = name_for_query(expanded);
    REQUIRE(truncated);
    CHECK(truncated == name_for_query(full));
    CHECK(truncated->size() <= 253);
    const auto explanation = expand(*parse.value, values, ExpansionUse::explanation);
    CHECK(explanation.size() == max_explanation_expansion);
    CHECK(explanation == full.substr(0, max_explanation_expansion));
}

TEST_CASE("domain names go to the resolver in presentation form") {
    CHECK(escape_name("Macro%Percent  Space.example.com") ==
          "macro%percent\\032\\032space.example.com");
    CHECK(escape_name("back\\slash.example") == "back\\\\slash.example");
    CHECK(escape_name(std::string("nul\0.example", 12)) == "nul\\000.example");
    CHECK(unescape_name("macro%percent\\032\\032space.example.com") ==
          "macro%percent  space.example.com");
    CHECK(unescape_name("back\\\\slash.example") == "back\\slash.example");
    CHECK(is_within("mx.example.com", "example.com"));
    CHECK(is_within("example.com", "EXAMPLE.com"));
    CHECK_FALSE(is_within("badexample.com", "example.com"));
    CHECK_FALSE(is_within("com", "example.com"));
    CHECK_FALSE(is_within("example.com", ""));
}

TEST_CASE("the check_host() domain must be a multi-label domain name") {
    struct Case {
        std::string domain;
        bool valid;
    };
    const std::vector<Case> cases = {
        {"example.com", true},
        {"example.com.", true},
        {"_spf.example.com", true},
        {"xn--bcher-kva.example", true},
        {"A123456789012345678901234567890123456789012345678901234567890123.example.com", false},
        {"A12345678901234567890123456789012345678901234567890123456789012.example.com", true},
        {"a...example.com", false},
        {"localhost", false},
        {"[192.0.2.1]", false},
        {"192.0.2.1", false},
        {"jumpin' jupiter.example", false},
        {"b\xc3\xbc"
         "cher.example",
         false},
        {"", false},
        {".", false},
    };
    for (const auto &c : cases) {
        CAPTURE(c.domain);
        CHECK(identity_domain_problem(c.domain).empty() == c.valid);
    }
}
