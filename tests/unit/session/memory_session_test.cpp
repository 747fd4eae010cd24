// Greylisting and the abuse counters through Session over a real LMDB
// store, with a clock of the test's own.
#include "core/log.hpp"
#include "memory/allowlist.hpp"
#include "memory/keys.hpp"
#include "session/session.hpp"
#include "session_world.hpp"
#include "state/lmdb_store.hpp"

#include "../state/lmdb_test_support.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using namespace portcullis::testing;
using namespace std::chrono_literals;

namespace {

state::Time clock_now = t0;
state::Time test_clock() {
    return clock_now;
}

struct Memory {
    TempDir dir;
    std::shared_ptr<state::Store> store;

    Memory() {
        std::string error;
        auto settings = settings_for(dir);
        settings.sweep_interval = 0ms;
        store = state::LmdbStore::open(settings, error);
        REQUIRE_MESSAGE(store, error);
        clock_now = t0;
    }

    std::shared_ptr<const Runtime> runtime(std::vector<std::pair<std::string, std::string>> options,
                                           std::shared_ptr<Resolver> dns = world()) const {
        // The client without confirmed rDNS is only logged, unless a test says otherwise.
        bool rdns_set = false;
        for (const auto &[name, value] : options)
            rdns_set = rdns_set || name == "policy.rdns-unconfirmed";
        if (!rdns_set) {
            options.emplace_back("policy.rdns-unconfirmed", "log");
            options.emplace_back("policy.rdns-missing", "log");
        }
        auto built = runtime_with(std::move(options), std::move(dns));
        auto copy = std::make_shared<Runtime>(*built);
        copy->store = store;
        copy->clock = &test_clock;
        return copy;
    }
};

const Client good{"192.0.2.10", "mail.good.example", "a@good.example"};
const Client forged{"192.0.2.20", "forged.example", "b@x.example"};

std::shared_ptr<ScriptedResolver> pool_world() {
    auto dns = world();
    // A provider's pool: two addresses in different networks, both
    // confirmed under good.example.
    dns->add("7.100.51.198.in-addr.arpa", DnsType::PTR, {"out2.good.example"});
    dns->add("out2.good.example", DnsType::A, {"198.51.100.7"});
    dns->add("out2.good.example", DnsType::AAAA, {});
    return dns;
}

std::string text_of(const RecipientAnswer &answer) {
    return answer.reply.code + " " + answer.reply.status + " " + answer.reply.text();
}

} // namespace

TEST_CASE("greylisting: first try, early retry, retry after the delay, then the origin passes") {
    Memory memory;
    LogCapture log;
    auto runtime = memory.runtime({{"greylist.mode", "all"}, {"greylist.delay", "5m"}});

    auto first = run(runtime, forged, "u@dest.example");
    CHECK(first.verdict == Verdict::tempfail);
    CHECK(first.rule == "greylisted");
    CHECK(first.reply.code == "451");
    CHECK(first.reply.status == "4.7.1");
    CHECK_MESSAGE(text_of(first).find("retry in 5 minutes") != std::string::npos, text_of(first));
    CHECK(text_of(first).find("2100-01-01 00:05:00 UTC") != std::string::npos);
    CHECK(log.has("rule=greylisted"));
    CHECK(log.has("greylist-result=new"));

    clock_now = t0 + 2min;
    auto early = run(runtime, forged, "u@dest.example");
    CHECK(early.verdict == Verdict::tempfail);
    CHECK_MESSAGE(text_of(early).find("retry in 3 minutes") != std::string::npos, text_of(early));
    CHECK(log.has("greylist-result=early"));

    clock_now = t0 + 5min;
    auto retry = run(runtime, forged, "u@dest.example");
    CHECK(retry.verdict == Verdict::continue_);
    CHECK(log.has("greylist-result=\"retry passed\""));

    // The network passes at once, another address and recipient included.
    const Client neighbour{"192.0.2.21", "forged.example", "c@x.example"};
    CHECK(run(runtime, neighbour, "other@dest.example").verdict == Verdict::continue_);
    // Another network does not.
    const Client stranger{"198.51.100.1", "forged.example", "c@x.example"};
    CHECK(run(runtime, stranger, "other@dest.example").rule == "greylisted");
}

