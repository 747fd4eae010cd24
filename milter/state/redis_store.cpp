// The Redis store's calls; layout and failure handling in redis_store.hpp.
#include "state/redis_store.hpp"

#include "state/redis_scripts.hpp"

#include <algorithm>
#include <charconv>

namespace portcullis::state {

namespace {

using redis::Command;
using redis::Connection;
using redis::Deadline;
using redis::Reply;
using std::chrono::milliseconds;

constexpr std::string_view key_space = "portcullis:";
// Redis sweeps an entry this long after it expired on the caller's clock.
constexpr std::int64_t sweep_slack_ms = 60 * 1000;
// Durations beyond a century are taken as a century.
constexpr std::int64_t longest_ms = 100LL * 366 * 24 * 3600 * 1000;
constexpr std::size_t list_batch = 128;

const std::int64_t latest_ms =
    std::chrono::floor<milliseconds>(Time::max().time_since_epoch()).count();
const std::int64_t earliest_ms =
    std::chrono::ceil<milliseconds>(Time::min().time_since_epoch()).count();

std::int64_t to_ms(Time time) {
    return std::chrono::floor<milliseconds>(time.time_since_epoch()).count();
}
std::int64_t clamp_duration(milliseconds duration) {
    return std::clamp<std::int64_t>(duration.count(), 0, longest_ms);
}
std::int64_t clamp_time(std::int64_t ms) {
    return std::clamp(ms, earliest_ms, latest_ms);
}
// The Redis TTL of an entry that expires at `expires_ms` by the caller's clock.
std::string ttl_text(std::int64_t expires_ms, std::int64_t now_ms) {
    return std::to_string(std::clamp<std::int64_t>(expires_ms - now_ms, 0, longest_ms) +
                          sweep_slack_ms);
}

std::string redis_key(std::string_view key) {
    std::string out(key_space);
    out += key;
    return out;
}

// A Redis glob that matches `text` literally.
std::string glob_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
            out += '\\';
        out += c;
    }
    return out;
}

std::string_view text_of(const redisReply &reply) {
    return reply.str ? std::string_view(reply.str, reply.len) : std::string_view();
}

bool is_string(const redisReply *reply) {
    return reply && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS);
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
    std::int64_t value = 0;
    if (text.empty() || text.size() > 20 || text.front() == '+')
        return std::nullopt;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return value;
}

Outcome corrupt(std::string_view key, std::string_view what) {
    return Outcome::failed(Outcome::Status::error,
                           "redis: " + redis_key(key) + " " + std::string(what));
}

// An expiry as stored: an integer within what a Time can hold.
std::optional<Time> parse_expiry(std::string_view text) {
    auto ms = parse_integer(text);
    if (!ms || *ms < earliest_ms || *ms > latest_ms)
        return std::nullopt;
    return Time(std::chrono::duration_cast<Clock::duration>(milliseconds(*ms)));
}

// The answer to HGETALL portcullis:KEY; `entry` is set when it is live at `now`.
Outcome read_entry(const redisReply &reply, std::string_view key, Time now,
                   std::optional<Entry> &entry) {
    entry.reset();
    if (reply.type == REDIS_REPLY_ERROR) {
        if (text_of(reply).starts_with("WRONGTYPE"))
            return corrupt(key, "holds another type of value than an entry");
        return redis::error_reply_outcome(reply);
    }
    if (reply.type != REDIS_REPLY_ARRAY)
        return corrupt(key, "answered HGETALL with something other than an array");
    if (reply.elements == 0)
        return {};
    std::optional<std::string_view> value, expires;
    if (reply.elements == 4)
        for (std::size_t i = 0; i < 4; i += 2) {
            if (!is_string(reply.element[i]) || !is_string(reply.element[i + 1]))
                break;
            auto name = text_of(*reply.element[i]);
            auto field = text_of(*reply.element[i + 1]);
            if (name == "v")
                value = field;
            else if (name == "e")
                expires = field;
        }
    if (!value || !expires)
        return corrupt(key, "does not hold the fields v and e of an entry");
    auto expiry = parse_expiry(*expires);
    if (!expiry)
        return corrupt(key, "holds an expiry that is not a time");
    if (value->size() > max_value_bytes)
        return corrupt(key, "holds a value longer than the store allows");
    if (to_ms(*expiry) > to_ms(now))
        entry = Entry{std::string(key), std::string(*value), *expiry};
    return {};
}

