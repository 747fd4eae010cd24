// Answers as they come off the wire: a loopback server sends RDATA that
// no zone file holds (TXT records of kilobytes, malformed records), and
// UnboundResolver, and SPF over it, must read them whole or as a DNS
// error, never cut short or as an empty answer.
#include "resolver/unbound_resolver.hpp"
#include "../loopback_dns_server.hpp"

#include "core/address.hpp"
#include "spf/spf.hpp"

#include <doctest/doctest.h>

#include <unbound.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

using namespace portcullis;
using namespace std::chrono_literals;
using Status = DnsAnswer::Status;
using Server = portcullis::testing::LoopbackDnsServer;
using Bytes = Server::Bytes;

namespace {

constexpr std::uint16_t type_a = 1;
constexpr std::uint16_t type_txt = 16;
constexpr std::uint16_t type_aaaa = 28;

// libunbound forwarding everything to the loopback server; "test." is
// one of the names libunbound would otherwise answer by itself.
struct WireWorld {
    Server server;
    std::string file = "/tmp/portcullis-wire-" + std::to_string(getpid()) + ".conf";
    std::shared_ptr<UnboundResolver> resolver;

    WireWorld() {
        std::ofstream(file) << "server:\n"
                               "    do-not-query-localhost: no\n"
                               "    local-zone: \"test.\" nodefault\n";
        Config::Resolver settings;
        settings.forward = {server.forward()};
        settings.dnssec = false;
        settings.unbound_config = file;
        settings.timeout = 3s;
        settings.msg_cache_size = 4u << 20;
        settings.rrset_cache_size = 4u << 20;
        settings.outgoing_range = 64;
        resolver = std::make_shared<UnboundResolver>(settings);
    }
    ~WireWorld() { std::remove(file.c_str()); }

    DnsAnswer lookup(const std::string &name, DnsType type) {
        std::mutex mutex;
        std::condition_variable done;
        std::optional<DnsAnswer> answer;
        resolver->resolve(name, type, [&](DnsAnswer got) {
            std::lock_guard lock(mutex);
            answer = std::move(got);
            done.notify_all();
        });
        std::unique_lock lock(mutex);
        REQUIRE(done.wait_for(lock, 6s, [&] { return answer.has_value(); }));
        return *answer;
    }

    SpfResult spf(const char *client, const std::string &domain) {
        SpfOptions options;
        options.default_explanation = "not permitted";
        options.max_void_lookups = 2;
        return spf_check_host_blocking(
            resolver,
            spf_mail_from_request(*IpAddress::parse(client), "user@" + domain, "helo.test"),
            options, 8s);
    }
};

std::string code(const SpfResult &result) {
    return std::string(to_string(result.result));
}

} // namespace

TEST_CASE_FIXTURE(WireWorld, "defect: a TXT record over 4096 bytes is cut and evaluated" *
                                 doctest::test_suite("threads")) {
    // The record allows 198.51.100.10; cut at byte 4096 it would read
    // "ip4:198.51.100.1", which allows another host.
    const std::string last = "ip4:198.51.100.10 -all";
    std::string record = "v=spf1";
    const std::string filler = " ip4:192.0.2.1";
    while (record.size() + filler.size() + 1 <= 4096 - 16)
        record += filler;
    record += std::string(4096 - 16 - record.size(), ' ');
    record += last;
    REQUIRE(record.size() > 4096);
    REQUIRE(record.substr(4096 - 16, 16) == "ip4:198.51.100.1");
    server.add("long.test", type_txt, Server::txt(record));

    // Near the DNS maximum: 250 strings of 255 bytes (64 kB of RDATA).
    std::string longest = "v=spf1";
    while (longest.size() + filler.size() + 1 <= 250 * 255 - last.size())
        longest += filler;
    longest += std::string(250 * 255 - last.size() - longest.size(), ' ') + last;
    REQUIRE(longest.size() == 250 * 255);
    server.add("longest.test", type_txt, Server::txt(longest));

    const std::pair<std::string, std::string> records[] = {{"long.test", record},
                                                           {"longest.test", longest}};
    for (const auto &[name, text] : records) {
        CAPTURE(name);
        const auto answer = lookup(name, DnsType::TXT);
        CHECK(to_string(answer.status) == "ok");
        REQUIRE(answer.records.size() == 1);
        const auto &got = answer.records.front();
        CHECK(got.size() == text.size());
        CHECK(got.substr(got.size() - std::min<std::size_t>(got.size(), 24)) ==
              text.substr(text.size() - 24));
        const bool whole = got == text;
        CHECK(whole);

        {
            const auto result = spf("198.51.100.1", name);
            CAPTURE(result.problem);
            CHECK(code(result) == "fail");
        }
        {
            const auto result = spf("198.51.100.10", name);
            CAPTURE(result.problem);
            CHECK(code(result) == "pass");
        }
    }
}

