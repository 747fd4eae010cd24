// Every rule a check can report, with its default action and reply
// class. Declared once: the configuration (policy.<rule>), the reply
// templates and portcullis.conf(5) are all checked against this table.
#pragma once

#include <span>
#include <string_view>

namespace portcullis {

struct RuleSpec {
    std::string_view id;
    std::string_view default_action; // as written in the config file
    std::string_view summary;        // one line for the man page and --help
    // A temporary condition (the SPF temperror rules): its action may be
    // anything but reject, as a DNS error's.
    bool never_rejects = false;
};

std::span<const RuleSpec> rule_table();
const RuleSpec *find_rule(std::string_view id);

// Rules that are not reported by a check but by the policy itself.
inline constexpr std::string_view dns_error_rule = "dns-error";
inline constexpr std::string_view score_rule = "score";

} // namespace portcullis
