// The address metrics.listen names: "IPv4:PORT" or "[IPv6]:PORT", a
// literal address (no host name, so nothing is looked up) and a port of
// 1-65535. Parsed by the option's check (so `portcullis -n` refuses a bad
// one) and again by the HTTP server, which binds exactly that address.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <sys/socket.h>

namespace portcullis::metrics {

struct ListenAddress {
    sockaddr_storage address{};
    socklen_t length = 0;
    bool ipv6 = false;
    std::string text; // as written
};

// Nullopt with `error` set saying what is wrong.
std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string &error);

} // namespace portcullis::metrics
