#include "privileges.hpp"

#include "core/log.hpp"

#include <cerrno>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

namespace portcullis {

namespace {

std::string user_name(uid_t uid) {
    const passwd *entry = getpwuid(uid);
    return entry ? entry->pw_name : std::to_string(uid);
}

} // namespace

std::string missing_user_advice(const std::string &user) {
    return "create it (useradd --system --user-group --no-create-home --home-dir /nonexistent "
           "--shell /usr/sbin/nologin " +
           user + "), or write user = root to keep root";
}

std::optional<ServiceIdentity> service_identity(const Config &config, int &status) {
    if (geteuid() != 0) {
        ServiceIdentity identity{user_name(geteuid()), geteuid(), getegid(), false};
        if (!config.user.empty() && config.user != identity.user)
            log_notice("not started as root: staying user " + identity.user +
                       " (user = " + config.user + " applies to a start as root)");
        return identity;
    }
    if (config.user.empty()) {
        log_error("refusing to run as root with no user to switch to: set user = portcullis "
                  "(an unprivileged system user), or write user = root to keep root");
        status = 78; // EX_CONFIG
        return std::nullopt;
    }
    const passwd *entry = getpwnam(config.user.c_str());
    if (!entry) {
        log_error("user '" + config.user + "' does not exist: " + missing_user_advice(config.user));
        status = 67; // EX_NOUSER
        return std::nullopt;
    }
    ServiceIdentity identity{entry->pw_name, entry->pw_uid, entry->pw_gid, true};
    if (!config.group.empty()) {
        const group *found = getgrnam(config.group.c_str());
        if (!found) {
            log_error("group '" + config.group + "' does not exist");
            status = 67;
            return std::nullopt;
        }
        identity.gid = found->gr_gid;
    }
    if (identity.uid == 0)
        log_warning("running as root, as the configuration asks (user = " + config.user +
                    "): every parser of network input runs as root");
    return identity;
}

bool drop_privileges(const ServiceIdentity &identity) {
    if (!identity.switching)
        return true;
    if (setgroups(0, nullptr) != 0 || setgid(identity.gid) != 0 || setuid(identity.uid) != 0) {
        log_error("cannot switch to user " + identity.user + ": " + std::strerror(errno));
        return false;
    }
    if (identity.uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        log_error("could become root again after switching to user " + identity.user);
        return false;
    }
    return true;
}

} // namespace portcullis
