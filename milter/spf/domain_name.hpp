// Domain names as SPF handles them. Inside the evaluator a name is raw
// bytes, lower-case, without the trailing dot ("raw form"); the resolver
// interface speaks presentation form (RFC 1035 §5.1: "\DDD" and "\."
// escapes), so names are escaped on the way to a lookup and unescaped on
// the way back from PTR and MX answers. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace portcullis::spf {

// Why `name` cannot be the <domain> of check_host() (RFC 7208 §4.3: a
// malformed or single-label name, or an address literal, gives "none"),
// or "" when it can. One trailing dot is tolerated.
std::string identity_domain_problem(std::string_view name);

// The name a macro-expanded domain-spec stands for (RFC 7208 §7.3): one
// trailing dot removed, then whole labels dropped from the left until it
// fits in 253 bytes; nullopt when no DNS query can be composed from it
// (an empty label, a label over 63 bytes). Lower-case raw form.
std::optional<std::string> name_for_query(std::string_view expanded);

// Raw form to presentation form and back. escape_name() lower-cases.
std::string escape_name(std::string_view raw);
std::string unescape_name(std::string_view presentation);

// True when `name` is `domain` or a subdomain of it (raw forms, any case).
bool is_within(std::string_view name, std::string_view domain);

} // namespace portcullis::spf
