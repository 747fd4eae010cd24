// The options of memory across sessions: the state store (state.*),
// greylisting (greylist.*) and the abuse counters (limits.*).
#include "option_binding.hpp"

#include <string>

namespace portcullis {

namespace {

using namespace std::chrono_literals;

constexpr std::pair<std::string_view, Config::GreylistTrigger> trigger_names[] = {
    {"no-fcrdns", Config::GreylistTrigger::no_fcrdns},
    {"generic-rdns", Config::GreylistTrigger::generic_rdns},
    {"dnsbl-score", Config::GreylistTrigger::dnsbl_score},
    {"spf-softfail", Config::GreylistTrigger::spf_softfail},
    {"spf-neutral", Config::GreylistTrigger::spf_neutral},
    {"spf-none", Config::GreylistTrigger::spf_none},
    {"helo-unresolved", Config::GreylistTrigger::helo_unresolved},
};

std::vector<Config::GreylistTrigger> triggers(const OptionValue &in) {
    std::vector<Config::GreylistTrigger> out;
    for (const auto &word : in.list()) {
        bool known = false;
        for (const auto &[name, trigger] : trigger_names)
            if (word == name) {
                known = true;
                out.push_back(trigger);
            }
        if (!known)
            in.fail(word, "'" + word +
                              "' is not a trigger (no-fcrdns, generic-rdns, dnsbl-score, "
                              "spf-softfail, spf-neutral, spf-none, helo-unresolved)");
    }
    return out;
}

constexpr BoundOption options[] = {
    {{"state.backend", OptionType::choice, "lmdb",
      "where greylisting and the abuse counters keep their state: lmdb (embedded) or redis "
      "(shared by several MX hosts)",
      "lmdb|redis"},
     [](const OptionValue &in, Config &config) { config.state.backend = in.choice(); }},
    {{"state.path", OptionType::string, "/var/lib/portcullis",
      "the LMDB directory (portcullis.mdb inside); created at start, owned by user"},
     [](const OptionValue &in, Config &config) {
         config.state.path = in.path();
         if (config.state.path.empty())
             in.fail(in.written(), "must name a directory");
     }},
    {{"state.map-size", OptionType::size, "256m",
      "the most the LMDB file may grow to (sparse: disk is used as entries are written)"},
     [](const OptionValue &in, Config &config) {
         config.state.map_size = in.size();
         if (config.state.map_size < (1u << 20))
             in.fail(in.written(), "must be at least 1m");
     }},
    {{"state.redis", OptionType::string, "redis://127.0.0.1:6379/0",
      "the Redis server with state.backend = redis: redis://HOST:PORT/DB or unix:/PATH[?db=N]"},
     [](const OptionValue &in, Config &config) { config.state.redis = in.text(); }},
    {{"state.timeout", OptionType::duration, "250ms",
      "the longest a session waits for one call to the Redis server"},
     [](const OptionValue &in, Config &config) {
         config.state.timeout = duration_in(in, 1ms, 5s, "between 1ms and 5s");
     }},
    {{"state.pool-size", OptionType::number, "4", "connections kept open to the Redis server"},
     [](const OptionValue &in, Config &config) {
         config.state.pool_size = in.whole_number(1, 256);
     }},
    {{"state.breaker-failures", OptionType::number, "3",
      "consecutive failed Redis calls after which calls are refused at once for "
      "state.breaker-interval"},
     [](const OptionValue &in, Config &config) {
         config.state.breaker_failures = in.whole_number(1, 1000);
     }},
    {{"state.breaker-interval", OptionType::duration, "10s",
      "how long Redis calls are refused after state.breaker-failures failures (then one trial "
      "call); also how often a store failure is logged"},
     [](const OptionValue &in, Config &config) {
         config.state.breaker_interval = duration_in(in, 100ms, 1h, "between 100ms and 1h");
     }},
    {{"state.sweep-interval", OptionType::duration, "1m",
      "how often expired LMDB entries are removed"},
     [](const OptionValue &in, Config &config) {
         config.state.sweep_interval = duration_in(in, 1s, 24h, "between 1s and 1d");
     }},

    {{"greylist.mode", OptionType::choice, "suspicious",
      "greylist every client (all), those with a greylist.triggers finding (suspicious), or none "
      "(off)",
      "off|all|suspicious"},
     [](const OptionValue &in, Config &config) {
         const auto mode = in.choice();
         config.greylist.mode = mode == "all"          ? Config::Greylist::Mode::all
                                : mode == "suspicious" ? Config::Greylist::Mode::suspicious
                                                       : Config::Greylist::Mode::off;
     }},
    {{"greylist.triggers", OptionType::list,
      "no-fcrdns generic-rdns dnsbl-score spf-softfail spf-neutral spf-none helo-unresolved",
      "the findings that make a client suspicious to greylist.mode = suspicious"},
     [](const OptionValue &in, Config &config) { config.greylist.triggers = triggers(in); }},
    {{"greylist.prefix-v4", OptionType::number, "24",
      "the IPv4 network a greylist entry covers (bits)"},
     [](const OptionValue &in, Config &config) {
         config.greylist.prefix_v4 = in.whole_number(8, 32);
     }},
    {{"greylist.prefix-v6", OptionType::number, "64",
      "the IPv6 network a greylist entry covers (bits)"},
     [](const OptionValue &in, Config &config) {
         config.greylist.prefix_v6 = in.whole_number(16, 128);
     }},
    {{"greylist.delay", OptionType::duration, "5m",
      "how long after its first try a triplet's retry is accepted"},
     [](const OptionValue &in, Config &config) {
         config.greylist.delay = duration_in(in, 1s, 24h, "between 1s and 1d");
     }},
    {{"greylist.retry-window", OptionType::duration, "2d",
      "how long after its first try a retry still counts; later it starts afresh"},
     [](const OptionValue &in, Config &config) {
         config.greylist.retry_window = duration_in(in, 1s, 720h, "between 1s and 30d");
     }},
    {{"greylist.allow-time", OptionType::duration, "36d",
      "how long a client network (or pool domain) passes without delay after a passed retry, "
      "renewed by accepted mail"},
     [](const OptionValue &in, Config &config) {
         config.greylist.allow_time = duration_in(in, 1s, 87600h, "between 1s and 3650d");
     }},
    {{"greylist.on-store-error", OptionType::choice, "pass",
      "what greylisting does when the state store fails: let the mail pass, or tempfail it "
      "(rule state-error)",
      "pass|tempfail"},
     [](const OptionValue &in, Config &config) {
         config.greylist.tempfail_on_store_error = in.choice() == "tempfail";
     }},

    {{"limits.window", OptionType::duration, "1h",
      "the sliding window the abuse counters count over"},
     [](const OptionValue &in, Config &config) {
         config.limits.window = duration_in(in, 1s, 720h, "between 1s and 30d");
     }},
    {{"limits.block-time", OptionType::duration, "1h",
      "how long a client address past a limit gets 421 at its first command"},
     [](const OptionValue &in, Config &config) {
         config.limits.block_time = duration_in(in, 1s, 8760h, "between 1s and 365d");
     }},
    {{"limits.rejected-recipients", OptionType::number, "20",
      "recipients refused (by the MTA or by portcullis) one client address may send within "
      "limits.window (0: not counted)"},
     [](const OptionValue &in, Config &config) {
         config.limits.rejected_recipients = in.whole_number(0, 1000);
     }},
    {{"limits.rsets", OptionType::number, "50",
      "RSET commands one client address may send within limits.window (0: not counted)"},
     [](const OptionValue &in, Config &config) { config.limits.rsets = in.whole_number(0, 1000); }},
    {{"limits.empty-transactions", OptionType::number, "50",
      "transactions that end without a recipient accepted, one client address within "
      "limits.window (0: not counted)"},
     [](const OptionValue &in, Config &config) {
         config.limits.empty_transactions = in.whole_number(0, 1000);
     }},
    {{"limits.unknown-commands", OptionType::number, "10",
      "unknown SMTP commands (as the MTA reports them) one client address may send within "
      "limits.window (0: not counted)"},
     [](const OptionValue &in, Config &config) {
         config.limits.unknown_commands = in.whole_number(0, 1000);
     }},
    {{"limits.errors", OptionType::number, "50",
      "refusals by portcullis of any kind (greylisting aside) one client address may get within "
      "limits.window (0: not counted)"},
     [](const OptionValue &in, Config &config) {
         config.limits.errors = in.whole_number(0, 1000);
     }},
    {{"limits.on-store-error", OptionType::choice, "pass",
      "what the abuse counters do when the state store fails: let the client pass, or tempfail "
      "it (rule state-error)",
      "pass|tempfail"},
     [](const OptionValue &in, Config &config) {
         config.limits.tempfail_on_store_error = in.choice() == "tempfail";
     }},
};

} // namespace

std::span<const BoundOption> memory_options() {
    return options;
}

} // namespace portcullis
