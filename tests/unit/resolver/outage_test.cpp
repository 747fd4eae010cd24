// A forwarder that stops answering for a few seconds and comes back:
// lookups through UnboundResolver must succeed again within seconds of
// its return, as sessions keep arriving all along; and the watchdog
// (resolver.renew-after) that starts libunbound afresh when every lookup
// keeps failing. The forwarder is a loopback server the test silences
// and restores.
#include "resolver/unbound_resolver.hpp"
#include "../loopback_dns_server.hpp"

#include "core/log.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

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

namespace {

// The log lines of one test, from any thread.
class CapturedLog {
  public:
    CapturedLog() {
        LogSettings capture;
        capture.to_syslog = false;
        capture.sink = [this](int, std::string_view line) {
            std::lock_guard lock(mutex_);
            lines_.emplace_back(line);
            times_.push_back(Clock::now());
        };
        configure_logging(capture);
    }
    ~CapturedLog() { configure_logging(LogSettings{}); }
    std::vector<std::string> containing(const std::string &part) {
        std::lock_guard lock(mutex_);
        std::vector<std::string> found;
        for (const auto &line : lines_)
            if (line.find(part) != std::string::npos)
                found.push_back(line);
        return found;
    }
    std::optional<Clock::time_point> first_time(const std::string &part) {
        std::lock_guard lock(mutex_);
        for (std::size_t i = 0; i < lines_.size(); ++i)
            if (lines_[i].find(part) != std::string::npos)
                return times_[i];
        return std::nullopt;
    }

  private:
    std::mutex mutex_;
    std::vector<std::string> lines_;
    std::vector<Clock::time_point> times_;
};

} // namespace

// infra-cache-max-rtt below libunbound's probe threshold, as the
// administrator's unbound.conf may still set it, brings back the failure
// mode the defect test shows: the watchdog must end it.
TEST_CASE("the watchdog renews the context when every lookup fails, and logs it once") {
    Outage outage("    infra-cache-max-rtt: 1000\n");
    auto settings = outage.settings(1s);

    SUBCASE("without it the forced failure mode lasts") {
        UnboundResolver resolver(settings);
        REQUIRE(outage.lookup(resolver).status == DnsAnswer::Status::ok);
        outage.server.set_silent(true);
        outage.keep_asking(resolver, 3s);
        outage.server.set_silent(false);
        CHECK_FALSE(outage.seconds_to_recover(resolver, 6s).has_value());
    }
    SUBCASE("with it lookups succeed again soon after the forwarder's return") {
        settings.renew_after = 2s;
        CapturedLog log;
        UnboundResolver resolver(settings);
        REQUIRE(outage.lookup(resolver).status == DnsAnswer::Status::ok);
        outage.server.set_silent(true);
        outage.keep_asking(resolver, 5s);
        outage.server.set_silent(false);
        const auto recovered = outage.seconds_to_recover(resolver, 6s);
        MESSAGE("recovered after the forwarder's return: "
                << (recovered ? std::to_string(*recovered) + " s" : "not within 6 s"));
        REQUIRE(recovered.has_value());
        CHECK(*recovered < 3.5);

        const auto renewing = log.containing("starting libunbound afresh");
        REQUIRE(renewing.size() == 1);
        CHECK(renewing.front().find("every DNS lookup failed for ") != std::string::npos);
        const auto answered = log.containing("DNS lookups are answered again");
        REQUIRE(answered.size() == 1);
        CHECK(answered.front().find("the libunbound context was renewed ") != std::string::npos);
    }
}

TEST_CASE("lookups in flight when the context is renewed complete once, in the new one" *
          doctest::test_suite("threads")) {
    Outage outage;
    auto settings = outage.settings(2s);
    settings.renew_after = 1s;
    CapturedLog log;
    UnboundResolver resolver(settings);
    outage.server.set_silent(true);

    // a fails at 2 s, b at 3.3 s: the second failure, more than a second
    // after the first, renews the context with c in flight (asked at
    // 2.5 s, due at 4.5 s). The server answers again from 3.5 s on; the
    // old context is gone by then, so only the new one can ask for c.
    const auto start = Clock::now();
    std::mutex mutex;
    std::vector<std::pair<std::string, DnsAnswer>> answers;
    Clock::time_point c_answered;
    auto ask = [&](const std::string &name) {
        resolver.resolve(name + ".relay.test", DnsType::A, [&, name](DnsAnswer answer) {
            std::lock_guard lock(mutex);
            answers.emplace_back(name, std::move(answer));
            if (name == "c")
                c_answered = Clock::now();
        });
    };
    ask("a");
    std::this_thread::sleep_until(start + 1300ms);
    ask("b");
    std::this_thread::sleep_until(start + 2500ms);
    ask("c");
    std::this_thread::sleep_until(start + 3500ms);
    outage.server.set_silent(false);
    std::this_thread::sleep_until(start + 5500ms);

    std::lock_guard lock(mutex);
    REQUIRE(answers.size() == 3);
    CHECK(answers[0].first == "a");
    CHECK(answers[0].second.status == DnsAnswer::Status::timeout);
    CHECK(answers[1].first == "b");
    CHECK(answers[1].second.status == DnsAnswer::Status::timeout);
    CHECK(answers[2].first == "c");
    CHECK(answers[2].second.status == DnsAnswer::Status::ok);
    CHECK(answers[2].second.records == std::vector<std::string>{"192.0.2.1"});
    const auto renewed = log.first_time("starting libunbound afresh");
    REQUIRE(renewed.has_value());
    CHECK(*renewed > start + 2500ms); // c was in flight
    CHECK(*renewed < c_answered);
}
