// The rhsbl check: domain block lists (RHSBL). Each rhsbl.zone entry is
// written like a dnsbl.zone entry (zone[=filter][*weight]) and asked for A
// of <domain>.<zone> for three names, each taken whole as Postfix's
// reject_rhsbl_sender, _helo and _client take them (no reduction to a
// registered domain): the MAIL FROM domain, the HELO name (a fully
// qualified host name only) and each forward-confirmed PTR name of the
// client. Started at MAIL; the PTR names join as soon as they are
// confirmed. An entry adds its weight once, whichever of the names it
// lists; the total against rhsbl.threshold decides rule rhsbl-listed. A
// listing's TXT reason is asked once its A record matched.
//
// As for DNSBLs, a list that cannot answer never blocks mail: a failed
// lookup, or an answer in 127.255.255.0/24, counts as not listed (logged
// once by the lookups or here). Vars on fail: rhsbl_zone, rhsbl_domain,
// rhsbl_source ("sender domain", "HELO name", "client name"), rhsbl_txt
// (cut to dnsbl.txt-max-length) and rhsbl_score.
#include "checks/dnsbl.hpp"
#include "checks/reverse_dns.hpp"
#include "core/host_name.hpp"
#include "core/log.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace portcullis {

namespace {

constexpr std::string_view check_name = "rhsbl";
constexpr std::size_t max_query_name = 253;

struct Candidate {
    std::string domain;
    std::string source;
};

CheckResult make_result(Outcome outcome, std::string detail) {
    return {std::string(check_name), "rhsbl-listed", outcome, std::move(detail), {}};
}

// A fully qualified host name as compared, or "".
std::string listable(std::string_view name) {
    if (name.empty() || name.front() == '[' || !host_name_problem(name).empty())
        return "";
    auto host = normalize_host(name);
    if (host.find('.') == std::string::npos || IpAddress::parse(host))
        return "";
    return host;
}

std::string query_name(const std::string &domain, const DnsblZone &zone) {
    return domain + "." + zone.zone;
}

bool fits(const std::string &domain, const DnsblZone &zone) {
    return domain.size() + 1 + zone.zone.size() <= max_query_name;
}

// The sender domain and the HELO name, without duplicates.
std::vector<Candidate> named_candidates(const Facts &facts) {
    std::vector<Candidate> candidates;
    auto add = [&](std::string domain, std::string_view source) {
        if (domain.empty())
            return;
        for (const auto &candidate : candidates)
            if (candidate.domain == domain)
                return;
        candidates.push_back({std::move(domain), std::string(source)});
    };
    if (facts.sender_seen) {
        const auto at = facts.sender.rfind('@');
        if (at != std::string::npos)
            add(listable(std::string_view(facts.sender).substr(at + 1)), "sender domain");
    }
    add(listable(facts.helo), "HELO name");
    return candidates;
}

std::vector<Candidate> all_candidates(const CheckContext &context) {
    auto candidates = named_candidates(context.facts);
    for (const auto &name : verified_ptr_names(context))
        if (std::none_of(candidates.begin(), candidates.end(),
                         [&](const Candidate &candidate) { return candidate.domain == name; }))
            candidates.push_back({name, "client name"});
    return candidates;
}

// Runs once per A answer of one query name, for every entry sharing it.
void on_list_answer(const std::weak_ptr<Lookups> &weak, const std::string &name,
                    const std::vector<DnsblZone> &entries, const DnsAnswer &answer) {
    if (answer.is_error() || !answer.has_records())
        return; // errors are logged once by the session's lookups
    if (const auto *code = dnsbl_refusal_code(answer)) {
        log_warning("rhsbl " + entries.front().zone + ": the list refused the query for " +
                    log_safe(name) + " (" + *code + "), a list error, counted as not listed");
        return;
    }
    const bool matched = std::any_of(entries.begin(), entries.end(), [&](const DnsblZone &entry) {
        return std::any_of(answer.records.begin(), answer.records.end(),
                           [&](const std::string &record) { return entry.matches(record); });
    });
    if (!matched)
        return;
    if (auto lookups = weak.lock())
        lookups->start(name, DnsType::TXT);
}

void start_queries(Lookups &lookups, const std::string &domain,
                   const std::vector<DnsblZone> &zones) {
    std::map<std::string, std::vector<DnsblZone>> by_name;
    for (const auto &entry : zones)
        if (fits(domain, entry))
            by_name[query_name(domain, entry)].push_back(entry);
    // Weak: the continuation is stored inside the Lookups it refers to.
    std::weak_ptr<Lookups> weak = lookups.weak_from_this();
    for (const auto &item : by_name)
        lookups.start(item.first, DnsType::A,
                      [weak, name = item.first, entries = item.second](const DnsAnswer &answer) {
                          on_list_answer(weak, name, entries, answer);
                      });
}

bool answer_contains(const DnsAnswer &answer, const IpAddress &client) {
    return answer.has_records() &&
           std::any_of(answer.records.begin(), answer.records.end(), [&](const std::string &text) {
               auto address = IpAddress::parse(text);
               return address && address->unmapped() == client;
           });
}

// Asks the lists for each PTR name of the client once it is confirmed.
void start_client_name_queries(const CheckContext &context) {
    const IpAddress client = context.facts.client->unmapped();
    const DnsType type = client.is_v4() ? DnsType::A : DnsType::AAAA;
    const unsigned max_names = context.config.rdns_max_names;
    std::weak_ptr<Lookups> weak = context.lookups.weak_from_this();
    auto confirmed = [weak, client](const std::string &name, const std::vector<DnsblZone> &zones) {
        return [weak, client, name, zones](const DnsAnswer &forward) {
            if (!answer_contains(forward, client))
                return;
            if (auto lookups = weak.lock())
                start_queries(*lookups, name, zones);
        };
    };
    context.lookups.start(client.reverse_name(), DnsType::PTR,
                          [weak, type, max_names, confirmed,
                           zones = context.config.rhsbl_zones](const DnsAnswer &ptr) {
                              auto lookups = weak.lock();
                              if (!lookups)
                                  return;
                              for (const auto &name : ptr_names_to_confirm(ptr, max_names))
                                  lookups->start(name, type, confirmed(name, zones));
                          });
}

struct Listing {
    const DnsblZone *entry = nullptr;
    const Candidate *candidate = nullptr;
    std::vector<std::string> codes;
    std::string txt;
};

class RhsblCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::mail; }

    void prefetch(const CheckContext &context) const override {
        if (context.config.rhsbl_zones.empty())
            return;
        for (const auto &candidate : named_candidates(context.facts))
            start_queries(context.lookups, candidate.domain, context.config.rhsbl_zones);
        if (context.facts.client)
            start_client_name_queries(context);
    }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        const auto &config = context.config;
        if (config.rhsbl_zones.empty())
            return {make_result(Outcome::skip, "no rhsbl.zone configured")};
        const auto candidates = all_candidates(context);
        if (candidates.empty())
            return {make_result(Outcome::skip, "no domain name to look up")};

        std::vector<Listing> listings;
        std::vector<std::string> problems;
        double score = 0;
        for (const auto &entry : config.rhsbl_zones) {
            for (const auto &candidate : candidates) {
                if (!fits(candidate.domain, entry))
                    continue;
                const auto name = query_name(candidate.domain, entry);
                const auto &answer = context.lookups.get(name, DnsType::A);
                if (answer.is_error()) {
                    problems.push_back(entry.zone + " " + std::string(to_string(answer.status)) +
                                       " for " + candidate.domain);
                    continue;
                }
                if (const auto *code = dnsbl_refusal_code(answer)) {
                    problems.push_back(entry.zone + " refused the query (" + *code + ")");
                    continue;
                }
                if (!answer.has_records())
                    continue;
                Listing listing{&entry, &candidate, {}, {}};
                for (const auto &record : answer.records)
                    if (entry.matches(record))
                        listing.codes.push_back(record);
                if (listing.codes.empty())
                    continue;
                const auto &txt = context.lookups.get(name, DnsType::TXT);
                if (txt.has_records())
                    listing.txt = join_items(txt.records, "; ");
                score += entry.weight;
                listings.push_back(std::move(listing));
                break; // an entry counts once
            }
        }
        std::sort(problems.begin(), problems.end());
        problems.erase(std::unique(problems.begin(), problems.end()), problems.end());

        const Listing *top = nullptr;
        std::vector<std::string> listed;
        for (const auto &listing : listings) {
            listed.push_back(listing.entry->zone + " (" + listing.candidate->source + " " +
                             log_safe(listing.candidate->domain) + ") " + join_items(listing.codes, ",") +
                             " *" + format_weight(listing.entry->weight));
            if (listing.entry->weight > 0 && (!top || listing.entry->weight > top->entry->weight))
                top = &listing;
        }
        std::vector<std::string> asked;
        for (const auto &candidate : candidates)
            asked.push_back(candidate.source + " " + log_safe(candidate.domain));
        const std::string totals = "score " + format_weight(score);
        const std::string threshold = format_weight(config.rhsbl_threshold);
        const std::string not_counted =
            problems.empty() ? "" : "; not counted: " + join_items(problems, ", ");

        if (top && score >= config.rhsbl_threshold) {
            auto result =
                make_result(Outcome::fail, "listed: " + join_items(listed, ", ") + "; " + totals +
                                               " >= threshold " + threshold + not_counted);
            result.vars["rhsbl_zone"] = top->entry->zone;
            result.vars["rhsbl_domain"] = top->candidate->domain;
            result.vars["rhsbl_source"] = top->candidate->source;
            result.vars["rhsbl_txt"] = top->txt.substr(
                0, std::min<std::size_t>(top->txt.size(), config.dnsbl_txt_max_length));
            result.vars["rhsbl_score"] = format_weight(score);
            return {result};
        }
        const std::string found = listed.empty() ? "not listed (" + join_items(asked, ", ") + ")"
                                                 : "listed: " + join_items(listed, ", ");
        return {make_result(Outcome::pass,
                            found + "; " + totals + " below threshold " + threshold + not_counted)};
    }
};

} // namespace

const Check &rhsbl_check() {
    static const RhsblCheck check;
    return check;
}

} // namespace portcullis
