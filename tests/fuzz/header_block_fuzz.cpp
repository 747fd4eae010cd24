// libFuzzer target: HeaderBlock (milter/message/header_block.hpp). The
// input is FIELDS BYTES, then fields, each NAME_LENGTH (1 byte) NAME
// VALUE_LENGTH (2 bytes, big-endian) VALUE, lengths cut to what is left;
// FIELDS and BYTES (1 byte each) give the limits (0..255 fields, BYTES*64
// bytes). Every field is added, then every accessor read.
// Asserts, beyond the sanitizers: the fields kept are the first ones, as
// given, within both limits; fields_seen, bytes_seen and count() of the
// counted names agree with a plain recount; first() is the first kept
// field of that name; the findings are set exactly when a recount says so,
// each naming a field that has it.
#include "message/header_block.hpp"

#include "message/syntax.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace portcullis::message;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

bool same(std::string_view a, std::string_view b) {
    return syntax::lowercase(a) == syntax::lowercase(b);
}

struct Input {
    std::string_view rest;
    std::string_view take(std::size_t length) {
        length = std::min(length, rest.size());
        const auto taken = rest.substr(0, length);
        rest.remove_prefix(length);
        return taken;
    }
    unsigned byte() { return rest.empty() ? 0 : static_cast<unsigned char>(take(1)[0]); }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    Input input{std::string_view(reinterpret_cast<const char *>(data), size)};
    const HeaderLimits limits{input.byte(), std::size_t{input.byte()} * 64};
    std::vector<HeaderField> given;
    while (!input.rest.empty()) {
        const auto name = input.take(input.byte());
        const std::size_t length = input.byte() << 8;
        const auto value = input.take(length | input.byte());
        given.push_back({std::string(name), std::string(value)});
    }
    HeaderBlock block(limits);
    for (int round = 0; round < 2; ++round) {
        block.clear();
        for (const auto &field : given)
            block.add(field.name, field.value);
    }

    require(block.fields_seen() == given.size());
    std::size_t bytes = 0;
    for (const auto &field : given)
        bytes += field.name.size() + field.value.size();
    require(block.bytes_seen() == bytes);
    const auto &kept = block.fields();
    require(kept.size() <= limits.max_fields && kept.size() <= given.size());
    std::size_t kept_bytes = 0;
    for (std::size_t i = 0; i < kept.size(); ++i) {
        require(kept[i].name == given[i].name && kept[i].value == given[i].value);
        kept_bytes += kept[i].name.size() + kept[i].value.size();
    }
    require(kept_bytes <= limits.max_bytes);
    const auto &findings = block.findings();
    require(findings.too_many_fields == (given.size() > limits.max_fields));
    require(findings.too_many_bytes == (bytes > limits.max_bytes));
    require((kept.size() == given.size()) ==
            !(findings.too_many_fields || findings.too_many_bytes));

    for (const auto name : counted_fields()) {
        std::size_t count = 0;
        for (const auto &field : given)
            count += same(field.name, name);
        require(block.count(name) == count);
        const std::string *first = nullptr;
        for (const auto &field : kept)
            if (!first && same(field.name, name))
                first = &field.value;
        require(block.first(name) == first ||
                (first && block.first(name) && *block.first(name) == *first));
    }
    for (const auto &field : given) {
        (void)block.count(field.name);
        (void)block.first(field.name);
    }

    const auto names_a_field_with = [&](const std::optional<std::string> &finding, auto has) {
        bool any = false;
        for (const auto &field : given)
            any = any || has(field);
        require(finding.has_value() == any);
        if (!finding)
            return;
        for (const auto &field : given)
            if (has(field)) {
                require(*finding == field.name.substr(0, 128));
                return;
            }
    };
    names_a_field_with(findings.nul, [](const HeaderField &f) {
        return f.name.find('\0') != std::string::npos || f.value.find('\0') != std::string::npos;
    });
    names_a_field_with(findings.eight_bit, [](const HeaderField &f) {
        for (const auto *text : {&f.name, &f.value})
            for (const char c : *text)
                if (static_cast<unsigned char>(c) >= 0x80)
                    return true;
        return false;
    });
    names_a_field_with(findings.bare_cr, [](const HeaderField &f) {
        if (f.name.find('\r') != std::string::npos)
            return true;
        for (std::size_t i = 0; i < f.value.size(); ++i)
            if (f.value[i] == '\r' && (i + 1 == f.value.size() || f.value[i + 1] != '\n'))
                return true;
        return false;
    });
    names_a_field_with(findings.bad_name, [](const HeaderField &f) {
        if (f.name.empty())
            return true;
        for (const char c : f.name)
            if (c < 33 || c > 126 || c == ':')
                return true;
        return false;
    });
    names_a_field_with(findings.long_line, [](const HeaderField &f) {
        std::size_t line = f.name.size() + 2;
        for (std::size_t i = 0; i < f.value.size(); ++i) {
            if (f.value[i] == '\n') {
                line = 0;
            } else if (!(f.value[i] == '\r' && i + 1 < f.value.size() && f.value[i + 1] == '\n') &&
                       ++line > 998) {
                return true;
            }
        }
        return line > 998;
    });
    return 0;
}
