#include "spf/spf.hpp"
#include "zone_resolver.hpp"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <set>

using namespace portcullis;
using portcullis::testing::ZoneResolver;
using Code = SpfResult::Code;

namespace {

// Holds every query until the test answers the waiting ones, from the
// zone data: one call of answer_waiting() is one DNS round trip.
class HeldResolver : public Resolver {
  public:
    explicit HeldResolver(const std::string &zone)
        : zone_(std::make_shared<ZoneResolver>(YAML::Load(zone),
                                               ZoneResolver::Delivery::synchronous)) {}

    void resolve(const std::string &name, DnsType type, Callback done) override {
        std::lock_guard lock(mutex_);
        asked_.insert(describe(name, type));
        held_.push_back({name, type, std::move(done)});
    }

    std::set<std::string> waiting() const {
        std::lock_guard lock(mutex_);
        std::set<std::string> names;
        for (const auto &query : held_)
            names.insert(describe(query.name, query.type));
        return names;
    }
    std::set<std::string> asked() const {
        std::lock_guard lock(mutex_);
        return asked_;
    }

    std::size_t answer_waiting() {
        std::vector<Query> batch;
        {
            std::lock_guard lock(mutex_);
            batch.swap(held_);
        }
        for (auto &query : batch)
            zone_->resolve(query.name, query.type, std::move(query.done));
        return batch.size();
    }

    // Answers round after round until nothing waits; returns the rounds.
    int answer_all() {
        int rounds = 0;
        while (answer_waiting() > 0)
            ++rounds;
        return rounds;
    }

  private:
    struct Query {
        std::string name;
        DnsType type;
        Callback done;
    };
    static std::string describe(const std::string &name, DnsType type) {
        return name + "/" + std::string(to_string(type));
    }

    std::shared_ptr<ZoneResolver> zone_;
    mutable std::mutex mutex_;
    std::vector<Query> held_;
    std::set<std::string> asked_;
};

SpfRequest request_for(const char *client, const char *mail_from = "user@example.com") {
    return spf_mail_from_request(*IpAddress::parse(client), mail_from, "mail.example.org",
                                 "mx.example.net");
}

SpfOptions test_options(bool prefetch = true) {
    SpfOptions options;
    options.default_explanation = "%{o} does not designate %{c} as a permitted sender";
    options.max_void_lookups = 2;
    options.timestamp = 1400000000;
    options.prefetch = prefetch;
    return options;
}

// Runs check_host() to completion over held answers.
struct HeldRun {
    std::optional<SpfResult> result;
    int done_calls = 0;
};

SpfResult run(const std::string &zone, const SpfRequest &request,
              const SpfOptions &options = test_options()) {
    auto resolver =
        std::make_shared<ZoneResolver>(YAML::Load(zone), ZoneResolver::Delivery::synchronous);
    return spf_check_host_blocking(resolver, request, options, std::chrono::seconds(5));
}

std::set<std::string> names(std::initializer_list<const char *> list) {
    return {list.begin(), list.end()};
}

} // namespace

TEST_CASE("the TXT lookups of several include: targets are in flight together") {
    const std::string zone = R"(
example.com: [TXT: "v=spf1 include:a.example include:b.example include:c.example -all"]
a.example: [TXT: "v=spf1 ip4:198.51.100.1 -all"]
b.example: [TXT: "v=spf1 ip4:198.51.100.2 -all"]
c.example: [TXT: "v=spf1 ip4:192.0.2.1 -all"]
)";
    for (const bool prefetch : {true, false}) {
        CAPTURE(prefetch);
        auto resolver = std::make_shared<HeldResolver>(zone);
        HeldRun state;
        spf_check_host(resolver, request_for("192.0.2.1"), test_options(prefetch),
                       [&](SpfResult result) {
                           state.result = std::move(result);
                           ++state.done_calls;
                       });
        CHECK(resolver->waiting() == names({"example.com/TXT"}));
        resolver->answer_waiting();
        if (prefetch)
            CHECK(resolver->waiting() ==
                  names({"a.example/TXT", "b.example/TXT", "c.example/TXT"}));
        else
            CHECK(resolver->waiting() == names({"a.example/TXT"}));
        CHECK(resolver->answer_all() == (prefetch ? 1 : 3));
        REQUIRE(state.result);
        CHECK(state.done_calls == 1);
        CHECK(state.result->result == Code::pass);
        CHECK(state.result->mechanism == "include:c.example");
        CHECK(state.result->dns_lookups == 3);
    }
}

