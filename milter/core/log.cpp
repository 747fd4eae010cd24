#include "log.hpp"

#include <cstdio>
#include <ctime>
#include <mutex>

namespace portcullis {

namespace {
std::mutex log_mutex;
LogSettings settings;

int facility_code(std::string_view name) {
    if (name == "daemon")
        return LOG_DAEMON;
    if (name == "local0")
        return LOG_LOCAL0;
    if (name == "local1")
        return LOG_LOCAL1;
    if (name == "local2")
        return LOG_LOCAL2;
    if (name == "local3")
        return LOG_LOCAL3;
    if (name == "local4")
        return LOG_LOCAL4;
    if (name == "local5")
        return LOG_LOCAL5;
    if (name == "local6")
        return LOG_LOCAL6;
    if (name == "local7")
        return LOG_LOCAL7;
    return LOG_MAIL;
}
} // namespace

void configure_logging(const LogSettings &new_settings) {
    std::lock_guard lock(log_mutex);
    settings = new_settings;
    if (settings.to_syslog)
        openlog("portcullis", LOG_PID | LOG_NDELAY, facility_code(settings.facility));
}

void log_message(int priority, std::string_view text) {
    std::lock_guard lock(log_mutex);
    if (settings.to_syslog)
        syslog(priority, "%.*s", static_cast<int>(text.size()), text.data());
    if (settings.to_stderr) {
        std::fprintf(stderr, "portcullis: %.*s\n", static_cast<int>(text.size()), text.data());
        std::fflush(stderr);
    }
}

std::string log_safe(std::string_view text, std::size_t limit) {
    std::string out;
    out.reserve(std::min(text.size(), limit));
    for (char c : text) {
        if (out.size() >= limit) {
            out += "...";
            break;
        }
        const auto byte = static_cast<unsigned char>(c);
        out += (byte >= 0x20 && byte < 0x7f) ? c : '?';
    }
    return out;
}

} // namespace portcullis
