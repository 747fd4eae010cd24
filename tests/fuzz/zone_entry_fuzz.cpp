// libFuzzer target: DNSBL/RHSBL zone entries, zone[=filter][*weight] as
// postscreen writes them. The input's first line is the entry; each
// further line is an A record to match against it. Asserts, beyond the
// sanitizers: an entry that parses has a zone that is a DNS name (lower
// case, no trailing dot, labels of 1 to 63 bytes) under which the query
// name of any client, IPv6 included, stays within 253 bytes; its weight
// is finite and the entry reads back the same from its parts; and its
// filter matches exactly the addresses a model of the filter grammar,
// written here independently, says it matches.
#include "checks/dnsbl.hpp"
#include "core/config.hpp"

#include <array>
#include <bitset>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace portcullis;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

using OctetSet = std::bitset<256>;

// The filter grammar, by recursive descent:
//   filter := octet "." octet "." octet "." octet
//   octet  := number | "[" item ((";" | ",") item)* "]"
//   item   := number [".." number]       (low <= high)
//   number := digit+                     (value below 256)
class FilterModel {
  public:
    static std::optional<std::array<OctetSet, 4>> parse(std::string_view text) {
        FilterModel model{text};
        std::array<OctetSet, 4> octets;
        for (std::size_t i = 0; i < 4; ++i) {
            if (i > 0 && !model.take('.'))
                return std::nullopt;
            if (!model.octet(octets[i]))
                return std::nullopt;
        }
        if (model.at_ != text.size())
            return std::nullopt;
        return octets;
    }

  private:
    explicit FilterModel(std::string_view text) : text_(text) {}

    bool take(char c) {
        if (at_ < text_.size() && text_[at_] == c) {
            ++at_;
            return true;
        }
        return false;
    }

    bool number(unsigned &value) {
        const auto start = at_;
        value = 0;
        while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
            value = value * 10 + static_cast<unsigned>(text_[at_] - '0');
            if (value > 255)
                return false;
            ++at_;
        }
        return at_ > start;
    }

    bool octet(OctetSet &set) {
        unsigned low = 0;
        if (!take('[')) {
            if (!number(low))
                return false;
            set.set(low);
            return true;
        }
        do {
            unsigned high = 0;
            if (!number(low))
                return false;
            high = low;
            if (take('.')) {
                if (!take('.') || !number(high) || low > high)
                    return false;
            }
            for (unsigned v = low; v <= high; ++v)
                set.set(v);
        } while (take(';') || take(','));
        return take(']');
    }

    std::string_view text_;
    std::size_t at_ = 0;
};

bool model_matches(const DnsblZone &zone, std::string_view answer) {
    const auto address = IpAddress::parse(answer);
    if (!address || !address->is_v4())
        return false;
    if (zone.filter.empty())
        return address->bytes()[0] == 127;
    const auto octets = FilterModel::parse(zone.filter);
    require(octets.has_value()); // the entry parsed, so its filter did
    for (std::size_t i = 0; i < 4; ++i)
        if (!(*octets)[i].test(address->bytes()[i]))
            return false;
    return true;
}

void check_zone_name(const std::string &zone) {
    require(!zone.empty() && zone.back() != '.' && zone.front() != '.');
    std::size_t label = 0;
    for (const char c : zone) {
        require(!(c >= 'A' && c <= 'Z'));
        if (c == '.') {
            require(label > 0);
            label = 0;
        } else {
            require((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
            require(++label <= 63);
        }
    }
    const auto v6 = IpAddress::parse("2001:db8::1")->reversed();
    const auto v4 = IpAddress::parse("192.0.2.1")->reversed();
    DnsblZone entry;
    entry.zone = zone;
    require(dnsbl_query_name(v4, entry) == v4 + "." + zone);
    require(dnsbl_query_name(v6, entry).size() <= 253);
}

std::string weight_text(double weight) {
    std::array<char, 64> buffer{};
    const auto [end, error] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), weight);
    require(error == std::errc());
    return std::string(buffer.data(), end);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char *>(data), size);
    const auto newline = input.find('\n');
    const auto text = input.substr(0, newline);
    input.remove_prefix(newline == std::string_view::npos ? input.size() : newline + 1);

    std::string error;
    const auto zone = DnsblZone::parse(text, &error);
    require(zone.has_value() == error.empty());
    if (!zone)
        return 0;
    require(zone->text == text);
    require(std::isfinite(zone->weight));
    check_zone_name(zone->zone);

    // The entry written back from its parts reads the same.
    const std::string rebuilt = zone->zone + (zone->filter.empty() ? "" : "=" + zone->filter) +
                                "*" + weight_text(zone->weight);
    const auto again = DnsblZone::parse(rebuilt);
    require(again && again->zone == zone->zone && again->filter == zone->filter &&
            again->weight == zone->weight);

    std::vector<std::string> answers = {"127.0.0.2", "127.0.0.1", "127.255.255.254",
                                        "127.0.1.2", "10.0.0.2",  "::ffff:127.0.0.2"};
    while (!input.empty()) {
        const auto cut = input.find('\n');
        answers.emplace_back(input.substr(0, cut));
        input.remove_prefix(cut == std::string_view::npos ? input.size() : cut + 1);
    }
    for (const auto &answer : answers)
        require(zone->matches(answer) == model_matches(*zone, answer));
    return 0;
}
