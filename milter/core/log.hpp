// Logging to syslog (and to stderr in the foreground). One line per
// decision comes from the session; checks log list and DNS errors once
// per lookup. Every logged value from the network passes log_safe(), and
// log_quoted() inside a key="..." field.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <syslog.h>

namespace portcullis {

struct LogSettings {
    std::string facility = "mail"; // as in log-facility
    bool to_stderr = false;
    bool to_syslog = true;
    // Instead of syslog and stderr (tests).
    std::function<void(int priority, std::string_view line)> sink;
    // Above 0: log_message() only queues the line (at most this many;
    // beyond, lines are dropped and counted, and the count logged later)
    // and a thread of its own writes them, so that no caller, the
    // resolver's thread among them, ever waits for a stalled syslog.
    // Start it only after the last fork().
    std::size_t queue_lines = 0;
};

void configure_logging(const LogSettings &settings);
void log_message(int priority, std::string_view text);
inline void log_info(std::string_view text) {
    log_message(LOG_INFO, text);
}
inline void log_notice(std::string_view text) {
    log_message(LOG_NOTICE, text);
}
inline void log_warning(std::string_view text) {
    log_message(LOG_WARNING, text);
}
inline void log_error(std::string_view text) {
    log_message(LOG_ERR, text);
}

// Printable ASCII only (others become '?'), at most `limit` bytes; for
// putting network input into a log line.
std::string log_safe(std::string_view text, std::size_t limit = 256);

// As log_safe(), for the inside of a key="..." field: '"' and '\\' are
// escaped with a backslash, so that a parser can split every line.
std::string log_quoted(std::string_view text, std::size_t limit = 256);

} // namespace portcullis
