// The MAIL-stage checks through a whole session: the replies of the SPF,
// sender-domain and RHSBL rules (codes, rule ids, explanations from DNS
// made safe), and the Received-SPF header: its text, when it is added,
// and that nothing from the network can add a header line or a key.
#include "../later_resolver.hpp"
#include "../scripted_resolver.hpp"
#include "session/received_spf.hpp"
#include "session/session.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using portcullis::testing::LaterResolver;
using portcullis::testing::ScriptedResolver;

namespace {

std::shared_ptr<ScriptedResolver> world() {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->add("10.2.0.192.in-addr.arpa", DnsType::PTR, {"mail.good.example"});
    dns->add("mail.good.example", DnsType::A, {"192.0.2.10"});
    dns->add("mail.good.example", DnsType::TXT, {"v=spf1 a -all"});
    for (const char *domain : {"pass.example", "fail.example", "soft.example", "temp.example",
                               "perm.example", "listed.example"})
        dns->add(domain, DnsType::MX, {"10 mail.good.example"});
    dns->add("pass.example", DnsType::TXT, {"v=spf1 ip4:192.0.2.0/24 -all"});
    dns->add("fail.example", DnsType::TXT, {"v=spf1 -all exp=why.fail.example"});
    dns->add("why.fail.example", DnsType::TXT, {"Go away %{l}: 100%% sure"});
    dns->add("soft.example", DnsType::TXT, {"v=spf1 ~all"});
    dns->fail("temp.example", DnsType::TXT, DnsAnswer::Status::servfail);
    dns->add("perm.example", DnsType::TXT, {"v=spf1 ip4:192.0.2.0/33 -all"});
    dns->add("nullmx.example", DnsType::MX, {"0 ."});
    dns->add("listed.example.dbl.example", DnsType::A, {"127.0.1.2"});
    dns->add("listed.example.dbl.example", DnsType::TXT, {"Listed for spam\r\nX: y"});
    return dns;
}

std::shared_ptr<const Runtime>
runtime_with(std::vector<std::pair<std::string, std::string>> options,
             std::shared_ptr<Resolver> dns = world()) {
    options.emplace_back("rhsbl.zone", "dbl.example=127.0.1.[2..99]");
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

struct Transaction {
    RecipientAnswer answer;
    std::optional<std::string> header;
};

Transaction run(const std::shared_ptr<const Runtime> &runtime, const std::string &sender,
                const std::string &helo = "mail.good.example",
                const std::string &client = "192.0.2.10", const std::string &auth = "") {
    Session session(runtime, "test");
    session.connect(IpAddress::parse(client), "client", "mx.dest.example", std::nullopt);
    session.helo(helo);
    session.mail(sender, auth);
    Transaction out;
    out.answer = session.recipient("u@dest.example");
    out.header = session.received_spf_header();
    return out;
}

// The keys of a Received-SPF value, read as RFC 7208 section 9.1 writes
// it: result, comment (with quoted-pairs), then key=value pairs whose
// value is a dot-atom or a quoted-string. Empty when it does not parse.
std::vector<std::string> header_keys(const std::string &value) {
    std::size_t i = value.find(' ');
    if (i == std::string::npos || value.compare(i, 2, " (") != 0)
        return {};
    int depth = 0;
    for (i += 1; i < value.size(); ++i) {
        if (value[i] == '\\')
            ++i;
        else if (value[i] == '(')
            ++depth;
        else if (value[i] == ')' && --depth == 0)
            break;
    }
    if (i >= value.size())
        return {};
    std::vector<std::string> keys;
    ++i;
    while (i < value.size()) {
        if (value[i] != ' ')
            return {};
        const auto equals = value.find('=', i);
        if (equals == std::string::npos)
            return {};
        keys.push_back(value.substr(i + 1, equals - i - 1));
        i = equals + 1;
        if (i < value.size() && value[i] == '"') {
            for (++i; i < value.size() && value[i] != '"'; ++i)
                if (value[i] == '\\')
                    ++i;
            if (i >= value.size())
                return {};
            ++i;
        } else {
            while (i < value.size() && value[i] != ';')
                ++i;
        }
        if (i < value.size() && value[i] == ';')
            ++i;
    }
    return keys;
}

void check_clean(const std::string &value) {
    CHECK(value.size() <= max_received_spf_length);
    for (char c : value)
        CHECK_MESSAGE((c >= 0x20 && c < 0x7f), "unprintable byte in " << value);
}

} // namespace

TEST_CASE("the MAIL-stage rules refuse with their own codes and name the rule") {
    struct Row {
        const char *what;
        const char *sender;
        Verdict verdict;
        const char *rule;
        const char *code;
        const char *status;
        const char *text_part;
    };
    const Row rows[] = {
        {"SPF pass", "a@pass.example", Verdict::continue_, "", "", "", ""},
        {"SPF softfail is logged", "a@soft.example", Verdict::continue_, "", "", "", ""},
        {"SPF fail", "a@fail.example", Verdict::reject, "spf-fail", "550", "5.7.23",
         "SPF validation failed for <a@fail.example> from [192.0.2.10]: Go away a: 100% sure"},
        {"SPF temperror", "a@temp.example", Verdict::tempfail, "spf-temperror", "451", "4.7.24",
         "Temporary error during SPF validation"},
        {"SPF permerror", "a@perm.example", Verdict::reject, "spf-permerror", "550", "5.7.24",
         "invalid IPv4 CIDR length"},
        {"sender domain missing", "a@gone.example", Verdict::reject, "sender-domain-missing", "550",
         "5.1.8", "Domain of sender address <a@gone.example> does not exist"},
        {"null MX", "a@nullmx.example", Verdict::reject, "sender-null-mx", "550", "5.7.27",
         "nullmx.example publishes a null MX"},
        {"RHSBL", "a@listed.example", Verdict::reject, "rhsbl-listed", "550", "5.7.1",
         "Domain listed.example (sender domain) is listed at dbl.example: Listed for spamX: y"},
    };
    const auto runtime = runtime_with({});
    for (const auto &row : rows) {
        const std::string what = row.what;
        CAPTURE(what);
        const auto answer = run(runtime, row.sender).answer;
        CHECK(answer.verdict == row.verdict);
        CHECK(answer.rule == row.rule);
        CHECK(answer.reply.code == row.code);
        CHECK(answer.reply.status == row.status);
        const auto text = answer.reply.text();
        CAPTURE(text);
        CHECK(text.find(row.text_part) != std::string::npos);
        if (*row.rule)
            CHECK(text.find(std::string("(rule ") + row.rule + ")") != std::string::npos);
        for (const auto &line : answer.reply.lines)
            for (char c : line)
                CHECK((c >= 0x20 && c < 0x7f));
    }
}

TEST_CASE("an SPF explanation with '%' and control characters reaches the 5.7.23 reply clean") {
    // %{l} copies the local part into the explanation: '%' and BEL.
    const auto answer = run(runtime_with({}), "a%b\x07"
                                              "c@fail.example")
                            .answer;
    REQUIRE(answer.verdict == Verdict::reject);
    CHECK(answer.rule == "spf-fail");
    CHECK(answer.reply.code == "550");
    CHECK(answer.reply.status == "5.7.23");
    const auto text = answer.reply.text();
    CAPTURE(text);
    CHECK(text.find(": Go away a%b?c: 100% sure") != std::string::npos);
    CHECK(text.find("(rule spf-fail)") != std::string::npos);
    bool doubled = false;
    for (const auto &line : answer.reply.lines) {
        CHECK(line.size() <= max_reply_line_length);
        for (std::size_t i = 0; i < line.size(); ++i) {
            const char c = line[i];
            CHECK((c >= 0x20 && c < 0x7f));
            if (c == '%') { // every '%' doubled for libmilter
                REQUIRE(i + 1 < line.size());
                CHECK(line[i + 1] == '%');
                ++i;
            }
        }
        doubled = doubled || line.find("100%% sure") != std::string::npos;
    }
    CHECK(doubled);
}

TEST_CASE("Received-SPF records the MAIL FROM result") {
    const auto runtime = runtime_with({});
    const auto pass = run(runtime, "a@pass.example");
    REQUIRE(pass.header);
    CHECK(*pass.header ==
          "pass (mx.dest.example: domain of a@pass.example designates 192.0.2.10 as permitted "
          "sender) client-ip=192.0.2.10; envelope-from=\"a@pass.example\"; "
          "helo=mail.good.example; receiver=mx.dest.example; identity=mailfrom; "
          "mechanism=\"ip4:192.0.2.0/24\"");

    const auto bounce = run(runtime, "");
    REQUIRE(bounce.header);
    CHECK(*bounce.header ==
          "pass (mx.dest.example: domain of postmaster@mail.good.example designates 192.0.2.10 "
          "as permitted sender) client-ip=192.0.2.10; envelope-from=\"\"; "
          "helo=mail.good.example; receiver=mx.dest.example; identity=helo; mechanism=\"a\"");

    const auto soft = run(runtime, "a@soft.example");
    REQUIRE(soft.header);
    CHECK(soft.header->rfind("softfail (mx.dest.example: domain of transitioning a@soft.example "
                             "does not designate 192.0.2.10 as permitted sender)",
                             0) == 0);

    const auto broken = run(runtime_with({{"policy.spf-permerror", "log"}}), "a@perm.example");
    REQUIRE(broken.header);
    CHECK(broken.header->rfind("permerror (", 0) == 0);
    CHECK(broken.header->find("; problem=\"SPF record of perm.example: ") != std::string::npos);

    const auto receiver =
        run(runtime_with({{"spf.receiver", "SPF.Dest.Example"}}), "a@pass.example");
    REQUIRE(receiver.header);
    CHECK(receiver.header->find("(spf.dest.example: ") != std::string::npos);
    CHECK(receiver.header->find("; receiver=spf.dest.example;") != std::string::npos);
}

TEST_CASE("Received-SPF is left out where SPF did not run or is not wanted") {
    const auto runtime = runtime_with({});
    CHECK_FALSE(run(runtime, "a@pass.example", "mail.good.example", "127.0.0.1").header);
    CHECK_FALSE(run(runtime, "a@pass.example", "mail.good.example", "192.0.2.10", "alice").header);
    CHECK_FALSE(run(runtime_with({{"spf.add-header", "no"}}), "a@pass.example").header);

    Session session(runtime, "test");
    session.connect(IpAddress::parse("192.0.2.10"), "client", "mx.dest.example", std::nullopt);
    session.helo("mail.good.example");
    CHECK_FALSE(session.received_spf_header()); // no MAIL yet
}

TEST_CASE("nothing from the network adds a header line or a key to Received-SPF") {
    const std::vector<std::string> expected_keys = {"client-ip", "envelope-from", "helo",
                                                    "receiver",  "identity",      "mechanism"};
    struct Row {
        const char *what;
        std::string sender;
        std::string helo;
    };
    const std::vector<Row> rows = {
        {"HELO with quotes, separators and CR LF", "a@pass.example",
         "evil\"; identity=helo\r\nX-Injected: yes"},
        {"sender with quotes, parentheses and backslashes", "\"x\\\"y(z);k=v)\"@pass.example",
         "mail.good.example"},
        {"huge sender and HELO", std::string(3000, 'a') + "@pass.example",
         std::string(3000, 'h') + ")"},
        {"non-ASCII", "j\xc3\xb6rg@pass.example", "h\xc3\xa9llo.example"},
    };
    const auto runtime = runtime_with({});
    for (const auto &row : rows) {
        const std::string what = row.what;
        CAPTURE(what);
        const auto transaction = run(runtime, row.sender, row.helo);
        REQUIRE(transaction.header);
        const auto &value = *transaction.header;
        CAPTURE(value);
        check_clean(value);
        CHECK(value.rfind("pass (", 0) == 0);
        CHECK(header_keys(value) == expected_keys);
    }
    const auto hostile = run(runtime, "a@pass.example", "evil\"; identity=helo\r\nX-Injected: yes");
    REQUIRE(hostile.header);
    CHECK(hostile.header->find("helo=\"evil\\\"; identity=heloX-Injected: yes\";") !=
          std::string::npos);
}

TEST_CASE("the comment and quoted values escape what would end them") {
    SpfNote note;
    note.identity = SpfIdentity::mail_from;
    note.request = spf_mail_from_request(*IpAddress::parse("192.0.2.1"), "\"a(b)\\c\"@example.org",
                                         "[192.0.2.1]", "mx.example");
    note.result.result = SpfResult::Code::fail;
    note.result.mechanism = "-all";
    note.completed = true;
    const auto value = received_spf_value(note, "\"a(b)\\c\"@example.org");
    CHECK(value == "fail (mx.example: domain of \"a\\(b\\)\\\\c\"@example.org does not designate "
                   "192.0.2.1 as permitted sender) client-ip=192.0.2.1; "
                   "envelope-from=\"\\\"a(b)\\\\c\\\"@example.org\"; helo=\"[192.0.2.1]\"; "
                   "receiver=mx.example; identity=mailfrom; mechanism=\"-all\"");
}

TEST_CASE("a second MAIL in the session is judged afresh") {
    Session session(runtime_with({}), "test");
    session.connect(IpAddress::parse("192.0.2.10"), "client", "mx.dest.example", std::nullopt);
    session.helo("mail.good.example");
    session.mail("a@fail.example", "");
    CHECK(session.recipient("u@dest.example").rule == "spf-fail");
    CHECK(session.received_spf_header()->rfind("fail (", 0) == 0);
    session.reset_transaction(); // RSET
    session.mail("a@pass.example", "");
    CHECK(session.recipient("u@dest.example").verdict == Verdict::continue_);
    CHECK(session.received_spf_header()->rfind("pass (", 0) == 0);
}

TEST_CASE("SPF answered later by the resolver's thread decides at RCPT" *
          doctest::test_suite("threads")) {
    auto later = std::make_shared<LaterResolver>(world(), std::chrono::milliseconds(15));
    const auto runtime = runtime_with({}, later);
    const auto fail = run(runtime, "a@fail.example");
    CHECK(fail.answer.rule == "spf-fail");
    CHECK(fail.answer.reply.text().find("Go away a: 100% sure") != std::string::npos);
    const auto pass = run(runtime, "a@pass.example");
    CHECK(pass.answer.verdict == Verdict::continue_);
    REQUIRE(pass.header);
    CHECK(pass.header->rfind("pass (", 0) == 0);
    CHECK(later->answered() > 0);
}
