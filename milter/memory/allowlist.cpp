#include "allowlist.hpp"

#include "keys.hpp"
#include "time_text.hpp"

#include <algorithm>

namespace portcullis::memory {

namespace {

state::Time from_ms(long long ms) {
    return state::Time(std::chrono::milliseconds(ms));
}

} // namespace

Allowlist Allowlist::parse(std::string_view value) {
    Allowlist list;
    while (!value.empty()) {
        const auto end = value.find('\n');
        const auto line = value.substr(0, end);
        value = end == std::string_view::npos ? std::string_view() : value.substr(end + 1);
        if (line.empty())
            continue;
        const auto space = line.find(' ');
        const auto network =
            space == std::string_view::npos ? std::nullopt : Network::parse(line.substr(0, space));
        const auto ms =
            space == std::string_view::npos ? std::nullopt : parse_ms(line.substr(space + 1));
        if (!network || !ms) {
            ++list.malformed_;
            continue;
        }
        list.entries_.push_back({*network, from_ms(*ms)});
    }
    return list;
}

std::string Allowlist::serialize() const {
    std::string out;
    for (const auto &entry : entries_)
        out += entry.network.to_string() + " " + format_ms(to_ms(entry.expires)) + "\n";
    return out;
}

const AllowEntry *Allowlist::match(const IpAddress &client, state::Time now) const {
    for (const auto &entry : entries_)
        if (entry.expires > now && entry.network.contains(client))
            return &entry;
    return nullptr;
}

void Allowlist::add(const Network &network, state::Time expires, state::Time now) {
    std::erase_if(entries_, [&](const AllowEntry &entry) {
        return entry.expires <= now || entry.network.to_string() == network.to_string();
    });
    entries_.push_back({network, expires});
}

std::size_t Allowlist::remove(const Network &network) {
    return std::erase_if(entries_, [&](const AllowEntry &entry) {
        return entry.network.to_string() == network.to_string();
    });
}

state::Time Allowlist::last_expiry() const {
    state::Time last{};
    for (const auto &entry : entries_)
        last = std::max(last, entry.expires);
    return last;
}

state::Outcome read_allowlist(state::Store &store, state::Time now, Allowlist &allowlist) {
    std::optional<state::Entry> entry;
    auto outcome = store.get(allowlist_key, now, entry);
    allowlist = entry ? Allowlist::parse(entry->value) : Allowlist();
    return outcome;
}

} // namespace portcullis::memory
