// Counting lookups on their way through (metered_resolver.hpp).
#include "metered_resolver.hpp"

#include "metrics/registry.hpp"

#include <chrono>

namespace portcullis {

void MeteredResolver::resolve(const std::string &name, DnsType type, Callback done) {
    using Clock = std::chrono::steady_clock;
    resolver_->resolve(
        name, type, [type, started = Clock::now(), done = std::move(done)](DnsAnswer answer) {
            const auto elapsed =
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
            metrics::global().count_dns_lookup(to_string(type), to_string(answer.status),
                                               static_cast<std::uint64_t>(elapsed.count()));
            done(std::move(answer));
        });
}

} // namespace portcullis
