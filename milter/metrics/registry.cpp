// The registry of portcullis' metrics (registry.hpp).
#include "registry.hpp"

#include "exposition.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

namespace portcullis::metrics {

namespace {

// The position of `value` in `names`, the last ("other") when absent.
template <std::size_t N>
std::size_t index_of(const std::array<std::string_view, N> &names, std::string_view value) {
    for (std::size_t i = 0; i + 1 < N; ++i)
        if (names[i] == value)
            return i;
    return N - 1;
}

} // namespace

// Built once, then only read: sorted ids and one counter per (rule, action).
struct Registry::RuleCounters {
    std::vector<std::string> ids;
    std::unique_ptr<std::array<Counter, verdict_actions.size()>[]> counts;

    // The counters stay writable in a table that is itself only read.
    std::array<Counter, verdict_actions.size()> *find(std::string_view rule) const {
        const auto it = std::lower_bound(ids.begin(), ids.end(), rule);
        if (it == ids.end() || *it != rule)
            return nullptr;
        return &counts[static_cast<std::size_t>(it - ids.begin())];
    }
};

Registry::Registry() = default;
Registry::~Registry() = default;

bool Registry::register_rules(std::span<const std::string_view> rules) {
    static std::mutex mutex; // registering is rare; counting never takes it
    std::lock_guard lock(mutex);
    if (owned_rules_)
        return false;
    auto table = std::make_unique<RuleCounters>();
    table->ids.assign(rules.begin(), rules.end());
    table->ids.emplace_back("none");
    std::sort(table->ids.begin(), table->ids.end());
    table->ids.erase(std::unique(table->ids.begin(), table->ids.end()), table->ids.end());
    table->counts =
        std::make_unique<std::array<Counter, verdict_actions.size()>[]>(table->ids.size());
    rules_.store(table.get(), std::memory_order_release);
    owned_rules_ = std::move(table);
    return true;
}

void Registry::count_verdict(std::string_view rule, std::string_view action) {
    const std::size_t column = index_of(verdict_actions, action);
    const auto *table = rules_.load(std::memory_order_acquire);
    auto *row = table ? table->find(rule) : nullptr;
    (row ? (*row)[column] : other_rule_verdicts_[column]).add();
}

void Registry::count_dns_lookup(std::string_view type, std::string_view outcome,
                                std::uint64_t microseconds) {
    const std::size_t row = index_of(dns_types, type);
    dns_lookups_[row][index_of(dns_outcomes, outcome)].add();
    dns_latency_[row].observe_microseconds(microseconds);
}

void Registry::count_spf_result(std::string_view identity, std::string_view result) {
    spf_results_[index_of(spf_identities, identity)][index_of(spf_results, result)].add();
}

void Registry::count_store_call(std::string_view operation, std::string_view error) {
    const std::size_t row = index_of(store_operations, operation);
    store_calls_[row].add();
    if (!error.empty())
        store_errors_[row][index_of(store_errors, error)].add();
}

std::string Registry::render() const {
    TextWriter out;
    out.family("portcullis_sessions_total", "counter", "SMTP sessions (MTA connections) started.");
    out.sample("portcullis_sessions_total", {}, sessions_.value());

    out.family("portcullis_verdicts_total", "counter",
               "Decisions logged, by rule and action: one per decision line (rule \"none\" "
               "for action continue), one per log= rule in it.");
    const auto *table = rules_.load(std::memory_order_acquire);
    for (std::size_t column = 0; column < verdict_actions.size(); ++column) {
        if (table)
            for (std::size_t i = 0; i < table->ids.size(); ++i)
                if (const auto value = table->counts[i][column].value())
                    out.sample("portcullis_verdicts_total",
                               {{"rule", table->ids[i]}, {"action", verdict_actions[column]}},
                               value);
        if (const auto value = other_rule_verdicts_[column].value())
            out.sample("portcullis_verdicts_total",
                       {{"rule", "other"}, {"action", verdict_actions[column]}}, value);
    }

    out.family("portcullis_dns_lookups_total", "counter",
               "DNS lookups sent to the resolver (after the shared answer cache), by type and "
               "outcome.");
    for (std::size_t row = 0; row < dns_types.size(); ++row)
        for (std::size_t column = 0; column < dns_outcomes.size(); ++column)
            if (const auto value = dns_lookups_[row][column].value())
                out.sample("portcullis_dns_lookups_total",
                           {{"type", dns_types[row]}, {"outcome", dns_outcomes[column]}}, value);
    out.family("portcullis_dns_lookup_duration_seconds", "histogram",
               "Time from asking the resolver to its answer, by type.");
    for (std::size_t row = 0; row < dns_types.size(); ++row)
        if (dns_latency_[row].snapshot().count > 0)
            out.histogram("portcullis_dns_lookup_duration_seconds", {{"type", dns_types[row]}},
                          dns_latency_[row]);

    out.family("portcullis_answer_cache_hits_total", "counter",
               "Lookups answered by the answer cache shared between sessions.");
    out.sample("portcullis_answer_cache_hits_total", {}, cache_hits_.value());
    out.family("portcullis_answer_cache_misses_total", "counter",
               "Lookups the shared answer cache passed on to the resolver.");
    out.sample("portcullis_answer_cache_misses_total", {}, cache_misses_.value());

    out.family("portcullis_spf_results_total", "counter",
               "SPF evaluations (check_host()) completed, by identity and result.");
    for (std::size_t row = 0; row < spf_identities.size(); ++row)
        for (std::size_t column = 0; column < spf_results.size(); ++column)
            if (const auto value = spf_results_[row][column].value())
                out.sample("portcullis_spf_results_total",
                           {{"identity", spf_identities[row]}, {"result", spf_results[column]}},
                           value);

    if (store_enabled_.load(std::memory_order_relaxed)) {
        out.family("portcullis_state_store_calls_total", "counter",
                   "Calls to the state store, by operation.");
        for (std::size_t row = 0; row < store_operations.size(); ++row)
            if (const auto value = store_calls_[row].value())
                out.sample("portcullis_state_store_calls_total",
                           {{"operation", store_operations[row]}}, value);
        out.family("portcullis_state_store_errors_total", "counter",
                   "State store calls that failed, by operation and failure.");
        for (std::size_t row = 0; row < store_operations.size(); ++row)
            for (std::size_t column = 0; column < store_errors.size(); ++column)
                if (const auto value = store_errors_[row][column].value())
                    out.sample(
                        "portcullis_state_store_errors_total",
                        {{"operation", store_operations[row]}, {"status", store_errors[column]}},
                        value);
    }

    out.family("portcullis_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
    out.sample("portcullis_reloads_total", {{"result", "ok"}}, reloads_.value());
    out.sample("portcullis_reloads_total", {{"result", "failed"}}, failed_reloads_.value());
    out.family("portcullis_log_lines_dropped_total", "counter",
               "Log lines dropped because the queue to a stalled syslog was full.");
    out.sample("portcullis_log_lines_dropped_total", {}, log_lines_dropped_.value());
    return out.text();
}

Registry &global() {
    static Registry registry;
    return registry;
}

} // namespace portcullis::metrics
