#include "rules_command.hpp"

#include "checks/check.hpp"
#include "core/policy.hpp"

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

namespace po = boost::program_options;

namespace portcullis {

namespace {

// Plain text as one roff text line: backslashes and hyphens escaped, a
// leading control character neutralized.
std::string roff(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\')
            out += "\\e";
        else if (c == '-')
            out += "\\-";
        else
            out += c;
    }
    if (!out.empty() && (out.front() == '.' || out.front() == '\''))
        out.insert(0, "\\&");
    return out;
}

std::string padded(std::string_view text, std::size_t width) {
    std::string out(text);
    if (out.size() < width)
        out.append(width - out.size(), ' ');
    else
        out += ' ';
    return out;
}

// The code and status a rule's default action uses, or "".
std::string_view acting_code(const RuleSpec &rule) {
    if (rule.default_action == "reject")
        return rule.reject;
    if (rule.default_action == "tempfail")
        return rule.tempfail;
    return {};
}

// "rdns-missing            reject    550 5.7.25", hyphens escaped after
// padding so that the columns line up on the page.
std::string defaults_line(const RuleSpec &rule) {
    std::string line = padded(rule.id, 24) + padded(rule.default_action, 10);
    line += acting_code(rule);
    while (!line.empty() && line.back() == ' ')
        line.pop_back();
    return roff(line);
}

void write_defaults(std::ostream &out) {
    out << ".RS 4\n.nf\n";
    for (const auto &rule : rule_table())
        out << defaults_line(rule) << "\n";
    for (const auto &rule : policy_rules())
        if (!acting_code(rule).empty())
            out << defaults_line(rule) << "\n";
    out << ".fi\n.RE\n";
}

void write_entries(std::ostream &out) {
    for (const auto &rule : rule_table()) {
        out << ".TP\n.B policy." << roff(rule.id) << "\n";
        out << roff("Applies when " + std::string(rule.summary) + ".") << "\n";
        if (!rule.notes.empty())
            out << roff(rule.notes) << "\n";
        if (!rule.may_reject && rule.notes.find("cannot be set to reject") == std::string::npos)
            out << "It cannot be set to\n.BR reject .\n";
        out << roff("Built-in replies: " + std::string(rule.reject) + " (reject), " +
                    std::string(rule.tempfail) + " (tempfail).")
            << "\n";
        out << ".br\nType: \\fIaction\\fR.\nDefault: \\fB" << roff(rule.default_action)
            << "\\fR.\n.br\nExample: \\fB" << roff(rule.id) << " = " << roff(rule.example)
            << "\\fR under \\fB[policy]\\fR\n";
    }
}

int write_man_page(const std::string &template_file) {
    std::ifstream in(template_file);
    if (!in) {
        std::cerr << "portcullis rules: cannot read " << template_file << "\n";
        return 66;
    }
    std::ostringstream out;
    bool defaults = false;
    bool entries = false;
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with(".\\\" @RULE-DEFAULTS@")) {
            write_defaults(out);
            defaults = true;
        } else if (line.starts_with(".\\\" @RULE-ENTRIES@")) {
            write_entries(out);
            entries = true;
        } else {
            out << line << "\n";
        }
    }
    if (!defaults || !entries) {
        std::cerr << "portcullis rules: " << template_file
                  << " lacks the @RULE-DEFAULTS@ or @RULE-ENTRIES@ line\n";
        return 65;
    }
    std::cout << out.str();
    return 0;
}

nlohmann::json declaration_json(const RuleSpec &rule, bool configurable) {
    auto text = nlohmann::json::array();
    for (const auto line : rule.text)
        text.push_back(line);
    return {{"id", rule.id},
            {"stage", to_string(rule.stage)},
            {"default_action", rule.default_action},
            {"option", configurable ? "policy." + std::string(rule.id) : ""},
            {"may_reject", rule.may_reject},
            {"summary", rule.summary},
            {"help", rule.help},
            {"reply", {{"reject", rule.reject}, {"tempfail", rule.tempfail}, {"text", text}}}};
}

void write_replies(std::ostream &out) {
    out << "# The built-in replies of portcullis " PORTCULLIS_VERSION
           " (portcullis rules --replies).\n"
           "# Copy the sections to change into the replies file; see portcullis.conf(5).\n";
    auto section = [&](const RuleSpec &rule) {
        out << "\n# " << rule.summary << "\n[" << rule.id << "]\nreject = " << rule.reject
            << "\ntempfail = " << rule.tempfail << "\n";
        for (const auto line : rule.text)
            out << "text = " << line << "\n";
    };
    for (const auto &rule : rule_table())
        section(rule);
    for (const auto &rule : policy_rules())
        section(rule);
}

} // namespace

int rules_command(int argc, char **argv) {
    po::options_description options("portcullis rules");
    options.add_options()("json", "print every declaration as JSON")(
        "replies", "print the built-in replies as a replies file")(
        "man", po::value<std::string>(),
        "print portcullis.conf(5) from this template")("help,h", "this help");
    po::variables_map values;
    try {
        po::store(po::command_line_parser(argc, argv).options(options).run(), values);
        po::notify(values);
    } catch (const po::error &error) {
        std::cerr << "portcullis rules: " << error.what() << "\n";
        return 64;
    }
    if (values.count("help")) {
        std::cout << options;
        return 0;
    }
    if (values.count("man"))
        return write_man_page(values["man"].as<std::string>());
    if (values.count("replies")) {
        write_replies(std::cout);
        return 0;
    }
    if (values.count("json")) {
        auto list = nlohmann::json::array();
        for (const auto &rule : rule_table())
            list.push_back(declaration_json(rule, true));
        for (const auto &rule : policy_rules())
            list.push_back(declaration_json(rule, false));
        std::cout << list.dump(2) << "\n";
        return 0;
    }
    for (const auto &rule : rule_table())
        std::cout << padded(rule.id, 24) << padded(to_string(rule.stage), 8)
                  << padded(rule.default_action, 10) << padded(rule.reject, 11)
                  << padded(rule.tempfail, 11) << rule.summary << "\n";
    return 0;
}

} // namespace portcullis
