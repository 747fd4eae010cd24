// milter-load's sessions: one epoll loop playing the MTA side of the
// milter protocol for N concurrent sessions against one filter, stage by
// stage, collecting latency samples and outcome counts. Header-only;
// used by milter_load.cpp alone.
#pragma once

#include "load_measure.hpp"
#include "load_options.hpp"

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

inline bool Phase::open_socket(Session &session) {
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

inline void Phase::start_session() {
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

inline void Phase::send(Session &session, char command, std::string_view data) {
    const std::uint32_t length = htonl(static_cast<std::uint32_t>(data.size() + 1));
    session.out.append(reinterpret_cast<const char *>(&length), 4);
    session.out += command;
    session.out.append(data);
}

inline void Phase::send_macros(Session &session, char stage,
                               std::initializer_list<std::string_view> pairs) {
    std::string data(1, stage);
    for (auto item : pairs) {
        data.append(item);
        data += '\0';
    }
    send(session, 'D', data);
}

inline void Phase::flush(Session &session) {
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

inline void Phase::fail(Session &session, const std::string &kind) {
    ++counts.errors;
    ++counts.error_kinds[kind];
    end_session(session);
}

inline void Phase::end_session(Session &session) {
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

inline void Phase::finish(Session &session) {
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

inline void Phase::on_writable(Session &session) {
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

inline void Phase::on_readable(Session &session) {
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
inline bool final_reply(char reply) {
    return std::strchr("cartdy4fs", reply) != nullptr;
}

inline void Phase::handle(Session &session, char reply, std::string_view data) {
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
inline void Phase::advance(Session &session) {
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

inline void Phase::send_next_recipient(Session &session) {
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

inline void Phase::start_message(Session &session) {
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
inline void Phase::next_message_step(Session &session) {
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
inline void Phase::after_recipients(Session &session) {
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

inline void Phase::release_held() {
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

inline void Phase::run() {
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

} // namespace milter_load
