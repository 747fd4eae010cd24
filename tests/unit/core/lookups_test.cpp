#include "core/lookups.hpp"
#include "../scripted_resolver.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace portcullis;
using portcullis::testing::ScriptedResolver;

namespace {
// Answers later, from another thread, like the real resolver.
class DelayedResolver : public Resolver {
  public:
    void resolve(const std::string &name, DnsType, Callback done) override {
        ++calls;
        threads.emplace_back([name, done = std::move(done)] {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            DnsAnswer answer;
            answer.status = DnsAnswer::Status::ok;
            answer.records = {name == "ptr.example" ? "a.example" : "192.0.2.1"};
            done(answer);
        });
    }
    void join() {
        for (auto &thread : threads)
            thread.join();
        threads.clear();
    }
    std::atomic<int> calls{0};
    std::vector<std::thread> threads;
};
} // namespace

TEST_CASE("a lookup is asked once per session and read back") {
    auto resolver = std::make_shared<ScriptedResolver>();
    resolver->add("mail.example", DnsType::A, {"192.0.2.1"});
    auto lookups = Lookups::create(resolver);
    lookups->start("mail.example", DnsType::A);
    lookups->start("MAIL.example.", DnsType::A);
    CHECK(resolver->asked().size() == 1);
    CHECK(lookups->get("mail.example", DnsType::A).records ==
          std::vector<std::string>{"192.0.2.1"});
    CHECK(lookups->get("other.example", DnsType::A).status == DnsAnswer::Status::timeout);
    CHECK(lookups->get("mail.example", DnsType::AAAA).is_error());
}

TEST_CASE("waiting covers lookups started by continuations" * doctest::test_suite("threads")) {
    auto resolver = std::make_shared<DelayedResolver>();
    auto lookups = Lookups::create(resolver);
    lookups->start("ptr.example", DnsType::PTR, [&](const DnsAnswer &answer) {
        for (const auto &name : answer.records)
            lookups->start(name, DnsType::A);
    });
    CHECK(lookups->wait_until(Lookups::Clock::now() + std::chrono::seconds(5)));
    CHECK(lookups->complete("a.example", DnsType::A));
    CHECK(resolver->calls == 2);
    resolver->join();
}

TEST_CASE("a continuation added after completion runs at once, and errors are reported once") {
    auto resolver = std::make_shared<ScriptedResolver>();
    resolver->fail("broken.example", DnsType::A, DnsAnswer::Status::servfail);
    int errors = 0;
    auto lookups = Lookups::create(
        resolver, [&](const std::string &, DnsType, const DnsAnswer &) { ++errors; });
    lookups->start("broken.example", DnsType::A);
    bool ran = false;
    lookups->start("broken.example", DnsType::A, [&](const DnsAnswer &answer) {
        ran = answer.status == DnsAnswer::Status::servfail;
    });
    CHECK(ran);
    CHECK(errors == 1);
}

TEST_CASE("waiting gives up at the deadline") {
    class SilentResolver : public Resolver {
      public:
        void resolve(const std::string &, DnsType, Callback done) override {
            kept.push_back(std::move(done));
        }
        std::vector<Callback> kept;
    };
    auto resolver = std::make_shared<SilentResolver>();
    auto lookups = Lookups::create(resolver);
    lookups->start("slow.example", DnsType::A);
    CHECK_FALSE(lookups->wait_until(Lookups::Clock::now() + std::chrono::milliseconds(50)));
    CHECK(lookups->get("slow.example", DnsType::A).status == DnsAnswer::Status::timeout);
    // A late answer after the deadline is still taken, exactly once.
    DnsAnswer late;
    late.status = DnsAnswer::Status::nxdomain;
    resolver->kept.front()(late);
    resolver->kept.front()(late);
    CHECK(lookups->get("slow.example", DnsType::A).status == DnsAnswer::Status::nxdomain);
}
