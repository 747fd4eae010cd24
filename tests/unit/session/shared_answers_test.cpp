#include "core/lookups.hpp"
#include "session/shared_answers.hpp"
#include "../later_resolver.hpp"
#include "../scripted_resolver.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace portcullis;
using portcullis::testing::LaterResolver;
using portcullis::testing::ScriptedResolver;

TEST_CASE("answers are shared between sessions, errors are not") {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->add("mail.example", DnsType::A, {"192.0.2.1"});
    dns->fail("broken.example", DnsType::A, DnsAnswer::Status::servfail);
    auto shared = std::make_shared<SharedAnswers>(dns);
    struct Row {
        const char *name;
        DnsAnswer::Status status;
    };
    const Row rows[] = {{"mail.example", DnsAnswer::Status::ok},
                        {"mail.example", DnsAnswer::Status::ok},
                        {"missing.example", DnsAnswer::Status::nxdomain},
                        {"missing.example", DnsAnswer::Status::nxdomain},
                        {"broken.example", DnsAnswer::Status::servfail},
                        {"broken.example", DnsAnswer::Status::servfail}};
    for (const auto &row : rows) {
        DnsAnswer got;
        shared->resolve(row.name, DnsType::A, [&](DnsAnswer answer) { got = std::move(answer); });
        CHECK(got.status == row.status);
    }
    // One query each for the good and the missing name, both for the broken one.
    CHECK(dns->asked().size() == 4);
}

TEST_CASE("sessions on several threads share the answers" * doctest::test_suite("threads")) {
    auto dns = std::make_shared<ScriptedResolver>();
    for (int i = 0; i < 8; ++i)
        dns->add("host" + std::to_string(i) + ".example", DnsType::A,
                 {"192.0.2." + std::to_string(i + 1)});
    // The answers arrive on the resolver's thread, while other threads ask.
    auto later = std::make_shared<LaterResolver>(dns, std::chrono::milliseconds(1));
    auto shared = std::make_shared<SharedAnswers>(later);
    constexpr int threads = 4;
    constexpr int rounds = 50;
    std::atomic<int> wrong{0};
    std::atomic<int> answered{0};
    std::vector<std::thread> sessions;
    for (int t = 0; t < threads; ++t)
        sessions.emplace_back([&, t] {
            for (int i = 0; i < rounds; ++i) {
                const int host = (t + i) % 8;
                const auto lookups = Lookups::create(shared);
                const std::string name = "host" + std::to_string(host) + ".example";
                lookups->start(name, DnsType::A);
                lookups->start("missing.example", DnsType::A);
                lookups->wait_until(Lookups::Clock::now() + std::chrono::seconds(10));
                const auto &answer = lookups->get(name, DnsType::A);
                if (answer.records !=
                    std::vector<std::string>{"192.0.2." + std::to_string(host + 1)})
                    ++wrong;
                if (lookups->get("missing.example", DnsType::A).status !=
                    DnsAnswer::Status::nxdomain)
                    ++wrong;
                answered += 2;
            }
        });
    for (auto &session : sessions)
        session.join();
    CHECK(wrong == 0);
    CHECK(answered == 2 * threads * rounds);
    // Most of them from the cache: far fewer questions than lookups.
    CHECK(dns->asked().size() < static_cast<std::size_t>(answered));
}
