// A forwarder that stops answering for a few seconds and comes back:
// lookups through UnboundResolver must succeed again within seconds of
// its return, as sessions keep arriving all along. The forwarder is a
// loopback server the test silences and restores.
#include "resolver/unbound_resolver.hpp"
#include "../loopback_dns_server.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

using namespace portcullis;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Server = portcullis::testing::LoopbackDnsServer;

namespace {

constexpr std::uint16_t type_a = 1;

struct Outage {
    Server server;
    std::string file = "/tmp/portcullis-outage-" + std::to_string(getpid()) + ".conf";
    unsigned next_name = 0;

    explicit Outage(const std::string &extra_config = "") {
        std::ofstream(file) << "server:\n"
                               "    do-not-query-localhost: no\n"
                               "    local-zone: \"test.\" nodefault\n"
                            << extra_config;
        server.add("*.relay.test", type_a, Server::a(192, 0, 2, 1));
    }
    ~Outage() { std::remove(file.c_str()); }

    Config::Resolver settings(std::chrono::milliseconds timeout) const {
        Config::Resolver settings;
        settings.forward = {server.forward()};
        settings.dnssec = false;
        settings.unbound_config = file;
        settings.timeout = timeout;
        settings.msg_cache_size = 4u << 20;
        settings.rrset_cache_size = 4u << 20;
        settings.outgoing_range = 64;
        return settings;
    }

    // A name never asked before, so that no cache answers for the server.
    DnsAnswer lookup(Resolver &resolver) {
        std::mutex mutex;
        std::condition_variable done;
        std::optional<DnsAnswer> answer;
        resolver.resolve("host" + std::to_string(next_name++) + ".relay.test", DnsType::A,
                         [&](DnsAnswer got) {
                             std::lock_guard lock(mutex);
                             answer = std::move(got);
                             done.notify_all();
                         });
        std::unique_lock lock(mutex);
        REQUIRE(done.wait_for(lock, 10s, [&] { return answer.has_value(); }));
        return *answer;
    }

    // Lookups one after another (each waits for the previous) for
    // `length`, the way sessions keep coming during an outage.
    void keep_asking(Resolver &resolver, std::chrono::milliseconds length) {
        const auto end = Clock::now() + length;
        while (Clock::now() < end) {
            lookup(resolver);
            std::this_thread::sleep_for(100ms);
        }
    }

    // Seconds from now until a lookup succeeds, asked every 250 ms; nullopt
    // if none did within `limit`.
    std::optional<double> seconds_to_recover(Resolver &resolver, std::chrono::seconds limit) {
        const auto start = Clock::now();
        while (Clock::now() - start < limit) {
            const auto answer = lookup(resolver);
            if (answer.status == DnsAnswer::Status::ok)
                return std::chrono::duration<double>(Clock::now() - start).count();
            std::this_thread::sleep_for(250ms);
        }
        return std::nullopt;
    }
};

} // namespace

// The daemon's defaults are a 5 s timeout and a 10 s outage; a 1 s
// timeout shows the same with a 3 s outage.
TEST_CASE("defect: a 10-second DNS outage tempfails every session for minutes") {
    Outage outage;
    UnboundResolver resolver(outage.settings(1s));
    REQUIRE(outage.lookup(resolver).status == DnsAnswer::Status::ok);

    outage.server.set_silent(true);
    outage.keep_asking(resolver, 3s);
    outage.server.set_silent(false);

    const auto recovered = outage.seconds_to_recover(resolver, 15s);
    MESSAGE("recovered after the forwarder's return: "
            << (recovered ? std::to_string(*recovered) + " s" : "not within 15 s"));
    REQUIRE(recovered.has_value());
    CHECK(*recovered < 3.0);
}
