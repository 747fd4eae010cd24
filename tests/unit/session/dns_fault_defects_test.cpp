// Defects the DNS-fault property test (dns_fault_property_test.cpp) found,
// each as the hand-written session that showed it: a DNS fault on one or
// a few lookups that earned a 5xx before the fix. Each must end without
// one.
#include "session/session.hpp"
#include "../scripted_resolver.hpp"
#include "dns_fault_world.hpp"

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace portcullis;
using namespace portcullis::testing::dns_fault;

namespace {

// One session of a hand-written case, with its faults.
Run run_case(std::vector<std::pair<std::string, std::string>> options, const World &world,
             const std::map<Key, Fault> &faults) {
    options.emplace_back("resolver.stage-budget", "1ms");
    auto loaded = load_config(SOURCE_ROOT "/rules/portcullis.conf", options);
    for (const auto &error : loaded.errors)
        MESSAGE(error.to_string());
    REQUIRE(loaded.config);
    std::vector<portcullis::ConfigError> problems;
    auto built = Runtime::build(std::move(*loaded.config), problems,
                                std::make_shared<portcullis::testing::ScriptedResolver>());
    REQUIRE(built);
    Runtime runtime = *built;
    return run(runtime, world, faults, Mode::faulted);
}

// A client 192.0.2.10 named mail.client.example (confirmed), greeting
// with that name, sending from alice@sender.example (which has an MX and
// an SPF record that passes the client).
World good_client() {
    World world;
    world.client = "192.0.2.10";
    world.other_address = "198.51.100.7";
    world.helos = {"mail.client.example"};
    world.sender = "alice@sender.example";
    world.ptr_names = {"mail.client.example"};
    world.set("10.2.0.192.in-addr.arpa", DnsType::PTR, {"mail.client.example"});
    world.set("mail.client.example", DnsType::A, {"192.0.2.10"});
    world.set("mail.client.example", DnsType::AAAA, {});
    world.set("sender.example", DnsType::MX, {"10 mx.sender.example"});
    world.set("sender.example", DnsType::TXT, {"v=spf1 ip4:192.0.2.0/24 -all"});
    return world;
}

} // namespace

TEST_CASE("defect: a PTR answer whose records cannot be read rejects the client as having no "
          "PTR") {
    // The resolver drops a record it cannot decode; what is left read as
    // an answer without records, and rdns-missing rejected (550 5.7.25).
    const auto world = good_client();
    const Run faulted =
        run_case({}, world, {{{"10.2.0.192.in-addr.arpa", DnsType::PTR}, Fault::malformed}});
    INFO(describe(faulted));
    CHECK_FALSE(faulted.refuses_permanently());
    CHECK(faulted.verdict == Verdict::tempfail);
}

TEST_CASE("defect: a failed lookup takes a rule's negative score away and the total rejects") {
    // A rule scored negatively lowers the total when it fails. A lookup
    // that fails leaves the rule undecided: decide() counted nothing for
    // it, and the total of the others reached policy.score-reject.
    const std::vector<std::pair<std::string, std::string>> scoring = {
        {"policy.score-reject", "3"}, {"policy.helo-not-fqdn", "score:3"}};
    SUBCASE("an error: the PTR name's A lookup, for rdns-unconfirmed") {
        auto options = scoring;
        options.emplace_back("policy.rdns-unconfirmed", "score:-2");
        auto world = good_client();
        world.helos = {"nodots"};
        const Run faulted =
            run_case(options, world, {{{"mail.client.example", DnsType::A}, Fault::servfail}});
        INFO(describe(faulted));
        CHECK_FALSE(faulted.refuses_permanently());
    }
    SUBCASE("an SPF temperror, for spf-softfail") {
        auto options = scoring;
        options.emplace_back("policy.spf-softfail", "score:-2");
        options.emplace_back("policy.spf-temperror", "log");
        auto world = good_client();
        world.helos = {"nodots"};
        world.set("sender.example", DnsType::TXT, {"v=spf1 ~all"});
        const Run faulted =
            run_case(options, world, {{{"sender.example", DnsType::TXT}, Fault::timeout}});
        INFO(describe(faulted));
        CHECK_FALSE(faulted.refuses_permanently());
    }
}

