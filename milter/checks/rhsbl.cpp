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
// once by the lookups or here); and an allow list (negative weight) that
// could not answer for some name and could have taken a total reaching
// the threshold below it makes the result an error, not a fail. A pass
// that block lists that did not answer could have made a fail says so
// (CheckResult::could_be): a negative score of the rule still counts. A
// client name DNS could not tell (its PTR lookup or the forward lookup
// confirming it failed) is a name no list answered for.
// Vars on fail: rhsbl_zone, rhsbl_domain, rhsbl_source ("sender domain",
// "HELO name", "client name"), rhsbl_txt (cut to dnsbl.txt-max-length)
// and rhsbl_score.
#include "checks/dnsbl.hpp"
#include "core/log.hpp"

#include <algorithm>
#include <map>

namespace portcullis {

namespace {

constexpr std::string_view check_name = "rhsbl";
constexpr std::size_t max_query_name = 253;

struct Candidate {
    std::string domain;
    std::string source;
};

constexpr std::string_view rhsbl_listed_text[] = {
    "Domain ${rhsbl_domain} (${rhsbl_source}) is listed at ${rhsbl_zone}: ${rhsbl_txt}",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "rhsbl-listed",
     .stage = Stage::mail,
     .default_action = "reject",
     .summary = "the RHSBL weights of the sender domain, HELO name and client name reach "
                "rhsbl.threshold",
     .help = "A domain name of your mail (the sender's domain, the name your server greeted "
             "with, or your server's reverse DNS name) is listed on a domain block list this "
             "server consults; the reply names the list, the domain and the list's reason. "
             "Find out why on the list's web site and ask it for removal once the cause is "
             "fixed.",
     .text = rhsbl_listed_text,
     .example = "score:3"},
};

CheckResult make_result(Outcome outcome, std::string detail) {
    return {std::string(check_name), "rhsbl-listed", outcome, std::move(detail), {}};
}

std::string query_name(const std::string &domain, const DnsblZone &zone) {
    return domain + "." + zone.zone;
}

bool fits(const std::string &domain, const DnsblZone &zone) {
    return domain.size() + 1 + zone.zone.size() <= max_query_name;
}

// A fully qualified host name: one with a dot that is not an address.
bool listable(const std::string &name) {
    return name.find('.') != std::string::npos && !IpAddress::parse(name);
}

// The sender domain and the HELO name, without duplicates.
std::vector<Candidate> named_candidates(const ClientIdentity &identity) {
    std::vector<Candidate> candidates;
    auto add = [&](const std::string &domain, std::string_view source) {
        if (domain.empty() || !listable(domain))
            return;
        for (const auto &candidate : candidates)
            if (candidate.domain == domain)
                return;
        candidates.push_back({domain, std::string(source)});
    };
    add(identity.sender_domain, "sender domain");
    add(identity.fqdn_helo(), "HELO name");
    return candidates;
}

std::vector<Candidate> all_candidates(const CheckContext &context) {
    auto candidates = named_candidates(context.identity);
    for (const auto &name : context.identity.names->confirmed())
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

// Asks the lists for each PTR name of the client once it is confirmed.
// The names confirmed already are asked again at every MAIL: what a
// transaction asked is released after it unless the next one asks again
// (Lookups), and the listener runs only once per session.
void start_client_name_queries(const CheckContext &context) {
    for (const auto &name : context.identity.names->confirmed())
        start_queries(context.lookups, name, context.config.rhsbl_zones);
    std::weak_ptr<Lookups> weak = context.lookups.weak_from_this();
    context.identity.names->each_confirmed(
        check_name, [weak, zones = context.config.rhsbl_zones](const std::string &name) {
            if (auto lookups = weak.lock())
                start_queries(*lookups, name, zones);
        });
}

struct Listing {
    const DnsblZone *entry = nullptr;
    const Candidate *candidate = nullptr;
    std::vector<std::string> codes;
    std::string txt;
};

// Why some client names are unknown (the PTR lookup failed, or the
// forward lookup of a PTR name), or "": any list may list such a name.
std::string unknown_client_names(const CheckContext &context) {
    if (!context.identity.address)
        return "";
    const auto &ptr = context.lookups.get(context.identity.reverse_name, DnsType::PTR);
    if (ptr.is_error())
        return "client names unknown: PTR lookup " + std::string(to_string(ptr.status));
    const DnsType type = context.identity.address->is_v4() ? DnsType::A : DnsType::AAAA;
    const auto confirmed = context.identity.names->confirmed();
    for (const auto &name : context.identity.names->names()) {
        if (std::find(confirmed.begin(), confirmed.end(), name) != confirmed.end())
            continue;
        const auto &answer = context.lookups.get(name, type);
        if (answer.is_error())
            return "client name " + log_safe(name) +
                   " unconfirmed: " + std::string(to_string(type)) + " lookup " +
                   std::string(to_string(answer.status));
    }
    return "";
}

class RhsblCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::mail; }
    std::span<const RuleSpec> rules() const override { return declared; }
    bool needs_client_names() const override { return true; }

