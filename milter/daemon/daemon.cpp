#include "daemon.hpp"

#include "configuration.hpp"
#include "core/log.hpp"
#include "libmilter_hooks.hpp"
#include "library_versions.hpp"
#include "listen_socket.hpp"
#include "milter.hpp"
#include "pid_file.hpp"
#include "privileges.hpp"
#include "service_manager.hpp"
#include "memory/metered_store.hpp"
#include "memory/open_store.hpp"
#include "metrics/http_server.hpp"
#include "metrics/registry.hpp"
#include "checks/check.hpp"
#include "core/policy.hpp"
#include "session/runtime.hpp"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <optional>
#include <cerrno>
#include <cstring>
#include <pthread.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace portcullis {

namespace {

// The state store, opened once at start and kept across reloads: every
// runtime the daemon builds gets it.
std::shared_ptr<state::Store> daemon_store;
Config::State daemon_store_options;
// metrics.listen as the daemon started with it (unset until then): a
// reload does not rebind.
std::optional<std::string> metrics_listen;

std::shared_ptr<const Runtime> load_runtime(const DaemonOptions &options) {
    const auto verified = verify_configuration(options.config_file, options.overrides, true);
    for (const auto &error : verified.errors)
        log_error("configuration: " + error.to_string());
    if (!verified.runtime || !daemon_store)
        return verified.runtime;
    if (metrics_listen && verified.runtime->config->metrics.listen != *metrics_listen)
        log_warning("metrics.listen changed: it takes effect at the next restart; still " +
                    (metrics_listen->empty() ? std::string("not serving metrics")
                                             : "serving metrics on " + *metrics_listen));
    if (!(verified.runtime->config->state == daemon_store_options))
        log_warning("state.* options changed: they take effect at the next restart; still "
                    "using " +
                    daemon_store->describe());
    return with_store(verified.runtime, daemon_store);
}

// The process that starts a detached portcullis waits until the daemon
// has opened its socket, written its PID file and dropped privileges, and
// exits with the daemon's start status: an init script or systemd
// (Type=forking) sees a failed start, and finds the PID file once the
// command returns. Until then the daemon's errors go to the starting
// terminal too.
class StartupReport {
  public:
    StartupReport() = default;
    StartupReport(const StartupReport &) = delete;
    StartupReport &operator=(const StartupReport &) = delete;
    ~StartupReport() {
        if (fd_ >= 0)
            close(fd_);
    }

    // Forks twice; the starting process waits for send() and exits with
    // its status, the daemon returns true.
    bool detach() {
        int ends[2];
        if (pipe2(ends, O_CLOEXEC) != 0)
            return false;
        const pid_t child = fork();
        if (child < 0)
            return false;
        if (child > 0) {
            close(ends[1]);
            unsigned char status = 0;
            ssize_t got;
            do
                got = read(ends[0], &status, 1);
            while (got < 0 && errno == EINTR);
            _exit(got == 1 ? status : 70); // no word: the daemon died starting
        }
        close(ends[0]);
        setsid();
        if (fork() > 0)
            _exit(0);
        fd_ = ends[1];
        if (chdir("/") != 0)
            return false;
        const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 0);
            close(null);
        }
        return true;
    }

    // The start status for the waiting process; after a successful start
    // standard output and error go to /dev/null.
    void send(int status) {
        if (fd_ < 0)
            return;
        const auto byte = static_cast<unsigned char>(status);
        (void)!write(fd_, &byte, 1);
        close(fd_);
        fd_ = -1;
        const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (status == 0 && null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        if (null >= 0)
            close(null);
    }

  private:
    int fd_ = -1;
};

// Reloads in a thread of its own, so that the signal loop is always
// waiting for the next signal: SIGHUPs that arrive during a reload make
// one more reload after it, however many they are.
class Reloader {
  public:
    explicit Reloader(const DaemonOptions &options) : options_(options) {}
    Reloader(const Reloader &) = delete;
    Reloader &operator=(const Reloader &) = delete;
    ~Reloader() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }

    void request() {
        {
            std::lock_guard lock(mutex_);
            requested_ = true;
        }
        wake_.notify_one();
    }

  private:
    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [this] { return requested_ || stopping_; });
            if (stopping_)
                return;
            requested_ = false;
            lock.unlock();
            reload();
            lock.lock();
        }
    }

    // Each reload, however many SIGHUPs it answers, is one RELOADING=1
    // and one READY=1 for systemd, failed or not: the milter serves on.
    void reload() {
        notify_reloading();
        log_notice("SIGHUP: reloading " + options_.config_file);
        if (auto fresh = load_runtime(options_)) {
            install_runtime(fresh);
            metrics::global().count_reload(true);
            log_notice("configuration reloaded" +
                       std::string(fresh->config->dry_run ? " (dry-run)" : ""));
            notify_ready("configuration reloaded");
        } else {
            metrics::global().count_reload(false);
            log_error("reload failed; keeping the running configuration");
            notify_ready("reload failed; serving with the previous configuration");
        }
    }

    const DaemonOptions &options_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool requested_ = false;
    bool stopping_ = false;
    std::thread thread_{[this] { run(); }}; // last: starts once the rest exists
};

