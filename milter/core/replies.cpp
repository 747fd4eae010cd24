#include "replies.hpp"

#include "config_file.hpp"
#include "policy.hpp"

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>

namespace portcullis {

namespace {

bool valid_code(std::string_view code, char first) {
    return code.size() == 3 && code[0] == first && code[1] >= '0' && code[1] <= '9' &&
           code[2] >= '0' && code[2] <= '9';
}

bool valid_status(std::string_view status, char first) {
    static const std::regex pattern(R"([245]\.[0-9]{1,3}\.[0-9]{1,3})");
    return !status.empty() && status[0] == first &&
           std::regex_match(status.begin(), status.end(), pattern);
}

// "550 5.7.25" into code and status.
bool parse_code_pair(std::string_view value, char first, std::string &code, std::string &status) {
    const auto space = value.find(' ');
    if (space == std::string_view::npos)
        return false;
    const auto code_part = value.substr(0, space);
    auto status_part = value.substr(space + 1);
    while (!status_part.empty() && status_part.front() == ' ')
        status_part.remove_prefix(1);
    if (!valid_code(code_part, first) || !valid_status(status_part, first))
        return false;
    code = std::string(code_part);
    status = std::string(status_part);
    return true;
}

ReplyTemplate built_in_default() {
    ReplyTemplate tmpl;
    tmpl.id = "default";
    tmpl.lines = {"Refused by local policy: ${detail}", "See ${url}"};
    return tmpl;
}

ReplyTemplate declared_template(const RuleSpec &rule) {
    ReplyTemplate tmpl;
    tmpl.id = std::string(rule.id);
    // Declarations are checked by the registry's tests; a malformed code
    // keeps the template's defaults.
    parse_code_pair(rule.reject, '5', tmpl.reject_code, tmpl.reject_status);
    parse_code_pair(rule.tempfail, '4', tmpl.tempfail_code, tmpl.tempfail_status);
    for (const auto line : rule.text)
        tmpl.lines.emplace_back(line);
    return tmpl;
}

// A line for libmilter ('%' doubled) as it reads.
std::string undoubled(std::string_view line) {
    std::string out;
    for (std::size_t i = 0; i < line.size(); ++i) {
        out += line[i];
        if (line[i] == '%' && i + 1 < line.size() && line[i + 1] == '%')
            ++i;
    }
    return out;
}

} // namespace

std::string Reply::text() const {
    std::string out;
    for (const auto &line : lines) {
        if (!out.empty())
            out += ' ';
        out += undoubled(line);
    }
    return out;
}

ReplyBook::ReplyBook() : fallback_(built_in_default()) {}

ReplyBook::ReplyBook(std::span<const RuleSpec> rules) : fallback_(built_in_default()) {
    for (const auto list : {rules, policy_rules()})
        for (const auto &rule : list)
            templates_.insert_or_assign(std::string(rule.id), declared_template(rule));
}

ReplyBook ReplyBook::load(const std::string &file, std::span<const RuleSpec> rules,
                          std::vector<std::string> &errors) {
    ReplyBook book(rules);
    ConfigFileIndex index(file);
    if (!index.readable()) {
        errors.push_back(file + ": cannot read the replies file");
        return book;
    }
    for (const auto &problem : index.syntax_errors())
        errors.push_back(file + ":" + std::to_string(problem.line) + ": " + problem.message);
    std::set<std::string> overridden; // sections whose text lines were seen
    std::set<std::string> unknown;    // sections reported as naming no rule
    for (const auto &entry : index.entries()) {
        const auto dot = entry.option.rfind('.');
        const auto where = file + ":" + std::to_string(entry.line) + ": ";
        if (dot == std::string::npos) {
            errors.push_back(where + "'" + entry.option + "' is outside a [rule] section");
            continue;
        }
        const auto id = entry.option.substr(0, dot);
        const auto key = entry.option.substr(dot + 1);
        if (id != "default" && !book.templates_.contains(id)) {
            if (unknown.insert(id).second)
                errors.push_back(where + "[" + id + "] names no rule");
            continue;
        }
        auto &tmpl = id == "default" ? book.fallback_ : book.templates_[id];
        if (key == "reject") {
            if (!parse_code_pair(entry.value, '5', tmpl.reject_code, tmpl.reject_status))
                errors.push_back(where + "reject must be a 5xx code and a 5.x.y status");
        } else if (key == "tempfail") {
            if (!parse_code_pair(entry.value, '4', tmpl.tempfail_code, tmpl.tempfail_status))
                errors.push_back(where + "tempfail must be a 4xx code and a 4.x.y status");
        } else if (key == "text") {
            if (overridden.insert(id).second)
                tmpl.lines.clear(); // the file's lines replace the declared ones
            if (tmpl.lines.size() >= max_reply_lines)
                errors.push_back(where + "more than 32 text lines");
            else
                tmpl.lines.push_back(entry.value);
        } else {
            errors.push_back(where + "unknown key '" + key + "' (reject, tempfail or text)");
        }
    }
    return book;
}

const ReplyTemplate &ReplyBook::find(std::string_view id) const {
    auto it = templates_.find(id);
    return it == templates_.end() ? fallback_ : it->second;
}

std::string expand_template(std::string_view line, const std::map<std::string, std::string> &vars) {
    std::string out;
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '$' && i + 1 < line.size() && line[i + 1] == '{') {
            const auto close = line.find('}', i + 2);
            if (close != std::string_view::npos) {
                const std::string name(line.substr(i + 2, close - i - 2));
                if (auto it = vars.find(name); it != vars.end())
                    out += it->second;
                i = close;
                continue;
            }
        }
        out += line[i];
    }
    return out;
}

