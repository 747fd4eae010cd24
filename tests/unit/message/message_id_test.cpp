#include "message/message_id.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace portcullis::message;

TEST_CASE("Message-ID values") {
    struct Row {
        const char *value;
        const char *why; // "" when valid
    };
    const Row rows[] = {
        {"<abc@example.org>", ""},
        {"<1234.5678.9@mail.example.org>", ""},
        {"  <a!#$%&'*+-/=?^_`{|}~b@x>  ", ""},
        {"<abc@[192.0.2.1]>", ""}, // no-fold-literal
        {"<abc@[IPv6:2001:db8::1]>", ""},
        {"(comment) <abc@example.org> (another)", ""},
        {"\r\n <abc@example.org>", ""},
        {"<\"quoted id\"@example.org>", ""}, // obs-id-left
        {"<\"a\\\"b\"@example.org>", ""},
        {"<a . b@example.org>", ""},     // obs-local-part, CFWS around words
        {"< abc @ example . org >", ""}, // obs-id-right with CFWS
        {"<abc(c)@example.org>", ""},
        {"<abc@[ 192.0.2.1 ]>", ""},       // obs: FWS in the literal
        {"<caf\xc3\xa9@example.org>", ""}, // RFC 6532
        {"", "empty"},
        {"   ", "empty"},
        {"abc@example.org", "no '<' at 'abc@example.org'"},
        {"<>", "id-left invalid at '>'"},
        {"<@example.org>", "id-left invalid at '@example.org>'"},
        {"<abc>", "no '@' in msg-id"},
        {"<abc@>", "id-right invalid at '>'"},
        {"<abc@example.org", "no '>' at ''"},
        {"<abc@example..org>", "id-right invalid at 'example..org>'"},
        {"<.abc@example.org>", "id-left invalid at '.abc@example.org>'"},
        {"<abc.@example.org>", "id-left invalid at 'abc.@example.org>'"},
        {"<a..b@example.org>", "id-left invalid at 'a..b@example.org>'"},
        {"<a@b@example.org>", "no '>' at '@example.org>'"},
        {"<abc@example.org><def@example.org>", "more than one msg-id"},
        {"<abc@example.org> <def@example.org>", "more than one msg-id"},
        {"<abc@example.org> trailing", "text after msg-id: 'trailing'"},
        {"<a b@example.org>", "no '@' in msg-id"},
        {"<abc@exa mple.org>", "no '>' at 'mple.org>'"},
        {"<\"unclosed@example.org>", "id-left invalid at '\"unclosed@example.org>'"},
        {"<abc@[unclosed>", "id-right invalid at '[unclosed>'"},
        {"<abc@[a[b]>", "id-right invalid at '[a[b]>'"},
        {"(unclosed <abc@example.org>", "comment not closed"},
        {"<abc@example.org> (unclosed", "comment not closed"},
        {"<a\x01@example.org>", "no '@' in msg-id"},
    };
    for (const auto &row : rows) {
        const std::string value = row.value;
        CAPTURE(value);
        std::string why;
        CHECK(valid_message_id(value, &why) == (std::string(row.why).empty()));
        CHECK(why == row.why);
    }
    // The NUL inside a value (C strings above cannot hold it).
    std::string why;
    CHECK_FALSE(valid_message_id(std::string("<abc@example.org>\0", 18), &why));
    CHECK(why == "text after msg-id: '?'");
    CHECK_FALSE(valid_message_id(std::string("<ab\0c@example.org>", 18), &why));
    CHECK_FALSE(valid_message_id(std::string(100000, '<'), &why));
    CHECK(valid_message_id("<" + std::string(5000, 'a') + "@" + std::string(5000, 'b') + ">"));
}
