// The Redis store's connections: one hiredis context driven against a
// deadline, and a small pool of them, for RedisStore alone.
//
// Contract:
// - Nothing here waits past the deadline it is given: connecting (the
//   system resolver excepted, for a host given by name), writing, reading
//   and waiting for a free connection all stop there.
// - A connection that failed (I/O, a protocol error, the deadline) is
//   broken and never reused; an error reply from Redis is an answer and
//   leaves it usable. An idle connection the server has closed is noticed
//   before reuse, without a round trip.
// - On connect: AUTH (when the URL has a password), SELECT, and SCRIPT
//   LOAD of the store's scripts, in one round trip.
#pragma once

#include "state/redis_url.hpp"
#include "state/store.hpp"

#include <hiredis/hiredis.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace portcullis::state::redis {

using SteadyClock = std::chrono::steady_clock;
using Deadline = SteadyClock::time_point;

struct FreeReply {
    void operator()(redisReply *reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, FreeReply>;
using Command = std::vector<std::string>;

// The outcome of an error reply: OOM is `full`; a server that cannot serve
// now (loading, busy, read-only, misconfigured, refusing our password) is
// `unavailable`; anything else is `error`.
Outcome error_reply_outcome(const redisReply &reply);

class Connection {
  public:
    // nullptr, with the reason in `outcome`, when any step fails.
    static std::unique_ptr<Connection> open(const RedisUrl &url,
                                            const std::vector<std::string> &scripts,
                                            Deadline deadline, Outcome &outcome);
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    // Sends `commands` in one write and reads one reply to each.
    Outcome exchange(const std::vector<Command> &commands, Deadline deadline,
                     std::vector<Reply> &replies);
    bool broken() const { return broken_; }
    void mark_broken() { broken_ = true; }
    // False when the server has closed the connection or sent what it was not asked for.
    bool idle_and_sound() const;
    // SCRIPT LOAD's answer for the store's script `index`.
    const std::string &script_sha(std::size_t index) const { return shas_[index]; }

  private:
    explicit Connection(redisContext *context) : context_(context) {}
    Outcome fail(Outcome::Status status, std::string why);
    Outcome io_failure(Deadline deadline);
    bool wait(short events, Deadline deadline);

    redisContext *context_;
    bool broken_ = false;
    std::vector<std::string> shas_;
};

class Pool {
  public:
    Pool(RedisUrl url, std::vector<std::string> scripts, unsigned size);
    Pool(const Pool &) = delete;
    Pool &operator=(const Pool &) = delete;

    // A connection for one call; given back when the lease ends.
    class Lease {
      public:
        Lease() = default;
        Lease(Lease &&) = delete;
        ~Lease();
        Connection *operator->() const { return connection_.get(); }
        Connection &operator*() const { return *connection_; }
        bool held() const { return connection_ != nullptr; }

      private:
        friend class Pool;
        Pool *pool_ = nullptr;
        std::unique_ptr<Connection> connection_;
    };

    // An idle connection, else a new one while fewer than `size` exist,
    // else one another thread gives back before the deadline. `waited_out`
    // is set when the deadline passed with every connection in use, a
    // failure that says nothing about the server.
    Outcome acquire(Deadline deadline, Lease &lease, bool &waited_out);

  private:
    void give_back(std::unique_ptr<Connection> connection);

    const RedisUrl url_;
    const std::vector<std::string> scripts_;
    const unsigned size_;
    std::mutex mutex_;
    std::condition_variable given_back_;
    std::vector<std::unique_ptr<Connection>> idle_;
    unsigned open_ = 0; // idle, leased and being opened
};

} // namespace portcullis::state::redis
