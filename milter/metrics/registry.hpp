// The metrics portcullis exports, and their rendering as Prometheus text.
// Every label takes its values from a fixed list known at start (rule ids
// registered once, DNS types and outcomes, SPF results, store operations),
// so the number of series is bounded whatever the network sends; a value
// outside its list is counted under "other". Counting takes no lock and
// never allocates (counters.hpp); the session path calls the count_*
// functions from any thread. This library sits below core and knows none
// of its types: callers pass the labels' names (to_string() of their
// enums). Reloads do not touch it: counts live as long as the process.
#pragma once

#include "counters.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace portcullis::metrics {

// The label values of each fixed list; the last of each is "other".
inline constexpr std::array<std::string_view, 5> verdict_actions = {"reject", "tempfail", "log",
                                                                    "continue", "other"};
inline constexpr std::array<std::string_view, 7> dns_types = {"A",   "AAAA",  "PTR",  "MX",
                                                              "TXT", "CNAME", "other"};
inline constexpr std::array<std::string_view, 7> dns_outcomes = {
    "ok", "nxdomain", "nodata", "servfail", "timeout", "bogus", "other"};
inline constexpr std::array<std::string_view, 3> spf_identities = {"mailfrom", "helo", "other"};
inline constexpr std::array<std::string_view, 8> spf_results = {
    "pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "other"};
inline constexpr std::array<std::string_view, 8> store_operations = {
    "get", "put", "put_if_absent", "erase", "count_event", "list", "stats", "other"};
inline constexpr std::array<std::string_view, 5> store_errors = {"timeout", "unavailable", "full",
                                                                 "error", "other"};

class Registry {
  public:
    Registry();
    ~Registry();
    Registry(const Registry &) = delete;
    Registry &operator=(const Registry &) = delete;

    // The rule ids verdicts are counted by (duplicates ignored), plus
    // "none" for a decision without a rule. The first call wins; later
    // calls return false. Rules counted before it count as "other".
    bool register_rules(std::span<const std::string_view> rules);
    // Shows the state store's series; the daemon calls it once it has one.
    void enable_store() { store_enabled_.store(true, std::memory_order_relaxed); }

    void count_session() { sessions_.add(); }
    // One decision line: its rule ("none" when it has none) and action.
    void count_verdict(std::string_view rule, std::string_view action);
    void count_dns_lookup(std::string_view type, std::string_view outcome,
                          std::uint64_t microseconds);
    void count_answer_cache(bool hit) { (hit ? cache_hits_ : cache_misses_).add(); }
    void count_spf_result(std::string_view identity, std::string_view result);
    // `error` empty for a call that succeeded, else the failure's status.
    void count_store_call(std::string_view operation, std::string_view error);
    void count_reload(bool succeeded) { (succeeded ? reloads_ : failed_reloads_).add(); }
    void count_log_lines_dropped(std::uint64_t lines) { log_lines_dropped_.add(lines); }

    // The whole exposition, text format 0.0.4.
    std::string render() const;

  private:
    struct RuleCounters;
    Counter sessions_;
    std::atomic<const RuleCounters *> rules_{nullptr};
    std::unique_ptr<const RuleCounters> owned_rules_;
    std::array<Counter, verdict_actions.size()> other_rule_verdicts_;
    std::array<std::array<Counter, dns_outcomes.size()>, dns_types.size()> dns_lookups_;
    std::array<Histogram, dns_types.size()> dns_latency_;
    Counter cache_hits_;
    Counter cache_misses_;
    std::array<std::array<Counter, spf_results.size()>, spf_identities.size()> spf_results_;
    std::atomic<bool> store_enabled_{false};
    std::array<Counter, store_operations.size()> store_calls_;
    std::array<std::array<Counter, store_errors.size()>, store_operations.size()> store_errors_;
    Counter reloads_;
    Counter failed_reloads_;
    Counter log_lines_dropped_;
};

// The process's registry, which the daemon serves.
Registry &global();

} // namespace portcullis::metrics