TEST_CASE("the address lookups of all MX hosts start together") {
    const std::string zone = R"(
example.com:
  - TXT: "v=spf1 mx -all"
  - MX: [10, mx1.example.com]
  - MX: [20, mx2.example.com]
  - MX: [30, mx3.example.com]
mx1.example.com: [A: 198.51.100.1]
mx2.example.com: [A: 198.51.100.2]
mx3.example.com: [A: 192.0.2.1]
)";
    auto resolver = std::make_shared<HeldResolver>(zone);
    std::optional<SpfResult> result;
    spf_check_host(resolver, request_for("192.0.2.1"), test_options(),
                   [&](SpfResult r) { result = std::move(r); });
    resolver->answer_waiting();
    CHECK(resolver->waiting() == names({"example.com/MX"}));
    resolver->answer_waiting();
    CHECK(resolver->waiting() ==
          names({"mx1.example.com/A", "mx2.example.com/A", "mx3.example.com/A"}));
    resolver->answer_waiting();
    REQUIRE(result);
    CHECK(result->result == Code::pass);
    CHECK(result->mechanism == "mx");
}

TEST_CASE("prefetching stays within the 10-term budget and the 11th term is permerror") {
    std::string record = "v=spf1";
    std::string zone;
    for (int i = 1; i <= 12; ++i) {
        record += " a:h" + std::to_string(i) + ".example";
        zone += "h" + std::to_string(i) + ".example: [A: 198.51.100." + std::to_string(i) + "]\n";
    }
    zone += "example.com: [TXT: \"" + record + " -all\"]\n";
    auto resolver = std::make_shared<HeldResolver>(zone);
    std::optional<SpfResult> result;
    spf_check_host(resolver, request_for("192.0.2.1"), test_options(),
                   [&](SpfResult r) { result = std::move(r); });
    resolver->answer_waiting();
    CHECK(resolver->waiting().size() == 10);
    resolver->answer_all();
    REQUIRE(result);
    CHECK(result->result == Code::permerror);
    CHECK(result->dns_lookups == 10);
    CHECK(resolver->asked().count("h11.example/A") == 0);
    CHECK(resolver->asked().count("h12.example/A") == 0);
}

TEST_CASE("answers of prefetched terms never change results or counts") {
    struct Case {
        const char *name;
        std::string zone;
        const char *client;
        Code expected;
        unsigned lookups;
        unsigned voids;
    };
    const std::vector<Case> cases = {
        {"an error after the match", R"(
example.com: [TXT: "v=spf1 a:ok.example a:broken.example -all"]
ok.example: [A: 192.0.2.1]
broken.example: [TIMEOUT]
)",
         "192.0.2.1", Code::pass, 1, 0},
        {"voids after an ip4 match", R"(
example.com: [TXT: "v=spf1 a:v1.example a:v2.example ip4:192.0.2.1 a:v3.example a:v4.example -all"]
)",
         "192.0.2.1", Code::pass, 2, 2},
        {"the third void", R"(
example.com: [TXT: "v=spf1 a:v1.example a:v2.example ip4:192.0.2.9 a:v3.example -all"]
)",
         "192.0.2.1", Code::permerror, 3, 3},
        {"a permerror in an include never reached", R"(
example.com: [TXT: "v=spf1 include:good.example include:bad.example -all"]
good.example: [TXT: "v=spf1 +all"]
bad.example: [TXT: "v=spf1 bogus"]
)",
         "192.0.2.1", Code::pass, 1, 0},
        {"a redirect after all", R"(
example.com: [TXT: "v=spf1 a:x.example ~all redirect=loop.example"]
loop.example: [TXT: "v=spf1 redirect=loop.example"]
)",
         "192.0.2.1", Code::softfail, 1, 1},
        {"a redirect loop", R"(
example.com: [TXT: "v=spf1 a:x.example redirect=loop.example"]
loop.example: [TXT: "v=spf1 redirect=loop.example"]
)",
         "192.0.2.1", Code::permerror, 10, 1},
        {"a timeout in a nested include", R"(
example.com: [TXT: "v=spf1 include:one.example ip4:192.0.2.1"]
one.example: [TXT: "v=spf1 include:two.example -all"]
two.example: [TXT: "v=spf1 exists:slow.example"]
slow.example: [TIMEOUT]
)",
         "192.0.2.1", Code::temperror, 3, 0},
    };
    for (const auto &c : cases) {
        CAPTURE(c.name);
        for (const bool prefetch : {true, false}) {
            CAPTURE(prefetch);
            const auto result = run(c.zone, request_for(c.client), test_options(prefetch));
            CHECK(result.result == c.expected);
            CHECK(result.dns_lookups == c.lookups);
            CHECK(result.void_lookups == c.voids);
        }
    }
}