    void prefetch(const CheckContext &context) const override {
        if (context.config.rhsbl_zones.empty())
            return;
        for (const auto &candidate : named_candidates(context.identity))
            start_queries(context.lookups, candidate.domain, context.config.rhsbl_zones);
        if (context.identity.address)
            start_client_name_queries(context);
    }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        const auto &config = context.config;
        if (config.rhsbl_zones.empty())
            return {make_result(Outcome::skip, "no rhsbl.zone configured")};
        const auto candidates = all_candidates(context);
        const auto unknown = unknown_client_names(context);
        if (candidates.empty() && unknown.empty())
            return {make_result(Outcome::skip, "no domain name to look up")};

        std::vector<Listing> listings;
        std::vector<std::string> problems;
        double score = 0;
        double unanswered_allow = 0;
        double unanswered_block = 0;
        if (!unknown.empty())
            problems.push_back(unknown);
        for (const auto &entry : config.rhsbl_zones) {
            // A name DNS could not tell may be listed anywhere.
            bool unanswered = !unknown.empty();
            bool counted = false;
            for (const auto &candidate : candidates) {
                if (!fits(candidate.domain, entry))
                    continue;
                const auto name = query_name(candidate.domain, entry);
                const auto &answer = context.lookups.get(name, DnsType::A);
                if (answer.is_error()) {
                    problems.push_back(entry.zone + " " + std::string(to_string(answer.status)) +
                                       " for " + candidate.domain);
                    unanswered = true;
                    continue;
                }
                if (const auto *code = dnsbl_refusal_code(answer)) {
                    problems.push_back(entry.zone + " refused the query (" + *code + ")");
                    unanswered = true;
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
                counted = true;
                break; // an entry counts once
            }
            if (unanswered && !counted) {
                unanswered_allow += std::min(entry.weight, 0.0);
                unanswered_block += std::max(entry.weight, 0.0);
            }
        }
        std::sort(problems.begin(), problems.end());
        problems.erase(std::unique(problems.begin(), problems.end()), problems.end());

        const Listing *top = nullptr;
        std::vector<std::string> listed;
        for (const auto &listing : listings) {
            listed.push_back(listing.entry->zone + " (" + listing.candidate->source + " " +
                             log_safe(listing.candidate->domain) + ") " +
                             join_items(listing.codes, ",") + " *" +
                             format_number(listing.entry->weight));
            if (listing.entry->weight > 0 && (!top || listing.entry->weight > top->entry->weight))
                top = &listing;
        }
        std::vector<std::string> asked;
        for (const auto &candidate : candidates)
            asked.push_back(candidate.source + " " + log_safe(candidate.domain));
        const std::string totals = "score " + format_number(score);
        const std::string threshold = format_number(config.rhsbl_threshold);
        const std::string not_counted =
            problems.empty() ? "" : "; not counted: " + join_items(problems, ", ");

        if (top && undecided_by_allow_lists(score, unanswered_allow, config.rhsbl_threshold))
            return {make_result(Outcome::error, "listed: " + join_items(listed, ", ") + "; " +
                                                    totals + " >= threshold " + threshold +
                                                    " unless allow lists that did not answer "
                                                    "list it (up to " +
                                                    format_number(unanswered_allow) + ")" +
                                                    not_counted)};
        if (top && score >= config.rhsbl_threshold) {
            auto result =
                make_result(Outcome::fail, "listed: " + join_items(listed, ", ") + "; " + totals +
                                               " >= threshold " + threshold + not_counted);
            result.vars["rhsbl_zone"] = top->entry->zone;
            result.vars["rhsbl_domain"] = top->candidate->domain;
            result.vars["rhsbl_source"] = top->candidate->source;
            result.vars["rhsbl_txt"] = top->txt.substr(
                0, std::min<std::size_t>(top->txt.size(), config.dnsbl_txt_max_length));
            result.vars["rhsbl_score"] = format_number(score);
            return {result};
        }
        const std::string found = listed.empty() ? "not listed (" + join_items(asked, ", ") + ")"
                                                 : "listed: " + join_items(listed, ", ");
        auto result = make_result(Outcome::pass, found + "; " + totals + " below threshold " +
                                                     threshold + not_counted);
        if (undecided_by_block_lists(top != nullptr, score, unanswered_block,
                                     config.rhsbl_threshold))
            result.could_be = {"rhsbl-listed"};
        return {result};
    }
};

} // namespace

const Check &rhsbl_check() {
    static const RhsblCheck check;
    return check;
}

} // namespace portcullis
