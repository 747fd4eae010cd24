#include "core/lookups.hpp"
#include "session/shared_answers.hpp"
#include "../later_resolver.hpp"
#include "../scripted_resolver.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
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

namespace {

// A clock the test moves by hand.
struct FakeClock {
    std::shared_ptr<SharedAnswers::Clock::time_point> now =
        std::make_shared<SharedAnswers::Clock::time_point>(SharedAnswers::Clock::now());
    std::function<SharedAnswers::Clock::time_point()> function() const {
        return [now = now] { return *now; };
    }
    void advance(std::chrono::seconds by) const { *now += by; }
};

DnsAnswer ask(SharedAnswers &shared, const std::string &name, DnsType type = DnsType::A) {
    DnsAnswer got;
    shared.resolve(name, type, [&](DnsAnswer answer) { got = std::move(answer); });
    return got;
}

std::size_t times_asked(const ScriptedResolver &dns, const std::string &name) {
    std::size_t count = 0;
    for (const auto &[asked, type] : dns.asked())
        count += asked == name;
    return count;
}

} // namespace

TEST_CASE("an answer is kept for its TTL, at most cache-max-ttl") {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->add("short.example", DnsType::A, {"192.0.2.1"}, 60);
    dns->add("long.example", DnsType::A, {"192.0.2.2"}, 86400);
    FakeClock clock;
    SharedAnswers::Limits limits;
    limits.max_ttl = std::chrono::seconds(3600);
    auto shared = std::make_shared<SharedAnswers>(dns, limits, clock.function());
    CHECK(ask(*shared, "short.example").records == std::vector<std::string>{"192.0.2.1"});
    ask(*shared, "long.example");
    clock.advance(std::chrono::seconds(59));
    // Handed out again as it arrived, with the TTL it came with.
    const auto again = ask(*shared, "short.example");
    CHECK(again.records == std::vector<std::string>{"192.0.2.1"});
    CHECK(again.ttl == 60);
    CHECK(times_asked(*dns, "short.example") == 1);
    clock.advance(std::chrono::seconds(1)); // 60 s: its TTL is over
    ask(*shared, "short.example");
    CHECK(times_asked(*dns, "short.example") == 2);
    clock.advance(std::chrono::seconds(3600 - 60 - 1));
    ask(*shared, "long.example");
    CHECK(times_asked(*dns, "long.example") == 1);
    clock.advance(std::chrono::seconds(1)); // an hour: cache-max-ttl, not its day
    ask(*shared, "long.example");
    CHECK(times_asked(*dns, "long.example") == 2);
}

TEST_CASE("NXDOMAIN and NODATA are kept for the negative-caching TTL they came with") {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->add("exists.example", DnsType::A, {"192.0.2.1"});
    DnsAnswer nxdomain;
    nxdomain.status = DnsAnswer::Status::nxdomain;
    nxdomain.ttl = 900; // the SOA minimum of its zone
    dns->set("gone.example", DnsType::A, nxdomain);
    FakeClock clock;
    auto shared = std::make_shared<SharedAnswers>(dns, SharedAnswers::Limits{}, clock.function());
    CHECK(ask(*shared, "gone.example").status == DnsAnswer::Status::nxdomain);
    CHECK(ask(*shared, "exists.example", DnsType::MX).status == DnsAnswer::Status::nodata);
    clock.advance(std::chrono::seconds(299));
    ask(*shared, "gone.example");
    ask(*shared, "exists.example", DnsType::MX);
    CHECK(dns->asked().size() == 2);
    clock.advance(std::chrono::seconds(1)); // 300 s: the NODATA's TTL, not the NXDOMAIN's
    ask(*shared, "gone.example");
    ask(*shared, "exists.example", DnsType::MX);
    CHECK(times_asked(*dns, "gone.example") == 1);
    CHECK(times_asked(*dns, "exists.example") == 2);
    clock.advance(std::chrono::seconds(600));
    ask(*shared, "gone.example");
    CHECK(times_asked(*dns, "gone.example") == 2);
}

TEST_CASE("errors and answers without a TTL are never kept") {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->fail("servfail.example", DnsType::A, DnsAnswer::Status::servfail);
    dns->fail("timeout.example", DnsType::A, DnsAnswer::Status::timeout);
    dns->fail("bogus.example", DnsType::A, DnsAnswer::Status::bogus);
    dns->add("zero.example", DnsType::A, {"192.0.2.9"}, 0);
    // Even an error that says it may be kept is not.
    DnsAnswer timed_out;
    timed_out.status = DnsAnswer::Status::timeout;
    timed_out.ttl = 3600;
    dns->set("ttl-timeout.example", DnsType::A, timed_out);
    auto shared = std::make_shared<SharedAnswers>(dns);
    for (const char *name : {"servfail.example", "timeout.example", "bogus.example", "zero.example",
                             "ttl-timeout.example"}) {
        CAPTURE(name);
        ask(*shared, name);
        ask(*shared, name);
        CHECK(times_asked(*dns, name) == 2);
    }
    CHECK(shared->entries() == 0);
    CHECK(shared->bytes() == 0);
}

