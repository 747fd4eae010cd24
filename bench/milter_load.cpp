// milter-load: plays the MTA side of the milter protocol against one or
// more filters and measures them in the same run.
//
// Each session: open the socket and negotiate (OPTNEG), connect with a
// client address drawn from a pool of K, HELO, MAIL, R recipients, then,
// if a recipient was accepted, the message (DATA, headers, end of
// headers, body, end of message) as far as the filter negotiated it, and
// QUIT. Commands and their macros go out in one write, as Postfix does.
// N sessions run concurrently in one epoll loop (one thread, so the
// driver costs as little CPU as possible on a small machine).
//
// Reported per filter: sessions per second, latency per stage (p50, p99,
// max), the connect-to-first-RCPT decision time, the filter's CPU time
// per session (from /proc/PID/stat) and its peak RSS (VmHWM, reset
// through /proc/PID/clear_refs before each measured phase), the replies
// per recipient (continue / reject / tempfail) and errors. With
// log=FILE the decisions the filter logged during the phase
// ("action=continue|reject|tempfail" lines) are counted and compared
// with the driver's own counts: a rejected session is a rejection, not
// an error.
//
// --hold opens every session up to its last RCPT, keeps them all open at
// once, samples the filter's memory, and only then finishes them.
//
// Output: a human-readable report on stdout, and with --json FILE the
// same figures as JSON for scripts/bench. Exit status 0 when no session
// failed and every log count agreed, 1 otherwise, 64 on bad usage.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "load_measure.hpp"

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

