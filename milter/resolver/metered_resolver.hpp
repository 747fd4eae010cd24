// A Resolver in front of another that counts each lookup in the metrics
// registry: its type, its outcome and the time from resolve() to the
// answer. The daemon puts it between the shared answer cache and
// libunbound, so it counts the lookups that reach the resolver. Same
// contract as core/dns.hpp; counting takes no lock.
#pragma once

#include "core/dns.hpp"

#include <memory>

namespace portcullis {

class MeteredResolver final : public Resolver {
  public:
    explicit MeteredResolver(std::shared_ptr<Resolver> resolver) : resolver_(std::move(resolver)) {}
    void resolve(const std::string &name, DnsType type, Callback done) override;

  private:
    std::shared_ptr<Resolver> resolver_;
};

} // namespace portcullis
