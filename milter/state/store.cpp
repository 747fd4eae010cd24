// Names of store outcomes and the key rule both backends share.
#include "state/store.hpp"

namespace portcullis::state {

std::string_view to_string(Outcome::Status status) {
    switch (status) {
    case Outcome::Status::ok:
        return "ok";
    case Outcome::Status::timeout:
        return "timeout";
    case Outcome::Status::unavailable:
        return "unavailable";
    case Outcome::Status::full:
        return "full";
    case Outcome::Status::error:
        return "error";
    }
    return "error";
}

std::string key_problem(std::string_view key) {
    if (key.empty())
        return "empty key";
    if (key.size() > max_key_bytes)
        return "key longer than " + std::to_string(max_key_bytes) + " bytes";
    for (unsigned char c : key)
        if (c <= 0x20 || c >= 0x7f)
            return "key with a byte that is not printable ASCII";
    return {};
}

} // namespace portcullis::state
