// Sessions over the real resolver path: libunbound with local-data for
// the DNS world, forwarding everything else to a loopback socket that
// never answers (so a missing name is a timeout, never the internet).
#include "resolver/unbound_resolver.hpp"
#include "session/session.hpp"
#include "../silent_dns_server.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace portcullis;

namespace {

using portcullis::testing::SilentDnsServer;

constexpr const char *world = R"(server:
    do-not-query-localhost: no
    local-zone: "test." nodefault
    local-zone: "example.test." static
    local-data: "example.test. 300 IN MX 10 mail.example.test."
    local-data: "mail.example.test. 300 IN A 192.0.2.10"
    local-data: "forged.example.test. 300 IN A 198.51.100.99"
    local-data: "alias.example.test. 300 IN CNAME mail.example.test."
    local-data: "listed.example.test. 300 IN A 192.0.2.40"
    local-zone: "2.0.192.in-addr.arpa." static
    local-data: "10.2.0.192.in-addr.arpa. 300 IN PTR mail.example.test."
    local-data: "20.2.0.192.in-addr.arpa. 300 IN PTR forged.example.test."
    local-data: "40.2.0.192.in-addr.arpa. 300 IN PTR listed.example.test."
    local-zone: "bl.test." static
    local-data: "40.2.0.192.bl.test. 300 IN A 127.0.0.2"
    local-data: '40.2.0.192.bl.test. 300 IN TXT "Listed: 100% spam\007 see http://bl.test/"'
    local-data: "2.0.0.127.bl.test. 300 IN A 127.0.0.2"
    local-zone: "100.51.198.in-addr.arpa." nodefault
)";

struct UnboundWorld {
    SilentDnsServer silent;
    std::string file = "/tmp/portcullis-session-world-" + std::to_string(getpid()) + ".conf";
    std::shared_ptr<const Runtime> runtime;

    UnboundWorld() {
        std::ofstream(file) << world;
        auto loaded = load_config(SOURCE_ROOT "/rules/portcullis.conf",
                                  {{"resolver.unbound-config", file},
                                   {"resolver.forward", silent.forward()},
                                   {"resolver.dnssec", "no"},
                                   {"resolver.timeout", "400ms"},
                                   {"resolver.stage-budget", "2s"},
                                   {"dnsbl.zone", "bl.test=127.0.0.[2..11]"}});
        for (const auto &error : loaded.errors)
            MESSAGE(error.to_string());
        REQUIRE(loaded.config);
        auto resolver = std::make_shared<UnboundResolver>(loaded.config->resolver);
        std::vector<ConfigError> errors;
        runtime = Runtime::build(std::move(*loaded.config), errors, std::move(resolver));
        for (const auto &error : errors)
            MESSAGE(error.to_string());
        REQUIRE(runtime);
    }
    ~UnboundWorld() { std::remove(file.c_str()); }
};

} // namespace

TEST_CASE("sessions over libunbound local-data decide as over scripted DNS" *
          doctest::test_suite("threads")) {
    struct Row {
        const char *name;
        const char *client;
        const char *helo;
        Verdict verdict;
        const char *rule;
        const char *code;
        const char *status;
        const char *text_part;
    };
    const Row rows[] = {
        {"forward-confirmed client", "192.0.2.10", "mail.example.test", Verdict::continue_, "", "",
         "", ""},
        {"no PTR", "192.0.2.30", "mail.example.test", Verdict::reject, "rdns-missing", "550",
         "5.7.25", "no reverse DNS"},
        {"PTR not confirmed", "192.0.2.20", "forged.example.test", Verdict::tempfail,
         "rdns-unconfirmed", "450", "4.7.25", "forged.example.test"},
        {"listed with TXT", "192.0.2.40", "listed.example.test", Verdict::reject, "dnsbl-listed",
         "550", "5.7.1", "Listed: 100% spam see http://bl.test/"},
        {"PTR lookup times out", "198.51.100.7", "mail.example.test", Verdict::tempfail,
         "rdns-missing", "451", "4.4.3", "timeout"},
        {"HELO underscore", "192.0.2.10", "bad_host.example.test", Verdict::reject, "helo-syntax",
         "550", "5.5.2", "underscore"},
    };
    UnboundWorld dns;
    for (const auto &row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        Session session(dns.runtime, "test");
        session.connect(IpAddress::parse(row.client), "", "mx.dest.test", std::nullopt);
        session.helo(row.helo);
        session.mail("a@example.test", "");
        const auto answer = session.recipient("u@dest.test");
        CHECK(answer.verdict == row.verdict);
        CHECK(answer.rule == row.rule);
        CHECK(answer.reply.code == row.code);
        CHECK(answer.reply.status == row.status);
        const auto text = answer.reply.text();
        CAPTURE(text);
        CHECK(text.find(row.text_part) != std::string::npos);
    }
}

TEST_CASE("a CNAME-only HELO name reads as unresolvable over libunbound") {
    UnboundWorld dns;
    Session session(dns.runtime, "test");
    session.connect(IpAddress::parse("192.0.2.10"), "", "", std::nullopt);
    session.helo("alias.example.test");
    const auto &evaluation = session.evaluate();
    bool seen = false;
    for (const auto &staged : evaluation.results)
        if (staged.result.rule == "helo-unresolvable") {
            seen = true;
            CHECK(staged.result.outcome == Outcome::fail);
        }
    CHECK(seen);
}
