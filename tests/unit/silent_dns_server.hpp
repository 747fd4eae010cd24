// A UDP socket on 127.0.0.1 that takes DNS queries and never answers:
// the forwarder for hermetic libunbound tests, so that a name missing
// from local-data times out instead of reaching the internet.
#pragma once

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace portcullis::testing {

class SilentDnsServer {
  public:
    SilentDnsServer() {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
        socklen_t size = sizeof address;
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr *>(&address), &size) == 0);
        port_ = ntohs(address.sin_port);
    }
    ~SilentDnsServer() { ::close(fd_); }
    SilentDnsServer(const SilentDnsServer &) = delete;
    SilentDnsServer &operator=(const SilentDnsServer &) = delete;

    // "127.0.0.1@PORT", as resolver.forward takes it.
    std::string forward() const { return "127.0.0.1@" + std::to_string(port_); }
    bool received_query() const {
        char buffer[512];
        return ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT) > 0;
    }

  private:
    int fd_ = -1;
    unsigned port_ = 0;
};

} // namespace portcullis::testing
