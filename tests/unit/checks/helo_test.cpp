// The HELO checks: helo-syntax (form of the argument), helo-identity
// (claims and changes) and helo-dns (what the name resolves to).
#include "check_harness.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <map>

using namespace portcullis;
using portcullis::testing::CheckHarness;
using portcullis::testing::ScriptedResolver;

namespace {

// CheckHarness after `helo_count` HELOs, the first and the latest `helo`.
struct HeloHarness : CheckHarness {
    explicit HeloHarness(std::optional<std::string> client, std::string helo = "",
                         int helo_count = 1)
        : CheckHarness(std::move(client)) {
        facts.helo = facts.first_helo = std::move(helo);
        facts.helo_count = helo_count;
    }
};

using Outcomes = std::map<std::string, Outcome>;

Outcomes outcomes_of(const std::vector<CheckResult> &results, std::string_view check) {
    Outcomes out;
    for (const auto &result : results) {
        CHECK(result.check == check);
        CHECK_MESSAGE(out.count(result.rule) == 0, "two results for " << result.rule);
        out[result.rule] = result.outcome;
        for (char c : result.detail)
            CHECK_MESSAGE((c >= 0x20 && c < 0x7f), "unprintable detail: " << result.detail);
    }
    return out;
}

std::string all_details(const std::vector<CheckResult> &results) {
    std::string out;
    for (const auto &result : results)
        out += result.detail + " | ";
    return out;
}

constexpr auto pass = Outcome::pass;
constexpr auto fail = Outcome::fail;
constexpr auto error = Outcome::error;
constexpr auto skip = Outcome::skip;

// 5 labels of 60 bytes: every label is fine, the name is too long.
const std::string long_name = std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                              std::string(60, 'c') + "." + std::string(60, 'd') + "." +
                              std::string(60, 'e') + ".example";

} // namespace

