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

std::shared_ptr<Lookups> Lookups::create(std::shared_ptr<Resolver> resolver, ErrorSink on_error) {
    return std::shared_ptr<Lookups>(new Lookups(std::move(resolver), std::move(on_error)));
}

Lookups::Lookups(std::shared_ptr<Resolver> resolver, ErrorSink on_error)
    : resolver_(std::move(resolver)), on_error_(std::move(on_error)) {}

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

void Lookups::start(const std::string &name, DnsType type, Continuation then) {
    char buffer[288];
    std::string fallback;
    const std::string_view key = key_view(name, type, buffer, sizeof buffer, fallback);
    const std::string_view normalized = key.substr(key.find(' ') + 1);
    // A completed answer is never changed: a pointer to it stays valid.
    const DnsAnswer *ready = nullptr;
    Entry *started = nullptr;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(key);
        const bool inserted = it == entries_.end();
        if (inserted)
            it = entries_.try_emplace(std::string(key)).first;
        Entry &entry = it->second;
        if (!inserted) {
            if (entry.answer)
                ready = &*entry.answer;
            else if (then)
                entry.waiting.push_back(std::move(then));
            if (!ready)
                return;
        } else {
            entry.name = normalized;
            entry.type = type;
            if (then)
                entry.waiting.push_back(std::move(then));
            ++pending_;
            started = &entry;
        }
    }
    if (ready) {
        if (then)
            then(*ready);
        return;
    }
    // A late answer for a session that is gone is dropped: the resolver
    // must never hold the last reference to a session's lookups. Entries
    // are never erased (nor their names changed), so the entry outlives
    // the lookup whenever the Lookups does.
    std::weak_ptr<Lookups> self = shared_from_this();
    resolver_->resolve(started->name, type, [self, started](DnsAnswer answer) {
        if (auto lookups = self.lock())
            lookups->finish(*started, std::move(answer));
    });
}

void Lookups::finish(Entry &entry, DnsAnswer answer) {
    std::vector<Continuation> waiting;
    const DnsAnswer *stored = nullptr;
    const std::string *name = nullptr;
    DnsType type{};
    {
        std::lock_guard lock(mutex_);
        if (entry.answer)
            return; // a second completion is ignored: exactly once
        // Set once here, never changed nor erased afterwards (nor is the
        // entry's name): both may be read without the mutex from now on.
        entry.answer = std::move(answer);
        stored = &*entry.answer;
        waiting.swap(entry.waiting);
        name = &entry.name;
        type = entry.type;
    }
    // The lookup counts as pending until its continuations have run, so
    // that a waiter also waits for the lookups they start.
    if (stored->is_error() && on_error_)
        on_error_(*name, type, *stored);
    for (auto &continuation : waiting)
        continuation(*stored);
    {
        std::lock_guard lock(mutex_);
        --pending_;
    }
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
    if (it->second.answer)
        return *it->second.answer;
    return unanswered;
}

bool Lookups::complete(const std::string &name, DnsType type) const {
    char buffer[288];
    std::string fallback;
    const auto key = key_view(name, type, buffer, sizeof buffer, fallback);
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    return it != entries_.end() && it->second.answer.has_value();
}

bool Lookups::wait_until(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_until(lock, deadline, [this] { return pending_ == 0; });
}

std::size_t Lookups::started() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

} // namespace portcullis
