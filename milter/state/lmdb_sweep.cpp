// The LMDB store's sweeper: finds dead entries (expired, or corrupt)
// under a read transaction and erases them in short write transactions,
// so that writers wait for at most one batch.
#include "state/lmdb_detail.hpp"
#include "state/lmdb_store.hpp"

#include <vector>

namespace portcullis::state {

using namespace lmdb_detail;

namespace {

constexpr std::size_t sweep_deletions = 1000; // per write transaction
constexpr std::size_t sweep_examined = 20000; // per read transaction that looks for them

std::string printable(std::string_view bytes) {
    std::string text(bytes.substr(0, max_key_bytes));
    for (char &c : text)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
            c = '?';
    return text;
}

} // namespace

SweepTotals LmdbStore::sweep_totals() const {
    return {passes_, expired_, corrupt_};
}

Outcome LmdbStore::sweep(Time now) {
    return guarded([&]() -> Outcome {
        std::string resume;
        // Removing needs pages too; in a map full to its reserve, smaller
        // batches may still get through.
        std::size_t most = sweep_deletions;
        for (bool done = false; !done;) {
            if (stopping_)
                return {};
            Outcome batch = sweep_batch(now, most, resume, done);
            if (batch.status == Outcome::Status::full && most > 1)
                most /= 2;
            else if (!batch.ok())
                return batch;
        }
        ++passes_;
        return {};
    });
}

// Finds up to `most` dead entries from `resume` on under a read
// transaction, then erases those still dead in one short write transaction;
// moves `resume` on (and sets `done` at the end) once that is committed.
Outcome LmdbStore::sweep_batch(Time now, std::size_t most, std::string &resume, bool &done) {
    const std::int64_t now_ms = to_ms(now);
    std::vector<std::string> doomed;
    std::string next;
    bool at_end = false;
    {
        Transaction txn;
        Cursor cursor;
        int rc = txn.begin(env_, MDB_RDONLY);
        if (rc == 0)
            rc = cursor.open(txn.get(), dbi_);
        MDB_val key = as_val(resume);
        MDB_val data{};
        if (rc == 0)
            rc = cursor.get(key, data, resume.empty() ? MDB_FIRST : MDB_SET_RANGE);
        for (std::size_t examined = 0; rc == 0 && doomed.size() < most && examined < sweep_examined;
             ++examined, rc = cursor.get(key, data, MDB_NEXT))
            if (auto stored = decode(data); !stored || !stored->live(now_ms))
                doomed.emplace_back(as_view(key));
        if (rc != 0 && rc != MDB_NOTFOUND)
            return failure(env_, rc, "sweep");
        at_end = rc == MDB_NOTFOUND;
        if (!at_end)
            next = as_view(key);
    }
    if (doomed.empty()) {
        resume = std::move(next);
        done = at_end;
        return {};
    }
    std::uint64_t expired = 0;
    std::vector<std::string> corrupt;
    Outcome erased = write_transaction(env_, "sweep", [&](Transaction &txn) {
        for (const std::string &name : doomed) {
            MDB_val key = as_val(name);
            MDB_val data{};
            const int rc = mdb_get(txn.get(), dbi_, &key, &data);
            if (rc == MDB_NOTFOUND)
                continue;
            if (rc != 0)
                return rc;
            const auto stored = decode(data);
            if (stored && stored->live(now_ms)) // renewed since it was found
                continue;
            if (!stored)
                corrupt.push_back(printable(name) + " (a value of " + std::to_string(data.mv_size) +
                                  " bytes)");
            if (int deleted = mdb_del(txn.get(), dbi_, &key, nullptr); deleted != 0)
                return deleted;
            expired += stored ? 1 : 0;
        }
        return 0;
    });
    if (!erased.ok())
        return erased;
    resume = std::move(next);
    done = at_end;
    expired_ += expired;
    corrupt_ += corrupt.size();
    for (const std::string &entry : corrupt)
        report(describe() + ": erased the corrupt entry " + entry);
    return {};
}

void LmdbStore::run_sweeper() {
    std::unique_lock lock(sweeper_mutex_);
    while (!sweeper_wake_.wait_for(lock, sweep_interval_, [this] { return stopping_.load(); })) {
        lock.unlock();
        try {
            if (Outcome swept = sweep(Clock::now()); !swept.ok())
                report(describe() + ": " + swept.why);
            int dead = 0;
            if (int rc = mdb_reader_check(env_, &dead); rc != 0)
                report(describe() + ": reader check: " + mdb_strerror(rc));
            else if (dead > 0)
                report(describe() + ": cleared " + std::to_string(dead) +
                       " reader slots of processes that ended");
            if (int rc = mdb_env_sync(env_, 1); rc != 0)
                report(describe() + ": sync: " + mdb_strerror(rc));
        } catch (const std::exception &) {
            // Out of memory for a report line: the next pass tries again.
        }
        lock.lock();
    }
}

void LmdbStore::report(const std::string &line) const {
    if (!report_)
        return;
    try {
        report_(line);
    } catch (...) {
        // A failing log must not end the sweeper.
    }
}

} // namespace portcullis::state
