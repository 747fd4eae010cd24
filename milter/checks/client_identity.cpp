#include "checks/client_identity.hpp"

#include "checks/check.hpp"
#include "core/host_name.hpp"
#include "core/log.hpp"

#include <algorithm>

namespace portcullis {

std::vector<std::string> ptr_names_to_confirm(const DnsAnswer &ptr, unsigned max_names) {
    std::vector<std::string> names;
    if (!ptr.has_records())
        return names;
    for (const auto &record : ptr.records) {
        if (names.size() >= max_names)
            break;
        auto name = normalize_host(record);
        if (!host_name_problem(name, true).empty())
            continue;
        if (std::find(names.begin(), names.end(), name) == names.end())
            names.push_back(std::move(name));
    }
    return names;
}

bool answer_contains(const DnsAnswer &answer, const IpAddress &client) {
    return answer.has_records() &&
           std::any_of(answer.records.begin(), answer.records.end(), [&](const std::string &text) {
               auto address = IpAddress::parse(text);
               return address && address->unmapped() == client;
           });
}

void ClientNames::start(Lookups &lookups, const IpAddress &client, unsigned max_names) {
    {
        std::lock_guard lock(mutex_);
        if (started_)
            return;
        started_ = true;
        client_ = client;
        forward_type_ = client.is_v4() ? DnsType::A : DnsType::AAAA;
        max_names_ = max_names;
    }
    // Weak: the continuations are stored inside the Lookups they refer to,
    // and the session owns both.
    std::weak_ptr<ClientNames> self = weak_from_this();
    std::weak_ptr<Lookups> weak_lookups = lookups.weak_from_this();
    lookups.start(client.reverse_name(), DnsType::PTR, [self, weak_lookups](const DnsAnswer &ptr) {
        auto names = self.lock();
        auto lookups = weak_lookups.lock();
        if (names && lookups)
            names->on_ptr(*lookups, ptr);
    });
}

void ClientNames::on_ptr(Lookups &lookups, const DnsAnswer &ptr) {
    std::vector<std::string> names;
    DnsType type{};
    {
        std::lock_guard lock(mutex_);
        names_ = ptr_names_to_confirm(ptr, max_names_);
        confirmed_.assign(names_.size(), false);
        names = names_;
        type = forward_type_;
    }
    // Outside the mutex: a lookup may complete inside start().
    std::weak_ptr<ClientNames> self = weak_from_this();
    for (std::size_t i = 0; i < names.size(); ++i)
        lookups.start(names[i], type, [self, i](const DnsAnswer &forward) {
            if (auto names = self.lock())
                names->on_forward(i, forward);
        });
}

void ClientNames::on_forward(std::size_t index, const DnsAnswer &forward) {
    std::vector<Listener> listeners;
    std::string name;
    {
        std::lock_guard lock(mutex_);
        if (index >= names_.size() || confirmed_[index] || !answer_contains(forward, client_))
            return;
        confirmed_[index] = true;
        name = names_[index];
        for (const auto &[key, listener] : listeners_)
            listeners.push_back(listener);
    }
    for (const auto &listener : listeners)
        listener(name);
}

void ClientNames::each_confirmed(std::string_view key, Listener listener) {
    std::vector<std::string> already;
    {
        std::lock_guard lock(mutex_);
        for (const auto &[known, ignored] : listeners_)
            if (known == key)
                return;
        for (std::size_t i = 0; i < names_.size(); ++i)
            if (confirmed_[i])
                already.push_back(names_[i]);
        listeners_.emplace_back(std::string(key), listener);
    }
    for (const auto &name : already)
        listener(name);
}

std::vector<std::string> ClientNames::names() const {
    std::lock_guard lock(mutex_);
    return names_;
}

std::vector<std::string> ClientNames::confirmed() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (std::size_t i = 0; i < names_.size(); ++i)
        if (confirmed_[i])
            out.push_back(names_[i]);
    return out;
}

namespace {

HeloForm helo_form_of(std::string_view helo) {
    if (helo.empty())
        return HeloForm::missing;
    if (helo.front() == '[')
        return HeloForm::address_literal;
    if (!host_name_problem(helo).empty())
        return HeloForm::not_host_name;
    const std::string name = normalize_host(helo);
    if (name.find('.') == std::string::npos || IpAddress::parse(name))
        return HeloForm::not_fqdn;
    return HeloForm::fqdn;
}

} // namespace

void ClientIdentity::update(const Facts &facts) {
    const std::optional<IpAddress> client =
        facts.client ? std::optional(facts.client->unmapped()) : std::nullopt;
    if (client != address) {
        address = client;
        reversed = client ? client->reversed() : "";
        reverse_name = client ? client->reverse_name() : "";
    }

    helo_form = helo_form_of(facts.helo);
    helo_name = helo_form == HeloForm::not_fqdn || helo_form == HeloForm::fqdn
                    ? normalize_host(facts.helo)
                    : "";

    sender_domain.clear();
    no_sender_domain.clear();
    const auto at = facts.sender.rfind('@');
    if (!facts.sender_seen) {
        no_sender_domain = "no MAIL FROM yet";
    } else if (facts.sender.empty()) {
        no_sender_domain = "the null sender has no domain";
    } else if (at == std::string::npos || at + 1 == facts.sender.size()) {
        no_sender_domain = "sender <" + log_safe(facts.sender, 100) + "> has no domain";
    } else {
        const std::string_view domain = std::string_view(facts.sender).substr(at + 1);
        if (domain.front() == '[')
            no_sender_domain = "sender domain is an address literal";
        else if (!host_name_problem(domain).empty())
            no_sender_domain = "sender domain '" + log_safe(domain, 100) + "' is not a host name";
        else
            sender_domain = normalize_host(domain);
    }
}

} // namespace portcullis
