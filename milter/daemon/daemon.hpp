// Running as a milter: the socket, the PID file, dropping privileges,
// daemonizing, and the signal loop (SIGHUP reload, SIGTERM/SIGINT exit).
// Privileged work (binding the socket, writing the PID file) happens
// before privileges are dropped, in start_service() (daemon.cpp) and
// nowhere else.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace portcullis {

struct DaemonOptions {
    std::string config_file;
    std::vector<std::pair<std::string, std::string>> overrides;
    bool foreground = false;
};

int run_daemon(const DaemonOptions &options);

} // namespace portcullis
