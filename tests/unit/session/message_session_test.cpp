// The message stage of a session over scripted DNS: the header checks
// answer at the end of the header for the whole message, every recipient
// exempt turns a refusal into a logged acceptance, scores add up across
// stages, forged Authentication-Results fields with our authserv-id are
// found whatever their case and comments, ours is composed from the
// session's results, and the negotiation needs follow the configuration.
#include "session_world.hpp"

#include "core/log.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using namespace portcullis::testing;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

Fields plain_message() {
    return {
        {"From", " Alice <a@good.example>"},
        {"To", " user@dest.example"},
        {"Subject", " hello"},
        {"Date", " " +
                     [] {
                         char text[64];
                         const std::time_t now = std::time(nullptr);
                         std::tm parts{};
                         gmtime_r(&now, &parts);
                         std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S +0000", &parts);
                         return std::string(text);
                     }()},
        {"Message-ID", " <1@good.example>"},
    };
}

// A session of `client` with `recipients` accepted or refused at RCPT,
// then `fields` as the header.
struct MessageRun {
    MessageRun(std::shared_ptr<const Runtime> runtime, const Client &client,
               const std::vector<std::string> &recipients, const std::string &auth = "")
        : session(std::move(runtime), "test") {
        session.connect(IpAddress::parse(client.address), "client", "mx.dest.example",
                        std::nullopt);
        session.helo(client.helo);
        session.mail(client.sender, auth);
        for (const auto &recipient : recipients)
            answers.push_back(session.recipient(recipient));
    }
    MessageAnswer header(const Fields &fields) {
        for (const auto &[name, value] : fields)
            session.header(name, value);
        return session.end_of_header();
    }
    Session session;
    std::vector<RecipientAnswer> answers;
};

const Client good{"192.0.2.10", "mail.good.example", "a@good.example"};
const Client listed{"192.0.2.50", "mx.listed.example", "a@good.example"};

} // namespace

TEST_CASE("a header rule refuses the whole message at the end of the header") {
    LogCapture log;
    MessageRun run(runtime_with({{"dkim.verify", "no"}}), good, {"user@dest.example"});
    auto fields = plain_message();
    fields.emplace_back("From", " Mallory <m@evil.example>");
    const auto answer = run.header(fields);
    CHECK(answer.verdict == Verdict::reject);
    CHECK(answer.rule == "header-repeated");
    CHECK(answer.reply.code == "550");
    CHECK(answer.reply.status == "5.6.0");
    CHECK(answer.reply.text().find("2 From: fields") != std::string::npos);
    CHECK(log.has("stage=header rule=header-repeated action=reject"));
}

TEST_CASE("every recipient exempt: the message is accepted and the refusal logged") {
    LogCapture log;
    MessageRun run(runtime_with({{"dkim.verify", "no"}}), good,
                   {"postmaster@dest.example", "abuse@dest.example"});
    auto fields = plain_message();
    fields.emplace_back("From", " Mallory <m@evil.example>");
    const auto answer = run.header(fields);
    CHECK(answer.verdict == Verdict::continue_);
    CHECK(answer.policy_verdict == Verdict::reject);
    CHECK(answer.exempt);
    CHECK(log.has("rule=header-repeated action=reject code=\"550 5.6.0\" exempt=yes"));
}

TEST_CASE("one recipient not exempt: the message is refused for all") {
    MessageRun run(runtime_with({{"dkim.verify", "no"}}), good,
                   {"postmaster@dest.example", "user@dest.example"});
    auto fields = plain_message();
    fields.emplace_back("Subject", " again");
    CHECK(run.header(fields).verdict == Verdict::reject);
}

TEST_CASE("dry-run logs a message refusal and accepts") {
    LogCapture log;
    MessageRun run(runtime_with({{"mode", "dry-run"}, {"dkim.verify", "no"}}), good,
                   {"user@dest.example"});
    auto fields = plain_message();
    fields.emplace_back("Date", " Tue, 1 Dec 2026 00:00:00 +0000");
    const auto answer = run.header(fields);
    CHECK(answer.verdict == Verdict::continue_);
    CHECK(answer.dry_run);
    CHECK(log.has("dry-run=yes"));
}

TEST_CASE("an envelope refusal answered at RCPT is not made again for the message") {
    LogCapture log;
    // The listed client is refused at RCPT; postmaster@ gets through.
    MessageRun run(runtime_with({{"dkim.verify", "no"}}), listed, {"postmaster@dest.example"});
    REQUIRE(run.answers.front().policy_verdict == Verdict::reject);
    const auto lines = log.lines.size();
    const auto answer = run.header(plain_message());
    CHECK(answer.verdict == Verdict::continue_);
    CHECK(answer.policy_verdict == Verdict::continue_);
    const auto end = run.session.end_of_message();
    CHECK(end.answer.verdict == Verdict::continue_);
    CHECK(log.lines.size() == lines);
}

