// The immutable configuration a session runs with. Every option is
// declared once in option_table() (name, type, default, help), bound in
// config.cpp to the Config member its value goes to, with the checks it
// needs beyond its type (ranges, octal modes, IP@PORT, zone syntax, ...);
// the Boost.Program_options description, `--help`, the conversion and
// the check against portcullis.conf(5) all come from that table.
// load_config() returns either a Config or errors that name the file,
// line and option; a Config remembers where its options were set, so
// that the later load steps (the files the options name) can report
// their errors the same way (Config::error()).
#pragma once

#include "address.hpp"
#include "address_pattern.hpp"
#include "rule.hpp"
#include "verdict.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

enum class OptionType { string, list, boolean, number, duration, size, action, choice };

struct OptionSpec {
    std::string_view name;
    OptionType type;
    std::string_view default_value; // list defaults are separated by spaces
    std::string_view help;
    std::string_view choices = {}; // for OptionType::choice, separated by '|'
};

// All options, including one policy.<rule> entry per rule of `rules`
// (the rules the checks declare). The table lives as long as the program.
std::span<const OptionSpec> option_table(std::span<const RuleSpec> rules);

struct DnsblZone {
    std::string zone;   // without trailing dot
    std::string filter; // as written ("127.0.0.[2..11]"), empty = any 127/8 answer
    double weight = 1;  // negative for allow lists (DNSWL)
    std::string text;   // the entry as written, for logs

    // Parses "zone[=filter][*weight]" as postscreen_dnsbl_sites does.
    static std::optional<DnsblZone> parse(std::string_view text, std::string *error = nullptr);
    // Does a returned A record (dotted quad) match the filter?
    bool matches(std::string_view address) const;
};

// What is wrong with an option, and where its value came from.
struct ConfigError {
    enum class Source { file, command_line, default_value };
    std::string file; // the configuration file
    int line = 0;     // 0 when not from a file line
    std::string option;
    std::string message;
    Source source = Source::file;
    // "FILE:LINE: OPTION: message" for a line of the file ("FILE: message"
    // for the file as a whole), "command line: OPTION: message" for a
    // --name=value, "default: OPTION: message" for an option not set.
    std::string to_string() const;
};

class OptionOrigins; // config_file.hpp

// Filled in by load_config(). The member initializers are neutral values,
// not defaults: an option's default is written in option_table() only.
struct Config {
    std::string source_file; // the file it was read from, "" for defaults
    std::string socket;
    unsigned socket_mode = 0;
    std::string pid_file;
    std::string user;
    std::string group;
    std::chrono::milliseconds shutdown_grace{};
    bool dry_run = false;
    std::string log_facility;
    std::vector<AddressPattern> exempt_recipients;
    std::vector<Network> trusted_networks;
    std::vector<std::string> own_hostnames; // lower-case
    std::vector<IpAddress> own_addresses;
    std::string reply_url;
    std::string replies_file;                    // resolved path
    std::vector<std::string> generic_rdns_files; // resolved paths

    struct Resolver {
        std::vector<std::string> forward; // "IP[@PORT]"
        bool dnssec = false;
        std::string trust_anchor;
        std::string unbound_config;
        std::chrono::milliseconds timeout{};
        std::chrono::milliseconds renew_after{}; // zero: never
        std::chrono::milliseconds stage_budget{};
        std::uint64_t msg_cache_size = 0;
        std::uint64_t rrset_cache_size = 0;
        unsigned outgoing_range = 0;
        // The answers shared between sessions (session/shared_answers.hpp).
        std::chrono::milliseconds cache_max_ttl{};
        std::size_t cache_entries = 0;
        std::size_t cache_size = 0; // bytes
    } resolver;

    // What one session may cost; 0 is no limit.
    struct SessionBudget {
        unsigned max_helos = 0;
        unsigned max_transactions = 0;
        unsigned max_recipients = 0;
        std::uint64_t max_lookups = 0;
        std::uint64_t max_answer_bytes = 0;
    } session;

    unsigned rdns_max_names = 0;
    std::vector<DnsblZone> dnsbl_zones;
    double dnsbl_threshold = 0;
    unsigned dnsbl_txt_max_length = 0;
    std::vector<DnsblZone> rhsbl_zones; // same syntax, asked for domain names
    double rhsbl_threshold = 0;

    struct Spf {
        std::string receiver;            // lower-case; empty: the MTA's j macro
        std::string default_explanation; // never empty: empty in the file means the default
        unsigned void_lookup_limit = 0;
        bool add_header = false;
    } spf;

