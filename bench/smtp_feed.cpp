// smtp-feed: sends given messages through an SMTP server as fast as it
// takes them, for the DKIM end-to-end benchmark (smtp-source can only
// send one made-up message, or the same file, again and again).
//
//   smtp-feed --port PORT --spool FILE [--messages M] [--first K]
//             [--sessions S] [--per-session P] [--rcpt ADDR] [--helo NAME]
//             [--watch NAME=PID ...] [--json FILE] [--timeout SECONDS]
//
// The spool is what bench/dkim_corpus.py writes: per message a line
// "MSG <mail-from> <length>", the message (CRLF lines), "\n". Messages
// are dot-stuffed once, at load. M transactions (default: one per spool
// message) take spool messages K, K+1, ... in turn, wrapping around.
// S sessions run at once in one epoll thread, each sending P messages
// (default 1, as most MX traffic) before QUIT, and the next session
// opens at once. The envelope (MAIL, RCPT, DATA) goes out pipelined,
// as Postfix announces PIPELINING; the message follows the 354.
//
// Prints "<seconds> <messages/s> <refused>" on stdout (refused: messages
// not answered 250 at the end of DATA); with --json FILE also the reply
// codes, the time per transaction (p50/p99/max), the client's own CPU
// per message (getrusage) and, for each --watch NAME=PID, that
// process's CPU per message from /proc/PID/stat (clock ticks). Exit
// status 1 when a connection failed or timed out, 64 on bad usage.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "load_measure.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using milter_load::Clock;

struct Message {
    std::string sender;
    std::string data; // dot-stuffed, ending in CRLF "." CRLF
};

struct Watch {
    std::string name;
    pid_t pid = 0;
    double cpu_before = 0, cpu_after = 0;
};

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string spool, rcpt = "user@dest.bench.example", helo = "source.bench.example", json;
    long messages = 0, first = 0, per_session = 1;
    int sessions = 20, timeout_seconds = 60;
    std::vector<Watch> watches;
};

std::string dot_stuffed(const std::string &message) {
    std::string out;
    out.reserve(message.size() + 64);
    bool line_start = true;
    for (char c : message) {
        if (line_start && c == '.')
            out += '.';
        out += c;
        line_start = c == '\n';
    }
    if (!out.empty() && out.back() != '\n')
        out += "\r\n";
    return out + ".\r\n";
}

std::vector<Message> load_spool(const std::string &path) {
    std::vector<Message> messages;
    std::ifstream in(path, std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
        char sender[1024];
        long length = 0;
        if (std::sscanf(line.c_str(), "MSG %1023s %ld", sender, &length) != 2 || length <= 0 ||
            length > (64L << 20))
            break;
        std::string body(static_cast<std::size_t>(length), '\0');
        if (!in.read(body.data(), length))
            break;
        in.get(); // the "\n" after the message
        messages.push_back({sender, dot_stuffed(body)});
    }
    return messages;
}

// One SMTP reply: complete once a line has a space (or nothing) after the code.
struct ReplyReader {
    std::string buffer;
    // The code of the next complete reply, consumed; 0 when none is complete yet.
    int next() {
        std::size_t start = 0;
        while (true) {
            const auto end = buffer.find("\r\n", start);
            if (end == std::string::npos)
                return 0;
            const bool last = end - start < 4 || buffer[start + 3] != '-';
            if (last) {
                const int code =
                    end - start >= 3 ? std::atoi(buffer.substr(start, 3).c_str()) : 999;
                buffer.erase(0, end + 2);
                return code ? code : 999;
            }
            start = end + 2;
        }
    }
};

enum class State { greeting, ehlo, envelope, data, quit };

struct Session {
    int fd = -1;
    State state = State::greeting;
    ReplyReader replies;
    std::string out;
    std::size_t sent = 0;
    long message = -1; // spool index of the transaction in flight
    long done_here = 0;
    bool claim = false; // holds one of Feed::claimed
    int envelope_replies = 0;
    bool envelope_ok = true;
    Clock::time_point began, last_activity;
};

struct Feed {
    Feed(const Options &options_, const std::vector<Message> &spool_)
        : options(options_), spool(spool_) {}
    const Options &options;
    const std::vector<Message> &spool;
    int epoll = -1;
    long started = 0, accepted = 0, refused = 0, errors = 0;
    long claimed = 0; // sessions open that have not begun their first transaction
    std::map<int, long> codes;
    std::vector<std::uint32_t> micros;
    std::vector<std::unique_ptr<Session>> sessions;

