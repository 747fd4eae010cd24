// What the tests of `portcullis db` share: a configuration, a run of one
// subcommand over a store with its exit status and both outputs, and a
// store that fails every call.
#pragma once

#include "daemon/db_operations.hpp"
#include "memory/abuse_counters.hpp"
#include "memory/greylist.hpp"
#include "memory/keys.hpp"
#include "memory/store_failure.hpp"

#include <doctest/doctest.h>

#include <sstream>

namespace portcullis::testing {

// 2100-01-01: far from the system clock.
inline const state::Time db_t0 = state::Time(std::chrono::milliseconds(4'102'444'800'000));

inline Config db_config(const std::vector<std::pair<std::string, std::string>> &overrides = {}) {
    auto loaded = load_config(memory::memory_rules(), "", overrides);
    for (const auto &error : loaded.errors)
        INFO(error.to_string());
    REQUIRE(loaded.config);
    return *loaded.config;
}

// limits.rsets = 3 so that four RSETs block.
inline Config db_config_small_limits() {
    return db_config({{"limits.rsets", "3"}});
}

inline IpAddress ip(std::string_view text) {
    auto address = IpAddress::parse(text);
    REQUIRE(address);
    return *address;
}

// When populate() has written everything: six minutes after db_t0.
inline const state::Time db_later = db_t0 + std::chrono::minutes(6);

// What a day of the daemon leaves, written as the daemon writes it (with
// db_config_small_limits()):
// - 192.0.2.7: 4 RSETs (blocked, too-many-rsets), 4 RSETs counted after
//   the block, and 2 rejected recipients;
// - 198.51.100.1: a block written by hand and 1 error;
// - origin 192.0.2.0/24: two pending triplets from <a@x.test> (to
//   b@y.test and e@y.test), and a pass (the retry of c@x.test -> d@y.test);
// - the allowlist: 203.0.113.0/24 until db_t0 + 1h.
inline void populate(state::Store &store, const Config &config) {
    using namespace std::chrono_literals;
    const auto client = ip("192.0.2.7");
    for (int i = 0; i < 4; ++i) {
        auto counted =
            memory::count_event(store, config.limits, memory::Counter::rsets, client, db_t0, true);
        REQUIRE(counted.outcome.ok());
    }
    // The block started the count afresh; another MX host sharing the
    // store counts on (four more RSETs it saw before it read the block).
    std::uint64_t events = 0;
    for (int i = 0; i < 4; ++i)
        REQUIRE(store
                    .count_event(memory::count_key(memory::Counter::rsets, client), db_t0,
                                 config.limits.window, config.limits.window, true, events)
                    .ok());
    for (int i = 0; i < 2; ++i)
        REQUIRE(memory::count_event(store, config.limits, memory::Counter::rejected_recipients,
                                    client, db_t0, true)
                    .outcome.ok());
    const auto other = ip("198.51.100.1");
    REQUIRE(
        store.put(memory::block_key(other), "too-many-errors 51 4102444800000", db_t0 + 1h, db_t0)
            .ok());
    REQUIRE(memory::count_event(store, config.limits, memory::Counter::errors, other, db_t0, true)
                .outcome.ok());

    const memory::GreylistSettings greylist{config.greylist.delay, config.greylist.retry_window,
                                            config.greylist.allow_time};
    const std::string origin = memory::network_origin(client, 24, 64);
    for (const char *recipient : {"b@y.test", "e@y.test"})
        REQUIRE(
            memory::decide_greylist(store, greylist, origin, "a@x.test", recipient, db_t0).result ==
            memory::GreylistDecision::Result::greylisted);
    REQUIRE(
        memory::decide_greylist(store, greylist, origin, "c@x.test", "d@y.test", db_t0).result ==
        memory::GreylistDecision::Result::greylisted);
    REQUIRE(
        memory::decide_greylist(store, greylist, origin, "c@x.test", "d@y.test", db_later).how ==
        "retry passed");

    REQUIRE(
        store.put(memory::allowlist_key, "203.0.113.0/24 4102448400000\n", db_t0 + 1h, db_t0).ok());
}

struct DbRun {
    int status = -1;
    std::string out;
    std::string err;

    nlohmann::json json() const {
        INFO(out);
        nlohmann::json parsed;
        REQUIRE_NOTHROW(parsed = nlohmann::json::parse(out));
        return parsed;
    }
};

// `portcullis db WORDS...` over `store` at `now`: parsed, then run.
inline DbRun run_db(state::Store &store, const Config &config, db::Arguments arguments,
                    state::Time now = db_t0) {
    DbRun ran;
    std::string problem;
    const auto request = db::parse_request(arguments, problem);
    if (!request) {
        ran.status = db::exit_usage;
        ran.err = problem;
        return ran;
    }
    std::ostringstream out;
    std::ostringstream err;
    ran.status = db::run(*request, store, config, now, out, err);
    ran.out = out.str();
    ran.err = err.str();
    return ran;
}

// Every call fails with `status`, as a store that is down does.
class FailingStore final : public state::Store {
  public:
    explicit FailingStore(state::Outcome::Status status) : status_(status) {}

    state::Outcome get(std::string_view, state::Time, std::optional<state::Entry> &) override {
        return failed();
    }
    state::Outcome put(std::string_view, std::string_view, state::Time, state::Time) override {
        return failed();
    }
    state::Outcome put_if_absent(std::string_view, std::string_view, state::Time, state::Time,
                                 std::optional<state::Entry> &) override {
        return failed();
    }
    state::Outcome erase(std::string_view) override { return failed(); }
    state::Outcome count_event(std::string_view, state::Time, std::chrono::milliseconds,
                               std::chrono::milliseconds, bool, std::uint64_t &) override {
        return failed();
    }
    state::Outcome list(std::string_view, state::Time, std::size_t,
                        std::vector<state::Entry> &) override {
        return failed();
    }
    state::Outcome stats(state::Time, state::Stats &) override { return failed(); }
    std::string describe() const override { return "failing"; }

  private:
    state::Outcome failed() const {
        // A why with a control byte, as a hostile server's error text could be.
        return state::Outcome::failed(status_, "the server said \x1b[2Jno");
    }
    state::Outcome::Status status_;
};

} // namespace portcullis::testing