// A line "name:number" of INFO's answer.
std::uint64_t info_field(std::string_view info, std::string_view name) {
    std::size_t at = 0;
    while (at < info.size()) {
        auto end = info.find('\n', at);
        auto line = info.substr(at, end == std::string_view::npos ? end : end - at);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.size() > name.size() && line.substr(0, name.size()) == name &&
            line[name.size()] == ':') {
            auto value = parse_integer(line.substr(name.size() + 1));
            return value && *value > 0 ? std::uint64_t(*value) : 0;
        }
        if (end == std::string_view::npos)
            break;
        at = end + 1;
    }
    return 0;
}

// One SCAN step: the next cursor and the keys it returned.
Outcome scan_step(Connection &connection, Deadline deadline, std::string &cursor,
                  const std::string &pattern, std::vector<std::string> &keys) {
    std::vector<Reply> replies;
    auto outcome = connection.exchange({{"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"}},
                                       deadline, replies);
    if (!outcome.ok())
        return outcome;
    const redisReply &reply = *replies[0];
    if (reply.type == REDIS_REPLY_ERROR)
        return redis::error_reply_outcome(reply);
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 2 || !is_string(reply.element[0]) ||
        reply.element[1]->type != REDIS_REPLY_ARRAY)
        return Outcome::failed(Outcome::Status::error, "redis: a malformed answer to SCAN");
    cursor = std::string(text_of(*reply.element[0]));
    if (!parse_integer(cursor))
        return Outcome::failed(Outcome::Status::error, "redis: SCAN answered a bad cursor");
    const redisReply &found = *reply.element[1];
    for (std::size_t i = 0; i < found.elements; ++i)
        if (is_string(found.element[i]))
            keys.emplace_back(text_of(*found.element[i]));
    return {};
}

Outcome refuse_key(std::string_view key) {
    if (auto problem = key_problem(key); !problem.empty())
        return Outcome::failed(Outcome::Status::error, problem);
    return {};
}

} // namespace

std::unique_ptr<RedisStore> RedisStore::create(const RedisSettings &settings, std::string &error) {
    auto url = parse_redis_url(settings.url, error);
    if (!url)
        return nullptr;
    if (settings.timeout <= milliseconds(0))
        error = "the Redis timeout must be above zero";
    else if (settings.pool_size == 0)
        error = "the Redis pool needs at least one connection";
    else if (settings.breaker_failures == 0)
        error = "the circuit breaker needs at least one failure to open";
    else if (settings.breaker_interval <= milliseconds(0))
        error = "the circuit breaker interval must be above zero";
    if (!error.empty())
        return nullptr;
    return std::unique_ptr<RedisStore>(new RedisStore(settings, std::move(*url)));
}

RedisStore::RedisStore(const RedisSettings &settings, RedisUrl url)
    : url_(url), timeout_(settings.timeout),
      breaker_(settings.breaker_failures, settings.breaker_interval),
      pool_(std::move(url), redis::scripts(), settings.pool_size) {}

std::string RedisStore::describe() const {
    return "redis " + url_.display();
}

Outcome RedisStore::run(const Body &body) {
    const auto start = redis::SteadyClock::now();
    const auto admission = breaker_.admit(start);
    if (admission == CircuitBreaker::Admission::refused)
        return Outcome::failed(Outcome::Status::unavailable,
                               "redis: circuit breaker open after repeated failures");
    auto result = CircuitBreaker::Result::failure;
    Outcome outcome;
    redis::Pool::Lease lease;
    try {
        bool waited_out = false;
        outcome = pool_.acquire(start + timeout_, lease, waited_out);
        if (outcome.ok()) {
            outcome = body(*lease, start + timeout_);
            if (!lease->broken())
                result = CircuitBreaker::Result::success;
        } else if (waited_out) {
            result = CircuitBreaker::Result::neutral;
        }
    } catch (const std::exception &exception) {
        outcome = Outcome::failed(Outcome::Status::error,
                                  std::string("redis: internal error: ") + exception.what());
        result = CircuitBreaker::Result::neutral;
        // Replies may be left unread: the connection is out of step.
        if (lease.held())
            lease->mark_broken();
    }
    breaker_.report(admission, result, redis::SteadyClock::now());
    return outcome;
}

