#include "checks/check.hpp"
#include "core/config.hpp"
#include "core/config_file.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

using namespace portcullis;

namespace {

struct TempFile {
    explicit TempFile(const std::string &text) {
        char name[] = "/tmp/portcullis-config-XXXXXX";
        const int fd = mkstemp(name);
        REQUIRE(fd >= 0);
        close(fd);
        path = name;
        std::ofstream(path) << text;
    }
    ~TempFile() { std::remove(path.c_str()); }
    std::string path;
};

} // namespace

TEST_CASE("defaults load without a file and match the issue's policy") {
    auto loaded = load_config("");
    REQUIRE(loaded.config);
    const Config &config = *loaded.config;
    CHECK(config.socket == "unix:/run/portcullis/portcullis.sock");
    CHECK(config.resolver.dnssec);
    CHECK(config.resolver.trust_anchor == "/usr/share/dns/root.key");
    REQUIRE(config.exempt_recipients.size() == 2);
    CHECK(config.exempt_recipients[0].text() == "postmaster@*");
    CHECK(config.exempt_recipients[1].text() == "abuse@*");
    CHECK(config.action_for("rdns-missing").kind == ActionKind::reject);
    CHECK(config.action_for("rdns-unconfirmed").kind == ActionKind::tempfail);
    CHECK(config.action_for("rdns-generic").kind == ActionKind::log);
    CHECK(config.action_for("helo-unresolvable").kind == ActionKind::log);
    CHECK(config.dns_error_action.kind == ActionKind::tempfail);
    CHECK(config.resolver.stage_budget < std::chrono::seconds(25));
    CHECK(config.resolver.renew_after == std::chrono::seconds(30));
    CHECK(config.action_for("spf-fail").kind == ActionKind::reject);
    CHECK(config.action_for("spf-softfail").kind == ActionKind::log);
    CHECK(config.action_for("spf-temperror").kind == ActionKind::tempfail);
    CHECK(config.action_for("spf-permerror").kind == ActionKind::reject);
    CHECK(config.action_for("sender-domain-missing").kind == ActionKind::reject);
    CHECK(config.action_for("sender-null-mx").kind == ActionKind::reject);
    CHECK(config.action_for("rhsbl-listed").kind == ActionKind::reject);
    CHECK(config.spf.add_header);
    CHECK(config.spf.receiver.empty());
    CHECK(config.spf.void_lookup_limit == 2);
    CHECK(config.rhsbl_zones.empty());
    CHECK(config.rhsbl_threshold == 1);
}

TEST_CASE("the shipped configuration is valid") {
    auto loaded = load_config(SOURCE_ROOT "/rules/portcullis.conf");
    for (const auto &error : loaded.errors)
        MESSAGE(error.to_string());
    REQUIRE(loaded.config);
    CHECK(loaded.config->replies_file == SOURCE_ROOT "/rules/replies.conf");
}

// rules/portcullis.conf presents itself as the shipped defaults: every
// option it sets (commented-out lines are examples, not defaults) must
// read exactly as the option table's default, a list word for word over
// all its lines, so that the file cannot drift from the code.
TEST_CASE("the shipped configuration sets options only to the table's defaults") {
    const std::string shipped = SOURCE_ROOT "/rules/portcullis.conf";
    const ConfigFileIndex index(shipped);
    REQUIRE(index.readable());
    REQUIRE(index.syntax_errors().empty());
    auto words = [](std::string_view text) {
        std::vector<std::string> out;
        std::istringstream in{std::string(text)};
        for (std::string word; in >> word;)
            out.push_back(word);
        return out;
    };
    std::map<std::string, std::vector<std::string>> lists; // list option -> words set
    std::map<std::string, int> first_line;
    int checked = 0;
    for (const auto &entry : index.entries()) {
        const OptionSpec *spec = nullptr;
        for (const auto &option : option_table())
            if (option.name == entry.option)
                spec = &option;
        CHECK_MESSAGE(spec, shipped << ":" << entry.line << ": unknown option " << entry.option);
        if (!spec)
            continue;
        ++checked;
        if (spec->type == OptionType::list) {
            first_line.emplace(entry.option, entry.line);
            for (auto &word : words(entry.value))
                lists[entry.option].push_back(word);
            continue;
        }
        CHECK_MESSAGE(entry.value == spec->default_value,
                      shipped << ":" << entry.line << ": " << entry.option << " = " << entry.value
                              << ", but the table's default is '" << spec->default_value << "'");
    }
    for (const auto &[name, value] : lists) {
        std::string default_value;
        for (const auto &option : option_table())
            if (option.name == name)
                default_value = option.default_value;
        std::string set;
        for (const auto &word : value)
            set += (set.empty() ? "" : " ") + word;
        CHECK_MESSAGE(value == words(default_value),
                      shipped << ":" << first_line[name] << ": " << name << " = " << set
                              << ", but the table's default is '" << default_value << "'");
    }
    CHECK(checked > 0);
}

