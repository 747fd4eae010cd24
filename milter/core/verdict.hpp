// What checks produce and what the policy makes of it. Plain values,
// shared by the checks, the policy, the session and the CLI.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

// header: at the end of the message's header; message: at its end (DKIM).
enum class Stage { connect, helo, mail, rcpt, header, message };
std::string_view to_string(Stage stage);

enum class Outcome {
    pass,  // the check ran and found nothing wrong
    fail,  // the check found what its rule describes
    error, // a lookup it needed failed: it could not decide
    skip,  // not applicable (trusted client, nothing to check)
};
std::string_view to_string(Outcome outcome);

struct CheckResult {
    std::string check; // the check's name, e.g. "reverse-dns"
    std::string rule;  // the rule it speaks for, e.g. "rdns-missing"
    Outcome outcome = Outcome::pass;
    std::string detail; // one line for logs and `portcullis check`
    // Extra reply variables (dnsbl_zone, dnsbl_txt, ...), already bounded
    // in length but not yet sanitized for the reply.
    std::map<std::string, std::string> vars;
    // The rules whose fail lookups that failed kept from being known: had
    // DNS answered, this result might have been a fail of one of them
    // (an error might always have been a fail of its own rule). Set on
    // the fail of a rule standing for a DNS error (spf-temperror for
    // spf-fail, spf-softfail and spf-permerror), and on a pass that a list
    // that did not answer might have turned into a fail.
    std::vector<std::string> could_be = {};
};

enum class ActionKind { ignore, log, tempfail, reject, score };

struct Action {
    ActionKind kind = ActionKind::log;
    double score = 0; // with ActionKind::score

    // "ignore", "log", "tempfail", "reject" or "score:N" (N may be negative).
    static std::optional<Action> parse(std::string_view text);
    std::string to_string() const;
    friend bool operator==(const Action &, const Action &) = default;
};

enum class Verdict { continue_, accept, tempfail, reject };
std::string_view to_string(Verdict verdict);

// A score or weight as an admin writes it: "10", "2.5", "-0.5".
std::string format_number(double value);

} // namespace portcullis
