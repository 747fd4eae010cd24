// The LMDB backend of the state store: opening, and the operations of
// store.hpp. Its contract beyond store.hpp is in lmdb_store.hpp; the
// sweeper is in lmdb_sweep.cpp.
#include "state/lmdb_store.hpp"
#include "state/lmdb_detail.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>
#include <utility>

namespace portcullis::state {

using namespace lmdb_detail;

namespace {

constexpr std::size_t smallest_map_pages = 64; // below it, the reserve for removals is too small
constexpr unsigned max_readers = 1024;         // a read transaction per libmilter thread at once

Outcome refused_key(std::string_view key) {
    std::string problem = key_problem(key);
    if (problem.empty())
        return {};
    return Outcome::failed(Outcome::Status::error, std::move(problem));
}

Outcome refused(std::string_view key, std::string_view value) {
    if (value.size() > max_value_bytes)
        return Outcome::failed(Outcome::Status::error,
                               "value longer than " + std::to_string(max_value_bytes) + " bytes");
    return refused_key(key);
}

// The live entry under `key`, if any; MDB_NOTFOUND is not an error here.
int read_live(MDB_txn *txn, MDB_dbi dbi, std::string_view key, std::int64_t now_ms,
              std::optional<Entry> &entry) {
    entry.reset();
    MDB_val k = as_val(key);
    MDB_val data{};
    const int rc = mdb_get(txn, dbi, &k, &data);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (auto stored = decode(data); stored && stored->live(now_ms))
        entry = Entry{std::string(key), std::string(stored->value), from_ms(stored->expires_ms)};
    return 0;
}

int tree_pages(MDB_txn *txn, MDB_dbi dbi, std::uint64_t &pages) {
    MDB_stat status{};
    const int rc = mdb_stat(txn, dbi, &status);
    pages = status.ms_branch_pages + status.ms_leaf_pages + status.ms_overflow_pages;
    return rc;
}

// The pages of the map kept for removals (see lmdb_store.hpp).
std::uint64_t reserved_pages(std::uint64_t map_pages) {
    return std::min(std::max<std::uint64_t>(map_pages / 64, 32), map_pages / 4);
}

// Stores the entry, or erases the key when the entry would be dead at once.
// A write that grows the data beyond `page_limit` pages gets MDB_MAP_FULL.
int write_entry(MDB_txn *txn, MDB_dbi dbi, std::uint64_t page_limit, std::string_view key,
                std::string_view value, std::int64_t expires_ms, std::int64_t now_ms) {
    MDB_val k = as_val(key);
    if (expires_ms <= now_ms) {
        const int rc = mdb_del(txn, dbi, &k, nullptr);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    std::uint64_t pages_before = 0;
    if (int rc = tree_pages(txn, dbi, pages_before))
        return rc;
    MDB_val data{expiry_bytes + value.size(), nullptr};
    if (int rc = mdb_put(txn, dbi, &k, &data, MDB_RESERVE))
        return rc;
    auto *bytes = static_cast<unsigned char *>(data.mv_data);
    const auto expires = static_cast<std::uint64_t>(expires_ms);
    for (std::size_t i = 0; i < expiry_bytes; ++i)
        bytes[i] = static_cast<unsigned char>(expires >> (8 * (expiry_bytes - 1 - i)));
    if (!value.empty())
        std::memcpy(bytes + expiry_bytes, value.data(), value.size());
    std::uint64_t pages_after = 0;
    if (int rc = tree_pages(txn, dbi, pages_after))
        return rc;
    return pages_after > pages_before && pages_after > page_limit ? MDB_MAP_FULL : 0;
}

// Event times of a counter, in milliseconds, oldest first; unreadable
// words are dropped.
std::vector<std::int64_t> parse_events(std::string_view text) {
    std::vector<std::int64_t> times;
    while (!text.empty()) {
        const std::size_t end = std::min(text.find(' '), text.size());
        std::int64_t ms = 0;
        const auto [last, problem] = std::from_chars(text.data(), text.data() + end, ms);
        if (problem == std::errc() && last == text.data() + end)
            times.push_back(ms);
        text.remove_prefix(std::min(end + 1, text.size()));
    }
    std::sort(times.begin(), times.end());
    return times;
}

std::string format_events(const std::vector<std::int64_t> &times) {
    std::string text;
    for (std::int64_t ms : times) {
        if (!text.empty())
            text += ' ';
        text += std::to_string(ms);
    }
    return text;
}

// LMDB forbids opening one environment twice in a process: closing either
// would drop the other's file locks.
std::mutex &open_directories_mutex() {
    static std::mutex mutex;
    return mutex;
}

std::set<std::pair<dev_t, ino_t>> &open_directories() {
    static std::set<std::pair<dev_t, ino_t>> directories;
    return directories;
}

} // namespace

struct LmdbStore::Environment {
    MDB_env *env = nullptr;
    std::optional<std::pair<dev_t, ino_t>> directory;

