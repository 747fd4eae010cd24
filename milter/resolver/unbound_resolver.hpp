// The Resolver the daemon uses: one shared libunbound context with its
// worker in a thread, and one event thread of ours that collects
// answers (ub_fd + ub_process) and enforces the per-lookup timeout that
// libunbound lacks. Contract as in core/dns.hpp: resolve() never blocks
// on the network and every callback runs exactly once, on the event
// thread (or, for a lookup that cannot start, on the caller's), never
// under the resolver's lock, so a callback may call resolve() again.
// A name that cannot exist in the DNS (empty label, over 63/253 bytes,
// NUL, backslash) is answered nxdomain at once. An answer holding a
// record that cannot be decoded is servfail ("malformed answer"), never
// the answer without it. CNAMEs are followed,
// also those libunbound leaves unfollowed in local data (up to 8).
// When every lookup has failed for settings.renew_after (not zero), the
// libunbound context is replaced by a fresh one (logged once per run of
// failures); lookups in flight move to it and still complete once.
// Destruction completes pending lookups with servfail "resolver shut
// down"; it must not race with resolve() calls from other threads.
// Its settings are the resolver.* options (Config::Resolver, whose
// defaults live in the option table only; stage_budget is not its
// business); an empty trust_anchor with dnssec on leaves the anchors to
// unbound_config.
#pragma once

#include "core/config.hpp"
#include "core/dns.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

struct ub_result;

namespace portcullis {

class UnboundResolver : public Resolver {
  public:
    // Throws std::runtime_error naming the option or file at fault.
    explicit UnboundResolver(const Config::Resolver &settings);
    ~UnboundResolver() override;
    UnboundResolver(const UnboundResolver &) = delete;
    UnboundResolver &operator=(const UnboundResolver &) = delete;

    void resolve(const std::string &name, DnsType type, Callback done) override;

  private:
    struct State;
    std::shared_ptr<State> state_;
    std::thread event_thread_;
};

// What keeps a resolver.* option from working, for its error.
struct ResolverProblem {
    std::string option;  // "resolver.trust-anchor", "resolver.unbound-config", ...
    std::string value;   // the file or value at fault
    std::string message; // says which file or value
};

// Every problem the constructor would stop at, not only the first: the
// same settings on a libunbound context that then reads its files (the
// unbound-config file, the trust anchors) as a start does, but never
// starts its worker or sends a query. For `portcullis -n`, a start and a
// reload alike.
std::vector<ResolverProblem> check_resolver_settings(const Config::Resolver &settings);

// How one libunbound result reads as a DnsAnswer (err is the callback's
// error code; result may be null when err is set). Exposed for tests.
DnsAnswer answer_from_unbound(int err, const ub_result *result, DnsType type,
                              std::string_view query_name);

} // namespace portcullis
