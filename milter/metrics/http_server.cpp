// The /metrics endpoint over libmicrohttpd (http_server.hpp).
#include "http_server.hpp"

#include <cerrno>
#include <cstring>
#include <microhttpd.h>

namespace portcullis::metrics {

namespace {

constexpr unsigned max_connections = 16;
constexpr unsigned idle_timeout_seconds = 10;
constexpr std::size_t request_memory = 32 * 1024;

MHD_Result answer(MHD_Connection *connection, unsigned status, const std::string &body,
                  const char *content_type, bool allow_header) {
    MHD_Response *response = MHD_create_response_from_buffer(
        body.size(), const_cast<char *>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (allow_header)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    const MHD_Result queued = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return queued;
}

// Answers at the first call for a request, before any body is read: no
// request of ours has one, and libmicrohttpd discards what a client sends.
MHD_Result handle(void *registry, MHD_Connection *connection, const char *url, const char *method,
                  const char * /*version*/, const char * /*upload_data*/,
                  std::size_t * /*upload_data_size*/, void ** /*request_state*/) {
    constexpr const char *text = "text/plain; charset=utf-8";
    const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                     std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (std::strcmp(url, "/metrics") != 0)
        return answer(connection, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n",
                      text, false);
    if (!get)
        return answer(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n", text, true);
    return answer(connection, MHD_HTTP_OK, static_cast<const Registry *>(registry)->render(),
                  "text/plain; version=0.0.4; charset=utf-8", false);
}

} // namespace

std::unique_ptr<HttpServer> HttpServer::start(const ListenAddress &address,
                                              const Registry &registry, std::string &error) {
    std::unique_ptr<HttpServer> server(new HttpServer);
    server->listen_ = address.text;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
    if (address.ipv6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    server->daemon_ = MHD_start_daemon(
        flags, 0, nullptr, nullptr, &handle, const_cast<Registry *>(&registry),
        MHD_OPTION_SOCK_ADDR, reinterpret_cast<const sockaddr *>(&address.address),
        MHD_OPTION_CONNECTION_LIMIT, max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        idle_timeout_seconds, MHD_OPTION_CONNECTION_MEMORY_LIMIT, request_memory, MHD_OPTION_END);
    if (!server->daemon_) {
        error = "cannot serve metrics on " + address.text +
                (errno ? std::string(": ") + std::strerror(errno) : std::string());
        return nullptr;
    }
    return server;
}

unsigned HttpServer::port() const {
    const MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

HttpServer::~HttpServer() {
    if (daemon_)
        MHD_stop_daemon(daemon_);
}

} // namespace portcullis::metrics
