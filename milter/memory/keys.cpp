#include "keys.hpp"

#include <libpsl.h>

#include <charconv>
#include <cstdint>
#include <cstdio>

namespace portcullis::memory {

namespace {

constexpr std::string_view counter_names[] = {"rejected-recipients", "rsets", "empty-transactions",
                                              "unknown-commands", "errors"};

bool plain(unsigned char byte) {
    return (byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9') || byte == '.' ||
           byte == '@' || byte == '_' || byte == '+' || byte == '=' || byte == '-';
}

std::uint64_t fnv1a64(std::string_view text) {
    std::uint64_t hash = 0xcbf29ce484222325ull;
    for (const unsigned char byte : text) {
        hash ^= byte;
        hash *= 0x100000001b3ull;
    }
    return hash;
}

const psl_ctx_t *public_suffixes() {
    // The newer of the list built into libpsl and the system's
    // publicsuffix package; libpsl keeps it for the process's lifetime.
    static const psl_ctx_t *context = [] {
        const psl_ctx_t *latest = psl_latest(nullptr);
        return latest ? latest : psl_builtin();
    }();
    return context;
}

} // namespace

std::string_view to_string(Counter counter) {
    return counter_names[static_cast<std::size_t>(counter)];
}

std::optional<Counter> parse_counter(std::string_view text) {
    for (const Counter counter : all_counters)
        if (to_string(counter) == text)
            return counter;
    return std::nullopt;
}

std::string encode_address(std::string_view address) {
    std::string out;
    out.reserve(address.size());
    for (unsigned char byte : address) {
        if (byte >= 'A' && byte <= 'Z')
            byte = static_cast<unsigned char>(byte - 'A' + 'a');
        if (plain(byte)) {
            out += static_cast<char>(byte);
        } else {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", byte);
            out += hex;
        }
    }
    if (out.size() <= 200)
        return out;
    char hashed[20];
    std::snprintf(hashed, sizeof hashed, "#%016llx", static_cast<unsigned long long>(fnv1a64(out)));
    return hashed;
}

std::string network_origin(const IpAddress &client, unsigned prefix_v4, unsigned prefix_v6) {
    const IpAddress address = client.unmapped();
    return Network::of(address, address.is_v4() ? prefix_v4 : prefix_v6).to_string();
}

std::optional<std::string> organisational_domain(std::string_view name) {
    std::string lower = to_lower(name);
    if (!lower.empty() && lower.back() == '.')
        lower.pop_back();
    if (lower.empty() || lower.size() > 253)
        return std::nullopt;
    for (const unsigned char byte : lower)
        if (!((byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9') || byte == '-' ||
              byte == '.' || byte == '_'))
            return std::nullopt;
    const char *registrable = psl_registrable_domain(public_suffixes(), lower.c_str());
    if (!registrable || !*registrable)
        return std::nullopt;
    return std::string(registrable);
}

std::string domain_origin(std::string_view organisational_domain) {
    return "d:" + std::string(organisational_domain);
}

std::string triplet_key(std::string_view origin, std::string_view sender,
                        std::string_view recipient) {
    return std::string(triplet_prefix) + std::string(origin) + "|" + encode_address(sender) + "|" +
           encode_address(recipient);
}

std::string pass_key(std::string_view origin) {
    return std::string(pass_prefix) + std::string(origin);
}

std::string count_key(Counter counter, const IpAddress &client) {
    return std::string(count_prefix) + std::string(to_string(counter)) + ":" +
           client.unmapped().to_string();
}

std::string block_key(const IpAddress &client) {
    return std::string(block_prefix) + client.unmapped().to_string();
}

std::string format_ms(long long ms) {
    return std::to_string(ms);
}

std::optional<long long> parse_ms(std::string_view text) {
    if (text.empty() || text.front() < '0' || text.front() > '9')
        return std::nullopt; // no sign, not even "-0"
    long long value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    // Up to 9e12 ms (year 2255): a time point of the system clock counts
    // nanoseconds in 64 bits, which ends in year 2262.
    constexpr long long latest = 9'000'000'000'000;
    if (error != std::errc() || end != text.data() + text.size() || text.empty() || value < 0 ||
        value > latest)
        return std::nullopt;
    return value;
}

} // namespace portcullis::memory
