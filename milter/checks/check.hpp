// The interface every check implements, and what it sees. A check is the
// unit of extension: one file under milter/checks/ holds the check, the
// rules it declares (id, stage, default action, reply, help; see
// core/rule.hpp) and the data it loads, and one line in
// milter/checks/meson.build registers it.
//
// A check is stateless: prefetch() starts the lookups it will need as
// soon as its stage's facts are known, evaluate() turns facts and answers
// into results at the recipient stage (or in `portcullis check`). Checks
// see the resolver only through Lookups, so tests run them over scripted
// DNS; work that is more than a lookup (an SPF evaluation) leaves its
// result in the session's notes. What several checks need to know about
// the client (its unmapped address, its confirmed PTR names, the HELO
// name's form, the sender domain) is derived once per session in
// ClientIdentity.
#pragma once

#include "checks/client_identity.hpp"
#include "core/address.hpp"
#include "core/config.hpp"
#include "core/lookups.hpp"
#include "core/replies.hpp"
#include "core/rule.hpp"
#include "core/session_notes.hpp"
#include "core/verdict.hpp"
#include "message/dkim_verifier.hpp"
#include "message/header_block.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

// What the MTA reported about the session so far.
struct Facts {
    std::optional<IpAddress> client; // nullopt: not an IP client (local socket)
    std::string client_name;         // the MTA's idea of the client name, for logs only
    std::string helo;                // the latest HELO/EHLO argument
    std::string first_helo;          // the first one of the session
    int helo_count = 0;
    std::string sender; // MAIL FROM address, without angle brackets
    bool sender_seen = false;
    bool smtputf8 = false;                  // MAIL FROM carried SMTPUTF8 (RFC 6531)
    std::string auth_user;                  // {auth_authen}
    std::vector<std::string> own_hostnames; // the MTA's j macro plus own-hostnames
    std::vector<IpAddress> own_addresses;   // {daemon_addr} plus own-addresses
    std::string mta_hostname;               // the MTA's j macro, "" when unknown
};

// What the MTA sent of the message, for the checks of the header and
// message stages: the header as accumulated (bounded) at the end of the
// header, and the DKIM results at the end of the message.
struct MessageFacts {
    const message::HeaderBlock *header = nullptr;
    bool smtputf8 = false;                    // Facts::smtputf8, for the header checks
    std::int64_t now = 0;                     // seconds since the epoch, for the Date window
    bool dkim_verified = false;               // dkim.verify was on and the message ended
    std::vector<message::DkimSignature> dkim; // one per signature evaluated
};

// Data a check loads from the files its options name (patterns, lists):
// loaded with the configuration (at start, on reload, by `portcullis -n`),
// immutable, shared by the sessions of that configuration.
class CheckData {
  public:
    virtual ~CheckData() = default;
};

class Check;

// The loaded data of every check that has some.
class CheckDataSet {
  public:
    // Runs every check's load(); problems go to `errors`.
    static CheckDataSet load(const Config &config, std::vector<ConfigError> &errors);
    // Null when the check loaded nothing.
    const CheckData *find(const Check &check) const;
    void set(const Check &check, std::shared_ptr<const CheckData> data);

  private:
    std::vector<std::pair<const Check *, std::shared_ptr<const CheckData>>> data_;
};

struct CheckContext {
    const Facts &facts;
    const ClientIdentity &identity;
    const Config &config;
    const CheckDataSet &data;
    Lookups &lookups;
    SessionNotes &notes; // made by SessionNotes::create()
    // Set for the checks of the header and message stages only.
    const MessageFacts *message = nullptr;
};

class Check {
  public:
    virtual ~Check() = default;
    virtual std::string_view name() const = 0;
    virtual Stage stage() const = 0;
    // The rules it reports, declared in its file; each of them at stage().
    virtual std::span<const RuleSpec> rules() const = 0;
    // Loads its data for a configuration; null when it has none. Each
    // problem goes to `errors` located at the option that names the file
    // (Config::error()), so that a start, a reload and `portcullis -n`
    // report it as FILE:LINE: OPTION: message.
    virtual std::shared_ptr<const CheckData> load(const Config &,
                                                  std::vector<ConfigError> & /*errors*/) const {
        return nullptr;
    }
    // Whether it reads the client's PTR names (ClientIdentity::names):
    // the session then asks for them at connect.
    virtual bool needs_client_names() const { return false; }
    // Starts lookups; must not wait for them.
    virtual void prefetch(const CheckContext &) const {}
    // Reads completed lookups (an incomplete one reads as a timeout).
    virtual std::vector<CheckResult> evaluate(const CheckContext &context) const = 0;

  protected:
    // A result of this check for one of its rules.
    CheckResult result(std::string_view rule, Outcome outcome, std::string detail) const {
        return {std::string(name()), std::string(rule), outcome, std::move(detail), {}};
    }
};

// Every registered check: by stage (connect, helo, mail, header, message), in the order of
// registration within a stage. Within a stage the first rejecting rule
// decides, so the order matters.
std::span<const Check *const> all_checks();

// The rules of every check, in the order of all_checks(): the rule table
// the policy options, the reply book and the man page derive from.
std::span<const RuleSpec> rule_table();
const RuleSpec *find_rule(std::string_view id);

// The configuration with the checks' rules (core's load_config() with
// rule_table()).
ConfigResult load_config(const std::string &file,
                         const std::vector<std::pair<std::string, std::string>> &overrides = {});
std::span<const OptionSpec> option_table();
// The declared replies of every rule, overridden by the replies file.
ReplyBook load_replies(const std::string &file, std::vector<std::string> &errors);

} // namespace portcullis
