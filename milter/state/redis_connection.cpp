// hiredis contexts driven with poll() against a deadline; see redis_connection.hpp.
#include "state/redis_connection.hpp"

#include <hiredis/read.h>

#include <poll.h>
#include <signal.h>
#include <time.h>

#include <cerrno>
#include <climits>

namespace portcullis::state::redis {

namespace {

// Replies are read one at a time; a server that sends more than this in
// one reply is not the Redis we asked.
constexpr std::size_t max_reply_bytes = 16 * 1024 * 1024;

timeval timeval_until(Deadline deadline) {
    auto left = std::chrono::ceil<std::chrono::microseconds>(deadline - SteadyClock::now());
    // A zero timeval would mean "no timeout" to setsockopt and hiredis.
    if (left < std::chrono::milliseconds(1))
        left = std::chrono::milliseconds(1);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(left.count() / 1000000);
    tv.tv_usec = static_cast<suseconds_t>(left.count() % 1000000);
    return tv;
}

// What a server said, made fit for a log line.
std::string printable(std::string_view text) {
    std::string out;
    for (unsigned char c : text.substr(0, 200))
        out += (c < 0x20 || c >= 0x7f) ? '?' : static_cast<char>(c);
    return out;
}

// hiredis writes with write(2); a server gone away must not kill a
// process that did not ignore SIGPIPE. Blocks it in this thread and
// swallows one raised meanwhile.
class SigpipeGuard {
  public:
    SigpipeGuard() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        sigset_t pending;
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    ~SigpipeGuard() {
        sigset_t pending;
        if (!was_pending_ && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
            const timespec zero{};
            while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    SigpipeGuard(const SigpipeGuard &) = delete;
    SigpipeGuard &operator=(const SigpipeGuard &) = delete;

  private:
    sigset_t pipe_{}, old_{};
    bool was_pending_ = false;
};

} // namespace

Outcome error_reply_outcome(const redisReply &reply) {
    std::string_view text(reply.str ? reply.str : "", reply.str ? reply.len : 0);
    auto code = text.substr(0, text.find(' '));
    auto why = "redis: " + printable(text);
    if (code == "OOM")
        return Outcome::failed(Outcome::Status::full, std::move(why));
    for (std::string_view busy : {"LOADING", "BUSY", "READONLY", "MISCONF", "NOAUTH", "WRONGPASS",
                                  "NOPERM", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"})
        if (code == busy)
            return Outcome::failed(Outcome::Status::unavailable, std::move(why));
    return Outcome::failed(Outcome::Status::error, std::move(why));
}

std::unique_ptr<Connection> Connection::open(const RedisUrl &url,
                                             const std::vector<std::string> &scripts,
                                             Deadline deadline, Outcome &outcome) {
    if (SteadyClock::now() >= deadline) {
        outcome = Outcome::failed(Outcome::Status::timeout, "redis: no time left to connect");
        return nullptr;
    }
    const timeval tv = timeval_until(deadline);
    errno = 0;
    redisContext *context = url.kind == RedisUrl::Kind::tcp
                                ? redisConnectWithTimeout(url.host.c_str(), int(url.port), tv)
                                : redisConnectUnixWithTimeout(url.path.c_str(), tv);
    const int connect_errno = errno;
    if (!context) {
        outcome = Outcome::failed(Outcome::Status::unavailable, "redis: out of memory");
        return nullptr;
    }
    if (context->err) {
        const bool late = connect_errno == ETIMEDOUT || SteadyClock::now() >= deadline;
        outcome = Outcome::failed(late ? Outcome::Status::timeout : Outcome::Status::unavailable,
                                  "redis: cannot connect: " + printable(context->errstr));
        redisFree(context);
        return nullptr;
    }
    std::unique_ptr<Connection> connection(new Connection(context));

    std::vector<Command> commands;
    if (!url.password.empty()) {
        if (url.user.empty())
            commands.push_back({"AUTH", url.password});
        else
            commands.push_back({"AUTH", url.user, url.password});
    }
    commands.push_back({"SELECT", std::to_string(url.db)});
    for (const auto &script : scripts)
        commands.push_back({"SCRIPT", "LOAD", script});
    std::vector<Reply> replies;
    outcome = connection->exchange(commands, deadline, replies);
    if (!outcome.ok())
        return nullptr;
    for (std::size_t i = 0; i < replies.size(); ++i) {
        const redisReply &reply = *replies[i];
        if (reply.type == REDIS_REPLY_ERROR) {
            // Whatever the code, the server cannot serve us as configured.
            outcome = Outcome::failed(Outcome::Status::unavailable,
                                      "redis: " + commands[i][0] + " refused: " +
                                          printable(std::string_view(reply.str, reply.len)));
            return nullptr;
        }
    }
    for (std::size_t i = replies.size() - scripts.size(); i < replies.size(); ++i) {
        const redisReply &reply = *replies[i];
        if (reply.type != REDIS_REPLY_STRING || reply.len != 40) {
            outcome = Outcome::failed(Outcome::Status::unavailable,
                                      "redis: SCRIPT LOAD answered without a SHA1 digest");
            return nullptr;
        }
        connection->shas_.emplace_back(reply.str, reply.len);
    }
    outcome = {};
    return connection;
}

Connection::~Connection() {
    redisFree(context_);
}

Outcome Connection::fail(Outcome::Status status, std::string why) {
    broken_ = true;
    return Outcome::failed(status, std::move(why));
}

Outcome Connection::io_failure(Deadline deadline) {
    const int error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK || SteadyClock::now() >= deadline)
        return fail(Outcome::Status::timeout, "redis: no answer within the timeout");
    if (context_->err == REDIS_ERR_EOF)
        return fail(Outcome::Status::unavailable, "redis: the server closed the connection");
    if (context_->err == REDIS_ERR_PROTOCOL)
        return fail(Outcome::Status::error,
                    "redis: protocol error: " + printable(context_->errstr));
    return fail(Outcome::Status::unavailable, "redis: " + printable(context_->errstr));
}

bool Connection::wait(short events, Deadline deadline) {
    while (true) {
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
        if (left.count() <= 0)
            return false;
        pollfd descriptor{context_->fd, events, 0};
        const int ready = ::poll(&descriptor, 1, int(std::min<long long>(left.count(), INT_MAX)));
        // Ready, or an error of poll itself: the read or write that follows reports it.
        if (ready > 0 || (ready < 0 && errno != EINTR))
            return true;
    }
}

bool Connection::idle_and_sound() const {
    if (broken_ || context_->err)
        return false;
    pollfd descriptor{context_->fd, POLLIN, 0};
    return ::poll(&descriptor, 1, 0) == 0;
}

Outcome Connection::exchange(const std::vector<Command> &commands, Deadline deadline,
                             std::vector<Reply> &replies) {
    replies.clear();
    if (broken_)
        return Outcome::failed(Outcome::Status::unavailable, "redis: the connection is broken");
    std::vector<const char *> argv;
    std::vector<std::size_t> lengths;
    for (const auto &command : commands) {
        argv.clear();
        lengths.clear();
        for (const auto &argument : command) {
            argv.push_back(argument.data());
            lengths.push_back(argument.size());
        }
        if (redisAppendCommandArgv(context_, int(argv.size()), argv.data(), lengths.data()) !=
            REDIS_OK)
            return fail(Outcome::Status::error, "redis: cannot format a command");
    }
    if (SteadyClock::now() >= deadline)
        return fail(Outcome::Status::timeout, "redis: no time left for the command");
    // Bounds a blocking write(2); reads wait in poll() first and never block.
    redisSetTimeout(context_, timeval_until(deadline));
    {
        SigpipeGuard guard;
        int done = 0;
        while (!done) {
            if (!wait(POLLOUT, deadline))
                return fail(Outcome::Status::timeout, "redis: could not send within the timeout");
            if (redisBufferWrite(context_, &done) != REDIS_OK)
                return io_failure(deadline);
        }
    }
    for (std::size_t i = 0; i < commands.size(); ++i) {
        void *raw = nullptr;
        while (true) {
            if (redisGetReplyFromReader(context_, &raw) != REDIS_OK)
                return fail(Outcome::Status::error,
                            "redis: protocol error: " + printable(context_->errstr));
            if (raw)
                break;
            if (!wait(POLLIN, deadline))
                return fail(Outcome::Status::timeout, "redis: no answer within the timeout");
            if (redisBufferRead(context_) != REDIS_OK)
                return io_failure(deadline);
            if (context_->reader->len - context_->reader->pos > max_reply_bytes)
                return fail(Outcome::Status::error, "redis: a reply larger than 16 MiB");
        }
        replies.emplace_back(static_cast<redisReply *>(raw));
    }
    return {};
}

Pool::Pool(RedisUrl url, std::vector<std::string> scripts, unsigned size)
    : url_(std::move(url)), scripts_(std::move(scripts)), size_(size) {}

Pool::Lease::~Lease() {
    if (pool_ && connection_)
        pool_->give_back(std::move(connection_));
}

Outcome Pool::acquire(Deadline deadline, Lease &lease, bool &waited_out) {
    waited_out = false;
    std::unique_lock lock(mutex_);
    while (true) {
        while (!idle_.empty()) {
            auto connection = std::move(idle_.back());
            idle_.pop_back();
            if (connection->idle_and_sound()) {
                lease.pool_ = this;
                lease.connection_ = std::move(connection);
                return {};
            }
            --open_;
        }
        if (open_ < size_) {
            ++open_;
            lock.unlock();
            Outcome outcome;
            auto connection = Connection::open(url_, scripts_, deadline, outcome);
            if (!connection) {
                lock.lock();
                --open_;
                given_back_.notify_one();
                return outcome;
            }
            lease.pool_ = this;
            lease.connection_ = std::move(connection);
            return {};
        }
        if (given_back_.wait_until(lock, deadline) == std::cv_status::timeout) {
            waited_out = true;
            return Outcome::failed(Outcome::Status::timeout,
                                   "redis: every connection of the pool stayed in use");
        }
    }
}

void Pool::give_back(std::unique_ptr<Connection> connection) {
    std::lock_guard lock(mutex_);
    if (connection->broken())
        --open_;
    else
        idle_.push_back(std::move(connection));
    given_back_.notify_one();
}

} // namespace portcullis::state::redis