std::string describe(std::chrono::milliseconds duration) {
    if (duration.count() % 1000 == 0)
        return std::to_string(duration.count() / 1000) + "s";
    return std::to_string(duration.count()) + "ms";
}

// Waits until no session is in flight or `grace` is over; returns the
// number of sessions still in flight.
std::size_t finish_sessions(std::chrono::milliseconds grace) {
    auto open = open_connections();
    if (open == 0)
        return 0;
    log_notice("waiting up to " + describe(grace) + " (shutdown-grace) for " +
               std::to_string(open) + " session(s) in flight");
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while ((open = open_connections()) > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (open > 0)
        log_warning("shutdown-grace of " + describe(grace) + " is over: cutting " +
                    std::to_string(open) + " session(s) in flight");
    return open;
}

// What a started daemon holds until it exits.
struct Service {
    std::shared_ptr<const Runtime> runtime; // the first configuration's
    PidFile pid_file;
    std::string user; // the one it runs as
    std::unique_ptr<metrics::HttpServer> metrics_server;
};

// Creates state.path for LMDB as root, owned by the user the daemon
// becomes, before privileges are dropped.
void prepare_state_directory(const Config &config, const ServiceIdentity &identity) {
    if (config.state.backend != "lmdb")
        return;
    if (::mkdir(config.state.path.c_str(), 0750) != 0) {
        if (errno != EEXIST)
            log_warning("cannot create state.path " + config.state.path + ": " +
                        std::strerror(errno));
        return;
    }
    if (identity.switching && ::chown(config.state.path.c_str(), identity.uid, identity.gid) != 0)
        log_warning("cannot hand state.path " + config.state.path + " to user " + identity.user +
                    ": " + std::strerror(errno));
}

// Opens the state store as the daemon's user and attaches it to the
// running configuration.
bool open_daemon_store(Service &service) {
    const Config &config = *service.runtime->config;
    std::string error;
    auto store = memory::open_store(config, {.sweep = true, .create_directory = true}, error);
    if (!store) {
        log_error("cannot open the state store: " + error);
        return false;
    }
    daemon_store = std::make_shared<memory::MeteredStore>(std::move(store));
    daemon_store_options = config.state;
    service.runtime = with_store(service.runtime, daemon_store);
    install_runtime(service.runtime);
    log_notice("state store: " + daemon_store->describe());
    return true;
}

// The rules verdicts are counted by, then the HTTP endpoint of
// metrics.listen (if set), bound before privileges are dropped like the
// milter socket. A reload keeps it as it is (metrics_listen).
bool start_metrics(const Config &config, Service &service) {
    std::vector<std::string_view> rules;
    for (const auto &rule : rule_table())
        rules.push_back(rule.id);
    for (const auto &rule : policy_rules())
        rules.push_back(rule.id);
    metrics::global().register_rules(rules);
    metrics_listen = config.metrics.listen;
    if (metrics_listen->empty())
        return true;
    std::string error;
    const auto address = metrics::parse_listen_address(*metrics_listen, error);
    if (address)
        service.metrics_server = metrics::HttpServer::start(*address, metrics::global(), error);
    if (!service.metrics_server) {
        log_error("metrics.listen: " + error);
        return false;
    }
    log_notice("serving metrics on http://" + *metrics_listen + "/metrics");
    return true;
}

// Loads the configuration, makes sure no other portcullis runs there,
// writes the PID file, opens the socket and drops privileges: the
// privileged part, in this order. Returns 0 or the exit status.
int start_service(const DaemonOptions &options, Service &service) {
    service.runtime = load_runtime(options);
    if (!service.runtime)
        return 78; // EX_CONFIG
    install_runtime(service.runtime);
    const Config &config = *service.runtime->config;

    int status = 0;
    const auto identity = service_identity(config, status);
    if (!identity)
        return status;
    if (const auto pid = running_instance(config.pid_file)) {
        log_error("portcullis is already running as PID " + std::to_string(*pid) + " (PID file " +
                  config.pid_file + "); not starting another");
        return 69; // EX_UNAVAILABLE
    }
    if (socket_answers(config.socket)) {
        log_error("another milter already answers on " + config.socket + "; not starting another");
        return 69;
    }
    raise_descriptor_limit();
    std::string error;
    if (!prepare_socket_directory(config.socket, identity->uid, identity->gid, error))
        log_warning(error);
    auto pid_file = PidFile::create(config.pid_file, error);
    if (!pid_file) {
        log_error(error);
        return 73; // EX_CANTCREAT
    }
    service.pid_file = std::move(*pid_file);

    static smfiDesc description = milter_description();
    if (smfi_setconn(const_cast<char *>(config.socket.c_str())) != MI_SUCCESS ||
        smfi_register(description) != MI_SUCCESS) {
        log_error("cannot set up the milter socket " + config.socket);
        return 71;
    }
    if (!open_milter_socket(config, identity->gid)) {
        log_error("cannot open the milter socket " + config.socket +
                  " (libmilter's log line says why)");
        return 71;
    }
    disable_nagle_on_listener();
    keep_reserve_descriptor();
    if (!start_metrics(config, service))
        return 71;
    prepare_state_directory(config, *identity);
    if (!drop_privileges(*identity))
        return 77; // EX_NOPERM
    service.user = identity->user;
    if (!open_daemon_store(service))
        return 73; // EX_CANTCREAT
    return 0;
}

// Lines waiting for a stalled syslog before new ones are dropped (and
// counted): about 4 MiB at most.
constexpr std::size_t log_queue_lines = 8192;

} // namespace

