// helo-localhost: HELO names localhost or localhost.localdomain, no DNS.
#include "check_harness.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using portcullis::testing::CheckHarness;

TEST_CASE("helo-localhost refuses the local host's names from other hosts") {
    struct Row {
        std::optional<std::string> client;
        std::string helo;
        int helo_count;
        Outcome expected;
        std::string detail;
    };
    const std::vector<Row> rows = {
        {"192.0.2.1", "localhost", 1, Outcome::fail,
         "HELO 'localhost' names the local host, but the client is 192.0.2.1"},
        {"192.0.2.1", "LocalHost.LocalDomain.", 1, Outcome::fail, "names the local host"},
        {"::ffff:192.0.2.1", "localhost", 1, Outcome::fail, "but the client is 192.0.2.1"},
        {"2001:db8::1", "localhost.localdomain", 1, Outcome::fail, "2001:db8::1"},
        {"127.0.0.1", "localhost", 1, Outcome::pass, "from the loopback address 127.0.0.1"},
        {"::1", "localhost", 1, Outcome::pass, "from the loopback address ::1"},
        {"192.0.2.1", "mail.example.com", 1, Outcome::pass, "is not localhost"},
        {"192.0.2.1", "localhost.example.com", 1, Outcome::pass, "is not localhost"},
        {"192.0.2.1", "localhost_", 1, Outcome::pass, "is not localhost"},
        {"192.0.2.1", "[127.0.0.1]", 1, Outcome::pass, "is not localhost"},
        {"192.0.2.1", "", 0, Outcome::skip, "no HELO/EHLO yet"},
        {std::nullopt, "localhost", 1, Outcome::skip, "no client IP address"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.helo);
        CAPTURE(row.client.value_or("none"));
        CheckHarness harness(row.client);
        harness.facts.helo = row.helo;
        harness.facts.helo_count = row.helo_count;
        const auto results = harness.run("helo-localhost");
        REQUIRE(results.size() == 1);
        CHECK(results[0].rule == "helo-localhost");
        CHECK(results[0].outcome == row.expected);
        CHECK(results[0].detail.find(row.detail) != std::string::npos);
        CHECK(harness.dns->asked().empty());
    }
}

TEST_CASE("helo-localhost decides the HELO stage before helo-not-fqdn") {
    const auto checks = all_checks();
    std::size_t localhost = checks.size();
    std::size_t syntax = checks.size();
    for (std::size_t i = 0; i < checks.size(); ++i) {
        if (checks[i]->name() == "helo-localhost")
            localhost = i;
        if (checks[i]->name() == "helo-syntax")
            syntax = i;
    }
    REQUIRE(localhost < checks.size());
    CHECK(localhost < syntax); // the more specific reply wins for "localhost"
}
