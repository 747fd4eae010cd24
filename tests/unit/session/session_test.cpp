#include "session/report.hpp"
#include "session/session.hpp"
#include "core/log.hpp"
#include "../scripted_resolver.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <optional>

using namespace portcullis;
using portcullis::testing::ScriptedResolver;

namespace {

std::shared_ptr<ScriptedResolver> world() {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->add("10.2.0.192.in-addr.arpa", DnsType::PTR, {"mail.good.example"});
    dns->add("mail.good.example", DnsType::A, {"192.0.2.10"});
    dns->add("mail.good.example", DnsType::AAAA, {});
    dns->add("20.2.0.192.in-addr.arpa", DnsType::PTR, {"forged.example"});
    dns->add("forged.example", DnsType::A, {"198.51.100.1"});
    dns->fail("40.2.0.192.in-addr.arpa", DnsType::PTR, DnsAnswer::Status::timeout);
    dns->add("50.2.0.192.in-addr.arpa", DnsType::PTR, {"mx.listed.example"});
    dns->add("mx.listed.example", DnsType::A, {"192.0.2.50"});
    dns->add("50.2.0.192.bl.example", DnsType::A, {"127.0.0.2"});
    dns->add("50.2.0.192.bl.example", DnsType::TXT, {"Listed: 100% bad\r\nsee http://bl.example/"});
    // Sender domains that exist (the sender-domain check asks).
    for (const char *domain : {"good.example", "x.example", "spam.example"})
        dns->add(domain, DnsType::MX, {"10 mail.good.example"});
    return dns;
}

std::shared_ptr<const Runtime>
runtime_with(std::vector<std::pair<std::string, std::string>> options,
             std::shared_ptr<Resolver> dns = world()) {
    options.emplace_back("dnsbl.zone", "bl.example=127.0.0.[2..11]");
    auto loaded = load_config(SOURCE_ROOT "/rules/portcullis.conf", options);
    for (const auto &error : loaded.errors)
        MESSAGE(error.to_string());
    REQUIRE(loaded.config);
    std::vector<ConfigError> errors;
    auto runtime = Runtime::build(std::move(*loaded.config), errors, std::move(dns));
    for (const auto &error : errors)
        MESSAGE(error.to_string());
    REQUIRE(runtime);
    return runtime;
}

struct Client {
    const char *address;
    const char *helo;
    const char *sender;
};

RecipientAnswer run(const std::shared_ptr<const Runtime> &runtime, const Client &client,
                    const std::string &recipient, const std::string &auth = "") {
    Session session(runtime, "test");
    session.connect(IpAddress::parse(client.address), "client", "mx.dest.example", std::nullopt);
    session.helo(client.helo);
    session.mail(client.sender, auth);
    return session.recipient(recipient);
}

} // namespace

