#include "config.hpp"

#include "config_file.hpp"

#include <boost/program_options.hpp>

#include <charconv>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace po = boost::program_options;

namespace portcullis {

namespace {

constexpr OptionSpec fixed_options[] = {
    {"socket", OptionType::string, "unix:/run/portcullis/portcullis.sock",
     "where to listen: unix:PATH, inet:PORT@HOST or inet6:PORT@HOST"},
    {"socket-mode", OptionType::string, "0660",
     "permissions of a unix socket, in octal: the MTA's user must be able to connect"},
    {"pid-file", OptionType::string, "", "write the process id to this file (empty: none)"},
    {"user", OptionType::string, "", "user to switch to after binding the socket (empty: stay)"},
    {"group", OptionType::string, "", "group to switch to (empty: the user's primary group)"},
    {"mode", OptionType::choice, "enforce",
     "enforce: act on verdicts; dry-run: log what would happen and accept", "enforce|dry-run"},
    {"log-facility", OptionType::choice, "mail", "syslog facility",
     "mail|daemon|local0|local1|local2|local3|local4|local5|local6|local7"},
    {"exempt-recipients", OptionType::list, "postmaster@* abuse@*",
     "recipients accepted whatever the verdict (local@domain, * matches any local part or domain)"},
    {"trusted-networks", OptionType::list, "127.0.0.0/8 ::1/128",
     "clients in these networks skip every check"},
    {"own-hostnames", OptionType::list, "",
     "names of this MX a client must not claim in HELO (the MTA's j macro is added)"},
    {"own-addresses", OptionType::list, "",
     "addresses of this MX a client must not claim in HELO ({daemon_addr} is added)"},
    {"reply-url", OptionType::string, "",
     "URL offered in replies as ${url}; ${rule} inside it is replaced by the rule id"},
    {"replies-file", OptionType::string, "replies.conf", "reply templates, one section per rule"},
    {"generic-rdns-patterns", OptionType::list, "generic-rdns.conf",
     "files of patterns for generic/dynamic PTR names (setting it replaces the default: list the shipped file too)"},
    {"resolver.forward", OptionType::list, "",
     "forward queries to these resolvers, IP[@PORT] (empty: full recursion)"},
    {"resolver.dnssec", OptionType::boolean, "yes", "validate DNSSEC (bogus answers are DNS errors)"},
    {"resolver.trust-anchor", OptionType::string, "/usr/share/dns/root.key",
     "DNSSEC trust anchor file"},
    {"resolver.unbound-config", OptionType::string, "",
     "an unbound.conf(5) file read by libunbound (local zones, stub zones, more anchors)"},
    {"resolver.timeout", OptionType::duration, "5s", "how long one lookup may take"},
    {"resolver.stage-budget", OptionType::duration, "12s",
     "how long the recipient stage waits for outstanding lookups"},
    {"resolver.msg-cache-size", OptionType::size, "32m", "libunbound message cache size"},
    {"resolver.rrset-cache-size", OptionType::size, "64m", "libunbound RRset cache size"},
    {"resolver.outgoing-range", OptionType::number, "1024",
     "how many queries libunbound may have outstanding"},
    {"rdns.max-names", OptionType::number, "10", "PTR names checked for forward confirmation"},
    {"dnsbl.zone", OptionType::list, "",
     "DNSBL/DNSWL zone as zone[=filter][*weight], e.g. zen.example=127.0.0.[2..11]*3"},
    {"dnsbl.threshold", OptionType::number, "1", "weight at which dnsbl-listed applies"},
    {"dnsbl.txt-max-length", OptionType::number, "200",
     "longest DNSBL TXT reason copied into a reply"},
    {"rhsbl.zone", OptionType::list, "",
     "RHSBL zone for domain names as zone[=filter][*weight], e.g. dbl.example=127.0.1.[2..99]"},
    {"rhsbl.threshold", OptionType::number, "1", "weight at which rhsbl-listed applies"},
    {"spf.receiver", OptionType::string, "",
     "this host's name in SPF (%{r}) and Received-SPF (empty: the MTA's j macro)"},
    {"spf.default-explanation", OptionType::string,
     "%{o} does not designate %{c} as a permitted sender",
     "explanation of an SPF fail when the domain gives none (SPF macros allowed)"},
    {"spf.void-lookup-limit", OptionType::number, "2",
     "DNS lookups without an answer one SPF evaluation may make (RFC 7208 section 4.6.4)"},
    {"spf.add-header", OptionType::boolean, "yes",
     "add a Received-SPF: header with the SPF result to accepted mail"},
    {"allow.network", OptionType::list, "",
     "clients in these networks skip the connection and HELO checks"},
    {"allow.hostname", OptionType::list, "",
     "clients whose verified PTR name is or ends in one of these skip the connection and HELO checks"},
    {"deny.network", OptionType::list, "", "clients in these networks are refused (deny-network)"},
    {"deny.sender", OptionType::list, "",
     "envelope senders refused (deny-sender): user@domain, @domain or domain"},
    {"policy.dns-error", OptionType::choice, "tempfail",
     "what a failed lookup does for a check that would act", "tempfail|log|ignore"},
    {"policy.score-tempfail", OptionType::number, "0",
     "total score at which the client is tempfailed (0: off)"},
    {"policy.score-reject", OptionType::number, "0",
     "total score at which the client is rejected (0: off)"},
};

std::vector<OptionSpec> build_table(std::span<const RuleSpec> rules,
                                    std::deque<std::string> &storage) {
    std::vector<OptionSpec> table(std::begin(fixed_options), std::end(fixed_options));
    for (const auto &rule : rules) {
        const auto &name = storage.emplace_back("policy." + std::string(rule.id));
        const auto &help = storage.emplace_back(
            "action when " + std::string(rule.summary) +
            ": ignore, log, tempfail, reject or score:N");
        table.push_back({name, OptionType::action, rule.default_action, help});
    }
    return table;
}

std::vector<std::string> split_words(std::string_view text) {
    std::vector<std::string> words;
    std::istringstream in{std::string(text)};
    for (std::string word; in >> word;)
        words.push_back(word);
    return words;
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

class Converter {
  public:
    Converter(std::span<const OptionSpec> options, const po::variables_map &values,
              const ConfigFileIndex &index, std::vector<ConfigError> &errors)
        : options_(options), values_(values), index_(index), errors_(errors) {}

    std::string text(std::string_view name) {
        if (values_.count(std::string(name)))
            return values_[std::string(name)].as<std::string>();
        return std::string(spec(name).default_value);
    }

    std::vector<std::string> list(std::string_view name) {
        if (values_.count(std::string(name))) {
            std::vector<std::string> out;
            for (const auto &value : values_[std::string(name)].as<std::vector<std::string>>())
                for (auto &word : split_words(value))
                    out.push_back(word);
            return out;
        }
        return split_words(spec(name).default_value);
    }

    bool boolean(std::string_view name) {
        const auto value = to_lower(text(name));
        if (value == "yes" || value == "true" || value == "on" || value == "1")
            return true;
        if (value == "no" || value == "false" || value == "off" || value == "0")
            return false;
        fail(name, value, "expected yes or no, not '" + value + "'");
        return false;
    }

    double number(std::string_view name) {
        const auto value = text(name);
        double number = 0;
        auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
        if (value.empty() || error != std::errc() || end != value.data() + value.size() ||
            !std::isfinite(number)) {
            fail(name, value, "expected a number, not '" + value + "'");
            return 0;
        }
        return number;
    }

    unsigned whole_number(std::string_view name, unsigned low, unsigned high) {
        const double value = number(name);
        if (value < low || value > high || value != std::floor(value)) {
            fail(name, text(name),
                 "expected a whole number from " + std::to_string(low) + " to " +
                     std::to_string(high));
            return low;
        }
        return static_cast<unsigned>(value);
    }

    std::chrono::milliseconds duration(std::string_view name) {
        const auto value = text(name);
        auto parsed = parse_duration(value);
        if (!parsed || parsed->count() <= 0) {
            fail(name, value, "expected a duration such as 5s or 250ms, not '" + value + "'");
            return std::chrono::milliseconds(1000);
        }
        return *parsed;
    }

    std::uint64_t size(std::string_view name) {
        const auto value = text(name);
        auto parsed = parse_size(value);
        if (!parsed) {
            fail(name, value, "expected a size such as 32m, not '" + value + "'");
            return 1 << 20;
        }
        return *parsed;
    }

    std::string choice(std::string_view name) {
        const auto value = text(name);
        std::string choices(spec(name).choices);
        for (auto &c : choices)
            if (c == '|')
                c = ' ';
        for (const auto &allowed : split_words(choices))
            if (allowed == value)
                return value;
        fail(name, value, "expected one of " + std::string(spec(name).choices) + ", not '" +
                              value + "'");
        return split_words(choices).front();
    }

    std::vector<Network> networks(std::string_view name) {
        std::vector<Network> out;
        for (const auto &word : list(name)) {
            if (auto network = Network::parse(word))
                out.push_back(*network);
            else
                fail(name, word, "'" + word + "' is not an address or network (CIDR)");
        }
        return out;
    }

    Action action(std::string_view name) {
        const auto value = text(name);
        if (auto action = Action::parse(value))
            return *action;
        fail(name, value,
             "expected ignore, log, tempfail, reject or score:N, not '" + value + "'");
        return Action{ActionKind::log};
    }

    void fail(std::string_view name, std::string_view value, std::string message) {
        ConfigError error;
        error.file = index_.file();
        error.option = std::string(name);
        error.line = index_.line_of(name, value);
        error.message = std::move(message);
        errors_.push_back(std::move(error));
    }

  private:
    const OptionSpec &spec(std::string_view name) const {
        for (const auto &option : options_)
            if (option.name == name)
                return option;
        throw std::logic_error("undeclared option " + std::string(name));
    }

    std::span<const OptionSpec> options_;
    const po::variables_map &values_;
    const ConfigFileIndex &index_;
    std::vector<ConfigError> &errors_;
};

std::string resolve_path(const std::filesystem::path &base, const std::string &path) {
    if (path.empty() || std::filesystem::path(path).is_absolute())
        return path;
    return (base / path).lexically_normal().string();
}

void convert(Converter &in, std::span<const RuleSpec> rules, Config &config,
             const std::filesystem::path &base) {
    config.socket = in.text("socket");
    const auto mode = in.text("socket-mode");
    unsigned mode_bits = 0;
    auto [mode_end, mode_error] =
        std::from_chars(mode.data(), mode.data() + mode.size(), mode_bits, 8);
    if (mode.empty() || mode_error != std::errc() || mode_end != mode.data() + mode.size() ||
        mode_bits > 0777)
        in.fail("socket-mode", mode, "expected octal permissions such as 0660, not '" + mode + "'");
    config.socket_mode = mode_bits;
    config.pid_file = in.text("pid-file");
    config.user = in.text("user");
    config.group = in.text("group");
    config.dry_run = in.choice("mode") == "dry-run";
    config.log_facility = in.choice("log-facility");
    for (const auto &recipient : in.list("exempt-recipients"))
        config.exempt_recipients.push_back(to_lower(recipient));
    config.trusted_networks = in.networks("trusted-networks");
    for (const auto &name : in.list("own-hostnames"))
        config.own_hostnames.push_back(normalize_host(name));
    for (const auto &word : in.list("own-addresses")) {
        if (auto address = IpAddress::parse(word))
            config.own_addresses.push_back(*address);
        else
            in.fail("own-addresses", word, "'" + word + "' is not an IP address");
    }
    config.reply_url = in.text("reply-url");
    config.replies_file = resolve_path(base, in.text("replies-file"));
    for (const auto &file : in.list("generic-rdns-patterns"))
        config.generic_rdns_files.push_back(resolve_path(base, file));

    config.resolver.forward = in.list("resolver.forward");
    for (const auto &forward : config.resolver.forward) {
        const auto at = forward.find('@');
        bool valid = IpAddress::parse(forward.substr(0, at)).has_value();
        if (valid && at != std::string::npos) {
            const auto port = forward.substr(at + 1);
            unsigned number = 0;
            auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
            valid = !port.empty() && error == std::errc() && end == port.data() + port.size() &&
                    number > 0 && number < 65536;
        }
        if (!valid)
            in.fail("resolver.forward", forward,
                    "'" + forward + "' is not IP or IP@PORT");
    }
    config.resolver.dnssec = in.boolean("resolver.dnssec");
    config.resolver.trust_anchor = resolve_path(base, in.text("resolver.trust-anchor"));
    config.resolver.unbound_config = resolve_path(base, in.text("resolver.unbound-config"));
    config.resolver.timeout = in.duration("resolver.timeout");
    config.resolver.stage_budget = in.duration("resolver.stage-budget");
    if (config.resolver.stage_budget > std::chrono::seconds(25))
        in.fail("resolver.stage-budget", in.text("resolver.stage-budget"),
                "must stay below 25s, under the MTA's milter command timeout");
    config.resolver.msg_cache_size = in.size("resolver.msg-cache-size");
    config.resolver.rrset_cache_size = in.size("resolver.rrset-cache-size");
    config.resolver.outgoing_range = in.whole_number("resolver.outgoing-range", 16, 65536);

    config.rdns_max_names = in.whole_number("rdns.max-names", 1, 100);
    for (const auto &entry : in.list("dnsbl.zone")) {
        std::string error;
        if (auto zone = DnsblZone::parse(entry, &error))
            config.dnsbl_zones.push_back(*zone);
        else
            in.fail("dnsbl.zone", entry, "'" + entry + "': " + error);
    }
    config.dnsbl_threshold = in.number("dnsbl.threshold");
    config.dnsbl_txt_max_length = in.whole_number("dnsbl.txt-max-length", 0, 900);

    for (const auto &entry : in.list("rhsbl.zone")) {
        std::string error;
        if (auto zone = DnsblZone::parse(entry, &error))
            config.rhsbl_zones.push_back(*zone);
        else
            in.fail("rhsbl.zone", entry, "'" + entry + "': " + error);
    }
    config.rhsbl_threshold = in.number("rhsbl.threshold");
    config.spf.receiver = normalize_host(in.text("spf.receiver"));
    config.spf.default_explanation = in.text("spf.default-explanation");
    config.spf.void_lookup_limit = in.whole_number("spf.void-lookup-limit", 0, 10);
    config.spf.add_header = in.boolean("spf.add-header");

    config.allow_networks = in.networks("allow.network");
    config.deny_networks = in.networks("deny.network");
    for (const auto &name : in.list("allow.hostname"))
        config.allow_hostnames.push_back(normalize_host(name));
    for (const auto &sender : in.list("deny.sender"))
        config.deny_senders.push_back(to_lower(sender));

    for (const auto &rule : rules) {
        const std::string name = "policy." + std::string(rule.id);
        const Action action = in.action(name);
        if (!rule.may_reject && action.kind == ActionKind::reject)
            in.fail(name, in.text(name),
                    "a temporary error never rejects: use tempfail, log, ignore or score:N");
        config.actions[std::string(rule.id)] = action;
    }
    config.dns_error_action = *Action::parse(in.choice("policy.dns-error"));
    config.score_tempfail = in.number("policy.score-tempfail");
    config.score_reject = in.number("policy.score-reject");
}

} // namespace

std::span<const OptionSpec> option_table(std::span<const RuleSpec> rules) {
    // One table per rule list; the program has one (the checks' rules),
    // tests a few.
    struct Table {
        std::deque<std::string> storage; // owns the generated names and help texts
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
    std::string out = file.empty() ? "command line" : file;
    if (line > 0)
        out += ":" + std::to_string(line);
    if (!option.empty())
        out += ": " + option;
    return out + ": " + message;
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
        result.errors.push_back(ConfigError{"", 0, "", error.what()});
        return result;
    }

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

    Converter converter(options, values, index, result.errors);
    Config config;
    config.source_file = file;
    const std::filesystem::path base = file.empty()
                                           ? std::filesystem::path("/etc/portcullis")
                                           : std::filesystem::absolute(file).parent_path();
    convert(converter, rules, config, base);
    if (result.errors.empty())
        result.config = std::move(config);
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
    return std::nullopt;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::uint64_t number = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end == text.data() || number > (1ull << 40))
        return std::nullopt;
    const auto unit = to_lower(
        std::string_view(end, static_cast<std::size_t>(text.data() + text.size() - end)));
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
