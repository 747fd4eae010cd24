// generic-rdns: the address-embedding detection, the pattern files
// (including the shipped rules/generic-rdns.conf) and the check.
#include "check_harness.hpp"
#include "checks/generic_rdns.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

using namespace portcullis;
using portcullis::testing::CheckHarness;
using portcullis::testing::ScriptedResolver;

namespace {

const std::string shipped = SOURCE_ROOT "/rules/generic-rdns.conf";

GenericRdnsPatterns shipped_patterns() {
    std::vector<std::string> errors;
    auto patterns = GenericRdnsPatterns::load({shipped}, errors);
    CHECK(errors.empty());
    return patterns;
}

// A pattern file that removes itself.
struct TemporaryFile {
    std::string path;
    explicit TemporaryFile(const std::string &text)
        : path((std::filesystem::temp_directory_path() /
                ("generic-rdns-test-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter++) + ".conf"))
                   .string()) {
        std::ofstream(path) << text;
    }
    ~TemporaryFile() { std::filesystem::remove(path); }
    static inline int counter = 0;
};

} // namespace

TEST_CASE("embedded_address finds the client address spelled in a name") {
    struct Row {
        std::string client;
        std::string name;
        std::string found; // "" = none
    };
    const std::vector<Row> rows = {
        {"192.0.2.1", "192-0-2-1.dyn.example", "192-0-2-1"},
        {"192.0.2.1", "1-2-0-192.pool.example", "1-2-0-192"},
        {"192.0.2.1", "host.1.2.0.192.isp.example", "1.2.0.192"},
        {"192.0.2.1", "host192_0_2_1.isp.example", "192_0_2_1"},
        {"192.0.2.1", "x192-0-2-1x.isp.example", "192-0-2-1"},
        {"192.0.2.1", "192-000-002-001.isp.example", "192-000-002-001"},
        {"192.0.2.1", "ip192000002001.isp.example", "192000002001"},
        {"192.0.2.1", "001002000192.isp.example", "001002000192"},
        {"192.0.2.1", "c0000201.cust.example", "c0000201"},
        {"192.0.2.1", "C0000201.CUST.EXAMPLE", "c0000201"},
        {"192.0.2.1", "192-0.2_1.isp.example", "192-0.2_1"},
        {"192.0.2.1", "mail.example.com", ""},
        {"192.0.2.1", "192-0-2-10.isp.example", ""},
        {"192.0.2.1", "1192-0-2-1.isp.example", ""},
        {"192.0.2.1", "192-0-2-1234.isp.example", ""},
        {"192.0.2.1", "19202001.isp.example", ""},
        {"192.0.2.1", "192-0-2.isp.example", ""},
        {"192.0.2.1", "192--0-2-1.isp.example", ""},
        {"192.0.2.1", "", ""},
        {"10.0.0.1", "10-0-0-1.isp.example", "10-0-0-1"},
        {"10.0.0.1", "110-0-0-1.isp.example", ""},
        {"::ffff:192.0.2.1", "192-0-2-1.dyn.example", "192-0-2-1"},
        {"2001:db8:1:2:211:22ff:fe33:4455", "2001-db8-1-2-211-22ff-fe33-4455.dyn.example",
         "20010db800010002021122fffe334455"},
        {"2001:db8:1:2:211:22ff:fe33:4455", "0211-22ff-fe33-4455.cust.example", "021122fffe334455"},
        {"2001:db8:1:2:211:22ff:fe33:4455",
         "20010db8000100020211"
         "22fffe334455.isp.example",
         "20010db800010002021122fffe334455"},
        {"2001:db8:1:2:211:22ff:fe33:4455", "5.5.4.4.3.3.e.f.f.f.2.2.1.1.2.0.ip6.isp.example",
         "554433efff221120"},
        {"2001:db8::1", "2001-db8-0-0-0-0-0-1.isp.example", "20010db8000000000000000000000001"},
        {"2001:db8::1", "0-0-0-0-0-0-0-1.isp.example", ""},
        {"2001:db8::1", "0000000000000000000000000.isp.example", ""},
        {"2001:db8:1:2:211:22ff:fe33:4455", "cafe-babe-dead-beef.isp.example", ""},
        {"2001:db8:1:2:211:22ff:fe33:4455", "mail.example.com", ""},
        {"2001:db8:1:2:211:22ff:fe33:4455", "2001-db8-1-2.isp.example", "20010db800010002"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.client);
        CAPTURE(row.name);
        CHECK(embedded_address(row.name, *IpAddress::parse(row.client)) == row.found);
    }
}

TEST_CASE("embedded_address copes with hostile names") {
    const auto client = *IpAddress::parse("192.0.2.1");
    const auto client6 = *IpAddress::parse("2001:db8::1");
    const std::vector<std::string> names = {
        std::string(5000, '1'),
        std::string(5000, '-'),
        std::string(5000, 'a'),
        std::string("192\0"
                    "0-2-1",
                    9),
        std::string("1-2-0-192\0.example", 18),
        "\xff\xfe\xfd.example",
        std::string(2000, '0') + "1",
    };
    for (const auto &name : names) {
        CHECK_NOTHROW(embedded_address(name, client));
        CHECK_NOTHROW(embedded_address(name, client6));
    }
    CHECK(embedded_address(std::string("1-2-0-192\0.example", 18), client) == "1-2-0-192");
}

TEST_CASE("pattern files: tokens, expressions and file:line errors") {
    struct Row {
        std::string line;
        std::size_t tokens;
        std::size_t regexes;
        std::string error; // expected in the message, "" = none
    };
    const std::vector<Row> rows = {
        {"token dyn", 1, 0, ""},
        {"  token   Cable-Modem  ", 1, 0, ""},
        {"token dyn\r", 1, 0, ""},
        {"\ttoken\tppp", 1, 0, ""},
        {"# token dyn", 0, 0, ""},
        {"", 0, 0, ""},
        {"regex ^dsl[0-9]+\\.", 0, 1, ""},
        {"regex (a|b) c", 0, 1, ""},
        {"token", 0, 0, "src.conf:1: 'token' needs one word"},
        {"token two words", 0, 0, "src.conf:1: 'token' needs one word"},
        {"token -dyn", 0, 0, "needs one word"},
        {"token dyn-", 0, 0, "needs one word"},
        {"token a--b", 0, 0, "needs one word"},
        {"token d_n", 0, 0, "needs one word"},
        {"token d\xc3\xbcn", 0, 0, "needs one word"},
        {"token " + std::string(64, 'a'), 0, 0, "needs one word"},
        {"regex", 0, 0, "src.conf:1: 'regex' needs a pattern"},
        {"regex [unclosed", 0, 0, "src.conf:1: bad regular expression"},
        {"regex (", 0, 0, "bad regular expression"},
        {"tokens dyn", 0, 0, "src.conf:1: expected 'token WORD' or 'regex PATTERN', not 'tokens'"},
        {std::string("tok\0en dyn", 10), 0, 0, "not 'tok?en'"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.line);
        GenericRdnsPatterns patterns;
        std::vector<std::string> errors;
        patterns.add(row.line, "src.conf", errors);
        CHECK(patterns.token_count() == row.tokens);
        CHECK(patterns.regex_count() == row.regexes);
        if (row.error.empty()) {
            CHECK(errors.empty());
        } else {
            REQUIRE(errors.size() == 1);
            CHECK(errors[0].find(row.error) != std::string::npos);
        }
    }
}

TEST_CASE("pattern files: line numbers, several files, unreadable files") {
    TemporaryFile first("# mine\ntoken alpha\n\nbogus\ntoken beta\n");
    TemporaryFile second("regex ^zeta\\.\nregex [\n");
    std::vector<std::string> errors;
    auto patterns =
        GenericRdnsPatterns::load({first.path, "/nonexistent/generic.conf", second.path}, errors);
    REQUIRE(errors.size() == 3);
    CHECK(errors[0] == first.path + ":4: expected 'token WORD' or 'regex PATTERN', not 'bogus'");
    CHECK(errors[1] == "/nonexistent/generic.conf: cannot read the file");
    CHECK(errors[2].rfind(second.path + ":2: bad regular expression '['", 0) == 0);
    CHECK(patterns.token_count() == 2);
    CHECK(patterns.regex_count() == 1);
    const auto client = *IpAddress::parse("192.0.2.1");
    CHECK(patterns.match("host.beta.isp.example", client) == "token 'beta'");
    CHECK(patterns.match("zeta.isp.example", client) == "regex '^zeta\\.'");
}

TEST_CASE("the shipped patterns catch pool names, not look-alikes") {
    auto patterns = shipped_patterns();
    CHECK(patterns.token_count() > 20);
    std::vector<std::string> errors;
    patterns.add("token cable-modem\nregex ^mx[0-9]+-out\\.", "local.conf", errors);
    CHECK(errors.empty());
    struct Row {
        std::string name;
        std::string why; // "" = not generic
    };
    const std::vector<Row> rows = {
        {"dyn.isp.example", "token 'dyn'"},
        {"dyn-42.isp.example", "token 'dyn'"},
        {"host-7.dynamic.isp.example", "token 'dynamic'"},
        {"ppp-7.isp.example", "token 'ppp'"},
        {"dhcp_7.isp.example", "token 'dhcp'"},
        {"DYN.ISP.EXAMPLE.", "token 'dyn'"},
        {"a-cable-modem-7.isp.example", "token 'cable'"},
        {"x-modem-cable-7.isp.example", "token 'cable'"},
        {"mx3-out.isp.example", "regex '^mx[0-9]+-out\\.'"},
        {"MX3-OUT.isp.example", "regex '^mx[0-9]+-out\\.'"},
        {"192-0-2-1.isp.example", "embeds the client address as 192-0-2-1"},
        {"mail.dynamics.example", ""},
        {"mail.dynamics.isp.example", ""},
        {"mail.dsl.example", ""},
        {"adsl.example", ""},
        {"mailhost.example.com", ""},
        {"dynamo.isp.example", ""},
        {"mx.ipv6.isp.example", ""},
        {"mail.example.com", ""},
        {"", ""},
        {std::string(300, 'a'), ""},
        {std::string("dyn\0.isp.example", 16), ""},
        {"m\xc3\xa4il.dyn.isp.example", "token 'dyn'"},
    };
    const auto client = *IpAddress::parse("192.0.2.1");
    for (const auto &row : rows) {
        CAPTURE(row.name);
        CHECK(patterns.match(row.name, client) == row.why);
    }
}

TEST_CASE("generic-rdns reports rdns-generic from the PTR names") {
    using S = DnsAnswer::Status;
    struct Row {
        std::string what;
        std::optional<std::string> client;
        std::function<void(ScriptedResolver &)> script;
        Outcome outcome;
        const char *detail;
    };
    const std::string v4 = "1.2.0.192.in-addr.arpa";
    const std::string v6 =
        "5.5.4.4.3.3.e.f.f.f.2.2.1.1.2.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
    const std::vector<Row> rows = {
        {"proper name", "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.add(v4, DnsType::PTR, {"mail.example.com"}); },
         Outcome::pass, "mail.example.com does not look generic"},
        {"pool token", "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.add(v4, DnsType::PTR, {"dyn-7.isp.example"}); },
         Outcome::fail, "PTR name looks generic: dyn-7.isp.example: token 'dyn'"},
        {"embedded address, unverified", "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.add(v4, DnsType::PTR, {"192-0-2-1.isp.example"}); },
         Outcome::fail, "embeds the client address as 192-0-2-1"},
        {"one proper name among generic ones", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"192-0-2-1.isp.example", "mail.example.com"});
         },
         Outcome::pass, "mail.example.com"},
        {"all names generic", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"192-0-2-1.isp.example", "pool.isp.example.net"});
         },
         Outcome::fail, "pool.isp.example.net: token 'pool'"},
        {"no PTR", "192.0.2.1", [](ScriptedResolver &) {}, Outcome::skip, "no usable PTR name"},
        {"only unusable PTR", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"bad name", ""});
         },
         Outcome::skip, "no usable PTR name"},
        {"PTR servfail", "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.fail(v4, DnsType::PTR, S::servfail); }, Outcome::error,
         "failed: servfail"},
        {"IPv6 embedded", "2001:db8:1:2:211:22ff:fe33:4455",
         [&](ScriptedResolver &dns) {
             dns.add(v6, DnsType::PTR, {"0211-22ff-fe33-4455.cust.isp.example"});
         },
         Outcome::fail, "embeds the client address"},
        {"IPv6 proper", "2001:db8:1:2:211:22ff:fe33:4455",
         [&](ScriptedResolver &dns) { dns.add(v6, DnsType::PTR, {"mail6.example.com"}); },
         Outcome::pass, "does not look generic"},
        {"IPv6 PTR timeout", "2001:db8:1:2:211:22ff:fe33:4455",
         [&](ScriptedResolver &dns) { dns.fail(v6, DnsType::PTR, S::timeout); }, Outcome::error,
         "timeout"},
        {"IPv4-mapped client", "::ffff:192.0.2.1",
         [&](ScriptedResolver &dns) { dns.add(v4, DnsType::PTR, {"c0000201.isp.example"}); },
         Outcome::fail, "c0000201"},
        {"no client address", std::nullopt, [](ScriptedResolver &) {}, Outcome::skip,
         "no client IP address"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.what);
        CheckHarness harness(row.client);
        harness.data.set(generic_rdns_check(),
                         std::make_shared<const GenericRdnsPatterns>(shipped_patterns()));
        row.script(*harness.dns);
        const auto results = harness.run("generic-rdns");
        REQUIRE(results.size() == 1);
        CHECK(results[0].check == "generic-rdns");
        CHECK(results[0].rule == "rdns-generic");
        CHECK(results[0].outcome == row.outcome);
        CAPTURE(results[0].detail);
        CHECK(results[0].detail.find(row.detail) != std::string::npos);
    }
}

