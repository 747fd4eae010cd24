// libFuzzer target: arbitrary bytes as a configuration file, read by
// ConfigFileIndex and load_config() with the checks' rules (the file is
// handed over as a memfd, /proc/self/fd/N, as a path is all they take).
// Asserts, beyond the sanitizers: a result is a Config or errors, never
// both nor neither; every error names this file and a line of it; the
// index's entries are trimmed and free of comments; a loaded Config holds
// only values its options allow.
#include "checks/check.hpp"
#include "core/config_file.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

using namespace portcullis;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

// One memfd for the whole run, rewritten for every input.
const std::string &file_holding(const std::uint8_t *data, std::size_t size) {
    static const int fd = memfd_create("portcullis-config-fuzz", 0);
    static const std::string path = "/proc/self/fd/" + std::to_string(fd);
    require(fd >= 0);
    require(ftruncate(fd, 0) == 0);
    std::size_t written = 0;
    while (written < size) {
        const auto n = pwrite(fd, data + written, size - written, static_cast<off_t>(written));
        require(n > 0);
        written += static_cast<std::size_t>(n);
    }
    return path;
}

bool trimmed(const std::string &text) {
    return text.empty() || (text.front() != ' ' && text.front() != '\t' && text.back() != ' ' &&
                            text.back() != '\t' && text.back() != '\r');
}

void check_index(const ConfigFileIndex &index, int lines) {
    require(index.readable());
    int previous = 0;
    for (const auto &entry : index.entries()) {
        require(entry.line > previous && entry.line <= lines);
        previous = entry.line;
        require(!entry.option.empty() && trimmed(entry.option) && trimmed(entry.value));
        require(entry.option.find('#') == std::string::npos);
        require(entry.value.find('#') == std::string::npos);
        require(entry.option.find('\n') == std::string::npos);
        require(entry.value.find('\n') == std::string::npos);
        require(index.line_of(entry.option, entry.value, true) <= entry.line);
    }
    for (const auto &problem : index.syntax_errors())
        require(problem.line >= 1 && problem.line <= lines && !problem.message.empty());
}

void check_config(const Config &config) {
    using namespace std::chrono_literals;
    require(config.resolver.timeout > 0ms);
    require(config.resolver.stage_budget > 0ms && config.resolver.stage_budget <= 25s);
    require(config.resolver.outgoing_range >= 16 && config.resolver.outgoing_range <= 65536);
    require(config.rdns_max_names >= 1 && config.rdns_max_names <= 100);
    require(config.dnsbl_txt_max_length <= 900);
    require(config.spf.void_lookup_limit <= 10);
    require(!config.spf.default_explanation.empty());
    require(config.socket_mode <= 0777);
    for (double value : {config.dnsbl_threshold, config.rhsbl_threshold, config.score_tempfail,
                         config.score_reject})
        require(std::isfinite(value));
    for (const auto &list : {config.dnsbl_zones, config.rhsbl_zones})
        for (const auto &zone : list) {
            const auto again = DnsblZone::parse(zone.text);
            require(again && again->zone == zone.zone && again->filter == zone.filter &&
                    again->weight == zone.weight);
        }
    for (const auto &rule : rule_table()) {
        const auto &action = config.action_for(rule.id);
        require(rule.may_reject || action.kind != ActionKind::reject);
        require(action.kind != ActionKind::score || std::isfinite(action.score));
    }
    for (const auto &name : config.own_hostnames)
        require(name == normalize_host(name));
    for (const auto &forward : config.resolver.forward)
        require(IpAddress::parse(forward.substr(0, forward.find('@'))).has_value());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 16384)
        return 0;
    const std::string &path = file_holding(data, size);
    const int lines = static_cast<int>(std::count(data, data + size, '\n')) + 1;

    check_index(ConfigFileIndex(path), lines);

    const auto result = load_config(path);
    require(result.config.has_value() == result.errors.empty());
    for (const auto &error : result.errors) {
        require(error.file == path);
        require(error.line >= 0 && error.line <= lines);
        require(!error.message.empty());
        require(error.to_string().starts_with(path));
    }
    if (result.config) {
        require(result.config->source_file == path);
        check_config(*result.config);
    }
    return 0;
}