    bool open(Session &session) {
        session = Session{};
        session.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (session.fd < 0)
            return false;
        int one = 1;
        setsockopt(session.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<std::uint16_t>(options.port));
        inet_pton(AF_INET, options.host.c_str(), &address.sin_addr);
        if (connect(session.fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 &&
            errno != EINPROGRESS) {
            ::close(session.fd);
            session.fd = -1;
            return false;
        }
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.ptr = &session;
        epoll_ctl(epoll, EPOLL_CTL_ADD, session.fd, &event);
        session.last_activity = Clock::now();
        session.claim = true;
        ++claimed;
        return true;
    }

    void close(Session &session) {
        drop_claim(session);
        if (session.fd >= 0) {
            epoll_ctl(epoll, EPOLL_CTL_DEL, session.fd, nullptr);
            ::close(session.fd);
        }
        session.fd = -1;
    }

    void send(Session &session, std::string text) {
        session.out += text;
        flush(session);
    }

    void flush(Session &session) {
        while (session.sent < session.out.size()) {
            const auto n = ::send(session.fd, session.out.data() + session.sent,
                                  session.out.size() - session.sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EAGAIN)
                break;
            if (n <= 0)
                return fail(session);
            session.sent += static_cast<std::size_t>(n);
        }
        const bool pending = session.sent < session.out.size();
        if (!pending) {
            session.out.clear();
            session.sent = 0;
        }
        epoll_event event{};
        event.events = EPOLLIN | (pending ? EPOLLOUT : 0u);
        event.data.ptr = &session;
        epoll_ctl(epoll, EPOLL_CTL_MOD, session.fd, &event);
    }

    void fail(Session &session) {
        ++errors;
        close(session);
    }

    void drop_claim(Session &session) {
        if (session.claim)
            --claimed;
        session.claim = false;
    }

    // Next transaction on this session, or QUIT.
    void next_transaction(Session &session) {
        // A session's first transaction is its claim; later ones leave the
        // claimed ones to the sessions that hold them.
        const bool first = session.claim;
        drop_claim(session);
        const bool left = first ? started < options.messages : started + claimed < options.messages;
        if (!left || session.done_here >= options.per_session) {
            session.state = State::quit;
            return send(session, "QUIT\r\n");
        }
        session.message = (options.first + started++) % static_cast<long>(spool.size());
        session.state = State::envelope;
        session.envelope_replies = 0;
        session.envelope_ok = true;
        session.began = Clock::now();
        const auto &message = spool[static_cast<std::size_t>(session.message)];
        send(session,
             "MAIL FROM:<" + message.sender + ">\r\nRCPT TO:<" + options.rcpt + ">\r\nDATA\r\n");
    }

    // MAIL and RCPT want 2xx, DATA 354; the message goes after the third reply.
    void on_envelope_reply(Session &session, int code) {
        const int expected = ++session.envelope_replies < 3 ? 2 : 3;
        session.envelope_ok = session.envelope_ok && code / 100 == expected;
        if (session.envelope_replies < 3)
            return;
        if (!session.envelope_ok) {
            ++refused;
            ++session.done_here;
            if (code != 354)
                return next_transaction(session);
            session.state = State::data; // DATA taken all the same: end it empty
            return send(session, ".\r\n");
        }
        session.state = State::data;
        send(session, spool[static_cast<std::size_t>(session.message)].data);
    }

    void on_reply(Session &session, int code) {
        ++codes[code];
        switch (session.state) {
        case State::greeting:
            if (code != 220)
                return fail(session);
            session.state = State::ehlo;
            return send(session, "EHLO " + options.helo + "\r\n");
        case State::ehlo:
            if (code != 250)
                return fail(session);
            return next_transaction(session);
        case State::envelope:
            return on_envelope_reply(session, code);
        case State::data:
            if (!session.envelope_ok)
                return next_transaction(session);
            ++session.done_here;
            if (code == 250) {
                ++accepted;
                micros.push_back(static_cast<std::uint32_t>(
                    std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                                          session.began)
                        .count()));
            } else {
                ++refused;
            }
            return next_transaction(session);
        case State::quit:
            return close(session);
        }
    }

    void on_readable(Session &session) {
        char buffer[8192];
        while (session.fd >= 0) {
            const auto n = recv(session.fd, buffer, sizeof buffer, 0);
            if (n < 0 && errno == EAGAIN)
                break;
            if (n <= 0) {
                if (session.state == State::quit)
                    return close(session);
                return fail(session);
            }
            session.replies.buffer.append(buffer, static_cast<std::size_t>(n));
            if (session.replies.buffer.size() > 65536)
                return fail(session);
        }
        session.last_activity = Clock::now();
        for (int code; session.fd >= 0 && (code = session.replies.next()) != 0;)
            on_reply(session, code);
    }

    bool busy() const {
        for (const auto &session : sessions)
            if (session->fd >= 0)
                return true;
        return false;
    }

