// libFuzzer target: arbitrary bytes as an SPF macro string and as the
// values it expands (local-part, domain, HELO), in every context. The
// first byte picks the context and the client's family; the rest is
// "macro\nlocal-part\ndomain\nhelo". Asserts the expansion bounds and
// what name_for_query() promises about the names it returns.
#include "spf/domain_name.hpp"
#include "spf/macro.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace portcullis;
using namespace portcullis::spf;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

std::string_view next_field(std::string_view &input) {
    const auto end = input.find('\n');
    const auto field = input.substr(0, end);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
    return field;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size == 0)
        return 0;
    const auto flags = data[0];
    std::string_view input(reinterpret_cast<const char *>(data + 1), size - 1);
    const auto text = next_field(input);
    MacroValues values;
    values.local_part = std::string(next_field(input));
    values.domain = std::string(next_field(input));
    values.sender_domain = values.domain;
    values.sender = values.local_part + "@" + values.domain;
    values.helo = std::string(input);
    values.client = *IpAddress::parse(flags & 4 ? "2001:db8::cb01" : "192.0.2.3");
    values.timestamp = static_cast<std::int64_t>(size) << 40;

    const MacroUse use = flags % 3 == 0   ? MacroUse::domain_spec
                         : flags % 3 == 1 ? MacroUse::explanation
                                          : MacroUse::unknown_modifier;
    const auto parse = parse_macro_string(text, use);
    require(parse.value.has_value() == parse.error.empty());
    if (parse.value) {
        const auto domain = expand(*parse.value, values, ExpansionUse::domain_name);
        require(domain.size() <= 2 * max_domain_expansion);
        const auto name = name_for_query(domain);
        if (name) {
            require(!name->empty() && name->size() <= 253);
            std::size_t label = 0;
            for (const char c : *name) {
                label = c == '.' ? 0 : label + 1;
                require(label <= 63);
            }
            require(unescape_name(escape_name(*name)) == *name ||
                    name->find('\\') != std::string::npos);
        }
        const auto explanation = expand(*parse.value, values, ExpansionUse::explanation);
        require(explanation.size() <= max_explanation_expansion);
    }
    const auto spec = parse_domain_spec(text);
    require(!spec.value ||
            (!text.empty() && parse_macro_string(text, MacroUse::domain_spec).value));
    const auto escaped = url_escape(text);
    require(escaped.size() >= text.size() && escaped.size() <= 3 * text.size());
    identity_domain_problem(text);
    return 0;
}