TEST_CASE("greylisting: a retry after the retry window starts afresh") {
    Memory memory;
    auto runtime = memory.runtime({{"greylist.mode", "all"}, {"greylist.retry-window", "1h"}});
    CHECK(run(runtime, forged, "u@dest.example").rule == "greylisted");
    clock_now = t0 + 2h;
    auto late = run(runtime, forged, "u@dest.example");
    CHECK(late.rule == "greylisted");
    CHECK(text_of(late).find("retry in 5 minutes") != std::string::npos);
}

TEST_CASE("greylisting: a pool retrying from another network passes by its domain") {
    Memory memory;
    auto runtime = memory.runtime({{"greylist.mode", "all"}}, pool_world());
    CHECK(run(runtime, good, "u@dest.example").rule == "greylisted");
    clock_now = t0 + 6min;
    const Client other{"198.51.100.7", "out2.good.example", "a@good.example"};
    CHECK(run(runtime, other, "u@dest.example").verdict == Verdict::continue_);
    std::optional<state::Entry> entry;
    CHECK(memory.store->get("pass:d:good.example", clock_now, entry).ok());
    CHECK(entry.has_value());
}

TEST_CASE("greylisting: suspicious mode greylists only clients with a trigger") {
    Memory memory;
    auto runtime = memory.runtime({{"greylist.triggers", "no-fcrdns"}});
    CHECK(run(runtime, good, "u@dest.example").verdict == Verdict::continue_);
    auto suspicious = run(runtime, forged, "u@dest.example");
    CHECK(suspicious.rule == "greylisted");
}

TEST_CASE("greylisting spares exempt recipients, trusted and authenticated clients, the "
          "allowlist and refused recipients") {
    Memory memory;
    auto runtime = memory.runtime({{"greylist.mode", "all"},
                                   {"trusted-networks", "192.0.2.10/32"},
                                   {"policy.rdns-unconfirmed", "log"}});
    CHECK(run(runtime, forged, "postmaster@dest.example").verdict == Verdict::continue_);
    CHECK(run(runtime, good, "u@dest.example").verdict == Verdict::continue_);
    CHECK(run(runtime, forged, "u@dest.example", "someone").verdict == Verdict::continue_);

    memory::Allowlist allowlist;
    allowlist.add(*Network::parse("192.0.2.0/24"), t0 + 1h, t0);
    REQUIRE(memory.store->put(memory::allowlist_key, allowlist.serialize(), t0 + 1h, t0).ok());
    CHECK(run(runtime, forged, "u@dest.example").verdict == Verdict::continue_);

    auto rejecting =
        memory.runtime({{"greylist.mode", "all"}, {"policy.rdns-unconfirmed", "reject"}});
    clock_now = t0 + 2h; // the allowlist entry has expired
    auto refused = run(rejecting, forged, "u@dest.example");
    CHECK(refused.rule == "rdns-unconfirmed");
    std::vector<state::Entry> triplets;
    CHECK(memory.store->list("grey:", clock_now, 10, triplets).ok());
    CHECK(triplets.empty());
}

TEST_CASE("greylisting with action log records and logs, and refuses nothing") {
    Memory memory;
    LogCapture log;
    auto runtime = memory.runtime({{"greylist.mode", "all"}, {"policy.greylisted", "log"}});
    auto answer = run(runtime, forged, "u@dest.example");
    CHECK(answer.verdict == Verdict::continue_);
    CHECK(answer.policy_verdict == Verdict::tempfail);
    CHECK(log.has("log-only=yes"));
    std::vector<state::Entry> triplets;
    CHECK(memory.store->list("grey:", clock_now, 10, triplets).ok());
    CHECK(triplets.size() == 1);
}