Outcome RedisStore::eval(Connection &connection, Deadline deadline, std::size_t script,
                         Command arguments, Reply &reply) {
    Command command{"EVALSHA", connection.script_sha(script), "1"};
    command.insert(command.end(), std::make_move_iterator(arguments.begin()),
                   std::make_move_iterator(arguments.end()));
    std::vector<Reply> replies;
    auto outcome = connection.exchange({command}, deadline, replies);
    if (outcome.ok() && replies[0]->type == REDIS_REPLY_ERROR &&
        text_of(*replies[0]).substr(0, 8) == "NOSCRIPT") {
        command[0] = "EVAL";
        command[1] = redis::scripts()[script];
        outcome = connection.exchange({command}, deadline, replies);
    }
    if (!outcome.ok())
        return outcome;
    reply = std::move(replies[0]);
    if (reply->type == REDIS_REPLY_ERROR)
        return redis::error_reply_outcome(*reply);
    return {};
}

Outcome RedisStore::get(std::string_view key, Time now, std::optional<Entry> &value) {
    value.reset();
    if (auto refused = refuse_key(key); !refused.ok())
        return refused;
    return run([&](Connection &connection, Deadline deadline) {
        std::vector<Reply> replies;
        auto outcome = connection.exchange({{"HGETALL", redis_key(key)}}, deadline, replies);
        return outcome.ok() ? read_entry(*replies[0], key, now, value) : outcome;
    });
}

Outcome RedisStore::put(std::string_view key, std::string_view value, Time expires, Time now) {
    if (auto refused = refuse_key(key); !refused.ok())
        return refused;
    if (value.size() > max_value_bytes)
        return Outcome::failed(Outcome::Status::error, "value longer than 64 KiB");
    const auto expires_ms = to_ms(expires), now_ms = to_ms(now);
    return run([&](Connection &connection, Deadline deadline) {
        if (expires_ms <= now_ms) {
            // Dead on arrival: what the key held is replaced by nothing.
            std::vector<Reply> replies;
            auto outcome = connection.exchange({{"DEL", redis_key(key)}}, deadline, replies);
            if (outcome.ok() && replies[0]->type == REDIS_REPLY_ERROR)
                return redis::error_reply_outcome(*replies[0]);
            return outcome;
        }
        Reply reply;
        return eval(connection, deadline, redis::put_index,
                    {redis_key(key), std::string(value), std::to_string(expires_ms),
                     ttl_text(expires_ms, now_ms)},
                    reply);
    });
}

Outcome RedisStore::put_if_absent(std::string_view key, std::string_view value, Time expires,
                                  Time now, std::optional<Entry> &existing) {
    existing.reset();
    if (auto refused = refuse_key(key); !refused.ok())
        return refused;
    if (value.size() > max_value_bytes)
        return Outcome::failed(Outcome::Status::error, "value longer than 64 KiB");
    const auto expires_ms = to_ms(expires), now_ms = to_ms(now);
    return run([&](Connection &connection, Deadline deadline) {
        Reply reply;
        auto outcome = eval(connection, deadline, redis::put_if_absent_index,
                            {redis_key(key), std::string(value), std::to_string(expires_ms),
                             std::to_string(now_ms), ttl_text(expires_ms, now_ms)},
                            reply);
        if (!outcome.ok())
            return outcome;
        if (reply->type != REDIS_REPLY_ARRAY || (reply->elements != 0 && reply->elements != 2))
            return corrupt(key, "got a malformed answer from the put_if_absent script");
        if (reply->elements == 0)
            return Outcome{};
        if (!is_string(reply->element[0]) || !is_string(reply->element[1]))
            return corrupt(key, "got a malformed answer from the put_if_absent script");
        auto expiry = parse_expiry(text_of(*reply->element[1]));
        if (!expiry)
            return corrupt(key, "holds an expiry that is not a time");
        existing = Entry{std::string(key), std::string(text_of(*reply->element[0])), *expiry};
        return Outcome{};
    });
}

