#include "open_store.hpp"

#include "core/log.hpp"
#include "state/lmdb_store.hpp"
#include "state/redis_store.hpp"
#include "state/redis_url.hpp"

#include <cerrno>
#include <cstring>
#include <sys/stat.h>

namespace portcullis::memory {

std::string store_options_problem(const Config &config) {
    if (config.state.backend != "redis")
        return "";
    std::string error;
    if (!state::parse_redis_url(config.state.redis, error))
        return error.empty() ? "not a Redis URL" : error;
    return "";
}

std::unique_ptr<state::Store> open_store(const Config &config, const StoreUse &use,
                                         std::string &error) {
    if (config.state.backend == "redis") {
        state::RedisSettings settings;
        settings.url = config.state.redis;
        settings.timeout = config.state.timeout;
        settings.pool_size = config.state.pool_size;
        settings.breaker_failures = config.state.breaker_failures;
        settings.breaker_interval = config.state.breaker_interval;
        auto store = state::RedisStore::create(settings, error);
        if (!store)
            error = "state.redis: " + error;
        return store;
    }
    if (use.create_directory && ::mkdir(config.state.path.c_str(), 0750) != 0 && errno != EEXIST) {
        error = "state.path: cannot create " + config.state.path + ": " + std::strerror(errno);
        return nullptr;
    }
    state::LmdbSettings settings;
    settings.path = config.state.path;
    settings.map_size = config.state.map_size;
    settings.sweep_interval =
        use.sweep ? config.state.sweep_interval : std::chrono::milliseconds(0);
    settings.report = [](const std::string &line) { log_warning("state store: " + line); };
    auto store = state::LmdbStore::open(settings, error);
    if (!store)
        error = "state.path: " + error;
    return store;
}

} // namespace portcullis::memory