TEST_CASE("mx, ptr and exists details") {
    struct Case {
        const char *name;
        std::string zone;
        const char *client;
        Code expected;
    };
    const std::vector<Case> cases = {
        {"11 MX records are permerror even when the first matches", R"(
example.com:
  - TXT: "v=spf1 mx -all"
  - {MX: [0, m.example.com]}
  - {MX: [1, m1.example.com]}
  - {MX: [2, m2.example.com]}
  - {MX: [3, m3.example.com]}
  - {MX: [4, m4.example.com]}
  - {MX: [5, m5.example.com]}
  - {MX: [6, m6.example.com]}
  - {MX: [7, m7.example.com]}
  - {MX: [8, m8.example.com]}
  - {MX: [9, m9.example.com]}
  - {MX: [10, m10.example.com]}
m.example.com: [A: 192.0.2.1]
)",
         "192.0.2.1", Code::permerror},
        {"a null MX matches nothing", R"(
example.com: [TXT: "v=spf1 mx -all", MX: [0, ""]]
)",
         "192.0.2.1", Code::fail},
        {"a failing MX host does not hide a matching one", R"(
example.com: [TXT: "v=spf1 mx -all", MX: [0, broken.example.com], {MX: [10, good.example.com]}]
broken.example.com: [TIMEOUT]
good.example.com: [A: 192.0.2.1]
)",
         "192.0.2.1", Code::pass},
        {"a failing MX host without a match is temperror", R"(
example.com: [TXT: "v=spf1 mx -all", MX: [0, broken.example.com], {MX: [10, good.example.com]}]
broken.example.com: [TIMEOUT]
good.example.com: [A: 198.51.100.1]
)",
         "192.0.2.1", Code::temperror},
        {"a PTR lookup error is no match", R"(
example.com: [TXT: "v=spf1 ptr -all"]
1.2.0.192.in-addr.arpa: [TIMEOUT]
)",
         "192.0.2.1", Code::fail},
        {"ptr confirms names within its target only", R"(
example.com: [TXT: "v=spf1 ptr -all"]
1.2.0.192.in-addr.arpa: [PTR: host.other.example]
host.other.example: [A: 192.0.2.1]
)",
         "192.0.2.1", Code::fail},
        {"ptr confirms a name through its address", R"(
example.com: [TXT: "v=spf1 ptr -all"]
1.2.0.192.in-addr.arpa: [PTR: host.example.com.]
host.example.com: [A: 192.0.2.1]
)",
         "192.0.2.1", Code::pass},
        {"exists looks up A even for an IPv6 client", R"(
example.com: [TXT: "v=spf1 exists:%{ir}.%{v}.list.example -all"]
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.list.example: [A: 127.0.0.2]
)",
         "2001:db8::1", Code::pass},
        {"an IPv4-mapped client is IPv4", R"(
example.com: [TXT: "v=spf1 ip6:::ffff:192.0.2.1 exists:%{i}.%{v}.list.example -all"]
192.0.2.1.in-addr.list.example: [A: 127.0.0.2]
)",
         "::ffff:192.0.2.1", Code::pass},
        {"a target no query can be built from does not exist", R"(
example.com: [TXT: "v=spf1 a:%{l}.example.com -all"]
)",
         "192.0.2.1", Code::fail},
        {"an include of a domain without SPF is permerror", R"(
example.com: [TXT: "v=spf1 include:nothing.example -all"]
nothing.example: [TXT: "some other text"]
)",
         "192.0.2.1", Code::permerror},
    };
    for (const auto &c : cases) {
        CAPTURE(c.name);
        const auto mail_from = std::string(c.name).find("query") != std::string::npos
                                   ? "a..b@example.com"
                                   : "user@example.com";
        CHECK(run(c.zone, request_for(c.client, mail_from)).result == c.expected);
    }
}