Outcome RedisStore::erase(std::string_view key) {
    if (auto refused = refuse_key(key); !refused.ok())
        return refused;
    return run([&](Connection &connection, Deadline deadline) {
        std::vector<Reply> replies;
        auto outcome = connection.exchange({{"DEL", redis_key(key)}}, deadline, replies);
        if (outcome.ok() && replies[0]->type == REDIS_REPLY_ERROR)
            return redis::error_reply_outcome(*replies[0]);
        return outcome;
    });
}

Outcome RedisStore::count_event(std::string_view key, Time now, milliseconds window,
                                milliseconds keep, bool count, std::uint64_t &events) {
    events = 0;
    if (auto refused = refuse_key(key); !refused.ok())
        return refused;
    const auto now_ms = to_ms(now);
    const auto expires_ms = clamp_time(now_ms + clamp_duration(keep));
    return run([&](Connection &connection, Deadline deadline) {
        Reply reply;
        auto outcome =
            eval(connection, deadline, redis::count_event_index,
                 {redis_key(key), std::to_string(now_ms), std::to_string(clamp_duration(window)),
                  std::to_string(expires_ms), ttl_text(expires_ms, now_ms), count ? "1" : "0",
                  std::to_string(max_counted_events)},
                 reply);
        if (!outcome.ok())
            return outcome;
        if (reply->type != REDIS_REPLY_INTEGER || reply->integer < 0)
            return corrupt(key, "got a malformed answer from the count_event script");
        events = std::uint64_t(reply->integer);
        return Outcome{};
    });
}

Outcome RedisStore::list(std::string_view prefix, Time now, std::size_t limit,
                         std::vector<Entry> &entries) {
    entries.clear();
    if (!prefix.empty())
        if (auto problem = key_problem(prefix); !problem.empty())
            return Outcome::failed(Outcome::Status::error, "prefix: " + problem);
    if (limit == 0)
        return {};
    const std::string full_prefix = redis_key(prefix);
    return run([&](Connection &connection, Deadline deadline) {
        std::vector<std::string> found;
        std::string cursor = "0";
        const std::string pattern = glob_escape(full_prefix) + "*";
        do {
            if (auto outcome = scan_step(connection, deadline, cursor, pattern, found);
                !outcome.ok())
                return outcome;
        } while (cursor != "0");
        std::vector<std::string> keys;
        for (const auto &name : found)
            if (name.starts_with(full_prefix) && key_problem(name.substr(key_space.size())).empty())
                keys.push_back(name.substr(key_space.size()));
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());

        for (std::size_t at = 0; at < keys.size() && entries.size() < limit; at += list_batch) {
            const auto batch = std::min(list_batch, keys.size() - at);
            std::vector<Command> commands;
            for (std::size_t i = at; i < at + batch; ++i)
                commands.push_back({"HGETALL", redis_key(keys[i])});
            std::vector<Reply> replies;
            if (auto outcome = connection.exchange(commands, deadline, replies); !outcome.ok())
                return outcome;
            for (std::size_t i = 0; i < batch && entries.size() < limit; ++i) {
                std::optional<Entry> entry;
                if (auto outcome = read_entry(*replies[i], keys[at + i], now, entry); !outcome.ok())
                    return outcome;
                if (entry)
                    entries.push_back(std::move(*entry));
            }
        }
        return Outcome{};
    });
}

Outcome RedisStore::stats(Time, Stats &stats) {
    stats = {};
    return run([&](Connection &connection, Deadline deadline) {
        std::vector<Reply> replies;
        auto outcome = connection.exchange({{"INFO", "memory"}}, deadline, replies);
        if (!outcome.ok())
            return outcome;
        if (replies[0]->type == REDIS_REPLY_ERROR)
            return redis::error_reply_outcome(*replies[0]);
        if (!is_string(replies[0].get()))
            return Outcome::failed(Outcome::Status::error, "redis: a malformed answer to INFO");
        stats.bytes = info_field(text_of(*replies[0]), "used_memory");
        stats.capacity = info_field(text_of(*replies[0]), "maxmemory");
        std::vector<std::string> keys;
        std::string cursor = "0";
        const std::string pattern = glob_escape(key_space) + "*";
        do {
            keys.clear();
            if (auto outcome = scan_step(connection, deadline, cursor, pattern, keys);
                !outcome.ok())
                return outcome;
            stats.entries += keys.size();
        } while (cursor != "0");
        return Outcome{};
    });
}

} // namespace portcullis::state
