#include "store_failure.hpp"

#include "abuse_counters.hpp"
#include "core/log.hpp"
#include "greylist.hpp"

#include <atomic>
#include <mutex>
#include <vector>

namespace portcullis::memory {

namespace {

constexpr std::string_view state_error_text[] = {
    "Temporary local problem with our state store, please try again later.",
};

constexpr RuleSpec rules[] = {
    {.id = state_error_rule,
     .stage = Stage::rcpt,
     .default_action = "tempfail",
     .summary = "the state store failed (Redis down or slow, LMDB full) and "
                "greylist.on-store-error or limits.on-store-error is tempfail",
     .help = "Our mail filter could not reach its own database for a moment; nothing is wrong "
             "with your mail server, which will retry.",
     .reject = "550 5.3.0",
     .tempfail = "451 4.3.0",
     .text = state_error_text,
     .notes = "Applies only where an on-store-error option says tempfail; by default a store "
              "failure lets the mail through. Failures are logged at most once per "
              "state.breaker-interval, with their count.",
     .may_reject = false},
};

std::mutex log_mutex;
std::chrono::steady_clock::time_point last_line{};
bool logged_once = false;
std::uint64_t unlogged = 0;

} // namespace

void report_store_failure(std::string_view feature, std::string_view why,
                          std::chrono::milliseconds interval) {
    const auto now = std::chrono::steady_clock::now();
    std::uint64_t count;
    {
        std::lock_guard lock(log_mutex);
        ++unlogged;
        if (logged_once && now - last_line < interval)
            return;
        logged_once = true;
        last_line = now;
        count = unlogged;
        unlogged = 0;
    }
    log_warning("state store failed for " + std::string(feature) + ": " + log_safe(why, 300) +
                " (" + std::to_string(count) +
                " failure(s) since the last such line; next line at most every " +
                std::to_string(interval.count()) + "ms)");
}

std::span<const RuleSpec> store_failure_rules() {
    return rules;
}

std::span<const RuleSpec> memory_rules() {
    static const std::vector<RuleSpec> all = [] {
        std::vector<RuleSpec> list;
        for (auto part : {greylist_rules(), counter_rules(), store_failure_rules()})
            list.insert(list.end(), part.begin(), part.end());
        return list;
    }();
    return all;
}

} // namespace portcullis::memory
