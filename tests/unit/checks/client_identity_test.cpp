// ClientIdentity: the client facts every check reads, derived once per
// session, and ClientNames, the client's PTR names and which of them
// resolve back, filled as the answers arrive.
#include "check_harness.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace portcullis;
using portcullis::testing::ScriptedResolver;

namespace {

ClientIdentity identity_of(const Facts &facts) {
    ClientIdentity identity;
    identity.update(facts);
    return identity;
}

} // namespace

TEST_CASE("the client address is unmapped once, with its reversed forms") {
    Facts facts;
    facts.client = IpAddress::parse("::ffff:192.0.2.1");
    const auto identity = identity_of(facts);
    REQUIRE(identity.address);
    CHECK(identity.address->is_v4());
    CHECK(identity.address->to_string() == "192.0.2.1");
    CHECK(identity.reversed == "1.2.0.192");
    CHECK(identity.reverse_name == "1.2.0.192.in-addr.arpa");
    CHECK_FALSE(identity_of(Facts{}).address);
    CHECK(identity_of(Facts{}).reversed.empty());
}

TEST_CASE("the form of the HELO argument") {
    struct Row {
        std::string helo;
        HeloForm form;
        std::string name;
    };
    const std::vector<Row> rows = {
        {"", HeloForm::missing, ""},
        {"[192.0.2.1]", HeloForm::address_literal, ""},
        {"[garbage", HeloForm::address_literal, ""},
        {"bad_name.example", HeloForm::not_host_name, ""},
        {"desktop", HeloForm::not_fqdn, "desktop"},
        {"192.0.2.1", HeloForm::not_host_name, ""}, // a numeric top label
        {"Mail.Example.COM.", HeloForm::fqdn, "mail.example.com"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.helo);
        Facts facts;
        facts.helo = row.helo;
        const auto identity = identity_of(facts);
        CHECK(identity.helo_form == row.form);
        CHECK(identity.helo_name == row.name);
        CHECK(identity.fqdn_helo() == (row.form == HeloForm::fqdn ? row.name : ""));
    }
}

TEST_CASE("the sender domain, or why there is none") {
    struct Row {
        bool seen;
        std::string sender;
        std::string domain;
        std::string why;
    };
    const std::vector<Row> rows = {
        {false, "", "", "no MAIL FROM yet"},
        {true, "", "", "the null sender has no domain"},
        {true, "alice", "", "sender <alice> has no domain"},
        {true, "alice@", "", "sender <alice@> has no domain"},
        {true, "alice@[192.0.2.1]", "", "sender domain is an address literal"},
        {true, "alice@bad_domain.example", "",
         "sender domain 'bad_domain.example' is not a host name"},
        {true, "Alice@Example.ORG", "example.org", ""},
        {true, "a@b@localhost", "localhost", ""},
    };
    for (const auto &row : rows) {
        CAPTURE(row.sender);
        Facts facts;
        facts.sender_seen = row.seen;
        facts.sender = row.sender;
        const auto identity = identity_of(facts);
        CHECK(identity.sender_domain == row.domain);
        CHECK(identity.no_sender_domain == row.why);
    }
}

TEST_CASE("the client's names: PTR names, and those that resolve back") {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->add("1.2.0.192.in-addr.arpa", DnsType::PTR,
             {"A.example", "b.example", "c.example", "d.example", "a.example"});
    dns->add("a.example", DnsType::A, {"192.0.2.1"});
    dns->add("b.example", DnsType::A, {"192.0.2.2"});
    dns->add("c.example", DnsType::A, {"192.0.2.9", "192.0.2.1"});
    dns->fail("d.example", DnsType::A, DnsAnswer::Status::timeout);
    auto lookups = Lookups::create(dns);
    auto names = ClientNames::create();
    CHECK(names->names().empty());
    names->start(*lookups, *IpAddress::parse("192.0.2.1"), 10);
    names->start(*lookups, *IpAddress::parse("192.0.2.1"), 10); // once per session
    lookups->wait_until(Lookups::Clock::now() + std::chrono::seconds(1));
    CHECK(names->names() ==
          std::vector<std::string>{"a.example", "b.example", "c.example", "d.example"});
    CHECK(names->confirmed() == std::vector<std::string>{"a.example", "c.example"});
    CHECK(dns->asked().size() == 5); // PTR and four A, each once

    auto bounded = ClientNames::create();
    auto more = Lookups::create(dns);
    bounded->start(*more, *IpAddress::parse("192.0.2.1"), 2);
    more->wait_until(Lookups::Clock::now() + std::chrono::seconds(1));
    CHECK(bounded->names() == std::vector<std::string>{"a.example", "b.example"});
}

TEST_CASE("a listener hears each confirmed name once, registered before or after") {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->add("1.2.0.192.in-addr.arpa", DnsType::PTR, {"a.example", "b.example"});
    dns->add("a.example", DnsType::A, {"192.0.2.1"});
    dns->add("b.example", DnsType::A, {"192.0.2.1"});
    auto lookups = Lookups::create(dns);
    auto names = ClientNames::create();
    std::vector<std::string> early;
    std::vector<std::string> late;
    std::vector<std::string> duplicate;
    names->each_confirmed("early", [&](const std::string &name) { early.push_back(name); });
    names->start(*lookups, *IpAddress::parse("192.0.2.1"), 10);
    lookups->wait_until(Lookups::Clock::now() + std::chrono::seconds(1));
    names->each_confirmed("late", [&](const std::string &name) { late.push_back(name); });
    names->each_confirmed("early", [&](const std::string &name) { duplicate.push_back(name); });
    const std::vector<std::string> both = {"a.example", "b.example"};
    CHECK(early == both);
    CHECK(late == both);
    CHECK(duplicate.empty()); // one listener per key
}
