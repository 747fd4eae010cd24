// Lookups live in a map keyed by a sequence number, which is also the
// `mydata` libunbound hands back; a key no longer in the map (timed out,
// shut down) makes a late answer harmless. The map is ordered by key and
// every lookup gets the same timeout, so the first entry always holds the
// earliest deadline.
//
// libunbound does not follow a CNAME it finds in local data (it answers
// NOERROR, no data, canonname = the target), so such an answer is chased
// here, under the same key and deadline. From real recursion the chase
// only repeats a cached NODATA.
//
// The watchdog (resolver.renew-after): libunbound can go on failing
// every query after the servers are back (a forwarder it marked as down,
// a worker that died). When every lookup has failed for that long, the
// event thread builds a new context from the same settings, moves the
// lookups in flight to it under their keys and deadlines, and deletes
// the old one unread, so no answer of the old context can reach a key.
// Only the event thread replaces `ctx`, under the lock, so other threads
// use it under the lock and the event thread without it.
#include "unbound_resolver.hpp"

#include "unbound_context.hpp"

#include "core/address.hpp"
#include "core/log.hpp"
#include "dns_wire.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <sys/eventfd.h>
#include <unbound.h>
#include <unistd.h>

namespace portcullis {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int class_in = 1;
constexpr int max_cname_hops = 8;

// Answers delivered during one ub_process() call on the event thread.
struct Delivery {
    std::uintptr_t key;
    int err;
    ub_result *result;
};
thread_local std::vector<Delivery> *deliveries = nullptr;

void on_unbound_result(void *mydata, int err, ub_result *result) {
    if (deliveries == nullptr) {
        ub_resolve_free(result);
        return;
    }
    deliveries->push_back({reinterpret_cast<std::uintptr_t>(mydata), err, result});
}

DnsAnswer failure(DnsAnswer::Status status, std::string why) {
    DnsAnswer answer;
    answer.status = status;
    answer.why = std::move(why);
    return answer;
}

DnsAnswer malformed(DnsType type, int length) {
    return failure(DnsAnswer::Status::servfail, "malformed " + std::string(to_string(type)) +
                                                    " record (RDATA of " + std::to_string(length) +
                                                    " bytes)");
}

std::string rcode_name(int rcode) {
    switch (rcode) {
    case 1:
        return "FORMERR";
    case 2:
        return "SERVFAIL";
    case 4:
        return "NOTIMP";
    case 5:
        return "REFUSED";
    default:
        return "rcode " + std::to_string(rcode);
    }
}

// A name libunbound can parse, in the presentation form the SPF code and
// dns_wire produce: a byte that is not a plain label character is
// escaped as \DDD or \X. Lengths count the unescaped bytes.
bool valid_query_name(std::string_view name) {
    if (name.empty())
        return false;
    std::size_t label = 0;
    std::size_t total = 0;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (c == '\0')
            return false;
        if (c == '\\') {
            if (i + 1 >= name.size())
                return false;
            if (name[i + 1] >= '0' && name[i + 1] <= '9') {
                if (i + 3 >= name.size())
                    return false;
                int value = 0;
                for (std::size_t j = i + 1; j <= i + 3; ++j) {
                    if (name[j] < '0' || name[j] > '9')
                        return false;
                    value = value * 10 + (name[j] - '0');
                }
                if (value == 0 || value > 255)
                    return false;
                i += 3;
            } else {
                ++i;
            }
        }
        if (++label > 63 || ++total > 253)
            return false;
    }
    return true;
}

void run_callback(const Resolver::Callback &done, DnsAnswer answer) {
    try {
        done(std::move(answer));
    } catch (const std::exception &error) {
        log_error(std::string("DNS callback failed: ") + error.what());
    } catch (...) {
        log_error("DNS callback failed");
    }
}

// Whether libunbound got an answer from the DNS (an error rcode from the
// servers or the forwarder, or no result, is a failure of the resolver,
// not of the name asked). For the watchdog.
bool reached_the_dns(int err, const ub_result *result) {
    return err == 0 && result != nullptr &&
           (result->rcode == 0 || result->rcode == 3 || result->bogus);
}

// libunbound's ttl: the answer's, or for a negative answer the one of
// the SOA record that came with it (RFC 2308); never below 0.
std::uint32_t ttl_of(const ub_result *result) {
    return result->ttl > 0 ? static_cast<std::uint32_t>(result->ttl) : 0;
}