TEST_CASE("beyond cache-entries the answer used longest ago goes first") {
    auto dns = std::make_shared<ScriptedResolver>();
    for (const char *name : {"a.example", "b.example", "c.example", "d.example"})
        dns->add(name, DnsType::A, {"192.0.2.1"});
    SharedAnswers::Limits limits;
    limits.max_entries = 3;
    auto shared = std::make_shared<SharedAnswers>(dns, limits);
    ask(*shared, "a.example");
    ask(*shared, "b.example");
    ask(*shared, "c.example");
    ask(*shared, "a.example"); // a used again: b is now the oldest use
    ask(*shared, "d.example");
    CHECK(shared->entries() == 3);
    ask(*shared, "a.example");
    ask(*shared, "c.example");
    ask(*shared, "d.example");
    CHECK(times_asked(*dns, "a.example") == 1);
    CHECK(times_asked(*dns, "c.example") == 1);
    CHECK(times_asked(*dns, "d.example") == 1);
    ask(*shared, "b.example"); // evicted: asked again
    CHECK(times_asked(*dns, "b.example") == 2);

    SharedAnswers::Limits none;
    none.max_entries = 0;
    auto off = std::make_shared<SharedAnswers>(dns, none);
    ask(*off, "a.example");
    ask(*off, "a.example");
    CHECK(off->entries() == 0);
}

TEST_CASE("beyond cache-size in bytes the answer used longest ago goes first") {
    auto dns = std::make_shared<ScriptedResolver>();
    const std::string long_text(1000, 't');
    for (const char *name : {"a.example", "b.example", "c.example"})
        dns->add(name, DnsType::TXT, {long_text});
    dns->add("huge.example", DnsType::TXT, {std::string(5000, 'h')});
    DnsAnswer one;
    dns->resolve("a.example", DnsType::TXT, [&](DnsAnswer answer) { one = std::move(answer); });
    const std::size_t each = SharedAnswers::size_of("16 a.example", one);
    CHECK(each > 1000);
    SharedAnswers::Limits limits;
    limits.max_bytes = 2 * each + each / 2; // room for two
    auto shared = std::make_shared<SharedAnswers>(dns, limits);
    ask(*shared, "a.example", DnsType::TXT);
    ask(*shared, "b.example", DnsType::TXT);
    CHECK(shared->entries() == 2);
    CHECK(shared->bytes() == 2 * each);
    ask(*shared, "c.example", DnsType::TXT); // a goes
    CHECK(shared->entries() == 2);
    CHECK(shared->bytes() <= limits.max_bytes);
    ask(*shared, "b.example", DnsType::TXT); // kept: used after a
    ask(*shared, "a.example", DnsType::TXT); // asked again (once here, once for its size)
    CHECK(times_asked(*dns, "b.example") == 1);
    CHECK(times_asked(*dns, "a.example") == 3);
    ask(*shared, "b.example", DnsType::TXT); // c went for a, not b
    CHECK(times_asked(*dns, "b.example") == 1);
    // An answer larger than the whole cache is not kept, and evicts nothing.
    const auto before = shared->entries();
    ask(*shared, "huge.example", DnsType::TXT);
    ask(*shared, "huge.example", DnsType::TXT);
    CHECK(times_asked(*dns, "huge.example") == 2);
    CHECK(shared->entries() == before);
}

TEST_CASE("a cached answer is given on the asking thread, at once") {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->add("mail.example", DnsType::A, {"192.0.2.1"});
    auto later = std::make_shared<LaterResolver>(dns, std::chrono::milliseconds(5));
    auto shared = std::make_shared<SharedAnswers>(later);
    std::atomic<bool> first{false};
    shared->resolve("mail.example", DnsType::A, [&](DnsAnswer) { first = true; });
    for (int i = 0; i < 400 && !first; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(first);
    bool second = false;
    std::thread::id where;
    shared->resolve("mail.example", DnsType::A, [&](DnsAnswer answer) {
        second = answer.has_records();
        where = std::this_thread::get_id();
    });
    CHECK(second); // before resolve() returned
    CHECK(where == std::this_thread::get_id());
    CHECK(dns->asked().size() == 1);
}
