#include "lookups.hpp"

#include "address.hpp"

#include <charconv>

namespace portcullis {

std::string_view to_string(DnsType type) {
    switch (type) {
    case DnsType::A:
        return "A";
    case DnsType::CNAME:
        return "CNAME";
    case DnsType::PTR:
        return "PTR";
    case DnsType::MX:
        return "MX";
    case DnsType::TXT:
        return "TXT";
    case DnsType::AAAA:
        return "AAAA";
    }
    return "?";
}

std::string_view to_string(DnsAnswer::Status status) {
    switch (status) {
    case DnsAnswer::Status::ok:
        return "ok";
    case DnsAnswer::Status::nxdomain:
        return "nxdomain";
    case DnsAnswer::Status::nodata:
        return "nodata";
    case DnsAnswer::Status::servfail:
        return "servfail";
    case DnsAnswer::Status::timeout:
        return "timeout";
    case DnsAnswer::Status::bogus:
        return "bogus";
    }
    return "?";
}

namespace {

// The owner of the continuation running on this thread, for the lookups it
// starts: set while a Lookups runs a continuation, for that Lookups only.
struct Continuing {
    const void *lookups = nullptr;
    std::uint64_t owner = 0;
};
thread_local Continuing continuing;

class ContinuingGuard {
  public:
    ContinuingGuard(const void *lookups, std::uint64_t owner) : saved_(continuing) {
        continuing = {lookups, owner};
    }
    ~ContinuingGuard() { continuing = saved_; }
    ContinuingGuard(const ContinuingGuard &) = delete;
    ContinuingGuard &operator=(const ContinuingGuard &) = delete;