std::string seconds_text(Clock::duration length) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(length).count()) + "s";
}

} // namespace

DnsAnswer answer_from_unbound(int err, const ub_result *result, DnsType type,
                              std::string_view query_name) {
    if (err != 0 || result == nullptr)
        return failure(DnsAnswer::Status::servfail, std::string("libunbound: ") + ub_strerror(err));
    if (result->bogus) {
        return failure(DnsAnswer::Status::bogus,
                       result->why_bogus ? result->why_bogus : "DNSSEC validation failed");
    }
    DnsAnswer answer;
    if (result->rcode != 0 && result->rcode != 3 && !result->nxdomain) {
        answer.status = DnsAnswer::Status::servfail;
        answer.why = rcode_name(result->rcode);
        if (result->why_bogus)
            answer.why += std::string(": ") + result->why_bogus;
        return answer;
    }
    answer.secure = result->secure != 0;
    answer.ttl = ttl_of(result);
    if (result->canonname != nullptr) {
        auto canonical = normalize_host(result->canonname);
        if (canonical != normalize_host(query_name))
            answer.canonical_name = std::move(canonical);
    }
    if (result->nxdomain || result->rcode == 3) {
        answer.status = DnsAnswer::Status::nxdomain;
    } else if (!result->havedata || result->data == nullptr) {
        answer.status = DnsAnswer::Status::nodata;
    } else {
        answer.status = DnsAnswer::Status::ok;
        for (std::size_t i = 0; result->data[i] != nullptr; ++i) {
            const int length = result->len != nullptr ? result->len[i] : -1;
            const auto *bytes = reinterpret_cast<const std::uint8_t *>(result->data[i]);
            auto text =
                length < 0 ? std::nullopt
                           : dns_wire::parse_rdata(type, {bytes, static_cast<std::size_t>(length)});
            // Never skipped: that could leave an empty answer, which SPF
            // counts as a void lookup and a DNSBL as "not listed".
            if (!text)
                return malformed(type, length);
            answer.records.push_back(std::move(*text));
        }
    }
    return answer;
}

struct UnboundResolver::State {
    struct Lookup {
        std::string name;  // as asked by the caller
        std::string query; // differs from name while chasing a CNAME
        DnsType type{};
        Callback done;
        Clock::time_point deadline;
        int async_id = 0;
        int hops = 0;
        bool secure = true;             // every hop so far was secure
        std::uint32_t ttl = UINT32_MAX; // the smallest TTL of the hops so far
    };

    Config::Resolver settings;
    Context ctx; // replaced only by the event thread, under the lock
    int wake_fd = -1;
    std::chrono::milliseconds timeout{};

    // The watchdog's, on the event thread only: the current run of
    // lookups that all failed.
    struct Failing {
        Clock::time_point since;      // the first failure of the run
        Clock::time_point renewed_at; // `since`, or the last renewal
        unsigned long lookups = 0;
        unsigned renewals = 0;
        std::string last_why;
    };
    std::optional<Failing> failing;
    bool renewal_due = false;

    std::mutex mutex; // guards what follows
    std::map<std::uintptr_t, Lookup> lookups;
    std::uintptr_t next_key = 1;
    bool stopping = false;

    ~State() {
        ctx.reset(); // joins libunbound's worker thread first
        if (wake_fd >= 0)
            ::close(wake_fd);
    }

    void wake() const {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto written = ::write(wake_fd, &one, sizeof one);
    }

    void start(std::string name, DnsType type, Callback done);
    void stop();
    void run();
    int poll_timeout();
    void process_answers(std::vector<Delivery> &delivered);
    bool chase(std::uintptr_t key, Lookup &lookup, const Delivery &delivery);
    void expire();
    void shut_down();
    void note_outcome(bool reached, const std::string &why);
    bool renew();
};

void UnboundResolver::State::start(std::string name, DnsType type, Callback done) {
    name = normalize_host(name);
    if (!valid_query_name(name)) {
        done(failure(DnsAnswer::Status::nxdomain, "not a valid domain name"));
        return;
    }
    std::unique_lock lock(mutex);
    if (stopping) {
        lock.unlock();
        done(failure(DnsAnswer::Status::servfail, "resolver shut down"));
        return;
    }
    const auto key = next_key++;
    const bool was_idle = lookups.empty();
    auto &lookup = lookups[key];
    lookup.name = name;
    lookup.query = name;
    lookup.type = type;
    lookup.done = std::move(done);
    lookup.deadline = Clock::now() + timeout;
    // Under the lock, so the event thread cannot see the answer (or the
    // deadline) before async_id is stored.
    const int err =
        ub_resolve_async(ctx.get(), name.c_str(), static_cast<int>(type), class_in,
                         reinterpret_cast<void *>(key), on_unbound_result, &lookup.async_id);
    if (err != 0) {
        Callback failed = std::move(lookup.done);
        lookups.erase(key);
        lock.unlock();
        failed(
            failure(DnsAnswer::Status::servfail, std::string("libunbound: ") + ub_strerror(err)));
        return;
    }
    if (was_idle)
        wake(); // the event thread may be polling without a deadline
}

