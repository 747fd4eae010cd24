// DNS block and allow lists, for the dnsbl check (rule dnsbl-listed) and
// for anyone who wants to show what the lists said. As postscreen does:
// each dnsbl.zone entry (zone=filter*weight) is asked for A of the
// reversed client address (IPv4 octets, IPv6 nibbles) under the zone; a
// returned A record matching the entry's filter adds its weight once
// (negative weights are allow lists); the total against dnsbl.threshold
// decides. A listing's TXT reason is fetched only once the A record
// matched.
//
// A list that cannot answer never blocks mail: a timeout or SERVFAIL,
// and an answer in 127.255.255.0/24 (the list refusing the query, e.g.
// asked through a public resolver or over its query limit), are logged
// once as list errors and count as not listed. Nor does it let mail be
// refused: when an allow list (negative weight) could not answer and its
// weight could have brought a total that reaches the threshold below it,
// the result is an error (the policy's dns-error), not a fail; and when
// a block list could not answer and its weight could have brought the
// total to the threshold, the pass says it might have been a fail, so
// that a negative score of the rule still counts for the client.
#pragma once

#include "checks/check.hpp"

#include <string>
#include <vector>

namespace portcullis {

struct DnsblListing {
    std::string zone;               // the zone entry's zone
    std::string entry;              // the entry as configured, for logs
    double weight = 0;              // the entry's weight
    std::vector<std::string> codes; // the returned A records that matched its filter
    std::string txt;                // the TXT reason(s), unbounded and unsanitized
};

struct DnsblReport {
    std::vector<DnsblListing> listings; // in configuration order
    std::vector<std::string> problems;  // "zone: timeout", "zone: refused (127.255.255.254)"
    double score = 0;                   // the sum of the listings' weights
    // The sum of the negative weights of the entries whose lookup failed
    // or was refused: what allow lists that did not answer could take off.
    double unanswered_allow = 0;
    // And the sum of the positive weights of those entries: what block
    // lists that did not answer could have added.
    double unanswered_block = 0;
};

// The total reaches the threshold, but allow lists that did not answer
// could have taken it below: the check cannot decide.
bool undecided_by_allow_lists(double score, double unanswered_allow, double threshold);
// The total stays below the threshold (a pass), but block lists that did
// not answer could have brought it there: the pass might have been a fail
// (CheckResult::could_be), which matters to a rule scored negatively.
bool undecided_by_block_lists(bool listed, double score, double unanswered_block, double threshold);

// "2.0.0.127.zen.example" or the 32-nibble form for IPv6, from the
// client's reversed address (ClientIdentity::reversed).
std::string dnsbl_query_name(std::string_view reversed_client, const DnsblZone &zone);

// Is this A record a list error code (127.255.255.0/24) rather than a listing?
bool is_dnsbl_error_code(std::string_view address);
// The first list error code in an answer, or null: shared with the RHSBL check.
const std::string *dnsbl_refusal_code(const DnsAnswer &answer);
// For detail lines of the DNSBL and RHSBL checks: "a, b".
std::string join_items(const std::vector<std::string> &items, std::string_view separator);

// Reads the completed lookups of every configured zone.
DnsblReport read_dnsbl(const CheckContext &context);

} // namespace portcullis