TEST_CASE("sessions enforce connect and HELO verdicts at RCPT") {
    struct Row {
        const char *name;
        Client client;
        const char *recipient;
        Verdict verdict;  // what the MTA is told
        const char *rule; // the deciding rule ("" when none)
        const char *code; // reply code ("" when none)
        const char *status;
    };
    const Row rows[] = {
        {"good client",
         {"192.0.2.10", "mail.good.example", "a@good.example"},
         "u@dest.example",
         Verdict::continue_,
         "",
         "",
         ""},
        {"no PTR",
         {"192.0.2.30", "mail.good.example", "a@good.example"},
         "u@dest.example",
         Verdict::reject,
         "rdns-missing",
         "550",
         "5.7.25"},
        {"postmaster gets through",
         {"192.0.2.30", "mail.good.example", "a@good.example"},
         "Postmaster@dest.example",
         Verdict::continue_,
         "rdns-missing",
         "550",
         "5.7.25"},
        {"abuse gets through",
         {"192.0.2.50", "mx.listed.example", "a@good.example"},
         "abuse@dest.example",
         Verdict::continue_,
         "dnsbl-listed",
         "550",
         "5.7.1"},
        {"forged PTR",
         {"192.0.2.20", "forged.example", "a@good.example"},
         "u@dest.example",
         Verdict::tempfail,
         "rdns-unconfirmed",
         "450",
         "4.7.25"},
        {"PTR lookup timeout",
         {"192.0.2.40", "mail.good.example", "a@good.example"},
         "u@dest.example",
         Verdict::tempfail,
         "rdns-missing",
         "451",
         "4.4.3"},
        {"DNSBL listed",
         {"192.0.2.50", "mx.listed.example", "a@good.example"},
         "u@dest.example",
         Verdict::reject,
         "dnsbl-listed",
         "550",
         "5.7.1"},
        {"HELO with underscore",
         {"192.0.2.10", "bad_name.good.example", "a@good.example"},
         "u@dest.example",
         Verdict::reject,
         "helo-syntax",
         "550",
         "5.5.2"},
        {"matching address literal",
         {"192.0.2.10", "[192.0.2.10]", "a@good.example"},
         "u@dest.example",
         Verdict::continue_,
         "",
         "",
         ""},
        {"mismatching address literal",
         {"192.0.2.10", "[192.0.2.99]", "a@good.example"},
         "u@dest.example",
         Verdict::reject,
         "helo-literal-mismatch",
         "550",
         "5.7.1"},
        {"HELO claims to be us",
         {"192.0.2.10", "mx.dest.example", "a@good.example"},
         "u@dest.example",
         Verdict::reject,
         "helo-claims-us",
         "550",
         "5.7.1"},
        {"trusted network",
         {"127.0.0.1", "bad_name", "a@good.example"},
         "u@dest.example",
         Verdict::continue_,
         "",
         "",
         ""},
    };
    const auto runtime = runtime_with({});
    for (const auto &row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        const auto answer = run(runtime, row.client, row.recipient);
        CHECK(answer.verdict == row.verdict);
        CHECK(answer.rule == row.rule);
        CHECK(answer.reply.code == row.code);
        CHECK(answer.reply.status == row.status);
        if (*row.rule)
            CHECK(answer.reply.text().find(row.rule) != std::string::npos);
    }
}

TEST_CASE("a DNSBL reason reaches the reply clean") {
    const auto answer =
        run(runtime_with({}), {"192.0.2.50", "mx.listed.example", "a@x.example"}, "u@dest.example");
    REQUIRE(answer.verdict == Verdict::reject);
    const auto text = answer.reply.text();
    CHECK(text.find("bl.example") != std::string::npos);
    CHECK(text.find("Listed: 100% bad") != std::string::npos);
    for (const auto &line : answer.reply.lines) {
        CHECK(line.find('\r') == std::string::npos);
        CHECK(line.find('\n') == std::string::npos);
        CHECK(line.find("100%% bad") != std::string::npos);
    }
}

TEST_CASE("authenticated clients skip every check") {
    const auto answer =
        run(runtime_with({}), {"192.0.2.30", "bad_name", "a@x.example"}, "u@dest.example", "alice");
    CHECK(answer.verdict == Verdict::continue_);
    CHECK(answer.policy_verdict == Verdict::continue_);
}

TEST_CASE("dry-run decides but lets the mail through") {
    const auto answer = run(runtime_with({{"mode", "dry-run"}}),
                            {"192.0.2.30", "mail.good.example", "a@x.example"}, "u@dest.example");
    CHECK(answer.verdict == Verdict::continue_);
    CHECK(answer.policy_verdict == Verdict::reject);
    CHECK(answer.dry_run);
    CHECK(answer.rule == "rdns-missing");
}

TEST_CASE("a second HELO naming another host is refused; the same name is fine") {
    const auto runtime = runtime_with({});
    for (const auto &[second, verdict] : {std::pair{"mail.good.example", Verdict::continue_},
                                          std::pair{"other.good.example", Verdict::reject}}) {
        Session session(runtime, "test");
        session.connect(IpAddress::parse("192.0.2.10"), "client", "", std::nullopt);
        session.helo("mail.good.example");
        session.helo(second);
        session.mail("a@good.example", "");
        const auto answer = session.recipient("u@dest.example");
        CHECK(answer.verdict == verdict);
        if (verdict == Verdict::reject)
            CHECK(answer.rule == "helo-changed");
    }
}

TEST_CASE("allow.network skips the connection checks") {
    const auto answer = run(runtime_with({{"allow.network", "192.0.2.0/28"}}),
                            {"192.0.2.10", "bad_name", "a@x.example"}, "u@dest.example");
    CHECK(answer.verdict == Verdict::continue_);
}

