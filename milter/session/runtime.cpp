#include "runtime.hpp"

#include "shared_answers.hpp"

#include "memory/open_store.hpp"

#include <mutex>
#include <stdexcept>

namespace portcullis {

namespace {
std::mutex runtime_mutex;
std::shared_ptr<const Runtime> installed;
} // namespace

Runtime Runtime::load(Config config, std::vector<ConfigError> &errors) {
    Runtime runtime;
    std::vector<std::string> problems;
    runtime.replies = load_replies(config.replies_file, problems);
    for (auto &problem : problems)
        errors.push_back(config.error("replies-file", config.replies_file, std::move(problem)));
    runtime.check_data = CheckDataSet::load(config, errors);
    if (auto problem = memory::store_options_problem(config); !problem.empty())
        errors.push_back(config.error("state.redis", config.state.redis, std::move(problem)));
    runtime.config = std::make_shared<const Config>(std::move(config));
    return runtime;
}

std::shared_ptr<const Runtime> Runtime::start(Runtime loaded, std::shared_ptr<Resolver> resolver) {
    if (!resolver)
        throw std::invalid_argument("Runtime::start needs a resolver");
    const auto &settings = loaded.config->resolver;
    SharedAnswers::Limits limits;
    limits.max_ttl = std::chrono::duration_cast<std::chrono::seconds>(settings.cache_max_ttl);
    limits.max_entries = settings.cache_entries;
    limits.max_bytes = settings.cache_size;
    loaded.resolver = std::make_shared<SharedAnswers>(std::move(resolver), limits);
    loaded.message_needs = portcullis::message_needs(*loaded.config);
    if (loaded.config->message.dkim_verify)
        loaded.dkim = std::make_shared<const message::DkimLibrary>();
    return std::make_shared<const Runtime>(std::move(loaded));
}

std::shared_ptr<const Runtime> Runtime::build(Config config, std::vector<ConfigError> &errors,
                                              std::shared_ptr<Resolver> resolver) {
    if (!resolver)
        throw std::invalid_argument("Runtime::build needs a resolver");
    const auto before = errors.size();
    auto loaded = load(std::move(config), errors);
    if (errors.size() != before)
        return nullptr;
    return start(std::move(loaded), std::move(resolver));
}

std::shared_ptr<const Runtime> with_store(const std::shared_ptr<const Runtime> &runtime,
                                          std::shared_ptr<state::Store> store) {
    auto copy = std::make_shared<Runtime>(*runtime);
    copy->store = std::move(store);
    return copy;
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