TEST_CASE("defect: SPF's ptr passes over a failed lookup and the resulting fail rejects") {
    // RFC 7208 section 5.5 skips a PTR name whose A lookup fails; the
    // name could have matched, and spf-fail rejected (550 5.7.23).
    auto world = good_client();
    world.set("sender.example", DnsType::TXT, {"v=spf1 ptr:client.example -all"});
    const Run faulted =
        run_case({}, world, {{{"mail.client.example", DnsType::A}, Fault::timeout}});
    INFO(describe(faulted));
    CHECK_FALSE(faulted.refuses_permanently());
    CHECK(faulted.verdict == Verdict::tempfail);
}

TEST_CASE("defect: an allow list scored through a negative action that does not answer lets the "
          "total reject") {
    // A DNSWL (or domain allow list) configured as a zone whose listing
    // fails the rule, and the rule scored negatively. A list error
    // counted as not listed, and the total of the others rejected.
    const std::vector<std::pair<std::string, std::string>> scoring = {
        {"policy.score-reject", "3"}, {"policy.helo-not-fqdn", "score:3"}};
    auto world = good_client();
    world.helos = {"nodots"};
    SUBCASE("DNSBL") {
        auto options = scoring;
        options.emplace_back("dnsbl.zone", "wl.example");
        options.emplace_back("policy.dnsbl-listed", "score:-5");
        world.set("10.2.0.192.wl.example", DnsType::A, {"127.0.0.2"});
        for (const Fault fault : {Fault::timeout, Fault::list_error}) {
            const Run faulted =
                run_case(options, world, {{{"10.2.0.192.wl.example", DnsType::A}, fault}});
            INFO(fault_name(fault) << ": " << describe(faulted));
            CHECK_FALSE(faulted.refuses_permanently());
        }
    }
    SUBCASE("RHSBL") {
        auto options = scoring;
        options.emplace_back("rhsbl.zone", "rwl.example");
        options.emplace_back("policy.rhsbl-listed", "score:-5");
        world.set("sender.example.rwl.example", DnsType::A, {"127.0.0.2"});
        const Run faulted = run_case(
            options, world, {{{"sender.example.rwl.example", DnsType::A}, Fault::servfail}});
        INFO(describe(faulted));
        CHECK_FALSE(faulted.refuses_permanently());
    }
}

TEST_CASE("defect: a failed PTR lookup keeps an RHSBL allow list from the client name, and the "
          "sender's listing rejects") {
    // The client's name is on an RHSBL allow list that takes the sender
    // domain's listing below the threshold. With the PTR lookup failed
    // the name was never asked, and rhsbl-listed rejected (550).
    auto world = good_client();
    world.helos = {"helo.client.example"};
    world.set("helo.client.example", DnsType::A, {"192.0.2.10"});
    world.set("sender.example.dbl.example", DnsType::A, {"127.0.0.2"});
    world.set("mail.client.example.rwl.example", DnsType::A, {"127.0.0.2"});
    const std::vector<std::pair<std::string, std::string>> options = {
        {"rhsbl.zone", "dbl.example*2 rwl.example*-5"}};
    for (const auto &key : std::vector<Key>{{"10.2.0.192.in-addr.arpa", DnsType::PTR},
                                            {"mail.client.example", DnsType::A}}) {
        const Run faulted = run_case(options, world, {{key, Fault::timeout}});
        INFO(describe(key) << ": " << describe(faulted));
        CHECK_FALSE(faulted.refuses_permanently());
    }
}

TEST_CASE("defect: a failed A lookup of the HELO name of an IPv6 client makes "
          "helo-address-mismatch a skip, not an error") {
    // For an IPv6 client only the AAAA answer can hold its address, but
    // A records elsewhere make the mismatch. With A failed and no AAAA
    // records the rule was skipped, its negative score lost, and the
    // total rejected.
    World world;
    world.v6 = true;
    world.client = "2001:db8::10";
    world.other_address = "2001:db8:ffff::7";
    world.helos = {"helo.other.example"};
    world.sender = "alice@sender.example";
    world.set("helo.other.example", DnsType::A, {"198.51.100.77"});
    world.set("helo.other.example", DnsType::AAAA, {});
    world.set("sender.example", DnsType::MX, {"10 mx.sender.example"});
    const std::vector<std::pair<std::string, std::string>> options = {
        {"policy.score-reject", "3"},
        {"policy.rdns-missing", "score:3"},
        {"policy.helo-address-mismatch", "score:-5"}};
    const Run faulted =
        run_case(options, world, {{{"helo.other.example", DnsType::A}, Fault::servfail}});
    INFO(describe(faulted));
    CHECK_FALSE(faulted.refuses_permanently());
}
