// Generic PTR names (dynamic pools, dial-up, cable and DSL customers),
// for the generic-rdns check (rule rdns-generic) and its pattern files.
// A name looks generic when it embeds the client address (built in:
// IPv4 octets in either order joined by '-', '.', '_' or zero-padded
// without separator, 8 hex digits, or 16+ hex nibbles of an IPv6
// address), when one of its labels other than the last two is a pool
// token (whole label or whole '-'/'_'-separated parts of it: "dyn"
// matches dyn.isp.example and dyn-42.isp.example, not dynamics.example),
// or when an administrator's regular expression finds a match.
//
// Pattern files (generic-rdns-patterns; later files add to earlier ones)
// hold one entry per line, '#' starts a comment line:
//     token WORD       letters, digits and inner hyphens
//     regex PATTERN    ECMAScript, case-insensitive, searched in the name
#pragma once

#include "checks/check.hpp"
#include "core/address.hpp"

#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

// The generic-rdns check's data, loaded with it from generic-rdns-patterns.
class GenericRdnsPatterns final : public CheckData {
  public:
    GenericRdnsPatterns() = default; // no tokens, no expressions

    // Reads the files in order; problems go to `errors` as
    // "file:line: message" and the offending line is left out.
    static GenericRdnsPatterns load(const std::vector<std::string> &files,
                                    std::vector<std::string> &errors);
    // Adds the entries of one file, as load() does for each.
    void read(const std::string &file, std::vector<std::string> &errors);
    // Adds the entries of one file's text; `source` names it in errors.
    void add(std::string_view text, std::string_view source, std::vector<std::string> &errors);

    // Why `name` looks generic for `client` ("embeds the client address
    // as 192-0-2-1", "token 'dyn'", "regex '...'"), or "" when it does not.
    std::string match(std::string_view name, const IpAddress &client) const;

    std::size_t token_count() const { return tokens_.size(); }
    std::size_t regex_count() const { return regexes_.size(); }

  private:
    struct Expression {
        std::string text;
        std::regex pattern;
    };
    std::vector<std::vector<std::string>> tokens_; // each split at its hyphens
    std::vector<Expression> regexes_;
};

// The check itself; its data (CheckDataSet) is a GenericRdnsPatterns.
const Check &generic_rdns_check();

// The part of `name` (lower-case) that spells `client`, or "".
std::string embedded_address(std::string_view name, const IpAddress &client);

} // namespace portcullis
