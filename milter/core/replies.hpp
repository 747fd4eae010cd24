// Reply templates (one section per rule id in the replies file) and
// their rendering into SMTP reply lines. Rendering is where network text
// (DNSBL TXT, HELO, sender) meets the MTA: every line comes out printable
// ASCII without CR/LF, '%' doubled for libmilter, within libmilter's
// limits of 32 lines of 980 characters, and naming the rule id.
#pragma once

#include "verdict.hpp"

#include <map>
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
    std::string code;   // "550"
    std::string status; // "5.7.25"
    std::vector<std::string> lines; // ready for smfi_setmlreply ('%' doubled)
    // The reply as one readable text ('%' not doubled), for logs and JSON.
    std::string text() const;
};

class ReplyBook {
  public:
    // Built-in texts only (used when no replies file can be read).
    ReplyBook();
    // Reads the replies file; errors are "file:line: message".
    static ReplyBook load(const std::string &file, std::vector<std::string> &errors);

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
