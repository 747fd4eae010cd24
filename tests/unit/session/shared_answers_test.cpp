#include "session/shared_answers.hpp"
#include "../scripted_resolver.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using portcullis::testing::ScriptedResolver;

TEST_CASE("answers are shared between sessions, errors are not") {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->add("mail.example", DnsType::A, {"192.0.2.1"});
    dns->fail("broken.example", DnsType::A, DnsAnswer::Status::servfail);
    auto shared = std::make_shared<SharedAnswers>(dns);
    struct Row {
        const char *name;
        DnsAnswer::Status status;
    };
    const Row rows[] = {{"mail.example", DnsAnswer::Status::ok},
                        {"mail.example", DnsAnswer::Status::ok},
                        {"missing.example", DnsAnswer::Status::nxdomain},
                        {"missing.example", DnsAnswer::Status::nxdomain},
                        {"broken.example", DnsAnswer::Status::servfail},
                        {"broken.example", DnsAnswer::Status::servfail}};
    for (const auto &row : rows) {
        DnsAnswer got;
        shared->resolve(row.name, DnsType::A, [&](DnsAnswer answer) { got = std::move(answer); });
        CHECK(got.status == row.status);
    }
    // One query each for the good and the missing name, both for the broken one.
    CHECK(dns->asked().size() == 4);
}
