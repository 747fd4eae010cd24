// deny-network and deny-sender: the administrator's own lists.
#include "check_harness.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using portcullis::testing::CheckHarness;

namespace {

// CheckHarness for the local lists: one result each, and no DNS.
struct LocalListsHarness : CheckHarness {
    using CheckHarness::CheckHarness;

    CheckResult run(std::string_view name) {
        auto results = CheckHarness::run(name);
        REQUIRE(results.size() == 1);
        CHECK(dns->asked().empty());
        return results[0];
    }
};

} // namespace

TEST_CASE("deny-network matches the client against deny.network") {
    struct Row {
        std::optional<std::string> client;
        std::vector<std::string> networks;
        Outcome expected;
        std::string detail;
    };
    const std::vector<std::string> networks = {"192.0.2.0/24", "2001:db8:bad::/48", "198.51.100.7"};
    const std::vector<Row> rows = {
        {"192.0.2.7", networks, Outcome::fail, "192.0.2.7 is in deny.network 192.0.2.0/24"},
        {"::ffff:192.0.2.7", networks, Outcome::fail, "192.0.2.7 is in deny.network 192.0.2.0/24"},
        {"198.51.100.7", networks, Outcome::fail, "deny.network 198.51.100.7/32"},
        {"198.51.100.8", networks, Outcome::pass, "198.51.100.8 is not in deny.network"},
        {"2001:db8:bad::1", networks, Outcome::fail, "deny.network 2001:db8:bad::/48"},
        {"2001:db8::1", networks, Outcome::pass, "not in deny.network"},
        {"192.0.3.1", networks, Outcome::pass, "not in deny.network"},
        {std::nullopt, networks, Outcome::skip, "no client IP address"},
        {"192.0.2.7", {}, Outcome::skip, "deny.network is empty"},
        {"0.0.0.0", {"0.0.0.0/0"}, Outcome::fail, ""},
        {"2001:db8::1", {"0.0.0.0/0"}, Outcome::pass, ""},
    };
    for (const auto &row : rows) {
        CAPTURE(row.client.value_or("none"));
        LocalListsHarness harness(row.client);
        for (const auto &text : row.networks)
            harness.config.deny_networks.push_back(*Network::parse(text));
        const auto result = harness.run("deny-network");
        CHECK(result.check == "deny-network");
        CHECK(result.rule == "deny-network");
        CHECK(result.outcome == row.expected);
        CHECK(result.detail.find(row.detail) != std::string::npos);
    }
}

TEST_CASE("deny-sender matches addresses, exact domains and domain trees") {
    struct Row {
        std::string sender;
        Outcome expected;
        std::string detail = "";
    };
    const std::vector<Row> rows = {
        {"spammer@example.com", Outcome::fail,
         "sender 'spammer@example.com' matches deny.sender spammer@example.com"},
        {"SPAMMER@Example.COM", Outcome::fail},
        {"other@example.com", Outcome::pass, "is not in deny.sender"},
        {"spammer@example.com.evil", Outcome::pass},
        {"x@bad.example", Outcome::fail, "matches deny.sender @bad.example"},
        {"x@BAD.example.", Outcome::fail},
        {"x@sub.bad.example", Outcome::pass},
        {"x@evil.example", Outcome::fail, "matches deny.sender evil.example"},
        {"x@sub.evil.example", Outcome::fail},
        {"x@deep.sub.EVIL.example", Outcome::fail},
        {"x@notevil.example", Outcome::pass},
        {"x@evil.example.org", Outcome::pass},
        {"\"a@evil.example\"@good.example", Outcome::pass},
        {"\"a@good.example\"@evil.example", Outcome::fail},
        {"", Outcome::pass, "the null sender is never denied"},
        {"spammer", Outcome::pass},
        {"evil.example", Outcome::pass},
        {"x@", Outcome::pass},
        {"@evil.example", Outcome::fail},
        {std::string("x@evil.example\0", 15), Outcome::pass, "'x@evil.example?'"},
        {"x@ev\xc3\xafl.example", Outcome::pass},
        {std::string(10000, 'a') + "@evil.example", Outcome::fail},
        {"x@" + std::string(10000, 'b'), Outcome::pass},
    };
    for (const auto &row : rows) {
        CAPTURE(row.sender);
        LocalListsHarness harness("192.0.2.1");
        harness.config = *load_config("", {{"deny.sender", "spammer@example.com @bad.example"},
                                           {"deny.sender", "evil.example"}})
                              .config;
        harness.facts.sender = row.sender;
        harness.facts.sender_seen = true;
        const auto result = harness.run("deny-sender");
        CHECK(result.check == "deny-sender");
        CHECK(result.rule == "deny-sender");
        CHECK(result.outcome == row.expected);
        CHECK(result.detail.find(row.detail) != std::string::npos);
        CHECK(result.detail.size() < 400);
        for (char c : result.detail)
            CHECK((c >= 0x20 && c < 0x7f));
    }
}