void UnboundResolver::State::stop() {
    std::lock_guard lock(mutex);
    stopping = true;
    wake();
}

int UnboundResolver::State::poll_timeout() {
    std::lock_guard lock(mutex);
    if (lookups.empty())
        return -1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        lookups.begin()->second.deadline - Clock::now());
    return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60'000));
}

void UnboundResolver::State::run() {
    bool unbound_alive = true;
    std::vector<Delivery> delivered;
    while (true) {
        {
            std::lock_guard lock(mutex);
            if (stopping)
                break;
        }
        pollfd fds[2] = {{unbound_alive ? ub_fd(ctx.get()) : -1, POLLIN, 0}, {wake_fd, POLLIN, 0}};
        if (::poll(fds, 2, poll_timeout()) < 0 && errno != EINTR)
            log_error(std::string("DNS event loop: poll: ") + std::strerror(errno));
        if (fds[1].revents & POLLIN) {
            std::uint64_t count = 0;
            [[maybe_unused]] auto got = ::read(wake_fd, &count, sizeof count);
        }
        if (fds[0].revents != 0) {
            deliveries = &delivered;
            const int err = ub_process(ctx.get());
            deliveries = nullptr;
            if (err != 0) {
                // The worker is gone; what is pending will time out.
                log_error(std::string("libunbound: ") + ub_strerror(err));
                unbound_alive = false;
            }
            process_answers(delivered);
        }
        expire();
        if (renewal_due && renew())
            unbound_alive = true;
    }
    shut_down();
}

void UnboundResolver::State::process_answers(std::vector<Delivery> &delivered) {
    std::vector<std::pair<Lookup, Delivery>> matched;
    {
        std::lock_guard lock(mutex);
        for (const auto &delivery : delivered) {
            auto found = lookups.find(delivery.key);
            if (found == lookups.end()) {
                ub_resolve_free(delivery.result); // answered after its timeout
                continue;
            }
            matched.emplace_back(std::move(found->second), delivery);
            lookups.erase(found);
        }
    }
    delivered.clear();
    for (auto &[lookup, delivery] : matched) {
        note_outcome(reached_the_dns(delivery.err, delivery.result),
                     delivery.result == nullptr ? ub_strerror(delivery.err)
                                                : rcode_name(delivery.result->rcode));
        if (chase(delivery.key, lookup, delivery)) {
            ub_resolve_free(delivery.result);
            continue;
        }
        auto answer = answer_from_unbound(delivery.err, delivery.result, lookup.type, lookup.name);
        ub_resolve_free(delivery.result);
        answer.secure = answer.secure && lookup.secure;
        answer.ttl = std::min(answer.ttl, lookup.ttl);
        if (answer.canonical_name.empty() && lookup.query != lookup.name && !answer.is_error())
            answer.canonical_name = lookup.query;
        run_callback(lookup.done, std::move(answer));
    }
}

bool UnboundResolver::State::chase(std::uintptr_t key, Lookup &lookup, const Delivery &delivery) {
    const ub_result *result = delivery.result;
    if (delivery.err != 0 || result == nullptr || result->rcode != 0 || result->nxdomain ||
        result->havedata || result->bogus || result->canonname == nullptr ||
        lookup.hops >= max_cname_hops)
        return false;
    auto target = normalize_host(result->canonname);
    if (target == lookup.query || !valid_query_name(target))
        return false;
    std::lock_guard lock(mutex);
    if (stopping)
        return false;
    // The same key keeps the map in deadline order.
    auto &entry = lookups[key];
    entry = std::move(lookup);
    entry.query = std::move(target);
    entry.secure = entry.secure && result->secure;
    entry.ttl = std::min(entry.ttl, ttl_of(result));
    ++entry.hops;
    const int err =
        ub_resolve_async(ctx.get(), entry.query.c_str(), static_cast<int>(entry.type), class_in,
                         reinterpret_cast<void *>(key), on_unbound_result, &entry.async_id);
    if (err == 0)
        return true;
    lookup = std::move(entry);
    lookups.erase(key);
    return false;
}

