// The interface every check implements, and the facts it sees. A check
// is stateless: prefetch() starts the lookups it will need as soon as
// its stage's facts are known, evaluate() turns facts and answers into
// results at the recipient stage (or in `portcullis check`). Checks see
// the resolver only through Lookups, so tests run them over scripted DNS;
// work that is more than a lookup (an SPF evaluation) leaves its result
// in the session's notes.
#pragma once

#include "core/address.hpp"
#include "core/config.hpp"
#include "core/lookups.hpp"
#include "core/session_notes.hpp"
#include "core/verdict.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

class GenericRdnsPatterns;

// What the session knows about the SMTP client so far.
struct Facts {
    std::optional<IpAddress> client;   // nullopt: not an IP client (local socket)
    std::string client_name;           // the MTA's idea of the client name, for logs only
    std::string helo;                  // the latest HELO/EHLO argument
    std::string first_helo;            // the first one of the session
    int helo_count = 0;
    std::string sender;                // MAIL FROM address, without angle brackets
    bool sender_seen = false;
    std::string auth_user;             // {auth_authen}
    std::vector<std::string> own_hostnames; // the MTA's j macro plus own-hostnames
    std::vector<IpAddress> own_addresses;   // {daemon_addr} plus own-addresses
    std::string mta_hostname;          // the MTA's j macro, "" when unknown
};

struct CheckContext {
    const Facts &facts;
    const Config &config;
    const GenericRdnsPatterns &generic_patterns;
    Lookups &lookups;
    SessionNotes &notes; // made by SessionNotes::create()
};

class Check {
  public:
    virtual ~Check() = default;
    virtual std::string_view name() const = 0;
    virtual Stage stage() const = 0;
    // Starts lookups; must not wait for them.
    virtual void prefetch(const CheckContext &) const {}
    // Reads completed lookups (an incomplete one reads as a timeout).
    virtual std::vector<CheckResult> evaluate(const CheckContext &context) const = 0;
};

// Every check, in the order they are evaluated (connect, helo, mail).
std::span<const Check *const> all_checks();

} // namespace portcullis