TEST_CASE("abuse counters: recipients the MTA refused block the address, at once and later") {
    Memory memory;
    LogCapture log;
    auto runtime = memory.runtime({{"greylist.mode", "off"},
                                   {"limits.rejected-recipients", "20"},
                                   {"limits.block-time", "10m"}});
    Session session(runtime, "relay");
    session.connect(IpAddress::parse("192.0.2.10"), "client", "mx.dest.example", std::nullopt);
    session.helo("mail.good.example");
    session.mail("a@good.example", "");
    for (int i = 1; i <= 20; ++i)
        CHECK(session.recipient("r" + std::to_string(i) + "@elsewhere.example", true).verdict ==
              Verdict::continue_);
    auto passed = session.recipient("r21@elsewhere.example", true);
    CHECK(passed.verdict == Verdict::tempfail);
    CHECK(passed.rule == "too-many-rejected-recipients");
    CHECK(passed.reply.code == "421");
    CHECK(passed.reply.status == "4.7.0");
    CHECK(passed.reply.text().find("Excessive unknown recipients") != std::string::npos);
    // Every later command of the session, exempt recipients included.
    CHECK(session.recipient("postmaster@dest.example").verdict == Verdict::tempfail);
    CHECK(session.mail("a@good.example", "").verdict == Verdict::tempfail);

    Session next(runtime, "next");
    next.connect(IpAddress::parse("192.0.2.10"), "client", "mx.dest.example", std::nullopt);
    auto helo = next.helo("mail.good.example");
    CHECK(helo.verdict == Verdict::tempfail);
    CHECK(helo.rule == "too-many-rejected-recipients");
    CHECK(helo.reply.code == "421");
    CHECK(log.has("stage=helo rule=too-many-rejected-recipients action=tempfail"));

    // Another address is not blocked; after block-time this one is served.
    Session other(runtime, "other");
    other.connect(IpAddress::parse("192.0.2.20"), "client", "mx.dest.example", std::nullopt);
    CHECK(other.helo("forged.example").verdict == Verdict::continue_);
    clock_now = t0 + 11min;
    Session later(runtime, "later");
    later.connect(IpAddress::parse("192.0.2.10"), "client", "mx.dest.example", std::nullopt);
    CHECK(later.helo("mail.good.example").verdict == Verdict::continue_);
}

TEST_CASE("abuse counters: our own rejects count as rejected recipients and errors") {
    Memory memory;
    auto runtime = memory.runtime({{"greylist.mode", "off"},
                                   {"policy.rdns-unconfirmed", "reject"},
                                   {"limits.rejected-recipients", "3"}});
    Session session(runtime, "rejected");
    session.connect(IpAddress::parse("192.0.2.20"), "client", "mx.dest.example", std::nullopt);
    session.helo("forged.example");
    session.mail("b@x.example", "");
    for (int i = 1; i <= 3; ++i)
        CHECK(session.recipient("u" + std::to_string(i) + "@dest.example").rule ==
              "rdns-unconfirmed");
    auto fourth = session.recipient("u4@dest.example");
    CHECK(fourth.rule == "too-many-rejected-recipients");
    CHECK(fourth.reply.code == "421");
    std::uint64_t errors = 0;
    CHECK(memory.store->count_event("count:errors:192.0.2.20", clock_now, 1h, 1h, false, errors)
              .ok());
    CHECK(errors == 4);
}

TEST_CASE("abuse counters: DNS faults and greylisting never build a block") {
    Memory memory;
    auto runtime = memory.runtime(
        {{"greylist.mode", "all"}, {"limits.rejected-recipients", "1"}, {"limits.errors", "1"}});
    const Client timeout{"192.0.2.40", "mail.good.example", "a@good.example"};
    for (int i = 0; i < 5; ++i) {
        auto answer = run(runtime, timeout, "u" + std::to_string(i) + "@dest.example");
        CHECK(answer.reply.code != "421");
    }
    std::vector<state::Entry> blocks;
    CHECK(memory.store->list("block:", clock_now, 10, blocks).ok());
    CHECK(blocks.empty());
}

