// Keeps portcullis.conf(5) and the code in step, as Postfix checks
// postconf(5) against its parameter tables. The page is the one the build
// writes from man/portcullis.conf.5.in (the rules filled in from their
// declarations). Its OPTIONS section documents each option as `.TP`
// followed by `.B name`, and uses `.TP` for nothing else; each entry
// carries "Type: T." and "Default: D.", where D is the table's default
// text ("empty" for an empty default), and ends with "Example: LINE" or
// "Example: LINE under [SECTION]", a line that load_config() must accept.
// Each policy.<rule> entry quotes the rule's summary and "Built-in
// replies: R (reject), T (tempfail)." of the reply book.
#include "checks/check.hpp"
#include "core/config.hpp"
#include "core/replies.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

using namespace portcullis;

namespace {

const std::string conf_page = CONF_PAGE;

std::string_view type_name(OptionType type) {
    switch (type) {
    case OptionType::string:
        return "string";
    case OptionType::list:
        return "list";
    case OptionType::boolean:
        return "boolean";
    case OptionType::number:
        return "number";
    case OptionType::duration:
        return "duration";
    case OptionType::size:
        return "size";
    case OptionType::action:
        return "action";
    case OptionType::choice:
        return "choice";
    }
    return "?";
}

std::string trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos)
        return {};
    const auto last = text.find_last_not_of(" \t\r");
    return std::string(text.substr(first, last - first + 1));
}

// The text a reader sees, near enough to compare: font changes and
// zero-width escapes removed, \- and \e turned back into - and \.
std::string plain_text(std::string_view roff) {
    static const std::map<std::string, std::string, std::less<>> named = {
        {"aq", "'"}, {"dq", "\""}, {"em", "--"}, {"en", "-"},  {"bu", "*"}, {"ti", "~"},
        {"ha", "^"}, {"rs", "\\"}, {"lq", "\""}, {"rq", "\""}, {"oq", "'"}, {"cq", "'"},
    };
    std::string out;
    for (std::size_t i = 0; i < roff.size(); ++i) {
        if (roff[i] != '\\' || i + 1 == roff.size()) {
            out += roff[i];
            continue;
        }
        const char escape = roff[++i];
        if (escape == 'f') { // \fB, \fR, \f(CW, \f[CR]
            if (i + 1 < roff.size() && roff[i + 1] == '(')
                i += 3;
            else if (i + 1 < roff.size() && roff[i + 1] == '[')
                i = roff.find(']', i);
            else
                ++i;
        } else if (escape == '(' && i + 2 < roff.size()) {
            const auto found = named.find(roff.substr(i + 1, 2));
            out += found == named.end() ? "?" : found->second;
            i += 2;
        } else if (escape == '-') {
            out += '-';
        } else if (escape == 'e' || escape == '\\') {
            out += '\\';
        } else if (escape == ' ' || escape == '~') {
            out += ' ';
        } else if (escape == '&' || escape == '|' || escape == '^' || escape == ':') {
        } else if (escape == '"') { // comment to end of line
            i = roff.find('\n', i);
            if (i == std::string_view::npos)
                break;
            out += '\n';
        } else {
            out += escape;
        }
        if (i == std::string_view::npos)
            break;
    }
    return out;
}

// A request line (".B foo", ".BR a b") as plain words; other requests
// (.br, .RS, .nf, ...) contribute nothing.
std::string request_text(std::string_view line) {
    const auto space = line.find(' ');
    const auto request = line.substr(1, space == std::string_view::npos ? line.size() : space - 1);
    if (space == std::string_view::npos)
        return {};
    static const std::set<std::string, std::less<>> font_requests = {"B",  "I",  "BR", "RB",
                                                                     "BI", "IB", "IR", "RI"};
    if (!font_requests.contains(request))
        return {};
    std::vector<std::string> arguments;
    bool quoted = false;
    bool in_argument = false;
    for (char c : line.substr(space + 1)) {
        if (c == '"') {
            quoted = !quoted;
            if (!in_argument)
                arguments.emplace_back();
            in_argument = true;
        } else if (c == ' ' && !quoted) {
            in_argument = false;
        } else {
            if (!in_argument)
                arguments.emplace_back();
            in_argument = true;
            arguments.back() += c;
        }
    }
    // .B and .I join their arguments with spaces, the alternating-font
    // requests (.BR, .IR, ...) without.
    const std::string separator = request.size() == 1 ? " " : "";
    std::string text;
    for (std::size_t i = 0; i < arguments.size(); ++i)
        text += (i ? separator : "") + arguments[i];
    return text;
}

