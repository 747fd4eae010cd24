// The /metrics endpoint over real HTTP on loopback: the exposition on
// GET, 404 for other paths, 405 for other methods, and a request larger
// than the endpoint takes refused without harm to the next one.
#include "metrics/http_server.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

using namespace portcullis::metrics;

namespace {

// A server on `text`'s address with the port the kernel picks.
std::unique_ptr<HttpServer> start_on(const std::string &text, const Registry &registry) {
    std::string error;
    auto address = parse_listen_address(text, error);
    REQUIRE(address);
    if (address->ipv6)
        reinterpret_cast<sockaddr_in6 *>(&address->address)->sin6_port = 0;
    else
        reinterpret_cast<sockaddr_in *>(&address->address)->sin_port = 0;
    auto server = HttpServer::start(*address, registry, error);
    REQUIRE_MESSAGE(server, error);
    REQUIRE(server->port() != 0);
    return server;
}

// Sends `request` as is and reads until the server closes (5 s at most).
std::string exchange(const std::string &host, unsigned port, const std::string &request) {
    const bool ipv6 = host.find(':') != std::string::npos;
    const int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    int connected;
    if (ipv6) {
        sockaddr_in6 address{};
        address.sin6_family = AF_INET6;
        address.sin6_port = htons(static_cast<std::uint16_t>(port));
        inet_pton(AF_INET6, host.c_str(), &address.sin6_addr);
        connected = connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address);
    } else {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<std::uint16_t>(port));
        inet_pton(AF_INET, host.c_str(), &address.sin_addr);
        connected = connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address);
    }
    REQUIRE(connected == 0);
    std::size_t sent = 0;
    while (sent < request.size()) {
        const auto wrote = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (wrote <= 0)
            break; // the server may close on a request it refuses
        sent += static_cast<std::size_t>(wrote);
    }
    std::string reply;
    char buffer[4096];
    for (ssize_t got; (got = recv(fd, buffer, sizeof buffer, 0)) > 0;)
        reply.append(buffer, static_cast<std::size_t>(got));
    close(fd);
    return reply;
}

std::string request(std::string_view method, std::string_view path) {
    return std::string(method) + " " + std::string(path) +
           " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
}

} // namespace

TEST_CASE("GET /metrics answers the exposition; other paths 404, other methods 405") {
    Registry registry;
    registry.count_session();
    auto server = start_on("127.0.0.1:1", registry);
    const unsigned port = server->port();

    auto reply = exchange("127.0.0.1", port, request("GET", "/metrics"));
    CHECK(reply.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(reply.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") !=
          std::string::npos);
    CHECK(reply.find("\r\n\r\n# HELP portcullis_sessions_total ") != std::string::npos);
    CHECK(reply.find("\nportcullis_sessions_total 1\n") != std::string::npos);

    registry.count_session(); // each scrape reads the counts of its moment
    reply = exchange("127.0.0.1", port, request("GET", "/metrics"));
    CHECK(reply.find("\nportcullis_sessions_total 2\n") != std::string::npos);

    reply = exchange("127.0.0.1", port, request("HEAD", "/metrics"));
    CHECK(reply.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(reply.find("portcullis_sessions_total") == std::string::npos);

    for (const char *path : {"/", "/metrics/", "/metricsx", "/metrics?x=1/../", "/../etc/passwd"}) {
        CAPTURE(path);
        reply = exchange("127.0.0.1", port, request("GET", path));
        // A query string is not part of the path: /metrics?x=... is /metrics.
        if (std::string_view(path).rfind("/metrics?", 0) == 0)
            CHECK(reply.rfind("HTTP/1.1 200", 0) == 0);
        else
            CHECK(reply.rfind("HTTP/1.1 404", 0) == 0);
    }
    for (const char *method : {"POST", "PUT", "DELETE", "OPTIONS", "BREW"}) {
        CAPTURE(method);
        reply = exchange("127.0.0.1", port, request(method, "/metrics"));
        CHECK(reply.rfind("HTTP/1.1 405", 0) == 0);
        CHECK(reply.find("Allow: GET, HEAD\r\n") != std::string::npos);
    }
    reply = exchange("127.0.0.1", port,
                     "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                     "Connection: close\r\n\r\n" +
                         std::string(100000, 'x'));
    CHECK(reply.rfind("HTTP/1.1 405", 0) == 0);
}

TEST_CASE("a request larger than the endpoint takes is refused, and the next is served") {
    Registry registry;
    auto server = start_on("127.0.0.1:1", registry);
    const std::string huge =
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(200000, 'a') +
        "\r\nConnection: close\r\n\r\n";
    const auto refused = exchange("127.0.0.1", server->port(), huge);
    CHECK(refused.rfind("HTTP/1.1 200", 0) != 0);
    CHECK(
        exchange("127.0.0.1", server->port(), "\x01\x02garbage\r\n\r\n").rfind("HTTP/1.1 200", 0) !=
        0);
    CHECK(exchange("127.0.0.1", server->port(), request("GET", "/metrics"))
              .rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("an IPv6 address in brackets is served there") {
    Registry registry;
    auto server = start_on("[::1]:1", registry);
    CHECK(exchange("::1", server->port(), request("GET", "/metrics")).rfind("HTTP/1.1 200", 0) ==
          0);
}

TEST_CASE("an address in use is refused with a reason") {
    Registry registry;
    auto first = start_on("127.0.0.1:1", registry);
    std::string error;
    const auto address = parse_listen_address("127.0.0.1:" + std::to_string(first->port()), error);
    REQUIRE(address);
    CHECK(HttpServer::start(*address, registry, error) == nullptr);
    CHECK(error.find("cannot serve metrics on 127.0.0.1:") == 0);
}