TEST_CASE("scores add up across stages") {
    // Two findings of three points each: neither rejects alone.
    const auto runtime = runtime_with({{"dkim.verify", "no"},
                                       {"policy.header-8bit", "score:3"},
                                       {"policy.header-message-id-syntax", "score:3"},
                                       {"policy.score-reject", "5"}});
    MessageRun run(runtime, good, {"user@dest.example"});
    auto fields = plain_message();
    fields.emplace_back("X-Text", " caf\xc3\xa9");
    CHECK(run.header(fields).verdict == Verdict::continue_);

    MessageRun both(runtime, good, {"user@dest.example"});
    fields = plain_message();
    fields.emplace_back("X-Text", " caf\xc3\xa9");
    std::erase_if(fields, [](const auto &field) { return field.first == "Message-ID"; });
    fields.emplace_back("Message-ID", " no-brackets@good.example");
    const auto answer = both.header(fields);
    CHECK(answer.verdict == Verdict::reject);
    CHECK((answer.rule == "header-8bit" || answer.rule == "header-message-id-syntax"));
    CHECK(answer.reply.text().find("score") != std::string::npos);
}

TEST_CASE("forged Authentication-Results fields of our authserv-id are listed highest first") {
    MessageRun run(runtime_with({{"dkim.verify", "no"}}), good, {"user@dest.example"});
    auto fields = plain_message();
    fields.emplace_back("Authentication-Results", " mx.dest.example; spf=pass");
    fields.emplace_back("Authentication-Results", " other.example; dkim=pass");
    fields.emplace_back("authentication-results", " (forged) MX.DEST.EXAMPLE; dkim=pass");
    fields.emplace_back("Authentication-Results",
                        " mx.dest.example; " + std::string(8192, 'x') + "=pass");
    fields.emplace_back("Authentication-Results", " mx.dest.example.evil; dkim=pass");
    fields.emplace_back("Authentication-Results", " \"mx.dest.example\"; dkim=pass");
    REQUIRE(run.header(fields).verdict == Verdict::continue_);
    const auto end = run.session.end_of_message();
    CHECK(end.answer.verdict == Verdict::continue_);
    CHECK(end.delete_authentication_results == std::vector<std::size_t>{6, 4, 3, 1});
    REQUIRE(!end.add_fields.empty());
    CHECK(end.add_fields.front().first == "Authentication-Results");
    const auto &ours = end.add_fields.front().second;
    CAPTURE(ours);
    CHECK(ours.rfind("mx.dest.example;", 0) == 0);
    CHECK(ours.find("iprev=pass (mail.good.example) policy.iprev=192.0.2.10") != std::string::npos);
    CHECK(ours.find("dkim") == std::string::npos);
}

TEST_CASE("authserv-id names our fields when set") {
    MessageRun run(runtime_with({{"dkim.verify", "no"}, {"authserv-id", "MX.Example.Org"}}), good,
                   {"user@dest.example"});
    auto fields = plain_message();
    fields.emplace_back("Authentication-Results", " mx.dest.example; spf=pass");
    fields.emplace_back("Authentication-Results", " mx.example.org; spf=pass");
    run.header(fields);
    const auto end = run.session.end_of_message();
    CHECK(end.delete_authentication_results == std::vector<std::size_t>{2});
    REQUIRE(!end.add_fields.empty());
    CHECK(end.add_fields.front().second.rfind("mx.example.org;", 0) == 0);
}

TEST_CASE("iprev follows the client's reverse DNS") {
    auto dns = world();
    dns->add("30.2.0.192.in-addr.arpa", DnsType::PTR, {});
    const auto runtime = runtime_with(
        {{"dkim.verify", "no"}, {"policy.rdns-missing", "log"}, {"policy.rdns-unconfirmed", "log"}},
        dns);
    struct Row {
        Client client;
        std::string iprev;
    };
    const std::vector<Row> rows = {
        {{"192.0.2.10", "mail.good.example", "a@good.example"}, "iprev=pass (mail.good.example)"},
        {{"192.0.2.20", "forged.example", "a@good.example"}, "iprev=fail (forged.example)"},
        {{"192.0.2.30", "x.good.example", "a@good.example"}, "iprev=permerror policy.iprev"},
        {{"192.0.2.40", "x.good.example", "a@good.example"}, "iprev=temperror policy.iprev"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.client.address);
        MessageRun run(runtime, row.client, {"postmaster@dest.example"});
        run.header(plain_message());
        const auto end = run.session.end_of_message();
        REQUIRE(!end.add_fields.empty());
        CAPTURE(end.add_fields.front().second);
        CHECK(end.add_fields.front().second.find(row.iprev) != std::string::npos);
    }
}

