// What libmilter does in this process that portcullis takes over.
//
// libmilter is a shared library; its calls into libc go through the
// dynamic linker, which finds a function the executable defines before
// libc's. libmilter_hooks.cpp defines sigwait() that way: smfi_main()
// starts a thread that sigwait()s for SIGHUP, SIGTERM and SIGINT and stops
// the milter on any of them, SIGHUP included. A signal sent to the process
// goes to whichever thread waits for it, so a SIGHUP arriving while the
// daemon reloaded used to stop the milter. That thread now waits forever;
// the daemon's own signal loop (daemon.cpp) takes every signal.
//
// Contract: the daemon must not call sigwait() itself (sigwaitinfo() is
// not taken over).
#pragma once

#include <chrono>

namespace portcullis {

// Whether libmilter's signal thread has reached the sigwait() above,
// waiting up to `patience` for it.
bool libmilter_signal_thread_parked(std::chrono::milliseconds patience);

} // namespace portcullis
