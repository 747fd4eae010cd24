#include "libmilter_hooks.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace portcullis {

namespace {

std::atomic<bool> signal_thread_parked{false};
std::atomic<bool> refusing_sessions{false};

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
    const int connection = accept4(listener, address, length, 0);
    if (connection < 0 || !portcullis::refusing_sessions.load())
        return connection;
    close(connection);
    errno = ECONNABORTED;
    return -1;
}
