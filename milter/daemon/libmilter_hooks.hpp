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
// accept() is taken over the same way, for the listener's connections:
// once the daemon shuts down, a new MTA connection is closed as soon as it
// is accepted (the MTA applies its milter_default_action at once) while
// the sessions in flight go on. And when accept() fails for want of file
// descriptors (EMFILE, ENFILE), libmilter's listener retries at once while
// the connection waiting in the backlog makes poll() return at once: it
// spun at full speed until a session ended. Instead a reserve descriptor
// is given up to accept that connection and close it (the MTA again
// applies its milter_default_action), with a log line, and when even that
// fails the listener pauses 50 ms.
//
// Contract: the daemon must not call sigwait() itself (sigwaitinfo() is
// not taken over); the other functions are called from its main thread.
#pragma once

#include <chrono>
#include <pthread.h>

namespace portcullis {

// Installs the (empty) handler of the signal wake_listener() sends. Call
// before any thread starts.
void install_listener_wake();

// Interrupts the listener thread (the one running smfi_main()) out of its
// poll(), which otherwise notices smfi_stop() only every 5 seconds. Valid
// until that thread is joined.
void wake_listener(pthread_t listener);

// From now on every new MTA connection is closed as soon as accepted.
void refuse_new_sessions();

// Raises the soft limit on open files to the hard limit and logs the
// limit in force.
void raise_descriptor_limit();

// Opens the reserve descriptor accept() gives up at EMFILE. Call once the
// listening socket is open.
void keep_reserve_descriptor();

// Whether libmilter's signal thread has reached the sigwait() above,
// waiting up to `patience` for it.
bool libmilter_signal_thread_parked(std::chrono::milliseconds patience);

} // namespace portcullis
