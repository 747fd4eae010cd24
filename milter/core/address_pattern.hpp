// The one syntax of every option that matches mail addresses
// (exempt-recipients, deny.sender), documented once in portcullis.conf(5)
// under "Address patterns". Postfix access(5) spellings, plus the ones
// these options took before, as aliases:
//     user@example.org   that address
//     user@              that local part at any domain (also user@*, and
//                        a bare word without '@' or '.', such as postmaster)
//     @example.org       any address at example.org itself (also *@example.org)
//     example.org        any address at example.org or below it
//     .example.org       any address below example.org, not at it
//                        (also *.example.org, @.example.org, *@.example.org)
//     user@.example.org  that local part below example.org
// Matching ignores ASCII case. parse() refuses what can match no address
// and what would match every address: a '*' anywhere else, quotes,
// spaces, brackets and other specials in the local part, a second '@',
// a domain that is not a host name. Pure values; no DNS.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace portcullis {

class AddressPattern {
  public:
    // Null, and `error` says why, for an entry that cannot be used.
    static std::optional<AddressPattern> parse(std::string_view text, std::string *error = nullptr);

    // Whether `address` (as the MTA gives it, angle brackets allowed)
    // matches. The empty address (the null sender) never matches; an
    // address without '@' has a local part and no domain.
    bool matches(std::string_view address) const;

    // The entry as written, for logs.
    const std::string &text() const { return text_; }

  private:
    enum class Domain { any, exact, below, exact_or_below };

    bool matches(std::string_view local, std::string_view domain) const;
    friend const AddressPattern *first_match(std::string_view, std::span<const AddressPattern>);

    std::string text_;
    std::string local_; // lower-case; empty: any local part
    Domain domain_kind_ = Domain::any;
    std::string domain_; // lower-case, without a trailing dot
};

// The first pattern `address` matches, or null.
const AddressPattern *first_match(std::string_view address,
                                  std::span<const AddressPattern> patterns);

} // namespace portcullis