TEST_CASE("abuse counters: RSETs, empty transactions and unknown commands") {
    Memory memory;
    auto runtime = memory.runtime({{"greylist.mode", "off"},
                                   {"limits.rsets", "2"},
                                   {"limits.empty-transactions", "100"},
                                   {"limits.unknown-commands", "2"}});
    {
        Session session(runtime, "rsets");
        session.connect(IpAddress::parse("192.0.2.10"), "client", "mx.dest.example", std::nullopt);
        session.helo("mail.good.example");
        for (int i = 0; i < 2; ++i) {
            CHECK(session.mail("a@good.example", "").verdict == Verdict::continue_);
            session.abort_transaction();
        }
        // The abort of a new HELO is not an RSET.
        session.mail("a@good.example", "");
        session.abort_transaction();
        CHECK(session.helo("mail.good.example").verdict == Verdict::continue_);
        session.mail("a@good.example", "");
        session.abort_transaction();
        auto third = session.mail("a@good.example", "");
        CHECK(third.verdict == Verdict::tempfail);
        CHECK(third.rule == "too-many-rsets");
    }
    {
        Session session(runtime, "unknown");
        session.connect(IpAddress::parse("192.0.2.20"), "client", "mx.dest.example", std::nullopt);
        CHECK(session.unknown_command().verdict == Verdict::continue_);
        CHECK(session.unknown_command().verdict == Verdict::continue_);
        auto third = session.unknown_command();
        CHECK(third.rule == "too-many-unknown-commands");
        CHECK(third.reply.code == "421");
    }
    auto empty_runtime =
        memory.runtime({{"greylist.mode", "off"}, {"limits.empty-transactions", "1"}});
    {
        Session session(empty_runtime, "empty");
        session.connect(IpAddress::parse("198.51.100.1"), "client", "mx.dest.example",
                        std::nullopt);
        session.helo("forged.example");
        session.mail("a@x.example", "");
        session.close();
    }
    Session again(empty_runtime, "again");
    again.connect(IpAddress::parse("198.51.100.1"), "client", "mx.dest.example", std::nullopt);
    again.helo("forged.example");
    auto second = again.mail("a@x.example", "");
    CHECK(second.verdict == Verdict::continue_); // the first one only
    again.close();
    Session blocked(empty_runtime, "blocked");
    blocked.connect(IpAddress::parse("198.51.100.1"), "client", "mx.dest.example", std::nullopt);
    CHECK(blocked.helo("forged.example").rule == "too-many-empty-transactions");
}

TEST_CASE("counting with action log logs once and blocks nothing") {
    Memory memory;
    LogCapture log;
    auto runtime = memory.runtime({{"greylist.mode", "off"},
                                   {"limits.unknown-commands", "1"},
                                   {"policy.too-many-unknown-commands", "log"}});
    Session session(runtime, "logonly");
    session.connect(IpAddress::parse("192.0.2.20"), "client", "mx.dest.example", std::nullopt);
    for (int i = 0; i < 4; ++i)
        CHECK(session.unknown_command().verdict == Verdict::continue_);
    CHECK(log.has("rule=too-many-unknown-commands action=log"));
    std::vector<state::Entry> blocks;
    CHECK(memory.store->list("block:", clock_now, 10, blocks).ok());
    CHECK(blocks.empty());
}

namespace {

// A store that is down: every call fails as Redis's does when it is.
class DownStore final : public state::Store {
  public:
    int calls = 0;
    state::Outcome down() {
        ++calls;
        return state::Outcome::failed(state::Outcome::Status::unavailable, "connection refused");
    }
    state::Outcome get(std::string_view, state::Time, std::optional<state::Entry> &) override {
        return down();
    }
    state::Outcome put(std::string_view, std::string_view, state::Time, state::Time) override {
        return down();
    }
    state::Outcome put_if_absent(std::string_view, std::string_view, state::Time, state::Time,
                                 std::optional<state::Entry> &) override {
        return down();
    }
    state::Outcome erase(std::string_view) override { return down(); }
    state::Outcome count_event(std::string_view, state::Time, std::chrono::milliseconds,
                               std::chrono::milliseconds, bool, std::uint64_t &) override {
        return down();
    }
    state::Outcome list(std::string_view, state::Time, std::size_t,
                        std::vector<state::Entry> &) override {
        return down();
    }
    state::Outcome stats(state::Time, state::Stats &) override { return down(); }
    std::string describe() const override { return "down"; }
};

std::shared_ptr<const Runtime>
down_runtime(std::shared_ptr<DownStore> store,
             std::vector<std::pair<std::string, std::string>> options) {
    options.emplace_back("policy.rdns-unconfirmed", "log");
    auto copy = std::make_shared<Runtime>(*runtime_with(std::move(options)));
    copy->store = std::move(store);
    copy->clock = &test_clock;
    return copy;
}

} // namespace

TEST_CASE("a store that is down lets mail pass by default, logs once, and stops calling") {
    LogCapture log;
    auto store = std::make_shared<DownStore>();
    auto runtime =
        down_runtime(store, {{"greylist.mode", "all"}, {"state.breaker-interval", "1h"}});
    for (int i = 0; i < 3; ++i) {
        Session session(runtime, "down" + std::to_string(i));
        session.connect(IpAddress::parse("192.0.2.20"), "client", "mx.dest.example", std::nullopt);
        CHECK(session.helo("forged.example").verdict == Verdict::continue_);
        session.mail("b@x.example", "");
        CHECK(session.recipient("u@dest.example").verdict == Verdict::continue_);
        CHECK(session.recipient("v@dest.example").verdict == Verdict::continue_);
    }
    // One call per session: after its first failure a session stops asking.
    CHECK(store->calls == 3);
    std::size_t lines = 0;
    for (const auto &line : log.lines)
        lines += line.find("state store failed") != std::string::npos;
    CHECK(lines == 1);
}

