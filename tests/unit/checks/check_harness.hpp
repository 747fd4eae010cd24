// The fixture the unit tests of the checks share: one connection's Facts,
// a default Config, no check data (set() a check's data, such as the
// generic-rDNS patterns) and Lookups over scripted DNS, and run(), which
// runs one check as the milter does: derive the client identity, ask for
// the client's names when the check reads them, prefetch, wait for the
// lookups, evaluate. A test sets facts, config and dns first; a test file
// that needs more (zones for DNSBL, a HELO) derives from it.
#pragma once

#include "../scripted_resolver.hpp"
#include "checks/check.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::testing {

class CheckHarness {
  public:
    // No client (std::nullopt) is a connection without an IP address.
    explicit CheckHarness(std::optional<std::string> client) {
        if (client)
            facts.client = IpAddress::parse(*client);
    }

    // The identity is derived from the facts as they are now.
    CheckContext context() {
        identity.update(facts);
        return CheckContext{facts, identity, config, data, *lookups, *notes, message};
    }

    // The results of the check called `name`; the lookups get a second.
    std::vector<CheckResult> run(std::string_view name) {
        for (const Check *check : all_checks())
            if (check->name() == name) {
                const auto prefetch_context = context();
                if (check->needs_client_names() && identity.address)
                    identity.names->start(*lookups, *identity.address, config.rdns_max_names);
                check->prefetch(prefetch_context);
                lookups->wait_until(Lookups::Clock::now() + std::chrono::seconds(1));
                auto results = check->evaluate(context());
                // A check speaks only for the rules it declares.
                for (const auto &result : results) {
                    CAPTURE(result.rule);
                    CHECK(result.check == check->name());
                    CHECK(find_rule(check->rules(), result.rule) != nullptr);
                }
                return results;
            }
        FAIL("no check named " << name);
        return {};
    }

    // In this order: lookups is made from dns.
    std::shared_ptr<ScriptedResolver> dns = std::make_shared<ScriptedResolver>();
    Config config = *load_config("").config;
    CheckDataSet data;
    Facts facts;
    ClientIdentity identity;
    std::shared_ptr<Lookups> lookups = Lookups::create(dns);
    std::shared_ptr<SessionNotes> notes = SessionNotes::create();
    // For the checks of the header and message stages.
    const MessageFacts *message = nullptr;
};

// A header of `fields` ("Name", "value") in a HeaderBlock with the
// default limits, and MessageFacts over it.
struct MessageFixture {
    explicit MessageFixture(const std::vector<std::pair<std::string, std::string>> &fields,
                            message::HeaderLimits limits = {})
        : header(limits) {
        for (const auto &[name, value] : fields)
            header.add(name, value);
        facts.header = &header;
    }
    message::HeaderBlock header;
    MessageFacts facts;
};

} // namespace portcullis::testing
