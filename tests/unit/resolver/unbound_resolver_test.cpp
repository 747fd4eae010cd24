// UnboundResolver against libunbound's own local data: hermetic, no
// network. Every test also forwards to a UDP socket on 127.0.0.1 that
// never answers, so a name missing from the local data times out instead
// of reaching the internet.
#include "resolver/unbound_resolver.hpp"
#include "../silent_dns_server.hpp"

#include "core/address.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unbound.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace portcullis;
using namespace std::chrono_literals;
using Status = DnsAnswer::Status;

namespace {

using SilentServer = portcullis::testing::SilentDnsServer;

const char *const local_data = R"(server:
    local-zone: "test." nodefault
    local-zone: "example.test." static
    local-data: "example.test. 300 IN MX 10 mail.example.test."
    local-data: "example.test. 300 IN MX 20 backup.example.test."
    local-data: 'example.test. 300 IN TXT "v=spf1 -all"'
    local-data: "mail.example.test. 300 IN A 192.0.2.1"
    local-data: "mail.example.test. 300 IN AAAA 2001:db8::25"
    local-data: "backup.example.test. 300 IN A 192.0.2.2"
    local-data: "backup.example.test. 300 IN A 192.0.2.3"
    local-data: 'multi.example.test. 300 IN TXT "part one " "part two"'
    local-data: 'ctrl.example.test. 300 IN TXT "bell\007tab\009cr\013lf\010end"'
    local-data: "alias.example.test. 300 IN CNAME mail.example.test."
    local-data: "dangling.example.test. 300 IN CNAME nothing.example.test."
    local-data: "ttl.example.test. 123 IN A 192.0.2.9"
    local-data: "ttl-alias.example.test. 60 IN CNAME ttl.example.test."
    local-zone: "negative.test." static
    local-data: "negative.test. 3600 IN SOA ns.negative.test. hostmaster.negative.test. 1 3600 600 86400 77"
    local-data: "host.negative.test. 3600 IN A 192.0.2.10"
    local-zone: "2.0.192.in-addr.arpa." static
    local-data: "1.2.0.192.in-addr.arpa. 300 IN PTR Mail.Example.Test."
    local-zone: "8.b.d.0.1.0.0.2.ip6.arpa." static
    local-data: "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR mail.example.test."
)";

// A temporary directory holding an unbound.conf with the local data.
class TestZone {
  public:
    TestZone() {
        std::string pattern = (std::filesystem::temp_directory_path() / "portcullis-XXXXXX");
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        directory_ = pattern;
        std::ofstream(config_file()) << local_data;
    }
    ~TestZone() { std::filesystem::remove_all(directory_); }
    std::string config_file() const { return directory_ / "unbound.conf"; }
    std::string directory() const { return directory_; }

  private:
    std::filesystem::path directory_;
};

struct Fixture {
    TestZone zone;
    SilentServer server;

    Config::Resolver settings(std::chrono::milliseconds timeout = 3s) const {
        Config::Resolver settings;
        settings.forward = {server.forward()};
        settings.dnssec = false;
        settings.unbound_config = zone.config_file();
        settings.timeout = timeout;
        settings.msg_cache_size = 4u << 20;
        settings.rrset_cache_size = 4u << 20;
        settings.outgoing_range = 64;
        return settings;
    }
};

// Collects completions; counts every call so that "exactly once" shows.
class Completions {
  public:
    explicit Completions(std::size_t expected) : answers_(expected), calls_(expected, 0) {}

    Resolver::Callback slot(std::size_t index) {
        return [this, index](DnsAnswer answer) {
            std::lock_guard lock(mutex_);
            if (calls_[index]++ == 0)
                answers_[index] = std::move(answer);
            ++total_;
            changed_.notify_all();
        };
    }
    bool wait(std::chrono::milliseconds limit) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, limit, [this] { return total_ >= calls_.size(); });
    }
    std::size_t total() {
        std::lock_guard lock(mutex_);
        return total_;
    }
    int calls(std::size_t index) {
        std::lock_guard lock(mutex_);
        return calls_[index];
    }
    DnsAnswer answer(std::size_t index) {
        std::lock_guard lock(mutex_);
        return answers_[index].value_or(DnsAnswer{});
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::optional<DnsAnswer>> answers_;
    std::vector<int> calls_;
    std::size_t total_ = 0;
};

DnsAnswer lookup(Resolver &resolver, const std::string &name, DnsType type) {
    Completions done(1);
    resolver.resolve(name, type, done.slot(0));
    REQUIRE(done.wait(5s));
    return done.answer(0);
}

