// Terms are split on SP only: any other byte outside %x21-7E is a syntax
// error, which catches CR, LF, NUL and non-ASCII anywhere in a record.
#include "spf/record.hpp"

#include <algorithm>

namespace portcullis::spf {

namespace {

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](char c) { return lower(c); });
    return out;
}
bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), is_digit);
}

// A term for an error message: bytes outside printable ASCII as \xNN.
std::string printable(std::string_view term) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (const char c : term.substr(0, 80)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte > 0x20 && byte < 0x7f) {
            out += c;
        } else {
            out += "\\x";
            out += hex[byte >> 4];
            out += hex[byte & 0x0f];
        }
    }
    return term.size() > 80 ? out + "..." : out;
}

// ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT), at most 32;
// ip6-cidr-length = "/" ("0" / %x31-39 0*2DIGIT), at most 128.
std::optional<unsigned> parse_cidr(std::string_view digits, bool v6) {
    if (!all_digits(digits) || digits.size() > (v6 ? 3u : 2u))
        return std::nullopt;
    if (digits.size() > 1 && digits.front() == '0')
        return std::nullopt;
    unsigned value = 0;
    for (const char c : digits)
        value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > (v6 ? 128u : 32u))
        return std::nullopt;
    return value;
}

// ip4-network = qnum "." qnum "." qnum "." qnum, no leading zeros.
std::optional<IpAddress> parse_ip4_network(std::string_view text) {
    std::array<std::uint8_t, 4> bytes{};
    for (std::size_t part = 0; part < 4; ++part) {
        const auto dot = text.find('.');
        const auto qnum = part == 3 ? text : text.substr(0, dot);
        if (part < 3 && dot == std::string_view::npos)
            return std::nullopt;
        if (!all_digits(qnum) || qnum.size() > 3 || (qnum.size() > 1 && qnum.front() == '0'))
            return std::nullopt;
        unsigned value = 0;
        for (const char c : qnum)
            value = value * 10 + static_cast<unsigned>(c - '0');
        if (value > 255)
            return std::nullopt;
        bytes[part] = static_cast<std::uint8_t>(value);
        if (part < 3)
            text.remove_prefix(dot + 1);
    }
    return IpAddress::from_v4(bytes);
}

class TermParser {
  public:
    explicit TermParser(SpfRecord &record) : record_(record) {}

    // "" on success, else the reason.
    std::string parse(std::string_view term) {
        for (const char c : term) {
            const auto byte = static_cast<unsigned char>(c);
            if (byte < 0x21 || byte > 0x7e)
                return "invalid byte in term '" + printable(term) + "'";
        }
        std::size_t end = 0;
        if (is_alpha(term.front())) {
            end = 1;
            while (end < term.size() && (is_alpha(term[end]) || is_digit(term[end]) ||
                                         term[end] == '-' || term[end] == '_' || term[end] == '.'))
                ++end;
        }
        if (end > 0 && end < term.size() && term[end] == '=')
            return modifier(lower(term.substr(0, end)), term.substr(end + 1), term);
        return directive(term);
    }

  private:
    std::string modifier(const std::string &name, std::string_view value, std::string_view term) {
        if (name == "redirect" || name == "exp") {
            auto &slot = name == "redirect" ? record_.redirect : record_.explanation;
            if (slot)
                return name + "= appears more than once";
            auto spec = parse_domain_spec(value);
            if (!spec.value)
                return "'" + printable(term) + "': " + spec.error;
            slot = std::move(spec.value);
            return "";
        }
        auto value_parse = parse_macro_string(value, MacroUse::unknown_modifier);
        if (!value_parse.value)
            return "'" + printable(term) + "': " + value_parse.error;
        return ""; // unknown modifiers are ignored (RFC 7208 §6)
    }

    std::string directive(std::string_view term) {
        Mechanism mechanism;
        mechanism.text = std::string(term);
        std::string_view rest = term;
        if (std::string_view("+-~?").find(rest.front()) != std::string_view::npos) {
            mechanism.qualifier = static_cast<Qualifier>(rest.front());
            rest.remove_prefix(1);
        }
        std::size_t end = 0;
        while (end < rest.size() && (is_alpha(rest[end]) || is_digit(rest[end])))
            ++end;
        const std::string name = lower(rest.substr(0, end));
        rest.remove_prefix(end);
        std::string error;
        if (name == "all") {
            mechanism.kind = MechanismKind::all;
            if (!rest.empty())
                error = "nothing may follow \"all\"";
        } else if (name == "include" || name == "exists") {
            mechanism.kind = name == "include" ? MechanismKind::include : MechanismKind::exists;
            error = rest.empty() || rest.front() != ':' ? name + " needs ':' and a domain"
                                                        : domain(rest.substr(1), mechanism);
        } else if (name == "a" || name == "mx") {
            mechanism.kind = name == "a" ? MechanismKind::a : MechanismKind::mx;
            error = domain_and_cidr(rest, mechanism);
        } else if (name == "ptr") {
            mechanism.kind = MechanismKind::ptr;
            if (!rest.empty())
                error = rest.front() != ':' ? "ptr takes no CIDR length"
                                            : domain(rest.substr(1), mechanism);
        } else if (name == "ip4" || name == "ip6") {
            mechanism.kind = name == "ip4" ? MechanismKind::ip4 : MechanismKind::ip6;
            error = rest.empty() || rest.front() != ':' ? name + " needs ':' and a network"
                                                        : network(rest.substr(1), mechanism);
        } else {
            error = "unknown mechanism";
        }
        if (!error.empty())
            return "'" + printable(term) + "': " + error;
        record_.mechanisms.push_back(std::move(mechanism));
        return "";
    }

