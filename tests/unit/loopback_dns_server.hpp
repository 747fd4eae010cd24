// A DNS server on 127.0.0.1 (UDP and TCP on one port) that answers from
// records the test gives as raw RDATA, so that it can serve what no zone
// file holds: malformed RDATA, TXT records of kilobytes. It stands where
// a forwarding resolver would (resolver.forward = forward()), and it can
// be silenced and restored, like a relay that stops answering for a
// while. Names are matched without case; "*.zone" matches every name
// under zone; a name with no record of any type is NXDOMAIN. An answer
// longer than the query's UDP size (512, or its EDNS size) goes out
// truncated over UDP and whole over TCP, as a real server does.
#pragma once

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace portcullis::testing {

class LoopbackDnsServer {
  public:
    using Bytes = std::vector<std::uint8_t>;

    LoopbackDnsServer() {
        udp_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        tcp_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        stop_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        REQUIRE(udp_ >= 0);
        REQUIRE(tcp_ >= 0);
        REQUIRE(stop_ >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(udp_, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
        socklen_t size = sizeof address;
        REQUIRE(::getsockname(udp_, reinterpret_cast<sockaddr *>(&address), &size) == 0);
        port_ = ntohs(address.sin_port);
        const int on = 1;
        ::setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        REQUIRE(::bind(tcp_, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
        REQUIRE(::listen(tcp_, 16) == 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~LoopbackDnsServer() {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto written = ::write(stop_, &one, sizeof one);
        thread_.join();
        ::close(udp_);
        ::close(tcp_);
        ::close(stop_);
    }
    LoopbackDnsServer(const LoopbackDnsServer &) = delete;
    LoopbackDnsServer &operator=(const LoopbackDnsServer &) = delete;

    // "127.0.0.1@PORT", as resolver.forward takes it.
    std::string forward() const { return "127.0.0.1@" + std::to_string(port_); }

    // One more record of `type` at `name` (presentation form, no trailing dot).
    void add(const std::string &name, std::uint16_t type, Bytes rdata) {
        std::lock_guard lock(mutex_);
        records_[{lower(name), type}].push_back(std::move(rdata));
    }
    // While silent, queries are read and dropped, TCP connections closed.
    void set_silent(bool silent) { silent_ = silent; }
    unsigned long queries() const { return queries_; }

    // RDATA helpers.
    static Bytes a(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
        return {a, b, c, d};
    }
    // Character-strings of at most 255 bytes each, `text` split as needed.
    static Bytes txt(const std::string &text) {
        Bytes out;
        for (std::size_t at = 0; at < text.size() || at == 0; at += 255) {
            const auto part = text.substr(at, 255);
            out.push_back(static_cast<std::uint8_t>(part.size()));
            out.insert(out.end(), part.begin(), part.end());
            if (text.empty())
                break;
        }
        return out;
    }

  private:
    static std::string lower(std::string text) {
        for (auto &c : text)
            if (c >= 'A' && c <= 'Z')
                c = static_cast<char>(c - 'A' + 'a');
        if (!text.empty() && text.back() == '.')
            text.pop_back();
        return text;
    }

    struct Query {
        std::uint16_t id = 0;
        std::uint16_t flags = 0;
        Bytes question; // name, type and class as sent
        std::string name;
        std::uint16_t type = 0;
        std::size_t udp_size = 512;
        bool edns = false;
    };

    static std::optional<Query> parse(const std::uint8_t *data, std::size_t size) {
        if (size < 12 || (data[4] << 8 | data[5]) != 1)
            return std::nullopt;
        Query query;
        query.id = static_cast<std::uint16_t>(data[0] << 8 | data[1]);
        query.flags = static_cast<std::uint16_t>(data[2] << 8 | data[3]);
        std::size_t pos = 12;
        while (true) {
            if (pos >= size || data[pos] > 63)
                return std::nullopt;
            const std::size_t length = data[pos++];
            if (length == 0)
                break;
            if (size - pos < length)
                return std::nullopt;
            if (!query.name.empty())
                query.name += '.';
            query.name.append(reinterpret_cast<const char *>(data + pos), length);
            pos += length;
        }
        if (size - pos < 4)
            return std::nullopt;
        query.type = static_cast<std::uint16_t>(data[pos] << 8 | data[pos + 1]);
        pos += 4;
        query.question.assign(data + 12, data + pos);
        query.name = lower(query.name);
        // An OPT record in the additional section gives the UDP size.
        const unsigned additional = data[10] << 8 | data[11];
        if (additional == 1 && size - pos >= 11 && data[pos] == 0 && data[pos + 1] == 0 &&
            data[pos + 2] == 41) {
            query.edns = true;
            query.udp_size = std::max<std::size_t>(512, data[pos + 3] << 8 | data[pos + 4]);
        }
        return query;
    }

    const std::vector<Bytes> *find(const std::string &name, std::uint16_t type,
                                   bool &name_exists) const {
        name_exists = false;
        std::string candidate = name;
        for (bool exact = true;; exact = false) {
            for (const auto &[key, rdatas] : records_)
                if (key.first == candidate)
                    name_exists = true;
            if (name_exists) {
                auto found = records_.find({candidate, type});
                return found == records_.end() ? nullptr : &found->second;
            }
            // The next wildcard up: a.b.c -> *.b.c -> *.c
            std::string rest = exact ? name : candidate.substr(2);
            const auto dot = rest.find('.');
            if (dot == std::string::npos)
                return nullptr;
            candidate = "*" + rest.substr(dot);
        }
    }

    static void put16(Bytes &out, unsigned value) {
        out.push_back(static_cast<std::uint8_t>(value >> 8));
        out.push_back(static_cast<std::uint8_t>(value));
    }

    Bytes respond(const Query &query, bool over_tcp) {
        bool exists = false;
        std::vector<Bytes> answers;
        {
            std::lock_guard lock(mutex_);
            if (const auto *found = find(query.name, query.type, exists))
                answers = *found;
        }
        const unsigned rcode = exists ? 0 : 3;
        Bytes out;
        put16(out, query.id);
        put16(out, 0x8000 | 0x0400 | (query.flags & 0x0100) | 0x0080 | rcode); // QR AA RD RA
        put16(out, 1);
        put16(out, static_cast<unsigned>(answers.size()));
        put16(out, 0);
        put16(out, query.edns ? 1 : 0);
        out.insert(out.end(), query.question.begin(), query.question.end());
        for (const auto &rdata : answers) {
            put16(out, 0xc00c);
            put16(out, query.type);
            put16(out, 1);
            put16(out, 0);
            put16(out, 60);
            put16(out, static_cast<unsigned>(rdata.size()));
            out.insert(out.end(), rdata.begin(), rdata.end());
        }
        const Bytes opt = {0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0};
        if (query.edns)
            out.insert(out.end(), opt.begin(), opt.end());
        if (!over_tcp && out.size() > query.udp_size) {
            out.resize(12 + query.question.size());
            out[2] |= 0x02; // TC
            out[6] = out[7] = 0;
            out[10] = 0;
            out[11] = query.edns ? 1 : 0;
            if (query.edns)
                out.insert(out.end(), opt.begin(), opt.end());
        }
        return out;
    }

    void serve_udp() {
        std::uint8_t buffer[4096];
        sockaddr_in peer{};
        socklen_t size = sizeof peer;
        const auto got =
            ::recvfrom(udp_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr *>(&peer), &size);
        if (got <= 0)
            return;
        ++queries_;
        if (silent_)
            return;
        if (auto query = parse(buffer, static_cast<std::size_t>(got))) {
            const auto answer = respond(*query, false);
            ::sendto(udp_, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr *>(&peer),
                     size);
        }
    }

    static bool read_all(int fd, std::uint8_t *data, std::size_t size) {
        while (size > 0) {
            const auto got = ::recv(fd, data, size, 0);
            if (got <= 0)
                return false;
            data += got;
            size -= static_cast<std::size_t>(got);
        }
        return true;
    }

    // One query per connection, then the server closes it (a resolver
    // opens another), so that no idle connection holds up the UDP side.
    void serve_tcp() {
        const int fd = ::accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            return;
        timeval limit{0, 500'000};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
        std::uint8_t length[2];
        if (!silent_ && read_all(fd, length, 2)) {
            Bytes message(static_cast<std::size_t>(length[0] << 8 | length[1]));
            if (read_all(fd, message.data(), message.size())) {
                ++queries_;
                if (auto query = parse(message.data(), message.size())) {
                    auto answer = respond(*query, true);
                    Bytes framed;
                    put16(framed, static_cast<unsigned>(answer.size()));
                    framed.insert(framed.end(), answer.begin(), answer.end());
                    [[maybe_unused]] auto sent =
                        ::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL);
                }
            }
        }
        ::close(fd);
    }

    void serve() {
        while (true) {
            pollfd fds[3] = {{udp_, POLLIN, 0}, {tcp_, POLLIN, 0}, {stop_, POLLIN, 0}};
            if (::poll(fds, 3, -1) < 0)
                continue;
            if (fds[2].revents != 0)
                return;
            if (fds[0].revents & POLLIN)
                serve_udp();
            if (fds[1].revents & POLLIN)
                serve_tcp();
        }
    }

    int udp_ = -1;
    int tcp_ = -1;
    int stop_ = -1;
    unsigned port_ = 0;
    std::thread thread_;
    std::atomic<bool> silent_{false};
    std::atomic<unsigned long> queries_{0};
    std::mutex mutex_;
    std::map<std::pair<std::string, std::uint16_t>, std::vector<Bytes>> records_;
};

} // namespace portcullis::testing