TEST_CASE("helo-syntax judges the form of the HELO argument") {
    struct Row {
        std::string helo;
        Outcomes expected;
        std::string client = "192.0.2.1";
        int helo_count = 1;
    };
    const std::vector<Row> rows = {
        {"mail.example.com", {{"helo-syntax", pass}, {"helo-not-fqdn", pass}}},
        {"mail.example.com.", {{"helo-syntax", pass}, {"helo-not-fqdn", pass}}},
        {"MAIL.Example.COM", {{"helo-syntax", pass}, {"helo-not-fqdn", pass}}},
        {"localhost", {{"helo-syntax", pass}, {"helo-not-fqdn", fail}}},
        {"localhost.", {{"helo-syntax", pass}, {"helo-not-fqdn", fail}}},
        {"mail_1.example.com", {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {"my_host", {{"helo-syntax", fail}, {"helo-not-fqdn", fail}}},
        {"-mail.example.com", {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {"mail-.example.com", {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {"mail..example.com", {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {".", {{"helo-syntax", fail}, {"helo-not-fqdn", fail}}},
        {std::string(64, 'a') + ".example", {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {long_name, {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {std::string(10000, 'a'), {{"helo-syntax", fail}, {"helo-not-fqdn", fail}}},
        {std::string("mail\0.example.com", 17), {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {"m\xc3\xa4il.example.com", {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {"mail.example.com\r\n", {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {"mail example.com", {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {"1.2.3", {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {"192.000.002.001", {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {"", {{"helo-syntax", fail}}},
        {"", {{"helo-syntax", skip}}, "192.0.2.1", 0},
        {"192.0.2.1", {{"helo-bare-ip", fail}}},
        {"192.0.2.1.", {{"helo-bare-ip", fail}}},
        {"198.51.100.7", {{"helo-bare-ip", fail}}},
        {"2001:db8::1", {{"helo-bare-ip", fail}}, "2001:db8::1"},
        {"::ffff:192.0.2.1", {{"helo-bare-ip", fail}}},
        {"[192.0.2.1]", {{"helo-syntax", pass}, {"helo-literal-mismatch", pass}}},
        {"[192.0.2.2]", {{"helo-syntax", pass}, {"helo-literal-mismatch", fail}}},
        {"[192.0.2.1]",
         {{"helo-syntax", pass}, {"helo-literal-mismatch", pass}},
         "::ffff:192.0.2.1"},
        {"[IPv6:2001:db8::1]",
         {{"helo-syntax", pass}, {"helo-literal-mismatch", pass}},
         "2001:db8::1"},
        {"[ipv6:2001:DB8:0::1]",
         {{"helo-syntax", pass}, {"helo-literal-mismatch", pass}},
         "2001:db8::1"},
        {"[IPv6:2001:db8::2]",
         {{"helo-syntax", pass}, {"helo-literal-mismatch", fail}},
         "2001:db8::1"},
        {"[IPv6:2001:db8::1]", {{"helo-syntax", pass}, {"helo-literal-mismatch", fail}}},
        {"[IPv6:::ffff:192.0.2.1]", {{"helo-syntax", pass}, {"helo-literal-mismatch", pass}}},
        {"[2001:db8::1]", {{"helo-syntax", fail}}, "2001:db8::1"},
        {"[192.0.2.256]", {{"helo-syntax", fail}}},
        {"[192.0.2.1", {{"helo-syntax", fail}}},
        {"[]", {{"helo-syntax", fail}}},
        {"[", {{"helo-syntax", fail}}},
        {"[IPv6:]", {{"helo-syntax", fail}}},
        {"[IPv6:192.0.2.1]", {{"helo-syntax", fail}}},
        {std::string("[192.0.2.1\0]", 12), {{"helo-syntax", fail}}},
        {std::string("192.0.2.1\0", 10), {{"helo-syntax", fail}, {"helo-not-fqdn", pass}}},
        {"[" + std::string(5000, '1') + "]", {{"helo-syntax", fail}}},
        {"mail.example.com", {{"helo-syntax", skip}}, ""},
    };
    for (const auto &row : rows) {
        CAPTURE(row.helo);
        CAPTURE(row.client);
        HeloHarness harness(row.client.empty() ? std::nullopt : std::optional(row.client), row.helo,
                            row.helo_count);
        const auto results = harness.run("helo-syntax");
        CAPTURE(all_details(results));
        CHECK(outcomes_of(results, "helo-syntax") == row.expected);
        CHECK(harness.dns->asked().empty());
    }
}

TEST_CASE("helo-syntax details say what is wrong") {
    struct Row {
        std::string helo;
        std::string detail;
    };
    const std::vector<Row> rows = {
        {"mail_1.example.com", "HELO 'mail_1.example.com' is not a valid host name: underscore"},
        {"localhost", "HELO 'localhost' is not fully qualified"},
        {"192.0.2.9", "HELO '192.0.2.9' is an IP address without brackets"},
        {"[192.0.2.9]", "HELO literal 192.0.2.9 is not the client address 192.0.2.1"},
        {"[192.0.2.x]", "HELO '[192.0.2.x]' is an address literal that does not parse"},
        {std::string("a\0b.example", 11), "HELO 'a?b.example' is not a valid host name: byte 0x00"},
    };
    for (const auto &row : rows) {
        HeloHarness harness("192.0.2.1", row.helo);
        CHECK(all_details(harness.run("helo-syntax")).find(row.detail) != std::string::npos);
    }
}

TEST_CASE("helo-identity: helo-claims-us") {
    struct Row {
        std::string helo;
        std::string client;
        Outcome expected;
    };
    const std::vector<Row> rows = {
        {"mx.dest.example", "198.51.100.7", fail},
        {"MX.Dest.Example.", "198.51.100.7", fail},
        {"mx2.dest.example", "198.51.100.7", fail}, // from the configuration
        {"other.example", "198.51.100.7", pass},
        {"dest.example", "198.51.100.7", pass},
        {"[192.0.2.25]", "198.51.100.7", fail},
        {"192.0.2.25", "198.51.100.7", fail},
        {"[192.0.2.26]", "198.51.100.7", fail}, // from the configuration
        {"[192.0.2.99]", "198.51.100.7", pass},
        {"[192.0.2.26]", "192.0.2.27", fail},
        {"[192.0.2.25]", "192.0.2.25", pass}, // the client really is that address
        {"[192.0.2.25]", "::ffff:192.0.2.25", pass},
        {"mx.dest.example", "192.0.2.25", pass}, // one of our own machines
        {"[IPv6:2001:db8::25]", "2001:db8::99", fail},
        {"[IPv6:2001:db8::25]", "2001:db8::25", pass},
        {"2001:db8::25", "2001:db8::99", fail},
        {"[IPv6:::ffff:192.0.2.25]", "198.51.100.7", fail},
        {"mx.dest.example", "2001:db8::99", fail},
        {std::string("mx.dest.example\0", 16), "198.51.100.7", pass},
        {std::string("[192.0.2.25\0]", 14), "198.51.100.7", pass},
        {std::string(5000, 'x'), "198.51.100.7", pass},
        {"", "198.51.100.7", pass},
    };
    for (const auto &row : rows) {
        CAPTURE(row.helo);
        CAPTURE(row.client);
        HeloHarness harness(row.client, row.helo);
        harness.facts.own_hostnames = {"mx.dest.example"};
        harness.facts.own_addresses = {*IpAddress::parse("192.0.2.25"),
                                       *IpAddress::parse("2001:db8::25")};
        harness.config.own_hostnames = {"mx2.dest.example"};
        harness.config.own_addresses = {*IpAddress::parse("192.0.2.26")};
        const auto results = harness.run("helo-identity");
        CAPTURE(all_details(results));
        CHECK(outcomes_of(results, "helo-identity").at("helo-claims-us") == row.expected);
    }
}

TEST_CASE("helo-identity: helo-changed") {
    struct Row {
        std::string first;
        std::string latest;
        int count;
        Outcome expected;
    };
    const std::vector<Row> rows = {
        {"a.example", "a.example", 1, pass},
        {"a.example", "a.example", 2, pass},
        {"a.example", "A.Example.", 3, pass},
        {"a.example", "b.example", 2, fail},
        {"[192.0.2.1]", "192.0.2.1", 2, pass},
        {"[IPv6:2001:db8::1]", "[IPv6:2001:DB8:0::1]", 2, pass},
        {"[192.0.2.1]", "[192.0.2.2]", 2, fail},
        {"", "a.example", 2, fail},
        {std::string("a.example\0", 10), "a.example", 2, fail},
    };
    for (const auto &row : rows) {
        CAPTURE(row.first);
        CAPTURE(row.latest);
        HeloHarness harness("192.0.2.1", row.latest, row.count);
        harness.facts.first_helo = row.first;
        const auto results = harness.run("helo-identity");
        CAPTURE(all_details(results));
        CHECK(outcomes_of(results, "helo-identity").at("helo-changed") == row.expected);
    }
    HeloHarness changed("192.0.2.1", "b.example", 2);
    changed.facts.first_helo = "a.example";
    CHECK(all_details(changed.run("helo-identity"))
              .find("sending system changed during session: HELO/EHLO 'a.example' then "
                    "'b.example'") != std::string::npos);
}

TEST_CASE("helo-identity skips clients without an address and sessions without HELO") {
    HeloHarness local(std::nullopt, "mx.dest.example");
    CHECK(outcomes_of(local.run("helo-identity"), "helo-identity") ==
          Outcomes{{"helo-claims-us", skip}});
    HeloHarness early("192.0.2.1", "", 0);
    CHECK(outcomes_of(early.run("helo-identity"), "helo-identity") ==
          Outcomes{{"helo-claims-us", skip}});
}

TEST_CASE("helo-dns: helo-unresolvable and helo-address-mismatch") {
    using S = DnsAnswer::Status;
    const std::string name = "mail.example.com";
    auto via_cname = [](std::vector<std::string> records) {
        DnsAnswer answer;
        answer.status = S::ok;
        answer.records = std::move(records);
        answer.canonical_name = "target.example.net";
        return answer;
    };
    struct Row {
        std::string what;
        std::string client;
        std::function<void(ScriptedResolver &)> script;
        Outcomes expected;
        const char *detail = "";
        std::string helo = "mail.example.com";
    };
    const std::vector<Row> rows = {
        {"resolves to the client",
         "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.add(name, DnsType::A, {"192.0.2.1"}); },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", pass}},
         "resolves to the client 192.0.2.1"},
        {"trailing dot and case",
         "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.add(name, DnsType::A, {"192.0.2.1"}); },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", pass}},
         "",
         "Mail.Example.COM."},
        {"resolves elsewhere",
         "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(name, DnsType::A, {"198.51.100.1", "198.51.100.2"});
         },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", fail}},
         "mail.example.com resolves to 198.51.100.1, 198.51.100.2, not to the client 192.0.2.1"},
        {"NXDOMAIN",
         "192.0.2.1",
         [](ScriptedResolver &) {},
         {{"helo-unresolvable", fail}, {"helo-address-mismatch", skip}},
         "has no A or AAAA records (A: nxdomain, AAAA: nxdomain)"},
        {"NODATA",
         "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(name, DnsType::A, {});
             dns.add(name, DnsType::AAAA, {});
         },
         {{"helo-unresolvable", fail}, {"helo-address-mismatch", skip}},
         "nodata"},
        {"A servfail",
         "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.fail(name, DnsType::A, S::servfail);
             dns.add(name, DnsType::AAAA, {});
         },
         {{"helo-unresolvable", error}, {"helo-address-mismatch", error}},
         "lookup of mail.example.com/A failed: servfail"},
        {"A timeout but AAAA answers",
         "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.fail(name, DnsType::A, S::timeout);
             dns.add(name, DnsType::AAAA, {"2001:db8::9"});
         },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", error}}},
        {"CNAME only",
         "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.set(name, DnsType::A, via_cname({"192.0.2.1"}));
             dns.set(name, DnsType::AAAA, via_cname({}));
         },
         {{"helo-unresolvable", fail}, {"helo-address-mismatch", pass}},
         "only through a CNAME to target.example.net"},
        {"only AAAA for an IPv4 client",
         "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.add(name, DnsType::AAAA, {"2001:db8::9"}); },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", fail}}},
        {"A elsewhere, AAAA fails, IPv4 client",
         "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(name, DnsType::A, {"198.51.100.1"});
             dns.fail(name, DnsType::AAAA, S::servfail);
         },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", fail}}},
        {"IPv6 client matches AAAA",
         "2001:db8::1",
         [&](ScriptedResolver &dns) {
             dns.add(name, DnsType::A, {"192.0.2.1"});
             dns.add(name, DnsType::AAAA, {"2001:db8::1"});
         },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", pass}}},
        {"IPv6 client, AAAA elsewhere",
         "2001:db8::1",
         [&](ScriptedResolver &dns) { dns.add(name, DnsType::AAAA, {"2001:db8::2"}); },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", fail}}},
        {"IPv6 client, A fails, no AAAA: A records elsewhere might have been there",
         "2001:db8::1",
         [&](ScriptedResolver &dns) {
             dns.fail(name, DnsType::A, S::servfail);
             dns.add(name, DnsType::AAAA, {});
         },
         {{"helo-unresolvable", error}, {"helo-address-mismatch", error}},
         "lookup of mail.example.com/A failed: servfail"},
        {"IPv6 client, AAAA bogus",
         "2001:db8::1",
         [&](ScriptedResolver &dns) {
             dns.add(name, DnsType::A, {"192.0.2.1"});
             dns.fail(name, DnsType::AAAA, S::bogus);
         },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", error}},
         "AAAA failed: bogus"},
        {"IPv4-mapped client matches A",
         "::ffff:192.0.2.1",
         [&](ScriptedResolver &dns) { dns.add(name, DnsType::A, {"192.0.2.1"}); },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", pass}}},
        {"garbage records",
         "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(name, DnsType::A, {"", std::string("1\0", 2), "not an address"});
         },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", fail}}},
        {"a verified PTR name",
         "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add("1.2.0.192.in-addr.arpa", DnsType::PTR, {name});
             dns.add(name, DnsType::A, {"192.0.2.1"});
         },
         {{"helo-unresolvable", pass}, {"helo-address-mismatch", pass}},
         "is a verified PTR name of the client"},
        {"not a FQDN",
         "192.0.2.1",
         [](ScriptedResolver &) {},
         {{"helo-unresolvable", skip}},
         "not a fully qualified host name",
         "localhost"},
        {"a literal",
         "192.0.2.1",
         [](ScriptedResolver &) {},
         {{"helo-unresolvable", skip}},
         "",
         "[192.0.2.1]"},
        {"a bare address",
         "192.0.2.1",
         [](ScriptedResolver &) {},
         {{"helo-unresolvable", skip}},
         "",
         "192.0.2.1"},
        {"bad syntax",
         "192.0.2.1",
         [](ScriptedResolver &) {},
         {{"helo-unresolvable", skip}},
         "",
         "mail_1.example.com"},
        {"NUL byte",
         "192.0.2.1",
         [](ScriptedResolver &) {},
         {{"helo-unresolvable", skip}},
         "",
         std::string("mail.example.com\0.evil.example", 30)},
        {"too long",
         "192.0.2.1",
         [](ScriptedResolver &) {},
         {{"helo-unresolvable", skip}},
         "",
         long_name},
        {"empty", "192.0.2.1", [](ScriptedResolver &) {}, {{"helo-unresolvable", skip}}, "", ""},
        {"no client address",
         "",
         [](ScriptedResolver &) {},
         {{"helo-unresolvable", skip}},
         "no client IP address"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.what);
        HeloHarness harness(row.client.empty() ? std::nullopt : std::optional(row.client),
                            row.helo);
        row.script(*harness.dns);
        const auto results = harness.run("helo-dns");
        CAPTURE(all_details(results));
        CHECK(outcomes_of(results, "helo-dns") == row.expected);
        CHECK(all_details(results).find(row.detail) != std::string::npos);
        if (row.expected.at("helo-unresolvable") == skip)
            for (const auto &[asked, type] : harness.dns->asked())
                CHECK(type == DnsType::PTR);
    }
}

TEST_CASE("helo-dns asks A and AAAA of the HELO name once") {
    HeloHarness harness("192.0.2.1", "Mail.Example.COM.");
    harness.run("helo-dns");
    harness.run("helo-dns");
    std::size_t a = 0;
    std::size_t aaaa = 0;
    for (const auto &[name, type] : harness.dns->asked()) {
        a += name == "mail.example.com" && type == DnsType::A;
        aaaa += name == "mail.example.com" && type == DnsType::AAAA;
    }
    CHECK(a == 1);
    CHECK(aaaa == 1);
}