    Environment() = default;
    Environment(const Environment &) = delete;
    Environment &operator=(const Environment &) = delete;
    ~Environment() {
        if (env)
            mdb_env_close(env);
        if (directory) {
            std::lock_guard lock(open_directories_mutex());
            open_directories().erase(*directory);
        }
    }
    bool claim(const struct stat &status) {
        std::lock_guard lock(open_directories_mutex());
        if (!open_directories().insert({status.st_dev, status.st_ino}).second)
            return false;
        directory = {status.st_dev, status.st_ino};
        return true;
    }
};

std::unique_ptr<LmdbStore> LmdbStore::open(const LmdbSettings &settings, std::string &error) {
    error.clear();
    const std::string where = "lmdb " + settings.path + ": ";
    try {
        if (settings.path.empty()) {
            error = "lmdb: no directory given for the store";
            return nullptr;
        }
        struct stat status {};
        if (::stat(settings.path.c_str(), &status) != 0) {
            error = where + "cannot use the directory: " + std::strerror(errno);
            return nullptr;
        }
        if (!S_ISDIR(status.st_mode)) {
            error = where + "not a directory";
            return nullptr;
        }
        auto environment = std::make_unique<Environment>();
        if (!environment->claim(status)) {
            error = where + "already open in this process";
            return nullptr;
        }
        const std::string file = settings.path + "/" + file_name;
        const auto page = static_cast<std::size_t>(std::max(4096L, ::sysconf(_SC_PAGESIZE)));
        if (settings.map_size < smallest_map_pages * page) {
            error = where + "a map size of " + std::to_string(settings.map_size) +
                    " bytes is below the smallest, " + std::to_string(smallest_map_pages * page);
            return nullptr;
        }
        const std::size_t map_size = (settings.map_size + page - 1) / page * page;
        int rc = mdb_env_create(&environment->env);
        if (rc == 0)
            rc = mdb_env_set_mapsize(environment->env, map_size);
        if (rc == 0)
            rc = mdb_env_set_maxreaders(environment->env, max_readers);
        if (rc == 0)
            rc = mdb_env_open(environment->env, file.c_str(),
                              MDB_NOSUBDIR | MDB_NOTLS | MDB_NOMETASYNC, 0600);
        if (rc != 0) {
            error = where + "cannot open " + file + ": " + mdb_strerror(rc);
            return nullptr;
        }
        if (mdb_env_get_maxkeysize(environment->env) < static_cast<int>(max_key_bytes)) {
            error = where + "this liblmdb takes keys shorter than " +
                    std::to_string(max_key_bytes) + " bytes";
            return nullptr;
        }
        int dead = 0;
        mdb_reader_check(environment->env, &dead); // readers a crashed process left behind
        MDB_dbi dbi = 0;
        Transaction txn;
        rc = txn.begin(environment->env, 0);
        if (rc == 0)
            rc = mdb_dbi_open(txn.get(), nullptr, 0, &dbi);
        if (rc == 0)
            rc = txn.commit();
        if (rc != 0) {
            error = where + "cannot open the database in " + file + ": " + mdb_strerror(rc);
            return nullptr;
        }
        MDB_envinfo info{};
        MDB_stat layout{};
        mdb_env_info(environment->env, &info);
        mdb_env_stat(environment->env, &layout);
        const std::uint64_t map_pages = info.me_mapsize / layout.ms_psize;
        return std::unique_ptr<LmdbStore>(new LmdbStore(
            std::move(environment), dbi, map_pages - reserved_pages(map_pages), settings));
    } catch (const std::exception &e) {
        error = where + "cannot open: " + e.what();
        return nullptr;
    }
}

LmdbStore::LmdbStore(std::unique_ptr<Environment> environment, unsigned dbi,
                     std::uint64_t page_limit, const LmdbSettings &settings)
    : environment_(std::move(environment)), env_(environment_->env), dbi_(dbi),
      page_limit_(page_limit), path_(settings.path), sweep_interval_(settings.sweep_interval),
      report_(settings.report) {
    if (sweep_interval_ > milliseconds::zero())
        sweeper_ = std::thread([this] { run_sweeper(); });
}

LmdbStore::~LmdbStore() {
    {
        std::lock_guard lock(sweeper_mutex_);
        stopping_ = true;
    }
    sweeper_wake_.notify_all();
    if (sweeper_.joinable())
        sweeper_.join();
}

std::string LmdbStore::describe() const {
    return "lmdb " + path_;
}

Outcome LmdbStore::get(std::string_view key, Time now, std::optional<Entry> &value) {
    value.reset();
    if (Outcome refusal = refused_key(key); !refusal.ok())
        return refusal;
    return guarded([&]() -> Outcome {
        Transaction txn;
        int rc = txn.begin(env_, MDB_RDONLY);
        if (rc == 0)
            rc = read_live(txn.get(), dbi_, key, to_ms(now), value);
        return rc == 0 ? Outcome{} : failure(env_, rc, "get");
    });
}

Outcome LmdbStore::put(std::string_view key, std::string_view value, Time expires, Time now) {
    if (Outcome refusal = refused(key, value); !refusal.ok())
        return refusal;
    return guarded([&]() -> Outcome {
        return write_transaction(env_, "put", [&](Transaction &txn) {
            return write_entry(txn.get(), dbi_, page_limit_, key, value, to_ms(expires),
                               to_ms(now));
        });
    });
}

Outcome LmdbStore::put_if_absent(std::string_view key, std::string_view value, Time expires,
                                 Time now, std::optional<Entry> &existing) {
    existing.reset();
    if (Outcome refusal = refused(key, value); !refusal.ok())
        return refusal;
    return guarded([&]() -> Outcome {
        const std::int64_t now_ms = to_ms(now);
        // Most calls find the entry: they need not wait for the write lock.
        int rc = 0;
        {
            Transaction reader;
            rc = reader.begin(env_, MDB_RDONLY);
            if (rc == 0)
                rc = read_live(reader.get(), dbi_, key, now_ms, existing);
        }
        if (rc != 0 || existing)
            return rc == 0 ? Outcome{} : failure(env_, rc, "put_if_absent");
        return write_transaction(env_, "put_if_absent", [&](Transaction &txn) {
            if (int read = read_live(txn.get(), dbi_, key, now_ms, existing); read != 0)
                return read;
            if (existing) {
                txn.abort();
                return 0;
            }
            return write_entry(txn.get(), dbi_, page_limit_, key, value, to_ms(expires), now_ms);
        });
    });
}

Outcome LmdbStore::erase(std::string_view key) {
    if (Outcome refusal = refused_key(key); !refusal.ok())
        return refusal;
    return guarded([&]() -> Outcome {
        return write_transaction(env_, "erase", [&](Transaction &txn) {
            MDB_val k = as_val(key);
            const int rc = mdb_del(txn.get(), dbi_, &k, nullptr);
            if (rc == MDB_NOTFOUND)
                txn.abort();
            return rc == MDB_NOTFOUND ? 0 : rc;
        });
    });
}

Outcome LmdbStore::count_event(std::string_view key, Time now, milliseconds window,
                               milliseconds keep, bool count, std::uint64_t &events) {
    events = 0;
    if (Outcome refusal = refused_key(key); !refusal.ok())
        return refusal;
    return guarded([&]() -> Outcome {
        const std::int64_t now_ms = to_ms(now);
        std::vector<std::int64_t> times;
        // The events in the window (now - window, now]: an event exactly
        // `window` old is gone.
        const auto read_window = [&](MDB_txn *txn) {
            std::optional<Entry> entry;
            if (int rc = read_live(txn, dbi_, key, now_ms, entry); rc != 0)
                return rc;
            times = parse_events(entry ? entry->value : std::string());
            const std::int64_t oldest_kept = add_ms(now_ms, -window.count());
            times.erase(times.begin(), std::upper_bound(times.begin(), times.end(), oldest_kept));
            return 0;
        };
        if (!count) {
            Transaction txn;
            int rc = txn.begin(env_, MDB_RDONLY);
            if (rc == 0)
                rc = read_window(txn.get());
            if (rc != 0)
                return failure(env_, rc, "count_event");
            events = times.size();
            return {};
        }
        Outcome counted = write_transaction(env_, "count_event", [&](Transaction &txn) {
            if (int rc = read_window(txn.get()); rc != 0)
                return rc;
            times.insert(std::upper_bound(times.begin(), times.end(), now_ms), now_ms);
            if (times.size() > max_counted_events)
                times.erase(times.begin(), times.end() - max_counted_events);
            return write_entry(txn.get(), dbi_, page_limit_, key, format_events(times),
                               add_ms(now_ms, keep.count()), now_ms);
        });
        if (counted.ok())
            events = times.size();
        return counted;
    });
}

Outcome LmdbStore::list(std::string_view prefix, Time now, std::size_t limit,
                        std::vector<Entry> &entries) {
    entries.clear();
    if (!prefix.empty())
        if (Outcome refusal = refused_key(prefix); !refusal.ok())
            return refusal;
    return guarded([&]() -> Outcome {
        const std::int64_t now_ms = to_ms(now);
        Transaction txn;
        Cursor cursor;
        int rc = txn.begin(env_, MDB_RDONLY);
        if (rc == 0)
            rc = cursor.open(txn.get(), dbi_);
        MDB_val key = as_val(prefix);
        MDB_val data{};
        if (rc == 0)
            rc = cursor.get(key, data, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
        for (; rc == 0 && entries.size() < limit; rc = cursor.get(key, data, MDB_NEXT)) {
            if (!as_view(key).starts_with(prefix))
                break;
            if (auto stored = decode(data); stored && stored->live(now_ms))
                entries.push_back({std::string(as_view(key)), std::string(stored->value),
                                   from_ms(stored->expires_ms)});
        }
        return rc == 0 || rc == MDB_NOTFOUND ? Outcome{} : failure(env_, rc, "list");
    });
}

Outcome LmdbStore::stats(Time, Stats &stats) {
    stats = {};
    return guarded([&]() -> Outcome {
        Transaction txn;
        MDB_stat status{};
        MDB_envinfo info{};
        int rc = txn.begin(env_, MDB_RDONLY);
        if (rc == 0)
            rc = mdb_stat(txn.get(), dbi_, &status);
        if (rc == 0)
            rc = mdb_env_info(env_, &info);
        if (rc != 0)
            return failure(env_, rc, "stats");
        const std::uint64_t pages =
            status.ms_branch_pages + status.ms_leaf_pages + status.ms_overflow_pages;
        stats.entries = status.ms_entries;
        stats.bytes = pages * status.ms_psize;
        stats.capacity = info.me_mapsize;
        return {};
    });
}

} // namespace portcullis::state
