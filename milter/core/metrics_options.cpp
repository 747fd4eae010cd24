// The option of the metrics endpoint (metrics.listen): the address the
// Prometheus text format is served on, off when empty.
#include "metrics/listen_address.hpp"
#include "option_binding.hpp"

#include <string>

namespace portcullis {

namespace {

constexpr BoundOption options[] = {
    {{"metrics.listen", OptionType::string, "",
      "the address Prometheus metrics are served on over HTTP, IPv4:PORT or [IPv6]:PORT "
      "(empty: off); read at start only"},
     [](const OptionValue &in, Config &config) {
         config.metrics.listen = in.text();
         std::string error;
         if (!config.metrics.listen.empty() &&
             !metrics::parse_listen_address(config.metrics.listen, error))
             in.fail(in.written(), "'" + config.metrics.listen + "': " + error);
     }},
};

} // namespace

std::span<const BoundOption> metrics_options() {
    return options;
}

} // namespace portcullis
