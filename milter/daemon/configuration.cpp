#include "configuration.hpp"
#include "privileges.hpp"

#include "resolver/metered_resolver.hpp"
#include "resolver/unbound_resolver.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <grp.h>
#include <pwd.h>

namespace portcullis {

namespace {

// Why the account `name` cannot be used, or "" (the _r functions: a
// reload runs beside the sessions' threads).
template <typename Entry, typename Lookup>
std::string missing_account(const char *kind, const std::string &name, Lookup lookup) {
    Entry entry{};
    Entry *found = nullptr;
    std::vector<char> buffer(1 << 16);
    const int err = lookup(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (err != 0)
        return std::string("cannot look up ") + kind + " '" + name + "': " + std::strerror(err);
    if (found == nullptr)
        return std::string(kind) + " '" + name + "' does not exist";
    return "";
}

// The user and group a start switches to.
void check_accounts(const Config &config, std::vector<ConfigError> &errors) {
    if (!config.user.empty())
        if (auto why = missing_account<passwd>("user", config.user, getpwnam_r); !why.empty()) {
            if (why.ends_with("does not exist"))
                why += ": " + missing_user_advice(config.user);
            errors.push_back(config.error("user", config.user, std::move(why)));
        }
    if (!config.group.empty())
        if (auto why = missing_account<group>("group", config.group, getgrnam_r); !why.empty())
            errors.push_back(config.error("group", config.group, std::move(why)));
}

// The order of the file: what the administrator edits first.
void sort_by_origin(std::vector<ConfigError> &errors) {
    auto rank = [](const ConfigError &error) {
        return std::pair(static_cast<int>(error.source), error.line);
    };
    std::stable_sort(errors.begin(), errors.end(),
                     [&](const ConfigError &a, const ConfigError &b) { return rank(a) < rank(b); });
}

} // namespace

VerifiedConfiguration
verify_configuration(const std::string &file,
                     const std::vector<std::pair<std::string, std::string>> &overrides,
                     bool start_resolver, Accounts accounts) {
    VerifiedConfiguration result;
    auto loaded = load_config(file, overrides);
    result.errors = std::move(loaded.errors);
    auto &config = loaded.config ? loaded.config : loaded.partial;
    if (!config) {
        sort_by_origin(result.errors);
        return result;
    }
    if (accounts == Accounts::check)
        check_accounts(*config, result.errors);
    for (auto &problem : check_resolver_settings(config->resolver))
        result.errors.push_back(
            config->error(problem.option, problem.value, std::move(problem.message)));
    auto runtime = Runtime::load(std::move(*config), result.errors);
    sort_by_origin(result.errors);
    if (!result.errors.empty())
        return result;
    result.config = runtime.config;
    if (!start_resolver)
        return result;
    std::shared_ptr<Resolver> resolver;
    try {
        resolver = std::make_shared<MeteredResolver>(
            std::make_shared<UnboundResolver>(runtime.config->resolver));
    } catch (const std::exception &error) {
        result.errors.push_back(ConfigError{file, 0, "", std::string("resolver: ") + error.what()});
        result.config = nullptr;
        return result;
    }
    result.runtime = Runtime::start(std::move(runtime), std::move(resolver));
    return result;
}

} // namespace portcullis