std::string what_thrown(const Config::Resolver &settings) {
    try {
        UnboundResolver resolver(settings);
    } catch (const std::runtime_error &error) {
        return error.what();
    }
    return "";
}

} // namespace

TEST_CASE_FIXTURE(Fixture, "local data answers each record type as documented") {
    struct Case {
        const char *name;
        DnsType type;
        Status status;
        std::vector<std::string> records;
        std::string canonical_name;
    };
    const auto v6_reverse = IpAddress::parse("2001:db8::25")->reverse_name();
    const Case cases[] = {
        {"mail.example.test", DnsType::A, Status::ok, {"192.0.2.1"}, ""},
        {"MAIL.example.test.", DnsType::A, Status::ok, {"192.0.2.1"}, ""},
        {"backup.example.test", DnsType::A, Status::ok, {"192.0.2.2", "192.0.2.3"}, ""},
        {"mail.example.test", DnsType::AAAA, Status::ok, {"2001:db8::25"}, ""},
        {"1.2.0.192.in-addr.arpa", DnsType::PTR, Status::ok, {"mail.example.test"}, ""},
        {v6_reverse.c_str(), DnsType::PTR, Status::ok, {"mail.example.test"}, ""},
        {"example.test",
         DnsType::MX,
         Status::ok,
         {"10 mail.example.test", "20 backup.example.test"},
         ""},
        {"example.test", DnsType::TXT, Status::ok, {"v=spf1 -all"}, ""},
        {"multi.example.test", DnsType::TXT, Status::ok, {"part one part two"}, ""},
        {"ctrl.example.test", DnsType::TXT, Status::ok, {"bell\atab\tcr\rlf\nend"}, ""},
        {"alias.example.test", DnsType::A, Status::ok, {"192.0.2.1"}, "mail.example.test"},
        {"alias.example.test", DnsType::CNAME, Status::ok, {"mail.example.test"}, ""},
        {"dangling.example.test", DnsType::A, Status::nxdomain, {}, "nothing.example.test"},
        {"nope.example.test", DnsType::A, Status::nxdomain, {}, ""},
        {"3.2.0.192.in-addr.arpa", DnsType::PTR, Status::nxdomain, {}, ""},
        {"mail.example.test", DnsType::MX, Status::nodata, {}, ""},
        {"mail.example.test", DnsType::TXT, Status::nodata, {}, ""},
        {"example.test", DnsType::A, Status::nodata, {}, ""},
        {"bad..name.test", DnsType::A, Status::nxdomain, {}, ""},
    };
    UnboundResolver resolver(settings());
    for (const auto &test : cases) {
        const std::string name = test.name;
        CAPTURE(name);
        CAPTURE(to_string(test.type));
        const auto answer = lookup(resolver, test.name, test.type);
        CHECK(to_string(answer.status) == to_string(test.status));
        auto records = answer.records;
        std::sort(records.begin(), records.end());
        CHECK(records == test.records);
        CHECK(answer.canonical_name == test.canonical_name);
        CHECK_FALSE(answer.secure);
    }
}

// Names from SPF macros arrive escaped (\\032 for a space); the real
// lookup of such a name is shown by the integration suite against nsd.
TEST_CASE_FIXTURE(Fixture, "escaped names reach libunbound; malformed ones never do") {
    UnboundResolver resolver(settings());
    struct Row {
        std::string name;
        bool reaches_libunbound;
    };
    const Row rows[] = {
        {"odd\\032name\\.dot.example.test", true},
        {"ODD\\032NAME\\.DOT.example.test.", true},
        {std::string(63, 'a') + ".example.test", true},
        {"odd\\256name.example.test", false},
        {"odd\\000name.example.test", false},
        {"odd\\03", false},
        {"trailing\\", false},
        {"empty..label.example.test", false},
        {std::string(64, 'a') + ".example.test", false},
        {std::string(61, 'a') + "\\032\\032.example.test", true},
        {std::string(62, 'a') + "\\032\\032.example.test", false},
    };
    for (const auto &row : rows) {
        CAPTURE(row.name);
        const auto answer = lookup(resolver, row.name, DnsType::A);
        // libunbound answers NXDOMAIN for names absent from the static zone;
        // the resolver refuses the others itself, saying why.
        CHECK(answer.status == Status::nxdomain);
        CHECK((answer.why != "not a valid domain name") == row.reaches_libunbound);
    }
}

