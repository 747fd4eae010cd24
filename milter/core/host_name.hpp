// Host-name syntax as RFC 1035/5321 define it, shared by the PTR and
// HELO checks (and the fuzz target). Pure function.
#pragma once

#include <string>
#include <string_view>

namespace portcullis {

// Why `name` is not a valid host name (RFC 1035/5321: letters, digits and
// hyphens in labels of 1..63 bytes, no label starting or ending with a
// hyphen, at most 253 bytes), or "" when it is. One trailing dot is
// tolerated. PTR names are read leniently (allow_underscore) as Postfix
// does; HELO names are not.
std::string host_name_problem(std::string_view name, bool allow_underscore = false);

} // namespace portcullis