std::string collapse_spaces(std::string_view text) {
    std::string out;
    for (char c : text) {
        const bool space = c == ' ' || c == '\t' || c == '\n';
        if (space && (out.empty() || out.back() == ' '))
            continue;
        out += space ? ' ' : c;
    }
    return trim(out);
}

struct Entry {
    std::string text; // plain, one line
    int line = 0;     // of the .TP
};

struct ConfPage {
    bool readable = false;
    bool has_options_section = false;
    std::map<std::string, Entry> entries; // option name -> entry
    std::vector<std::string> problems;    // malformed or repeated entries
};

bool is_request(std::string_view line, std::string_view name) {
    return line.substr(0, name.size() + 1) == "." + std::string(name) &&
           (line.size() == name.size() + 1 || line[name.size() + 1] == ' ');
}

ConfPage read_conf_page() {
    ConfPage page;
    std::ifstream in(conf_page);
    page.readable = static_cast<bool>(in);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);

    bool in_options = false;
    Entry *current = nullptr;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::string line = trim(lines[i]);
        if (line.rfind(".\\\"", 0) == 0 || line.rfind("'\\\"", 0) == 0)
            continue;
        const std::string text =
            line.empty() || line.front() != '.' ? plain_text(line) : plain_text(request_text(line));

        if (is_request(line, "SH")) {
            in_options =
                collapse_spaces(plain_text(request_text(".B" + line.substr(3)))) == "OPTIONS";
            page.has_options_section = page.has_options_section || in_options;
            current = nullptr;
            continue;
        }
        if (!in_options)
            continue;
        if (is_request(line, "SS") || is_request(line, "PP") || is_request(line, "LP") ||
            is_request(line, "P") || is_request(line, "IP")) {
            current = nullptr;
            continue;
        }
        if (is_request(line, "TP")) {
            current = nullptr;
            const std::string tag = i + 1 < lines.size() ? trim(lines[i + 1]) : "";
            if (!is_request(tag, "B")) {
                page.problems.push_back("line " + std::to_string(i + 2) +
                                        ": .TP in OPTIONS not followed by .B NAME");
                continue;
            }
            const std::string name = collapse_spaces(plain_text(request_text(tag)));
            if (page.entries.contains(name)) {
                page.problems.push_back("line " + std::to_string(i + 2) + ": " + name +
                                        " documented twice");
                continue;
            }
            current = &page.entries[name];
            current->line = static_cast<int>(i + 1);
            ++i; // the tag line is the name, not the entry's text
            continue;
        }
        if (current)
            current->text += text + "\n";
    }
    for (auto &[name, entry] : page.entries)
        entry.text = collapse_spaces(entry.text);
    return page;
}

std::string join(const std::vector<std::string> &names) {
    std::string out;
    for (const auto &name : names)
        out += (out.empty() ? "" : ", ") + name;
    return out;
}

// Does `text` contain `field` followed by `value` and then the end, a
// space, or a period or comma that ends the sentence?
bool has_field(const std::string &text, const std::string &field, const std::string &value) {
    const std::string wanted = field + " " + value;
    for (auto at = text.find(wanted); at != std::string::npos; at = text.find(wanted, at + 1)) {
        const auto end = at + wanted.size();
        if (end == text.size() || text[end] == ' ')
            return true;
        if ((text[end] == '.' || text[end] == ',' || text[end] == ';') &&
            (end + 1 == text.size() || text[end + 1] == ' '))
            return true;
    }
    return false;
}

} // namespace

TEST_CASE("portcullis.conf(5) documents exactly the options of option_table()") {
    const auto page = read_conf_page();
    REQUIRE_MESSAGE(page.readable, "cannot read " << conf_page);
    REQUIRE_MESSAGE(page.has_options_section, conf_page << " has no .SH OPTIONS section");
    CHECK_MESSAGE(page.problems.empty(), "malformed entries: " << join(page.problems));

    std::set<std::string> in_code;
    for (const auto &option : option_table())
        in_code.insert(std::string(option.name));

    std::vector<std::string> missing_from_page;
    for (const auto &name : in_code)
        if (!page.entries.contains(name))
            missing_from_page.push_back(name);
    std::vector<std::string> missing_from_code;
    for (const auto &[name, entry] : page.entries)
        if (!in_code.contains(name))
            missing_from_code.push_back(name);

    CHECK_MESSAGE(
        missing_from_page.empty(),
        "options in option_table() but not in portcullis.conf(5): " << join(missing_from_page));
    CHECK_MESSAGE(
        missing_from_code.empty(),
        "options in portcullis.conf(5) but not in option_table(): " << join(missing_from_code));
}

