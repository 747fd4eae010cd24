// milter-load's command line and the milter protocol constants it speaks
// (as in libmilter/mfdef.h). Header-only; used by milter_load.cpp alone.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace milter_load {

// Milter protocol, MTA side (constants as in libmilter/mfdef.h).
namespace proto {
constexpr std::uint32_t version = 6;
constexpr std::uint32_t all_actions = 0x1ff;
constexpr std::uint32_t no_connect = 0x1, no_helo = 0x2, no_mail = 0x4, no_rcpt = 0x8,
                        no_body = 0x10, no_headers = 0x20, no_eoh = 0x40, nr_header = 0x80,
                        no_data = 0x200, nr_connect = 0x1000, nr_helo = 0x2000, nr_mail = 0x4000,
                        nr_rcpt = 0x8000, nr_data = 0x10000, nr_eoh = 0x40000, nr_body = 0x80000,
                        header_leading_space = 0x100000;
// Everything Postfix 3.7 offers with milter_protocol = 6.
constexpr std::uint32_t offered = 0x1fffff;
} // namespace proto

// ---------------------------------------------------------------- options

struct Target {
    std::string name;
    std::string socket; // unix:/path or inet:PORT@HOST
    pid_t pid = 0;
    std::string log; // the filter's log, to count its decisions
};

struct Options {
    std::vector<Target> targets;
    unsigned sessions = 1000;
    unsigned concurrency = 20;
    double rate = 0; // sessions started per second; 0: as fast as the concurrency allows
    unsigned warmup = 0;
    unsigned rounds = 1;
    std::uint32_t client_base = 0; // host order
    unsigned clients = 256;
    unsigned client_offset = 0;
    bool fresh_clients = false; // every session of every round a new client
    unsigned recipients = 1;
    unsigned headers = 5;
    unsigned body = 1024;
    bool message = true;
    bool hold = false;
    unsigned opening = 256; // sessions at most between socket open and RCPT in --hold
    std::string helo = "h{n}.c.bench.example";
    std::string sender = "user{n}@s{n}.senders.bench.example";
    std::string json;
    unsigned timeout_ms = 60000;
};

[[noreturn]] inline void usage(const std::string &problem) {
    std::fprintf(stderr,
                 "milter-load: %s\n"
                 "usage: milter-load --target NAME=SOCKET[,pid=PID][,log=FILE] ... [options]\n"
                 "  --sessions N      sessions per target and round (1000)\n"
                 "  --concurrency N   sessions in flight at once (20)\n"
                 "  --rate N          start N sessions per second (open loop; default: as\n"
                 "                    fast as the concurrency allows)\n"
                 "  --warmup N        unmeasured sessions first, per target (0)\n"
                 "  --rounds N        measured rounds, targets alternating (1)\n"
                 "  --client-base A   first client IPv4 address (198.18.0.0)\n"
                 "  --clients K       client addresses in the pool (256)\n"
                 "  --client-offset O first pool index (0)\n"
                 "  --fresh-clients   every session a client never used before in this run\n"
                 "  --rcpts R         recipients per session (1)\n"
                 "  --headers H       header fields per message (5)\n"
                 "  --body BYTES      body size (1024)\n"
                 "  --no-message      stop after the recipients (abort, quit)\n"
                 "  --hold            hold every session open at once after RCPT\n"
                 "  --helo TEMPLATE   HELO name, {n} = client index (h{n}.c.bench.example)\n"
                 "  --json FILE       write the figures as JSON\n"
                 "  --timeout MS      per-command timeout (60000)\n",
                 problem.c_str());
    std::exit(64);
}

inline unsigned number(const std::string &text, const std::string &option) {
    char *end = nullptr;
    const unsigned long value = std::strtoul(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || value > 10'000'000)
        usage("bad number for " + option + ": " + text);
    return static_cast<unsigned>(value);
}

inline Target parse_target(const std::string &text) {
    Target target;
    const auto equals = text.find('=');
    if (equals == std::string::npos || equals == 0)
        usage("--target wants NAME=SOCKET[,pid=PID][,log=FILE]: " + text);
    target.name = text.substr(0, equals);
    std::stringstream rest(text.substr(equals + 1));
    std::string item;
    bool first = true;
    while (std::getline(rest, item, ',')) {
        if (first) {
            target.socket = item;
            first = false;
        } else if (item.rfind("pid=", 0) == 0) {
            target.pid = static_cast<pid_t>(number(item.substr(4), "pid"));
        } else if (item.rfind("log=", 0) == 0) {
            target.log = item.substr(4);
        } else {
            usage("unknown target attribute: " + item);
        }
    }
    return target;
}

inline Options parse_options(int argc, char **argv) {
    Options options;
    in_addr base{};
    inet_pton(AF_INET, "198.18.0.0", &base);
    options.client_base = ntohl(base.s_addr);
    for (int i = 1; i < argc; ++i) {
        const std::string option = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(option + " needs a value");
            return argv[++i];
        };
        if (option == "--target")
            options.targets.push_back(parse_target(value()));
        else if (option == "--sessions")
            options.sessions = number(value(), option);
        else if (option == "--concurrency")
            options.concurrency = number(value(), option);
        else if (option == "--rate")
            options.rate = number(value(), option);
        else if (option == "--warmup")
            options.warmup = number(value(), option);
        else if (option == "--rounds")
            options.rounds = number(value(), option);
        else if (option == "--client-base") {
            const auto text = value();
            if (inet_pton(AF_INET, text.c_str(), &base) != 1)
                usage("bad IPv4 address: " + text);
            options.client_base = ntohl(base.s_addr);
        } else if (option == "--clients")
            options.clients = number(value(), option);
        else if (option == "--client-offset")
            options.client_offset = number(value(), option);
        else if (option == "--fresh-clients")
            options.fresh_clients = true;
        else if (option == "--rcpts")
            options.recipients = number(value(), option);
        else if (option == "--headers")
            options.headers = number(value(), option);
        else if (option == "--body")
            options.body = number(value(), option);
        else if (option == "--no-message")
            options.message = false;
        else if (option == "--hold")
            options.hold = true;
        else if (option == "--helo")
            options.helo = value();
        else if (option == "--json")
            options.json = value();
        else if (option == "--timeout")
            options.timeout_ms = number(value(), option);
        else
            usage("unknown option " + option);
    }
    if (options.targets.empty())
        usage("no --target");
    if (options.sessions == 0 || options.concurrency == 0 || options.clients == 0 ||
        options.recipients == 0 || options.rounds == 0)
        usage("--sessions, --concurrency, --clients, --rcpts and --rounds must be positive");
    if (options.hold)
        options.concurrency = options.sessions;
    return options;
}

inline std::string expand(const std::string &pattern, unsigned n) {
    std::string out;
    const std::string index = std::to_string(n);
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern.compare(i, 3, "{n}") == 0) {
            out += index;
            i += 2;
        } else {
            out += pattern[i];
        }
    }
    return out;
}

} // namespace milter_load
