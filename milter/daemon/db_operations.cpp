#include "db_operations.hpp"

#include "memory/abuse_counters.hpp"
#include "memory/allowlist.hpp"
#include "memory/keys.hpp"

#include <algorithm>
#include <charconv>

namespace portcullis::db {

namespace {

using memory::ClientState;
using memory::ClientStateQuery;

constexpr std::pair<std::string_view, Command> command_names[] = {
    {"list", Command::list},    {"show", Command::show},       {"allow", Command::allow},
    {"delete", Command::erase}, {"unblock", Command::unblock}, {"stats", Command::stats},
};

// The kinds `db stats` counts, by key prefix; at most this many each.
constexpr std::string_view kind_prefixes[] = {memory::triplet_prefix, memory::pass_prefix,
                                              memory::count_prefix, memory::block_prefix};
constexpr std::size_t most_counted = most_limit;

// Command-line text quoted in a message: printable, at most 100 bytes.
std::string shown(std::string_view text) {
    constexpr std::size_t most = 100;
    return "'" + printable(text.substr(0, most)) + (text.size() > most ? "...'" : "'");
}

std::optional<std::size_t> parse_limit(std::string_view text) {
    std::size_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty() || value == 0 ||
        value > most_limit)
        return std::nullopt;
    return value;
}

// The Outcome's status and why, on `err` and, with json, as the document.
int store_failed(const state::Outcome &outcome, const Request &request, std::ostream &out,
                 std::ostream &err) {
    const std::string status(state::to_string(outcome.status));
    err << "portcullis db: the store failed: " << status << ": " << printable(outcome.why) << "\n";
    if (request.json)
        out << nlohmann::json{{"error", printable(outcome.why)}, {"status", status}}.dump(2)
            << "\n";
    return exit_store_failed;
}

nlohmann::json entry_json(const state::Entry &entry, state::Time now) {
    return {{"key", printable(entry.key)},
            {"value", printable(entry.value)},
            {"expires", utc_json(entry.expires)},
            {"seconds_left", seconds_left(entry.expires, now)}};
}

int list(const Request &request, state::Store &store, state::Time now, std::ostream &out,
         std::ostream &err) {
    std::vector<state::Entry> entries;
    if (auto outcome = store.list(request.prefix, now, request.limit + 1, entries); !outcome.ok())
        return store_failed(outcome, request, out, err);
    const bool more = entries.size() > request.limit;
    if (more)
        entries.resize(request.limit);
    if (request.json) {
        auto items = nlohmann::json::array();
        for (const auto &entry : entries)
            items.push_back(entry_json(entry, now));
        out << nlohmann::json{{"prefix", request.prefix}, {"entries", items}, {"more", more}}.dump(
                   2)
            << "\n";
    } else {
        for (const auto &entry : entries)
            out << printable(entry.key) << "  until " << utc_text(entry.expires) << " ("
                << seconds_left(entry.expires, now) << " s left)  " << printable(entry.value)
                << "\n";
    }
    if (more)
        err << "portcullis db: more than " << request.limit
            << " entries; the first are shown (raise --limit)\n";
    return exit_done;
}

int show(const Request &request, state::Store &store, const Config &config, state::Time now,
         std::ostream &out, std::ostream &err) {
    const ClientStateQuery query{.triplets = true, .triplet_limit = request.limit};
    ClientState client;
    if (auto outcome =
            memory::read_client_state(store, config, *request.address, now, query, client);
        !outcome.ok())
        return store_failed(outcome, request, out, err);
    if (request.json) {
        auto document = client_state_json(client, query, config, now);
        document["stored"] = !client.empty();
        out << document.dump(2) << "\n";
    } else {
        out << "client " << client.address.to_string() << ", origin " << client.origin << "\n"
            << client_state_text(client, query, config, now, "");
        if (client.empty())
            out << "nothing is stored about " << client.address.to_string() << "\n";
    }
    return client.empty() ? exit_not_found : exit_done;
}

int allow(const Request &request, state::Store &store, const Config &config, state::Time now,
          std::ostream &out, std::ostream &err) {
    const Network &network = *request.network;
    const auto duration = request.duration.value_or(config.greylist.allow_time);
    const state::Time expires = now + duration;
    memory::Allowlist allowlist;
    if (auto outcome = memory::read_allowlist(store, now, allowlist); !outcome.ok())
        return store_failed(outcome, request, out, err);
    std::optional<state::Time> previous;
    for (const auto &entry : allowlist.entries())
        if (entry.expires > now && entry.network.to_string() == network.to_string())
            previous = entry.expires;
    const std::size_t malformed = allowlist.malformed();
    allowlist.add(network, expires, now);
    const std::string value = allowlist.serialize();
    if (value.size() > state::max_value_bytes) {
        err << "portcullis db: the allowlist is full: " << allowlist.entries().size()
            << " entries would take " << value.size() << " bytes, more than the "
            << state::max_value_bytes << " a value may hold\n";
        if (request.json)
            out << nlohmann::json{{"error", "the allowlist is full"}, {"status", "full"}}.dump(2)
                << "\n";
        return exit_store_failed;
    }
    if (auto outcome = store.put(memory::allowlist_key, value, allowlist.last_expiry(), now);
        !outcome.ok())
        return store_failed(outcome, request, out, err);

    // A single address is also unblocked: the operator has vouched for it.
    bool unblocked = false;
    if (request.address) {
        std::optional<memory::Block> block;
        if (auto outcome = memory::read_block(store, *request.address, now, block); !outcome.ok())
            return store_failed(outcome, request, out, err);
        if (block) {
            if (auto outcome = store.erase(memory::block_key(*request.address)); !outcome.ok())
                return store_failed(outcome, request, out, err);
            unblocked = true;
        }
    }
    if (request.json) {
        nlohmann::json document = {{"network", network.to_string()},
                                   {"expires", utc_json(expires)},
                                   {"seconds_left", seconds_left(expires, now)}};
        document["previous_expires"] =
            previous ? nlohmann::json(utc_json(*previous)) : nlohmann::json(nullptr);
        document["unblocked"] = unblocked;
        document["malformed_dropped"] = malformed;
        out << document.dump(2) << "\n";
        return exit_done;
    }
    out << "allowed " << network.to_string() << " until " << utc_text(expires) << " ("
        << seconds_left(expires, now) << " s)";
    if (previous)
        out << ", was until " << utc_text(*previous);
    out << "\n";
    if (unblocked)
        out << "unblocked " << request.address->to_string() << "\n";
    if (malformed)
        out << "dropped " << malformed << " malformed line(s) of the allowlist\n";
    return exit_done;
}

int erase(const Request &request, state::Store &store, state::Time now, std::ostream &out,
          std::ostream &err) {
    std::optional<state::Entry> entry;
    if (auto outcome = store.get(request.key, now, entry); !outcome.ok())
        return store_failed(outcome, request, out, err);
    // Erased either way: an entry past its expiry but not yet swept goes too.
    if (auto outcome = store.erase(request.key); !outcome.ok())
        return store_failed(outcome, request, out, err);
    if (request.json)
        out << nlohmann::json{{"key", request.key}, {"existed", entry.has_value()}}.dump(2) << "\n";
    else if (entry)
        out << "deleted " << request.key << "\n";
    else
        out << request.key << ": no such entry\n";
    return entry ? exit_done : exit_not_found;
}

int unblock(const Request &request, state::Store &store, state::Time now, std::ostream &out,
            std::ostream &err) {
    const IpAddress &address = *request.address;
    std::vector<std::string> keys = {memory::block_key(address)};
    for (const memory::Counter counter : memory::all_counters)
        keys.push_back(memory::count_key(counter, address));
    std::vector<std::string> erased;
    for (const auto &key : keys) {
        std::optional<state::Entry> entry;
        if (auto outcome = store.get(key, now, entry); !outcome.ok())
            return store_failed(outcome, request, out, err);
        if (auto outcome = store.erase(key); !outcome.ok())
            return store_failed(outcome, request, out, err);
        if (entry)
            erased.push_back(key);
    }
    if (request.json) {
        out << nlohmann::json{{"address", address.to_string()}, {"erased", erased}}.dump(2) << "\n";
    } else {
        for (const auto &key : erased)
            out << "deleted " << key << "\n";
        if (erased.empty())
            out << "nothing stored for " << address.to_string() << ": no block, no counter\n";
    }
    return erased.empty() ? exit_not_found : exit_done;
}

int stats(const Request &request, state::Store &store, state::Time now, std::ostream &out,
          std::ostream &err) {
    state::Stats totals;
    if (auto outcome = store.stats(now, totals); !outcome.ok())
        return store_failed(outcome, request, out, err);
    struct Kind {
        std::string name;
        std::size_t live = 0;
        bool more = false; // more than most_counted
    };
    std::vector<Kind> kinds;
    for (const auto prefix : kind_prefixes) {
        std::vector<state::Entry> entries;
        if (auto outcome = store.list(prefix, now, most_counted + 1, entries); !outcome.ok())
            return store_failed(outcome, request, out, err);
        kinds.push_back({std::string(prefix.substr(0, prefix.size() - 1)),
                         std::min(entries.size(), most_counted), entries.size() > most_counted});
    }
    memory::Allowlist allowlist;
    if (auto outcome = memory::read_allowlist(store, now, allowlist); !outcome.ok())
        return store_failed(outcome, request, out, err);
    Kind allowed{"allowlist"};
    for (const auto &entry : allowlist.entries())
        allowed.live += entry.expires > now ? 1 : 0;
    kinds.push_back(allowed);

    if (request.json) {
        nlohmann::json live = nlohmann::json::object();
        nlohmann::json more = nlohmann::json::array();
        for (const auto &kind : kinds) {
            live[kind.name] = kind.live;
            if (kind.more)
                more.push_back(kind.name);
        }
        out << nlohmann::json{{"store", printable(store.describe())},
                              {"entries", totals.entries},
                              {"bytes", totals.bytes},
                              {"capacity", totals.capacity},
                              {"live", live},
                              {"more", more},
                              {"allowlist_malformed", allowlist.malformed()}}
                   .dump(2)
            << "\n";
        return exit_done;
    }
    out << "store: " << printable(store.describe()) << "\n"
        << "entries: " << totals.entries << " (expired ones not yet swept included)\n"
        << "bytes: " << totals.bytes;
    if (totals.capacity)
        out << " of " << totals.capacity;
    out << "\n";
    for (const auto &kind : kinds)
        out << "live " << kind.name << ": " << kind.live << (kind.more ? " or more" : "") << "\n";
    if (allowlist.malformed())
        out << "allowlist: " << allowlist.malformed() << " malformed line(s)\n";
    return exit_done;
}

} // namespace

