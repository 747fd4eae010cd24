// DkimVerification over libopendkim with messages signed at test time by
// python3-dkim and keys served by a scripted resolver (and, in
// dkim_unbound_test.cpp, by libunbound's local-data).
#include "message/dkim_verifier.hpp"
#include "message/pubkey_decode.hpp"
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
    const auto keys_before = pubkey_decode_counts();
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
    // libopendkim's RSA keys went through pubkey_decode.cpp (one per RSA row).
    CHECK(pubkey_decode_counts().fast == keys_before.fast + 4);
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

TEST_CASE("a key lookup unanswered at the deadline is temperror; a late one is waited for") {
    const auto &keys = DkimKeys::get();
    const auto message = split_message(keys.sign(testing::plain_message, Signing{}));
    auto answers = std::make_shared<ScriptedResolver>();
    answers->add("sel._domainkey.example.org", DnsType::TXT, {keys.record("rsa")});
    SUBCASE("answered after the deadline") {
        auto lookups = Lookups::create(std::make_shared<testing::LaterResolver>(answers, 10s));
        const auto before = Lookups::Clock::now();
        const auto results = verify_message(library(), *lookups, message, {}, 200ms);
        CHECK(Lookups::Clock::now() - before < 5s);
        REQUIRE(results.size() == 1);
        CHECK(results[0].result == DkimResult::temperror);
        CHECK(results[0].detail == "key lookup timed out");
    }
    SUBCASE("answered from another thread before the deadline") {
        auto lookups = Lookups::create(std::make_shared<testing::LaterResolver>(answers, 100ms));
        const auto results = verify_message(library(), *lookups, message, {}, 5s);
        REQUIRE(results.size() == 1);
        CHECK(results[0].result == DkimResult::pass);
    }
}

TEST_CASE("the key lookup starts at the DKIM-Signature field, before the end of headers") {
    const auto &keys = DkimKeys::get();
    const auto message = split_message(keys.sign(testing::plain_message, Signing{}));
    World world;
    world.key("sel._domainkey.example.org", keys.record("rsa"));
    DkimVerification verification(library(), *world.lookups, {});
    verification.header(message.fields.at(0).first, message.fields.at(0).second);
    REQUIRE(message.fields.at(0).first == "DKIM-Signature");
    const auto asked = world.resolver->asked();
    REQUIRE(asked.size() == 1);
    CHECK(asked[0].first == "sel._domainkey.example.org");
    CHECK(asked[0].second == DnsType::TXT);
    for (std::size_t i = 1; i < message.fields.size(); ++i)
        verification.header(message.fields[i].first, message.fields[i].second);
    verification.end_of_headers();
    verification.body(message.body);
    const auto results = verification.end_of_message(Lookups::Clock::now() + 5s);
    REQUIRE(results.size() == 1);
    CHECK(results[0].result == DkimResult::pass);
    // libopendkim's own query went to the same entry: asked once in all.
    CHECK(world.asked_txt() == 1);
    CHECK(world.lookups->started() == 1);
}

TEST_CASE("l= covers a prefix of the body: appended text passes, body() stops asking") {
    const auto &keys = DkimKeys::get();
    Signing how;
    how.length = true;
    const auto signed_message = keys.sign(testing::plain_message, how);
    auto message = split_message(signed_message);
    const std::string covered = message.body;
    World world;
    world.key("sel._domainkey.example.org", keys.record("rsa"));
    DkimVerification verification(library(), *world.lookups, {});
    for (const auto &[name, value] : message.fields)
        verification.header(name, value);
    verification.end_of_headers();
    // The signed part in two pieces: more is wanted after the first only.
    CHECK(verification.body(covered.substr(0, 5)));
    CHECK_FALSE(verification.body(covered.substr(5)));
    CHECK_FALSE(verification.body("Appended by a mailing list.\r\n"));
    const auto results = verification.end_of_message(Lookups::Clock::now() + 5s);
    REQUIRE(results.size() == 1);
    CHECK(results[0].result == DkimResult::pass);

    SUBCASE("without l= the whole body is wanted, and appended text fails") {
        const auto plain = split_message(keys.sign(testing::plain_message, Signing{}));
        DkimVerification whole(library(), *world.lookups, {});
        for (const auto &[name, value] : plain.fields)
            whole.header(name, value);
        whole.end_of_headers();
        CHECK(whole.body(plain.body));
        CHECK(whole.body("Appended by a mailing list.\r\n"));
        const auto failed = whole.end_of_message(Lookups::Clock::now() + 5s);
        REQUIRE(failed.size() == 1);
        CHECK(failed[0].result == DkimResult::fail);
        CHECK(failed[0].detail == "body hash mismatch");
    }
    SUBCASE("an unsigned message wants no body") {
        const auto unsigned_message = split_message(testing::plain_message);
        DkimVerification none(library(), *world.lookups, {});
        for (const auto &[name, value] : unsigned_message.fields)
            none.header(name, value);
        none.end_of_headers();
        CHECK_FALSE(none.body(unsigned_message.body));
        CHECK(none.end_of_message(Lookups::Clock::now() + 1s).empty());
    }
}