    void run() {
        epoll = epoll_create1(EPOLL_CLOEXEC);
        for (int i = 0; i < options.sessions; ++i)
            sessions.push_back(std::make_unique<Session>());
        epoll_event events[64];
        while (true) {
            // Keep S sessions open while transactions remain.
            // A server that refuses every connection must not keep us here.
            const bool give_up = errors > std::max(100L, options.messages / 10);
            for (auto &session : sessions)
                if (session->fd < 0 && started + claimed < options.messages && !give_up &&
                    !open(*session))
                    ++errors;
            if (!busy())
                break;
            const int n = epoll_wait(epoll, events, 64, 200);
            for (int i = 0; i < n; ++i) {
                auto &session = *static_cast<Session *>(events[i].data.ptr);
                if (session.fd < 0)
                    continue;
                if (events[i].events & EPOLLOUT)
                    flush(session);
                if (session.fd >= 0 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                    on_readable(session);
            }
            const auto now = Clock::now();
            for (auto &session : sessions)
                if (session->fd >= 0 &&
                    now - session->last_activity > std::chrono::seconds(options.timeout_seconds))
                    fail(*session);
        }
        ::close(epoll);
    }
};

double own_cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int usage() {
    std::fprintf(stderr, "usage: smtp-feed --port PORT --spool FILE [--messages M] [--first K] "
                         "[--sessions S] [--per-session P] [--rcpt ADDR] [--helo NAME] "
                         "[--watch NAME=PID ...] [--json FILE] [--timeout SECONDS]\n");
    return 64;
}

bool parse(int argc, char **argv, Options &options) {
    for (int i = 1; i < argc; ++i) {
        const std::string name = argv[i];
        if (i + 1 >= argc)
            return false;
        const std::string value = argv[++i];
        if (name == "--host")
            options.host = value;
        else if (name == "--port")
            options.port = std::atoi(value.c_str());
        else if (name == "--spool")
            options.spool = value;
        else if (name == "--messages")
            options.messages = std::atol(value.c_str());
        else if (name == "--first")
            options.first = std::atol(value.c_str());
        else if (name == "--sessions")
            options.sessions = std::atoi(value.c_str());
        else if (name == "--per-session")
            options.per_session = std::atol(value.c_str());
        else if (name == "--rcpt")
            options.rcpt = value;
        else if (name == "--helo")
            options.helo = value;
        else if (name == "--json")
            options.json = value;
        else if (name == "--timeout")
            options.timeout_seconds = std::atoi(value.c_str());
        else if (name == "--watch") {
            const auto equals = value.find('=');
            if (equals == std::string::npos)
                return false;
            options.watches.push_back({value.substr(0, equals),
                                       static_cast<pid_t>(std::atol(value.c_str() + equals + 1))});
        } else
            return false;
    }
    return options.port > 0 && !options.spool.empty() && options.sessions > 0 &&
           options.per_session > 0 && options.first >= 0 && options.messages >= 0 &&
           options.timeout_seconds > 0;
}

void write_json(const Options &options, const Feed &feed, double seconds, double client_cpu) {
    std::ofstream out(options.json);
    const double messages = static_cast<double>(std::max(feed.started, 1L));
    const auto p = milter_load::percentiles(feed.micros);
    out << "{\"messages\":" << feed.started << ",\"accepted\":" << feed.accepted
        << ",\"refused\":" << feed.refused << ",\"errors\":" << feed.errors
        << ",\"sessions\":" << options.sessions << ",\"per_session\":" << options.per_session
        << ",\"seconds\":" << seconds << ",\"per_second\":" << feed.accepted / seconds
        << ",\"client_cpu_us\":" << client_cpu * 1e6 / messages
        << ",\"transaction_ms\":{\"p50\":" << p.p50 << ",\"p99\":" << p.p99 << ",\"max\":" << p.max
        << "},\"codes\":{";
    bool first = true;
    for (const auto &[code, count] : feed.codes) {
        out << (first ? "" : ",") << "\"" << code << "\":" << count;
        first = false;
    }
    out << "},\"watched\":{";
    first = true;
    for (const auto &watch : options.watches) {
        out << (first ? "" : ",") << "\"" << watch.name
            << "\":" << (watch.cpu_after - watch.cpu_before) * 1e6 / messages;
        first = false;
    }
    out << "}}\n";
}

} // namespace

int main(int argc, char **argv) {
    Options options;
    if (!parse(argc, argv, options))
        return usage();
    const auto spool = load_spool(options.spool);
    if (spool.empty()) {
        std::fprintf(stderr, "smtp-feed: no messages in %s\n", options.spool.c_str());
        return 64;
    }
    if (options.messages == 0)
        options.messages = static_cast<long>(spool.size());

    for (auto &watch : options.watches)
        watch.cpu_before = milter_load::sample_process(watch.pid).cpu_seconds;
    const double cpu_before = own_cpu_seconds();
    const auto start = Clock::now();
    Feed feed(options, spool);
    feed.run();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const double client_cpu = own_cpu_seconds() - cpu_before;
    for (auto &watch : options.watches)
        watch.cpu_after = milter_load::sample_process(watch.pid).cpu_seconds;

    std::printf("%.3f %.1f %ld\n", seconds, static_cast<double>(feed.accepted) / seconds,
                feed.refused + feed.errors);
    if (!options.json.empty())
        write_json(options, feed, seconds, client_cpu);
    if (feed.errors)
        std::fprintf(stderr, "smtp-feed: %ld connections failed or timed out\n", feed.errors);
    return feed.errors ? 1 : 0;
}
