// The libunbound context the resolver runs on, apart from the resolver:
// made and configured from the resolver.* settings, and checked for
// `portcullis -n`. libunbound initialises and destroys process-wide state
// (a global mutex, its non-reentrant configuration parser) as contexts
// are created, configured and deleted, and a resolver torn down on its
// own event thread may delete its context while another is being made:
// every creation, configuration and deletion here holds one lock.
// Internal to the resolver library.
#pragma once

#include "core/config.hpp"

#include <memory>

struct ub_ctx;

namespace portcullis {

struct ContextDeleter {
    void operator()(ub_ctx *ctx) const;
};
using Context = std::unique_ptr<ub_ctx, ContextDeleter>;

// A configured context with its worker started; throws std::runtime_error.
Context make_context(const Config::Resolver &settings);

} // namespace portcullis
