// Reply templates (one section per rule id in the replies file) and
// their rendering into SMTP reply lines. Rendering is where network text
// (DNSBL TXT, HELO, sender) meets the MTA: every line comes out printable
// ASCII without CR/LF, '%' doubled for libmilter, within libmilter's
// limits of 32 lines of 980 characters, and naming the rule id.
#pragma once

#include "rule.hpp"
#include "verdict.hpp"

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

struct ReplyTemplate {
    std::string id;
    std::string reject_code = "550";
    std::string reject_status = "5.7.1";
    std::string tempfail_code = "451";
    std::string tempfail_status = "4.7.1";
    std::vector<std::string> lines;
};

struct Reply {
    std::string code;               // "550"
    std::string status;             // "5.7.25"
    std::vector<std::string> lines; // ready for smfi_setmlreply ('%' doubled)
    // The reply as one readable text ('%' not doubled), for logs and JSON.
    std::string text() const;
};

// The templates of every rule. Each starts as its rule declares it
// (RuleSpec), and a section of the replies file overrides it: "reject" and
// "tempfail" each replace the declared codes, and the section's "text"
// lines together replace the declared lines. The policy's own rules
// (dns-error, score) are always included; [default] serves an id that has
// no template.
class ReplyBook {
  public:
    // The built-in fallback only.
    ReplyBook();
    // The declared replies of `rules` and of the policy's rules.
    explicit ReplyBook(std::span<const RuleSpec> rules);
    // Those, overridden by the replies file; errors are "file:line:
    // message", a section naming no rule among them.
    static ReplyBook load(const std::string &file, std::span<const RuleSpec> rules,
                          std::vector<std::string> &errors);

    // The template for a rule, or the built-in default.
    const ReplyTemplate &find(std::string_view id) const;

  private:
    std::map<std::string, ReplyTemplate, std::less<>> templates_;
    ReplyTemplate fallback_;
};

inline constexpr std::size_t max_reply_lines = 32;
inline constexpr std::size_t max_reply_line_length = 980;

// Replaces ${name} with vars[name] (unknown names become empty). A line
// using ${url} is dropped when the url is empty.
std::string expand_template(std::string_view line, const std::map<std::string, std::string> &vars);

// Printable ASCII only: control characters dropped, other bytes
// outside 0x20..0x7e become '?'.
std::string printable_ascii(std::string_view text);

// For libmilter: '%' doubled.
std::string escape_percent(std::string_view text);

// Renders `tmpl` for a reject or tempfail. `vars` must hold "rule".
Reply render_reply(const ReplyTemplate &tmpl, Verdict verdict,
                   const std::map<std::string, std::string> &vars);

} // namespace portcullis
