#include "shared_answers.hpp"

#include "metrics/registry.hpp"

#include <algorithm>

namespace portcullis {

SharedAnswers::SharedAnswers(std::shared_ptr<Resolver> resolver, Limits limits,
                             std::function<Clock::time_point()> now)
    : resolver_(std::move(resolver)), limits_(limits), now_(std::move(now)) {}

void SharedAnswers::resolve(const std::string &name, DnsType type, Callback done) {
    auto key = std::to_string(static_cast<int>(type)) + " " + name;
    if (auto answer = find(key)) {
        metrics::global().count_answer_cache(true);
        done(std::move(*answer));
        return;
    }
    metrics::global().count_answer_cache(false);
    // Weak: a pending lookup must not keep the runtime's cache alive.
    std::weak_ptr<SharedAnswers> weak = shared_from_this();
    resolver_->resolve(name, type,
                       [weak, key = std::move(key), done = std::move(done)](DnsAnswer answer) {
                           if (auto self = weak.lock())
                               self->store(key, answer);
                           done(std::move(answer));
                       });
}

std::size_t SharedAnswers::entries() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

std::size_t SharedAnswers::bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
}

std::size_t SharedAnswers::size_of(const std::string &key, const DnsAnswer &answer) {
    std::size_t bytes =
        entry_overhead + 2 * key.size() + answer.canonical_name.size() + answer.why.size();
    for (const auto &record : answer.records)
        bytes += record_overhead + record.size();
    return bytes;
}

std::optional<DnsAnswer> SharedAnswers::find(const std::string &key) {
    const auto now = now_();
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end())
        return std::nullopt;
    if (it->second.expires <= now) {
        erase(it);
        return std::nullopt;
    }
    uses_.splice(uses_.begin(), uses_, it->second.use);
    return it->second.answer;
}

void SharedAnswers::erase(std::unordered_map<std::string, Entry>::iterator it) {
    bytes_ -= it->second.bytes;
    uses_.erase(it->second.use);
    entries_.erase(it);
}

void SharedAnswers::store(const std::string &key, const DnsAnswer &answer) {
    if (answer.is_error())
        return;
    const auto ttl =
        std::min<std::chrono::seconds>(std::chrono::seconds(answer.ttl), limits_.max_ttl);
    const std::size_t bytes = size_of(key, answer);
    if (ttl.count() <= 0 || limits_.max_entries == 0 || bytes > limits_.max_bytes)
        return;
    const auto now = now_();
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end())
        erase(it);
    while (!uses_.empty() &&
           (entries_.size() >= limits_.max_entries || bytes_ + bytes > limits_.max_bytes))
        erase(entries_.find(uses_.back()));
    uses_.push_front(key);
    entries_.emplace(key, Entry{answer, now + ttl, bytes, uses_.begin()});
    bytes_ += bytes;
}

} // namespace portcullis
