// reverse-dns: rdns-missing and rdns-unconfirmed over scripted DNS, and
// the host-name syntax it shares with the HELO checks.
#include "check_harness.hpp"
#include "core/host_name.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <mutex>
#include <thread>

using namespace portcullis;
using portcullis::testing::CheckHarness;
using portcullis::testing::ScriptedResolver;

namespace {

const CheckResult *result_for(const std::vector<CheckResult> &results, std::string_view rule) {
    for (const auto &result : results)
        if (result.rule == rule)
            return &result;
    return nullptr;
}

Outcome outcome_of(const std::vector<CheckResult> &results, std::string_view rule) {
    const auto *result = result_for(results, rule);
    REQUIRE_MESSAGE(result, "no result for " << rule);
    return result->outcome;
}

// Answers from the script on another thread, as libunbound does.
struct ThreadedResolver : Resolver {
    explicit ThreadedResolver(std::shared_ptr<ScriptedResolver> script)
        : script(std::move(script)) {}
    // Call before the Lookups go: a worker must never hold their last reference.
    void join() {
        std::lock_guard lock(mutex);
        for (auto &thread : threads)
            thread.join();
        threads.clear();
    }
    void resolve(const std::string &name, DnsType type, Callback done) override {
        std::lock_guard lock(mutex);
        threads.emplace_back([this, name, type, done = std::move(done)] {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            script->resolve(name, type, done);
        });
    }
    std::shared_ptr<ScriptedResolver> script;
    std::mutex mutex;
    std::vector<std::thread> threads;
};

// A resolver that never answers: lookups stay incomplete.
struct SilentResolver : Resolver {
    void resolve(const std::string &, DnsType, Callback) override {}
};

// 5 labels of 60 bytes: every label is fine, the name is too long.
const std::string long_name = std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                              std::string(60, 'c') + "." + std::string(60, 'd') + "." +
                              std::string(60, 'e') + ".example";

} // namespace

TEST_CASE("host_name_problem applies RFC 1035/5321 host name syntax") {
    struct Row {
        std::string name;
        bool allow_underscore;
        std::string problem; // "" = valid
    };
    const std::vector<Row> rows = {
        {"mail.example.com", false, ""},
        {"mail.example.com.", false, ""},
        {"MAIL.Example.COM", false, ""},
        {"localhost", false, ""},
        {"a-b.c-d.example", false, ""},
        {"xn--bcher-kva.example", false, ""},
        {"", false, "empty name"},
        {".", false, "empty name"},
        {"a..b", false, "empty label"},
        {".example", false, "empty label"},
        {"mail.example..", false, "empty label"},
        {"-mail.example", false, "label starts or ends with a hyphen"},
        {"mail-.example", false, "label starts or ends with a hyphen"},
        {"mail_1.example", false, "underscore"},
        {"mail_1.example", true, ""},
        {std::string(64, 'a') + ".example", false, "label longer than 63 bytes"},
        {std::string(63, 'a') + ".example", false, ""},
        {long_name, false, "longer than 253 bytes"},
        {std::string("mail\0.example", 13), false, "byte 0x00"},
        {"m\xc3\xa4il.example", false, "byte 0xc3"},
        {"mail example", false, "byte 0x20"},
        {"mail/example", false, "character '/'"},
        {"1.2.3.4", false, "the last label is all digits"},
        {"mail.example.123", false, "the last label is all digits"},
        {"123", false, "the last label is all digits"},
        {"mail.123.example", false, ""},
    };
    for (const auto &row : rows) {
        CAPTURE(row.name);
        CHECK(host_name_problem(row.name, row.allow_underscore) == row.problem);
    }
}

TEST_CASE("ptr_names_to_confirm keeps usable names, lower-case, unique, bounded") {
    DnsAnswer answer;
    answer.status = DnsAnswer::Status::ok;
    answer.records = {"Mail.Example.COM.", "",        "bad name",  "mail.example.com",
                      "192.0.2.1",         long_name, "b.example", "c.example"};
    CHECK(ptr_names_to_confirm(answer, 10) ==
          std::vector<std::string>{"mail.example.com", "b.example", "c.example"});
    CHECK(ptr_names_to_confirm(answer, 2) ==
          std::vector<std::string>{"mail.example.com", "b.example"});
    answer.status = DnsAnswer::Status::nxdomain;
    CHECK(ptr_names_to_confirm(answer, 10).empty());
}

