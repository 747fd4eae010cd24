#include "checks/check.hpp"
#include "core/policy.hpp"
#include "core/replies.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

using namespace portcullis;

namespace {

ReplyTemplate listed_template() {
    ReplyTemplate tmpl;
    tmpl.id = "dnsbl-listed";
    tmpl.reject_code = "550";
    tmpl.reject_status = "5.7.1";
    tmpl.lines = {"Client host ${client_addr} is listed at ${dnsbl_zone}: ${dnsbl_txt}",
                  "See ${url}"};
    return tmpl;
}

} // namespace

TEST_CASE("hostile TXT records come out clean") {
    struct Row {
        const char *name;
        std::string txt;
        std::string expected_first_line;
    };
    const Row rows[] = {
        {"plain", "Listed, see http://bl.example/q?ip=192.0.2.1",
         "Client host 192.0.2.1 is listed at bl.example: Listed, see "
         "http://bl.example/q?ip=192.0.2.1"},
        {"percent is doubled", "100% spam",
         "Client host 192.0.2.1 is listed at bl.example: 100%% spam"},
        {"format directives stay inert", "%s%n%x",
         "Client host 192.0.2.1 is listed at bl.example: %%s%%n%%x"},
        {"CR LF cannot split the reply", "bad\r\n250 OK",
         "Client host 192.0.2.1 is listed at bl.example: bad250 OK"},
        {"NUL and control characters vanish", std::string("a\0b\x01\x1b[31mc\x7f", 11),
         "Client host 192.0.2.1 is listed at bl.example: ab[31mc"},
        {"8-bit bytes become ?", "caf\xc3\xa9",
         "Client host 192.0.2.1 is listed at bl.example: caf??"},
    };
    for (const auto &row : rows) {
        CAPTURE(row.name);
        const std::map<std::string, std::string> vars = {{"client_addr", "192.0.2.1"},
                                                         {"dnsbl_zone", "bl.example"},
                                                         {"dnsbl_txt", row.txt},
                                                         {"rule", "dnsbl-listed"},
                                                         {"url", ""}};
        const auto reply = render_reply(listed_template(), Verdict::reject, vars);
        CHECK(reply.code == "550");
        CHECK(reply.status == "5.7.1");
        REQUIRE(reply.lines.size() == 1); // the ${url} line is left out without a URL
        CHECK(reply.lines[0] == row.expected_first_line + " (rule dnsbl-listed)");
    }
}

TEST_CASE("every rendered line stays within libmilter's limits") {
    const std::map<std::string, std::string> vars = {{"dnsbl_txt", std::string(5000, '%')},
                                                     {"rule", "dnsbl-listed"},
                                                     {"url", "https://mx.example/policy"}};
    ReplyTemplate tmpl = listed_template();
    for (int i = 0; i < 40; ++i)
        tmpl.lines.push_back("more ${dnsbl_txt}");
    const auto reply = render_reply(tmpl, Verdict::reject, vars);
    CHECK(reply.lines.size() == max_reply_lines);
    for (const auto &line : reply.lines) {
        CHECK(line.size() <= max_reply_line_length);
        // '%' only ever appears doubled.
        for (std::size_t i = 0; i < line.size(); ++i)
            if (line[i] == '%') {
                REQUIRE(i + 1 < line.size());
                CHECK(line[i + 1] == '%');
                ++i;
            }
    }
    CHECK(reply.lines.back().find("(rule dnsbl-listed)") != std::string::npos);
}

TEST_CASE("tempfail uses the template's 4xx code; the rule is always named") {
    ReplyTemplate tmpl;
    tmpl.tempfail_code = "450";
    tmpl.tempfail_status = "4.7.25";
    tmpl.lines = {"Rule ${rule} says no"};
    const auto reply = render_reply(tmpl, Verdict::tempfail, {{"rule", "rdns-unconfirmed"}});
    CHECK(reply.code == "450");
    CHECK(reply.status == "4.7.25");
    CHECK(reply.lines == std::vector<std::string>{"Rule rdns-unconfirmed says no"});
    CHECK(reply.text() == "Rule rdns-unconfirmed says no");
}

TEST_CASE("the replies file is read and checked") {
    const std::string file = "/tmp/portcullis-replies-test.conf";
    {
        std::ofstream out(file);
        out << "[rdns-missing]\nreject = 550 5.7.25\ntempfail = 450 4.7.25\ntext = No PTR for "
               "${client_addr}\n[broken]\nreject = 450 5.7.1\ntempfail = 451\nflavour = x\n"
               "stray line\n";
    }
    std::vector<std::string> errors;
    const auto book = load_replies(file, errors);
    std::remove(file.c_str());
    CHECK(book.find("rdns-missing").reject_status == "5.7.25");
    CHECK(book.find("rdns-missing").lines.size() == 1);
    CHECK(book.find("no-such-rule").id == "default");
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].find(":9:") != std::string::npos); // the stray line
    CHECK(errors[1].find(":6: [broken] names no rule") != std::string::npos);
}

