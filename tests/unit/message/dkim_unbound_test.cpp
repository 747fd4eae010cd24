// DKIM keys through the real resolver path: libunbound with local-data
// serving the keys (a 2048-bit RSA key is over 255 octets, so its TXT
// record holds several strings), forwarding everything else to a
// loopback socket that never answers.
#include "message/dkim_verifier.hpp"
#include "dkim_support.hpp"
#include "resolver/unbound_resolver.hpp"
#include "../silent_dns_server.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using namespace portcullis::message;
using namespace std::chrono_literals;
using portcullis::testing::DkimKeys;

namespace {

// The record as local-data writes it: quoted strings of at most 255.
std::string quoted_strings(const std::string &record) {
    std::string out;
    for (std::size_t at = 0; at < record.size(); at += 255)
        out += " \"" + record.substr(at, 255) + "\"";
    return out;
}

class UnboundKeys {
  public:
    explicit UnboundKeys(const std::string &local_data) {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "portcullis-dkim-ub-XXXXXX");
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        directory_ = pattern;
        std::ofstream(directory_ / "unbound.conf") << "server:\n"
                                                      "    do-not-query-localhost: no\n"
                                                   << local_data;
        Config::Resolver settings;
        settings.forward = {silent_.forward()};
        settings.dnssec = false;
        settings.unbound_config = directory_ / "unbound.conf";
        settings.timeout = 400ms;
        settings.msg_cache_size = 4u << 20;
        settings.rrset_cache_size = 4u << 20;
        settings.outgoing_range = 64;
        resolver = std::make_shared<UnboundResolver>(settings);
    }
    ~UnboundKeys() {
        resolver.reset();
        std::filesystem::remove_all(directory_);
    }
    std::shared_ptr<UnboundResolver> resolver;

  private:
    testing::SilentDnsServer silent_;
    std::filesystem::path directory_;
};

} // namespace

TEST_CASE("keys served by libunbound local-data verify; a missing one is permerror or "
          "temperror") {
    const auto &keys = DkimKeys::get();
    const std::string local_data = "    local-zone: \"test.\" nodefault\n"
                                   "    local-zone: \"example.org.\" static\n"
                                   "    local-data: 'sel._domainkey.example.org. 300 IN TXT" +
                                   quoted_strings(keys.record("rsa")) +
                                   "'\n"
                                   "    local-data: 'ed._domainkey.example.org. 300 IN TXT" +
                                   quoted_strings(keys.record("ed25519")) + "'\n";
    UnboundKeys world(local_data);
    const DkimLibrary library;
    DkimKeys::Signing rsa_signing;
    DkimKeys::Signing ed_signing;
    ed_signing.key = "ed25519";
    ed_signing.algorithm = "ed25519-sha256";
    ed_signing.selector = "ed";
    DkimKeys::Signing missing;
    missing.selector = "gone";
    // Outside the local zone: forwarded to the silent server, so timeout.
    DkimKeys::Signing unanswered;
    unanswered.domain = "elsewhere.test";
    struct Row {
        const char *name;
        const DkimKeys::Signing &how;
        DkimResult result;
    };
    const Row rows[] = {
        {"rsa key of several strings", rsa_signing, DkimResult::pass},
        {"ed25519 key", ed_signing, DkimResult::pass},
        {"no such selector in a static zone", missing, DkimResult::permerror},
        {"a key nobody answers for", unanswered, DkimResult::temperror},
    };
    for (const auto &row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        const auto message = testing::split_message(keys.sign(testing::plain_message, row.how));
        auto lookups = Lookups::create(world.resolver);
        const auto results = testing::verify_message(library, *lookups, message, {}, 3s);
        REQUIRE(results.size() == 1);
        CHECK(to_string(results[0].result) == to_string(row.result));
        CHECK_FALSE(results[0].key_secure);
        const std::string detail = results[0].detail;
        CAPTURE(detail);
        if (row.result == DkimResult::temperror)
            CHECK(detail.find("key lookup") == 0);
    }
}
