#include "core/lookups.hpp"
#include "../scripted_resolver.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
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

namespace {
// Keeps every callback for the test to answer when it likes.
class HeldResolver : public Resolver {
  public:
    void resolve(const std::string &name, DnsType, Callback done) override {
        std::lock_guard lock(mutex);
        kept.emplace_back(name, std::move(done));
    }
    Callback take(const std::string &name) {
        std::lock_guard lock(mutex);
        for (auto it = kept.begin(); it != kept.end(); ++it)
            if (it->first == name) {
                auto done = std::move(it->second);
                kept.erase(it);
                return done;
            }
        return {};
    }
    std::mutex mutex;
    std::vector<std::pair<std::string, Callback>> kept;
};

DnsAnswer records(std::vector<std::string> texts) {
    DnsAnswer answer;
    answer.status = DnsAnswer::Status::ok;
    answer.records = std::move(texts);
    return answer;
}
} // namespace

TEST_CASE("waiting for one lookup returns when it is in, not when all are" *
          doctest::test_suite("threads")) {
    auto resolver = std::make_shared<HeldResolver>();
    auto lookups = Lookups::create(resolver);
    lookups->start("one.example", DnsType::TXT);
    lookups->start("two.example", DnsType::TXT);
    const auto soon = [] { return Lookups::Clock::now() + std::chrono::milliseconds(30); };
    CHECK_FALSE(lookups->wait_for("one.example", DnsType::TXT, soon()));
    // Never started: false at once, whatever the deadline.
    const auto before = Lookups::Clock::now();
    CHECK_FALSE(lookups->wait_for("three.example", DnsType::TXT,
                                  Lookups::Clock::now() + std::chrono::seconds(5)));
    CHECK(Lookups::Clock::now() - before < std::chrono::seconds(1));
    auto answer_one = resolver->take("one.example");
    REQUIRE(answer_one);
    std::thread later([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        answer_one(records({"v=DKIM1; p="}));
    });
    CHECK(lookups->wait_for("One.Example.", DnsType::TXT,
                            Lookups::Clock::now() + std::chrono::seconds(5)));
    later.join();
    CHECK(lookups->get("one.example", DnsType::TXT).records.at(0) == "v=DKIM1; p=");
    // "two" is still out: waiting for all gives up, for "one" does not.
    CHECK_FALSE(lookups->wait_until(soon()));
    CHECK(lookups->wait_for("one.example", DnsType::TXT, soon()));
    CHECK_FALSE(lookups->wait_for("two.example", DnsType::TXT, soon()));
    // A released entry reads as never started.
    lookups->ask_for_transaction(true);
    lookups->start("four.example", DnsType::TXT);
    lookups->end_transaction();
    lookups->release_ended();
    CHECK_FALSE(lookups->wait_for("four.example", DnsType::TXT, soon()));
}

TEST_CASE("a lookup budget refuses new lookups beyond it and says so") {
    auto resolver = std::make_shared<ScriptedResolver>();
    auto lookups = Lookups::create(resolver, {}, {.max_lookups = 3});
    for (const char *name : {"a.example", "b.example", "c.example"})
        lookups->start(name, DnsType::A);
    CHECK_FALSE(lookups->exhausted());
    bool ran = false;
    lookups->start("d.example", DnsType::A, [&](const DnsAnswer &) { ran = true; });
    CHECK_FALSE(ran);
    CHECK(resolver->asked().size() == 3);
    CHECK(lookups->started() == 3);
    CHECK(lookups->get("d.example", DnsType::A).why == "lookup was never started");
    REQUIRE(lookups->exhausted());
    CHECK(lookups->exhausted()->budget == "lookups");
    CHECK(lookups->exhausted()->limit == 3);
    // What is held still answers; nothing new starts.
    lookups->start("a.example", DnsType::A, [&](const DnsAnswer &) { ran = true; });
    CHECK(ran);
    lookups->start("e.example", DnsType::A);
    CHECK(resolver->asked().size() == 3);
}

TEST_CASE("an answer-bytes budget counts the answer data held") {
    auto resolver = std::make_shared<ScriptedResolver>();
    resolver->add("small.example", DnsType::TXT, {std::string(60, 's')});
    resolver->add("big.example", DnsType::TXT, {std::string(50, 'b')});
    auto lookups = Lookups::create(resolver, {}, {.max_answer_bytes = 100});
    lookups->start("small.example", DnsType::TXT);
    CHECK(lookups->held_bytes() == 60);
    CHECK_FALSE(lookups->exhausted());
    lookups->start("big.example", DnsType::TXT);
    CHECK(lookups->held_bytes() == 110);
    REQUIRE(lookups->exhausted());
    CHECK(lookups->exhausted()->budget == "answer-bytes");
    CHECK(lookups->exhausted()->limit == 100);
    CHECK(lookups->exhausted()->reached == 110);
    lookups->start("more.example", DnsType::A);
    CHECK(resolver->asked().size() == 2);
}

