#include "state/circuit_breaker.hpp"

#include <doctest/doctest.h>

using namespace portcullis::state;
using namespace std::chrono_literals;
using Admission = CircuitBreaker::Admission;
using Result = CircuitBreaker::Result;

namespace {
const CircuitBreaker::TimePoint t0{std::chrono::hours(1)};

void fail_once(CircuitBreaker &breaker, CircuitBreaker::TimePoint now) {
    auto admission = breaker.admit(now);
    REQUIRE(admission == Admission::pass);
    breaker.report(admission, Result::failure, now);
}
} // namespace

TEST_CASE("the breaker opens after consecutive failures only") {
    CircuitBreaker breaker(3, 10s);
    fail_once(breaker, t0);
    fail_once(breaker, t0);
    breaker.report(breaker.admit(t0), Result::success, t0); // resets the count
    fail_once(breaker, t0);
    fail_once(breaker, t0);
    CHECK_FALSE(breaker.open());
    breaker.report(breaker.admit(t0), Result::neutral, t0); // neither resets nor counts
    CHECK_FALSE(breaker.open());
    fail_once(breaker, t0 + 1s);
    CHECK(breaker.open());
    CHECK(breaker.openings() == 1);
    CHECK(breaker.retry_at() == t0 + 11s);
    CHECK(breaker.admit(t0 + 1s) == Admission::refused);
    CHECK(breaker.admit(t0 + 11s - 1ms) == Admission::refused);
}

TEST_CASE("after the interval one trial goes through; its outcome decides") {
    CircuitBreaker breaker(1, 10s);
    fail_once(breaker, t0);
    REQUIRE(breaker.open());

    auto trial = breaker.admit(t0 + 10s);
    CHECK(trial == Admission::trial);
    CHECK(breaker.admit(t0 + 10s) == Admission::refused); // one trial at a time
    breaker.report(trial, Result::failure, t0 + 10s);
    CHECK(breaker.open());
    CHECK(breaker.openings() == 2); // opened again: a caller logs once more
    CHECK(breaker.admit(t0 + 19s) == Admission::refused);

    trial = breaker.admit(t0 + 20s);
    CHECK(trial == Admission::trial);
    breaker.report(trial, Result::neutral, t0 + 20s); // said nothing: another trial may go
    CHECK(breaker.open());
    trial = breaker.admit(t0 + 20s);
    CHECK(trial == Admission::trial);
    breaker.report(trial, Result::success, t0 + 20s);
    CHECK_FALSE(breaker.open());
    CHECK(breaker.openings() == 2);
    CHECK(breaker.admit(t0 + 20s) == Admission::pass);
}

TEST_CASE("a call let through before the breaker opened does not extend it") {
    CircuitBreaker breaker(2, 10s);
    auto early = breaker.admit(t0);
    REQUIRE(early == Admission::pass);
    fail_once(breaker, t0);
    fail_once(breaker, t0);
    REQUIRE(breaker.open());
    breaker.report(early, Result::failure, t0 + 5s);
    CHECK(breaker.openings() == 1);
    CHECK(breaker.retry_at() == t0 + 10s);
    CHECK(breaker.admit(t0 + 10s) == Admission::trial);
}
