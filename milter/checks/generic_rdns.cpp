// The generic-rdns check: all usable PTR names of the client (verified
// or not, at most rdns.max-names) are matched against the patterns; it
// fails only when every one of them looks generic, since a host with
// one proper name has been given a name by someone. A PTR lookup error
// is an error; no PTR name at all is rdns-missing's business (skip).
#include "checks/generic_rdns.hpp"

#include "core/log.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace portcullis {

namespace {

constexpr std::string_view check_name = "generic-rdns";
constexpr std::size_t min_ipv6_nibbles = 16;
constexpr std::size_t min_ipv6_nonzero = 4;
constexpr std::size_t names_in_detail = 3;
constexpr char hex_digits[] = "0123456789abcdef";

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f');
}
bool is_separator(char c) {
    return c == '-' || c == '.' || c == '_';
}

std::vector<std::string_view> split(std::string_view text, std::string_view separators) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i)
        if (i == text.size() || separators.find(text[i]) != std::string_view::npos) {
            parts.push_back(text.substr(start, i - start));
            start = i + 1;
        }
    return parts;
}

std::string padded_decimal(const std::uint8_t *octets, bool reversed) {
    std::string out;
    for (int i = 0; i < 4; ++i) {
        const auto value = octets[reversed ? 3 - i : i];
        out += static_cast<char>('0' + value / 100);
        out += static_cast<char>('0' + value / 10 % 10);
        out += static_cast<char>('0' + value % 10);
    }
    return out;
}

// Four decimal octets starting at `begin`, each 1..3 digits, joined by
// single separators; returns the end or npos.
std::size_t read_dotted(std::string_view name, std::size_t begin, unsigned (&values)[4]) {
    std::size_t position = begin;
    for (int field = 0; field < 4; ++field) {
        if (field > 0) {
            if (position >= name.size() || !is_separator(name[position]))
                return std::string_view::npos;
            ++position;
        }
        std::size_t length = 0;
        unsigned value = 0;
        while (position + length < name.size() && is_digit(name[position + length]) && length < 4)
            value = value * 10 + static_cast<unsigned>(name[position + length++] - '0');
        if (length == 0 || length > 3)
            return std::string_view::npos;
        values[field] = value;
        position += length;
    }
    if (position < name.size() && is_digit(name[position]))
        return std::string_view::npos;
    return position;
}

std::string embedded_ipv4(std::string_view name, const std::uint8_t *octets) {
    const std::string forward = padded_decimal(octets, false);
    const std::string reversed = padded_decimal(octets, true);
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!is_digit(name[i]) || (i > 0 && is_digit(name[i - 1])))
            continue;
        std::size_t run = i;
        while (run < name.size() && is_digit(name[run]))
            ++run;
        const auto digits = name.substr(i, run - i);
        if (digits == forward || digits == reversed)
            return std::string(digits);
        unsigned values[4] = {};
        const auto end = read_dotted(name, i, values);
        if (end == std::string_view::npos)
            continue;
        bool in_order = true;
        bool in_reverse = true;
        for (int k = 0; k < 4; ++k) {
            in_order = in_order && values[k] == octets[k];
            in_reverse = in_reverse && values[k] == octets[3 - k];
        }
        if (in_order || in_reverse)
            return std::string(name.substr(i, end - i));
    }
    std::string hex;
    for (int k = 0; k < 4; ++k) {
        hex += hex_digits[octets[k] >> 4];
        hex += hex_digits[octets[k] & 0x0f];
    }
    if (name.find(hex) != std::string_view::npos)
        return hex;
    return "";
}

// Does `candidate` share a run of at least min_ipv6_nibbles with
// `nibbles`, with enough non-zero nibbles to mean something?
bool shares_long_run(const std::string &candidate, const std::string &nibbles) {
    if (candidate.size() < min_ipv6_nibbles)
        return false;
    std::vector<std::size_t> nonzero(candidate.size() + 1, 0);
    for (std::size_t i = 0; i < candidate.size(); ++i)
        nonzero[i + 1] = nonzero[i] + (candidate[i] != '0');
    std::vector<std::size_t> previous(nibbles.size() + 1, 0);
    std::vector<std::size_t> current(nibbles.size() + 1, 0);
    for (std::size_t i = 1; i <= candidate.size(); ++i) {
        for (std::size_t j = 1; j <= nibbles.size(); ++j) {
            current[j] = candidate[i - 1] == nibbles[j - 1] ? previous[j - 1] + 1 : 0;
            const auto length = current[j];
            if (length >= min_ipv6_nibbles && nonzero[i] - nonzero[i - length] >= min_ipv6_nonzero)
                return true;
        }
        std::swap(previous, current);
    }
    return false;
}

