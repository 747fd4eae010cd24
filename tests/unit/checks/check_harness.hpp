// The fixture the unit tests of the checks share: one connection's Facts,
// a default Config, empty generic-rDNS patterns and Lookups over scripted
// DNS, and run(), which runs one check as the milter does: prefetch, wait
// for the lookups, evaluate. A test sets facts, config and dns first; a
// test file that needs more (zones for DNSBL, a HELO) derives from it.
#pragma once

#include "../scripted_resolver.hpp"
#include "checks/check.hpp"
#include "checks/generic_rdns.hpp"

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

    CheckContext context() { return CheckContext{facts, config, patterns, *lookups, *notes}; }

    // The results of the check called `name`; the lookups get a second.
    std::vector<CheckResult> run(std::string_view name) {
        for (const Check *check : all_checks())
            if (check->name() == name) {
                check->prefetch(context());
                lookups->wait_until(Lookups::Clock::now() + std::chrono::seconds(1));
                return check->evaluate(context());
            }
        FAIL("no check named " << name);
        return {};
    }

    // In this order: lookups is made from dns.
    std::shared_ptr<ScriptedResolver> dns = std::make_shared<ScriptedResolver>();
    Config config = *load_config("").config;
    GenericRdnsPatterns patterns;
    Facts facts;
    std::shared_ptr<Lookups> lookups = Lookups::create(dns);
    std::shared_ptr<SessionNotes> notes = SessionNotes::create();
};

} // namespace portcullis::testing