TEST_CASE("a transaction reset forgets the sender verdict") {
    Session session(runtime_with({{"deny.sender", "@spam.example"}}), "test");
    session.connect(IpAddress::parse("192.0.2.10"), "client", "", std::nullopt);
    session.helo("mail.good.example");
    session.mail("x@spam.example", "");
    CHECK(session.recipient("u@dest.example").rule == "deny-sender");
    session.reset_transaction();
    session.mail("x@good.example", "");
    CHECK(session.recipient("u@dest.example").verdict == Verdict::continue_);
}

TEST_CASE("the check report says what the milter does") {
    const auto runtime = runtime_with({});
    Session session(runtime, "check");
    session.connect(IpAddress::parse("192.0.2.30"), "", "", std::nullopt);
    session.helo("mail.good.example");
    session.mail("a@good.example", "");
    const auto &evaluation = session.evaluate();
    CheckReport report{session, evaluation, {}, session.render(evaluation.decision, "")};
    report.recipients.push_back(
        {"postmaster@dest.example", session.recipient("postmaster@dest.example")});
    const auto json = report_json(report);
    CHECK(json["verdict"] == "reject");
    CHECK(json["stage"] == "connect");
    CHECK(json["code"] == "550");
    CHECK(json["status"] == "5.7.25");
    CHECK(json["rule"] == "rdns-missing");
    CHECK(json["checks"].size() > 3);
    CHECK(json["recipients"][0]["exempt"] == true);
    CHECK(report_text(report).find("decision: reject at connect by rule rdns-missing") !=
          std::string::npos);
}

TEST_CASE("Runtime::load names the option of every file it cannot load, in one run") {
    const auto loaded = load_config(SOURCE_ROOT "/rules/portcullis.conf",
                                    {{"replies-file", "/nonexistent/replies.conf"},
                                     {"generic-rdns-patterns", "/nonexistent/generic.conf"}});
    REQUIRE(loaded.config);
    std::vector<ConfigError> errors;
    const auto unstarted = Runtime::load(*loaded.config, errors);
    CHECK_FALSE(unstarted.resolver);
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].to_string() ==
          "command line: replies-file: /nonexistent/replies.conf: cannot read the replies file");
    CHECK(errors[1].to_string() == "command line: generic-rdns-patterns: "
                                   "/nonexistent/generic.conf: cannot read the file");
    errors.clear();
    CHECK_FALSE(Runtime::build(*loaded.config, errors, world()));
    CHECK(errors.size() == 2);
}

TEST_CASE("exempt-recipients takes address patterns and exempts only those recipients") {
    // 192.0.2.30 has no PTR: refused for everyone but the exempt.
    const auto runtime =
        runtime_with({{"exempt-recipients",
                       "postmaster@* abuse@ *@exempt.example ops@dest.example hostmaster"}});
    const Client client{"192.0.2.30", "mail.good.example", "a@good.example"};
    const std::pair<const char *, bool> rows[] = {
        {"postmaster@any.example", true},
        {"<POSTMASTER@any.example>", true},
        {"postmaster", true},
        {"abuse@any.example", true},
        {"x@exempt.example", true},
        {"ops@dest.example", true},
        {"hostmaster@dest.example", true},
        {"ops@other.example", false},
        {"postmaster.fake@x.example", false},
        {"x@sub.exempt.example", false},
        {"user@dest.example", false},
    };
    for (const auto &[recipient, exempt] : rows) {
        CAPTURE(recipient);
        const auto answer = run(runtime, client, recipient);
        CHECK(answer.exempt == exempt);
        CHECK(answer.verdict == (exempt ? Verdict::continue_ : Verdict::reject));
    }
}