TEST_CASE("a transaction's lookups are released after it unless the next asks again") {
    auto resolver = std::make_shared<ScriptedResolver>();
    resolver->add("ptr.example", DnsType::PTR, {"a.example"});
    resolver->add("a.example", DnsType::A, {"192.0.2.1"});
    resolver->add("one.example", DnsType::TXT, {std::string(100, '1')});
    resolver->add("two.example", DnsType::TXT, {std::string(100, '2')});
    resolver->add("include.example", DnsType::TXT, {std::string(100, 'i')});
    auto lookups = Lookups::create(resolver);
    // The session's own: a PTR and what its continuation asks.
    lookups->start("ptr.example", DnsType::PTR, [&](const DnsAnswer &answer) {
        lookups->start(answer.records.front(), DnsType::A);
    });
    // The first transaction: two TXT records, one asked by a continuation.
    lookups->ask_for_transaction(true);
    lookups->start("one.example", DnsType::TXT,
                   [&](const DnsAnswer &) { lookups->start("include.example", DnsType::TXT); });
    lookups->start("two.example", DnsType::TXT);
    lookups->ask_for_transaction(false);
    CHECK(lookups->held() == 5);
    CHECK(lookups->held_bytes() == 300 + std::string("a.example192.0.2.1").size());

    // The second transaction asks for two.example again, not the others.
    lookups->end_transaction();
    lookups->ask_for_transaction(true);
    lookups->start("two.example", DnsType::TXT);
    lookups->ask_for_transaction(false);
    lookups->release_ended();
    CHECK(lookups->held() == 3);
    CHECK(lookups->complete("ptr.example", DnsType::PTR));
    CHECK(lookups->complete("a.example", DnsType::A));
    CHECK(lookups->complete("two.example", DnsType::TXT));
    CHECK_FALSE(lookups->complete("one.example", DnsType::TXT));
    CHECK_FALSE(lookups->complete("include.example", DnsType::TXT));
    CHECK(lookups->get("one.example", DnsType::TXT).why == "lookup was never started");
    CHECK(lookups->held_bytes() == 100 + std::string("a.example192.0.2.1").size());
    CHECK(resolver->asked().size() == 5); // two.example was not asked again

    // A lookup the session asks for as well stays the session's.
    lookups->ask_for_transaction(true);
    lookups->start("shared.example", DnsType::A);
    lookups->ask_for_transaction(false);
    lookups->start("shared.example", DnsType::A);
    lookups->end_transaction();
    lookups->release_ended();
    CHECK(lookups->complete("shared.example", DnsType::A));
    CHECK_FALSE(lookups->complete("two.example", DnsType::TXT));
}

TEST_CASE("a late answer for a released lookup is dropped, and an ended transaction's "
          "continuation never runs") {
    auto resolver = std::make_shared<HeldResolver>();
    auto lookups = Lookups::create(resolver);
    bool released_ran = false;
    bool kept_ran = false;
    lookups->ask_for_transaction(true);
    lookups->start("released.example", DnsType::A, [&](const DnsAnswer &) { released_ran = true; });
    lookups->start("kept.example", DnsType::A, [&](const DnsAnswer &) { kept_ran = true; });
    lookups->ask_for_transaction(false);
    lookups->end_transaction();
    // The next transaction asks for kept.example again, without a continuation.
    lookups->ask_for_transaction(true);
    lookups->start("kept.example", DnsType::A);
    lookups->ask_for_transaction(false);
    lookups->release_ended();
    // Nothing held is pending but kept.example.
    CHECK_FALSE(lookups->wait_until(Lookups::Clock::now() + std::chrono::milliseconds(20)));

    auto released = resolver->take("released.example");
    auto kept = resolver->take("kept.example");
    REQUIRE(released);
    REQUIRE(kept);
    released(records({"192.0.2.1"}));
    kept(records({"192.0.2.2"}));
    CHECK_FALSE(released_ran);
    CHECK_FALSE(kept_ran); // it continued the transaction that ended
    CHECK_FALSE(lookups->complete("released.example", DnsType::A));
    CHECK(lookups->get("kept.example", DnsType::A).records ==
          std::vector<std::string>{"192.0.2.2"});
    CHECK(lookups->wait_until(Lookups::Clock::now() + std::chrono::milliseconds(20)));
    CHECK(lookups->held_bytes() == std::string("192.0.2.2").size());
}

// The answer a continuation reads stays valid while the session's thread
// releases its entry: the continuation runs on the resolver's thread.
TEST_CASE("a continuation still reads its answer while the session releases it") {
    auto resolver = std::make_shared<HeldResolver>();
    auto lookups = Lookups::create(resolver);
    std::mutex mutex;
    std::condition_variable changed;
    bool reading = false;
    bool released = false;
    std::string seen;
    lookups->ask_for_transaction(true);
    lookups->start("txt.example", DnsType::TXT, [&](const DnsAnswer &answer) {
        std::unique_lock lock(mutex);
        reading = true;
        changed.notify_all();
        changed.wait(lock, [&] { return released; });
        seen = answer.records.front(); // after the entry was released
    });
    lookups->ask_for_transaction(false);
    auto done = resolver->take("txt.example");
    REQUIRE(done);
    std::thread answering([&] { done(records({std::string(4096, 't')})); });
    {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return reading; });
    }
    // The transaction ends while its continuation runs.
    lookups->end_transaction();
    lookups->release_ended();
    CHECK_FALSE(lookups->complete("txt.example", DnsType::TXT));
    {
        std::lock_guard lock(mutex);
        released = true;
    }
    changed.notify_all();
    answering.join();
    CHECK(seen == std::string(4096, 't'));
    CHECK(lookups->held_bytes() == 0);
    CHECK(lookups->wait_until(Lookups::Clock::now() + std::chrono::milliseconds(20)));
}