namespace {

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

[[noreturn]] void usage(const std::string &problem) {
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

unsigned number(const std::string &text, const std::string &option) {
    char *end = nullptr;
    const unsigned long value = std::strtoul(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || value > 10'000'000)
        usage("bad number for " + option + ": " + text);
    return static_cast<unsigned>(value);
}

Target parse_target(const std::string &text) {
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

Options parse_options(int argc, char **argv) {
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

std::string expand(const std::string &pattern, unsigned n) {
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

using namespace milter_load;

// ------------------------------------------------------------- session

enum class Step {
    opening,
    optneg,
    connect,
    helo,
    mail,
    rcpt,
    data,
    header,
    eoh,
    body,
    eom,
    held,
    done
};

struct Session {
    int fd = -1;
    unsigned number = 0; // within the phase
    unsigned client = 0; // pool index
    Step step = Step::opening;
    std::uint32_t protocol = 0; // what the filter negotiated
    unsigned rcpt_sent = 0;
    unsigned rcpt_accepted = 0;
    unsigned rcpt_rejected = 0;
    unsigned headers_sent = 0;
    bool refused_5xx = false;
    bool refused_4xx = false;
    std::string out;
    std::size_t out_at = 0;
    std::string in;
    Clock::time_point started, command_sent, connect_sent, deadline;
    bool want_write = false;
};

struct Phase {
    const Options &options;
    const Target &target;
    unsigned total;
    unsigned client_offset;
    bool measured;
    int epoll = -1;
    std::vector<std::unique_ptr<Session>> slots;
    unsigned started = 0;
    unsigned in_flight = 0;
    unsigned opening = 0; // --hold: sessions not yet parked
    unsigned parked = 0;
    bool released = false;
    std::deque<Session *> retry; // unix sockets: the listen queue was full
    Samples samples;
    Counts counts;
    ProcessSample at_hold;
    std::string body;

    Phase(const Options &o, const Target &t, unsigned n, unsigned offset, bool m)
        : options(o), target(t), total(n), client_offset(offset), measured(m) {
        body.reserve(options.body + 2);
        static const char line[] = "The quick brown fox jumps over the lazy dog 0123456789.\r\n";
        while (body.size() < options.body)
            body += line;
        body.resize(options.body);
    }

    void run();
    void start_session();
    bool open_socket(Session &session);
    void fail(Session &session, const std::string &kind);
    void finish(Session &session);
    void on_readable(Session &session);
    void on_writable(Session &session);
    void flush(Session &session);
    void send(Session &session, char command, std::string_view data);
    void send_macros(Session &session, char stage, std::initializer_list<std::string_view> pairs);
    void handle(Session &session, char reply, std::string_view data);
    void advance(Session &session);
    void send_next_recipient(Session &session);
    void after_recipients(Session &session);
    void start_message(Session &session);
    void next_message_step(Session &session);
    void end_session(Session &session);
    void release_held();
};

bool Phase::open_socket(Session &session) {
    const std::string &socket = target.socket;
    int fd = -1;
    int result = -1;
    if (socket.rfind("unix:", 0) == 0 || socket.rfind("local:", 0) == 0 || socket[0] == '/') {
        const std::string path = socket[0] == '/' ? socket : socket.substr(socket.find(':') + 1);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        result = connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address);
        if (result != 0 && errno == EAGAIN) {
            ::close(fd);
            ++counts.connect_retries;
            retry.push_back(&session);
            return false;
        }
    } else if (socket.rfind("inet:", 0) == 0) {
        const auto at = socket.find('@');
        const std::string port =
            socket.substr(5, at == std::string::npos ? std::string::npos : at - 5);
        const std::string host = at == std::string::npos ? "127.0.0.1" : socket.substr(at + 1);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
        inet_pton(AF_INET, host.c_str(), &address.sin_addr);
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        result = connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address);
    } else {
        std::fprintf(stderr, "milter-load: unsupported socket %s\n", socket.c_str());
        std::exit(64);
    }
    if (result != 0 && errno != EINPROGRESS) {
        const std::string why = std::strerror(errno);
        ::close(fd);
        fail(session, "connect: " + why);
        return false;
    }
    session.fd = fd;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT;
    event.data.ptr = &session;
    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
    session.want_write = true;
    session.step = Step::optneg;
    std::string data(12, '\0');
    const std::uint32_t words[3] = {htonl(proto::version), htonl(proto::all_actions),
                                    htonl(proto::offered)};
    std::memcpy(data.data(), words, 12);
    send(session, 'O', data);
    session.command_sent = Clock::now();
    return true;
}

void Phase::start_session() {
    auto session = std::make_unique<Session>();
    session->number = started++;
    const unsigned index = session->number;
    session->client = client_offset + (options.fresh_clients ? index : index % options.clients);
    session->started = Clock::now();
    session->deadline = session->started + std::chrono::milliseconds(options.timeout_ms);
    ++in_flight;
    if (options.hold)
        ++opening;
    Session *raw = session.get();
    slots.push_back(std::move(session));
    open_socket(*raw);
}

void Phase::send(Session &session, char command, std::string_view data) {
    const std::uint32_t length = htonl(static_cast<std::uint32_t>(data.size() + 1));
    session.out.append(reinterpret_cast<const char *>(&length), 4);
    session.out += command;
    session.out.append(data);
}

void Phase::send_macros(Session &session, char stage,
                        std::initializer_list<std::string_view> pairs) {
    std::string data(1, stage);
    for (auto item : pairs) {
        data.append(item);
        data += '\0';
    }
    send(session, 'D', data);
}

void Phase::flush(Session &session) {
    while (session.out_at < session.out.size()) {
        const ssize_t written = ::send(session.fd, session.out.data() + session.out_at,
                                       session.out.size() - session.out_at, MSG_NOSIGNAL);
        if (written < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ENOTCONN)
                break;
            fail(session, std::string("write: ") + std::strerror(errno));
            return;
        }
        session.out_at += static_cast<std::size_t>(written);
    }
    if (session.out_at == session.out.size()) {
        session.out.clear();
        session.out_at = 0;
    }
    const bool want = !session.out.empty();
    if (want != session.want_write && session.fd >= 0) {
        epoll_event event{};
        event.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
        event.data.ptr = &session;
        epoll_ctl(epoll, EPOLL_CTL_MOD, session.fd, &event);
        session.want_write = want;
    }
}

void Phase::fail(Session &session, const std::string &kind) {
    ++counts.errors;
    ++counts.error_kinds[kind];
    end_session(session);
}

void Phase::end_session(Session &session) {
    if (session.fd >= 0) {
        epoll_ctl(epoll, EPOLL_CTL_DEL, session.fd, nullptr);
        ::close(session.fd);
        session.fd = -1;
    }
    if (session.step == Step::done)
        return;
    if (session.step == Step::held)
        --parked;
    else if (options.hold && !released)
        --opening;
    session.step = Step::done;
    ++counts.sessions;
    --in_flight;
    session.out.clear();
    session.out.shrink_to_fit();
    session.in.clear();
    session.in.shrink_to_fit();
}

void Phase::finish(Session &session) {
    samples.add(session_stage, Clock::now() - session.started);
    if (session.rcpt_accepted > 0 && !session.refused_5xx && !session.refused_4xx)
        ++counts.accepted;
    else if (session.refused_5xx)
        ++counts.rejected;
    else if (session.refused_4xx)
        ++counts.tempfailed;
    else
        ++counts.accepted; // accepted at connect (SMFIR_ACCEPT): nothing more to ask
    send(session, 'Q', {});
    flush(session);
    end_session(session);
}

void Phase::on_writable(Session &session) {
    if (session.step == Step::optneg) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(session.fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
            fail(session, std::string("connect: ") + std::strerror(error));
            return;
        }
    }
    flush(session);
}

void Phase::on_readable(Session &session) {
    char buffer[8192];
    for (;;) {
        const ssize_t got = ::recv(session.fd, buffer, sizeof buffer, 0);
        if (got > 0) {
            session.in.append(buffer, static_cast<std::size_t>(got));
            if (static_cast<std::size_t>(got) < sizeof buffer)
                break;
            continue;
        }
        if (got == 0) {
            fail(session, "filter closed the connection");
            return;
        }
        if (errno == EAGAIN || errno == EINTR)
            break;
        fail(session, std::string("read: ") + std::strerror(errno));
        return;
    }
    std::size_t at = 0;
    while (session.step != Step::done && session.in.size() - at >= 5) {
        std::uint32_t length = 0;
        std::memcpy(&length, session.in.data() + at, 4);
        length = ntohl(length);
        if (length == 0 || length > (1u << 20)) {
            fail(session, "bad reply length");
            return;
        }
        if (session.in.size() - at < 4 + length)
            break;
        const char reply = session.in[at + 4];
        const std::string_view data(session.in.data() + at + 5, length - 1);
        at += 4 + length;
        handle(session, reply, data);
    }
    if (session.step != Step::done)
        session.in.erase(0, at);
}

// A reply that ends the current stage: continue, accept, reject, ...
bool final_reply(char reply) {
    return std::strchr("cartdy4fs", reply) != nullptr;
}

void Phase::handle(Session &session, char reply, std::string_view data) {
    const auto now = Clock::now();
    if (session.step == Step::optneg) {
        if (reply != 'O' || data.size() < 12) {
            fail(session, "bad option negotiation reply");
            return;
        }
        std::uint32_t words[3];
        std::memcpy(words, data.data(), 12);
        session.protocol = ntohl(words[2]);
        samples.add(open_stage, now - session.started);
        advance(session);
        return;
    }
    if (reply == 'p')
        return; // progress: keep waiting
    if (!final_reply(reply)) {
        if (session.step == Step::eom)
            return; // a modification before the final reply
        fail(session, std::string("unexpected reply '") + reply + "'");
        return;
    }
    char kind = reply; // 'c' continue/accept, 'r' reject, 't' tempfail
    if (reply == 'a' || reply == 'd' || reply == 's')
        kind = 'c';
    else if (reply == 'y')
        kind = (!data.empty() && data[0] == '5')   ? 'r'
               : (!data.empty() && data[0] == '4') ? 't'
                                                   : 'c';
    else if (reply == '4' || reply == 'f')
        kind = 't';
    const bool accept_all = reply == 'a';
    const auto elapsed = now - session.command_sent;
    switch (session.step) {
    case Step::connect:
    case Step::helo:
    case Step::mail:
        samples.add(session.step == Step::connect ? connect_stage
                    : session.step == Step::helo  ? helo_stage
                                                  : mail_stage,
                    elapsed);
        if (kind != 'c') {
            (kind == 'r' ? session.refused_5xx : session.refused_4xx) = true;
            finish(session);
            return;
        }
        if (accept_all) {
            finish(session);
            return;
        }
        advance(session);
        return;
    case Step::rcpt:
        samples.add(rcpt_stage, elapsed);
        if (session.rcpt_sent == 1)
            samples.add(decision_stage, now - session.connect_sent);
        if (kind == 'c') {
            ++counts.rcpt_continue;
            ++session.rcpt_accepted;
        } else if (kind == 'r') {
            ++counts.rcpt_reject;
            ++session.rcpt_rejected;
        } else {
            ++counts.rcpt_tempfail;
        }
        advance(session);
        return;
    case Step::data:
    case Step::header:
    case Step::eoh:
    case Step::body:
        if (kind != 'c') {
            (kind == 'r' ? session.refused_5xx : session.refused_4xx) = true;
            session.rcpt_accepted = 0;
            finish(session);
            return;
        }
        next_message_step(session);
        return;
    case Step::eom:
        samples.add(message_stage, now - session.command_sent);
        if (kind != 'c') {
            (kind == 'r' ? session.refused_5xx : session.refused_4xx) = true;
            session.rcpt_accepted = 0;
        }
        finish(session);
        return;
    default:
        fail(session, std::string("reply '") + reply + "' out of turn");
    }
}

// Sends the next SMTP stage the filter wants; stages it negotiated away
// are skipped, stages it asked not to answer are sent without waiting.
void Phase::advance(Session &session) {
    const unsigned client = session.client;
    for (;;) {
        switch (session.step) {
        case Step::optneg: {
            session.step = Step::connect;
            const std::uint32_t address = options.client_base + client;
            in_addr in{htonl(address)};
            char text[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &in, text, sizeof text);
            send_macros(session, 'C',
                        {"j", "mx.bench.example", "{daemon_name}", "mx.bench.example",
                         "{daemon_addr}", "127.0.0.1", "v", "Postfix 3.7", "_",
                         "unknown [" + std::string(text) + "]"});
            session.connect_sent = Clock::now();
            if (session.protocol & proto::no_connect)
                continue;
            std::string data = expand(options.helo, client);
            data += '\0';
            data += '4';
            const std::uint16_t port = htons(static_cast<std::uint16_t>(40000 + client % 20000));
            data.append(reinterpret_cast<const char *>(&port), 2);
            data += text;
            data += '\0';
            send(session, 'C', data);
            if (session.protocol & proto::nr_connect)
                continue;
            break;
        }
        case Step::connect: {
            session.step = Step::helo;
            send_macros(session, 'H', {});
            if (session.protocol & proto::no_helo)
                continue;
            std::string data = expand(options.helo, client);
            data += '\0';
            send(session, 'H', data);
            if (session.protocol & proto::nr_helo)
                continue;
            break;
        }
        case Step::helo: {
            session.step = Step::mail;
            const std::string sender = "<" + expand(options.sender, client) + ">";
            send_macros(session, 'M',
                        {"{mail_addr}", std::string_view(sender).substr(1, sender.size() - 2)});
            if (session.protocol & proto::no_mail)
                continue;
            std::string data = sender;
            data += '\0';
            data += "SIZE=" + std::to_string(options.body + 400);
            data += '\0';
            send(session, 'M', data);
            if (session.protocol & proto::nr_mail)
                continue;
            break;
        }
        case Step::mail:
        case Step::rcpt:
            if (session.rcpt_sent < options.recipients) {
                session.step = Step::rcpt;
                send_next_recipient(session);
                if (session.protocol & (proto::no_rcpt | proto::nr_rcpt)) {
                    ++counts.rcpt_continue;
                    ++session.rcpt_accepted;
                    continue;
                }
                break;
            }
            if (options.hold && !released) {
                session.step = Step::held;
                flush(session);
                --opening;
                ++parked;
                return;
            }
            after_recipients(session);
            return;
        default:
            return;
        }
        session.command_sent = Clock::now();
        flush(session);
        return;
    }
}

void Phase::send_next_recipient(Session &session) {
    const unsigned n = session.rcpt_sent++;
    const std::string recipient = "<user" + std::to_string(n) + "@dest.bench.example>";
    send_macros(session, 'R',
                {"{rcpt_addr}", std::string_view(recipient).substr(1, recipient.size() - 2),
                 "{rcpt_mailer}", "local"});
    if (session.protocol & proto::no_rcpt)
        return;
    std::string data = recipient;
    data += '\0';
    send(session, 'R', data);
}

void Phase::start_message(Session &session) {
    session.step = Step::data;
    session.headers_sent = 0;
    session.command_sent = Clock::now();
    send_macros(session, 'T', {"i", "4ABCDEF"});
    if (!(session.protocol & proto::no_data)) {
        send(session, 'T', {});
        if (!(session.protocol & proto::nr_data)) {
            flush(session);
            return;
        }
    }
    next_message_step(session);
}

// The message after DATA: headers, end of headers, body, end of message.
void Phase::next_message_step(Session &session) {
    const bool headers = !(session.protocol & proto::no_headers);
    const char *space = (session.protocol & proto::header_leading_space) ? " " : "";
    for (;;) {
        if (session.step == Step::data || session.step == Step::header) {
            if (headers && session.headers_sent < options.headers) {
                session.step = Step::header;
                const unsigned n = session.headers_sent++;
                std::string data;
                switch (n) {
                case 0:
                    data = std::string("From") + '\0' + space + "<" +
                           expand(options.sender, session.client) + ">";
                    break;
                case 1:
                    data = std::string("To") + '\0' + space + "<user0@dest.bench.example>";
                    break;
                case 2:
                    data = std::string("Subject") + '\0' + space + "benchmark message " +
                           std::to_string(session.number);
                    break;
                case 3:
                    data = std::string("Message-ID") + '\0' + space + "<" +
                           std::to_string(session.number) + "@bench.example>";
                    break;
                default:
                    data = "X-Bench-" + std::to_string(n) + '\0' + space + "filler header value";
                    break;
                }
                data += '\0';
                send(session, 'L', data);
                if (session.protocol & proto::nr_header)
                    continue;
                flush(session);
                return;
            }
            session.step = Step::eoh;
            send_macros(session, 'N', {"i", "4ABCDEF"});
            if (!(session.protocol & proto::no_eoh)) {
                send(session, 'N', {});
                if (!(session.protocol & proto::nr_eoh)) {
                    flush(session);
                    return;
                }
            }
            continue;
        }
        if (session.step == Step::eoh) {
            session.step = Step::body;
            if (!(session.protocol & proto::no_body) && !body.empty()) {
                send(session, 'B', body);
                if (!(session.protocol & proto::nr_body)) {
                    flush(session);
                    return;
                }
            }
            continue;
        }
        if (session.step == Step::body) {
            session.step = Step::eom;
            send_macros(session, 'E', {"i", "4ABCDEF"});
            send(session, 'E', {});
            flush(session);
            return;
        }
        return;
    }
}

// Every recipient sent: the message if one was accepted, else the MTA
// aborts the transaction.
void Phase::after_recipients(Session &session) {
    if (session.rcpt_accepted > 0 && options.message) {
        start_message(session);
        return;
    }
    send(session, 'A', {});
    if (session.rcpt_accepted == 0) {
        if (session.rcpt_rejected > 0)
            session.refused_5xx = true;
        else
            session.refused_4xx = true;
    }
    finish(session);
}

void Phase::release_held() {
    released = true;
    for (auto &slot : slots) {
        Session &session = *slot;
        if (session.step != Step::held)
            continue;
        --parked;
        session.step = Step::rcpt;
        session.deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
        after_recipients(session);
    }
}

void Phase::run() {
    epoll = epoll_create1(EPOLL_CLOEXEC);
    slots.reserve(total);
    std::vector<epoll_event> events(1024);
    const auto begin = Clock::now();
    auto last_sweep = begin;
    while (counts.sessions < static_cast<long>(total)) {
        unsigned allowed = total;
        if (options.rate > 0 && measured) {
            const double elapsed = std::chrono::duration<double>(Clock::now() - begin).count();
            allowed = std::min<unsigned>(total, 1 + static_cast<unsigned>(elapsed * options.rate));
        }
        while (started < allowed && in_flight < options.concurrency &&
               (!options.hold || opening < options.opening))
            start_session();
        // Unix sockets whose listen queue was full: try again.
        for (std::size_t n = retry.size(); n > 0 && !retry.empty(); --n) {
            Session *session = retry.front();
            retry.pop_front();
            open_socket(*session);
        }
        if (options.hold && !released && parked > 0 && opening == 0 && started == total) {
            at_hold = sample_process(target.pid);
            release_held();
            continue;
        }
        const int timeout = (retry.empty() && (options.rate <= 0 || started == total)) ? 100 : 1;
        const int ready =
            epoll_wait(epoll, events.data(), static_cast<int>(events.size()), timeout);
        for (int i = 0; i < ready; ++i) {
            auto *session = static_cast<Session *>(events[i].data.ptr);
            if (session->step == Step::done)
                continue;
            if (events[i].events & EPOLLOUT)
                on_writable(*session);
            if (session->step != Step::done && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_readable(*session);
        }
        const auto now = Clock::now();
        if (now - last_sweep > std::chrono::milliseconds(200)) {
            last_sweep = now;
            for (auto &slot : slots)
                if (slot->step != Step::done && slot->step != Step::held && slot->fd >= 0 &&
                    slot->deadline < now)
                    fail(*slot, "timeout");
        }
    }
    ::close(epoll);
}

// ------------------------------------------------------------- report

struct Result {
    std::string target;
    double seconds = 0;
    double sessions_per_second = 0;
    double cpu_per_session_us = 0;
    long peak_kib = 0;
    long rss_before_kib = 0;
    long hold_rss_kib = 0;
    long hold_threads = 0;
    Counts counts;
    Samples samples;
    bool log_checked = false;
    LogCounts logged;
};

std::string json_escape(const std::string &text) {
    std::string out;
    for (char c : text) {
        if (c == '"' || c == '\\')
            out += '\\';
        if (static_cast<unsigned char>(c) < 0x20)
            continue;
        out += c;
    }
    return out;
}

Result measure(const Options &options, const Target &target, unsigned round, unsigned targets_count,
               unsigned target_index) {
    // Cold runs: every (round, target) its own never-seen clients.
    unsigned offset = options.client_offset;
    if (options.fresh_clients)
        offset += (round * targets_count + target_index) * options.sessions;
    Phase phase(options, target, options.sessions, offset, true);
    const auto before = sample_process(target.pid);
    reset_peak(target.pid);
    const long log_from = target.log.empty() ? 0 : file_size(target.log);
    const auto start = Clock::now();
    phase.run();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const auto after = sample_process(target.pid);

    Result result;
    result.target = target.name;
    result.seconds = seconds;
    result.counts = phase.counts;
    result.samples = std::move(phase.samples);
    result.sessions_per_second = static_cast<double>(phase.counts.sessions) / seconds;
    if (before.valid && after.valid) {
        result.cpu_per_session_us =
            (after.cpu_seconds - before.cpu_seconds) * 1e6 / static_cast<double>(options.sessions);
        result.peak_kib = after.peak_kib;
        result.rss_before_kib = before.rss_kib;
    }
    if (options.hold && phase.at_hold.valid) {
        result.hold_rss_kib = phase.at_hold.rss_kib;
        result.hold_threads = phase.at_hold.threads;
    }
    if (!target.log.empty()) {
        result.log_checked = true;
        result.logged = count_log(target.log, log_from);
    }
    return result;
}

void print(const Result &result, const Options &options) {
    const auto &c = result.counts;
    std::printf("%s: %ld sessions in %.2f s = %.0f sessions/s; filter CPU %.0f us/session; "
                "peak RSS %ld KiB\n",
                result.target.c_str(), c.sessions, result.seconds, result.sessions_per_second,
                result.cpu_per_session_us, result.peak_kib);
    std::printf("  outcome: accepted %ld, rejected %ld, tempfailed %ld, errors %ld; "
                "rcpt replies: continue %ld, reject %ld, tempfail %ld\n",
                c.accepted, c.rejected, c.tempfailed, c.errors, c.rcpt_continue, c.rcpt_reject,
                c.rcpt_tempfail);
    for (const auto &[kind, count] : c.error_kinds)
        std::printf("  error: %s x%ld\n", kind.c_str(), count);
    if (options.hold)
        std::printf("  held %u sessions at once: filter RSS %ld KiB (before %ld KiB, +%.1f KiB "
                    "per session), %ld threads\n",
                    options.sessions, result.hold_rss_kib, result.rss_before_kib,
                    static_cast<double>(result.hold_rss_kib - result.rss_before_kib) /
                        options.sessions,
                    result.hold_threads);
    for (int stage = 0; stage < stage_count; ++stage) {
        const auto p = percentiles(result.samples.micros[stage]);
        if (p.count)
            std::printf("  %-9s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  (n=%zu)\n",
                        stage_names[stage], p.p50, p.p99, p.max, p.count);
    }
    if (result.log_checked) {
        const auto &l = result.logged;
        const bool agree = l.continue_ == c.rcpt_continue && l.reject == c.rcpt_reject &&
                           l.tempfail == c.rcpt_tempfail;
        std::printf("  filter log: continue %ld, reject %ld, tempfail %ld: %s\n", l.continue_,
                    l.reject, l.tempfail, agree ? "agrees" : "DISAGREES");
    }
}

bool log_agrees(const Result &result) {
    if (!result.log_checked)
        return true;
    const auto &c = result.counts;
    const auto &l = result.logged;
    return l.continue_ == c.rcpt_continue && l.reject == c.rcpt_reject &&
           l.tempfail == c.rcpt_tempfail;
}

void write_json(const Options &options, const std::vector<std::vector<Result>> &rounds) {
    std::ofstream out(options.json);
    out << "{\"sessions\":" << options.sessions << ",\"rate\":" << options.rate
        << ",\"concurrency\":" << options.concurrency
        << ",\"rcpts\":" << options.recipients << ",\"hold\":" << (options.hold ? "true" : "false")
        << ",\"rounds\":[";
    for (std::size_t r = 0; r < rounds.size(); ++r) {
        out << (r ? "," : "") << "[";
        for (std::size_t t = 0; t < rounds[r].size(); ++t) {
            const auto &result = rounds[r][t];
            const auto &c = result.counts;
            out << (t ? "," : "") << "{\"target\":\"" << json_escape(result.target) << "\""
                << ",\"seconds\":" << result.seconds
                << ",\"sessions_per_second\":" << result.sessions_per_second
                << ",\"cpu_per_session_us\":" << result.cpu_per_session_us
                << ",\"peak_kib\":" << result.peak_kib
                << ",\"rss_before_kib\":" << result.rss_before_kib
                << ",\"hold_rss_kib\":" << result.hold_rss_kib
                << ",\"hold_threads\":" << result.hold_threads
                << ",\"sessions_done\":" << c.sessions << ",\"accepted\":" << c.accepted
                << ",\"rejected\":" << c.rejected << ",\"tempfailed\":" << c.tempfailed
                << ",\"errors\":" << c.errors << ",\"rcpt_continue\":" << c.rcpt_continue
                << ",\"rcpt_reject\":" << c.rcpt_reject << ",\"rcpt_tempfail\":" << c.rcpt_tempfail
                << ",\"connect_retries\":" << c.connect_retries;
            if (result.log_checked)
                out << ",\"log\":{\"continue\":" << result.logged.continue_
                    << ",\"reject\":" << result.logged.reject
                    << ",\"tempfail\":" << result.logged.tempfail
                    << ",\"agrees\":" << (log_agrees(result) ? "true" : "false") << "}";
            out << ",\"stages\":{";
            bool first = true;
            for (int stage = 0; stage < stage_count; ++stage) {
                const auto p = percentiles(result.samples.micros[stage]);
                if (!p.count)
                    continue;
                out << (first ? "" : ",") << "\"" << stage_names[stage] << "\":{\"p50\":" << p.p50
                    << ",\"p99\":" << p.p99 << ",\"max\":" << p.max << ",\"n\":" << p.count << "}";
                first = false;
            }
            out << "}}";
        }
        out << "]";
    }
    out << "]}\n";
}

void raise_file_limit() {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    rlim_t want = 1 << 20;
    if (setrlimit(RLIMIT_NOFILE, &(limit = {want, want})) != 0) {
        getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

} // namespace

int main(int argc, char **argv) {
    const Options options = parse_options(argc, argv);
    raise_file_limit();
    bool ok = true;
    if (options.warmup > 0) {
        for (const auto &target : options.targets) {
            Phase warm(options, target, options.warmup, options.client_offset, false);
            warm.run();
            if (warm.counts.errors > 0) {
                std::printf("%s: warm-up had %ld errors\n", target.name.c_str(),
                            warm.counts.errors);
                for (const auto &[kind, count] : warm.counts.error_kinds)
                    std::printf("  error: %s x%ld\n", kind.c_str(), count);
                ok = false;
            }
        }
    }
    std::vector<std::vector<Result>> rounds;
    for (unsigned round = 0; round < options.rounds; ++round) {
        std::vector<Result> results;
        for (std::size_t t = 0; t < options.targets.size(); ++t) {
            // Alternate the order so neither target always runs first.
            const std::size_t index = (round % 2 == 0) ? t : options.targets.size() - 1 - t;
            results.push_back(measure(options, options.targets[index], round,
                                      static_cast<unsigned>(options.targets.size()),
                                      static_cast<unsigned>(index)));
        }
        std::sort(results.begin(), results.end(), [&](const Result &a, const Result &b) {
            auto rank = [&](const Result &r) {
                for (std::size_t i = 0; i < options.targets.size(); ++i)
                    if (options.targets[i].name == r.target)
                        return i;
                return options.targets.size();
            };
            return rank(a) < rank(b);
        });
        if (options.rounds > 1)
            std::printf("round %u\n", round + 1);
        for (const auto &result : results) {
            print(result, options);
            ok = ok && result.counts.errors == 0 && log_agrees(result);
        }
        rounds.push_back(std::move(results));
    }
    if (!options.json.empty())
        write_json(options, rounds);
    return ok ? 0 : 1;
}
