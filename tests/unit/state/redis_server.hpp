// A redis-server of the test's own, and a server that never answers.
//
// RedisServer runs `redis-server` in a temporary directory, listening on
// a unix socket there or on 127.0.0.1 with a port picked free (redis
// cannot bind port 0), without persistence; it is ready when it answers
// PING. It can be stopped and started again on the same address, or
// paused (SIGSTOP: the kernel still accepts connections, nobody answers).
// The destructor stops it (SIGTERM, then SIGKILL after 5 s) and removes
// the directory.
//
// SilentTcpServer listens on 127.0.0.1, accepts, reads and never writes.
#pragma once

#include "state/redis_connection.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace portcullis::testing {

// A TCP port on 127.0.0.1 that was free a moment ago.
inline unsigned free_loopback_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
    socklen_t size = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr *>(&address), &size) == 0);
    ::close(fd);
    return ntohs(address.sin_port);
}

class RedisServer {
  public:
    enum class Listen { unix_socket, tcp };

    explicit RedisServer(Listen listen = Listen::unix_socket, std::vector<std::string> extra = {})
        : listen_(listen), extra_(std::move(extra)) {
        char pattern[] = "/tmp/portcullis-redis-XXXXXX";
        REQUIRE(::mkdtemp(pattern) != nullptr);
        dir_ = pattern;
        if (listen_ == Listen::tcp)
            port_ = free_loopback_port();
        start();
    }
    ~RedisServer() {
        stop();
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    RedisServer(const RedisServer &) = delete;
    RedisServer &operator=(const RedisServer &) = delete;

    std::string socket_path() const { return dir_ + "/redis.sock"; }
    unsigned port() const { return port_; }
    // The store's URL for this server, with `password` when given.
    std::string url(unsigned db = 0, const std::string &password = {}) const {
        if (listen_ == Listen::unix_socket)
            return "unix:" + socket_path() + "?db=" + std::to_string(db) +
                   (password.empty() ? "" : "&password=" + password);
        return "redis://" + (password.empty() ? "" : ":" + password + "@") +
               "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
    }

    void start() {
        REQUIRE(pid_ < 0);
        std::vector<std::string> arguments = {"redis-server",
                                              "--port",
                                              std::to_string(port_),
                                              "--bind",
                                              "127.0.0.1",
                                              "--unixsocket",
                                              socket_path(),
                                              "--unixsocketperm",
                                              "700",
                                              "--save",
                                              "",
                                              "--appendonly",
                                              "no",
                                              "--dir",
                                              dir_,
                                              "--daemonize",
                                              "no",
                                              "--logfile",
                                              dir_ + "/redis.log"};
        arguments.insert(arguments.end(), extra_.begin(), extra_.end());
        std::vector<char *> argv;
        for (auto &argument : arguments)
            argv.push_back(argument.data());
        argv.push_back(nullptr);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            int null = ::open("/dev/null", O_RDWR);
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
            ::execvp("redis-server", argv.data());
            ::_exit(127);
        }
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!answers_ping()) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                FAIL("redis-server exited: " << log());
            }
            REQUIRE_MESSAGE(std::chrono::steady_clock::now() < give_up,
                            "redis-server did not answer PING: " << log());
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    void stop() {
        if (pid_ < 0)
            return;
        ::kill(pid_, SIGCONT);
        ::kill(pid_, SIGTERM);
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > give_up) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        pid_ = -1;
    }
    void pause() { REQUIRE(::kill(pid_, SIGSTOP) == 0); }
    void resume() { REQUIRE(::kill(pid_, SIGCONT) == 0); }

    // One command on a connection of the test's own (AUTH `password` first
    // when given), to write what the store never would.
    state::redis::Reply command(std::vector<std::string> arguments, unsigned db = 0,
                                const std::string &password = {}) const {
        redisContext *context = redisConnectUnix(socket_path().c_str());
        REQUIRE(context);
        REQUIRE_MESSAGE(context->err == 0, context->errstr);
        auto send = [&](const std::vector<std::string> &command) {
            std::vector<const char *> argv;
            std::vector<std::size_t> lengths;
            for (const auto &argument : command) {
                argv.push_back(argument.data());
                lengths.push_back(argument.size());
            }
            return state::redis::Reply(static_cast<redisReply *>(
                redisCommandArgv(context, int(argv.size()), argv.data(), lengths.data())));
        };
        if (!password.empty())
            send({"AUTH", password});
        send({"SELECT", std::to_string(db)});
        auto reply = send(arguments);
        redisFree(context);
        REQUIRE(reply);
        return reply;
    }

  private:
    bool answers_ping() const {
        timeval tv{0, 200000};
        redisContext *context = redisConnectUnixWithTimeout(socket_path().c_str(), tv);
        if (!context)
            return false;
        bool ready = false;
        if (context->err == 0) {
            auto *reply = static_cast<redisReply *>(redisCommand(context, "PING"));
            // NOAUTH also tells that the server is up.
            ready =
                reply && (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_ERROR);
            if (reply)
                freeReplyObject(reply);
        }
        redisFree(context);
        return ready;
    }
    std::string log() const {
        std::ifstream file(dir_ + "/redis.log");
        std::stringstream text;
        text << file.rdbuf();
        return text.str();
    }

    Listen listen_;
    std::vector<std::string> extra_;
    std::string dir_;
    unsigned port_ = 0;
    pid_t pid_ = -1;
};

class SilentTcpServer {
  public:
    SilentTcpServer() {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        stop_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        REQUIRE(listener_ >= 0);
        REQUIRE(stop_ >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listener_, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
        socklen_t size = sizeof address;
        REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr *>(&address), &size) == 0);
        port_ = ntohs(address.sin_port);
        REQUIRE(::listen(listener_, 64) == 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~SilentTcpServer() {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto written = ::write(stop_, &one, sizeof one);
        thread_.join();
        for (int fd : accepted_)
            ::close(fd);
        ::close(listener_);
        ::close(stop_);
    }
    SilentTcpServer(const SilentTcpServer &) = delete;
    SilentTcpServer &operator=(const SilentTcpServer &) = delete;

    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

  private:
    void serve() {
        while (true) {
            std::vector<pollfd> descriptors{{stop_, POLLIN, 0}, {listener_, POLLIN, 0}};
            for (int fd : accepted_)
                descriptors.push_back({fd, POLLIN, 0});
            if (::poll(descriptors.data(), descriptors.size(), -1) < 0)
                continue;
            if (descriptors[0].revents)
                return;
            if (descriptors[1].revents & POLLIN)
                if (int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC); fd >= 0)
                    accepted_.push_back(fd);
            char buffer[4096];
            for (std::size_t i = 2; i < descriptors.size(); ++i) {
                if (!descriptors[i].revents)
                    continue;
                if (::read(descriptors[i].fd, buffer, sizeof buffer) <= 0) {
                    ::close(descriptors[i].fd);
                    std::erase(accepted_, descriptors[i].fd);
                }
            }
        }
    }

    int listener_ = -1;
    int stop_ = -1;
    unsigned port_ = 0;
    std::vector<int> accepted_;
    std::thread thread_;
};

} // namespace portcullis::testing
