// The domains of the mailboxes of a From: or Sender: field, for the
// checks that compare them with the envelope, DKIM and the own domains.
// Pure function over hostile bytes: linear, bounded.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace portcullis::message {

// The domains of the mailboxes in a From: (or Sender:) value (RFC 5322 3.4 address-list with
// obs forms: groups, comments, quoted local parts, display names, route addresses "<@a,@b:x@y>").
// Lower-cased, without a trailing dot; IDN left as given. `complete` false when some part could
// not be parsed (the caller then treats the field as unreadable). Hostile input: bounded, linear.
// Parsing stops at the first part that does not parse (domains holds those read before it), and
// after max_mailboxes mailboxes (complete false). A domain-literal is given as written ("[...]",
// white space removed). Empty list elements (obs-addr-list: "a@b, , c@d") are skipped; a value
// with no mailbox at all ("", "undisclosed-recipients:;") is complete with no domains.
struct MailboxDomains {
    std::vector<std::string> domains;
    bool complete = true;
};
inline constexpr std::size_t max_mailboxes = 256;
MailboxDomains mailbox_domains(std::string_view value);

} // namespace portcullis::message
