#include "runtime.hpp"

#include "resolver/unbound_resolver.hpp"
#include "shared_answers.hpp"

#include <mutex>

namespace portcullis {

namespace {
std::mutex runtime_mutex;
std::shared_ptr<const Runtime> installed;

std::shared_ptr<Resolver> make_unbound_resolver(const Config::Resolver &config) {
    UnboundSettings settings;
    settings.forward = config.forward;
    settings.dnssec = config.dnssec;
    settings.trust_anchor = config.trust_anchor;
    settings.unbound_config = config.unbound_config;
    settings.timeout = config.timeout;
    settings.msg_cache_size = config.msg_cache_size;
    settings.rrset_cache_size = config.rrset_cache_size;
    settings.outgoing_range = config.outgoing_range;
    return std::make_shared<UnboundResolver>(settings);
}
} // namespace

std::shared_ptr<const Runtime> Runtime::build(Config config, std::vector<std::string> &errors,
                                              std::shared_ptr<Resolver> resolver) {
    auto runtime = std::make_shared<Runtime>();
    runtime->replies = load_replies(config.replies_file, errors);
    runtime->check_data = CheckDataSet::load(config, errors);
    if (!resolver) {
        try {
            resolver = make_unbound_resolver(config.resolver);
        } catch (const std::exception &error) {
            errors.push_back(std::string("resolver: ") + error.what());
        }
    }
    if (!errors.empty())
        return nullptr;
    runtime->resolver = std::make_shared<SharedAnswers>(std::move(resolver));
    runtime->config = std::make_shared<const Config>(std::move(config));
    return runtime;
}

std::shared_ptr<const Runtime> current_runtime() {
    std::lock_guard lock(runtime_mutex);
    return installed;
}

void install_runtime(std::shared_ptr<const Runtime> runtime) {
    std::lock_guard lock(runtime_mutex);
    installed = std::move(runtime);
}

} // namespace portcullis
