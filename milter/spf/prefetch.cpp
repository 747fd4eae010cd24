// Speculative lookups: while a pass waits for an answer, the terms after
// it that the sequential evaluation may still reach are listed too, so
// their lookups are in flight together. Never past an "all" or a
// matching ip4/ip6, never more DNS-querying terms than the 10-term budget
// has left, and only lookups: nothing here counts, matches or fails.
#include "spf/domain_name.hpp"
#include "spf/pass.hpp"

namespace portcullis::spf::detail {

// Lists the lookups of the terms after `from` that the sequential
// evaluation may reach, within what is left of the 10-term budget.
void Pass::prefetch_rest(const SpfRecord &record, std::size_t from, const std::string &domain,
                         unsigned depth) {
    if (!options_.prefetch)
        return;
    if (!prefetch_budget_)
        prefetch_budget_ = spf_max_dns_lookups - lookups_;
    const bool was_speculative = speculative_;
    speculative_ = true;
    bool reached_end = true;
    for (std::size_t i = from; i < record.mechanisms.size() && reached_end; ++i) {
        const auto &mechanism = record.mechanisms[i];
        if (!mechanism.queries_dns()) {
            if (evaluate(mechanism, domain) == Match::yes)
                reached_end = false; // nothing after it is ever evaluated
            continue;
        }
        if (*prefetch_budget_ == 0) {
            reached_end = false;
            break;
        }
        --*prefetch_budget_;
        prefetch_term(mechanism, domain, depth);
    }
    if (reached_end && record.redirect && *prefetch_budget_ > 0) {
        --*prefetch_budget_;
        bool pending = false;
        const auto target = expand_domain(*record.redirect, domain, pending);
        if (target)
            prefetch_host(*target, depth);
    }
    speculative_ = was_speculative;
}

void Pass::prefetch_term(const Mechanism &mechanism, const std::string &domain, unsigned depth) {
    std::string target = domain;
    if (mechanism.domain) {
        bool pending = false;
        auto expanded = expand_domain(*mechanism.domain, domain, pending);
        if (!expanded)
            return;
        target = std::move(*expanded);
    }
    switch (mechanism.kind) {
    case MechanismKind::include:
        prefetch_host(target, depth);
        return;
    case MechanismKind::a:
        lookup_raw(target, address_type_);
        return;
    case MechanismKind::exists:
        lookup_raw(target, DnsType::A);
        return;
    case MechanismKind::mx: {
        const DnsAnswer *answer = lookup_raw(target, DnsType::MX);
        if (!answer || answer->status != DnsAnswer::Status::ok ||
            answer->records.size() > max_mx_records)
            return;
        for (const auto &record : answer->records) {
            const auto host = mx_host(record);
            if (!host.empty())
                lookup(host, address_type_);
        }
        return;
    }
    case MechanismKind::ptr: {
        const DnsAnswer *answer = lookup(client_.reverse_name(), DnsType::PTR);
        if (!answer || answer->status != DnsAnswer::Status::ok)
            return;
        for (std::size_t i = 0; i < answer->records.size() && i < max_ptr_names; ++i) {
            const auto name = key_name(answer->records[i]);
            if (!name.empty() && is_within(unescape_name(name), target))
                lookup(name, address_type_);
        }
        return;
    }
    default:
        return;
    }
}

void Pass::prefetch_host(const std::string &target, unsigned depth) {
    if (!identity_domain_problem(target).empty())
        return;
    const DnsAnswer *txt = lookup_raw(target, DnsType::TXT);
    if (!txt || txt->status != DnsAnswer::Status::ok || depth >= max_prefetch_depth)
        return;
    const std::string *found = nullptr;
    for (const auto &text : txt->records) {
        if (!is_spf_record(text))
            continue;
        if (found)
            return;
        found = &text;
    }
    if (!found)
        return;
    const auto &parse = records_.parse(*found);
    if (parse.record)
        prefetch_rest(*parse.record, 0, target, depth + 1);
}

} // namespace portcullis::spf::detail
