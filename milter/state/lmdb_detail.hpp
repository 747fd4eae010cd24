// What the LMDB store's source files share: times as milliseconds, the
// value layout (an 8-byte big-endian expiry, then the value), RAII for
// transactions and cursors, a write transaction's begin, commit or abort
// in one place, and LMDB errors as outcomes. Internal to milter/state;
// users include lmdb_store.hpp.
#pragma once

#include "state/store.hpp"

#include <lmdb.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace portcullis::state::lmdb_detail {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::size_t expiry_bytes = 8;
constexpr std::int64_t latest_ms = std::numeric_limits<std::int64_t>::max();

inline std::int64_t to_ms(Time time) {
    return duration_cast<milliseconds>(time.time_since_epoch()).count();
}

inline Time from_ms(std::int64_t ms) {
    static const std::int64_t earliest = to_ms(Time::min());
    static const std::int64_t latest = to_ms(Time::max());
    return Time(duration_cast<Clock::duration>(milliseconds(std::clamp(ms, earliest, latest))));
}

inline std::int64_t add_ms(std::int64_t ms, std::int64_t delta) {
    std::int64_t sum = 0;
    if (__builtin_add_overflow(ms, delta, &sum))
        return delta > 0 ? latest_ms : std::numeric_limits<std::int64_t>::min();
    return sum;
}

inline MDB_val as_val(std::string_view bytes) {
    return {bytes.size(), const_cast<char *>(bytes.data())};
}

inline std::string_view as_view(const MDB_val &val) {
    return {static_cast<const char *>(val.mv_data), val.mv_size};
}

struct Stored {
    std::int64_t expires_ms = 0;
    std::string_view value;

    bool live(std::int64_t now_ms) const { return expires_ms > now_ms; }
};

// nullopt for a corrupt value (shorter than its expiry).
inline std::optional<Stored> decode(const MDB_val &data) {
    if (data.mv_size < expiry_bytes)
        return std::nullopt;
    const auto *bytes = static_cast<const unsigned char *>(data.mv_data);
    std::uint64_t ms = 0;
    for (std::size_t i = 0; i < expiry_bytes; ++i)
        ms = ms << 8 | bytes[i];
    const auto expires = static_cast<std::int64_t>(std::min<std::uint64_t>(ms, latest_ms));
    return Stored{expires, as_view(data).substr(expiry_bytes)};
}

class Transaction {
  public:
    Transaction() = default;
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;
    ~Transaction() {
        if (txn_)
            mdb_txn_abort(txn_);
    }
    int begin(MDB_env *env, unsigned flags) { return mdb_txn_begin(env, nullptr, flags, &txn_); }
    int commit() { return mdb_txn_commit(std::exchange(txn_, nullptr)); }
    void abort() {
        if (txn_)
            mdb_txn_abort(std::exchange(txn_, nullptr));
    }
    MDB_txn *get() const { return txn_; }

  private:
    MDB_txn *txn_ = nullptr;
};

// For read-only transactions, whose cursors must be closed by hand.
class Cursor {
  public:
    Cursor() = default;
    Cursor(const Cursor &) = delete;
    Cursor &operator=(const Cursor &) = delete;
    ~Cursor() {
        if (cursor_)
            mdb_cursor_close(cursor_);
    }
    int open(MDB_txn *txn, MDB_dbi dbi) { return mdb_cursor_open(txn, dbi, &cursor_); }
    int get(MDB_val &key, MDB_val &data, MDB_cursor_op op) {
        return mdb_cursor_get(cursor_, &key, &data, op);
    }

  private:
    MDB_cursor *cursor_ = nullptr;
};

inline Outcome failure(MDB_env *env, int rc, std::string_view doing) {
    if (rc == MDB_MAP_FULL) {
        MDB_envinfo info{};
        mdb_env_info(env, &info);
        return Outcome::failed(Outcome::Status::full,
                               std::string(doing) + ": the LMDB map of " +
                                   std::to_string(info.me_mapsize) +
                                   " bytes is full (raise the map size or erase entries)");
    }
    return Outcome::failed(Outcome::Status::error, std::string(doing) + ": " + mdb_strerror(rc));
}

// A write transaction of `env` around `work(txn)`, which returns an LMDB
// code: 0 commits; any other aborts, and the outcome is the failure of
// `doing`. Work that finds nothing to change calls txn.abort() and returns
// 0: nothing is committed, and the outcome is ok.
template <class Work> Outcome write_transaction(MDB_env *env, std::string_view doing, Work &&work) {
    Transaction txn;
    int rc = txn.begin(env, 0);
    if (rc == 0)
        rc = work(txn);
    if (rc == 0 && txn.get())
        rc = txn.commit();
    return rc == 0 ? Outcome{} : failure(env, rc, doing);
}

template <class Body> Outcome guarded(Body &&body) {
    try {
        return body();
    } catch (const std::exception &e) {
        return Outcome::failed(Outcome::Status::error, std::string("internal error: ") + e.what());
    }
}

} // namespace portcullis::state::lmdb_detail