TEST_CASE("generic-rdns with an empty pattern set still sees embedded addresses") {
    CheckHarness harness("192.0.2.1");
    harness.dns->add("1.2.0.192.in-addr.arpa", DnsType::PTR, {"dyn.192-0-2-1.isp.example"});
    CHECK(harness.run("generic-rdns")[0].outcome == Outcome::fail);
    CheckHarness tokens_only("192.0.2.2");
    tokens_only.dns->add("2.2.0.192.in-addr.arpa", DnsType::PTR, {"dyn.isp.example"});
    CHECK(tokens_only.run("generic-rdns")[0].outcome == Outcome::pass);
}

TEST_CASE("generic-rdns loads its patterns with the configuration") {
    auto config = *load_config("", {{"generic-rdns-patterns", shipped}}).config;
    std::vector<ConfigError> errors;
    const auto data = CheckDataSet::load(config, errors);
    CHECK(errors.empty());
    const auto *patterns =
        dynamic_cast<const GenericRdnsPatterns *>(data.find(generic_rdns_check()));
    REQUIRE(patterns != nullptr);
    CHECK(patterns->token_count() == shipped_patterns().token_count());

    config = *load_config("", {{"generic-rdns-patterns", "/nonexistent/generic.conf"}}).config;
    CheckDataSet::load(config, errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].to_string() ==
          "command line: generic-rdns-patterns: /nonexistent/generic.conf: cannot read the file");
}

