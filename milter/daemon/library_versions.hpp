// The versions of the C libraries the running binary is linked with, as
// they report themselves at run time (not the headers it was built
// against): libmilter (smfi_version), libunbound (ub_version) and
// libopendkim (dkim_libversion). For `portcullis --version` and the
// daemon's start line.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace portcullis {

// {"libmilter", "1.0.1"}, {"libunbound", "1.17.1"}, {"libopendkim", "2.11.0"}.
std::vector<std::pair<std::string, std::string>> library_versions();

// "libmilter 1.0.1, libunbound 1.17.1, libopendkim 2.11.0".
std::string describe_library_versions();

} // namespace portcullis