TEST_CASE("a file sets options by section and lists accumulate") {
    TempFile file("mode = dry-run\n"
                  "[resolver]\nforward = 127.0.0.1@5300\nforward = ::1\ntimeout = 250ms\n"
                  "[dnsbl]\nzone = a.example=127.0.0.[2..11]*3\nzone = b.example*-2 c.example\n"
                  "threshold = 2.5\n"
                  "[policy]\nrdns-generic = score:1.5\n");
    auto loaded = load_config(file.path);
    for (const auto &error : loaded.errors)
        MESSAGE(error.to_string());
    REQUIRE(loaded.config);
    const Config &config = *loaded.config;
    CHECK(config.dry_run);
    CHECK(config.resolver.forward == std::vector<std::string>{"127.0.0.1@5300", "::1"});
    CHECK(config.resolver.timeout == std::chrono::milliseconds(250));
    REQUIRE(config.dnsbl_zones.size() == 3);
    CHECK(config.dnsbl_zones[1].weight == -2);
    CHECK(config.dnsbl_threshold == 2.5);
    CHECK(config.action_for("rdns-generic").score == 1.5);
}

TEST_CASE("configuration errors name the file, the line and the option") {
    struct Row {
        const char *name;
        const char *text;
        int line;
        const char *option;
        const char *message_part;
    };
    const Row rows[] = {
        {"misspelt option", "mode = enforce\n[dnsbl]\nzonee = bl.example\n", 3, "dnsbl.zonee",
         "did you mean 'dnsbl.zone'"},
        {"malformed DNSBL entry", "[dnsbl]\nzone = ok.example\nzone = bl.example=127.0.0.[2..\n", 3,
         "dnsbl.zone", "filter"},
        {"bad action", "[policy]\n\nrdns-missing = bounce\n", 3, "policy.rdns-missing", "bounce"},
        {"bad boolean", "[resolver]\ndnssec = maybe\n", 2, "resolver.dnssec", "yes or no"},
        {"bad network", "trusted-networks = 192.0.2.0/33\n", 1, "trusted-networks", "192.0.2.0/33"},
        {"bad duration", "[resolver]\ntimeout = soon\n", 2, "resolver.timeout", "duration"},
        {"budget over the MTA timeout", "[resolver]\nstage-budget = 40s\n", 2,
         "resolver.stage-budget", "25s"},
        {"renewal every few lookups", "[resolver]\nrenew-after = 200ms\n", 2,
         "resolver.renew-after", "at least 1s"},
        {"bad forwarder", "[resolver]\nforward = 127.0.0.1@99999\n", 2, "resolver.forward",
         "IP@PORT"},
        {"line without =", "mode dry-run\n", 1, "", "expected 'option = value'"},
        {"bad choice", "mode = maybe\n", 1, "mode", "enforce|dry-run"},
        {"single option twice", "mode = enforce\nmode = dry-run\n", 2, "mode", "more than once"},
        {"a temporary SPF error set to reject", "[policy]\nspf-temperror = reject\n", 2,
         "policy.spf-temperror", "never rejects"},
        {"the HELO one too", "[policy]\nspf-helo-temperror = reject\n", 2,
         "policy.spf-helo-temperror", "never rejects"},
        {"malformed RHSBL entry", "[rhsbl]\nzone = dbl.example*heavy\n", 2, "rhsbl.zone",
         "dbl.example*heavy"},
        {"void lookup limit out of range", "[spf]\nvoid-lookup-limit = 11\n", 2,
         "spf.void-lookup-limit", "0 to 10"},
    };
    for (const auto &row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        TempFile file(row.text);
        CAPTURE(file.path);
        auto loaded = load_config(file.path);
        CHECK_FALSE(loaded.config);
        REQUIRE_FALSE(loaded.errors.empty());
        const auto &error = loaded.errors.front();
        CHECK(error.file == file.path);
        CHECK(error.line == row.line);
        CHECK(error.option == row.option);
        CAPTURE(error.message);
        CHECK(error.message.find(row.message_part) != std::string::npos);
        CHECK(error.to_string().find(file.path + ":" + std::to_string(row.line)) == 0);
    }
}