  private:
    Continuing saved_;
};

// What an answer holds of data: record texts, names and reasons.
std::uint64_t answer_bytes(const DnsAnswer &answer) {
    std::uint64_t bytes = answer.canonical_name.size() + answer.why.size();
    for (const auto &record : answer.records)
        bytes += record.size();
    return bytes;
}

} // namespace

std::shared_ptr<Lookups> Lookups::create(std::shared_ptr<Resolver> resolver, ErrorSink on_error,
                                         Budget budget) {
    return std::shared_ptr<Lookups>(new Lookups(std::move(resolver), std::move(on_error), budget));
}

Lookups::Lookups(std::shared_ptr<Resolver> resolver, ErrorSink on_error, Budget budget)
    : resolver_(std::move(resolver)), on_error_(std::move(on_error)), budget_(budget) {}

// "TYPE name", the name normalized as normalize_host() does, built in one
// allocation (get() runs many times per session).
std::string Lookups::key_of(const std::string &name, DnsType type) {
    std::string_view host = name;
    if (!host.empty() && host.back() == '.')
        host.remove_suffix(1);
    std::string key = std::to_string(static_cast<int>(type));
    key.reserve(key.size() + 1 + host.size());
    key += ' ';
    for (char c : host)
        key += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return key;
}

Lookups::Owner Lookups::asking() const {
    if (continuing.lookups == this)
        return continuing.owner;
    return asking_for_transaction_ ? transaction_ : session_owner;
}

void Lookups::start(const std::string &name, DnsType type, Continuation then) {
    char buffer[288];
    std::string fallback;
    const std::string_view key = key_view(name, type, buffer, sizeof buffer, fallback);
    const std::string_view normalized = key.substr(key.find(' ') + 1);
    std::shared_ptr<Entry> ready;
    std::shared_ptr<Entry> started;
    Owner owner = session_owner;
    {
        std::lock_guard lock(mutex_);
        owner = asking();
        if (ended(owner))
            return; // a continuation of a transaction that is over
        auto it = entries_.find(key);
        if (it != entries_.end()) {
            Entry &entry = *it->second;
            if (owner == session_owner || entry.owner != session_owner)
                entry.owner = owner;
            if (entry.answer)
                ready = it->second;
            else if (then)
                entry.waiting.push_back({std::move(then), owner});
            if (!ready)
                return;
        } else {
            if (!excess_ && budget_.max_lookups && started_ >= budget_.max_lookups)
                excess_ = Excess{"lookups", budget_.max_lookups, started_ + 1};
            if (excess_)
                return;
            started = std::make_shared<Entry>();
            started->name = normalized;
            started->type = type;
            started->owner = owner;
            if (then)
                started->waiting.push_back({std::move(then), owner});
            entries_.emplace(std::string(key), started);
            ++pending_;
            ++started_;
        }
    }
    if (ready) {
        // Set once, never changed; the entry is ours while we hold it.
        if (then) {
            const ContinuingGuard guard(this, owner);
            then(*ready->answer);
        }
        return;
    }
    // A late answer for a session that is gone, or for an entry released
    // since, is dropped: the resolver must never hold the last reference
    // to a session's lookups, nor keep a released entry alive.
    std::weak_ptr<Lookups> self = shared_from_this();
    std::weak_ptr<Entry> weak_entry = started;
    resolver_->resolve(started->name, type, [self, weak_entry](DnsAnswer answer) {
        auto lookups = self.lock();
        auto entry = weak_entry.lock();
        if (lookups && entry)
            lookups->finish(entry, std::move(answer));
    });
}

void Lookups::finish(const std::shared_ptr<Entry> &entry, DnsAnswer answer) {
    std::vector<Waiter> waiting;
    Owner transaction = 0;
    {
        std::lock_guard lock(mutex_);
        if (entry->answer || entry->erased)
            return; // a second completion is ignored: exactly once
        entry->bytes = answer_bytes(answer);
        held_bytes_ += entry->bytes;
        if (!excess_ && budget_.max_answer_bytes && held_bytes_ > budget_.max_answer_bytes)
            excess_ = Excess{"answer-bytes", budget_.max_answer_bytes, held_bytes_};
        // Set once here, never changed afterwards (nor is the entry's
        // name): both may be read without the mutex from now on.
        entry->answer = std::move(answer);
        waiting.swap(entry->waiting);
        transaction = transaction_;
    }
    // Outside the mutex: a continuation dropped may own the last
    // reference to this Lookups (an SPF evaluation that made its own).
    std::erase_if(waiting, [&](const Waiter &waiter) {
        return waiter.owner != session_owner && waiter.owner < transaction;
    });
    // The lookup counts as pending until its continuations have run, so
    // that a waiter also waits for the lookups they start. `entry` keeps
    // the answer alive even if the entry is released meanwhile.
    const DnsAnswer &stored = *entry->answer;
    if (stored.is_error() && on_error_)
        on_error_(entry->name, entry->type, stored);
    for (auto &waiter : waiting) {
        const ContinuingGuard guard(this, waiter.owner);
        waiter.then(stored);
    }
    {
        std::lock_guard lock(mutex_);
        if (entry->pending) {
            entry->pending = false;
            --pending_;
        }
    }
    changed_.notify_all();
}

void Lookups::ask_for_transaction(bool transaction) {
    std::lock_guard lock(mutex_);
    asking_for_transaction_ = transaction;
}

void Lookups::end_transaction() {
    std::vector<Waiter> dropped; // destroyed outside the mutex
    {
        std::lock_guard lock(mutex_);
        ++transaction_;
        for (auto &[key, entry] : entries_)
            for (auto it = entry->waiting.begin(); it != entry->waiting.end();) {
                if (ended(it->owner)) {
                    dropped.push_back(std::move(*it));
                    it = entry->waiting.erase(it);
                } else {
                    ++it;
                }
            }
    }
}

void Lookups::release_ended() {
    std::vector<std::shared_ptr<Entry>> released; // destroyed outside the mutex
    {
        std::lock_guard lock(mutex_);
        for (auto it = entries_.begin(); it != entries_.end();) {
            Entry &entry = *it->second;
            if (!ended(entry.owner)) {
                ++it;
                continue;
            }
            entry.erased = true;
            if (entry.pending) {
                entry.pending = false;
                --pending_;
            }
            held_bytes_ -= entry.bytes;
            released.push_back(std::move(it->second));
            it = entries_.erase(it);
        }
    }
    if (!released.empty())
        changed_.notify_all();
}

std::string_view Lookups::key_view(const std::string &name, DnsType type, char *buffer,
                                   std::size_t size, std::string &fallback) {
    std::string_view host = name;
    if (!host.empty() && host.back() == '.')
        host.remove_suffix(1);
    // Type numbers have at most 5 digits.
    if (size < 6 || host.size() > size - 6) {
        fallback = key_of(name, type);
        return fallback;
    }
    const auto [end, error] = std::to_chars(buffer, buffer + 5, static_cast<int>(type));
    if (error != std::errc()) {
        fallback = key_of(name, type);
        return fallback;
    }
    *end = ' ';
    std::size_t at = static_cast<std::size_t>(end - buffer) + 1;
    for (char c : host)
        buffer[at++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return std::string_view(buffer, at);
}

namespace {

DnsAnswer timeout_answer(const char *why) {
    DnsAnswer answer;
    answer.status = DnsAnswer::Status::timeout;
    answer.why = why;
    return answer;
}

} // namespace

const DnsAnswer &Lookups::get(const std::string &name, DnsType type) const {
    static const DnsAnswer never_started = timeout_answer("lookup was never started");
    static const DnsAnswer unanswered = timeout_answer("no answer within the budget");
    char buffer[288];
    std::string fallback;
    const auto key = key_view(name, type, buffer, sizeof buffer, fallback);
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end())
        return never_started;
    // Set once under the mutex, never changed afterwards.
    if (it->second->answer)
        return *it->second->answer;
    return unanswered;
}

bool Lookups::complete(const std::string &name, DnsType type) const {
    char buffer[288];
    std::string fallback;
    const auto key = key_view(name, type, buffer, sizeof buffer, fallback);
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    return it != entries_.end() && it->second->answer.has_value();
}

bool Lookups::wait_until(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_until(lock, deadline, [this] { return pending_ == 0; });
}

bool Lookups::wait_for(const std::string &name, DnsType type, Clock::time_point deadline) {
    const std::string key = key_of(name, type);
    std::unique_lock lock(mutex_);
    // The entry is looked up again at every wake: release_ended() may
    // erase it meanwhile.
    const auto answered = [&](bool &held) {
        auto it = entries_.find(key);
        held = it != entries_.end();
        return held && it->second->answer.has_value();
    };
    bool held = false;
    return changed_.wait_until(lock, deadline, [&] { return answered(held) || !held; }) && held;
}

std::optional<Lookups::Excess> Lookups::exhausted() const {
    std::lock_guard lock(mutex_);
    return excess_;
}

std::uint64_t Lookups::started() const {
    std::lock_guard lock(mutex_);
    return started_;
}

std::size_t Lookups::held() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

std::uint64_t Lookups::held_bytes() const {
    std::lock_guard lock(mutex_);
    return held_bytes_;
}

} // namespace portcullis