TEST_CASE_FIXTURE(WireWorld, "defect: malformed rdata reads as an empty answer" *
                                 doctest::test_suite("threads")) {
    server.add("a5.test", type_a, {192, 0, 2, 1, 7});
    server.add("a3.test", type_a, {192, 0, 2});
    server.add("one-bad-a.test", type_a, Server::a(192, 0, 2, 1));
    server.add("one-bad-a.test", type_a, {192, 0, 2, 2, 2});
    server.add("aaaa15.test", type_aaaa, Bytes(15, 0x20));
    server.add("txt-past-end.test", type_txt, {20, 'v', '=', 's', 'p', 'f', '1'});
    server.add("txt-second-past-end.test", type_txt, {6, 'v', '=', 's', 'p', 'f', '1', 9, ' '});
    // SPF records whose terms look those names up.
    server.add("spf-a.test", type_txt, Server::txt("v=spf1 a:a5.test -all"));
    server.add("spf-include.test", type_txt, Server::txt("v=spf1 include:txt-past-end.test -all"));

    struct Row {
        const char *name;
        DnsType type;
    };
    const Row rows[] = {
        {"a5.test", DnsType::A},
        {"a3.test", DnsType::A},
        {"one-bad-a.test", DnsType::A},
        {"aaaa15.test", DnsType::AAAA},
        {"txt-past-end.test", DnsType::TXT},
        {"txt-second-past-end.test", DnsType::TXT},
    };
    for (const auto &row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        const auto answer = lookup(row.name, row.type);
        CHECK(to_string(answer.status) == "servfail");
        CHECK(answer.is_error());
        CHECK(answer.records.empty());
        CHECK(answer.why.find("malformed") != std::string::npos);
    }

    // A DNS error is temperror, where an empty answer would have been a
    // void lookup: no match, and -all would fail the client.
    {
        const auto result = spf("192.0.2.1", "spf-a.test");
        CAPTURE(result.problem);
        CHECK(code(result) == "temperror");
    }
    {
        const auto result = spf("192.0.2.1", "spf-include.test");
        CAPTURE(result.problem);
        CHECK(code(result) == "temperror");
    }
    // The SPF record itself malformed: temperror, not "no SPF record".
    {
        const auto result = spf("192.0.2.1", "txt-second-past-end.test");
        CAPTURE(result.problem);
        CHECK(code(result) == "temperror");
    }
}

// Names with bad RDATA cannot pass libunbound's own parser (it checks the
// names inside MX and PTR records), so these are libunbound results made
// by hand, as the resolver would receive them.
TEST_CASE("defect: malformed rdata of any type reads as a DNS error, not an empty answer") {
    struct Row {
        const char *what;
        DnsType type;
        Bytes rdata;
    };
    const Row rows[] = {
        {"A of 5 bytes", DnsType::A, {192, 0, 2, 1, 1}},
        {"A of 0 bytes", DnsType::A, {}},
        {"AAAA of 4 bytes", DnsType::AAAA, {192, 0, 2, 1}},
        {"AAAA of 17 bytes", DnsType::AAAA, Bytes(17, 0)},
        {"MX without exchange", DnsType::MX, {0, 10}},
        {"MX with a compression pointer", DnsType::MX, {0, 10, 0xc0, 0x0c}},
        {"MX label past the end", DnsType::MX, {0, 10, 9, 'm', 'x', 0}},
        {"PTR label of 64", DnsType::PTR,
         [] {
             Bytes name{64};
             name.insert(name.end(), 64, 'a');
             name.push_back(0);
             return name;
         }()},
        {"PTR with trailing bytes", DnsType::PTR, {2, 'm', 'x', 0, 1}},
        {"CNAME without the root label", DnsType::CNAME, {2, 'm', 'x'}},
        {"TXT string past the end", DnsType::TXT, {7, 'v', '='}},
        {"TXT without strings", DnsType::TXT, {}},
    };
    char qname[] = "bad.example.test.";
    for (const auto &row : rows) {
        const std::string what = row.what;
        CAPTURE(what);
        // libunbound hands out an empty RDATA as a pointer to no bytes,
        // not a null pointer (that ends the list): one spare byte.
        Bytes copy = row.rdata;
        copy.push_back(0xee);
        char good_a[] = {static_cast<char>(192), 0, 2, 9};
        // The malformed record second, after a good one of the same type
        // where the type has a simple good form.
        char *data[] = {reinterpret_cast<char *>(copy.data()), nullptr};
        int lengths[] = {static_cast<int>(row.rdata.size()), 0};
        char *data_two[] = {good_a, reinterpret_cast<char *>(copy.data()), nullptr};
        int lengths_two[] = {4, static_cast<int>(row.rdata.size()), 0};
        const bool two = row.type == DnsType::A;
        ub_result result{};
        result.qname = qname;
        result.qtype = static_cast<int>(row.type);
        result.qclass = 1;
        result.havedata = 1;
        result.data = two ? data_two : data;
        result.len = two ? lengths_two : lengths;
        const auto answer = answer_from_unbound(0, &result, row.type, qname);
        CHECK(to_string(answer.status) == "servfail");
        CHECK(answer.records.empty());
        CHECK(answer.why.find("malformed") != std::string::npos);
    }
}