TEST_CASE("the replies file overrides the declared replies, section by section") {
    constexpr std::string_view lines[] = {"first ${rule}", "second"};
    const RuleSpec with_text[] = {{.id = "declared", .reject = "550 5.7.25", .text = lines}};
    const ReplyBook declared(with_text);
    CHECK(declared.find("declared").reject_status == "5.7.25");
    CHECK(declared.find("declared").tempfail_code == "451"); // the RuleSpec default
    CHECK(declared.find("declared").lines == std::vector<std::string>{"first ${rule}", "second"});
    CHECK(declared.find("dns-error").tempfail_status == "4.4.3"); // the policy's own rules

    const std::string file = "/tmp/portcullis-replies-override-test.conf";
    {
        std::ofstream out(file);
        out << "[declared]\ntempfail = 421 4.3.2\ntext = only line\n";
    }
    std::vector<std::string> errors;
    const auto book = ReplyBook::load(file, with_text, errors);
    std::remove(file.c_str());
    CHECK(errors.empty());
    const auto &tmpl = book.find("declared");
    CHECK(tmpl.reject_status == "5.7.25"); // not overridden
    CHECK(tmpl.tempfail_code == "421");
    CHECK(tmpl.tempfail_status == "4.3.2");
    CHECK(tmpl.lines == std::vector<std::string>{"only line"});
}

TEST_CASE("the shipped replies file is valid; every rule has a reply") {
    std::vector<std::string> errors;
    const auto book = load_replies(SOURCE_ROOT "/rules/replies.conf", errors);
    CHECK(errors.empty());
    std::vector<std::string> ids = {"dns-error", "score", "internal-error"};
    for (const auto &rule : rule_table())
        ids.emplace_back(rule.id);
    for (const auto &id : ids) {
        CAPTURE(id);
        CHECK(book.find(id).id == id);
        CHECK_FALSE(book.find(id).lines.empty());
    }
    CHECK(book.find("rdns-missing").reject_status == "5.7.25");
    CHECK(book.find("rdns-unconfirmed").tempfail_code == "450");
    CHECK(book.find("rdns-unconfirmed").tempfail_status == "4.7.25");
    CHECK(book.find("helo-syntax").reject_status == "5.5.2");
    CHECK(book.find("dns-error").tempfail_code == "451");
    CHECK(book.find("dns-error").tempfail_status == "4.4.3");
}

TEST_CASE("defect: internal errors have one hard-coded 451 text") {
    const auto *rule = find_rule(policy_rules(), "internal-error");
    REQUIRE(rule);
    CHECK_FALSE(rule->may_reject);
    CHECK(rule->tempfail == "451 4.3.0");
    CHECK_FALSE(rule->help.empty());

    const ReplyBook book(rule_table());
    CHECK(book.find("internal-error").id == "internal-error");
    const auto reply =
        render_reply(book.find("internal-error"), Verdict::tempfail, {{"rule", "internal-error"}});
    CHECK(reply.code == "451");
    CHECK(reply.status == "4.3.0");
    CHECK(reply.text().find("internal-error") != std::string::npos);

    // The replies file overrides it like any other rule's reply.
    const std::string file = "/tmp/portcullis-internal-error-replies-test.conf";
    {
        std::ofstream out(file);
        out << "[internal-error]\ntempfail = 421 4.3.0\ntext = Local trouble (${rule})\n";
    }
    std::vector<std::string> errors;
    const auto overridden = load_replies(file, errors);
    std::remove(file.c_str());
    CHECK(errors.empty());
    const auto local = render_reply(overridden.find("internal-error"), Verdict::tempfail,
                                    {{"rule", "internal-error"}});
    CHECK(local.code == "421");
    CHECK(local.text().find("Local trouble") != std::string::npos);
}

TEST_CASE("defect: a reply whose ${rule} is cut off or malformed names no rule") {
    struct Row {
        const char *name;
        std::string line;
        std::string txt;
    };
    const Row rows[] = {
        {"${rule} after a long TXT reason, past the line's 980 bytes",
         "Listed: ${dnsbl_txt} (${rule})", std::string(975, 'x')},
        {"${rule} inside an unclosed ${", "Refused ${x${rule}", ""},
        {"${rule} in a line after the 32nd", "", ""},
    };
    for (const auto &row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        ReplyTemplate tmpl;
        tmpl.lines = {row.line};
        if (row.line.empty()) {
            tmpl.lines.assign(32, "Refused by local policy");
            tmpl.lines.push_back("(${rule})");
        }
        const auto reply =
            render_reply(tmpl, Verdict::reject, {{"rule", "dnsbl-listed"}, {"dnsbl_txt", row.txt}});
        CAPTURE(reply.text());
        CHECK(reply.text().find("dnsbl-listed") != std::string::npos);
        for (const auto &line : reply.lines)
            CHECK(line.size() <= max_reply_line_length);
    }
}