int run_daemon(const DaemonOptions &given) {
    // A detached daemon works from /, and a reload reads the file again.
    DaemonOptions options = given;
    std::error_code ignored;
    if (const auto absolute = std::filesystem::absolute(options.config_file, ignored);
        !absolute.empty())
        options.config_file = absolute.string();

    LogSettings logging;
    // A detached daemon's errors reach the terminal too, until it has
    // started; under systemd stderr is the journal, which syslog reaches.
    logging.to_stderr = !(options.foreground && stderr_is_journal());
    configure_logging(logging);

    // Every load step before detaching: a configuration that cannot
    // start fails the start itself, saying why on stderr too.
    const auto first = verify_configuration(options.config_file, options.overrides, false);
    if (!first.config) {
        // Logged to standard error too: logging goes there until the start.
        for (const auto &error : first.errors)
            log_error("configuration: " + error.to_string());
        return exit_config_error;
    }
    logging.facility = first.config->log_facility;
    configure_logging(logging);
    StartupReport report;
    if (!options.foreground && !report.detach()) {
        log_error("cannot detach from the terminal");
        report.send(71);
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
        void write_out() {
            settings.queue_lines = 0;
            configure_logging(settings);
        }
        ~DrainLog() { write_out(); }
    } drain_log{logging};

    // Every thread made from here on (libunbound's, libmilter's) inherits
    // this mask, so the signals reach only the sigwaitinfo() below.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    install_listener_wake();

    Service service;
    if (const int status = start_service(options, service); status != 0) {
        drain_log.write_out(); // the reason reaches the terminal before the command returns
        report.send(status);
        return status;
    }
    report.send(0);
    if (!options.foreground) {
        drain_log.settings.to_stderr = logging.to_stderr = false;
        configure_logging(logging);
    }
    const Config &config = *service.runtime->config;

    log_notice("starting portcullis " PORTCULLIS_VERSION " (" + describe_library_versions() +
               ") on " + config.socket + " as user " + service.user +
               (config.dry_run ? " (dry-run)" : ""));
    int milter_status = MI_SUCCESS;
    std::atomic<bool> stopping{false};
    std::atomic<bool> milter_returned{false};
    std::thread milter_thread([&] {
        milter_status = smfi_main();
        milter_returned = true;
        // If libmilter stops on its own, wake the signal loop.
        if (!stopping)
            kill(getpid(), SIGTERM);
    });
    if (!libmilter_signal_thread_parked(std::chrono::seconds(2)))
        log_error("libmilter's signal thread is not held back: a SIGHUP may stop the milter");
    // The socket is bound (start_service), and libmilter accepts on it.
    notify_ready("serving on " + config.socket);

    std::string stop_reason;
    {
        Reloader reloader(options);
        for (;;) {
            // sigwaitinfo(), not sigwait(): libmilter_hooks.cpp takes sigwait() over.
            const int signal = sigwaitinfo(&signals, nullptr);
            if (signal < 0)
                continue;
            if (signal == SIGHUP) {
                reloader.request();
                continue;
            }
            stop_reason = std::string("stopping on ") + strsignal(signal);
            log_notice(stop_reason);
            break;
        }
    } // a reload under way ends first: its READY=1 comes before STOPPING=1
    notify_stopping(stop_reason);
    // New sessions are refused at once; those in flight may end, up to
    // shutdown-grace.
    stopping = true;
    refuse_new_sessions();
    const auto cut = finish_sessions(current_runtime()->config->shutdown_grace);
    // smfi_stop() waits for a lock the listener holds while it polls (5 s
    // at a time): it runs aside while the listener is woken until it has
    // seen the stop.
    std::thread stopper([] { smfi_stop(); });
    while (!milter_returned) {
        wake_listener(milter_thread.native_handle());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stopper.join();
    milter_thread.join();
    service.pid_file.remove();
    const int status = milter_status == MI_SUCCESS ? 0 : 70;
    if (cut > 0) {
        // libmilter's workers may still be inside a callback of a session
        // cut short: leave without running destructors under them.
        drain_log.write_out();
        std::_Exit(status);
    }
    service.metrics_server.reset();
    install_runtime(nullptr);
    service.runtime.reset();
    daemon_store.reset(); // stops the LMDB sweeper; the last session is gone
    return status;
}

} // namespace portcullis