TEST_CASE("defect: a DNS failure can undo an allow listing") {
    struct Row {
        const char *name;
        const char *address;
        const char *allow_hostname; // "" when not configured
        Verdict verdict;
        const char *code;
        const char *status;
    };
    const Row rows[] = {
        {"partner PTR times out", "192.0.2.40", ".partner.example", Verdict::tempfail, "451",
         "4.4.3"},
        {"partner forward lookup times out", "192.0.2.41", ".partner.example", Verdict::tempfail,
         "451", "4.4.3"},
        {"partner confirmed: allowed", "192.0.2.42", ".partner.example", Verdict::continue_, "",
         ""},
        {"PTR known, not a partner", "192.0.2.43", ".partner.example", Verdict::reject, "550",
         "5.5.2"},
        {"forward lookup of a name no allow entry matches times out", "192.0.2.44",
         ".partner.example", Verdict::reject, "550", "5.5.2"},
        {"no allow.hostname: the HELO reject stands", "192.0.2.40", "", Verdict::reject, "550",
         "5.5.2"},
    };
    auto dns = world();
    dns->add("41.2.0.192.in-addr.arpa", DnsType::PTR, {"mx.partner.example"});
    dns->fail("mx.partner.example", DnsType::A, DnsAnswer::Status::timeout);
    dns->add("42.2.0.192.in-addr.arpa", DnsType::PTR, {"mx2.partner.example"});
    dns->add("mx2.partner.example", DnsType::A, {"192.0.2.42"});
    dns->add("43.2.0.192.in-addr.arpa", DnsType::PTR, {"mail.other.example"});
    dns->add("mail.other.example", DnsType::A, {"192.0.2.43"});
    dns->add("44.2.0.192.in-addr.arpa", DnsType::PTR, {"mail.elsewhere.example"});
    dns->fail("mail.elsewhere.example", DnsType::A, DnsAnswer::Status::servfail);
    for (const auto &row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        std::vector<std::pair<std::string, std::string>> options;
        if (*row.allow_hostname)
            options.emplace_back("allow.hostname", row.allow_hostname);
        const auto answer = run(runtime_with(options, dns),
                                {row.address, "localhost", "a@good.example"}, "u@dest.example");
        CAPTURE(answer.rule);
        CAPTURE(answer.reply.text());
        CHECK(answer.verdict == row.verdict);
        CHECK(answer.reply.code == row.code);
        CHECK(answer.reply.status == row.status);
    }
}

TEST_CASE("the internal-error reply comes from the reply book") {
    const auto built_in = internal_error_reply(nullptr);
    CHECK(built_in.code == "451");
    CHECK(built_in.status == "4.3.0");
    CHECK(built_in.text().find("internal-error") != std::string::npos);

    const std::string file = "/tmp/portcullis-internal-error-session-test.conf";
    {
        std::ofstream out(file);
        out << "[internal-error]\ntempfail = 421 4.3.2\ntext = Filter down, see ${url}\n";
    }
    const auto runtime =
        runtime_with({{"replies-file", file}, {"reply-url", "https://mx.example/${rule}"}});
    std::remove(file.c_str());
    const auto reply = internal_error_reply(runtime.get());
    CHECK(reply.code == "421");
    CHECK(reply.status == "4.3.2");
    CHECK(reply.text().find("Filter down, see https://mx.example/internal-error") !=
          std::string::npos);
}

namespace {

// The key=value fields of a log line, where a value is a word or a "..."
// string in which \" and \\ stand for " and \; nullopt when a part of the
// line is neither.
std::optional<std::map<std::string, std::string>> fields_of(std::string_view line) {
    std::map<std::string, std::string> fields;
    std::size_t at = 0;
    while (at < line.size()) {
        if (line[at] == ' ') {
            ++at;
            continue;
        }
        const auto equals = line.find('=', at);
        const auto space = line.find(' ', at);
        if (equals == std::string_view::npos || (space != std::string_view::npos && space < equals))
            return std::nullopt;
        const std::string key(line.substr(at, equals - at));
        at = equals + 1;
        std::string value;
        if (at < line.size() && line[at] == '"') {
            ++at;
            for (;; ++at) {
                if (at >= line.size())
                    return std::nullopt; // unterminated
                if (line[at] == '\\' && at + 1 < line.size()) {
                    value += line[++at];
                    continue;
                }
                if (line[at] == '"')
                    break;
                value += line[at];
            }
            ++at;
            if (at < line.size() && line[at] != ' ')
                return std::nullopt; // text right after the closing quote
        } else {
            const auto end = line.find(' ', at);
            value = std::string(line.substr(at, end == std::string_view::npos ? end : end - at));
            at = end == std::string_view::npos ? line.size() : end;
        }
        fields[key] = value;
    }
    return fields;
}

} // namespace

