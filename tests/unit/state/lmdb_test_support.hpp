// What the LMDB store's tests share: a directory of their own, a clock
// far from the system's, and a store opened or the test stopped.
#pragma once

#include "state/lmdb_store.hpp"

#include <doctest/doctest.h>

#include <stdlib.h>

#include <filesystem>

namespace portcullis::testing {

using namespace portcullis::state;
using namespace std::chrono_literals;

// 2100-01-01: far from the system clock, so that no sweeper could take it for expiry.
inline const Time t0 = Time(std::chrono::milliseconds(4'102'444'800'000));

class TempDir {
  public:
    TempDir() {
        char name[] = "/tmp/portcullis-lmdb-XXXXXX";
        REQUIRE(::mkdtemp(name) != nullptr);
        path_ = name;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    const std::string &path() const { return path_; }

  private:
    std::string path_;
};

inline LmdbSettings settings_for(const TempDir &dir) {
    LmdbSettings settings;
    settings.path = dir.path();
    settings.map_size = 16 * 1024 * 1024;
    settings.sweep_interval = 0ms; // the tests that sweep say so
    return settings;
}

inline std::unique_ptr<LmdbStore> open_store(const LmdbSettings &settings) {
    std::string error;
    auto store = LmdbStore::open(settings, error);
    INFO(error);
    REQUIRE(store);
    CHECK(error.empty());
    return store;
}

inline std::optional<std::string> value_of(Store &store, std::string_view key, Time now) {
    std::optional<Entry> entry;
    const state::Outcome outcome = store.get(key, now, entry);
    INFO(outcome.why);
    REQUIRE(outcome.ok());
    if (!entry)
        return std::nullopt;
    return entry->value;
}

inline std::vector<std::string> keys_listed(Store &store, std::string_view prefix, Time now,
                                            std::size_t limit) {
    std::vector<Entry> entries;
    const state::Outcome outcome = store.list(prefix, now, limit, entries);
    INFO(outcome.why);
    REQUIRE(outcome.ok());
    std::vector<std::string> keys;
    for (const Entry &entry : entries)
        keys.push_back(entry.key);
    return keys;
}

inline std::uint64_t entries_in(Store &store) {
    Stats stats;
    REQUIRE(store.stats(t0, stats).ok());
    return stats.entries;
}

} // namespace portcullis::testing
