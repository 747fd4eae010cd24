// Serves the metrics registry over HTTP (libmicrohttpd) on the address of
// metrics.listen: GET or HEAD /metrics answers the text exposition format
// 0.0.4; any other path is 404, any other method 405. libmicrohttpd's own
// thread answers, so no milter or resolver thread ever waits for a scrape.
// Bounded: at most 16 connections at once, 10 s idle timeout, 32 KiB of
// request per connection (libmicrohttpd refuses larger headers); a request
// body is never read. Stops (joining its thread) when destroyed.
#pragma once

#include "listen_address.hpp"
#include "registry.hpp"

#include <memory>
#include <string>

struct MHD_Daemon;

namespace portcullis::metrics {

class HttpServer {
  public:
    // Binds `address` and starts answering; nullptr with `error` set when
    // it cannot (the address is in use, not local, ...).
    static std::unique_ptr<HttpServer> start(const ListenAddress &address, const Registry &registry,
                                             std::string &error);
    ~HttpServer();
    HttpServer(const HttpServer &) = delete;
    HttpServer &operator=(const HttpServer &) = delete;

    const std::string &listen() const { return listen_; }
    // The port bound (the one asked for, or the kernel's pick for port 0).
    unsigned port() const;

  private:
    HttpServer() = default;
    MHD_Daemon *daemon_ = nullptr;
    std::string listen_;
};

} // namespace portcullis::metrics