TEST_CASE("generic-rdns names the line of the configuration that names the faulty file") {
    const TemporaryFile bad("token dyn\nregex (unclosed\n");
    const auto directory = std::filesystem::path(bad.path).parent_path();
    const auto missing = (directory / "generic-rdns-test-missing.conf").string();
    const TemporaryFile conf(
        "generic-rdns-patterns = " + shipped + "\n" + "generic-rdns-patterns = " +
        std::filesystem::path(bad.path).filename().string() + " generic-rdns-test-missing.conf\n");
    const auto loaded = load_config(conf.path);
    REQUIRE(loaded.config);
    std::vector<ConfigError> errors;
    const auto data = CheckDataSet::load(*loaded.config, errors);
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].to_string().rfind(conf.path + ":2: generic-rdns-patterns: " + bad.path +
                                          ":2: bad regular expression",
                                      0) == 0);
    CHECK(errors[1].to_string() ==
          conf.path + ":2: generic-rdns-patterns: " + missing + ": cannot read the file");
    // What the files hold apart from the bad line still loads.
    const auto *patterns =
        dynamic_cast<const GenericRdnsPatterns *>(data.find(generic_rdns_check()));
    REQUIRE(patterns != nullptr);
    CHECK(patterns->token_count() == shipped_patterns().token_count() + 1);
}
