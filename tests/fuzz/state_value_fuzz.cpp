// libFuzzer target: what greylisting, the abuse counters and `portcullis
// db` read back from the state store. A store shared with other hosts
// (Redis) or written by an older version holds values we did not write,
// so each is parsed as hostile: the allowlist (lines "NETWORK MS"), a
// block ("RULE COUNT MS"), a time in milliseconds; and the envelope
// addresses and host names a client chooses become key parts.
// The input: FLAGS, then KIND-specific text.
// Asserts, beyond the sanitizers: an allowlist read back serializes to
// text that parses to the same entries; a block always names a known
// rule; a triplet key is one the store accepts (key_problem() empty);
// an organisational domain is a suffix of the name it came from.
#include "memory/abuse_counters.hpp"
#include "memory/allowlist.hpp"
#include "memory/keys.hpp"
#include "state/store.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace portcullis;
using namespace portcullis::memory;

namespace {

const state::Time now = state::Time(std::chrono::milliseconds(4'102'444'800'000));

void check(bool condition) {
    if (!condition)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size == 0)
        return 0;
    const std::string_view text(reinterpret_cast<const char *>(data) + 1, size - 1);
    switch (data[0] % 4) {
    case 0: {
        const auto list = Allowlist::parse(text);
        const auto again = Allowlist::parse(list.serialize());
        check(again.malformed() == 0);
        check(again.entries().size() == list.entries().size());
        check(again.serialize() == list.serialize());
        if (!list.entries().empty())
            list.match(list.entries().front().network.base(), now);
        break;
    }
    case 1: {
        const auto block = parse_block(text, now, now);
        bool known = false;
        for (const Counter counter : all_counters)
            known = known || block.rule == counter_rule(counter);
        check(known);
        break;
    }
    case 2: {
        // SENDER \0 RECIPIENT
        const auto nul = text.find('\0');
        const auto sender = text.substr(0, nul);
        const auto recipient = nul == std::string_view::npos ? "" : text.substr(nul + 1);
        check(state::key_problem(triplet_key("d:example.org", sender, recipient)).empty());
        check(state::key_problem(triplet_key("2001:db8:1:2::/64", sender, recipient)).empty());
        if (auto ms = parse_ms(sender))
            check(parse_ms(format_ms(*ms)) == ms &&
                  sender.find_first_not_of("0123456789") == std::string_view::npos);
        break;
    }
    case 3: {
        const std::string name(text);
        if (auto domain = organisational_domain(name)) {
            std::string lower = to_lower(name);
            if (!lower.empty() && lower.back() == '.')
                lower.pop_back();
            check(!domain->empty() && lower.ends_with(*domain));
            check(state::key_problem(pass_key(domain_origin(*domain))).empty());
        }
        break;
    }
    }
    return 0;
}