std::string printable_ascii(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f)
            continue;
        out += byte < 0x7f ? c : '?';
    }
    return out;
}

std::string escape_percent(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        out += c;
        if (c == '%')
            out += '%';
    }
    return out;
}

namespace {

// Escapes '%' while the result stays within `budget` bytes; a doubled
// '%' is never split.
std::string escape_percent_within(std::string_view text, std::size_t budget) {
    std::string out;
    for (char c : text) {
        const std::size_t width = c == '%' ? 2 : 1;
        if (out.size() + width > budget)
            break;
        out += c;
        if (c == '%')
            out += '%';
    }
    return out;
}

} // namespace

Reply render_reply(const ReplyTemplate &tmpl, Verdict verdict,
                   const std::map<std::string, std::string> &vars) {
    Reply reply;
    const bool reject = verdict == Verdict::reject;
    reply.code = reject ? tmpl.reject_code : tmpl.tempfail_code;
    reply.status = reject ? tmpl.reject_status : tmpl.tempfail_status;

    const auto url = vars.find("url");
    const bool have_url = url != vars.end() && !url->second.empty();
    auto rule = printable_ascii(vars.count("rule") ? vars.at("rule") : std::string("unknown"));
    if (rule.size() > 64)
        rule.resize(64);
    bool names_rule = false;
    std::vector<std::string> lines;
    for (const auto &line : tmpl.lines) {
        if (!have_url && line.find("${url}") != std::string::npos)
            continue;
        names_rule = names_rule || line.find("${rule}") != std::string::npos;
        lines.push_back(printable_ascii(expand_template(line, vars)));
        if (lines.size() == max_reply_lines)
            break;
    }
    if (lines.empty())
        lines.push_back("Refused by local policy");
    auto cut = [&](const std::string &suffix) {
        reply.lines.clear();
        for (std::size_t i = 0; i < lines.size(); ++i) {
            const bool last = i + 1 == lines.size();
            auto text =
                escape_percent_within(lines[i], max_reply_line_length - (last ? suffix.size() : 0));
            reply.lines.push_back(last ? text + suffix : text);
        }
    };
    cut("");
    // The rule id is always named: by the template's ${rule} where it is
    // still there once expanded and cut (a long value before it, or a
    // malformed ${ swallowing it, can take it away), else by a suffix
    // that no cut can remove.
    const bool named =
        names_rule && std::any_of(reply.lines.begin(), reply.lines.end(), [&](const auto &line) {
            return undoubled(line).find(rule) != std::string::npos;
        });
    if (!named)
        cut(escape_percent(std::string(lines.back().empty() ? "" : " ") + "(rule " + rule + ")"));
    return reply;
}

} // namespace portcullis