std::string embedded_ipv6(std::string_view name, const IpAddress &client) {
    std::string forward;
    for (std::size_t i = 0; i < 16; ++i) {
        forward += hex_digits[client.bytes()[i] >> 4];
        forward += hex_digits[client.bytes()[i] & 0x0f];
    }
    const std::string reversed(forward.rbegin(), forward.rend());
    const auto fields = split(name, "-._");

    // Runs of consecutive hex fields, read as 4-nibble groups ("2001-db8-0-1"),
    // as single nibbles ("1.0.0.0.8.b.d.0") and as one long field.
    auto check = [&](const std::string &candidate) {
        return shares_long_run(candidate, forward) || shares_long_run(candidate, reversed);
    };
    std::string groups;
    std::string nibbles;
    for (std::size_t i = 0; i <= fields.size(); ++i) {
        const bool hex_field = i < fields.size() && !fields[i].empty() &&
                               std::all_of(fields[i].begin(), fields[i].end(), is_hex);
        if (hex_field && fields[i].size() <= 4)
            groups += std::string(4 - fields[i].size(), '0') + std::string(fields[i]);
        if (hex_field && fields[i].size() == 1)
            nibbles += fields[i];
        if (hex_field && fields[i].size() > 4 && check(std::string(fields[i])))
            return std::string(fields[i]);
        if (!hex_field || fields[i].size() > 4) {
            if (check(groups))
                return groups;
            groups.clear();
        }
        if (!hex_field || fields[i].size() != 1) {
            if (check(nibbles))
                return nibbles;
            nibbles.clear();
        }
    }
    return "";
}

bool contains_parts(const std::vector<std::string_view> &parts,
                    const std::vector<std::string> &token) {
    if (token.empty() || token.size() > parts.size())
        return false;
    for (std::size_t i = 0; i + token.size() <= parts.size(); ++i)
        if (std::equal(token.begin(), token.end(), parts.begin() + static_cast<long>(i)))
            return true;
    return false;
}

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos)
        return {};
    const auto last = text.find_last_not_of(" \t\r");
    return text.substr(first, last - first + 1);
}

bool valid_token(std::string_view word) {
    if (word.empty() || word.size() > 63 || word.front() == '-' || word.back() == '-' ||
        word.find("--") != std::string_view::npos)
        return false;
    return std::all_of(word.begin(), word.end(), [](char c) {
        return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    });
}

constexpr std::string_view rdns_generic_text[] = {
    "Client host ${client_addr} has a generic or dynamic reverse DNS name: ${detail}.",
    "Mail servers should have a PTR name of their own; relay through your provider's server.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "rdns-generic",
     .stage = Stage::connect,
     .default_action = "log",
     .summary = "the PTR name looks like a dynamic or generic pool name",
     .help = "The reverse DNS (PTR) name of your address looks like one given to a dynamic or "
             "residential pool (it embeds the address, or says dyn, dsl, pool and the like). "
             "Mail servers should have a name of their own: ask your provider for a PTR record "
             "naming your server, or send through your provider's mail server.",
     .reject = "550 5.7.25",
     .tempfail = "450 4.7.25",
     .text = rdns_generic_text,
     .example = "score:2",
     .notes = "Names are matched against the patterns of generic-rdns-patterns. Generic names "
              "are too common on legitimate servers to refuse: the finding is logged, or can "
              "be given a score."},
};

CheckResult make_result(Outcome outcome, std::string detail) {
    CheckResult result;
    result.check = std::string(check_name);
    result.rule = "rdns-generic";
    result.outcome = outcome;
    result.detail = std::move(detail);
    return result;
}

class GenericRdnsCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::connect; }
    std::span<const RuleSpec> rules() const override { return declared; }
    bool needs_client_names() const override { return true; }

    // Each file's problems are located at the line that names that file.
    std::shared_ptr<const CheckData> load(const Config &config,
                                          std::vector<ConfigError> &errors) const override {
        auto patterns = std::make_shared<GenericRdnsPatterns>();
        for (const auto &file : config.generic_rdns_files) {
            std::vector<std::string> problems;
            patterns->read(file, problems);
            for (auto &problem : problems)
                errors.push_back(config.error("generic-rdns-patterns", file, std::move(problem)));
        }
        return patterns;
    }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        if (!context.identity.address)
            return {make_result(Outcome::skip, "no client IP address")};
        const IpAddress &client = *context.identity.address;
        const auto &ptr = context.lookups.get(context.identity.reverse_name, DnsType::PTR);
        if (ptr.is_error())
            return {
                make_result(Outcome::error, "PTR lookup of " + context.identity.reverse_name +
                                                " failed: " + std::string(to_string(ptr.status)))};
        const auto names = context.identity.names->names();
        if (names.empty())
            return {make_result(Outcome::skip, "no usable PTR name for " + client.to_string())};
        static const GenericRdnsPatterns none;
        const auto *loaded = static_cast<const GenericRdnsPatterns *>(context.data.find(*this));
        const GenericRdnsPatterns &patterns = loaded ? *loaded : none;
        std::string reasons;
        for (std::size_t i = 0; i < names.size(); ++i) {
            const auto why = patterns.match(names[i], client);
            if (why.empty())
                return {make_result(Outcome::pass, names[i] + " does not look generic")};
            if (i < names_in_detail)
                reasons.append(i ? "; " : "").append(names[i]).append(": ").append(why);
        }
        if (names.size() > names_in_detail)
            reasons += " and " + std::to_string(names.size() - names_in_detail) + " more";
        return {make_result(Outcome::fail, "PTR name looks generic: " + reasons)};
    }
};

} // namespace

