#include "lookups.hpp"

#include "address.hpp"

namespace portcullis {

std::string_view to_string(DnsType type) {
    switch (type) {
    case DnsType::A: return "A";
    case DnsType::CNAME: return "CNAME";
    case DnsType::PTR: return "PTR";
    case DnsType::MX: return "MX";
    case DnsType::TXT: return "TXT";
    case DnsType::AAAA: return "AAAA";
    }
    return "?";
}

std::string_view to_string(DnsAnswer::Status status) {
    switch (status) {
    case DnsAnswer::Status::ok: return "ok";
    case DnsAnswer::Status::nxdomain: return "nxdomain";
    case DnsAnswer::Status::nodata: return "nodata";
    case DnsAnswer::Status::servfail: return "servfail";
    case DnsAnswer::Status::timeout: return "timeout";
    case DnsAnswer::Status::bogus: return "bogus";
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
    auto key = key_of(name, type);
    const std::string_view normalized = std::string_view(key).substr(key.find(' ') + 1);
    std::optional<DnsAnswer> ready;
    {
        std::lock_guard lock(mutex_);
        auto [it, inserted] = entries_.try_emplace(key);
        Entry &entry = it->second;
        if (!inserted) {
            if (entry.answer)
                ready = entry.answer;
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
        }
    }
    if (ready) {
        if (then)
            then(*ready);
        return;
    }
    // A late answer for a session that is gone is dropped: the resolver
    // must never hold the last reference to a session's lookups.
    std::weak_ptr<Lookups> self = shared_from_this();
    const std::string query(normalized);
    resolver_->resolve(query, type, [self, key = std::move(key)](DnsAnswer answer) {
        if (auto lookups = self.lock())
            lookups->finish(key, std::move(answer));
    });
}

void Lookups::finish(const std::string &key, DnsAnswer answer) {
    std::vector<Continuation> waiting;
    std::string name;
    DnsType type{};
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(key);
        if (it == entries_.end() || it->second.answer)
            return; // a second completion is ignored: exactly once
        it->second.answer = answer;
        waiting.swap(it->second.waiting);
        name = it->second.name;
        type = it->second.type;
    }
    // The lookup counts as pending until its continuations have run, so
    // that a waiter also waits for the lookups they start.
    if (answer.is_error() && on_error_)
        on_error_(name, type, answer);
    for (auto &continuation : waiting)
        continuation(answer);
    {
        std::lock_guard lock(mutex_);
        --pending_;
    }
    changed_.notify_all();
}

DnsAnswer Lookups::get(const std::string &name, DnsType type) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key_of(name, type));
    if (it != entries_.end() && it->second.answer)
        return *it->second.answer;
    DnsAnswer answer;
    answer.status = DnsAnswer::Status::timeout;
    answer.why = it == entries_.end() ? "lookup was never started" : "no answer within the budget";
    return answer;
}

bool Lookups::complete(const std::string &name, DnsType type) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key_of(name, type));
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
