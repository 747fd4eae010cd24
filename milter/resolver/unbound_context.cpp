// The libunbound context: see unbound_context.hpp.
#include "unbound_context.hpp"

#include "unbound_resolver.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unbound.h>
#include <unistd.h>
#include <vector>

namespace portcullis {

namespace {

constexpr int class_in = 1;

// Recursive: a context made under it may be deleted under it when the
// making fails.
std::recursive_mutex &context_lifecycle() {
    static std::recursive_mutex lock;
    return lock;
}

// Why `path` cannot be read, or "".
std::string unreadable(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return path + ": cannot read the file: " + std::strerror(errno);
    ::close(fd);
    return "";
}

// The answer to the probe query of make_context(), which is cancelled.
void on_probe_result(void *, int, ub_result *result) {
    ub_resolve_free(result);
}

constexpr const char *unbound_config_option = "resolver.unbound-config";
constexpr const char *trust_anchor_option = "resolver.trust-anchor";

Context new_context() {
    Context ctx(ub_ctx_create());
    if (!ctx)
        throw std::runtime_error("libunbound: cannot create a context");
    return ctx;
}

// Which of the administrator's files configure() hands to libunbound.
struct Files {
    bool unbound_config = true;
    bool trust_anchor = true;
};

void set_option(ub_ctx *ctx, const char *name, const std::string &value, const char *option,
                std::vector<ResolverProblem> &problems) {
    const int err = ub_ctx_set_option(ctx, name, value.c_str());
    if (err != 0)
        problems.push_back(
            {option, value,
             std::string("libunbound rejected ") + name + " " + value + ": " + ub_strerror(err)});
}

// Applies the settings; what libunbound refuses goes to `problems` and
// is left out, so that the rest is still checked.
void configure(ub_ctx *ctx, const Config::Resolver &settings,
               std::vector<ResolverProblem> &problems, Files files = {}) {
    int err = ub_ctx_async(ctx, 1);
    if (err != 0)
        throw std::runtime_error(std::string("libunbound: ub_ctx_async: ") + ub_strerror(err));
    set_option(ctx, "msg-cache-size:", std::to_string(settings.msg_cache_size),
               "resolver.msg-cache-size", problems);
    set_option(ctx, "rrset-cache-size:", std::to_string(settings.rrset_cache_size),
               "resolver.rrset-cache-size", problems);
    set_option(ctx, "outgoing-range:", std::to_string(settings.outgoing_range),
               "resolver.outgoing-range", problems);
    // Work libunbound would do after our deadline is wasted: bound the
    // packets one query may send (expire() bounds our wait). Options this
    // libunbound lacks are skipped. Not infra-cache-max-rtt: set below
    // libunbound's probe threshold (12 s), it makes a server that timed
    // out a few times unusable, not probed again until infra-host-ttl
    // (15 min) ends, and every query fails at once meanwhile.
    ub_ctx_set_option(ctx, "outbound-msg-retry:", "3");
    ub_ctx_set_option(ctx, "max-sent-count:", "32");
    ub_ctx_set_option(ctx, "val-max-restart:", "3");
    ub_ctx_set_option(ctx, "max-global-quota:", "128");
    if (!settings.dnssec)
        set_option(ctx, "module-config:", "iterator", "resolver.dnssec", problems);

    // Last, so that the administrator's file overrides the lines above.
    if (files.unbound_config && !settings.unbound_config.empty()) {
        const auto &file = settings.unbound_config;
        if (auto why = unreadable(file); !why.empty())
            problems.push_back({unbound_config_option, file, why});
        else if ((err = ub_ctx_config(ctx, file.c_str())) != 0)
            problems.push_back(
                {unbound_config_option, file,
                 file + ": libunbound did not accept the file: " + ub_strerror(err)});
    }
    for (const auto &forward : settings.forward) {
        err = ub_ctx_set_fwd(ctx, forward.c_str());
        if (err != 0)
            problems.push_back({"resolver.forward", forward,
                                "'" + forward + "' is not IP or IP@PORT: " + ub_strerror(err)});
    }
    if (files.trust_anchor && settings.dnssec && !settings.trust_anchor.empty()) {
        const auto &file = settings.trust_anchor;
        if (auto why = unreadable(file); !why.empty())
            problems.push_back({trust_anchor_option, file, why});
        else if ((err = ub_ctx_add_ta_file(ctx, file.c_str())) != 0)
            problems.push_back(
                {trust_anchor_option, file,
                 file + ": libunbound did not accept the file: " + ub_strerror(err)});
    }
}

} // namespace

Context make_context(const Config::Resolver &settings) {
    const std::lock_guard lock(context_lifecycle());
    Context ctx(ub_ctx_create());
    if (!ctx)
        throw std::runtime_error("libunbound: cannot create a context");
    std::vector<ResolverProblem> problems;
    configure(ctx.get(), settings, problems);
    if (!problems.empty())
        throw std::runtime_error(problems.front().option + ": " + problems.front().message);

    // The first query makes libunbound read its configuration and anchors
    // and start its worker: errors show here, not at the first real lookup.
    int probe = 0;
    const int err =
        ub_resolve_async(ctx.get(), "localhost.", 1, class_in, nullptr, on_probe_result, &probe);
    if (err != 0)
        throw std::runtime_error(std::string("libunbound cannot start (check the trust anchor "
                                             "and unbound config files): ") +
                                 ub_strerror(err));
    ub_cancel(ctx.get(), probe);
    return ctx;
}

namespace {

// Makes libunbound read its configuration and anchors, as the first
// query would, without starting its worker (removing a zone that does
// not exist finalizes the context and changes nothing).
int finalize(ub_ctx *ctx) {
    return ub_ctx_zone_remove(ctx, "configuration-check.portcullis.invalid.");
}

bool has_problem(const std::vector<ResolverProblem> &problems, std::string_view option) {
    return std::any_of(problems.begin(), problems.end(), [option](const ResolverProblem &problem) {
        return problem.option == option;
    });
}

} // namespace

std::vector<ResolverProblem> check_resolver_settings(const Config::Resolver &settings) {
    const std::lock_guard lock(context_lifecycle());
    std::vector<ResolverProblem> problems;
    const auto all = new_context();
    configure(all.get(), settings, problems);
    const int err = finalize(all.get());
    if (err == 0)
        return problems;
    // libunbound says only that it cannot start: try each file alone.
    const bool config_used =
        !settings.unbound_config.empty() && !has_problem(problems, unbound_config_option);
    const bool anchor_used = settings.dnssec && !settings.trust_anchor.empty() &&
                             !has_problem(problems, trust_anchor_option);
    bool named = false;
    auto alone = [&](Files files, const char *option, const std::string &file,
                     const std::string &what) {
        const auto ctx = new_context();
        std::vector<ResolverProblem> ignored;
        configure(ctx.get(), settings, ignored, files);
        if (const int alone_err = finalize(ctx.get()); alone_err != 0) {
            problems.push_back(
                {option, file,
                 file + ": libunbound cannot " + what + ": " + ub_strerror(alone_err)});
            named = true;
        }
    };
    if (config_used)
        alone({.unbound_config = true, .trust_anchor = false}, unbound_config_option,
              settings.unbound_config, "start with this file");
    if (anchor_used)
        alone({.unbound_config = false, .trust_anchor = true}, trust_anchor_option,
              settings.trust_anchor, "read trust anchors from this file");
    if (!named)
        problems.push_back(
            {config_used ? unbound_config_option : trust_anchor_option,
             config_used ? settings.unbound_config : settings.trust_anchor,
             std::string("libunbound cannot start with these settings: ") + ub_strerror(err)});
    return problems;
}

void ContextDeleter::operator()(ub_ctx *ctx) const {
    const std::lock_guard lock(context_lifecycle());
    ub_ctx_delete(ctx);
}

} // namespace portcullis
