// Telling systemd (Type=notify) where the daemon is: READY=1 once the
// milter socket is bound and privileges are dropped, RELOADING=1 and
// READY=1 around each SIGHUP reload, STOPPING=1 when a stop begins.
// Each is one sd_notify() datagram to $NOTIFY_SOCKET; without that
// variable (not started by systemd) every call does nothing.
//
// Also: whether standard error is the journal (systemd's JOURNAL_STREAM),
// where a foreground daemon's stderr lines would repeat its syslog lines.
//
// Contract: any thread may call these; none blocks for long (a datagram
// to a local socket, or nothing).
#pragma once

#include <string_view>

namespace portcullis {

// READY=1 with STATUS=status.
void notify_ready(std::string_view status);
// RELOADING=1 with MONOTONIC_USEC= (systemd 253+ wants it; older ones
// ignore the field).
void notify_reloading();
// STOPPING=1 with STATUS=status.
void notify_stopping(std::string_view status);

// Whether file descriptor 2 is the stream JOURNAL_STREAM names.
bool stderr_is_journal();

} // namespace portcullis