TEST_CASE("reverse-dns reports rdns-missing and rdns-unconfirmed") {
    using S = DnsAnswer::Status;
    struct Row {
        std::string what;
        std::optional<std::string> client;
        std::function<void(ScriptedResolver &)> script;
        Outcome missing;
        Outcome unconfirmed;
        const char *detail = ""; // expected in one of the details
    };
    const std::string v4 = "1.2.0.192.in-addr.arpa";
    const std::string v6 =
        "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
    const std::vector<Row> rows = {
        {"confirmed IPv4", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"mail.example.com"});
             dns.add("mail.example.com", DnsType::A, {"192.0.2.1"});
         },
         Outcome::pass, Outcome::pass, "mail.example.com resolves back to 192.0.2.1"},
        {"no PTR (NXDOMAIN)", "192.0.2.1", [](ScriptedResolver &) {}, Outcome::fail, Outcome::skip,
         "no PTR record for 192.0.2.1 (nxdomain)"},
        {"no PTR (NODATA)", "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.add(v4, DnsType::PTR, {}); }, Outcome::fail,
         Outcome::skip, "nodata"},
        {"PTR servfail", "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.fail(v4, DnsType::PTR, S::servfail); }, Outcome::error,
         Outcome::error, "PTR lookup of 1.2.0.192.in-addr.arpa failed: servfail"},
        {"PTR timeout", "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.fail(v4, DnsType::PTR, S::timeout); }, Outcome::error,
         Outcome::error, "timeout"},
        {"PTR bogus", "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.fail(v4, DnsType::PTR, S::bogus); }, Outcome::error,
         Outcome::error, "bogus"},
        {"forward points elsewhere", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"forged.example"});
             dns.add("forged.example", DnsType::A, {"198.51.100.1"});
         },
         Outcome::pass, Outcome::fail, "forged.example/A 198.51.100.1"},
        {"forward NXDOMAIN", "192.0.2.1",
         [&](ScriptedResolver &dns) { dns.add(v4, DnsType::PTR, {"gone.example"}); }, Outcome::pass,
         Outcome::fail, "gone.example/A nxdomain"},
        {"forward servfail", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"broken.example"});
             dns.fail("broken.example", DnsType::A, S::servfail);
         },
         Outcome::pass, Outcome::error, "lookups failed: broken.example/A servfail"},
        {"one forward fails, another confirms", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"broken.example", "mail.example.com"});
             dns.fail("broken.example", DnsType::A, S::timeout);
             dns.add("mail.example.com", DnsType::A, {"192.0.2.1"});
         },
         Outcome::pass, Outcome::pass, "mail.example.com resolves back"},
        {"one forward NXDOMAIN, another fails", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"gone.example", "broken.example"});
             dns.fail("broken.example", DnsType::A, S::timeout);
         },
         Outcome::pass, Outcome::error, "broken.example/A timeout"},
        {"only unusable PTR records", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR,
                     {"", "bad name", "a..b", std::string("nul\0.example", 12), long_name,
                      "m\xc3\xa4il.example", "192.0.2.1"});
         },
         Outcome::fail, Outcome::skip, "no usable PTR record"},
        {"unusable and usable PTR records", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"bad name", "Mail.Example.COM."});
             dns.add("mail.example.com", DnsType::A, {"192.0.2.1"});
         },
         Outcome::pass, Outcome::pass},
        {"underscore PTR name is usable", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"mail_1.example.com"});
             dns.add("mail_1.example.com", DnsType::A, {"192.0.2.1"});
         },
         Outcome::pass, Outcome::pass},
        {"garbage forward records are ignored", "192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"mail.example.com"});
             dns.add("mail.example.com", DnsType::A, {"not an address", "", "192.0.2.1"});
         },
         Outcome::pass, Outcome::pass},
        {"confirmed IPv6", "2001:db8::25",
         [&](ScriptedResolver &dns) {
             dns.add(v6, DnsType::PTR, {"mail6.example.com"});
             dns.add("mail6.example.com", DnsType::AAAA, {"2001:db8::25"});
         },
         Outcome::pass, Outcome::pass},
        {"IPv6 confirmed only by an A record is not confirmed", "2001:db8::25",
         [&](ScriptedResolver &dns) {
             dns.add(v6, DnsType::PTR, {"mail6.example.com"});
             dns.add("mail6.example.com", DnsType::A, {"192.0.2.1"});
             dns.add("mail6.example.com", DnsType::AAAA, {"2001:db8::26"});
         },
         Outcome::pass, Outcome::fail, "2001:db8::26"},
        {"IPv6 PTR NXDOMAIN", "2001:db8::25", [](ScriptedResolver &) {}, Outcome::fail,
         Outcome::skip},
        {"IPv6 PTR timeout", "2001:db8::25",
         [&](ScriptedResolver &dns) { dns.fail(v6, DnsType::PTR, S::timeout); }, Outcome::error,
         Outcome::error},
        {"IPv6 AAAA servfail", "2001:db8::25",
         [&](ScriptedResolver &dns) {
             dns.add(v6, DnsType::PTR, {"mail6.example.com"});
             dns.fail("mail6.example.com", DnsType::AAAA, S::servfail);
         },
         Outcome::pass, Outcome::error},
        {"IPv4-mapped client is treated as IPv4", "::ffff:192.0.2.1",
         [&](ScriptedResolver &dns) {
             dns.add(v4, DnsType::PTR, {"mail.example.com"});
             dns.add("mail.example.com", DnsType::A, {"192.0.2.1"});
         },
         Outcome::pass, Outcome::pass, "resolves back to 192.0.2.1"},
        {"no client address", std::nullopt, [](ScriptedResolver &) {}, Outcome::skip, Outcome::skip,
         "no client IP address"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.what);
        CheckHarness harness(row.client);
        row.script(*harness.dns);
        const auto results = harness.run("reverse-dns");
        REQUIRE(results.size() == 2);
        for (const auto &result : results)
            CHECK(result.check == "reverse-dns");
        CHECK(outcome_of(results, "rdns-missing") == row.missing);
        CHECK(outcome_of(results, "rdns-unconfirmed") == row.unconfirmed);
        const std::string details = results[0].detail + " | " + results[1].detail;
        CAPTURE(details);
        CHECK(details.find(row.detail) != std::string::npos);
        for (const auto &result : results)
            for (char c : result.detail)
                CHECK((c >= 0x20 && c < 0x7f));
    }
}

