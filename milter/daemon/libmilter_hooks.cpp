#include "libmilter_hooks.hpp"

#include "core/log.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace portcullis {

namespace {

std::atomic<bool> signal_thread_parked{false};
std::atomic<bool> refusing_sessions{false};
std::atomic<int> reserve_descriptor{-1};

// Only libmilter's listener thread calls accept(): these are its own.
bool out_of_descriptors = false;
unsigned long closed_for_want_of_descriptors = 0;
std::chrono::steady_clock::time_point last_warning;

rlim_t open_file_limit() {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    return limit.rlim_cur;
}

// accept() failed with `error` (EMFILE or ENFILE): take the waiting
// connection out of the backlog with the reserve descriptor and close it.
void shed_connection(int listener, int error) {
    bool shed = false;
    if (const int reserve = reserve_descriptor.exchange(-1); reserve >= 0) {
        close(reserve);
        const int connection = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (connection >= 0) {
            close(connection);
            shed = true;
            ++closed_for_want_of_descriptors;
        }
    }
    reserve_descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC);
    const auto now = std::chrono::steady_clock::now();
    if (!out_of_descriptors || now - last_warning >= std::chrono::seconds(10)) {
        log_warning("out of file descriptors (" + std::string(std::strerror(error)) + ", limit " +
                    std::to_string(open_file_limit()) +
                    "): closing new MTA connections at once until sessions end, so the MTA "
                    "applies its milter_default_action (" +
                    std::to_string(closed_for_want_of_descriptors) + " closed so far)");
        last_warning = now;
        out_of_descriptors = true;
    }
    if (!shed) // nothing taken from the backlog: pause rather than spin
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

// A real-time signal: nothing sends it by habit, as `kill -USR1` might.
int listener_wake_signal() {
    return SIGRTMIN;
}

void on_listener_wake(int) {}

} // namespace

void install_listener_wake() {
    struct sigaction action {};
    action.sa_handler = on_listener_wake;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART (poll() would not restart anyway)
    sigaction(listener_wake_signal(), &action, nullptr);
}

void wake_listener(pthread_t listener) {
    pthread_kill(listener, listener_wake_signal());
}

void refuse_new_sessions() {
    refusing_sessions = true;
}

void raise_descriptor_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return;
    const auto before = limit.rlim_cur;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
            log_warning("cannot raise the limit on open files from " + std::to_string(before) +
                        " to " + std::to_string(limit.rlim_max) + ": " + std::strerror(errno));
    }
    const auto now = open_file_limit();
    log_notice("file descriptors: up to " + std::to_string(now) + " open" +
               (now != before
                    ? " (soft limit raised from " + std::to_string(before) + " to the hard limit)"
                    : " (the hard limit)") +
               ", about one per MTA connection");
}

void keep_reserve_descriptor() {
    if (reserve_descriptor.load() < 0)
        reserve_descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

bool libmilter_signal_thread_parked(std::chrono::milliseconds patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!signal_thread_parked.load()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

} // namespace portcullis

// libmilter's signal thread asks for SIGHUP, SIGTERM and SIGINT: those
// belong to the daemon's signal loop, so that thread waits forever. Any
// other caller gets the other signals it asks for.
extern "C" int sigwait(const sigset_t *set, int *signal) {
    sigset_t rest = *set;
    for (const int taken : {SIGHUP, SIGTERM, SIGINT})
        sigdelset(&rest, taken);
    if (sigisemptyset(&rest)) {
        portcullis::signal_thread_parked = true;
        for (;;)
            pause();
    }
    for (;;) {
        const int got = sigwaitinfo(&rest, nullptr);
        if (got > 0) {
            *signal = got;
            return 0;
        }
        if (errno != EINTR)
            return errno;
    }
}

// libmilter's listener accepts every MTA connection here. ECONNABORTED
// makes it go back to poll() without a word.
extern "C" int accept(int listener, sockaddr *address, socklen_t *length) {
    using namespace portcullis;
    const int connection = accept4(listener, address, length, 0);
    if (connection < 0) {
        if (errno != EMFILE && errno != ENFILE)
            return -1;
        shed_connection(listener, errno);
        errno = ECONNABORTED;
        return -1;
    }
    if (out_of_descriptors) {
        log_notice("file descriptors available again: accepting MTA connections (" +
                   std::to_string(closed_for_want_of_descriptors) + " closed meanwhile)");
        out_of_descriptors = false;
        closed_for_want_of_descriptors = 0;
    }
    if (!refusing_sessions.load())
        return connection;
    close(connection);
    errno = ECONNABORTED;
    return -1;
}
