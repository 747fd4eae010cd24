// A rule: one finding a check can report, declared by its check in the
// check's own file. The declaration is the one place of everything about
// the rule: its id, stage and default action, whether it may ever reject
// (a rule standing for a DNS fault may not), its default reply and its
// help text. The policy.<rule> options, the default reply book and the
// list of rules in portcullis.conf(5) are all derived from it; the
// replies file only overrides. Plain constexpr values.
#pragma once

#include "verdict.hpp"

#include <span>
#include <string_view>

namespace portcullis {

struct RuleSpec {
    std::string_view id; // "rdns-missing"
    Stage stage = Stage::connect;
    std::string_view default_action; // as written in the config file
    // Completes "Applies when ...": one line for the man page and --help.
    std::string_view summary;
    // For the sender (the explanation pages show it): what the rule means
    // and what to fix.
    std::string_view help;
    // The default reply: code and enhanced status (RFC 3463/7372) when the
    // rule rejects and when it tempfails, and the text lines (templates,
    // see replies.hpp).
    std::string_view reject = "550 5.7.1";
    std::string_view tempfail = "451 4.7.1";
    std::span<const std::string_view> text;
    // An action for the man page's example line.
    std::string_view example = "log";
    // More for the man page, plain text.
    std::string_view notes = {};
    // False for a rule that stands for a temporary condition (a DNS
    // error): its action may be anything but reject.
    bool may_reject = true;
};

// Finds a rule by id in `rules`, or null.
const RuleSpec *find_rule(std::span<const RuleSpec> rules, std::string_view id);

} // namespace portcullis
