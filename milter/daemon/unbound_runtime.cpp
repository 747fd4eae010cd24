#include "unbound_runtime.hpp"

#include "resolver/unbound_resolver.hpp"

#include <exception>

namespace portcullis {

std::shared_ptr<const Runtime> build_unbound_runtime(Config config,
                                                     std::vector<std::string> &errors) {
    std::shared_ptr<Resolver> resolver;
    try {
        resolver = std::make_shared<UnboundResolver>(config.resolver);
    } catch (const std::exception &error) {
        errors.push_back(std::string("resolver: ") + error.what());
        return nullptr;
    }
    return Runtime::build(std::move(config), errors, std::move(resolver));
}

} // namespace portcullis