TEST_CASE("a store that is down tempfails with state-error where on-store-error says so") {
    auto store = std::make_shared<DownStore>();
    auto runtime = down_runtime(store, {{"greylist.mode", "all"},
                                        {"greylist.on-store-error", "tempfail"},
                                        {"limits.on-store-error", "pass"}});
    auto answer = run(runtime, forged, "u@dest.example");
    CHECK(answer.verdict == Verdict::tempfail);
    CHECK(answer.rule == "state-error");
    CHECK(answer.reply.code == "451");
    CHECK(answer.reply.status == "4.3.0");

    auto blocking =
        down_runtime(store, {{"greylist.mode", "off"}, {"limits.on-store-error", "tempfail"}});
    Session session(blocking, "blocking");
    session.connect(IpAddress::parse("192.0.2.20"), "client", "mx.dest.example", std::nullopt);
    auto helo = session.helo("forged.example");
    CHECK(helo.verdict == Verdict::tempfail);
    CHECK(helo.rule == "state-error");
}

TEST_CASE("a state.redis URL that does not parse is a configuration error, for redis only") {
    for (const auto &[backend, errors_expected] :
         {std::pair<std::string, bool>{"redis", true}, {"lmdb", false}}) {
        auto loaded = load_config(SOURCE_ROOT "/rules/portcullis.conf",
                                  {{"state.backend", backend}, {"state.redis", "http://x:1/0"}});
        REQUIRE(loaded.config);
        std::vector<ConfigError> errors;
        Runtime::load(std::move(*loaded.config), errors);
        CHECK(errors.empty() == !errors_expected);
        if (errors_expected) {
            REQUIRE(errors.size() == 1);
            CHECK(errors[0].option == "state.redis");
        }
    }
}

TEST_CASE("a block starts the count afresh: after it, one more refusal does not block again") {
    Memory memory;
    auto runtime = memory.runtime({{"greylist.mode", "off"},
                                   {"limits.rejected-recipients", "3"},
                                   {"limits.block-time", "10m"}});
    auto refuse = [&](const std::string &id, int recipients) {
        Session session(runtime, id);
        session.connect(IpAddress::parse("192.0.2.10"), "client", "mx.dest.example", std::nullopt);
        session.helo("mail.good.example");
        session.mail("a@good.example", "");
        RecipientAnswer last;
        for (int i = 0; i < recipients; ++i)
            last = session.recipient("r" + std::to_string(i) + "@elsewhere.example", true);
        return last;
    };
    CHECK(refuse("first", 4).rule == "too-many-rejected-recipients");
    clock_now = t0 + 11min;
    CHECK(refuse("after", 1).verdict == Verdict::continue_);
    CHECK(refuse("again", 2).verdict == Verdict::continue_); // 3 in the window: the limit
    CHECK(refuse("over", 1).rule == "too-many-rejected-recipients");
}

TEST_CASE("a stored block under action log or dry-run is logged once and not enforced") {
    Memory memory;
    REQUIRE(
        memory.store->put("block:192.0.2.10", "too-many-rsets 51 4102444800000", t0 + 1h, t0).ok());
    for (const auto &option : {std::pair<std::string, std::string>{"policy.too-many-rsets", "log"},
                               {"mode", "dry-run"}}) {
        LogCapture log;
        auto runtime = memory.runtime({{"greylist.mode", "off"}, option});
        Session session(runtime, "logged");
        session.connect(IpAddress::parse("192.0.2.10"), "client", "mx.dest.example", std::nullopt);
        CHECK(session.helo("mail.good.example").verdict == Verdict::continue_);
        CHECK(session.mail("a@good.example", "").verdict == Verdict::continue_);
        std::size_t lines = 0;
        for (const auto &line : log.lines)
            lines += line.find("rule=too-many-rsets action=log") != std::string::npos;
        CHECK(lines == 1);
    }
    auto enforcing = memory.runtime({{"greylist.mode", "off"}});
    Session session(enforcing, "enforced");
    session.connect(IpAddress::parse("192.0.2.10"), "client", "mx.dest.example", std::nullopt);
    CHECK(session.helo("mail.good.example").rule == "too-many-rsets");
}