TEST_CASE_FIXTURE(Fixture, "two hundred lookups in flight all complete exactly once" *
                               doctest::test_suite("threads")) {
    const std::pair<const char *, DnsType> queries[] = {
        {"mail.example.test", DnsType::A},  {"mail.example.test", DnsType::AAAA},
        {"example.test", DnsType::MX},      {"nope.example.test", DnsType::A},
        {"alias.example.test", DnsType::A}, {"example.test", DnsType::TXT},
    };
    constexpr std::size_t count = 200;
    UnboundResolver resolver(settings());
    Completions done(count);
    for (std::size_t i = 0; i < count; ++i) {
        const auto &[name, type] = queries[i % std::size(queries)];
        resolver.resolve(name, type, done.slot(i));
    }
    REQUIRE(done.wait(10s));
    std::this_thread::sleep_for(100ms); // room for a stray second call
    CHECK(done.total() == count);
    for (std::size_t i = 0; i < count; ++i) {
        CAPTURE(i);
        CHECK(done.calls(i) == 1);
        const auto expected =
            queries[i % std::size(queries)].first == std::string("nope.example.test")
                ? Status::nxdomain
                : Status::ok;
        CHECK(done.answer(i).status == expected);
    }
}

TEST_CASE_FIXTURE(Fixture, "a callback may start another lookup from the event thread" *
                               doctest::test_suite("threads")) {
    UnboundResolver resolver(settings());
    Completions done(2);
    auto second = done.slot(1);
    auto first = done.slot(0);
    resolver.resolve("1.2.0.192.in-addr.arpa", DnsType::PTR, [&](DnsAnswer answer) {
        const auto name = answer.records.empty() ? std::string("none") : answer.records.front();
        first(std::move(answer));
        resolver.resolve(name, DnsType::A, second);
    });
    REQUIRE(done.wait(5s));
    CHECK(done.answer(1).records == std::vector<std::string>{"192.0.2.1"});
}

TEST_CASE_FIXTURE(Fixture, "a server that never answers gives a timeout in bounded time" *
                               doctest::test_suite("threads")) {
    UnboundResolver resolver(settings(300ms));
    Completions done(1);
    const auto started = std::chrono::steady_clock::now();
    resolver.resolve("silent.test", DnsType::A, done.slot(0));
    REQUIRE(done.wait(3s));
    const auto elapsed = std::chrono::steady_clock::now() - started;
    CHECK(done.answer(0).status == Status::timeout);
    CHECK(elapsed >= 290ms);
    CHECK(elapsed < 1500ms);
    CHECK(server.received_query()); // forwarding really went to the socket
    std::this_thread::sleep_for(200ms);
    CHECK(done.calls(0) == 1);
}

TEST_CASE_FIXTURE(Fixture, "destruction completes pending lookups with a shutdown servfail" *
                               doctest::test_suite("threads")) {
    constexpr std::size_t count = 20;
    Completions done(count);
    const auto started = std::chrono::steady_clock::now();
    {
        UnboundResolver resolver(settings(10s));
        for (std::size_t i = 0; i < count; ++i)
            resolver.resolve("silent" + std::to_string(i) + ".test", DnsType::A, done.slot(i));
    }
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    CHECK(done.total() == count);
    for (std::size_t i = 0; i < count; ++i) {
        CHECK(done.calls(i) == 1);
        CHECK(done.answer(i).status == Status::servfail);
        CHECK(done.answer(i).why == "resolver shut down");
    }
}

TEST_CASE_FIXTURE(Fixture, "configuration errors throw naming what is wrong") {
    auto missing_anchor = settings();
    missing_anchor.dnssec = true;
    missing_anchor.trust_anchor = zone.directory() + "/no-such-root.key";
    CHECK(what_thrown(missing_anchor).find(missing_anchor.trust_anchor) != std::string::npos);

    auto missing_config = settings();
    missing_config.unbound_config = zone.directory() + "/no-such-unbound.conf";
    CHECK(what_thrown(missing_config).find(missing_config.unbound_config) != std::string::npos);

    auto bad_forward = settings();
    bad_forward.forward = {"not-an-address"};
    CHECK(what_thrown(bad_forward).find("not-an-address") != std::string::npos);

    auto garbage_anchor = settings();
    garbage_anchor.dnssec = true;
    garbage_anchor.trust_anchor = zone.directory() + "/garbage.key";
    std::ofstream(garbage_anchor.trust_anchor) << "this is not a trust anchor\n";
    CHECK_FALSE(what_thrown(garbage_anchor).empty());
}

std::size_t thread_count() {
    return static_cast<std::size_t>(
        std::distance(std::filesystem::directory_iterator("/proc/self/task"),
                      std::filesystem::directory_iterator()));
}