void UnboundResolver::State::expire() {
    std::vector<Lookup> expired;
    {
        std::lock_guard lock(mutex);
        const auto now = Clock::now();
        while (!lookups.empty() && lookups.begin()->second.deadline <= now) {
            expired.push_back(std::move(lookups.begin()->second));
            lookups.erase(lookups.begin());
        }
    }
    const auto why = "no answer within " + std::to_string(timeout.count()) + "ms";
    for (auto &lookup : expired) {
        ub_cancel(ctx.get(), lookup.async_id);
        note_outcome(false, why);
        run_callback(lookup.done, failure(DnsAnswer::Status::timeout, why));
    }
}

void UnboundResolver::State::note_outcome(bool reached, const std::string &why) {
    const auto now = Clock::now();
    if (reached) {
        if (failing && failing->renewals > 0)
            log_notice("DNS lookups are answered again, " + seconds_text(now - failing->since) +
                       " after they began to fail; the libunbound context was renewed " +
                       std::to_string(failing->renewals) + " time(s)");
        failing.reset();
        return;
    }
    if (!failing)
        failing = Failing{now, now, 0, 0, {}};
    ++failing->lookups;
    failing->last_why = why;
    if (settings.renew_after.count() > 0 && now - failing->renewed_at >= settings.renew_after)
        renewal_due = true;
}

// False when no new context could be built; the old one stays, and the
// next try comes after another renew_after of failures.
bool UnboundResolver::State::renew() {
    renewal_due = false;
    const auto now = Clock::now();
    if (failing->renewals == 0)
        log_warning("every DNS lookup failed for " + seconds_text(now - failing->since) + " (" +
                    std::to_string(failing->lookups) +
                    " lookups, the last: " + log_safe(failing->last_why) +
                    "); starting libunbound afresh, as a reload would");
    failing->renewed_at = now;
    Context fresh;
    try {
        fresh = make_context(settings);
    } catch (const std::exception &error) {
        log_error(std::string("cannot renew the libunbound context: ") + error.what());
        return false;
    }
    ++failing->renewals;
    Context old;
    std::vector<Lookup> failed;
    {
        std::lock_guard lock(mutex);
        for (auto entry = lookups.begin(); entry != lookups.end();) {
            auto &lookup = entry->second;
            const int err = ub_resolve_async(
                fresh.get(), lookup.query.c_str(), static_cast<int>(lookup.type), class_in,
                reinterpret_cast<void *>(entry->first), on_unbound_result, &lookup.async_id);
            if (err == 0) {
                ++entry;
                continue;
            }
            failed.push_back(std::move(lookup));
            entry = lookups.erase(entry);
        }
        old = std::move(ctx);
        ctx = std::move(fresh);
    }
    old.reset(); // joins its worker; what it still held is never read
    for (auto &lookup : failed)
        run_callback(lookup.done,
                     failure(DnsAnswer::Status::servfail, "libunbound: cannot restart the lookup"));
    return true;
}

void UnboundResolver::State::shut_down() {
    std::map<std::uintptr_t, Lookup> left;
    {
        std::lock_guard lock(mutex);
        left.swap(lookups);
    }
    for (auto &[key, lookup] : left)
        run_callback(lookup.done, failure(DnsAnswer::Status::servfail, "resolver shut down"));
}

UnboundResolver::UnboundResolver(const Config::Resolver &settings)
    : state_(std::make_shared<State>()) {
    if (settings.timeout <= std::chrono::milliseconds::zero())
        throw std::runtime_error("resolver timeout must be positive");
    state_->settings = settings;
    state_->timeout = settings.timeout;
    state_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (state_->wake_fd < 0)
        throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
    state_->ctx = make_context(settings);
    event_thread_ = std::thread([state = state_] { state->run(); });
}

UnboundResolver::~UnboundResolver() {
    state_->stop();
    // Destroyed from one of its own callbacks: the event thread finishes
    // the shutdown itself and holds the state until then.
    if (event_thread_.get_id() == std::this_thread::get_id())
        event_thread_.detach();
    else
        event_thread_.join();
}

void UnboundResolver::resolve(const std::string &name, DnsType type, Callback done) {
    state_->start(name, type, std::move(done));
}

} // namespace portcullis