TEST_CASE("several signatures are judged each, in header order; another domain than From") {
    const auto &keys = DkimKeys::get();
    Signing first;
    first.selector = "good";
    // Signed with the 1024-bit key, published with the 2048-bit one: fails.
    Signing second;
    second.key = "rsa1024";
    second.selector = "wrong";
    // A third party's signature (a mailing list's domain).
    Signing third;
    third.key = "ed25519";
    third.algorithm = "ed25519-sha256";
    third.selector = "list";
    third.domain = "lists.example.net";
    third.identity = "owner@lists.example.net";
    std::string message = keys.sign(testing::plain_message, first);
    message = keys.sign(message, second);
    message = keys.sign(message, third);
    World world;
    world.key("good._domainkey.example.org", keys.record("rsa"));
    world.key("wrong._domainkey.example.org", keys.record("rsa"));
    world.key("list._domainkey.lists.example.net", keys.record("ed25519"));
    const auto split = split_message(message);
    const auto results = verify_message(library(), *world.lookups, split);
    REQUIRE(results.size() == 3);
    // python3-dkim puts each new signature on top.
    CHECK(results[0].domain == "lists.example.net");
    CHECK(results[0].identity == "owner@lists.example.net");
    CHECK(results[0].result == DkimResult::pass);
    CHECK(results[0].b_prefix == b_value_prefix(split, 0));
    CHECK(results[1].selector == "wrong");
    CHECK(results[1].result == DkimResult::fail);
    CHECK(results[1].b_prefix == b_value_prefix(split, 1));
    CHECK(results[2].selector == "good");
    CHECK(results[2].result == DkimResult::pass);
    CHECK(results[2].b_prefix == b_value_prefix(split, 2));
}

TEST_CASE("signatures beyond max_signatures are neither looked up nor evaluated") {
    const auto &keys = DkimKeys::get();
    std::string message = testing::plain_message;
    World world;
    for (int i = 0; i < 7; ++i) {
        Signing how;
        how.selector = "s" + std::to_string(i);
        message = keys.sign(message, how);
        world.key(how.selector + "._domainkey.example.org", keys.record("rsa"));
    }
    const auto split = split_message(message);
    for (unsigned limit : {5u, 2u, 1u}) {
        CAPTURE(limit);
        World fresh;
        for (int i = 0; i < 7; ++i)
            fresh.key("s" + std::to_string(i) + "._domainkey.example.org", keys.record("rsa"));
        const auto results = verify_message(library(), *fresh.lookups, split, {limit});
        REQUIRE(results.size() == limit);
        for (const auto &result : results)
            CHECK(result.result == DkimResult::pass);
        // The topmost signatures, s6 first.
        CHECK(results[0].selector == "s6");
        CHECK(fresh.asked_txt() == limit);
        CHECK(fresh.lookups->started() == limit);
        for (const auto &[name, type] : fresh.resolver->asked())
            CHECK(name >= "s" + std::to_string(7 - limit));
    }
}

TEST_CASE("the DNSSEC state of the key's answer is carried") {
    const auto &keys = DkimKeys::get();
    const auto message = split_message(keys.sign(testing::plain_message, Signing{}));
    for (bool secure : {true, false}) {
        CAPTURE(secure);
        World world;
        DnsAnswer answer;
        answer.status = DnsAnswer::Status::ok;
        answer.records = {keys.record("rsa")};
        answer.secure = secure;
        world.resolver->set("sel._domainkey.example.org", DnsType::TXT, answer);
        const auto results = verify_message(library(), *world.lookups, message);
        REQUIRE(results.size() == 1);
        CHECK(results[0].result == DkimResult::pass);
        CHECK(results[0].key_secure == secure);
    }
}