    // The message stage (milter/message/): header checks, DKIM and the
    // Authentication-Results field.
    struct Message {
        std::chrono::milliseconds date_past{};   // headers.date-past
        std::chrono::milliseconds date_future{}; // headers.date-future
        unsigned max_fields = 0;                 // headers.max-fields
        std::uint64_t max_bytes = 0;             // headers.max-bytes
        std::vector<std::string> own_domains;    // lower-case, no trailing dot
        bool dkim_verify = false;
        unsigned dkim_max_signatures = 0;
        bool authentication_results = false;
        std::string authserv_id; // lower-case; empty: the MTA's j macro
    } message;

    // The Prometheus endpoint (milter/metrics/).
    struct Metrics {
        std::string listen; // "IP:PORT" or "[IPv6]:PORT"; empty: off
    } metrics;

    // The state store (milter/state/): memory across sessions.
    struct State {
        std::string backend; // "lmdb" or "redis"
        std::string path;    // LMDB directory
        std::uint64_t map_size = 0;
        std::string redis; // URL
        std::chrono::milliseconds timeout{};
        unsigned pool_size = 0;
        unsigned breaker_failures = 0;
        std::chrono::milliseconds breaker_interval{};
        std::chrono::milliseconds sweep_interval{};
        friend bool operator==(const State &, const State &) = default;
    } state;

    // What makes a client suspicious to greylist.mode = suspicious.
    enum class GreylistTrigger {
        no_fcrdns,    // no forward-confirmed PTR name
        generic_rdns, // rdns-generic failed
        dnsbl_score,  // a DNSBL score above 0, below dnsbl.threshold
        spf_softfail, // SPF of MAIL FROM (of HELO for the null sender)
        spf_neutral,
        spf_none,
        helo_unresolved, // helo-unresolvable failed or could not tell
    };
    struct Greylist {
        enum class Mode { off, all, suspicious } mode = Mode::off;
        std::vector<GreylistTrigger> triggers;
        unsigned prefix_v4 = 0;
        unsigned prefix_v6 = 0;
        std::chrono::milliseconds delay{};
        std::chrono::milliseconds retry_window{};
        std::chrono::milliseconds allow_time{};
        bool tempfail_on_store_error = false;
    } greylist;

    // The abuse counters per client address; a limit of 0 is off.
    struct Limits {
        std::chrono::milliseconds window{};
        std::chrono::milliseconds block_time{};
        unsigned rejected_recipients = 0;
        unsigned rsets = 0;
        unsigned empty_transactions = 0;
        unsigned unknown_commands = 0;
        unsigned errors = 0;
        bool tempfail_on_store_error = false;
    } limits;

    std::vector<Network> allow_networks;
    std::vector<Network> deny_networks;
    std::vector<std::string> allow_hostnames; // lower-case suffixes
    std::vector<AddressPattern> deny_senders;

    std::map<std::string, Action, std::less<>> actions; // rule id -> action
    // The rules declared with may_reject = false (temporary conditions):
    // decide() never lets them reject, by action or by score.
    std::set<std::string, std::less<>> never_reject;
    Action dns_error_action;
    double score_tempfail = 0; // 0 disables
    double score_reject = 0;

    const Action &action_for(std::string_view rule) const;

    // Where each option was set (null in a Config made by hand).
    std::shared_ptr<const OptionOrigins> origins;
    // An error about `option`, located as load_config() locates its own:
    // at the line that sets it to a value holding `value` (a word as
    // written, or a file name as resolved), on the command line, or at
    // its default.
    ConfigError error(std::string_view option, std::string_view value, std::string message) const;
};

struct ConfigResult {
    std::optional<Config> config; // only when there are no errors
    // With errors: the configuration converted all the same (a failing
    // option at a harmless value), so that the load steps after this one
    // can check the files it names and report their errors in the same
    // run. Empty when the file could not be read or parsed.
    std::optional<Config> partial;
    std::vector<ConfigError> errors;
};

// Reads `file` (empty: built-in defaults only), then applies `overrides`
// ("name=value" pairs from the command line, which win). Relative file
// names inside the configuration resolve against the file's directory.
// `rules` are the rules the checks declare (policy.<rule> options).
ConfigResult load_config(std::span<const RuleSpec> rules, const std::string &file,
                         const std::vector<std::pair<std::string, std::string>> &overrides = {});

// Parses "250ms", "5s", "2m", "12h", "36d" or a bare number of seconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// Parses "64m", "1g", "512k" or a number of bytes.
std::optional<std::uint64_t> parse_size(std::string_view text);

} // namespace portcullis
