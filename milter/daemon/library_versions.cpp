#include "library_versions.hpp"

#include <cstdint>
#include <libmilter/mfapi.h>
#include <unbound.h>

// dkim.h declares C99 _Bool parameters, which C++ does not know; bool has
// the same representation on every ABI we build for.
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool

namespace portcullis {

namespace {

std::string milter_version() {
    unsigned int major = 0;
    unsigned int minor = 0;
    unsigned int patch = 0;
    if (smfi_version(&major, &minor, &patch) != MI_SUCCESS)
        return "unknown";
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

// dkim.h's layout, 0xrrMMmmpp: release, major and minor revision, patch
// (the last shown only when not 0).
std::string opendkim_version() {
    const std::uint32_t version = dkim_libversion();
    std::string text = std::to_string(version >> 24) + "." +
                       std::to_string((version >> 16) & 0xff) + "." +
                       std::to_string((version >> 8) & 0xff);
    if (const auto patch = version & 0xff; patch != 0)
        text += "." + std::to_string(patch);
    return text;
}

} // namespace

std::vector<std::pair<std::string, std::string>> library_versions() {
    const char *unbound = ub_version();
    return {{"libmilter", milter_version()},
            {"libunbound", unbound ? unbound : "unknown"},
            {"libopendkim", opendkim_version()}};
}

std::string describe_library_versions() {
    std::string text;
    for (const auto &[name, version] : library_versions())
        text += (text.empty() ? "" : ", ") + name + " " + version;
    return text;
}

} // namespace portcullis