    static std::string domain(std::string_view text, Mechanism &mechanism) {
        auto spec = parse_domain_spec(text);
        if (!spec.value)
            return spec.error;
        mechanism.domain = std::move(spec.value);
        return "";
    }

    // [ ":" domain-spec ] [ dual-cidr-length ]; the CIDR lengths are
    // taken from the end, as a domain-spec may itself hold '/'.
    static std::string domain_and_cidr(std::string_view rest, Mechanism &mechanism) {
        const auto double_slash = rest.rfind("//");
        if (double_slash != std::string_view::npos && all_digits(rest.substr(double_slash + 2))) {
            const auto cidr = parse_cidr(rest.substr(double_slash + 2), true);
            if (!cidr)
                return "invalid IPv6 CIDR length";
            mechanism.cidr6 = *cidr;
            rest = rest.substr(0, double_slash);
        }
        const auto slash = rest.rfind('/');
        if (slash != std::string_view::npos && all_digits(rest.substr(slash + 1))) {
            const auto cidr = parse_cidr(rest.substr(slash + 1), false);
            if (!cidr)
                return "invalid IPv4 CIDR length";
            mechanism.cidr4 = *cidr;
            rest = rest.substr(0, slash);
        }
        if (rest.empty())
            return "";
        if (rest.front() != ':')
            return "malformed mechanism";
        return domain(rest.substr(1), mechanism);
    }

    static std::string network(std::string_view text, Mechanism &mechanism) {
        const bool v6 = mechanism.kind == MechanismKind::ip6;
        const auto slash = text.find('/');
        const auto address_text = text.substr(0, slash);
        if (v6) {
            auto address = address_text.find(':') == std::string_view::npos
                               ? std::nullopt
                               : IpAddress::parse(address_text);
            if (!address || address->is_v4())
                return "invalid IPv6 network";
            mechanism.network = *address;
        } else {
            auto address = parse_ip4_network(address_text);
            if (!address)
                return "invalid IPv4 network";
            mechanism.network = *address;
        }
        if (slash == std::string_view::npos)
            return "";
        const auto cidr = parse_cidr(text.substr(slash + 1), v6);
        if (!cidr)
            return v6 ? "invalid IPv6 CIDR length" : "invalid IPv4 CIDR length";
        (v6 ? mechanism.cidr6 : mechanism.cidr4) = *cidr;
        return "";
    }

    SpfRecord &record_;
};

} // namespace

bool Mechanism::queries_dns() const {
    switch (kind) {
    case MechanismKind::include:
    case MechanismKind::a:
    case MechanismKind::mx:
    case MechanismKind::ptr:
    case MechanismKind::exists:
        return true;
    case MechanismKind::all:
    case MechanismKind::ip4:
    case MechanismKind::ip6:
        return false;
    }
    return false;
}

bool SpfRecord::has_all() const {
    return std::any_of(mechanisms.begin(), mechanisms.end(),
                       [](const Mechanism &m) { return m.kind == MechanismKind::all; });
}

bool is_spf_record(std::string_view text) {
    return text.size() >= 6 && lower(text.substr(0, 6)) == "v=spf1" &&
           (text.size() == 6 || text[6] == ' ');
}

RecordParse parse_record(std::string_view text) {
    RecordParse parse;
    if (!is_spf_record(text)) {
        parse.error = "not an SPF record";
        return parse;
    }
    SpfRecord record;
    TermParser parser(record);
    std::size_t position = 6;
    while (position < text.size()) {
        if (text[position] == ' ') {
            ++position;
            continue;
        }
        const auto end = std::min(text.find(' ', position), text.size());
        auto error = parser.parse(text.substr(position, end - position));
        if (!error.empty()) {
            parse.error = std::move(error);
            return parse;
        }
        position = end;
    }
    parse.record = std::move(record);
    return parse;
}

bool in_network(const IpAddress &address, const IpAddress &network, unsigned prefix) {
    if (address.family() != network.family() || prefix > address.size() * 8)
        return false;
    const auto &a = address.bytes();
    const auto &b = network.bytes();
    std::size_t i = 0;
    for (; prefix >= 8; prefix -= 8, ++i)
        if (a[i] != b[i])
            return false;
    if (prefix == 0)
        return true;
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - prefix));
    return (a[i] & mask) == (b[i] & mask);
}

} // namespace portcullis::spf
