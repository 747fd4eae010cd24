#include "config.hpp"

#include "config_file.hpp"
#include "option_binding.hpp"
#include "option_value.hpp"

#include <boost/program_options.hpp>

#include <charconv>
#include <deque>
#include <map>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace po = boost::program_options;

namespace portcullis {

namespace {

// The special conversions some options need beyond their type.

unsigned octal_mode(const OptionValue &in) {
    const auto mode = in.text();
    unsigned bits = 0;
    auto [end, error] = std::from_chars(mode.data(), mode.data() + mode.size(), bits, 8);
    if (mode.empty() || error != std::errc() || end != mode.data() + mode.size() || bits > 0777)
        in.fail(mode, "expected octal permissions such as 0660, not '" + mode + "'");
    return bits;
}

std::vector<std::string> host_names(const OptionValue &in) {
    std::vector<std::string> names;
    for (const auto &name : in.list())
        names.push_back(normalize_host(name));
    return names;
}

std::vector<IpAddress> addresses(const OptionValue &in) {
    std::vector<IpAddress> out;
    for (const auto &word : in.list()) {
        if (auto address = IpAddress::parse(word))
            out.push_back(*address);
        else
            in.fail(word, "'" + word + "' is not an IP address");
    }
    return out;
}

// "IP" or "IP@PORT", as libunbound's ub_ctx_set_fwd() takes them; a
// wrong one is left out (the resolver's check would name it again).
std::vector<std::string> forwarders(const OptionValue &in) {
    std::vector<std::string> forwarders;
    for (const auto &forward : in.list()) {
        const auto at = forward.find('@');
        bool valid = IpAddress::parse(forward.substr(0, at)).has_value();
        if (valid && at != std::string::npos) {
            const auto port = forward.substr(at + 1);
            unsigned number = 0;
            auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
            valid = !port.empty() && error == std::errc() && end == port.data() + port.size() &&
                    number > 0 && number < 65536;
        }
        if (valid)
            forwarders.push_back(forward);
        else
            in.fail(forward, "'" + forward + "' is not IP or IP@PORT");
    }
    return forwarders;
}

// The options that match mail addresses share one syntax (address_pattern.hpp).
std::vector<AddressPattern> address_patterns(const OptionValue &in) {
    std::vector<AddressPattern> patterns;
    for (const auto &entry : in.list()) {
        std::string error;
        if (auto pattern = AddressPattern::parse(entry, &error))
            patterns.push_back(std::move(*pattern));
        else
            in.fail(entry, "'" + entry + "': " + error);
    }
    return patterns;
}

std::vector<DnsblZone> zones(const OptionValue &in) {
    std::vector<DnsblZone> zones;
    for (const auto &entry : in.list()) {
        std::string error;
        if (auto zone = DnsblZone::parse(entry, &error))
            zones.push_back(*zone);
        else
            in.fail(entry, "'" + entry + "': " + error);
    }
    return zones;
}

// Every option but the policy section's, in the order of --help and
// portcullis.conf(5).
constexpr BoundOption general_options[] = {
    {{"socket", OptionType::string, "unix:/run/portcullis/portcullis.sock",
      "where to listen: unix:PATH, inet:PORT@HOST or inet6:PORT@HOST"},
     [](const OptionValue &in, Config &config) { config.socket = in.text(); }},
    {{"socket-mode", OptionType::string, "0660",
      "permissions of a unix socket, in octal: the MTA's user must be able to connect"},
     [](const OptionValue &in, Config &config) { config.socket_mode = octal_mode(in); }},
    {{"pid-file", OptionType::string, "", "write the process id to this file (empty: none)"},
     [](const OptionValue &in, Config &config) { config.pid_file = in.text(); }},
    {{"user", OptionType::string, "portcullis",
      "user to switch to when started as root, after binding the socket (root: keep root)"},
     [](const OptionValue &in, Config &config) { config.user = in.text(); }},
    {{"group", OptionType::string, "", "group to switch to (empty: the user's primary group)"},
     [](const OptionValue &in, Config &config) { config.group = in.text(); }},
    {{"shutdown-grace", OptionType::duration, "10s",
      "after SIGTERM, how long the sessions in flight may take to end"},
     [](const OptionValue &in, Config &config) { config.shutdown_grace = in.duration(); }},
    {{"mode", OptionType::choice, "enforce",
      "enforce: act on verdicts; dry-run: log what would happen and accept", "enforce|dry-run"},
     [](const OptionValue &in, Config &config) { config.dry_run = in.choice() == "dry-run"; }},
    {{"log-facility", OptionType::choice, "mail", "syslog facility",
      "mail|daemon|local0|local1|local2|local3|local4|local5|local6|local7"},
     [](const OptionValue &in, Config &config) { config.log_facility = in.choice(); }},
    {{"exempt-recipients", OptionType::list, "postmaster@* abuse@*",
      "recipients accepted whatever the verdict, as address patterns: user@domain, user@, "
      "@domain, domain (and below), .domain (below)"},
     [](const OptionValue &in, Config &config) {
         config.exempt_recipients = address_patterns(in);
     }},
    {{"trusted-networks", OptionType::list, "127.0.0.0/8 ::1/128",
      "clients in these networks skip every check"},
     [](const OptionValue &in, Config &config) { config.trusted_networks = in.networks(); }},
    {{"own-hostnames", OptionType::list, "",
      "names of this MX a client must not claim in HELO (the MTA's j macro is added)"},
     [](const OptionValue &in, Config &config) { config.own_hostnames = host_names(in); }},
    {{"own-addresses", OptionType::list, "",
      "addresses of this MX a client must not claim in HELO ({daemon_addr} is added)"},
     [](const OptionValue &in, Config &config) { config.own_addresses = addresses(in); }},
    {{"reply-url", OptionType::string, "",
      "URL offered in replies as ${url}; ${rule} inside it is replaced by the rule id"},
     [](const OptionValue &in, Config &config) { config.reply_url = in.text(); }},
    {{"replies-file", OptionType::string, "replies.conf", "reply templates, one section per rule"},
     [](const OptionValue &in, Config &config) { config.replies_file = in.path(); }},
    {{"generic-rdns-patterns", OptionType::list, "generic-rdns.conf",
      "files of patterns for generic/dynamic PTR names (setting it replaces the default: list "
      "the shipped file too)"},
     [](const OptionValue &in, Config &config) { config.generic_rdns_files = in.paths(); }},

    {{"resolver.forward", OptionType::list, "",
      "forward queries to these resolvers, IP[@PORT] (empty: full recursion)"},
     [](const OptionValue &in, Config &config) { config.resolver.forward = forwarders(in); }},
    {{"resolver.dnssec", OptionType::boolean, "yes",
      "validate DNSSEC (bogus answers are DNS errors)"},
     [](const OptionValue &in, Config &config) { config.resolver.dnssec = in.boolean(); }},
    {{"resolver.trust-anchor", OptionType::string, "/usr/share/dns/root.key",
      "DNSSEC trust anchor file"},
     [](const OptionValue &in, Config &config) { config.resolver.trust_anchor = in.path(); }},
    {{"resolver.unbound-config", OptionType::string, "",
      "an unbound.conf(5) file read by libunbound (local zones, stub zones, more anchors)"},
     [](const OptionValue &in, Config &config) { config.resolver.unbound_config = in.path(); }},
    {{"resolver.timeout", OptionType::duration, "5s", "how long one lookup may take"},
     [](const OptionValue &in, Config &config) { config.resolver.timeout = in.duration(); }},
    {{"resolver.renew-after", OptionType::duration, "30s",
      "when every lookup has failed this long, start libunbound afresh (0: never)"},
     [](const OptionValue &in, Config &config) {
         config.resolver.renew_after = in.duration();
         const auto renew_after = config.resolver.renew_after;
         if (renew_after.count() != 0 && renew_after < std::chrono::seconds(1))
             in.fail(in.written(), "must be 0 (never) or at least 1s");
     }},
    {{"resolver.stage-budget", OptionType::duration, "12s",
      "how long the recipient stage waits for outstanding lookups"},
     [](const OptionValue &in, Config &config) {
         config.resolver.stage_budget = in.duration();
         if (config.resolver.stage_budget > std::chrono::seconds(25))
             in.fail(in.written(), "must stay below 25s, under the MTA's milter command timeout");
     }},
    {{"resolver.msg-cache-size", OptionType::size, "32m", "libunbound message cache size"},
     [](const OptionValue &in, Config &config) { config.resolver.msg_cache_size = in.size(); }},
    {{"resolver.rrset-cache-size", OptionType::size, "64m", "libunbound RRset cache size"},
     [](const OptionValue &in, Config &config) { config.resolver.rrset_cache_size = in.size(); }},
    {{"resolver.outgoing-range", OptionType::number, "1024",
      "how many queries libunbound may have outstanding"},
     [](const OptionValue &in, Config &config) {
         config.resolver.outgoing_range = in.whole_number(16, 65536);
     }},

    {{"resolver.cache-max-ttl", OptionType::duration, "1h",
      "longest time an answer is shared between sessions (its TTL when shorter)"},
     [](const OptionValue &in, Config &config) {
         config.resolver.cache_max_ttl = in.duration();
         if (config.resolver.cache_max_ttl > std::chrono::hours(24 * 7))
             in.fail(in.written(), "must be at most 7d");
     }},
    {{"resolver.cache-entries", OptionType::number, "65536",
      "how many answers are shared between sessions at most (0: none)"},
     [](const OptionValue &in, Config &config) {
         config.resolver.cache_entries = in.whole_number(0, 16777216);
     }},
    {{"resolver.cache-size", OptionType::size, "32m",
      "how many bytes of answers are shared between sessions at most"},
     [](const OptionValue &in, Config &config) {
         config.resolver.cache_size = static_cast<std::size_t>(in.size());
     }},

    {{"session.max-helos", OptionType::number, "10",
      "HELO/EHLO commands one session may send (0: no limit)"},
     [](const OptionValue &in, Config &config) {
         config.session.max_helos = in.whole_number(0, 1000000);
     }},
    {{"session.max-transactions", OptionType::number, "1000",
      "transactions (MAIL commands) one session may start (0: no limit)"},
     [](const OptionValue &in, Config &config) {
         config.session.max_transactions = in.whole_number(0, 1000000);
     }},
    {{"session.max-recipients", OptionType::number, "50000",
      "RCPT commands one session may send, all transactions together (0: no limit)"},
     [](const OptionValue &in, Config &config) {
         config.session.max_recipients = in.whole_number(0, 100000000);
     }},
    {{"session.max-lookups", OptionType::number, "20000",
      "DNS lookups one session may start, in all (0: no limit)"},
     [](const OptionValue &in, Config &config) {
         config.session.max_lookups = in.whole_number(0, 100000000);
     }},
    {{"session.max-answer-bytes", OptionType::size, "1m",
      "DNS answer data one session may hold at once (0: no limit)"},
     [](const OptionValue &in, Config &config) { config.session.max_answer_bytes = in.size(); }},

    {{"rdns.max-names", OptionType::number, "10", "PTR names checked for forward confirmation"},
     [](const OptionValue &in, Config &config) {
         config.rdns_max_names = in.whole_number(1, 100);
     }},
    {{"dnsbl.zone", OptionType::list, "",
      "DNSBL/DNSWL zone as zone[=filter][*weight], e.g. zen.example=127.0.0.[2..11]*3"},
     [](const OptionValue &in, Config &config) { config.dnsbl_zones = zones(in); }},
    {{"dnsbl.threshold", OptionType::number, "1", "weight at which dnsbl-listed applies"},
     [](const OptionValue &in, Config &config) { config.dnsbl_threshold = in.number(); }},
    {{"dnsbl.txt-max-length", OptionType::number, "200",
      "longest DNSBL TXT reason copied into a reply"},
     [](const OptionValue &in, Config &config) {
         config.dnsbl_txt_max_length = in.whole_number(0, 900);
     }},
    {{"rhsbl.zone", OptionType::list, "",
      "RHSBL zone for domain names as zone[=filter][*weight], e.g. dbl.example=127.0.1.[2..99]"},
     [](const OptionValue &in, Config &config) { config.rhsbl_zones = zones(in); }},
    {{"rhsbl.threshold", OptionType::number, "1", "weight at which rhsbl-listed applies"},
     [](const OptionValue &in, Config &config) { config.rhsbl_threshold = in.number(); }},

    {{"spf.receiver", OptionType::string, "",
      "this host's name in SPF (%{r}) and Received-SPF (empty: the MTA's j macro)"},
     [](const OptionValue &in, Config &config) {
         config.spf.receiver = normalize_host(in.text());
     }},
    {{"spf.default-explanation", OptionType::string,
      "%{o} does not designate %{c} as a permitted sender",
      "explanation of an SPF fail when the domain gives none (SPF macros allowed)"},
     [](const OptionValue &in, Config &config) {
         // Empty means the default: a fail always explains itself.
         const auto text = in.text();
         config.spf.default_explanation =
             text.empty() ? std::string(in.spec().default_value) : text;
     }},
    {{"spf.void-lookup-limit", OptionType::number, "2",
      "DNS lookups without an answer one SPF evaluation may make (RFC 7208 section 4.6.4)"},
     [](const OptionValue &in, Config &config) {
         config.spf.void_lookup_limit = in.whole_number(0, 10);
     }},
    {{"spf.add-header", OptionType::boolean, "yes",
      "add a Received-SPF: header with the SPF result to accepted mail"},
     [](const OptionValue &in, Config &config) { config.spf.add_header = in.boolean(); }},

    {{"allow.network", OptionType::list, "",
      "clients in these networks skip the connection and HELO checks"},
     [](const OptionValue &in, Config &config) { config.allow_networks = in.networks(); }},
    {{"allow.hostname", OptionType::list, "",
      "clients whose verified PTR name is or ends in one of these skip the connection and HELO "
      "checks"},
     [](const OptionValue &in, Config &config) { config.allow_hostnames = host_names(in); }},
    {{"deny.network", OptionType::list, "", "clients in these networks are refused (deny-network)"},
     [](const OptionValue &in, Config &config) { config.deny_networks = in.networks(); }},
    {{"deny.sender", OptionType::list, "",
      "envelope senders refused (deny-sender), as address patterns like exempt-recipients"},
     [](const OptionValue &in, Config &config) { config.deny_senders = address_patterns(in); }},
};

// The policy section's own options; the policy.<rule> ones follow them,
// one per rule (append_rule_options(), convert_rule_actions()).
constexpr BoundOption policy_options[] = {
    {{"policy.dns-error", OptionType::choice, "tempfail",
      "what a failed lookup does for a check that would act", "tempfail|log|ignore"},
     [](const OptionValue &in, Config &config) {
         config.dns_error_action = *Action::parse(in.choice());
     }},
    {{"policy.score-tempfail", OptionType::number, "0",
      "total score at which the client is tempfailed (0: off)"},
     [](const OptionValue &in, Config &config) { config.score_tempfail = in.number(); }},
    {{"policy.score-reject", OptionType::number, "0",
      "total score at which the client is rejected (0: off)"},
     [](const OptionValue &in, Config &config) { config.score_reject = in.number(); }},
};

// One policy.<rule> option per rule, of type action, defaulting to the
// rule's default action.
void append_rule_options(std::vector<OptionSpec> &table, std::span<const RuleSpec> rules,
                         std::deque<std::string> &storage) {
    for (const auto &rule : rules) {
        const auto &name = storage.emplace_back("policy." + std::string(rule.id));
        const auto &help = storage.emplace_back("action when " + std::string(rule.summary) +
                                                ": ignore, log, tempfail, reject or score:N");
        table.push_back({name, OptionType::action, rule.default_action, help});
    }
}

// `storage` owns the generated names and help texts.
std::vector<OptionSpec> build_table(std::span<const RuleSpec> rules,
                                    std::deque<std::string> &storage) {
    std::vector<OptionSpec> table;
    for (const auto &option : general_options)
        table.push_back(option.spec);
    for (const auto &option : memory_options())
        table.push_back(option.spec);
    for (const auto &option : message_options())
        table.push_back(option.spec);
    for (const auto &option : metrics_options())
        table.push_back(option.spec);
    for (const auto &option : policy_options)
        table.push_back(option.spec);
    append_rule_options(table, rules, storage);
    return table;
}

po::options_description build_description(std::span<const OptionSpec> options) {
    po::options_description description("configuration");
    for (const auto &option : options) {
        const std::string name(option.name);
        if (option.type == OptionType::list)
            description.add_options()(name.c_str(),
                                      po::value<std::vector<std::string>>()->composing(),
                                      std::string(option.help).c_str());
        else
            description.add_options()(name.c_str(), po::value<std::string>(),
                                      std::string(option.help).c_str());
    }
    return description;
}

const OptionSpec &find_option(std::span<const OptionSpec> options, std::string_view name) {
    for (const auto &option : options)
        if (option.name == name)
            return option;
    throw std::logic_error("undeclared option " + std::string(name));
}

// Each rule's action from its policy.<rule> option; a rule that may not
// reject (a temporary condition) refuses reject.
void convert_rule_actions(std::span<const OptionSpec> options, const OptionSources &sources,
                          Config &config, std::span<const RuleSpec> rules) {
    for (const auto &rule : rules) {
        const OptionValue in(find_option(options, "policy." + std::string(rule.id)), sources);
        const Action action = in.action();
        if (!rule.may_reject && action.kind == ActionKind::reject)
            in.fail(in.written(),
                    "a temporary error never rejects: use tempfail, log, ignore or score:N");
        config.actions[std::string(rule.id)] = action;
        if (!rule.may_reject)
            config.never_reject.emplace(rule.id);
    }
}

void convert(std::span<const OptionSpec> options, const OptionSources &sources, Config &config,
             std::span<const RuleSpec> rules) {
    for (const auto &option : general_options)
        option.store(OptionValue(option.spec, sources), config);
    for (const auto &option : memory_options())
        option.store(OptionValue(option.spec, sources), config);
    for (const auto &option : message_options())
        option.store(OptionValue(option.spec, sources), config);
    for (const auto &option : metrics_options())
        option.store(OptionValue(option.spec, sources), config);
    // The rule actions before the policy section's own options: the order
    // in which their errors have always been reported.
    convert_rule_actions(options, sources, config, rules);
    for (const auto &option : policy_options)
        option.store(OptionValue(option.spec, sources), config);
}

} // namespace

std::span<const OptionSpec> option_table(std::span<const RuleSpec> rules) {
    // One table per rule list; the program has one (the checks' rules),
    // tests a few.
    struct Table {
        std::deque<std::string> storage;
        std::vector<OptionSpec> options;
    };
    static std::mutex mutex;
    static std::map<std::pair<const RuleSpec *, std::size_t>, Table> tables;
    std::lock_guard lock(mutex);
    auto [it, inserted] = tables.try_emplace({rules.data(), rules.size()});
    if (inserted)
        it->second.options = build_table(rules, it->second.storage);
    return it->second.options;
}

const Action &Config::action_for(std::string_view rule) const {
    static const Action log_only{ActionKind::log};
    auto it = actions.find(rule);
    return it == actions.end() ? log_only : it->second;
}

std::string ConfigError::to_string() const {
    std::string out;
    switch (source) {
    case Source::file:
        out = file.empty() ? "command line" : file;
        if (line > 0)
            out += ":" + std::to_string(line);
        break;
    case Source::command_line:
        out = "command line";
        break;
    case Source::default_value:
        out = "default";
        break;
    }
    if (!option.empty())
        out += ": " + option;
    return out + ": " + message;
}

ConfigError Config::error(std::string_view option, std::string_view value,
                          std::string message) const {
    if (origins)
        return origins->locate(option, value, std::move(message));
    ConfigError error;
    error.file = source_file;
    error.option = std::string(option);
    error.message = std::move(message);
    error.source = ConfigError::Source::default_value;
    return error;
}

ConfigResult load_config(std::span<const RuleSpec> rules, const std::string &file,
                         const std::vector<std::pair<std::string, std::string>> &overrides) {
    ConfigResult result;
    ConfigFileIndex index(file);
    const auto options = option_table(rules);
    const auto description = build_description(options);
    po::variables_map values;

    auto report = [&](std::string option, std::string message, int line) {
        result.errors.push_back(ConfigError{file, line, std::move(option), std::move(message)});
    };

    std::map<std::string, bool, std::less<>> command_line; // option -> is a list
    try {
        if (!overrides.empty()) {
            po::parsed_options parsed(&description);
            for (const auto &[name, value] : overrides) {
                po::option option(name, {value});
                parsed.options.push_back(option);
            }
            po::store(parsed, values);
        }
    } catch (const po::error &error) {
        result.errors.push_back(
            ConfigError{"", 0, "", error.what(), ConfigError::Source::command_line});
        return result;
    }
    for (const auto &[name, value] : overrides)
        command_line[name] = find_option(options, name).type == OptionType::list;

    if (!file.empty()) {
        if (!index.readable()) {
            report("", "cannot read the file", 0);
            return result;
        }
        for (const auto &problem : index.syntax_errors())
            report(problem.option, problem.message, problem.line);
        if (!result.errors.empty())
            return result; // Boost would stop at the same line, without its number
        for (const auto &entry : index.entries()) {
            bool known = false;
            for (const auto &option : options)
                known = known || option.name == entry.option;
            if (!known)
                report(entry.option, "unknown option" + index.suggestion(entry.option, options),
                       entry.line);
        }
        // Unknown options are reported above; reading on finds the rest.
        try {
            std::ifstream in(file);
            po::store(po::parse_config_file(in, description, true), values);
        } catch (const po::error &error) {
            std::string option;
            if (auto *multiple = dynamic_cast<const po::multiple_occurrences *>(&error))
                option = multiple->get_option_name();
            if (!option.empty() && option.front() == '-')
                option.erase(0, option.find_first_not_of('-'));
            report(option, error.what(), index.line_of(option, ""));
            return result;
        }
    }

    Config config;
    config.source_file = file;
    config.origins = std::make_shared<const OptionOrigins>(
        std::move(index), std::move(command_line),
        file.empty() ? std::filesystem::path("/etc/portcullis")
                     : std::filesystem::absolute(file).parent_path());
    const OptionSources sources{values, *config.origins, result.errors};
    convert(options, sources, config, rules);
    if (result.errors.empty())
        result.config = std::move(config);
    else
        result.partial = std::move(config);
    return result;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    std::uint64_t number = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end == text.data() || number > 86400000)
        return std::nullopt;
    const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
    if (unit.empty() || unit == "s")
        return std::chrono::milliseconds(number * 1000);
    if (unit == "ms")
        return std::chrono::milliseconds(number);
    if (unit == "m")
        return std::chrono::milliseconds(number * 60000);
    if (unit == "h")
        return std::chrono::milliseconds(number * 3600000);
    if (unit == "d")
        return std::chrono::milliseconds(number * 86400000);
    return std::nullopt;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::uint64_t number = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end == text.data() || number > (1ull << 40))
        return std::nullopt;
    const auto unit =
        to_lower(std::string_view(end, static_cast<std::size_t>(text.data() + text.size() - end)));
    if (unit.empty())
        return number;
    if (unit == "k")
        return number << 10;
    if (unit == "m")
        return number << 20;
    if (unit == "g")
        return number << 30;
    return std::nullopt;
}

} // namespace portcullis
