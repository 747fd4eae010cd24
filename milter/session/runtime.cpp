#include "runtime.hpp"

#include "shared_answers.hpp"

#include <mutex>
#include <stdexcept>

namespace portcullis {

namespace {
std::mutex runtime_mutex;
std::shared_ptr<const Runtime> installed;
} // namespace

std::shared_ptr<const Runtime> Runtime::build(Config config, std::vector<std::string> &errors,
                                              std::shared_ptr<Resolver> resolver) {
    if (!resolver)
        throw std::invalid_argument("Runtime::build needs a resolver");
    auto runtime = std::make_shared<Runtime>();
    runtime->replies = load_replies(config.replies_file, errors);
    runtime->check_data = CheckDataSet::load(config, errors);
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
