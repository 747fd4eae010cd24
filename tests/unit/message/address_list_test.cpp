#include "message/address_list.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace portcullis::message;

TEST_CASE("the domains of the mailboxes of From: values") {
    using Domains = std::vector<std::string>;
    struct Row {
        std::string value;
        Domains domains;
        bool complete;
    };
    const Row rows[] = {
        {"a@example.org", {"example.org"}, true},
        {"A@Example.ORG", {"example.org"}, true},
        {"a@example.org.", {"example.org"}, true},
        {"Alice <alice@example.org>", {"example.org"}, true},
        {"\"Alice Example\" <alice@example.org>", {"example.org"}, true},
        {"\"ceo@bank.example\" <x@evil.example>", {"evil.example"}, true},
        {"\"a@b.example, c@d.example\" <x@evil.example>", {"evil.example"}, true},
        {"John Q. Public <jqp@example.com>", {"example.com"}, true},
        {"a@example.org, b@example.net", {"example.org", "example.net"}, true},
        {"Alice <a@example.org>, \"Bob\" <b@EXAMPLE.net>, c@x.example",
         {"example.org", "example.net", "x.example"},
         true},
        {"a@example.org (Alice)", {"example.org"}, true},
        {"(comment) a@example.org", {"example.org"}, true},
        {"a(c)@(d)example(e).(f)org", {"example.org"}, true},
        {"Alice (the (nested) one) <a@example.org>", {"example.org"}, true},
        {"\"quoted local\"@example.org", {"example.org"}, true},
        {"\"a\\\"b\"@example.org", {"example.org"}, true},
        {"first.last@example.org", {"example.org"}, true},
        {"a . b @ example . org", {"example.org"}, true},
        {"a@[192.0.2.1]", {"[192.0.2.1]"}, true},
        {"a@[IPv6:2001:DB8::1]", {"[ipv6:2001:db8::1]"}, true},
        {"a@b\xc3\xbc"
         "cher.example",
         {"b\xc3\xbc"
          "cher.example"},
         true},
        {"<@route1.example,@route2.example:x@target.example>", {"target.example"}, true},
        {"Name <@r.example:x@target.example>", {"target.example"}, true},
        {"<,@r1.example,,@r2.example:x@target.example>", {"target.example"}, true},
        {"Friends: a@one.example, b@two.example;", {"one.example", "two.example"}, true},
        {"Friends: a@one.example;, c@three.example", {"one.example", "three.example"}, true},
        {"undisclosed-recipients:;", {}, true},
        {"Group: ;", {}, true},
        {"Group:(empty) ;(after)", {}, true},
        {"a@one.example, , b@two.example,", {"one.example", "two.example"}, true},
        {", a@one.example", {"one.example"}, true},
        {"", {}, true},
        {"  (only a comment)  ", {}, true},
        {"Alice\r\n <a@example.org>", {"example.org"}, true},
        // Not readable: the domains before the fault, complete false.
        {"alice", {}, false},
        {"Alice Example", {}, false},
        {"a@example.org, bob", {"example.org"}, false},
        {"a@", {}, false},
        {"@example.org", {}, false},
        {"a@@example.org", {}, false},
        {"a@b@example.org", {"b"}, false},
        {"a@example..org", {}, false},
        {".a@example.org", {}, false},
        {"a.@example.org", {}, false},
        {"a..b@example.org", {}, false},
        {"a b@example.org", {}, false},
        {"<>", {}, false},
        {"<a@example.org", {"example.org"}, false},
        {"Alice <a@example.org> trailing", {"example.org"}, false},
        {"Alice <a@example.org> <b@example.net>", {"example.org"}, false},
        {"a@example.org <b@example.net>", {"example.org"}, false},
        {"\"unclosed <a@example.org>", {}, false},
        {"Alice (unclosed <a@example.org>", {}, false},
        {"a@[192.0.2.1", {}, false},
        {"a@\"quoted\".example", {}, false},
        {"Outer: Inner: a@example.org;;", {}, false},
        {"Group: a@example.org", {"example.org"}, false},
        {": a@example.org;", {}, false},
        {"<@r.example x@target.example>", {}, false},
        {"<:x@target.example>", {}, false},
        {"a@example.org; b@example.net", {"example.org"}, false},
        {"a@exa\x01mple.org", {"exa"}, false},
        {std::string("a@example.org\0, b@evil.example", 30), {"example.org"}, false},
    };
    for (const auto &row : rows) {
        CAPTURE(row.value);
        const auto found = mailbox_domains(row.value);
        CHECK(found.domains == row.domains);
        CHECK(found.complete == row.complete);
    }
}

TEST_CASE("mailbox domains are bounded and linear") {
    std::string many;
    for (std::size_t i = 0; i < max_mailboxes; ++i)
        many += "a@example.org,";
    auto found = mailbox_domains(many);
    CHECK(found.complete);
    CHECK(found.domains.size() == max_mailboxes);
    found = mailbox_domains(many + "b@example.net");
    CHECK_FALSE(found.complete);
    CHECK(found.domains.size() == max_mailboxes);
    // Hostile shapes of a megabyte each answer at once.
    CHECK_FALSE(mailbox_domains(std::string(1 << 20, '(')).complete);
    CHECK_FALSE(mailbox_domains(std::string(1 << 20, '"')).complete);
    CHECK_FALSE(mailbox_domains(std::string(1 << 20, '<')).complete);
    CHECK(mailbox_domains(std::string(1 << 20, ',')).complete);
    CHECK_FALSE(mailbox_domains(std::string(1 << 20, 'a')).complete);
    std::string dots;
    for (int i = 0; i < 100000; ++i)
        dots += "a.";
    CHECK_FALSE(mailbox_domains(dots).complete);
    CHECK(mailbox_domains(dots + "a@x.example").domains == std::vector<std::string>{"x.example"});
}