TEST_CASE("a DNS error RFC 7208 section 5.5 passes over is reported with the result") {
    struct Case {
        const char *name;
        std::string zone;
        Code expected;
        bool skipped;
    };
    const std::vector<Case> cases = {
        {"a PTR lookup error", R"(
example.com: [TXT: "v=spf1 ptr -all"]
1.2.0.192.in-addr.arpa: [TIMEOUT]
)",
         Code::fail, true},
        {"an address lookup error of a name within the target", R"(
example.com: [TXT: "v=spf1 ptr -all"]
1.2.0.192.in-addr.arpa: [PTR: host.example.com]
host.example.com: [TIMEOUT]
)",
         Code::fail, true},
        {"not one of a name outside it, which could not match", R"(
example.com: [TXT: "v=spf1 ptr -all"]
1.2.0.192.in-addr.arpa: [PTR: host.other.example]
host.other.example: [TIMEOUT]
)",
         Code::fail, false},
        {"nor when another name matches", R"(
example.com: [TXT: "v=spf1 ptr -all"]
1.2.0.192.in-addr.arpa: [PTR: broken.example.com, {PTR: host.example.com}]
broken.example.com: [TIMEOUT]
host.example.com: [A: 192.0.2.1]
)",
         Code::pass, false},
        {"a PTR lookup error for %{p}", R"(
example.com: [TXT: "v=spf1 exists:%{p}.list.example -all"]
1.2.0.192.in-addr.arpa: [TIMEOUT]
)",
         Code::fail, true},
        {"but not one that only the explanation's %{p} met", R"(
example.com: [TXT: "v=spf1 -all exp=why.example.com"]
why.example.com: [TXT: "%{p} may not send"]
1.2.0.192.in-addr.arpa: [TIMEOUT]
)",
         Code::fail, false},
    };
    for (const auto &c : cases) {
        CAPTURE(c.name);
        const auto result = run(c.zone, request_for("192.0.2.1", "user@example.com"));
        CHECK(result.result == c.expected);
        CHECK(result.skipped_error.empty() == !c.skipped);
    }
}

TEST_CASE("explanations: exp= text, macros, the default and sanitizing") {
    const std::string zone = R"(
example.com: [TXT: "v=spf1 -all exp=why.example.com"]
why.example.com: [TXT: "%{l} from %{c} (%{v}) checked by %{r} at %{t}: see %{L}"]
plain.example: [TXT: "v=spf1 -all"]
long.example: [TXT: "v=spf1 -all exp=long-why.example"]
)";
    const std::string long_text(600, 'x');
    const std::string long_zone = zone + "long-why.example: [TXT: \"" + long_text + "\"]\n";

    auto result = run(zone, request_for("192.0.2.1", "some.one@example.com"));
    CHECK(result.result == Code::fail);
    CHECK(result.explanation ==
          "some.one from 192.0.2.1 (in-addr) checked by mx.example.net at 1400000000: see "
          "some.one");

    result = run(zone, request_for("192.0.2.1", "bell\x07@example.com"));
    CHECK(result.explanation.find("bell?") == 0);
    CHECK(result.explanation.find("bell%07") != std::string::npos);

    result = run(zone, request_for("2001:db8::1", "user@plain.example"));
    CHECK(result.explanation ==
          "plain.example does not designate 2001:db8::1 as a permitted sender");

    auto options = test_options();
    options.default_explanation = "100% not allowed";
    result = run(zone, request_for("192.0.2.1", "user@plain.example"), options);
    CHECK(result.explanation == "100% not allowed");

    result = run(long_zone, request_for("192.0.2.1", "user@long.example"));
    CHECK(result.explanation.size() == spf_max_explanation);
}

TEST_CASE("identities: MAIL FROM, the null sender and HELO") {
    const auto client = *IpAddress::parse("192.0.2.1");
    struct Case {
        const char *mail_from;
        const char *sender;
        const char *domain;
    };
    const std::vector<Case> cases = {
        {"user@example.com", "user@example.com", "example.com"},
        {"<user@example.com>", "user@example.com", "example.com"},
        {"\"odd@local\"@example.com", "\"odd@local\"@example.com", "example.com"},
        {"@example.com", "postmaster@example.com", "example.com"},
        {"", "postmaster@mail.example.org", "mail.example.org"},
        {"<>", "postmaster@mail.example.org", "mail.example.org"},
        {"nodomain", "nodomain", ""},
    };
    for (const auto &c : cases) {
        CAPTURE(c.mail_from);
        const auto request = spf_mail_from_request(client, c.mail_from, "mail.example.org", "r");
        CHECK(request.sender == c.sender);
        CHECK(request.domain == c.domain);
        CHECK(request.helo == "mail.example.org");
        CHECK(request.receiver == "r");
    }
    const auto helo = spf_helo_request(client, "mail.example.org");
    CHECK(helo.sender == "postmaster@mail.example.org");
    CHECK(helo.domain == "mail.example.org");
    CHECK(run("{}", spf_helo_request(client, "[192.0.2.1]")).result == Code::none);
    CHECK(run("{}", spf_mail_from_request(client, "nodomain", "x.example")).result == Code::none);
}

