// Counting state store calls on their way through (metered_store.hpp).
#include "metered_store.hpp"

#include "metrics/registry.hpp"

namespace portcullis::memory {

namespace {

state::Outcome counted(std::string_view operation, state::Outcome outcome) {
    metrics::global().count_store_call(operation, outcome.ok() ? std::string_view()
                                                               : to_string(outcome.status));
    return outcome;
}

} // namespace

MeteredStore::MeteredStore(std::shared_ptr<state::Store> store) : store_(std::move(store)) {
    metrics::global().enable_store();
}

state::Outcome MeteredStore::get(std::string_view key, state::Time now,
                                 std::optional<state::Entry> &value) {
    return counted("get", store_->get(key, now, value));
}

state::Outcome MeteredStore::put(std::string_view key, std::string_view value, state::Time expires,
                                 state::Time now) {
    return counted("put", store_->put(key, value, expires, now));
}

state::Outcome MeteredStore::put_if_absent(std::string_view key, std::string_view value,
                                           state::Time expires, state::Time now,
                                           std::optional<state::Entry> &existing) {
    return counted("put_if_absent", store_->put_if_absent(key, value, expires, now, existing));
}

state::Outcome MeteredStore::erase(std::string_view key) {
    return counted("erase", store_->erase(key));
}

state::Outcome MeteredStore::count_event(std::string_view key, state::Time now,
                                         std::chrono::milliseconds window,
                                         std::chrono::milliseconds keep, bool count,
                                         std::uint64_t &events) {
    return counted("count_event", store_->count_event(key, now, window, keep, count, events));
}

state::Outcome MeteredStore::list(std::string_view prefix, state::Time now, std::size_t limit,
                                  std::vector<state::Entry> &entries) {
    return counted("list", store_->list(prefix, now, limit, entries));
}

state::Outcome MeteredStore::stats(state::Time now, state::Stats &stats) {
    return counted("stats", store_->stats(now, stats));
}

} // namespace portcullis::memory