TEST_CASE_FIXTURE(Fixture, "check_resolver_settings names every faulty file, starting nothing") {
    const auto threads = thread_count();
    CHECK(check_resolver_settings(settings()).empty());

    auto both_missing = settings();
    both_missing.dnssec = true;
    both_missing.unbound_config = zone.directory() + "/no-such-unbound.conf";
    both_missing.trust_anchor = zone.directory() + "/no-such-root.key";
    auto problems = check_resolver_settings(both_missing);
    REQUIRE(problems.size() == 2);
    CHECK(problems[0].option == "resolver.unbound-config");
    CHECK(problems[0].value == both_missing.unbound_config);
    CHECK(problems[0].message.find("cannot read the file") != std::string::npos);
    CHECK(problems[1].option == "resolver.trust-anchor");
    CHECK(problems[1].value == both_missing.trust_anchor);

    // What libunbound reads only when it starts: an anchor file it
    // cannot parse, an anchor file the unbound config names.
    auto garbage = settings();
    garbage.dnssec = true;
    garbage.trust_anchor = zone.directory() + "/garbage.key";
    std::ofstream(garbage.trust_anchor) << "this is not a trust anchor\n";
    problems = check_resolver_settings(garbage);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].option == "resolver.trust-anchor");
    CHECK(problems[0].message.find(garbage.trust_anchor) != std::string::npos);

    auto anchor_in_config = settings();
    anchor_in_config.dnssec = true;
    anchor_in_config.trust_anchor.clear();
    anchor_in_config.unbound_config = zone.directory() + "/anchored.conf";
    std::ofstream(anchor_in_config.unbound_config)
        << local_data << "    trust-anchor-file: \"" << zone.directory() << "/none.key\"\n";
    problems = check_resolver_settings(anchor_in_config);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].option == "resolver.unbound-config");
    CHECK(problems[0].value == anchor_in_config.unbound_config);

    auto unknown_keyword = settings();
    unknown_keyword.unbound_config = zone.directory() + "/unknown.conf";
    std::ofstream(unknown_keyword.unbound_config) << "server:\n    no-such-unbound-option: yes\n";
    problems = check_resolver_settings(unknown_keyword);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].option == "resolver.unbound-config");
    CHECK(problems[0].message.find("did not accept") != std::string::npos);

    auto bad_forward = settings();
    bad_forward.forward = {"not-an-address", "also-not"};
    CHECK(check_resolver_settings(bad_forward).size() == 2);

    CHECK(thread_count() == threads);
}

TEST_CASE_FIXTURE(Fixture, "DNSSEC on with the root anchor still answers local data") {
    auto validating = settings();
    validating.dnssec = true;
    validating.trust_anchor = "/usr/share/dns/root.key";
    if (!std::filesystem::exists(validating.trust_anchor))
        return; // package dns-root-data missing
    UnboundResolver resolver(validating);
    const auto answer = lookup(resolver, "mail.example.test", DnsType::A);
    CHECK(answer.status == Status::ok);
    CHECK(answer.records == std::vector<std::string>{"192.0.2.1"});
}

TEST_CASE_FIXTURE(
    Fixture, "answers carry their TTL: the smallest on a CNAME chain, the SOA's when negative") {
    UnboundResolver resolver(settings());
    const auto direct = lookup(resolver, "ttl.example.test", DnsType::A);
    REQUIRE(direct.status == Status::ok);
    CHECK(direct.ttl == 123);
    const auto chased = lookup(resolver, "ttl-alias.example.test", DnsType::A);
    REQUIRE(chased.status == Status::ok);
    CHECK(chased.canonical_name == "ttl.example.test");
    CHECK(chased.ttl == 60);
    const auto missing = lookup(resolver, "gone.negative.test", DnsType::A);
    REQUIRE(missing.status == Status::nxdomain);
    INFO("negative TTL ", missing.ttl);
    CHECK(missing.ttl == 77);
    const auto nodata = lookup(resolver, "host.negative.test", DnsType::MX);
    REQUIRE(nodata.status == Status::nodata);
    INFO("nodata TTL ", nodata.ttl);
    CHECK(nodata.ttl == 77);
}