TEST_CASE("defect: a quote inside a key=\"...\" log field ends the field early") {
    std::vector<std::string> lines;
    LogSettings capture;
    capture.to_syslog = false;
    capture.sink = [&](int, std::string_view line) { lines.emplace_back(line); };
    configure_logging(capture);
    const auto answer =
        run(runtime_with({}), {"192.0.2.10", "bad\"name\\x.good.example", "a@good.example"},
            "u@dest.example");
    configure_logging(LogSettings{});
    CHECK(answer.rule == "helo-syntax");
    const std::string *decision = nullptr;
    for (const auto &line : lines)
        if (line.find(" rcpt=") != std::string::npos)
            decision = &line;
    REQUIRE(decision);
    CAPTURE(*decision);
    const auto fields = fields_of(*decision);
    REQUIRE(fields);
    CHECK(fields->at("rule") == "helo-syntax");
    CHECK(fields->at("code") == "550 5.5.2");
    CHECK(fields->at("text").starts_with(
        "HELO/EHLO argument \"bad\"name\\x.good.example\" is not a valid host name"));
}

namespace {

// Names a client chooses for itself: each HELO name answers A, AAAA and a
// large TXT RRset (an SPF record and 16 KiB of other text, as a domain
// with many verification records has).
constexpr int attacker_helos = 500;
constexpr std::size_t attacker_txt_bytes = 16 * 1024;

std::string attacker_name(int i) {
    return "h" + std::to_string(i) + ".attacker.example";
}

std::shared_ptr<ScriptedResolver> attacker_world() {
    auto dns = world();
    for (int i = 1; i <= attacker_helos; ++i) {
        dns->add(attacker_name(i), DnsType::A, {"192.0.2.10"});
        dns->add(attacker_name(i), DnsType::AAAA, {});
        dns->add(attacker_name(i), DnsType::TXT,
                 {"v=spf1 ip4:192.0.2.10 -all", std::string(attacker_txt_bytes, 'x')});
    }
    return dns;
}

// Bytes of record text the session still holds for the attacker's names.
std::size_t attacker_bytes_held(const Session &session) {
    std::size_t bytes = 0;
    for (int i = 1; i <= attacker_helos; ++i)
        for (const DnsType type : {DnsType::A, DnsType::AAAA, DnsType::TXT})
            if (session.lookups().complete(attacker_name(i), type))
                for (const auto &record : session.lookups().get(attacker_name(i), type).records)
                    bytes += record.size();
    return bytes;
}

std::size_t attacker_queries(const ScriptedResolver &dns) {
    std::size_t count = 0;
    for (const auto &[name, type] : dns.asked())
        count += name.ends_with(".attacker.example");
    return count;
}

} // namespace

// Issue item 7: every EHLO started lookups of the name it gave (A, AAAA,
// SPF), none was ever released and nothing capped them.
TEST_CASE("defect: sessions grow without bound") {
    std::vector<std::string> lines;
    LogSettings capture;
    capture.to_syslog = false;
    capture.sink = [&](int, std::string_view line) { lines.emplace_back(line); };
    configure_logging(capture);

    auto dns = attacker_world();
    Session session(runtime_with({}, dns), "grow");
    session.connect(IpAddress::parse("192.0.2.10"), "mail.good.example", "mx.dest.example",
                    std::nullopt);
    for (int i = 1; i <= attacker_helos; ++i)
        session.helo(attacker_name(i));
    session.mail("a@good.example", "");
    const auto answer = session.recipient("u@dest.example");
    configure_logging(LogSettings{});

    // The shipped defaults bound the DNS work and the memory of one
    // session whatever the client sends: a handful of HELOs' lookups.
    const auto queries = attacker_queries(*dns);
    const auto held = attacker_bytes_held(session);
    MESSAGE("DNS queries for the client's names: " << queries << ", answer bytes held: " << held
                                                   << ", lookups held: "
                                                   << session.lookups().started());
    CHECK(queries <= 100);
    CHECK(held <= 1024 * 1024);
    CHECK(session.lookups().started() <= 200);

    // Beyond the budget the session is tempfailed by a rule of its own ...
    CHECK(answer.verdict == Verdict::tempfail);
    CHECK(answer.rule == "session-budget");
    CHECK(answer.reply.code == "421");
    // ... and says so in one log line, not one per command.
    std::size_t budget_lines = 0;
    for (const auto &line : lines)
        budget_lines += line.find("rule=session-budget") != std::string::npos;
    CHECK(budget_lines == 1);
}

