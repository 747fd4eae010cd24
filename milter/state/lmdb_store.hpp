// The LMDB backend of the state store: embedded, the default. One
// environment in one file, PATH/portcullis.mdb (MDB_NOSUBDIR; its lock
// table is PATH/portcullis.mdb-lock); PATH is a directory that must exist
// and be writable. The daemon and `portcullis db` may have it open at once
// (LMDB serves several processes); one process opens it once at a time,
// a second open() of the same directory is refused.
//
// A value on disk is an 8-byte big-endian expiry (milliseconds since the
// epoch) followed by the value's bytes; times have millisecond resolution.
// A value shorter than 8 bytes is corrupt: it reads as absent and the
// sweeper erases it and reports it. An entry is dead from its expiry on
// (expires <= now); a put whose expiry is not after `now` erases the key.
// A counter's value is its event times in milliseconds, oldest first,
// separated by spaces; its window is (now - window, now].
//
// Durability: once put, put_if_absent, count_event or erase returns, the
// change survives kill -9 of the process. mdb_txn_commit writes the data
// pages and then the meta page with pwrite() before it returns, so they are
// in the kernel's page cache, which outlives the process; the meta page of
// the previous transaction stays intact (transaction N writes meta page
// N % 2), so a process killed inside a commit leaves the last committed
// state. Against a crash of the system it is opened MDB_NOMETASYNC: each
// commit syncs its data pages but not the meta page, which keeps the
// database consistent and may lose the last committed transaction; the
// sweeper also syncs once a pass. MDB_NOSYNC is not used: without a sync
// between data and meta pages, a system crash can leave a meta page that
// points at pages never written, a corrupt database rather than a lost
// transaction (lmdb.h on MDB_NOSYNC). The price is one fdatasync per
// write: about 60 us of CPU and 0.3 ms here, against 10 us without sync
// and 160 us with the meta page synced too. Reads never wait for a
// writer (0.2 us).
//
// Expired entries are swept by a thread of the store, every
// sweep_interval (0 disables it, for short-lived users such as
// `portcullis db`), by the system clock, at most 1,000 deletions per write
// transaction so that writers are not held up. The thread stops at once
// when the store is destroyed.
//
// MDB_MAP_FULL gives Outcome::full; the store keeps serving reads, erases
// and, once room is made, writes. Removing needs free pages too (LMDB
// copies a page before it changes it), so the last 1/64 of the map (at
// least 32 pages, at most a quarter of it) is kept for removals: a write
// that would grow the data into it gets Outcome::full. The map is at
// least 64 pages (256 KiB) for that reason.
//
// A store must be destroyed before fork() is called, or the child must
// not use it (LMDB's rule).
#pragma once

#include "state/store.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

struct MDB_env;

namespace portcullis::state {

struct LmdbSettings {
    std::string path = "/var/lib/portcullis";
    std::size_t map_size = 256 * 1024 * 1024;
    std::chrono::milliseconds sweep_interval = std::chrono::seconds(60);
    // Told, from the sweeper's thread, what a sweep could not do and which
    // corrupt entries it erased; the daemon passes its log. May be empty.
    std::function<void(const std::string &)> report;
};

// What the sweeper has done since the store was opened.
struct SweepTotals {
    std::uint64_t passes = 0;
    std::uint64_t expired = 0; // entries erased because their expiry had passed
    std::uint64_t corrupt = 0; // entries erased because their value was unreadable
};

class LmdbStore final : public Store {
  public:
    static constexpr const char *file_name = "portcullis.mdb";

    // nullptr and `error` set (naming the path and the cause) on failure.
    static std::unique_ptr<LmdbStore> open(const LmdbSettings &settings, std::string &error);
    ~LmdbStore() override;
    LmdbStore(const LmdbStore &) = delete;
    LmdbStore &operator=(const LmdbStore &) = delete;

    Outcome get(std::string_view key, Time now, std::optional<Entry> &value) override;
    Outcome put(std::string_view key, std::string_view value, Time expires, Time now) override;
    Outcome put_if_absent(std::string_view key, std::string_view value, Time expires, Time now,
                          std::optional<Entry> &existing) override;
    Outcome erase(std::string_view key) override;
    Outcome count_event(std::string_view key, Time now, std::chrono::milliseconds window,
                        std::chrono::milliseconds keep, bool count, std::uint64_t &events) override;
    Outcome list(std::string_view prefix, Time now, std::size_t limit,
                 std::vector<Entry> &entries) override;
    Outcome stats(Time now, Stats &stats) override;
    std::string describe() const override;

    // One sweep of the whole store with `now` as the clock: what the
    // sweeper's thread runs every sweep_interval with the system clock.
    Outcome sweep(Time now);
    SweepTotals sweep_totals() const;

  private:
    struct Environment;
    LmdbStore(std::unique_ptr<Environment> environment, unsigned dbi, std::uint64_t page_limit,
              const LmdbSettings &settings);
    void run_sweeper();
    Outcome sweep_batch(Time now, std::size_t most, std::string &resume, bool &done);
    void report(const std::string &line) const;

    std::unique_ptr<Environment> environment_;
    MDB_env *env_;
    unsigned dbi_;
    std::uint64_t page_limit_; // the most pages the data may grow to
    std::string path_;
    std::chrono::milliseconds sweep_interval_;
    std::function<void(const std::string &)> report_;

    std::atomic<std::uint64_t> passes_{0};
    std::atomic<std::uint64_t> expired_{0};
    std::atomic<std::uint64_t> corrupt_{0};

    std::mutex sweeper_mutex_;
    std::condition_variable sweeper_wake_;
    std::atomic<bool> stopping_{false};
    std::thread sweeper_;
};

} // namespace portcullis::state
