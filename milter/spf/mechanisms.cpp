// The mechanisms that look up addresses (a, mx, ptr, exists), the %{p}
// macro, and the explanation of a fail (RFC 7208 §5.3-§5.7, §6.2, §7.3).
#include "spf/domain_name.hpp"
#include "spf/pass.hpp"

namespace portcullis::spf::detail {

// The term's own lookup: nullptr when pending or decided (`decided`
// then holds the match), else the answer with records.
const DnsAnswer *Pass::term_lookup(const std::string &target, DnsType type, const char *what,
                                   Match &decided) {
    const DnsAnswer *answer = lookup_raw(target, type);
    if (!answer) {
        decided = Match::pending;
        return nullptr;
    }
    if (answer->is_error()) {
        decided = error(Code::temperror, std::string(what) + " lookup of " + escape_name(target) +
                                             " failed: " + status_text(*answer));
        return nullptr;
    }
    if (is_void(*answer)) {
        decided = count_void() ? Match::no : Match::error;
        return nullptr;
    }
    return answer;
}

Match Pass::address(const Mechanism &mechanism, const std::string &target) {
    Match decided = Match::no;
    const DnsAnswer *answer =
        term_lookup(target, address_type_, client_.is_v4() ? "A" : "AAAA", decided);
    if (!answer)
        return decided;
    const unsigned prefix = client_.is_v4() ? mechanism.cidr4 : mechanism.cidr6;
    return contains_address(*answer, client_, prefix) ? Match::yes : Match::no;
}

Match Pass::mx(const Mechanism &mechanism, const std::string &target) {
    Match decided = Match::no;
    const DnsAnswer *answer = term_lookup(target, DnsType::MX, "MX", decided);
    if (!answer)
        return decided;
    if (answer->records.size() > max_mx_records)
        return error(Code::permerror,
                     quoted(mechanism.text) + ": " + std::to_string(answer->records.size()) +
                         " MX records, more than " + std::to_string(max_mx_records));
    const unsigned prefix = client_.is_v4() ? mechanism.cidr4 : mechanism.cidr6;
    bool missing = false;
    std::string failed;
    for (const auto &record : answer->records) {
        const auto host = mx_host(record);
        if (host.empty())
            continue; // malformed, or a null MX (RFC 7505)
        const DnsAnswer *addresses = lookup(host, address_type_);
        if (!addresses)
            missing = true;
        else if (addresses->is_error())
            failed = host + " " + status_text(*addresses);
        else if (contains_address(*addresses, client_, prefix))
            return Match::yes;
    }
    if (missing)
        return Match::pending;
    if (!failed.empty())
        return error(Code::temperror, quoted(mechanism.text) + ": address lookup of " + failed);
    return Match::no;
}

Match Pass::ptr(const std::string &target) {
    const DnsAnswer *answer = lookup(client_.reverse_name(), DnsType::PTR);
    if (!answer)
        return Match::pending;
    if (answer->is_error()) {
        // RFC 7208 §5.5: no match on a PTR lookup error
        skipped_error_ = "PTR lookup of " + client_.reverse_name() + " " + status_text(*answer);
        return Match::no;
    }
    if (is_void(*answer))
        return count_void() ? Match::no : Match::error;
    bool missing = false;
    std::string failed;
    for (std::size_t i = 0; i < answer->records.size() && i < max_ptr_names; ++i) {
        const auto name = key_name(answer->records[i]);
        if (name.empty() || !is_within(unescape_name(name), target))
            continue;
        const DnsAnswer *addresses = lookup(name, address_type_);
        if (!addresses)
            missing = true;
        else if (contains_address(*addresses, client_, full_prefix()))
            return Match::yes;
        else if (addresses->is_error() && failed.empty())
            failed = std::string(to_string(address_type_)) + " lookup of " + name + " " +
                     status_text(*addresses);
    }
    if (missing)
        return Match::pending;
    // RFC 7208 §5.5: a name whose address lookup fails is skipped.
    if (!failed.empty())
        skipped_error_ = failed;
    return Match::no;
}

Match Pass::exists(const std::string &target) {
    Match decided = Match::no;
    return term_lookup(target, DnsType::A, "A", decided) ? Match::yes : decided;
}

// %{p} (RFC 7208 §7.3) for check_host() of `domain`; nullopt while
// answers are missing.
std::optional<std::string> Pass::validated_name(const std::string &domain) {
    const DnsAnswer *ptr = lookup(client_.reverse_name(), DnsType::PTR);
    if (!ptr)
        return std::nullopt;
    if (ptr->is_error())
        skipped_error_ = "PTR lookup of " + client_.reverse_name() + " " + status_text(*ptr);
    if (ptr->status != DnsAnswer::Status::ok)
        return "unknown";
    std::vector<std::string> validated;
    bool missing = false;
    std::string failed;
    for (std::size_t i = 0; i < ptr->records.size() && i < max_ptr_names; ++i) {
        const auto name = key_name(ptr->records[i]);
        if (name.empty())
            continue;
        const DnsAnswer *address = lookup(name, address_type_);
        if (!address)
            missing = true;
        else if (contains_address(*address, client_, full_prefix()))
            validated.push_back(unescape_name(name));
        else if (address->is_error() && failed.empty())
            failed = std::string(to_string(address_type_)) + " lookup of " + name + " " +
                     status_text(*address);
    }
    if (missing)
        return std::nullopt;
    if (!failed.empty())
        skipped_error_ = failed;
    for (const auto &name : validated)
        if (is_within(name, domain) && name.size() == domain.size())
            return name;
    for (const auto &name : validated)
        if (is_within(name, domain))
            return name;
    return validated.empty() ? "unknown" : validated.front();
}

// The explanation of a fail (RFC 7208 §6.2); nullopt while pending.
std::optional<std::string> Pass::explain(const HostResult &host) {
    if (host.explanation) {
        bool pending = false;
        const auto target = expand_domain(*host.explanation, host.domain, pending);
        if (pending)
            return std::nullopt;
        if (target) {
            const DnsAnswer *txt = lookup_raw(*target, DnsType::TXT);
            if (!txt)
                return std::nullopt;
            if (txt->status == DnsAnswer::Status::ok && txt->records.size() == 1) {
                auto parse = parse_macro_string(txt->records.front(), MacroUse::explanation);
                if (parse.value) {
                    auto text = expand_explanation(*parse.value, host.domain);
                    if (!text || !text->empty())
                        return text;
                }
            }
        }
    }
    auto parse = parse_macro_string(options_.default_explanation, MacroUse::explanation);
    if (!parse.value)
        return printable_text(options_.default_explanation, spf_max_explanation);
    return expand_explanation(*parse.value, domain_);
}

std::optional<std::string> Pass::expand_explanation(const MacroString &text,
                                                    const std::string &domain) {
    MacroValues values = values_for(domain);
    if (text.uses('p')) {
        auto name = validated_name(domain);
        if (!name)
            return std::nullopt;
        values.validated_name = std::move(*name);
    }
    return printable_text(expand(text, values, ExpansionUse::explanation), spf_max_explanation);
}

} // namespace portcullis::spf::detail
