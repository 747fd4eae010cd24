// What the two SPF checks (spf-mail-from, spf-helo) share, and what the
// session's Received-SPF header reads: which identity of RFC 7208 applies
// to the session's facts, starting check_host() for it over the session's
// Lookups, and reading its result back from the session's notes.
// Contract: start_spf() never waits; the result lands in the notes from
// inside a Lookups continuation, so Lookups::wait_until() covers it. A
// MAIL FROM result belongs to its transaction, a HELO result to the
// session (keyed by the HELO name). Reading an identity that applies but
// has no result yet gives temperror "no SPF result within ...".
#pragma once

#include "checks/check.hpp"
#include "spf/spf.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

enum class SpfIdentity { mail_from, helo };

// "mailfrom" or "helo", as in Received-SPF's identity=.
std::string_view to_string(SpfIdentity identity);

struct SpfNote {
    // The identity check_host() was run for: helo also for the MAIL FROM
    // check of the null sender, which is postmaster@<HELO> (§2.4).
    SpfIdentity identity = SpfIdentity::mail_from;
    SpfRequest request;
    SpfResult result;
    bool completed = false; // false: no result in time (result is temperror)
};

// The check_host() inputs of `identity` for the facts, or nullopt when it
// does not apply; then `why_not` says why. MAIL FROM applies once MAIL was
// seen from an IP client; HELO when the HELO argument is a fully
// qualified host name (not an address literal, §2.3).
std::optional<SpfRequest> spf_request(const CheckContext &context, SpfIdentity identity,
                                      std::string *why_not = nullptr);

SpfOptions spf_options(const Config &config);

// Starts check_host() for `identity` unless it does not apply or its
// result is already noted.
void start_spf(const CheckContext &context, SpfIdentity identity);

// The result for `identity`, nullopt when it does not apply.
std::optional<SpfNote> read_spf(const CheckContext &context, SpfIdentity identity);

// One check result for a note: rule <prefix>fail, softfail, temperror or
// permerror (fail outcome) for those results, else <prefix>fail passed.
// Vars: spf_result, spf_explanation, spf_problem, spf_mechanism,
// spf_domain, spf_sender, spf_identity.
CheckResult spf_check_result(std::string_view check, std::string_view rule_prefix,
                             const SpfNote &note);

} // namespace portcullis
