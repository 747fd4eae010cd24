// A reload while sessions run, as the daemon does it: its signal thread
// builds a new Runtime and installs it (install_runtime) while libmilter's
// worker threads run sessions over the runtime each started with, and
// the answers arrive on the resolver's own thread. Every session must
// decide by the configuration it started with, and a replaced runtime
// must go away with its last session. In the "threads" test suite, which
// scripts/test also runs under ThreadSanitizer.
#include "session/session.hpp"
#include "../later_resolver.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace portcullis;
using portcullis::testing::LaterResolver;
using portcullis::testing::ScriptedResolver;

namespace {

std::shared_ptr<ScriptedResolver> listed_client_world() {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->add("50.2.0.192.in-addr.arpa", DnsType::PTR, {"mx.listed.example"});
    dns->add("mx.listed.example", DnsType::A, {"192.0.2.50"});
    dns->add("mx.listed.example", DnsType::AAAA, {});
    dns->add("50.2.0.192.bl.example", DnsType::A, {"127.0.0.2"});
    dns->add("50.2.0.192.bl.example", DnsType::TXT, {"listed for the test"});
    dns->add("good.example", DnsType::MX, {"10 mx.listed.example"});
    return dns;
}

// With the DNSBL, the listed client is refused; without, it gets through.
std::shared_ptr<const Runtime> runtime_for(bool with_dnsbl, std::shared_ptr<Resolver> dns) {
    std::vector<std::pair<std::string, std::string>> options;
    if (with_dnsbl)
        options.emplace_back("dnsbl.zone", "bl.example=127.0.0.[2..11]");
    auto loaded = load_config(SOURCE_ROOT "/rules/portcullis.conf", options);
    REQUIRE(loaded.config);
    std::vector<ConfigError> errors;
    auto runtime = Runtime::build(std::move(*loaded.config), errors, std::move(dns));
    REQUIRE(runtime);
    return runtime;
}

} // namespace

TEST_CASE("a reload while sessions run on several threads" * doctest::test_suite("threads")) {
    auto dns = std::make_shared<LaterResolver>(listed_client_world(), std::chrono::milliseconds(1));
    std::vector<std::weak_ptr<const Runtime>> built;
    {
        auto first = runtime_for(true, dns);
        built.push_back(first);
        install_runtime(first);
    }

    constexpr int threads = 4;
    constexpr int sessions_per_thread = 15;
    std::atomic<int> wrong{0};
    std::atomic<int> refused{0};
    std::atomic<int> accepted{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            for (int i = 0; i < sessions_per_thread; ++i) {
                const auto runtime = current_runtime();
                const bool with_dnsbl = !runtime->config->dnsbl_zones.empty();
                Session session(runtime, "reload-" + std::to_string(t) + "-" + std::to_string(i));
                session.connect(IpAddress::parse("192.0.2.50"), "mx.listed.example",
                                "mx.dest.example", std::nullopt);
                session.helo("mx.listed.example");
                session.mail("a@good.example", "");
                const auto answer = session.recipient("u@dest.example");
                const bool as_configured =
                    with_dnsbl ? answer.rule == "dnsbl-listed" && answer.verdict == Verdict::reject
                               : answer.verdict == Verdict::continue_;
                if (!as_configured)
                    ++wrong;
                ++(answer.verdict == Verdict::reject ? refused : accepted);
            }
        });
    // The signal thread: a reload every few milliseconds, with and
    // without the DNSBL in turn.
    for (int reload = 1; reload <= 20; ++reload) {
        auto fresh = runtime_for(reload % 2 == 0, dns);
        built.push_back(fresh);
        install_runtime(std::move(fresh));
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    for (auto &worker : workers)
        worker.join();

    CHECK(wrong == 0);
    CHECK(refused + accepted == threads * sessions_per_thread);
    install_runtime(nullptr);
    // Every runtime went with its last session; none is kept by a pending
    // lookup or a cache.
    for (const auto &runtime : built)
        CHECK(runtime.expired());
}
