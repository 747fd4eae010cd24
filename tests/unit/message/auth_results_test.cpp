#include "message/auth_results.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace portcullis::message;

TEST_CASE("the authserv-id of Authentication-Results values") {
    struct Row {
        std::string value;
        std::string id;
    };
    const Row rows[] = {
        {"mx.example.org; dkim=pass header.d=example.org", "mx.example.org"},
        {"MX.Example.ORG; spf=pass", "mx.example.org"},
        {"mx.example.org;spf=pass", "mx.example.org"},
        {"mx.example.org 1; none", "mx.example.org"},
        {"mx.example.org (version follows) 1; none", "mx.example.org"},
        {"mx.example.org(comment); none", "mx.example.org"},
        {"  \r\n\tmx.example.org ; none", "mx.example.org"},
        {"(x) example.org; dkim=pass", "example.org"},
        {"(a (nested \\) one) b) example.org; none", "example.org"},
        {"\"quoted.example.org\"; none", "quoted.example.org"},
        {"\"Quoted \\\"id\\\"\"; none", "quoted \"id\""},
        {"(c)\"q.example\"(d); none", "q.example"},
        {"mx.example.org", "mx.example.org"},
        {"mx_1-2.example.org; none", "mx_1-2.example.org"},
        {"", ""},
        {"   ", ""},
        {"; dkim=pass", ""},
        {"(unclosed example.org; none", ""},
        {"(x) \"unclosed; none", ""},
        {"\"unclosed", ""},
        {"\"q.example\"x; none", ""},
        {"\"q.example\"/x; none", ""},
        {"\"\"; none", ""},
        {"mx.example.org/other; none", ""},
        {"mx@example.org; none", ""},
        {"mx.example.org=x; none", ""},
        {"mx.exa\x01mple.org; none", ""},
        {"mx.ex\xc3\xa4mple.org; none", ""},
        {std::string("mx.example.org\0; none", 21), ""},
        {"(" + std::string(8192, 'x') + ") big.example; none", "big.example"},
        {"(" + std::string(8192, '('), ""},
        {std::string(8192, '"'), ""},
        {"long.example; " + std::string(8192, 'x'), "long.example"},
        {std::string(8192, 'a'), std::string(8192, 'a')},
    };
    for (const auto &row : rows) {
        CAPTURE(row.value.substr(0, 80));
        CHECK(authserv_id_of(row.value) == row.id);
    }
}

