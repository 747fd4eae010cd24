// libFuzzer target: the byte work of DKIM verification that sees
// hostile input before libopendkim does (milter/message/dkim_wire.hpp).
// The whole input is a DKIM-Signature value for read_signature_tags();
// then it is read as  ROOM_HI ROOM_LO RECORD ("\n" RECORD)*  and written
// as the TXT answer for the key name found (or a fixed one) into a
// buffer of ROOM octets. Asserts beyond the sanitizers: kept values
// bounded, a key name that is a DNS name made of s= and d=, and an
// answer that fits its buffer and says what it was given.
#include "message/dkim_wire.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using portcullis::DnsAnswer;
using namespace portcullis::message;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

void check_tags(const SignatureTags &tags) {
    require(tags.domain.size() <= 255 && tags.selector.size() <= 255);
    require(tags.algorithm.size() <= 255 && tags.identity.size() <= 255);
    require(tags.b_prefix.size() <= 8);
    if (tags.key_name.empty())
        return;
    require(tags.key_name.size() <= 253);
    require(tags.key_name == tags.selector + "._domainkey." + tags.domain);
    for (char c : tags.key_name)
        require(c != ' ' && c != '\t' && c != '\r' && c != '\n');
}

unsigned read16(const std::vector<unsigned char> &wire, std::size_t at) {
    return wire[at] * 256u + wire[at + 1];
}

void check_answer(std::string_view name, std::string_view input) {
    if (input.size() < 2)
        return;
    const std::size_t room =
        (static_cast<unsigned char>(input[0]) * 256u + static_cast<unsigned char>(input[1])) % 9000;
    input.remove_prefix(2);
    DnsAnswer answer;
    answer.status = DnsAnswer::Status::ok;
    while (true) {
        const auto end = input.find('\n');
        answer.records.emplace_back(input.substr(0, end));
        if (end == std::string_view::npos)
            break;
        input.remove_prefix(end + 1);
    }
    // One guard octet past the room given: never written.
    std::vector<unsigned char> wire(room + 1, 0xa5);
    const auto written =
        write_txt_answer(name, answer, std::span<unsigned char>(wire.data(), room));
    require(wire[room] == 0xa5);
    if (!written)
        return;
    require(*written <= room && *written >= 12);
    require(read16(wire, 4) == 1);
    require(read16(wire, 6) == answer.records.size());
    std::size_t text = 0;
    for (const auto &record : answer.records)
        text += record.size();
    require(*written > text);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char *>(data), size);
    const SignatureTags tags = read_signature_tags(input);
    check_tags(tags);
    check_answer(tags.key_name.empty() ? "sel._domainkey.example.org" : tags.key_name, input);
    return 0;
}
