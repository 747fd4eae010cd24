// How `portcullis db` and `portcullis check` print what the store holds:
// times, hostile text made printable, and one client's state as text
// lines and as JSON (db_operations.hpp).
#include "db_operations.hpp"

#include <cstdio>
#include <ctime>

namespace portcullis::db {

namespace {

using memory::ClientState;
using memory::ClientStateQuery;
using memory::duration_text;

std::string until_text(state::Time expires, state::Time now) {
    return "until " + utc_text(expires) + " (" + std::to_string(seconds_left(expires, now)) +
           " s left)";
}

nlohmann::json expiry_json(state::Time expires, state::Time now) {
    return {{"expires", utc_json(expires)}, {"seconds_left", seconds_left(expires, now)}};
}

void block_lines(const ClientState &state, state::Time now, std::string_view indent,
                 std::string &out) {
    out += std::string(indent) + "block: ";
    if (!state.block) {
        out += "none\n";
        return;
    }
    const auto &block = *state.block;
    out += block.rule + " since " + utc_text(block.since) + ", " + until_text(block.until, now) +
           ", " + std::to_string(block.count) + " counted\n";
}

void counter_lines(const ClientState &state, const Config &config, std::string_view indent,
                   std::string &out) {
    out +=
        std::string(indent) + "counters in the last " + duration_text(config.limits.window) + ":\n";
    for (const auto &reading : state.counters) {
        out += std::string(indent) + "  " + std::string(memory::to_string(reading.counter)) + " " +
               std::to_string(reading.events);
        out += reading.limit ? " (limit " + std::to_string(reading.limit) + ")\n" : " (off)\n";
    }
}

void allowlist_lines(const ClientState &state, state::Time now, std::string_view indent,
                     std::string &out) {
    if (state.allowed.empty())
        out += std::string(indent) + "allowlist: no live entry contains " +
               state.address.to_string() + "\n";
    for (const auto &entry : state.allowed)
        out += std::string(indent) + "allowlist: " + entry.network.to_string() + " " +
               until_text(entry.expires, now) + "\n";
    if (state.allowlist_malformed)
        out += std::string(indent) + "allowlist: " + std::to_string(state.allowlist_malformed) +
               " malformed line(s) skipped\n";
}

void pass_lines(const ClientState &state, state::Time now, std::string_view indent,
                std::string &out) {
    out += std::string(indent) + "greylist pass: ";
    if (!state.pass) {
        out += "none for " + state.origin + "\n";
        return;
    }
    const auto &pass = *state.pass;
    out += printable(pass.entry.key);
    out += pass.passed ? " since " + utc_text(*pass.passed) : std::string(" (malformed value)");
    out += ", " + until_text(pass.entry.expires, now);
    if (!pass.how.empty())
        out += ": " + printable(pass.how);
    out += "\n";
}

void triplet_lines(const ClientState &state, const Config &config, state::Time now,
                   std::string_view indent, std::string &out) {
    out += std::string(indent) + "triplets of " + state.origin + ": " +
           (state.triplets.empty() ? "none" : std::to_string(state.triplets.size())) +
           (state.more_triplets ? " and more (raise --limit)" : "") + "\n";
    for (const auto &triplet : state.triplets) {
        out += std::string(indent) + "  <" + printable(triplet.sender) + "> -> <" +
               printable(triplet.recipient) + ">";
        if (triplet.first_try)
            out += " first try " + utc_text(*triplet.first_try) + ", a retry passes from " +
                   utc_text(*triplet.first_try + config.greylist.delay);
        else
            out += " malformed value " + printable(triplet.entry.value);
        out += ", " + until_text(triplet.entry.expires, now) + "\n";
    }
}

} // namespace

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const unsigned char byte : text) {
        if (byte == '\\') {
            out += "\\\\";
        } else if (byte == '\n') {
            out += "\\n";
        } else if (byte == '\t') {
            out += "\\t";
        } else if (byte >= 0x20 && byte < 0x7f) {
            out += static_cast<char>(byte);
        } else {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02X", byte);
            out += hex;
        }
    }
    return out;
}

std::string client_state_text(const ClientState &state, const ClientStateQuery &query,
                              const Config &config, state::Time now, std::string_view indent) {
    std::string out;
    block_lines(state, now, indent, out);
    counter_lines(state, config, indent, out);
    allowlist_lines(state, now, indent, out);
    pass_lines(state, now, indent, out);
    if (query.triplets)
        triplet_lines(state, config, now, indent, out);
    return out;
}

nlohmann::json client_state_json(const ClientState &state, const ClientStateQuery &query,
                                 const Config &config, state::Time now) {
    nlohmann::json out;
    out["address"] = state.address.to_string();
    out["origin"] = state.origin;
    out["block"] = nullptr;
    if (state.block) {
        out["block"] = expiry_json(state.block->until, now);
        out["block"]["rule"] = state.block->rule;
        out["block"]["count"] = state.block->count;
        out["block"]["since"] = utc_json(state.block->since);
    }
    out["window_seconds"] = config.limits.window.count() / 1000;
    out["counters"] = nlohmann::json::object();
    for (const auto &reading : state.counters)
        out["counters"][std::string(memory::to_string(reading.counter))] = {
            {"events", reading.events}, {"limit", reading.limit}};
    out["allowlist"] = nlohmann::json::array();
    for (const auto &entry : state.allowed) {
        auto item = expiry_json(entry.expires, now);
        item["network"] = entry.network.to_string();
        out["allowlist"].push_back(item);
    }
    out["allowlist_malformed"] = state.allowlist_malformed;
    out["pass"] = nullptr;
    if (state.pass) {
        auto pass = expiry_json(state.pass->entry.expires, now);
        pass["key"] = printable(state.pass->entry.key);
        pass["passed"] = state.pass->passed ? nlohmann::json(utc_json(*state.pass->passed))
                                            : nlohmann::json(nullptr);
        pass["how"] = printable(state.pass->how);
        out["pass"] = pass;
    }
    if (!query.triplets)
        return out;
    out["triplets"] = nlohmann::json::array();
    for (const auto &triplet : state.triplets) {
        auto item = expiry_json(triplet.entry.expires, now);
        item["key"] = printable(triplet.entry.key);
        item["sender"] = printable(triplet.sender);
        item["recipient"] = printable(triplet.recipient);
        item["first_try"] = nullptr;
        item["retry_from"] = nullptr;
        if (triplet.first_try) {
            item["first_try"] = utc_json(*triplet.first_try);
            item["retry_from"] = utc_json(*triplet.first_try + config.greylist.delay);
        } else {
            item["value"] = printable(triplet.entry.value);
        }
        out["triplets"].push_back(item);
    }
    out["more_triplets"] = state.more_triplets;
    return out;
}

} // namespace portcullis::db
