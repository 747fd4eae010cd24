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

TEST_CASE(
    "defect: a space in a HELO, an address or the queue id adds fields to the decision line") {
    struct Row {
        const char *name;
        const char *hostname;
        const char *helo;
        const char *sender;
        const char *recipient;
        const char *queue_id;
    };
    // A quoted local part may hold spaces (RFC 5321); HELO arguments and
    // macros come as the client and the MTA send them.
    const Row rows[] = {
        {"HELO", "client", "mx.good.example rule=allow action=continue", "a@good.example",
         "u@dest.example", "4XyzQ1"},
        {"sender", "client", "mail.good.example", "\"john doe\"@good.example", "u@dest.example",
         "4XyzQ1"},
        {"recipient", "client", "mail.good.example", "a@good.example",
         "\"jane rule=x\"@dest.example", "4XyzQ1"},
        {"queue id", "client", "mail.good.example", "a@good.example", "u@dest.example",
         "4XyzQ1 rule=allow"},
        {"client name", "client name=x", "mail.good.example", "a@good.example", "u@dest.example",
         "4XyzQ1"},
    };
    const auto runtime = runtime_with({});
    for (const auto &row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        std::vector<std::string> lines;
        LogSettings capture;
        capture.to_syslog = false;
        capture.sink = [&](int, std::string_view line) { lines.emplace_back(line); };
        configure_logging(capture);
        Session session(runtime, "test");
        session.connect(IpAddress::parse("192.0.2.20"), row.hostname, "mx.dest.example",
                        std::nullopt);
        session.helo(row.helo);
        session.mail(row.sender, "");
        session.set_queue_id(row.queue_id);
        const auto answer = session.recipient(row.recipient);
        configure_logging(LogSettings{});
        REQUIRE(answer.verdict != Verdict::continue_);
        const std::string *decision = nullptr;
        for (const auto &line : lines)
            if (line.starts_with("session=test queue="))
                decision = &line;
        REQUIRE(decision);
        CAPTURE(*decision);
        const auto fields = fields_of(*decision);
        CHECK(fields);
        if (!fields)
            continue;
        CHECK(fields->at("rule") == answer.rule);
        CHECK(fields->at("ptr") == row.hostname);
        CHECK(fields->at("helo") == row.helo);
        CHECK(fields->at("from") == "<" + std::string(row.sender) + ">");
        CHECK(fields->at("rcpt") == "<" + std::string(row.recipient) + ">");
        CHECK(fields->at("queue") == row.queue_id);
    }
}

TEST_CASE("defect: a HELO with quotes and spaces forges log fields") {
    // Every field the client controls (HELO, sender, recipient) or its DNS
    // does (the PTR name the MTA reports, a name looked up) must stay one
    // field, whatever quotes and spaces it holds.
    std::vector<std::string> lines;
    LogSettings capture;
    capture.to_syslog = false;
    capture.sink = [&](int, std::string_view line) { lines.emplace_back(line); };
    configure_logging(capture);
    const std::string helo = "mail.good.example\" why=\"forged";
    const std::string ptr = "unknown rule=\"allowed\"";
    const std::string sender = "\"a b\" x=\"y\"@good.example";
    const std::string recipient = "u \"v\"=w@dest.example";
    auto dns = world();
    dns->fail("\"spaced.good.example", DnsType::A, DnsAnswer::Status::timeout);
    dns->add("good.example", DnsType::TXT, {"v=spf1 a:\"spaced.good.example -all"});
    {
        Session session(runtime_with({}, dns), "test");
        session.connect(IpAddress::parse("192.0.2.10"), ptr, "mx.dest.example", std::nullopt);
        session.helo(helo);
        session.mail(sender, "");
        session.recipient(recipient);
    }
    configure_logging(LogSettings{});
    const std::string *decision = nullptr;
    const std::string *dns_error = nullptr;
    for (const auto &line : lines) {
        if (line.find(" rcpt=") != std::string::npos)
            decision = &line;
        if (line.find(" dns-error ") != std::string::npos)
            dns_error = &line;
    }
    REQUIRE(decision);
    CAPTURE(*decision);
    const auto fields = fields_of(*decision);
    CHECK(fields.has_value());
    if (fields) {
        CHECK(fields->at("helo") == helo);
        CHECK(fields->at("ptr") == ptr);
        CHECK(fields->at("from") == "<" + sender + ">");
        CHECK(fields->at("rcpt") == "<" + recipient + ">");
        CHECK_FALSE(fields->contains("why"));
        CHECK_FALSE(fields->contains("x"));
        CHECK(fields->at("rule") == "helo-syntax");
    }

    REQUIRE(dns_error);
    CAPTURE(*dns_error);
    // "session=... dns-error lookup=... status=... why=..."
    const auto error_fields =
        fields_of(std::string_view(*dns_error).substr(dns_error->find(" lookup=")));
    CHECK(error_fields.has_value());
    if (error_fields) {
        CHECK(error_fields->at("lookup") == "\"spaced.good.example/A");
        CHECK(error_fields->at("status") == "timeout");
    }
}
