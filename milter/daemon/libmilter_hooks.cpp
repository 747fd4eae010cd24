#include "libmilter_hooks.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <thread>
#include <unistd.h>

namespace portcullis {

namespace {

std::atomic<bool> signal_thread_parked{false};

} // namespace

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