TEST_CASE("trusted clients: no checks; authenticated ones get auth=pass") {
    const auto runtime = runtime_with({{"dkim.verify", "no"}});
    MessageRun trusted(runtime, {"127.0.0.1", "localhost", "a@good.example"}, {"u@dest.example"});
    auto fields = plain_message();
    fields.emplace_back("From", " second@good.example");
    CHECK(trusted.header(fields).verdict == Verdict::continue_);
    auto end = trusted.session.end_of_message();
    CHECK(end.answer.verdict == Verdict::continue_);
    for (const auto &field : end.add_fields)
        CHECK(field.first != "Authentication-Results");

    MessageRun authenticated(runtime, good, {"u@dest.example"}, "alice");
    CHECK(authenticated.header(fields).verdict == Verdict::continue_);
    end = authenticated.session.end_of_message();
    REQUIRE(!end.add_fields.empty());
    CHECK(end.add_fields.front().second.find("auth=pass smtp.auth=alice") != std::string::npos);
}

TEST_CASE("the negotiation needs follow the configuration") {
    const auto defaults = message_needs(*runtime_with({})->config);
    CHECK(defaults.header);
    CHECK(defaults.body);
    CHECK(defaults.add_fields);
    CHECK(defaults.change_fields);

    std::vector<std::pair<std::string, std::string>> off = {{"dkim.verify", "no"},
                                                            {"authentication-results", "no"}};
    for (const auto &rule : rule_table())
        if (rule.stage == Stage::header || rule.stage == Stage::message)
            off.emplace_back("policy." + std::string(rule.id), "ignore");
    const auto none = message_needs(*runtime_with(off)->config);
    CHECK_FALSE(none.header);
    CHECK_FALSE(none.body);
    CHECK_FALSE(none.change_fields);
    CHECK(none.add_fields); // Received-SPF

    // from-spoofed alone takes the header only once own-domains names a domain.
    auto spoofing = off;
    std::erase_if(spoofing,
                  [](const auto &option) { return option.first == "policy.from-spoofed"; });
    CHECK_FALSE(message_needs(*runtime_with(spoofing)->config).header);
    spoofing.emplace_back("own-domains", "example.org");
    CHECK(message_needs(*runtime_with(spoofing)->config).header);
}

TEST_CASE("without the header stage the end of the message adds only Received-SPF") {
    std::vector<std::pair<std::string, std::string>> off = {{"dkim.verify", "no"},
                                                            {"authentication-results", "no"}};
    for (const auto &rule : rule_table())
        if (rule.stage == Stage::header || rule.stage == Stage::message)
            off.emplace_back("policy." + std::string(rule.id), "ignore");
    MessageRun run(runtime_with(off), good, {"user@dest.example"});
    const auto end = run.session.end_of_message();
    CHECK(end.answer.verdict == Verdict::continue_);
    CHECK(end.delete_authentication_results.empty());
    for (const auto &field : end.add_fields)
        CHECK(field.first == "Received-SPF");
}

TEST_CASE("from-spoofed undecided for DNS tempfails the message, never rejects") {
    auto dns = world();
    // The sender domain is ours; its SPF record cannot be looked up.
    dns->add("ours.example", DnsType::MX, {"10 mail.good.example"});
    dns->fail("ours.example", DnsType::TXT, DnsAnswer::Status::servfail);
    const auto runtime = runtime_with(
        {{"dkim.verify", "no"}, {"own-domains", "ours.example"}, {"policy.spf-temperror", "log"}},
        dns);
    LogCapture log;
    MessageRun run(runtime, {"192.0.2.10", "mail.good.example", "bounce@ours.example"},
                   {"user@dest.example"});
    REQUIRE(run.answers.front().verdict == Verdict::continue_);
    auto fields = plain_message();
    std::erase_if(fields, [](const auto &field) { return field.first == "From"; });
    fields.emplace_back("From", " The Boss <ceo@ours.example>");
    REQUIRE(run.header(fields).verdict == Verdict::continue_);
    const auto end = run.session.end_of_message();
    CHECK(end.answer.verdict == Verdict::tempfail);
    CHECK(end.answer.reply.code.front() == '4');
    CHECK(log.has("stage=message rule=from-spoofed action=tempfail"));

    // With SPF answering -all, the same message is refused.
    auto answering = world();
    answering->add("ours.example", DnsType::MX, {"10 mail.good.example"});
    answering->add("ours.example", DnsType::TXT, {"v=spf1 -all"});
    MessageRun refused(
        runtime_with(
            {{"dkim.verify", "no"}, {"own-domains", "ours.example"}, {"policy.spf-fail", "log"}},
            answering),
        {"192.0.2.10", "mail.good.example", "bounce@ours.example"}, {"user@dest.example"});
    REQUIRE(refused.header(fields).verdict == Verdict::continue_);
    const auto refusal = refused.session.end_of_message();
    CHECK(refusal.answer.verdict == Verdict::reject);
    CHECK(refusal.answer.reply.status == "5.7.1");
    CHECK(refusal.add_fields.empty());
}