GenericRdnsPatterns GenericRdnsPatterns::load(const std::vector<std::string> &files,
                                              std::vector<std::string> &errors) {
    GenericRdnsPatterns patterns;
    for (const auto &file : files)
        patterns.read(file, errors);
    return patterns;
}

void GenericRdnsPatterns::read(const std::string &file, std::vector<std::string> &errors) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        errors.push_back(file + ": cannot read the file");
        return;
    }
    std::ostringstream text;
    text << in.rdbuf();
    add(text.str(), file, errors);
}

void GenericRdnsPatterns::add(std::string_view text, std::string_view source,
                              std::vector<std::string> &errors) {
    int number = 0;
    for (const auto raw : split(text, "\n")) {
        ++number;
        const auto line = trim(raw);
        if (line.empty() || line.front() == '#')
            continue;
        auto fail = [&](const std::string &message) {
            errors.push_back(std::string(source) + ":" + std::to_string(number) + ": " + message);
        };
        const auto space = line.find_first_of(" \t");
        const auto keyword = line.substr(0, space);
        const auto argument =
            space == std::string_view::npos ? std::string_view{} : trim(line.substr(space));
        if (keyword == "token") {
            if (!valid_token(argument)) {
                fail("'token' needs one word of letters, digits and inner hyphens, not '" +
                     log_safe(argument, 80) + "'");
                continue;
            }
            const std::string word = to_lower(argument);
            std::vector<std::string> parts;
            for (const auto part : split(word, "-"))
                parts.emplace_back(part);
            tokens_.push_back(std::move(parts));
        } else if (keyword == "regex") {
            if (argument.empty()) {
                fail("'regex' needs a pattern");
                continue;
            }
            try {
                regexes_.push_back({std::string(argument),
                                    std::regex(std::string(argument),
                                               std::regex::ECMAScript | std::regex::icase)});
            } catch (const std::regex_error &error) {
                fail("bad regular expression '" + log_safe(argument, 80) + "': " + error.what());
            }
        } else {
            fail("expected 'token WORD' or 'regex PATTERN', not '" + log_safe(keyword, 40) + "'");
        }
    }
}

std::string GenericRdnsPatterns::match(std::string_view raw_name, const IpAddress &client) const {
    const std::string name = normalize_host(raw_name);
    if (name.empty() || name.size() > 253)
        return "";
    if (auto spelled = embedded_address(name, client); !spelled.empty())
        return "embeds the client address as " + spelled;
    const auto labels = split(name, ".");
    // The last two labels are (roughly) the registered domain: the ISP's
    // own name may well contain a token, as in mail.home.example.
    for (std::size_t i = 0; i + 2 < labels.size(); ++i) {
        const auto parts = split(labels[i], "-_");
        for (const auto &token : tokens_)
            if (contains_parts(parts, token)) {
                std::string word = token.front();
                for (std::size_t k = 1; k < token.size(); ++k)
                    word += "-" + token[k];
                return "token '" + word + "'";
            }
    }
    for (const auto &expression : regexes_) {
        try {
            if (std::regex_search(name, expression.pattern))
                return "regex '" + log_safe(expression.text, 80) + "'";
        } catch (const std::regex_error &) {
            // Too complex for this name: treated as no match.
        }
    }
    return "";
}

std::string embedded_address(std::string_view raw_name, const IpAddress &raw_client) {
    const std::string name = to_lower(raw_name);
    const IpAddress client = raw_client.unmapped();
    if (client.is_v4())
        return embedded_ipv4(name, client.bytes().data());
    return embedded_ipv6(name, client);
}

const Check &generic_rdns_check() {
    static const GenericRdnsCheck check;
    return check;
}

} // namespace portcullis