TEST_CASE("a session's lookups are shared: each name and type is asked once") {
    const std::string zone = R"(
example.com: [TXT: "v=spf1 a mx -all", A: 192.0.2.1]
)";
    auto held = std::make_shared<HeldResolver>(zone);
    auto lookups = Lookups::create(held);
    std::vector<SpfResult> results;
    spf_check_host(lookups, request_for("192.0.2.1"), test_options(),
                   [&](SpfResult r) { results.push_back(std::move(r)); });
    held->answer_all();
    const auto asked = held->asked().size();
    spf_check_host(lookups, request_for("192.0.2.1"), test_options(),
                   [&](SpfResult r) { results.push_back(std::move(r)); });
    CHECK(held->waiting().empty()); // answered from the session's cache
    REQUIRE(results.size() == 2);
    CHECK(held->asked().size() == asked);
    CHECK(results[0].result == Code::pass);
    CHECK(results[1].result == Code::pass);
}

TEST_CASE("a session that goes away takes its pending evaluation with it") {
    auto held = std::make_shared<HeldResolver>(R"(example.com: [TXT: "v=spf1 a -all"])");
    bool called = false;
    {
        auto lookups = Lookups::create(held);
        spf_check_host(lookups, request_for("192.0.2.1"), test_options(),
                       [&](const SpfResult &) { called = true; });
    }
    held->answer_all();
    CHECK_FALSE(called);
}

TEST_CASE("the blocking helper gives temperror when its budget runs out") {
    auto held = std::make_shared<HeldResolver>(R"(example.com: [TXT: "v=spf1 a -all"])");
    const auto result = spf_check_host_blocking(held, request_for("192.0.2.1"), test_options(),
                                                std::chrono::milliseconds(20));
    CHECK(result.result == Code::temperror);
    CHECK(result.problem.find("no result within") == 0);
    held->answer_all(); // late answers complete into nothing
}

TEST_CASE("done runs exactly once per evaluation with answers from another thread" *
          doctest::test_suite("threads")) {
    const std::string zone = R"(
example.com: [TXT: "v=spf1 include:a.example mx:b.example a:c.example ptr -all"]
a.example: [TXT: "v=spf1 ip4:198.51.100.0/24 ?all"]
b.example: [MX: [0, c.example], {MX: [1, d.example]}]
c.example: [A: 198.51.100.77]
d.example: [A: 192.0.2.10]
10.2.0.192.in-addr.arpa: [PTR: d.example]
)";
    auto resolver =
        std::make_shared<ZoneResolver>(YAML::Load(zone), ZoneResolver::Delivery::threaded, 7);
    constexpr int evaluations = 60;
    std::atomic<int> calls{0};
    std::atomic<int> passes{0};
    for (int i = 0; i < evaluations; ++i) {
        const auto client = i % 2 ? "192.0.2.10" : "203.0.113.5";
        spf_check_host(resolver, request_for(client), test_options(), [&, i](const SpfResult &r) {
            ++calls;
            if (r.result == (i % 2 ? Code::pass : Code::fail))
                ++passes;
        });
    }
    for (int wait = 0; wait < 500 && calls < evaluations; ++wait)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    resolver->stop();
    CHECK(calls == evaluations);
    CHECK(passes == evaluations);
}

TEST_CASE("results have names") {
    CHECK(to_string(Code::none) == "none");
    CHECK(to_string(Code::neutral) == "neutral");
    CHECK(to_string(Code::pass) == "pass");
    CHECK(to_string(Code::fail) == "fail");
    CHECK(to_string(Code::softfail) == "softfail");
    CHECK(to_string(Code::temperror) == "temperror");
    CHECK(to_string(Code::permerror) == "permerror");
}