TEST_CASE("each option's entry states the table's type and default") {
    const auto page = read_conf_page();
    REQUIRE(page.readable);
    for (const auto &option : option_table()) {
        const std::string name(option.name);
        const auto found = page.entries.find(name);
        if (found == page.entries.end())
            continue; // reported by the test above
        const auto &entry = found->second;
        CAPTURE(name);
        CAPTURE(entry.line);
        const std::string default_text =
            option.default_value.empty() ? "empty" : std::string(option.default_value);
        CHECK_MESSAGE(has_field(entry.text, "Default:", default_text),
                      name << " (line " << entry.line << "): the entry should say \"Default: "
                           << default_text << "\"; it reads: " << entry.text);
        CHECK_MESSAGE(has_field(entry.text, "Type:", std::string(type_name(option.type))),
                      name << " (line " << entry.line
                           << "): the entry should say \"Type: " << type_name(option.type) << "\"");
        CHECK_MESSAGE(entry.text.find("Example:") != std::string::npos,
                      name << " (line " << entry.line << "): the entry has no \"Example:\"");
        std::string choices(option.choices);
        std::replace(choices.begin(), choices.end(), '|', ' ');
        std::istringstream words(choices);
        for (std::string choice; words >> choice;)
            CHECK_MESSAGE(entry.text.find(choice) != std::string::npos,
                          name << ": the choice " << choice << " is not documented");
    }
}

TEST_CASE("every rule of rule_table() is documented with its summary") {
    const auto page = read_conf_page();
    REQUIRE(page.readable);
    std::vector<std::string> undocumented;
    for (const auto &rule : rule_table()) {
        const std::string id(rule.id);
        CAPTURE(id);
        const auto found = page.entries.find("policy." + id);
        if (found == page.entries.end()) {
            undocumented.push_back(id);
            continue;
        }
        CHECK_MESSAGE(found->second.text.find(std::string(rule.summary)) != std::string::npos,
                      "the entry of policy." << id << " should contain the rule's summary \""
                                             << rule.summary << "\"");
    }
    CHECK_MESSAGE(
        undocumented.empty(),
        "rules without a policy.<rule> entry in portcullis.conf(5): " << join(undocumented));
}

TEST_CASE("each rule's entry quotes the codes of its built-in reply") {
    const auto page = read_conf_page();
    REQUIRE(page.readable);
    const ReplyBook book(rule_table());
    for (const auto &rule : rule_table()) {
        const auto found = page.entries.find("policy." + std::string(rule.id));
        if (found == page.entries.end())
            continue; // reported above
        const auto &reply = book.find(rule.id);
        const std::string expected = "Built-in replies: " + reply.reject_code + " " +
                                     reply.reject_status + " (reject), " + reply.tempfail_code +
                                     " " + reply.tempfail_status + " (tempfail).";
        CHECK_MESSAGE(found->second.text.find(expected) != std::string::npos,
                      "policy." << rule.id << ": the entry should say \"" << expected << "\"");
    }
}

TEST_CASE("each option's example is a line load_config() accepts") {
    const auto page = read_conf_page();
    REQUIRE(page.readable);
    const auto file = std::filesystem::temp_directory_path() /
                      ("portcullis-man-example-" + std::to_string(getpid()) + ".conf");
    // Not a structured binding: clang before 16 cannot capture one in the
    // lambdas of doctest's message macros.
    for (const auto &documented : page.entries) {
        const std::string &name = documented.first;
        const auto at = documented.second.text.find("Example: ");
        if (at == std::string::npos)
            continue; // reported above
        std::string line = documented.second.text.substr(at + 9);
        std::string section;
        if (const auto under = line.rfind(" under ["); under != std::string::npos) {
            section = line.substr(under + 7);
            line.erase(under);
        }
        {
            std::ofstream out(file);
            out << section << "\n" << line << "\n";
        }
        const auto result = load_config(file.string());
        std::string errors;
        for (const auto &error : result.errors)
            errors += "\n  " + error.to_string();
        CHECK_MESSAGE(result.errors.empty(), name << ": the example \"" << line << "\""
                                                  << (section.empty() ? "" : " under " + section)
                                                  << " does not load:" << errors);
        const auto option_name = line.substr(0, line.find(' '));
        const auto full_name = section.empty()
                                   ? option_name
                                   : section.substr(1, section.size() - 2) + "." + option_name;
        CHECK_MESSAGE(full_name == name,
                      name << ": the example sets " << full_name << ", not " << name);
    }
    std::filesystem::remove(file);
}