std::optional<Request> parse_request(const Arguments &arguments, std::string &problem) {
    problem.clear();
    if (arguments.words.empty()) {
        problem = "a subcommand is missing (list, show, allow, delete, unblock or stats)";
        return std::nullopt;
    }
    Request request;
    request.json = arguments.json;
    const std::string_view name = arguments.words.front();
    const auto known = std::find_if(std::begin(command_names), std::end(command_names),
                                    [&](const auto &pair) { return pair.first == name; });
    if (known == std::end(command_names)) {
        problem = "no subcommand " + shown(name) + " (list, show, allow, delete, unblock or stats)";
        return std::nullopt;
    }
    request.command = known->second;
    const bool takes_argument = request.command != Command::stats;
    const bool needs_argument = takes_argument && request.command != Command::list;
    const std::size_t given = arguments.words.size() - 1;
    if (given > (takes_argument ? 1u : 0u)) {
        problem = std::string(name) + ": too many arguments";
        return std::nullopt;
    }
    if (needs_argument && given == 0) {
        problem = std::string(name) + ": " +
                  (request.command == Command::erase   ? "give the KEY"
                   : request.command == Command::allow ? "give an ADDRESS or a NETWORK"
                                                       : "give an ADDRESS");
        return std::nullopt;
    }
    const std::string argument = given ? arguments.words[1] : std::string();

    if (arguments.limit) {
        if (request.command != Command::list && request.command != Command::show) {
            problem = std::string(name) + ": --limit is for list and show";
            return std::nullopt;
        }
        const auto limit = parse_limit(*arguments.limit);
        if (!limit) {
            problem = "--limit " + shown(*arguments.limit) + ": not a number from 1 to " +
                      std::to_string(most_limit);
            return std::nullopt;
        }
        request.limit = *limit;
    }
    if (arguments.duration) {
        if (request.command != Command::allow) {
            problem = std::string(name) + ": --for is for allow";
            return std::nullopt;
        }
        const auto duration = parse_duration(*arguments.duration);
        if (!duration || *duration < shortest_allow || *duration > longest_allow) {
            problem = "--for " + shown(*arguments.duration) +
                      ": not a duration from 1s to 3650d (90s, 2m, 12h, 36d)";
            return std::nullopt;
        }
        request.duration = *duration;
    }

    switch (request.command) {
    case Command::list:
        if (!argument.empty()) {
            if (auto why = state::key_problem(argument); !why.empty()) {
                problem = "list: the prefix " + shown(argument) + " cannot start a key: " + why;
                return std::nullopt;
            }
        }
        request.prefix = argument;
        break;
    case Command::show:
    case Command::unblock:
        request.address = IpAddress::parse(argument);
        if (!request.address) {
            problem = std::string(name) + ": " + shown(argument) +
                      " is not an IP address (one client address, no prefix)";
            return std::nullopt;
        }
        request.address = request.address->unmapped();
        break;
    case Command::allow: {
        const auto network = Network::parse(argument);
        if (!network) {
            problem = "allow: " + shown(argument) +
                      " is neither an IP address nor a network (192.0.2.0/24, 2001:db8::/48)";
            return std::nullopt;
        }
        request.network = Network::of(network->base(), network->prefix());
        if (request.network->prefix() == request.network->base().size() * 8)
            request.address = request.network->base();
        break;
    }
    case Command::erase:
        if (auto why = state::key_problem(argument); !why.empty()) {
            problem = "delete: " + shown(argument) + " is not a key: " + why;
            return std::nullopt;
        }
        request.key = argument;
        break;
    case Command::stats:
        break;
    }
    return request;
}

int run(const Request &request, state::Store &store, const Config &config, state::Time now,
        std::ostream &out, std::ostream &err) {
    switch (request.command) {
    case Command::list:
        return list(request, store, now, out, err);
    case Command::show:
        return show(request, store, config, now, out, err);
    case Command::allow:
        return allow(request, store, config, now, out, err);
    case Command::erase:
        return erase(request, store, now, out, err);
    case Command::unblock:
        return unblock(request, store, now, out, err);
    case Command::stats:
        return stats(request, store, now, out, err);
    }
    return exit_usage;
}

} // namespace portcullis::db
