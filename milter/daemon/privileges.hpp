// Who the milter runs as. Started as root it switches to `user` (by
// default portcullis) once the socket is open and the PID file written,
// and keeps root only when the configuration says so (user = root, or
// another user with uid 0): otherwise every parser of hostile network
// input would run as root. Started as any other user it cannot switch,
// and stays that user.
#pragma once

#include "core/config.hpp"

#include <optional>
#include <string>
#include <sys/types.h>

namespace portcullis {

struct ServiceIdentity {
    std::string user; // the name it runs as
    uid_t uid = 0;
    gid_t gid = 0;
    bool switching = false; // started as root: setgid()/setuid() to come
};

// The identity the configuration asks for, or std::nullopt with the exit
// status in `status` (67: no such user or group; 78: started as root with
// an empty user) after logging why and what to write instead.
std::optional<ServiceIdentity> service_identity(const Config &config, int &status);

// What to do about a configured user that does not exist: the command
// that creates it, or the line that keeps root.
std::string missing_user_advice(const std::string &user);

// Switches to `identity` for good (all threads): supplementary groups
// dropped, then group, then user; checks that root cannot be regained.
bool drop_privileges(const ServiceIdentity &identity);

} // namespace portcullis