TEST_CASE("reverse-dns confirms only the first rdns.max-names PTR names") {
    CheckHarness harness("192.0.2.1");
    harness.config.rdns_max_names = 2;
    harness.dns->add("1.2.0.192.in-addr.arpa", DnsType::PTR,
                     {"a.example", "b.example", "mail.example.com"});
    harness.dns->add("mail.example.com", DnsType::A, {"192.0.2.1"});
    const auto results = harness.run("reverse-dns");
    CHECK(outcome_of(results, "rdns-unconfirmed") == Outcome::fail);
    CHECK(result_for(results, "rdns-unconfirmed")->detail.find("checked 2 of 3 names") !=
          std::string::npos);
    for (const auto &[name, type] : harness.dns->asked())
        CHECK(name != "mail.example.com");
}

TEST_CASE("reverse-dns asks PTR, then A for IPv4 and AAAA for IPv6 clients") {
    struct Row {
        std::string client;
        std::string ptr_name;
        DnsType forward;
    };
    const std::vector<Row> rows = {
        {"192.0.2.1", "1.2.0.192.in-addr.arpa", DnsType::A},
        {"::ffff:192.0.2.1", "1.2.0.192.in-addr.arpa", DnsType::A},
        {"2001:db8::25", "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
         DnsType::AAAA},
    };
    for (const auto &row : rows) {
        CAPTURE(row.client);
        CheckHarness harness(row.client);
        harness.dns->add(row.ptr_name, DnsType::PTR, {"mail.example.com"});
        harness.run("reverse-dns");
        const std::vector<std::pair<std::string, DnsType>> expected = {
            {row.ptr_name, DnsType::PTR}, {"mail.example.com", row.forward}};
        CHECK(harness.dns->asked() == expected);
    }
}

TEST_CASE("reverse-dns reads a lookup that never completed as an error") {
    CheckHarness harness("192.0.2.1");
    harness.lookups = Lookups::create(std::make_shared<SilentResolver>());
    harness.lookups->wait_until(Lookups::Clock::now()); // the budget is gone
    const auto results = harness.run("reverse-dns");
    CHECK(outcome_of(results, "rdns-missing") == Outcome::error);
    CHECK(outcome_of(results, "rdns-unconfirmed") == Outcome::error);
}

TEST_CASE("reverse-dns waits for forward lookups started by the PTR answer" *
          doctest::test_suite("threads")) {
    CheckHarness harness("192.0.2.1");
    auto threaded = std::make_shared<ThreadedResolver>(harness.dns);
    harness.lookups = Lookups::create(threaded);
    harness.dns->add("1.2.0.192.in-addr.arpa", DnsType::PTR, {"a.example", "mail.example.com"});
    harness.dns->add("mail.example.com", DnsType::A, {"192.0.2.1"});
    const auto results = harness.run("reverse-dns");
    threaded->join();
    CHECK(outcome_of(results, "rdns-missing") == Outcome::pass);
    CHECK(outcome_of(results, "rdns-unconfirmed") == Outcome::pass);
    CHECK(harness.lookups->started() == 3);
}