TEST_CASE("a missing file is an error") {
    auto loaded = load_config("/nonexistent/portcullis.conf");
    CHECK_FALSE(loaded.config);
    REQUIRE(loaded.errors.size() == 1);
    CHECK(loaded.errors[0].message == "cannot read the file");
}

TEST_CASE("command-line overrides win over the file") {
    TempFile file("mode = dry-run\n");
    auto loaded = load_config(file.path, {{"mode", "enforce"}, {"dnsbl.zone", "x.example*2"}});
    REQUIRE(loaded.config);
    CHECK_FALSE(loaded.config->dry_run);
    CHECK(loaded.config->dnsbl_zones.size() == 1);
}

TEST_CASE("an empty spf.default-explanation means the default, as SPF has none of its own") {
    TempFile file("[spf]\ndefault-explanation =\n");
    auto loaded = load_config(file.path);
    REQUIRE(loaded.config);
    CHECK(loaded.config->spf.default_explanation ==
          "%{o} does not designate %{c} as a permitted sender");
}

TEST_CASE("each rule's policy option takes an action for that rule, from its declared default") {
    // Every rule at once, each with a score of its own, so that a rule
    // whose option is not read, or is read into another rule, shows.
    std::vector<std::pair<std::string, std::string>> overrides;
    for (std::size_t i = 0; i < rule_table().size(); ++i)
        overrides.emplace_back("policy." + std::string(rule_table()[i].id),
                               "score:" + std::to_string(i + 1));
    const auto scored = load_config("", overrides);
    REQUIRE(scored.config);
    const auto defaults = load_config("");
    REQUIRE(defaults.config);
    for (std::size_t i = 0; i < rule_table().size(); ++i) {
        const auto &rule = rule_table()[i];
        CAPTURE(rule.id);
        CHECK(scored.config->action_for(rule.id) ==
              Action{ActionKind::score, static_cast<double>(i + 1)});
        CHECK(defaults.config->action_for(rule.id) == *Action::parse(rule.default_action));
    }
}

TEST_CASE("a rule that may not reject refuses reject, whatever rule it is") {
    const RuleSpec rules[] = {
        {.id = "may-reject", .default_action = "log"},
        {.id = "never-rejects", .default_action = "tempfail", .may_reject = false},
    };
    CHECK(load_config(rules, "", {{"policy.may-reject", "reject"}}).config);
    const auto refused = load_config(rules, "", {{"policy.never-rejects", "reject"}});
    CHECK_FALSE(refused.config);
    REQUIRE(refused.errors.size() == 1);
    CHECK(refused.errors[0].option == "policy.never-rejects");
    CHECK_FALSE(load_config(rules, "", {{"policy.rdns-missing", "reject"}}).config);
}

