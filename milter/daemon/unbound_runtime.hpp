// The daemon's and the one-shot commands' Runtime: the libunbound
// resolver the resolver.* options describe, handed to Runtime::build().
// The session layer knows only the Resolver interface (core/dns.hpp);
// this is the one place that picks the concrete resolver.
#pragma once

#include "session/runtime.hpp"

#include <memory>
#include <string>
#include <vector>

namespace portcullis {

// Null, with `errors` filled, when the resolver cannot be built (only
// its error is reported then) or a file the config names is wrong.
std::shared_ptr<const Runtime> build_unbound_runtime(Config config,
                                                     std::vector<std::string> &errors);

} // namespace portcullis
