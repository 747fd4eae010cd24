#include "dkim_wire.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace portcullis::message {

namespace {

// The C locale's isspace(), isprint() and isalnum(), which libopendkim
// uses on the value.
bool is_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}
bool is_print(unsigned char c) {
    return c >= 0x20 && c <= 0x7e;
}
bool is_alnum(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string without_space(std::string_view text, std::size_t limit) {
    std::string out;
    for (unsigned char c : text) {
        if (is_space(c))
            continue;
        if (out.size() == limit)
            break;
        out += static_cast<char>(c);
    }
    return out;
}

// Whether `name` can be asked in the DNS: 1..253 octets, labels 1..63.
bool dns_name_ok(std::string_view name) {
    if (name.empty() || name.size() > 253)
        return false;
    std::size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (++label > 63) {
            return false;
        }
    }
    return label != 0;
}

constexpr std::size_t kept_value = 255;

// Tag names are short; a longer one is only checked for duplicates.
struct TagSeen {
    std::set<std::string, std::less<>> names;
    bool duplicate = false;
    void add(std::string name) {
        if (!names.insert(std::move(name)).second)
            duplicate = true;
    }
    bool has(std::string_view name) const { return names.contains(name); }
};

void keep_tag(SignatureTags &tags, std::string_view name, std::string_view value) {
    if (name == "d")
        tags.domain = without_space(value, kept_value + 1);
    else if (name == "s")
        tags.selector = without_space(value, kept_value + 1);
    else if (name == "a")
        tags.algorithm = without_space(value, kept_value);
    else if (name == "i")
        tags.identity = without_space(value, kept_value);
    else if (name == "b")
        tags.b_prefix = without_space(value, 8);
}

} // namespace

SignatureTags read_signature_tags(std::string_view value) {
    SignatureTags tags;
    if (value.size() > max_signature_value)
        return tags;
    TagSeen seen;
    bool ok = true;
    std::size_t at = 0;
    while (at < value.size() && ok) {
        // One "name = value ;" per round.
        while (at < value.size() && is_space(static_cast<unsigned char>(value[at])))
            ++at;
        if (at == value.size())
            break;
        if (!is_alnum(static_cast<unsigned char>(value[at]))) {
            ok = false;
            break;
        }
        const std::size_t equals = value.find('=', at);
        const std::size_t semicolon = value.find(';', at);
        if (equals == std::string_view::npos || semicolon < equals) {
            ok = false;
            break;
        }
        const std::string_view name_text = value.substr(at, equals - at);
        // White space may end a tag name, never split it.
        const std::string name = without_space(name_text, name_text.size());
        const std::size_t name_end = name_text.find_last_not_of(" \t\n\v\f\r");
        if (name.size() != name_end + 1) {
            ok = false;
            break;
        }
        const std::size_t end = semicolon == std::string_view::npos ? value.size() : semicolon;
        keep_tag(tags, name, value.substr(equals + 1, end - equals - 1));
        seen.add(name);
        at = end == value.size() ? end : end + 1;
    }
    for (unsigned char c : value)
        if (!is_print(c) && !is_space(c))
            ok = false;
    for (std::string_view required : {"v", "a", "b", "d", "h", "s"})
        if (!seen.has(required))
            ok = false;
    tags.well_formed = ok && !seen.duplicate;
    if (!tags.domain.empty() && !tags.selector.empty() && tags.domain.size() <= kept_value &&
        tags.selector.size() <= kept_value) {
        std::string name = tags.selector + "._domainkey." + tags.domain;
        if (dns_name_ok(name))
            tags.key_name = std::move(name);
    }
    if (tags.domain.size() > kept_value)
        tags.domain.resize(kept_value);
    if (tags.selector.size() > kept_value)
        tags.selector.resize(kept_value);
    return tags;
}

namespace {

class WireWriter {
  public:
    explicit WireWriter(std::span<unsigned char> out) : out_(out) {}
    bool u8(unsigned value) {
        if (at_ >= out_.size())
            return false;
        out_[at_++] = static_cast<unsigned char>(value);
        return true;
    }
    bool u16(unsigned value) { return u8(value >> 8) && u8(value & 0xff); }
    bool u32(std::uint32_t value) { return u16(value >> 16) && u16(value & 0xffff); }
    bool bytes(std::string_view data) {
        if (data.size() > out_.size() - at_)
            return false;
        std::copy(data.begin(), data.end(), out_.begin() + static_cast<std::ptrdiff_t>(at_));
        at_ += data.size();
        return true;
    }
    bool name(std::string_view name) {
        if (!name.empty() && name.back() == '.')
            name.remove_suffix(1);
        if (!dns_name_ok(name))
            return false;
        std::size_t start = 0;
        while (start <= name.size()) {
            std::size_t dot = name.find('.', start);
            if (dot == std::string_view::npos)
                dot = name.size();
            if (!u8(static_cast<unsigned>(dot - start)) || !bytes(name.substr(start, dot - start)))
                return false;
            start = dot + 1;
        }
        return u8(0);
    }
    // One TXT RDATA: the record cut into character-strings.
    bool txt_rdata(std::string_view record) {
        const std::size_t strings = record.empty() ? 1 : (record.size() + 254) / 255;
        const std::size_t length = record.size() + strings;
        if (length > 0xffff || !u16(static_cast<unsigned>(length)))
            return false;
        do {
            const std::string_view piece = record.substr(0, 255);
            if (!u8(static_cast<unsigned>(piece.size())) || !bytes(piece))
                return false;
            record.remove_prefix(piece.size());
        } while (!record.empty());
        return true;
    }
    std::size_t size() const { return at_; }

  private:
    std::span<unsigned char> out_;
    std::size_t at_ = 0;
};

constexpr unsigned type_txt = 16;
constexpr unsigned class_in = 1;
constexpr unsigned rcode_nxdomain = 3;

} // namespace

std::optional<std::size_t> write_txt_answer(std::string_view name, const DnsAnswer &answer,
                                            std::span<unsigned char> out) {
    if (answer.is_error())
        return std::nullopt;
    const bool records = answer.status == DnsAnswer::Status::ok;
    if (records && answer.records.size() > 0xffff)
        return std::nullopt;
    WireWriter wire(out);
    // QR RD RA; AD is not set, the DNSSEC state goes to libopendkim aside.
    const unsigned flags =
        0x8180 | (answer.status == DnsAnswer::Status::nxdomain ? rcode_nxdomain : 0);
    const unsigned count = records ? static_cast<unsigned>(answer.records.size()) : 0;
    if (!wire.u16(0) || !wire.u16(flags) || !wire.u16(1) || !wire.u16(count) || !wire.u16(0) ||
        !wire.u16(0))
        return std::nullopt;
    if (!wire.name(name) || !wire.u16(type_txt) || !wire.u16(class_in))
        return std::nullopt;
    for (std::size_t i = 0; i < count; ++i) {
        // The owner is the question's name, by a pointer to offset 12.
        if (!wire.u16(0xc00c) || !wire.u16(type_txt) || !wire.u16(class_in) || !wire.u32(300) ||
            !wire.txt_rdata(answer.records[i]))
            return std::nullopt;
    }
    return wire.size();
}

} // namespace portcullis::message