TEST_CASE("durations and sizes") {
    CHECK(parse_duration("5s") == std::chrono::milliseconds(5000));
    CHECK(parse_duration("250ms") == std::chrono::milliseconds(250));
    CHECK(parse_duration("2m") == std::chrono::milliseconds(120000));
    CHECK(parse_duration("3") == std::chrono::milliseconds(3000));
    CHECK(parse_duration("12h") == std::chrono::milliseconds(12 * 3600000));
    CHECK(parse_duration("36d") == std::chrono::milliseconds(36LL * 86400000));
    CHECK_FALSE(parse_duration("5w"));
    CHECK_FALSE(parse_duration("5 h"));
    CHECK_FALSE(parse_duration("-1s"));
    CHECK(parse_size("32m") == 32u << 20);
    CHECK(parse_size("1G") == 1u << 30);
    CHECK_FALSE(parse_size("lots"));
}

// The command line wins over the file, so its errors are its own: they
// were reported as "FILE: OPTION: ..." (or at the line the command line
// overrode), as if the file were at fault.
TEST_CASE("defect: an error in a command-line option is blamed on the file") {
    TempFile file("mode = enforce\n[resolver]\ntimeout = 5s\n[dnsbl]\nzone = ok.example\n");
    const auto loaded = load_config(file.path, {{"mode", "maybe"},
                                                {"resolver.timeout", "soon"},
                                                {"dnsbl.zone", "bad.example=127.0.0.[2.."}});
    CHECK_FALSE(loaded.config);
    REQUIRE(loaded.errors.size() == 3);
    for (const auto &error : loaded.errors) {
        CAPTURE(error.to_string());
        CHECK(error.to_string().rfind("command line: " + error.option + ": ", 0) == 0);
    }

    // A list adds the command line's words to the file's: an error in a
    // word of the file still names its line.
    TempFile list("[dnsbl]\nzone = ok.example\nzone = bad.example=127.0.0.[2..\n");
    const auto mixed = load_config(list.path, {{"dnsbl.zone", "more.example"}});
    REQUIRE(mixed.errors.size() == 1);
    CHECK(mixed.errors[0].to_string().rfind(list.path + ":3: dnsbl.zone: ", 0) == 0);
}

TEST_CASE("Config::error locates a value where it was set, for the later load steps") {
    TempFile file("replies-file = my-replies.conf\n"
                  "generic-rdns-patterns = a.conf\n"
                  "generic-rdns-patterns = b.conf /abs/c.conf\n");
    const auto loaded = load_config(file.path, {{"user", "nobody"}});
    for (const auto &error : loaded.errors)
        MESSAGE(error.to_string());
    REQUIRE(loaded.config);
    const Config &config = *loaded.config;
    const auto directory = std::filesystem::path(file.path).parent_path();
    CHECK(config.error("replies-file", config.replies_file, "gone").to_string() ==
          file.path + ":1: replies-file: gone");
    CHECK(config.error("generic-rdns-patterns", (directory / "a.conf").string(), "x").line == 2);
    CHECK(config.error("generic-rdns-patterns", (directory / "b.conf").string(), "x").line == 3);
    CHECK(config.error("generic-rdns-patterns", "/abs/c.conf", "x").line == 3);
    CHECK(config.error("user", config.user, "no such user").to_string() ==
          "command line: user: no such user");
    CHECK(config.error("resolver.trust-anchor", config.resolver.trust_anchor, "gone").to_string() ==
          "default: resolver.trust-anchor: gone");
    Config by_hand;
    CHECK(by_hand.error("group", "", "no such group").to_string() ==
          "default: group: no such group");
}

TEST_CASE("a configuration with errors still comes back converted, for the later load steps") {
    TempFile file("replies-file = mine.conf\nmode = maybe\n[dnsbl]\nzonee = x\n");
    const auto loaded = load_config(file.path);
    CHECK_FALSE(loaded.config);
    REQUIRE(loaded.partial);
    CHECK(loaded.errors.size() == 2);
    CHECK(loaded.partial->replies_file ==
          (std::filesystem::path(file.path).parent_path() / "mine.conf").string());
    // A file that cannot be parsed gives nothing to go on.
    TempFile broken("mode dry-run\n");
    CHECK_FALSE(load_config(broken.path).partial);
    CHECK_FALSE(load_config("/nonexistent/portcullis.conf").partial);
}