namespace {

struct Command {
    std::string name;     // "HELO 3", "MAIL 2", "RCPT 2.1"
    bool refused = false; // by rule session-budget (in dry-run too)
    Verdict verdict = Verdict::continue_;
    std::string code; // "421 4.7.0" when refused
};

struct BudgetRun {
    std::vector<Command> commands;
    std::vector<std::string> lines; // the session-budget log lines
};

// Connects from 192.0.2.10 with `options` set and sends `helos` HELOs,
// then `mails` transactions of `rcpts` RCPTs each; notes each command's
// answer.
BudgetRun run_budget(std::vector<std::pair<std::string, std::string>> options, int helos, int mails,
                     int rcpts, std::shared_ptr<ScriptedResolver> dns = world()) {
    BudgetRun run;
    LogSettings capture;
    capture.to_syslog = false;
    capture.sink = [&](int, std::string_view line) {
        if (line.find("rule=session-budget") != std::string_view::npos)
            run.lines.emplace_back(line);
    };
    configure_logging(capture);
    Session session(runtime_with(std::move(options), std::move(dns)), "budget");
    session.connect(IpAddress::parse("192.0.2.10"), "mail.good.example", "mx.dest.example",
                    std::nullopt);
    auto note = [&](std::string name, Verdict verdict, const std::string &rule,
                    const Reply &reply) {
        const bool refused = rule == "session-budget";
        run.commands.push_back(
            {std::move(name), refused, verdict, refused ? reply.code + " " + reply.status : ""});
    };
    for (int i = 1; i <= helos; ++i) {
        const auto answer = session.helo("mail.good.example");
        note("HELO " + std::to_string(i), answer.verdict, answer.rule, answer.reply);
    }
    for (int i = 1; i <= mails; ++i) {
        const auto answer = session.mail("a@good.example", "");
        note("MAIL " + std::to_string(i), answer.verdict, answer.rule, answer.reply);
        for (int j = 1; j <= rcpts; ++j) {
            const auto to = session.recipient("u" + std::to_string(j) + "@dest.example");
            note("RCPT " + std::to_string(i) + "." + std::to_string(j), to.verdict, to.rule,
                 to.reply);
        }
        session.reset_transaction();
    }
    configure_logging(LogSettings{});
    return run;
}

} // namespace

TEST_CASE("each session budget refuses the command beyond it and every later one, logged once") {
    auto big_txt = world();
    big_txt->add("good.example", DnsType::TXT, {"v=spf1 +all", std::string(3000, 'x')});
    struct Row {
        const char *option;
        const char *value;
        int helos, mails, rcpts;
        std::shared_ptr<ScriptedResolver> dns;
        const char *first_refused;
        const char *budget;
    };
    const Row rows[] = {
        {"session.max-helos", "3", 5, 1, 1, world(), "HELO 4", "helos"},
        {"session.max-transactions", "2", 1, 4, 1, world(), "MAIL 3", "transactions"},
        {"session.max-recipients", "5", 1, 3, 2, world(), "RCPT 3.2", "recipients"},
        // Connect and HELO start 5 lookups (PTR, A and DNSBL; AAAA and
        // SPF's TXT of the HELO name); the first MAIL's go beyond, and its
        // RCPT is the first command to learn it.
        {"session.max-lookups", "5", 1, 2, 1, world(), "RCPT 1.1", "lookups"},
        {"session.max-answer-bytes", "2k", 1, 2, 1, big_txt, "RCPT 1.1", "answer-bytes"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.option);
        const auto run =
            run_budget({{row.option, row.value}}, row.helos, row.mails, row.rcpts, row.dns);
        bool beyond = false;
        for (const auto &command : run.commands) {
            CAPTURE(command.name);
            beyond = beyond || command.name == row.first_refused;
            CHECK(command.refused == beyond);
            CHECK(command.verdict == (beyond ? Verdict::tempfail : Verdict::continue_));
            if (command.refused)
                CHECK(command.code == "421 4.7.0");
        }
        CHECK(beyond);
        REQUIRE(run.lines.size() == 1);
        CHECK(run.lines[0].find(" budget=" + std::string(row.budget) + " limit=") !=
              std::string::npos);
        CHECK(run.lines[0].find("code=\"421 4.7.0\"") != std::string::npos);
    }
}

