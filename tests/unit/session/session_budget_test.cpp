// Session budgets: what a session may ask for, and what it keeps.
#include "session/report.hpp"
#include "session/session.hpp"
#include "core/log.hpp"
#include "../scripted_resolver.hpp"
#include "session_world.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <optional>

using namespace portcullis;
using portcullis::testing::ScriptedResolver;

using namespace portcullis::testing;

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
