// The milter socket, before libmilter listens on it: its directory,
// whether something already answers there (another portcullis), and
// opening it with its permissions and group from the start. The umask
// and the effective group are set around libmilter's bind(), so nothing
// is changed by path afterwards, where a symbolic link put in the
// socket's place could redirect a chmod or chown to any file.
//
// Contract: called by the daemon's main thread, as root usually, before
// privileges are dropped; smfi_setconn() and smfi_register() come before
// open_milter_socket().
#pragma once

#include "core/config.hpp"

#include <string>
#include <sys/types.h>

namespace portcullis {

// The path of a unix:/local: socket (or a bare path); empty for TCP.
std::string unix_socket_path(const std::string &socket);

// Makes a missing directory of a unix socket (mode 0755, owned by uid and
// gid, set on its descriptor). Returns false and says why in `error`.
bool prepare_socket_directory(const std::string &socket, uid_t uid, gid_t gid, std::string &error);

// Whether a connection to the socket succeeds: someone listens there.
bool socket_answers(const std::string &socket);

// smfi_opensocket() with the umask made from socket-mode and, for a unix
// socket, `group` as the effective group, so the socket is created with
// both. A stale unix socket in the way is removed by libmilter.
bool open_milter_socket(const Config &config, gid_t group);

// Sets TCP_NODELAY on libmilter's listening socket (a no-op for unix).
void disable_nagle_on_listener();

} // namespace portcullis
