// The DNS lookups of one SMTP session. Checks start what they need as
// soon as the facts are known (PTR and DNSBLs at connect, A/AAAA of the
// PTR names when the PTR answers, the HELO name at HELO); nothing waits
// until the recipient stage, which calls wait_until() once. Each (name,
// type) is asked once while its entry is held. Thread-safe: completions
// arrive from the resolver's thread while the session's callbacks run on
// libmilter's.
//
// Every lookup belongs to the session or to one transaction. One started
// by the session's thread belongs to what that thread asks for
// (ask_for_transaction()); one started by a continuation belongs to
// whoever asked for the answer the continuation continues, so an SPF
// evaluation of the sender or a TXT of a listing found for it stays with
// its transaction. A session lookup asked again by a transaction stays
// the session's, and the other way round. end_transaction() drops the
// continuations of the transaction that ended (they would only serve
// it), and release_ended() erases the lookups that no later transaction
// asked for again, so a session holds its own lookups plus those of one
// transaction, however many transactions it runs.
//
// A Budget caps what a session may cost: the lookups it starts in all
// and the answer data it holds at once. Once one is spent, exhausted()
// says which, and no further lookup starts (a refused start reads as
// never started; its continuation never runs).
#pragma once

#include "dns.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace portcullis {

// What one session's lookups may spend; 0 is no limit.
struct LookupBudget {
    std::uint64_t max_lookups = 0;      // lookups started, in all
    std::uint64_t max_answer_bytes = 0; // answer data held at once
};

// The first budget spent: "lookups" or "answer-bytes", its limit and the
// figure that went past it.
struct LookupExcess {
    std::string budget;
    std::uint64_t limit = 0;
    std::uint64_t reached = 0;
};

class Lookups : public std::enable_shared_from_this<Lookups> {
  public:
    using Clock = std::chrono::steady_clock;
    using Continuation = std::function<void(const DnsAnswer &)>;
    // Called once per failed lookup (to log DNS and list errors once).
    using ErrorSink = std::function<void(const std::string &name, DnsType, const DnsAnswer &)>;

    using Budget = LookupBudget;
    using Excess = LookupExcess;

    static std::shared_ptr<Lookups> create(std::shared_ptr<Resolver> resolver,
                                           ErrorSink on_error = {}, Budget budget = {});

    // Starts the lookup unless its entry is held already. `then` runs
    // once when the answer is in (immediately if it already is), on
    // whichever thread completes it; it may start further lookups. A
    // continuation of a transaction that ended never runs.
    void start(const std::string &name, DnsType type, Continuation then = {});

    // The answer if complete. A lookup never started (or refused, or
    // released), or still pending after wait_until() gave up, reads as a
    // timeout. The reference stays valid until release_ended() erases the
    // entry, which only the session's thread calls: a completed answer is
    // never changed, and a continuation's argument stays valid while it
    // runs.
    const DnsAnswer &get(const std::string &name, DnsType type) const;
    bool complete(const std::string &name, DnsType type) const;

    // Waits until every held lookup (including those started by
    // continuations) is complete, or the deadline passes. Returns true if
    // all completed.
    bool wait_until(Clock::time_point deadline);
    // Waits until the lookup of (name, type) is complete, or the deadline
    // passes; false at once for one never started (or released). For a
    // caller that needs one answer, not all (a DKIM key at end of
    // message). Its continuations may still be running when it returns.
    bool wait_for(const std::string &name, DnsType type, Clock::time_point deadline);

    // For the session's thread: whether the lookups it starts from now on
    // (outside continuations) belong to the current transaction, or to
    // the session (the default).
    void ask_for_transaction(bool transaction);
    // The current transaction is over: its waiting continuations are
    // dropped, its lookups kept until release_ended().
    void end_transaction();
    // Erases the lookups of ended transactions that the current one has
    // not asked for again; a late answer for one is dropped.
    void release_ended();

    std::optional<Excess> exhausted() const;
    std::uint64_t started() const; // lookups started, in all
    std::size_t held() const;      // entries held now
    std::uint64_t held_bytes() const;

  private:
    // Who asked: the session, or the transaction of that number.
    using Owner = std::uint64_t;
    static constexpr Owner session_owner = 0;

    struct Waiter {
        Continuation then;
        Owner owner = session_owner;
    };
    struct Entry {
        std::optional<DnsAnswer> answer;
        std::vector<Waiter> waiting;
        std::string name;
        DnsType type{};
        Owner owner = session_owner;
        bool pending = true; // counted in pending_
        bool erased = false;
        std::uint64_t bytes = 0; // counted in held_bytes_
    };

    Lookups(std::shared_ptr<Resolver> resolver, ErrorSink on_error, Budget budget);
    void finish(const std::shared_ptr<Entry> &entry, DnsAnswer answer);
    Owner asking() const;
    bool ended(Owner owner) const { return owner != session_owner && owner < transaction_; }
    static std::string key_of(const std::string &name, DnsType type);
    // key_of() into `buffer` when it fits, without allocating.
    static std::string_view key_view(const std::string &name, DnsType type, char *buffer,
                                     std::size_t size, std::string &fallback);

    std::shared_ptr<Resolver> resolver_;
    ErrorSink on_error_;
    const Budget budget_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, std::shared_ptr<Entry>, std::less<>> entries_;
    std::size_t pending_ = 0;
    Owner transaction_ = 1; // the current transaction
    bool asking_for_transaction_ = false;
    std::uint64_t started_ = 0;
    std::uint64_t held_bytes_ = 0;
    std::optional<Excess> excess_;
};

} // namespace portcullis
