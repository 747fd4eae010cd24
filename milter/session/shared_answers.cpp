#include "shared_answers.hpp"

#include "metrics/registry.hpp"

namespace portcullis {

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
                           if (auto self = weak.lock(); self && !answer.is_error())
                               self->store(key, answer);
                           done(std::move(answer));
                       });
}

std::optional<DnsAnswer> SharedAnswers::find(const std::string &key) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.expires <= now)
        return std::nullopt;
    return it->second.answer;
}

void SharedAnswers::store(const std::string &key, const DnsAnswer &answer) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    if (entries_.size() >= capacity || now >= next_sweep_) {
        std::erase_if(entries_, [&](const auto &item) { return item.second.expires <= now; });
        if (entries_.size() >= capacity)
            entries_.clear();
        next_sweep_ = now + lifetime;
    }
    entries_[key] = Entry{answer, now + lifetime};
}

} // namespace portcullis
