// DNSBL/DNSWL zone entries, written as postscreen_dnsbl_sites writes
// them: zone[=filter][*weight]. A filter is four dot-separated octet
// patterns, each a number or a bracketed list of numbers and ranges
// separated by ';' or ',': 127.0.0.[2..11], 127.0.[0;1].[2;4..7].
#include "config.hpp"

#include <charconv>
#include <cmath>
#include <vector>

namespace portcullis {

namespace {

struct OctetRange {
    unsigned low;
    unsigned high;
};

bool parse_octet(std::string_view text, unsigned &value) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return !text.empty() && error == std::errc() && end == text.data() + text.size() && value < 256;
}

// One octet pattern into ranges; false when malformed.
bool parse_octet_pattern(std::string_view text, std::vector<OctetRange> &ranges) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
        while (!text.empty()) {
            const auto separator = text.find_first_of(";,");
            const auto item = text.substr(0, separator);
            const auto dots = item.find("..");
            unsigned low = 0;
            unsigned high = 0;
            if (dots == std::string_view::npos) {
                if (!parse_octet(item, low))
                    return false;
                high = low;
            } else if (!parse_octet(item.substr(0, dots), low) ||
                       !parse_octet(item.substr(dots + 2), high) || low > high) {
                return false;
            }
            ranges.push_back({low, high});
            if (separator == std::string_view::npos)
                break;
            text.remove_prefix(separator + 1);
            if (text.empty())
                return false;
        }
        return !ranges.empty();
    }
    unsigned value = 0;
    if (!parse_octet(text, value))
        return false;
    ranges.push_back({value, value});
    return true;
}

bool parse_filter(std::string_view filter, std::vector<std::vector<OctetRange>> &octets) {
    octets.clear();
    std::size_t start = 0;
    int depth = 0;
    for (std::size_t i = 0; i <= filter.size(); ++i) {
        if (i < filter.size() && filter[i] == '[')
            ++depth;
        else if (i < filter.size() && filter[i] == ']')
            --depth;
        else if (i == filter.size() || (filter[i] == '.' && depth == 0)) {
            if (depth != 0)
                return false;
            octets.emplace_back();
            if (!parse_octet_pattern(filter.substr(start, i - start), octets.back()))
                return false;
            start = i + 1;
        }
    }
    return octets.size() == 4;
}

// The longest zone under which every query name fits the DNS's 253
// bytes: an IPv6 client's name puts 32 nibbles and their dots (64 bytes)
// before it.
constexpr std::size_t max_zone_length = 253 - 64;

// Why `zone` cannot be asked under, or "" when it can.
const char *zone_name_problem(std::string_view zone) {
    if (zone.empty() || zone.front() == '.' || zone.back() == '.' ||
        zone.find("..") != std::string_view::npos)
        return "the zone is not a DNS name";
    std::size_t label = 0;
    for (char c : zone) {
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return "the zone is not a DNS name";
        label = c == '.' ? 0 : label + 1;
        if (label > 63)
            return "the zone is not a DNS name: a label has more than 63 bytes";
    }
    if (zone.size() > max_zone_length)
        return "the zone is longer than 189 bytes: the query name of an IPv6 client under it "
               "would pass the DNS's 253";
    return "";
}

} // namespace

std::optional<DnsblZone> DnsblZone::parse(std::string_view text, std::string *error) {
    auto fail = [&](const char *why) -> std::optional<DnsblZone> {
        if (error)
            *error = why;
        return std::nullopt;
    };
    DnsblZone zone;
    zone.text = std::string(text);
    const auto star = text.rfind('*');
    if (star != std::string_view::npos) {
        const auto weight = text.substr(star + 1);
        auto [end, status] =
            std::from_chars(weight.data(), weight.data() + weight.size(), zone.weight);
        if (weight.empty() || status != std::errc() || end != weight.data() + weight.size() ||
            !std::isfinite(zone.weight))
            return fail("the weight after '*' is not a number");
        text = text.substr(0, star);
    }
    const auto equals = text.find('=');
    if (equals != std::string_view::npos) {
        zone.filter = std::string(text.substr(equals + 1));
        std::vector<std::vector<OctetRange>> octets;
        if (!parse_filter(zone.filter, octets))
            return fail("the filter after '=' is not an address pattern like 127.0.0.[2..11]");
        text = text.substr(0, equals);
    }
    if (!text.empty() && text.back() == '.')
        text.remove_suffix(1);
    if (const char *problem = zone_name_problem(text); *problem)
        return fail(problem);
    zone.zone = to_lower(text);
    return zone;
}

bool DnsblZone::matches(std::string_view address) const {
    auto parsed = IpAddress::parse(address);
    if (!parsed || !parsed->is_v4())
        return false;
    if (filter.empty())
        return parsed->bytes()[0] == 127;
    std::vector<std::vector<OctetRange>> octets;
    if (!parse_filter(filter, octets))
        return false;
    for (std::size_t i = 0; i < 4; ++i) {
        const unsigned byte = parsed->bytes()[i];
        bool hit = false;
        for (const auto &range : octets[i])
            hit = hit || (byte >= range.low && byte <= range.high);
        if (!hit)
            return false;
    }
    return true;
}

} // namespace portcullis
