// libFuzzer target: valid_message_id (milter/message/message_id.hpp) over
// any bytes. Asserts, beyond the sanitizers: an invalid value has a
// printable reason; a valid one stays valid with CFWS added around it and
// does not stay valid with a second msg-id after it.
#include "message/message_id.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace portcullis::message;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string input(reinterpret_cast<const char *>(data), size);
    std::string why;
    if (!valid_message_id(input, &why)) {
        require(!why.empty());
        for (const char c : why)
            require(c >= 0x20 && c < 0x7f);
        return 0;
    }
    require(why.empty());
    require(valid_message_id("(c) " + input + "\r\n (d)"));
    require(!valid_message_id(input + " <x@y>"));
    return 0;
}