TEST_CASE("deny-sender skips before MAIL FROM and with an empty list") {
    LocalListsHarness early("192.0.2.1");
    early.config = *load_config("", {{"deny.sender", "evil.example"}}).config;
    CHECK(early.run("deny-sender").outcome == Outcome::skip);
    LocalListsHarness empty("192.0.2.1");
    empty.facts.sender = "x@evil.example";
    empty.facts.sender_seen = true;
    CHECK(empty.run("deny-sender").outcome == Outcome::skip);
    LocalListsHarness local(std::nullopt); // the sender matters, not the client
    local.config = *load_config("", {{"deny.sender", "evil.example"}}).config;
    local.facts.sender = "x@evil.example";
    local.facts.sender_seen = true;
    CHECK(local.run("deny-sender").outcome == Outcome::fail);
}

// exempt-recipients takes *@domain, deny.sender took @domain: the same
// spelling in deny.sender loaded without a word and never matched.
TEST_CASE("defect: deny.sender = *@spam.example never matches") {
    struct Row {
        const char *pattern;
        const char *sender;
        Outcome expected;
    };
    const Row rows[] = {
        {"*@spam.example", "anyone@spam.example", Outcome::fail},
        {"*@spam.example", "anyone@SPAM.example.", Outcome::fail},
        {"*@spam.example", "anyone@sub.spam.example", Outcome::pass},
        {"*@spam.example", "anyone@ham.example", Outcome::pass},
        {"news@*", "news@anywhere.example", Outcome::fail},
        {"news@*", "other@anywhere.example", Outcome::pass},
    };
    for (const auto &row : rows) {
        const std::string pattern = row.pattern, sender = row.sender;
        CAPTURE(pattern);
        CAPTURE(sender);
        const auto loaded = load_config("", {{"deny.sender", row.pattern}});
        for (const auto &error : loaded.errors)
            MESSAGE(error.to_string());
        REQUIRE(loaded.config);
        LocalListsHarness harness("192.0.2.1");
        harness.config = *loaded.config;
        harness.facts.sender = row.sender;
        harness.facts.sender_seen = true;
        CHECK(harness.run("deny-sender").outcome == row.expected);
    }
}

// Entries that can match no address (or every one) are configuration
// errors, in every option that matches addresses.
TEST_CASE("defect: an address pattern that cannot match loads without an error") {
    const char *options[] = {"deny.sender", "exempt-recipients"};
    const char *patterns[] = {
        "spam*@example.com",
        "*spam@example.com",
        "user@*.*",
        "user@exa*mple.com",
        "user@-bad-.example",
        "user@exa_mple.com",
        "user@@example.com",
        "a@b@example.com",
        "@",
        "*@*",
        "*",
        "user@[192.0.2.1]",
        "\"quoted\"@example.com",
        "us(er@example.com",
        "user@example..com",
        "user@.",
        ".",
    };
    for (const std::string option : options)
        for (const std::string pattern : patterns) {
            CAPTURE(option);
            CAPTURE(pattern);
            const auto loaded = load_config("", {{option, pattern}});
            CHECK_FALSE(loaded.config);
            REQUIRE(loaded.errors.size() == 1);
            CHECK(loaded.errors[0].option == option);
            CHECK(loaded.errors[0].message.find(pattern) != std::string::npos);
        }
}