TEST_CASE("within its budget a session goes on; 0 is no limit; trusted clients are not held") {
    struct Row {
        const char *max_helos; // "" for the default (10)
        const char *address;
        int helos;
    };
    const Row rows[] = {{"", "192.0.2.10", 10}, {"0", "192.0.2.10", 50}, {"1", "127.0.0.1", 50}};
    for (const auto &row : rows) {
        CAPTURE(row.max_helos);
        CAPTURE(row.address);
        std::vector<std::pair<std::string, std::string>> options;
        if (*row.max_helos)
            options.emplace_back("session.max-helos", row.max_helos);
        Session session(runtime_with(options), "budget");
        session.connect(IpAddress::parse(row.address), "client", "mx.dest.example", std::nullopt);
        for (int i = 0; i < row.helos; ++i)
            CHECK(session.helo("mail.good.example").verdict == Verdict::continue_);
        CHECK(session.mail("a@good.example", "").verdict == Verdict::continue_);
        CHECK(session.recipient("u@dest.example").rule != "session-budget");
    }
}

TEST_CASE("beyond the budget in dry-run mode the session goes on, logged") {
    const auto run = run_budget({{"session.max-helos", "1"}, {"mode", "dry-run"}}, 3, 1, 1);
    REQUIRE(run.lines.size() == 1);
    CHECK(run.lines[0].find("dry-run=yes") != std::string::npos);
    REQUIRE(run.commands.size() == 5);
    CHECK_FALSE(run.commands[0].refused);
    for (const auto &command : run.commands) {
        CAPTURE(command.name);
        CHECK(command.refused == (command.name != "HELO 1"));
        CHECK(command.verdict == Verdict::continue_);
    }
}

TEST_CASE("answers of a finished transaction are released when the next MAIL starts") {
    auto dns = world();
    dns->add("one.example", DnsType::MX, {"10 mx.one.example"});
    dns->add("one.example", DnsType::TXT, {"v=spf1 ip4:192.0.2.10 -all", std::string(2000, '1')});
    dns->add("two.example", DnsType::MX, {"10 mx.two.example"});
    dns->add("two.example", DnsType::TXT, {"v=spf1 ip4:192.0.2.10 -all"});
    Session session(runtime_with({}, dns), "release");
    session.connect(IpAddress::parse("192.0.2.10"), "mail.good.example", "mx.dest.example",
                    std::nullopt);
    session.helo("mail.good.example");
    session.mail("a@one.example", "");
    CHECK(session.recipient("u@dest.example").verdict == Verdict::continue_);
    CHECK(session.lookups().complete("one.example", DnsType::TXT));
    const auto held_first = session.lookups().held_bytes();
    session.reset_transaction(); // end of message

    session.mail("b@two.example", "");
    CHECK(session.recipient("u@dest.example").verdict == Verdict::continue_);
    for (const DnsType type : {DnsType::MX, DnsType::A, DnsType::AAAA, DnsType::TXT})
        CHECK_FALSE(session.lookups().complete("one.example", type));
    CHECK(session.lookups().complete("two.example", DnsType::MX));
    CHECK(session.lookups().held_bytes() + 2000 <= held_first);
    // What connect and HELO asked is kept.
    CHECK(session.lookups().complete("10.2.0.192.in-addr.arpa", DnsType::PTR));
    CHECK(session.lookups().complete("mail.good.example", DnsType::A));

    // A third transaction from the second's domain asks nothing again.
    const auto asked = dns->asked().size();
    session.reset_transaction();
    session.mail("c@two.example", "");
    CHECK(session.recipient("u@dest.example").verdict == Verdict::continue_);
    CHECK(dns->asked().size() == asked);
    CHECK(session.lookups().complete("two.example", DnsType::MX));
}

TEST_CASE("RHSBL answers for the client's name hold for a second transaction") {
    auto dns = world();
    dns->add("mail.good.example.dbl.example", DnsType::A, {"127.0.1.2"});
    Session session(runtime_with({{"rhsbl.zone", "dbl.example"}}, dns), "rhsbl");
    session.connect(IpAddress::parse("192.0.2.10"), "mail.good.example", "mx.dest.example",
                    std::nullopt);
    session.helo("[192.0.2.10]");
    for (int i = 0; i < 3; ++i) {
        CAPTURE(i);
        session.mail("a@good.example", "");
        const auto answer = session.recipient("u@dest.example");
        CHECK(answer.rule == "rhsbl-listed");
        CHECK(answer.verdict == Verdict::reject);
        session.reset_transaction();
    }
}
