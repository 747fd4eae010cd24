// The table of checks: order, stages, and rules known to the rule table.
#include "checks/check.hpp"
#include "core/rule_table.hpp"

#include <doctest/doctest.h>

using namespace portcullis;

TEST_CASE("all_checks lists every check once, in stage order") {
    struct Row {
        std::string_view name;
        Stage stage;
    };
    const std::vector<Row> expected = {
        {"deny-network", Stage::connect}, {"reverse-dns", Stage::connect},
        {"generic-rdns", Stage::connect}, {"dnsbl", Stage::connect},
        {"helo-syntax", Stage::helo},     {"helo-identity", Stage::helo},
        {"helo-dns", Stage::helo},        {"spf-helo", Stage::helo},
        {"deny-sender", Stage::mail},     {"sender-domain", Stage::mail},
        {"spf-mail-from", Stage::mail},   {"rhsbl", Stage::mail},
    };
    const auto checks = all_checks();
    REQUIRE(checks.size() == expected.size());
    for (std::size_t i = 0; i < checks.size(); ++i) {
        CAPTURE(i);
        REQUIRE(checks[i] != nullptr);
        CHECK(checks[i]->name() == expected[i].name);
        CHECK(checks[i]->stage() == expected[i].stage);
    }
}

TEST_CASE("every rule of the rule table belongs to a check") {
    const std::vector<std::string_view> rules = {
        "rdns-missing",  "rdns-unconfirmed",  "rdns-generic",          "helo-syntax",
        "helo-not-fqdn", "helo-bare-ip",      "helo-literal-mismatch", "helo-claims-us",
        "helo-changed",  "helo-unresolvable", "helo-address-mismatch", "dnsbl-listed",
        "deny-network",  "deny-sender",
        "sender-domain-missing", "sender-null-mx", "spf-fail", "spf-softfail", "spf-temperror",
        "spf-permerror", "spf-helo-fail", "spf-helo-softfail", "spf-helo-temperror",
        "spf-helo-permerror", "rhsbl-listed",
    };
    for (auto rule : rules) {
        CAPTURE(rule);
        CHECK(find_rule(rule) != nullptr);
    }
    CHECK(rule_table().size() == rules.size());
}
