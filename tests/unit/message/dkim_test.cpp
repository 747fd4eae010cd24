// DkimVerification over libopendkim with messages signed at test time by
// python3-dkim and keys served by a scripted resolver (and, in
// dkim_unbound_test.cpp, by libunbound's local-data).
#include "message/dkim_verifier.hpp"
#include "dkim_support.hpp"
#include "../later_resolver.hpp"
#include "../scripted_resolver.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace portcullis;
using namespace portcullis::message;
using namespace std::chrono_literals;
using portcullis::testing::DkimKeys;
using portcullis::testing::MilterMessage;
using portcullis::testing::ScriptedResolver;
using portcullis::testing::split_message;
using portcullis::testing::verify_message;
using Signing = DkimKeys::Signing;

namespace {

const DkimLibrary &library() {
    static const DkimLibrary instance;
    return instance;
}

std::string b_value_prefix(const MilterMessage &message, std::size_t which = 0) {
    std::size_t seen = 0;
    for (const auto &[name, value] : message.fields) {
        if (name != "DKIM-Signature" || seen++ != which)
            continue;
        std::string compact;
        for (char c : value)
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
                compact += c;
        const auto at = compact.find(";b=");
        REQUIRE(at != std::string::npos);
        return compact.substr(at + 3, 8);
    }
    FAIL("no DKIM-Signature");
    return {};
}

struct World {
    std::shared_ptr<ScriptedResolver> resolver = std::make_shared<ScriptedResolver>();
    std::shared_ptr<Lookups> lookups = Lookups::create(resolver);

    World &key(const std::string &name, const std::string &record) {
        resolver->add(name, DnsType::TXT, {record});
        return *this;
    }
    std::size_t asked_txt() const {
        const auto asked = resolver->asked();
        return static_cast<std::size_t>(std::count_if(
            asked.begin(), asked.end(), [](const auto &q) { return q.second == DnsType::TXT; }));
    }
};

} // namespace

TEST_CASE("signatures made by python3-dkim verify: algorithms and canonicalizations") {
    const auto &keys = DkimKeys::get();
    struct Row {
        const char *key;
        const char *algorithm;
        const char *canon;
    };
    const Row rows[] = {
        {"rsa", "rsa-sha256", "relaxed/relaxed"},
        {"rsa", "rsa-sha256", "simple/simple"},
        {"rsa", "rsa-sha256", "relaxed/simple"},
        {"rsa1024", "rsa-sha256", "simple/relaxed"},
        {"ed25519", "ed25519-sha256", "relaxed/relaxed"},
        {"ed25519", "ed25519-sha256", "simple/simple"},
    };
    for (const auto &row : rows) {
        const std::string key = row.key, canon = row.canon;
        CAPTURE(key);
        CAPTURE(canon);
        Signing how;
        how.key = row.key;
        how.algorithm = row.algorithm;
        how.canon = row.canon;
        const auto message = split_message(keys.sign(testing::plain_message, how));
        World world;
        world.key("sel._domainkey.example.org", keys.record(row.key));
        const auto results = verify_message(library(), *world.lookups, message);
        REQUIRE(results.size() == 1);
        CHECK(results[0].result == DkimResult::pass);
        CHECK(results[0].detail == "verified");
        CHECK(results[0].domain == "example.org");
        CHECK(results[0].selector == "sel");
        CHECK(results[0].algorithm == row.algorithm);
        CHECK(results[0].b_prefix == b_value_prefix(message));
        CHECK_FALSE(results[0].key_secure);
        CHECK(to_string(results[0].result) == "pass");
    }
}

TEST_CASE("a changed body or header fails; a missing or broken key is permerror") {
    const auto &keys = DkimKeys::get();
    const auto signed_message = keys.sign(testing::plain_message, Signing{});
    struct Row {
        const char *name;
        std::function<void(MilterMessage &, World &)> change;
        DkimResult result;
        const char *detail;
    };
    const std::string good_key = keys.record("rsa");
    const Row rows[] = {
        {"untouched", [](MilterMessage &, World &) {}, DkimResult::pass, "verified"},
        {"body changed", [](MilterMessage &m, World &) { m.body += "P.S. added\r\n"; },
         DkimResult::fail, "body hash mismatch"},
        {"body whitespace in relaxed", [](MilterMessage &m, World &) { m.body += "\r\n\r\n"; },
         DkimResult::pass, "verified"},
        {"subject changed",
         [](MilterMessage &m, World &) {
             for (auto &[name, value] : m.fields)
                 if (name == "Subject")
                     value = "Greetings!";
         },
         DkimResult::fail, "signature did not verify"},
        {"key NXDOMAIN",
         [](MilterMessage &, World &w) {
             w.resolver->fail("sel._domainkey.example.org", DnsType::TXT,
                              DnsAnswer::Status::nxdomain);
         },
         DkimResult::permerror, "no key"},
        {"key name without TXT",
         [](MilterMessage &, World &w) {
             w.resolver->add("sel._domainkey.example.org", DnsType::TXT, {});
         },
         DkimResult::permerror, "no key"},
        {"key syntax bad",
         [](MilterMessage &, World &w) {
             w.key("sel._domainkey.example.org", "v=DKIM1; k=rsa; p=!!notbase64");
         },
         DkimResult::permerror, nullptr},
        {"key of another type",
         [&](MilterMessage &, World &w) {
             w.key("sel._domainkey.example.org", keys.record("ed25519"));
         },
         DkimResult::permerror, nullptr},
        {"key revoked (empty p=)",
         [](MilterMessage &, World &w) {
             w.key("sel._domainkey.example.org", "v=DKIM1; k=rsa; p=");
         },
         DkimResult::permerror, nullptr},
        {"another RSA key",
         [&](MilterMessage &, World &w) {
             w.key("sel._domainkey.example.org", keys.record("rsa1024"));
         },
         DkimResult::fail, "signature did not verify"},
        {"key lookup SERVFAIL",
         [](MilterMessage &, World &w) {
             w.resolver->fail("sel._domainkey.example.org", DnsType::TXT,
                              DnsAnswer::Status::servfail);
         },
         DkimResult::temperror, "key lookup servfail: scripted failure"},
        {"key lookup bogus",
         [](MilterMessage &, World &w) {
             w.resolver->fail("sel._domainkey.example.org", DnsType::TXT, DnsAnswer::Status::bogus);
         },
         DkimResult::temperror, "key lookup bogus: scripted failure"},
    };
    for (const auto &row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        auto message = split_message(signed_message);
        World world;
        world.key("sel._domainkey.example.org", good_key);
        row.change(message, world);
        const auto results = verify_message(library(), *world.lookups, message);
        REQUIRE(results.size() == 1);
        CHECK(to_string(results[0].result) == to_string(row.result));
        if (row.detail != nullptr)
            CHECK(results[0].detail == row.detail);
    }
}
