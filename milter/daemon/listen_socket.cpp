#include "listen_socket.hpp"

#include "core/log.hpp"

#include <libmilter/mfapi.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace portcullis {

namespace {

bool connects(int family, const sockaddr *address, socklen_t length) {
    const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool answered = connect(fd, address, length) == 0 || errno == EAGAIN;
    if (!answered && errno == EINPROGRESS) {
        pollfd waiting{fd, POLLOUT, 0};
        int error = 0;
        socklen_t size = sizeof error;
        answered = poll(&waiting, 1, 500) == 1 &&
                   getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error == 0;
    }
    close(fd);
    return answered;
}

// inet:PORT@HOST, inet6:PORT@HOST (HOST may be [ADDRESS]; without it,
// libmilter listens on every address: ask loopback).
bool tcp_socket_answers(const std::string &socket) {
    const bool v6 = socket.rfind("inet6:", 0) == 0;
    const auto spec = socket.substr(socket.find(':') + 1);
    const auto at = spec.find('@');
    const auto port = spec.substr(0, at);
    std::string host = at == std::string::npos ? (v6 ? "::1" : "127.0.0.1") : spec.substr(at + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_family = v6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *found = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0)
        return false;
    bool answered = false;
    for (auto *entry = found; entry && !answered; entry = entry->ai_next)
        answered = connects(entry->ai_family, entry->ai_addr, entry->ai_addrlen);
    freeaddrinfo(found);
    return answered;
}

} // namespace

std::string unix_socket_path(const std::string &socket) {
    if (socket.rfind("unix:", 0) == 0)
        return socket.substr(5);
    if (socket.rfind("local:", 0) == 0)
        return socket.substr(6);
    if (socket.find(':') == std::string::npos)
        return socket;
    return "";
}

bool prepare_socket_directory(const std::string &socket, uid_t uid, gid_t gid, std::string &error) {
    const auto path = unix_socket_path(socket);
    if (path.empty())
        return true;
    const auto directory = std::filesystem::path(path).parent_path();
    std::error_code exists_error;
    if (directory.empty() || std::filesystem::exists(directory, exists_error))
        return true;
    std::error_code parents_error;
    std::filesystem::create_directories(directory.parent_path(), parents_error);
    if (mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) {
        error = "cannot create " + directory.string() + ": " + std::strerror(errno);
        return false;
    }
    const int fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0755) != 0 || (geteuid() == 0 && fchown(fd, uid, gid) != 0)) {
        error =
            "cannot hand " + directory.string() + " to the service user: " + std::strerror(errno);
        if (fd >= 0)
            close(fd);
        return false;
    }
    close(fd);
    return true;
}

bool socket_answers(const std::string &socket) {
    const auto path = unix_socket_path(socket);
    if (path.empty())
        return socket.rfind("inet", 0) == 0 && tcp_socket_answers(socket);
    struct stat status {};
    sockaddr_un address{};
    if (lstat(path.c_str(), &status) != 0 || !S_ISSOCK(status.st_mode) ||
        path.size() >= sizeof address.sun_path)
        return false;
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return connects(AF_UNIX, reinterpret_cast<const sockaddr *>(&address), sizeof address);
}

bool open_milter_socket(const Config &config, gid_t group) {
    const bool local = !unix_socket_path(config.socket).empty();
    const mode_t previous_umask = umask(local ? (~config.socket_mode & 0777) : 077);
    const gid_t previous_group = getegid();
    const bool group_switched = local && group != previous_group && setegid(group) == 0;
    const bool opened = smfi_opensocket(true) == MI_SUCCESS;
    if (group_switched && setegid(previous_group) != 0)
        log_error(std::string("cannot restore the effective group: ") + std::strerror(errno));
    umask(previous_umask);
    return opened;
}

// libmilter answers an end of message with several packets (a header to
// insert, then the verdict), each its own write: over TCP, Nagle holds
// the verdict until the MTA acknowledges the first packet, which it
// delays (about 40 ms per message). Accepted connections inherit
// TCP_NODELAY from the listening socket, which libmilter keeps to
// itself: find it among our descriptors.
void disable_nagle_on_listener() {
    for (int fd = 0; fd < 1024; ++fd) {
        int listening = 0;
        socklen_t length = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || !listening)
            continue;
        sockaddr_storage address{};
        socklen_t size = sizeof address;
        if (getsockname(fd, reinterpret_cast<sockaddr *>(&address), &size) != 0 ||
            (address.ss_family != AF_INET && address.ss_family != AF_INET6))
            continue;
        const int one = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            log_warning(std::string("cannot set TCP_NODELAY on the milter socket: ") +
                        std::strerror(errno));
    }
}

} // namespace portcullis
