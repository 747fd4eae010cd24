#include "daemon.hpp"

#include "configuration.hpp"
#include "core/log.hpp"
#include "milter.hpp"
#include "session/runtime.hpp"

#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <iostream>
#include <pthread.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace portcullis {

namespace {

std::shared_ptr<const Runtime> load_runtime(const DaemonOptions &options) {
    const auto verified = verify_configuration(options.config_file, options.overrides, true);
    for (const auto &error : verified.errors)
        log_error("configuration: " + error.to_string());
    return verified.runtime;
}

// The directory of a unix socket, made if missing (e.g. /run/portcullis).
void prepare_socket_directory(const std::string &socket, uid_t uid, gid_t gid) {
    std::string path;
    if (socket.rfind("unix:", 0) == 0)
        path = socket.substr(5);
    else if (socket.rfind("local:", 0) == 0)
        path = socket.substr(6);
    else if (!socket.empty() && socket.front() == '/')
        path = socket;
    if (path.empty())
        return;
    const auto directory = std::filesystem::path(path).parent_path();
    std::error_code error;
    if (!directory.empty() && !std::filesystem::exists(directory, error)) {
        std::filesystem::create_directories(directory, error);
        if (!error && uid != 0)
            (void)!chown(directory.c_str(), uid, gid);
    }
}

// A unix socket belongs to the service user, with socket-mode permissions.
void hand_over_socket(const Config &config, uid_t uid, gid_t gid) {
    const auto &socket = config.socket;
    if (socket.rfind("unix:", 0) != 0 && socket.rfind("local:", 0) != 0)
        return;
    const auto path = socket.substr(socket.find(':') + 1);
    if (chown(path.c_str(), uid, gid) != 0)
        log_warning("cannot hand the socket " + path +
                    " to the service user: " + std::strerror(errno));
    if (chmod(path.c_str(), config.socket_mode) != 0)
        log_warning("cannot set the permissions of " + path + ": " + std::strerror(errno));
}

bool lookup_user(const Config &config, uid_t &uid, gid_t &gid) {
    uid = getuid();
    gid = getgid();
    if (!config.user.empty()) {
        const passwd *user = getpwnam(config.user.c_str());
        if (!user) {
            log_error("user '" + config.user + "' does not exist");
            return false;
        }
        uid = user->pw_uid;
        gid = user->pw_gid;
    }
    if (!config.group.empty()) {
        const group *group = getgrnam(config.group.c_str());
        if (!group) {
            log_error("group '" + config.group + "' does not exist");
            return false;
        }
        gid = group->gr_gid;
    }
    return true;
}

bool drop_privileges(const Config &config, uid_t uid, gid_t gid) {
    if (config.user.empty() && config.group.empty())
        return true;
    if (setgroups(0, nullptr) != 0 && geteuid() == 0)
        return false;
    if (setgid(gid) != 0 || setuid(uid) != 0) {
        log_error(std::string("cannot switch user/group: ") + std::strerror(errno));
        return false;
    }
    return true;
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

bool daemonize() {
    const pid_t child = fork();
    if (child < 0)
        return false;
    if (child > 0)
        _exit(0);
    setsid();
    if (fork() > 0)
        _exit(0);
    if (chdir("/") != 0)
        return false;
    const int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
    }
    return true;
}

} // namespace

namespace {
// Lines waiting for a stalled syslog before new ones are dropped (and
// counted): about 4 MiB at most.
constexpr std::size_t log_queue_lines = 8192;
} // namespace

int run_daemon(const DaemonOptions &options) {
    LogSettings logging;
    logging.to_stderr = options.foreground;
    configure_logging(logging);

    // Every load step before detaching: a configuration that cannot
    // start fails the start itself, saying why on stderr too.
    const auto first = verify_configuration(options.config_file, options.overrides, false);
    if (!first.config) {
        for (const auto &error : first.errors) {
            log_error("configuration: " + error.to_string());
            if (!options.foreground)
                std::cerr << error.to_string() << "\n";
        }
        return exit_config_error;
    }
    logging.facility = first.config->log_facility;
    configure_logging(logging);
    if (!options.foreground && !daemonize()) {
        log_error("cannot detach from the terminal");
        return 71;
    }
    // From here on no thread waits for syslog (the resolver's least of
    // all): lines go through a queue and a writer thread of their own.
    // After the fork, which would not take the thread along.
    logging.queue_lines = log_queue_lines;
    configure_logging(logging);
    // Written out before any return below.
    struct DrainLog {
        LogSettings settings;
        ~DrainLog() {
            settings.queue_lines = 0;
            configure_logging(settings);
        }
    } drain_log{logging};

    // Every thread made from here on (libunbound's, libmilter's) inherits
    // this mask, so the signals reach only the sigwait() below.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    auto runtime = load_runtime(options);
    if (!runtime)
        return 78;
    install_runtime(runtime);
    const Config &config = *runtime->config;

    uid_t uid = 0;
    gid_t gid = 0;
    if (!lookup_user(config, uid, gid))
        return 67;
    prepare_socket_directory(config.socket, uid, gid);

    static smfiDesc description = milter_description();
    if (smfi_setconn(const_cast<char *>(config.socket.c_str())) != MI_SUCCESS ||
        smfi_register(description) != MI_SUCCESS) {
        log_error("cannot set up the milter socket " + config.socket);
        return 71;
    }
    umask(007);
    if (smfi_opensocket(true) != MI_SUCCESS) {
        log_error("cannot open the milter socket " + config.socket);
        return 71;
    }
    hand_over_socket(config, uid, gid);
    disable_nagle_on_listener();
    if (!config.pid_file.empty()) {
        std::ofstream pid(config.pid_file, std::ios::trunc);
        pid << getpid() << "\n";
        if (!pid)
            log_warning("cannot write the PID file " + config.pid_file);
        else if (uid != 0)
            (void)!chown(config.pid_file.c_str(), uid, gid);
    }
    if (!drop_privileges(config, uid, gid))
        return 77;

    log_notice("starting portcullis " PORTCULLIS_VERSION " on " + config.socket +
               (config.dry_run ? " (dry-run)" : ""));
    int milter_status = MI_SUCCESS;
    std::thread milter_thread([&] {
        milter_status = smfi_main();
        // If libmilter stops on its own, wake the signal loop.
        kill(getpid(), SIGTERM);
    });

    for (;;) {
        int signal = 0;
        if (sigwait(&signals, &signal) != 0)
            continue;
        if (signal == SIGHUP) {
            log_notice("SIGHUP: reloading " + options.config_file);
            if (auto fresh = load_runtime(options)) {
                install_runtime(fresh);
                log_notice("configuration reloaded" +
                           std::string(fresh->config->dry_run ? " (dry-run)" : ""));
            } else {
                log_error("reload failed; keeping the running configuration");
            }
            continue;
        }
        log_notice(std::string("stopping on ") + strsignal(signal));
        break;
    }
    smfi_stop();
    milter_thread.join();
    if (!config.pid_file.empty())
        unlink(config.pid_file.c_str());
    install_runtime(nullptr);
    return milter_status == MI_SUCCESS ? 0 : 70;
}

} // namespace portcullis