TEST_CASE("Authentication-Results values are written folded, quoted where needed") {
    struct Row {
        std::string id;
        std::vector<AuthResult> results;
        std::string field;
    };
    const AuthResult dkim{
        "dkim", "pass", "", {{"header", "d", "example.org"}, {"header", "b", "AbCd+/12"}}, ""};
    const AuthResult spf{
        "spf", "fail", "", {{"smtp", "mailfrom", "a@b.example"}}, "sender IP 192.0.2.1"};
    const Row rows[] = {
        {"mx.example.org", {}, "mx.example.org; none"},
        {"mx.example.org",
         {dkim},
         "mx.example.org; dkim=pass header.d=example.org header.b=\"AbCd+/12\""},
        {"mx.example.org",
         {dkim, spf},
         "mx.example.org; dkim=pass header.d=example.org header.b=\"AbCd+/12\";\n\t"
         "spf=fail (sender IP 192.0.2.1) smtp.mailfrom=a@b.example"},
        {"mx.example.org",
         {{"iprev", "temperror", "DNS timeout", {{"policy", "iprev", "192.0.2.1"}}, ""}},
         "mx.example.org; iprev=temperror reason=\"DNS timeout\" policy.iprev=192.0.2.1"},
        {"mx.example.org",
         {{"spf", "pass", "", {{"smtp", "mailfrom", "@b.example"}}, ""}},
         "mx.example.org; spf=pass smtp.mailfrom=@b.example"},
        {"mx.example.org",
         {{"spf", "pass", "", {{"smtp", "mailfrom", "\"a b\"@b.example"}}, ""}},
         "mx.example.org; spf=pass smtp.mailfrom=\"\\\"a b\\\"@b.example\""},
        {"mx.example.org",
         {{"spf", "pass", "", {{"smtp", "mailfrom", "a@b..example"}}, ""}},
         "mx.example.org; spf=pass smtp.mailfrom=\"a@b..example\""},
        {"mx.example.org",
         {{"spf", "pass", "", {{"smtp", "mailfrom", ""}}, ""}},
         "mx.example.org; spf=pass smtp.mailfrom=\"\""},
        // hostile values: quotes, backslashes, CR LF, parentheses, semicolons
        {"mx.example.org",
         {{"dkim",
           "fail",
           "bad\r\n\"sig\"\\; x=y",
           {{"header", "d", "evil.example; spf=pass"}},
           "a) dkim=pass (b\\"}},
         "mx.example.org; dkim=fail (a\\) dkim=pass \\(b\\\\) reason=\"bad\\\"sig\\\"\\\\; x=y\" "
         "header.d=\"evil.example; spf=pass\""},
        {"mx example;org", {}, "\"mx example;org\"; none"},
        {"", {}, "\"\"; none"},
        {"mx.example.org",
         {{"dk;im", "pa ss\n", "", {{"he(ader", "d=", "x\x7f\x01y"}}, ""}},
         "mx.example.org; dkim=pass header.d=xy"},
        {"mx.example.org", {{"", "", "\t", {}, ""}}, "mx.example.org; unknown=none reason=\"\t\""},
    };
    for (const auto &row : rows) {
        CAPTURE(row.field);
        CHECK(format_authentication_results(row.id, row.results) == row.field);
    }
}

TEST_CASE("every line of a written field stays under 998 octets, its id read back") {
    const std::string huge(5000, 'x');
    const std::string quotes(5000, '"');
    std::vector<AuthResult> results;
    for (int i = 0; i < 20; ++i)
        results.push_back({"dkim",
                           huge,
                           i % 2 ? quotes : huge,
                           {{"header", "d", huge},
                            {"header", "i", quotes + "@" + huge},
                            {huge, huge, "a@example.org"}},
                           i % 2 ? huge : std::string(5000, '(')});
    for (const std::string &id : {std::string("mx.example.org"), std::string(300, '"')}) {
        const auto field = format_authentication_results(id, results);
        std::size_t line = 24; // "Authentication-Results: "
        std::size_t lines = 1;
        for (std::size_t i = 0; i < field.size(); ++i) {
            if (field[i] == '\n') {
                CHECK(line < 998);
                REQUIRE(i + 1 < field.size());
                CHECK(field[i + 1] == '\t');
                line = 0;
                ++lines;
                continue;
            }
            const auto byte = static_cast<unsigned char>(field[i]);
            CHECK((byte >= 0x20 || byte == '\t'));
            CHECK(byte != 0x7f);
            ++line;
        }
        CHECK(line < 998);
        CHECK(lines > 20);
        CHECK(authserv_id_of(field) == (id.size() < 255 ? id : std::string(255, '"')));
    }
}

TEST_CASE("a line that would be 998 octets long is folded before") {
    // "Authentication-Results: " 24, "mx.example.org;" 15, " spf=pass" 9,
    // " reason=rrr..." 408, " smtp.mailfrom=mmm..." 415, " smtp.helo=hhh..." 11 + n, ";" 1:
    // 883 + n octets, 998 when n = 115.
    for (std::size_t n = 100; n < 130; ++n) {
        const AuthResult result{
            "spf",
            "pass",
            std::string(400, 'r'),
            {{"smtp", "mailfrom", std::string(400, 'm')}, {"smtp", "helo", std::string(n, 'h')}},
            ""};
        const auto field = format_authentication_results("mx.example.org", {result, result});
        std::size_t line = 24, longest = 0;
        for (const char c : field) {
            line = c == '\n' ? 0 : line + 1;
            longest = std::max(longest, line);
        }
        CAPTURE(n);
        CHECK(longest < 998);
        CHECK(longest > 900);
    }
}