TEST_CASE("malformed, expired and unsupported signatures are permerror") {
    const auto &keys = DkimKeys::get();
    const auto good = split_message(keys.sign(testing::plain_message, Signing{}));
    std::string good_value = good.fields.at(0).second;
    struct Row {
        const char *name;
        std::string value;
        const char *detail;
        bool looked_up;
    };
    auto replaced = [&](const std::string &from, const std::string &to) {
        std::string value = good_value;
        const auto at = value.find(from);
        REQUIRE(at != std::string::npos);
        return value.replace(at, from.size(), to);
    };
    const Row rows[] = {
        {"garbage", "this is not a tag list", "signature syntax invalid", false},
        {"no d=", replaced("d=example.org;", ""), "signature syntax invalid", false},
        {"duplicate tag", replaced("d=example.org;", "d=example.org; d=example.org;"),
         "signature syntax invalid", false},
        {"eight-bit byte", replaced("d=example.org;", "d=example.org; z=\xc3\xa9;"),
         "signature syntax invalid", false},
        {"expired", replaced("d=example.org;", "d=example.org; x=1000;"), "signature expired",
         true},
        {"unknown algorithm", replaced("a=rsa-sha256", "a=rsa-sha512"),
         "signature algorithm invalid", true},
        {"version 2", replaced("v=1", "v=2"), "unsupported signature version", true},
    };
    SUBCASE("rsa-sha1, which libopendkim would verify (RFC 8301)") {
        Signing sha1;
        sha1.algorithm = "rsa-sha1";
        const auto message = split_message(keys.sign(testing::plain_message, sha1));
        World world;
        world.key("sel._domainkey.example.org", keys.record("rsa"));
        const auto results = verify_message(library(), *world.lookups, message);
        REQUIRE(results.size() == 1);
        CHECK(results[0].result == DkimResult::permerror);
        CHECK(results[0].algorithm == "rsa-sha1");
        CHECK(results[0].detail == "rsa-sha1 not accepted (RFC 8301)");
        CHECK(world.asked_txt() == 0);
    }
    for (const auto &row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        MilterMessage message = good;
        message.fields.at(0).second = row.value;
        World world;
        world.key("sel._domainkey.example.org", keys.record("rsa"));
        const auto results = verify_message(library(), *world.lookups, message);
        REQUIRE(results.size() == 1);
        CHECK(results[0].result == DkimResult::permerror);
        CHECK(results[0].detail == row.detail);
        CHECK((world.asked_txt() == 1) == row.looked_up);
    }
}

TEST_CASE("a verification used out of order or fed hostile fields does not break") {
    const auto &keys = DkimKeys::get();
    const auto message = split_message(keys.sign(testing::plain_message, Signing{}));
    World world;
    world.key("sel._domainkey.example.org", keys.record("rsa"));
    SUBCASE("end_of_message without end_of_headers or body") {
        DkimVerification verification(library(), *world.lookups, {});
        for (const auto &[name, value] : message.fields)
            verification.header(name, value);
        const auto results = verification.end_of_message(Lookups::Clock::now() + 5s);
        REQUIRE(results.size() == 1);
        CHECK(results[0].result != DkimResult::pass);
        CHECK(verification.end_of_message(Lookups::Clock::now()).empty());
        CHECK_FALSE(verification.body("late\r\n"));
    }
    SUBCASE("fields with NUL, CR, bytes over 127, empty names and values") {
        DkimVerification verification(library(), *world.lookups, {});
        verification.header("", "x");
        verification.header("X-Nul", std::string("a\0b", 3));
        verification.header(std::string("X-\0Name", 7), "v");
        verification.header("X-High", "\xff\xfe");
        verification.header("X-Empty", "");
        verification.header("X:Colon", "v");
        verification.header("DKIM-Signature", std::string("v=1; d=\0x; s=y", 14));
        verification.header("DKIM-Signature", std::string(100000, 'a'));
        for (const auto &[name, value] : message.fields)
            verification.header(name, value);
        verification.end_of_headers();
        verification.body(message.body);
        const auto results = verification.end_of_message(Lookups::Clock::now() + 5s);
        REQUIRE(results.size() == 3);
        CHECK(results[0].result == DkimResult::permerror);
        CHECK(results[1].result == DkimResult::permerror);
        CHECK(results[2].result == DkimResult::pass);
    }
}
