#include "service_manager.hpp"

#include "core/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

namespace portcullis {

namespace {

// A status text on one line: systemd reads the message line by line.
std::string status_line(std::string_view status) {
    std::string line(status.substr(0, 200));
    for (char &c : line)
        if (c == '\n' || c == '\r')
            c = ' ';
    return line;
}

void send(const std::string &message) {
    const int sent = sd_notify(0, message.c_str());
    if (sent < 0)
        log_warning("cannot notify the service manager (" + message.substr(0, message.find('\n')) +
                    "): error " + std::to_string(-sent));
}

} // namespace

void notify_ready(std::string_view status) {
    send("READY=1\nSTATUS=" + status_line(status));
}

void notify_reloading() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                      static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void notify_stopping(std::string_view status) {
    send("STOPPING=1\nSTATUS=" + status_line(status));
}

bool stderr_is_journal() {
    const char *stream = std::getenv("JOURNAL_STREAM");
    if (!stream)
        return false;
    unsigned long long device = 0;
    unsigned long long inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2)
        return false;
    struct stat info {};
    return fstat(2, &info) == 0 && static_cast<unsigned long long>(info.st_dev) == device &&
           static_cast<unsigned long long>(info.st_ino) == inode;
}

} // namespace portcullis
