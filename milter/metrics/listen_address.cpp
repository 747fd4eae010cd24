// Parsing of metrics.listen (listen_address.hpp).
#include "listen_address.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <cstring>
#include <netinet/in.h>

namespace portcullis::metrics {

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string &error) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == text.size()) {
        error = "must be ADDRESS:PORT, e.g. 127.0.0.1:9781 or [::1]:9781";
        return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    const std::string_view port_text = text.substr(colon + 1);
    unsigned port = 0;
    const auto [end, failed] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (failed != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
        error = "the port must be a number from 1 to 65535";
        return std::nullopt;
    }
    ListenAddress out;
    out.text = std::string(text);
    const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
    if (bracketed)
        host = host.substr(1, host.size() - 2);
    const std::string literal(host);
    if (bracketed) {
        sockaddr_in6 address{};
        address.sin6_family = AF_INET6;
        address.sin6_port = htons(static_cast<std::uint16_t>(port));
        if (literal.find('%') != std::string::npos ||
            inet_pton(AF_INET6, literal.c_str(), &address.sin6_addr) != 1) {
            error = "'" + literal + "' is not an IPv6 address";
            return std::nullopt;
        }
        std::memcpy(&out.address, &address, sizeof address);
        out.length = sizeof address;
        out.ipv6 = true;
        return out;
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, literal.c_str(), &address.sin_addr) != 1) {
        error = literal.find(':') != std::string::npos
                    ? "write an IPv6 address in brackets: [" + literal + "]:PORT"
                    : "'" + literal + "' is not an IPv4 address (write IPv6 as [ADDRESS]:PORT)";
        return std::nullopt;
    }
    std::memcpy(&out.address, &address, sizeof address);
    out.length = sizeof address;
    return out;
}

} // namespace portcullis::metrics
