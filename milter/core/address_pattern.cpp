#include "address_pattern.hpp"

#include "address.hpp"
#include "host_name.hpp"

namespace portcullis {

namespace {

constexpr std::string_view star_rule = "'*' stands only for a whole local part or domain, or "
                                       "in '*.' before a domain";

// Why `local` (not empty, not "*") can be no unquoted local part, or "".
std::string local_part_problem(std::string_view local) {
    for (const char c : local) {
        if (c == '*')
            return std::string(star_rule);
        if (c == '"')
            return "quoted local parts are not supported";
        if (std::string_view("()<>[]:;@\\,").find(c) != std::string_view::npos)
            return std::string("'") + c + "' cannot appear in a local part";
    }
    return "";
}

bool is_below(std::string_view domain, std::string_view parent) {
    return domain.size() > parent.size() + 1 && domain.ends_with(parent) &&
           domain[domain.size() - parent.size() - 1] == '.';
}

struct SplitAddress {
    std::string local;
    std::string domain;
};

std::optional<SplitAddress> split_address(std::string_view address) {
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>')
        address = address.substr(1, address.size() - 2);
    if (address.empty())
        return std::nullopt;
    const std::string lower = to_lower(address);
    const auto at = lower.rfind('@');
    if (at == std::string::npos)
        return SplitAddress{lower, ""};
    return SplitAddress{lower.substr(0, at),
                        normalize_host(std::string_view(lower).substr(at + 1))};
}

} // namespace

std::optional<AddressPattern> AddressPattern::parse(std::string_view text, std::string *error) {
    auto fail = [error](std::string why) -> std::optional<AddressPattern> {
        if (error)
            *error = std::move(why);
        return std::nullopt;
    };
    if (text.empty())
        return fail("an empty pattern");
    for (const char c : text)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return fail("spaces and control bytes cannot appear in an address");

    AddressPattern pattern;
    pattern.text_ = std::string(text);
    std::string_view local;
    std::string_view domain;
    const auto at = text.rfind('@');
    if (at != std::string_view::npos) {
        local = text.substr(0, at);
        domain = text.substr(at + 1);
        if (local.find('@') != std::string_view::npos)
            return fail("more than one '@' (quoted local parts are not supported)");
        pattern.domain_kind_ = Domain::exact;
    } else if (text.find('.') == std::string_view::npos) {
        local = text; // a bare local part, as exempt-recipients took it
        pattern.domain_kind_ = Domain::any;
    } else {
        domain = text; // Postfix access(5): the domain and its subdomains
        pattern.domain_kind_ = Domain::exact_or_below;
    }

    if (local != "*" && !local.empty()) {
        if (auto problem = local_part_problem(local); !problem.empty())
            return fail(std::move(problem));
        pattern.local_ = to_lower(local);
    }

    if (at != std::string_view::npos && (domain.empty() || domain == "*")) {
        pattern.domain_kind_ = Domain::any;
    } else if (pattern.domain_kind_ != Domain::any) {
        if (domain.starts_with("*.") || domain.starts_with(".")) {
            domain.remove_prefix(domain.front() == '*' ? 2 : 1);
            pattern.domain_kind_ = Domain::below;
        }
        if (domain.find('*') != std::string_view::npos)
            return fail(std::string(star_rule));
        if (domain.starts_with("["))
            return fail("address literals are not supported");
        if (auto problem = host_name_problem(domain); !problem.empty())
            return fail("'" + std::string(domain) + "' is not a host name (" + problem + ")");
        pattern.domain_ = normalize_host(domain);
    }

    if (pattern.local_.empty() && pattern.domain_kind_ == Domain::any)
        return fail("it would match every address");
    return pattern;
}

bool AddressPattern::matches(std::string_view local, std::string_view domain) const {
    if (!local_.empty() && local != local_)
        return false;
    switch (domain_kind_) {
    case Domain::any:
        return true;
    case Domain::exact:
        return domain == domain_;
    case Domain::below:
        return is_below(domain, domain_);
    case Domain::exact_or_below:
        return domain == domain_ || is_below(domain, domain_);
    }
    return false;
}

bool AddressPattern::matches(std::string_view address) const {
    const auto split = split_address(address);
    return split && matches(split->local, split->domain);
}

const AddressPattern *first_match(std::string_view address,
                                  std::span<const AddressPattern> patterns) {
    const auto split = split_address(address);
    if (!split)
        return nullptr;
    for (const auto &pattern : patterns)
        if (pattern.matches(split->local, split->domain))
            return &pattern;
    return nullptr;
}

} // namespace portcullis