TEST_CASE("libunbound results map to statuses") {
    char address[] = {static_cast<char>(192), 0, 2, 7};
    char *data[] = {address, nullptr};
    int lengths[] = {4, 0};
    char qname[] = "www.example.test.";
    char cname[] = "Web.Example.Test.";
    char why[] = "signature expired";
    struct Case {
        const char *what;
        int err;
        int rcode, havedata, nxdomain, secure, bogus;
        char *canonname;
        char *why_bogus;
        Status status;
        std::string why;
    };
    const Case cases[] = {
        {"data", 0, 0, 1, 0, 0, 0, qname, nullptr, Status::ok, ""},
        {"secure data via CNAME", 0, 0, 1, 0, 1, 0, cname, nullptr, Status::ok, ""},
        {"nxdomain", 0, 3, 0, 1, 0, 0, nullptr, nullptr, Status::nxdomain, ""},
        {"nodata", 0, 0, 0, 0, 0, 0, nullptr, nullptr, Status::nodata, ""},
        {"servfail", 0, 2, 0, 0, 0, 0, nullptr, nullptr, Status::servfail, "SERVFAIL"},
        {"refused", 0, 5, 0, 0, 0, 0, nullptr, nullptr, Status::servfail, "REFUSED"},
        {"bogus", 0, 2, 0, 0, 0, 1, nullptr, why, Status::bogus, "signature expired"},
        {"library error", UB_NOMEM, 0, 0, 0, 0, 0, nullptr, nullptr, Status::servfail,
         "libunbound: out of memory"},
    };
    for (const auto &test : cases) {
        CAPTURE(test.what);
        ub_result result{};
        result.qname = qname;
        result.qtype = 1;
        result.rcode = test.rcode;
        result.havedata = test.havedata;
        result.nxdomain = test.nxdomain;
        result.secure = test.secure;
        result.bogus = test.bogus;
        result.canonname = test.canonname;
        result.why_bogus = test.why_bogus;
        result.data = data;
        result.len = lengths;
        result.ttl = 250;
        const auto answer =
            answer_from_unbound(test.err, test.err ? nullptr : &result, DnsType::A, qname);
        CHECK(to_string(answer.status) == to_string(test.status));
        CHECK(answer.why == test.why);
        // The TTL goes with answers and negative answers, never with errors.
        CHECK(answer.ttl == (answer.is_error() ? 0u : 250u));
        if (test.status == Status::ok) {
            CHECK(answer.records == std::vector<std::string>{"192.0.2.7"});
            CHECK(answer.secure == (test.secure != 0));
            CHECK(answer.canonical_name == (test.canonname == cname ? "web.example.test" : ""));
        }
    }
}

TEST_CASE("an answer with a record that cannot be read is a DNS error, not a shorter answer") {
    char good[] = {static_cast<char>(192), 0, 2, 7};
    char short_record[] = {127, 0, 0};
    char qname[] = "www.example.test.";
    struct Case {
        const char *what;
        std::vector<char *> data;
        std::vector<int> lengths;
    };
    const Case cases[] = {
        {"the only record", {short_record}, {3}},
        {"one of two", {good, short_record}, {4, 3}},
        {"a negative length", {good}, {-1}},
    };
    for (const auto &test : cases) {
        CAPTURE(test.what);
        auto data = test.data;
        auto lengths = test.lengths;
        data.push_back(nullptr);
        lengths.push_back(0);
        ub_result result{};
        result.qname = qname;
        result.qtype = 1;
        result.havedata = 1;
        result.data = data.data();
        result.len = lengths.data();
        const auto answer = answer_from_unbound(0, &result, DnsType::A, qname);
        CHECK(answer.status == Status::servfail);
        CHECK(answer.is_error());
        CHECK(answer.why.find("malformed ") != std::string::npos);
    }
}

// libunbound initialises and destroys process-wide state (a global mutex,
// its configuration parser) with each context: resolvers made and torn
// down on several threads at once must not race on it (ThreadSanitizer
// once reported it between two tests, one resolver's context deleted on
// its own event thread while the next one was made).
TEST_CASE_FIXTURE(Fixture, "defect: resolvers made and deleted on several threads at once" *
                               doctest::test_suite("threads")) {
    const auto config = settings();
    auto churn = [&config](std::atomic<int> &answered) {
        for (int round = 0; round < 6; ++round) {
            UnboundResolver resolver(config);
            Completions done(1);
            resolver.resolve("1.2.0.192.in-addr.arpa", DnsType::PTR, done.slot(0));
            if (done.wait(5s) && done.answer(0).status == DnsAnswer::Status::ok)
                ++answered;
        }
    };
    std::atomic<int> first{0}, second{0};
    std::thread other([&] { churn(second); });
    churn(first);
    other.join();
    CHECK(first == 6);
    CHECK(second == 6);
}
