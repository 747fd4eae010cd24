// The dnsbl check. Results: one dnsbl-listed result; on fail its vars
// are dnsbl_zone (the listing with the largest positive weight),
// dnsbl_txt (that listing's TXT, cut to dnsbl.txt-max-length bytes, not
// yet sanitized) and dnsbl_score. List errors are pass, not error: the
// postscreen convention that a broken list must not hold up mail; but
// error when an allow list that did not answer could have cancelled a
// total reaching the threshold (a dead allow list must not reject).
#include "checks/dnsbl.hpp"

#include "core/log.hpp"

#include <algorithm>
#include <memory>

namespace portcullis {

namespace {

constexpr std::string_view check_name = "dnsbl";

constexpr std::string_view dnsbl_listed_text[] = {
    "Client host ${client_addr} is listed at ${dnsbl_zone}: ${dnsbl_txt}",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "dnsbl-listed",
     .stage = Stage::connect,
     .default_action = "reject",
     .summary = "the DNSBL/DNSWL weights reach dnsbl.threshold",
     .help = "The address of your mail server is listed on a DNS block list this server "
             "consults; the reply names the list and quotes its reason. Find out why on the "
             "list's own web site, fix the cause (an infected host, an open relay, a "
             "compromised account) and ask the list for removal.",
     .text = dnsbl_listed_text,
     .example = "score:4"},
};

CheckResult make_result(Outcome outcome, std::string detail) {
    return {std::string(check_name), "dnsbl-listed", outcome, std::move(detail), {}};
}

// Runs once per A answer of one query name, for every entry sharing it
// (the entries of the same zone, `first` the first of them).
void on_list_answer(const std::weak_ptr<Lookups> &weak, const std::string &name,
                    const std::vector<DnsblZone> &all, std::size_t first, const DnsAnswer &answer) {
    const std::string &zone = all[first].zone;
    if (answer.is_error())
        return; // logged once by the session's lookups; counted as not listed
    if (const auto *code = dnsbl_refusal_code(answer)) {
        log_warning("dnsbl " + zone + ": the list refused the query for " + name + " (" + *code +
                    "), a list error, counted as not listed");
        return;
    }
    if (!answer.has_records())
        return;
    const bool matched = std::any_of(
        all.begin() + static_cast<std::ptrdiff_t>(first), all.end(), [&](const DnsblZone &entry) {
            return entry.zone == zone &&
                   std::any_of(answer.records.begin(), answer.records.end(),
                               [&](const std::string &record) { return entry.matches(record); });
        });
    if (!matched)
        return;
    if (auto lookups = weak.lock())
        lookups->start(name, DnsType::TXT);
}

std::string describe(const DnsblListing &listing) {
    return listing.zone + " " + join_items(listing.codes, ",") + " *" +
           format_number(listing.weight);
}

class DnsblCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::connect; }
    std::span<const RuleSpec> rules() const override { return declared; }

    void prefetch(const CheckContext &context) const override {
        if (!context.identity.address)
            return;
        // Entries of one zone share a lookup and a continuation, so that
        // a list error is logged once and the TXT asked once. The query
        // name is the same for two entries exactly when their zone is.
        // One copy of the entries per session, shared by the continuations.
        const auto &zones = context.config.dnsbl_zones;
        std::vector<std::size_t> firsts;
        firsts.reserve(zones.size());
        for (std::size_t i = 0; i < zones.size(); ++i)
            if (std::none_of(firsts.begin(), firsts.end(),
                             [&](std::size_t j) { return zones[j].zone == zones[i].zone; }))
                firsts.push_back(i);
        if (firsts.empty())
            return;
        // Started in the order of their query names, as before.
        std::sort(firsts.begin(), firsts.end(),
                  [&](std::size_t a, std::size_t b) { return zones[a].zone < zones[b].zone; });
        const auto entries = std::make_shared<const std::vector<DnsblZone>>(zones);
        // Weak: the continuation is stored inside the Lookups it refers to.
        std::weak_ptr<Lookups> weak = context.lookups.weak_from_this();
        for (const std::size_t first : firsts) {
            std::string name = dnsbl_query_name(context.identity.reversed, zones[first]);
            context.lookups.start(name, DnsType::A,
                                  [weak, name, entries, first](const DnsAnswer &answer) {
                                      on_list_answer(weak, name, *entries, first, answer);
                                  });
        }
    }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        if (!context.identity.address)
            return {make_result(Outcome::skip, "no client IP address")};
        if (context.config.dnsbl_zones.empty())
            return {make_result(Outcome::skip, "no dnsbl.zone configured")};
        const auto report = read_dnsbl(context);
        const DnsblListing *top = nullptr;
        std::vector<std::string> listed;
        for (const auto &listing : report.listings) {
            listed.push_back(describe(listing));
            if (listing.weight > 0 && (!top || listing.weight > top->weight))
                top = &listing;
        }
        const std::string score = format_number(report.score);
        const std::string threshold = format_number(context.config.dnsbl_threshold);
        std::string problems;
        if (!report.problems.empty())
            problems = "; not counted: " + join_items(report.problems, ", ");

        if (top && undecided_by_allow_lists(report.score, report.unanswered_allow,
                                            context.config.dnsbl_threshold))
            return {make_result(Outcome::error,
                                "listed: " + join_items(listed, ", ") + "; score " + score +
                                    " >= threshold " + threshold +
                                    " unless allow lists that did not answer list it (up to " +
                                    format_number(report.unanswered_allow) + ")" + problems)};
        if (top && report.score >= context.config.dnsbl_threshold) {
            auto result =
                make_result(Outcome::fail, "listed: " + join_items(listed, ", ") + "; score " +
                                               score + " >= threshold " + threshold + problems);
            result.vars["dnsbl_zone"] = top->zone;
            result.vars["dnsbl_txt"] = top->txt.substr(
                0, std::min<std::size_t>(top->txt.size(), context.config.dnsbl_txt_max_length));
            result.vars["dnsbl_score"] = score;
            return {result};
        }
        const std::string listings =
            listed.empty() ? "not listed" : "listed: " + join_items(listed, ", ");
        auto result = make_result(Outcome::pass, listings + "; score " + score +
                                                     " below threshold " + threshold + problems);
        if (undecided_by_block_lists(top != nullptr, report.score, report.unanswered_block,
                                     context.config.dnsbl_threshold))
            result.could_be = {"dnsbl-listed"};
        return {result};
    }
};

} // namespace

std::string dnsbl_query_name(std::string_view reversed_client, const DnsblZone &zone) {
    std::string name;
    name.reserve(reversed_client.size() + 1 + zone.zone.size());
    name.append(reversed_client).append(".").append(zone.zone);
    return name;
}

const std::string *dnsbl_refusal_code(const DnsAnswer &answer) {
    if (!answer.has_records())
        return nullptr;
    auto it = std::find_if(answer.records.begin(), answer.records.end(),
                           [](const std::string &record) { return is_dnsbl_error_code(record); });
    return it == answer.records.end() ? nullptr : &*it;
}

bool undecided_by_allow_lists(double score, double unanswered_allow, double threshold) {
    return score >= threshold && score + unanswered_allow < threshold;
}

bool undecided_by_block_lists(bool listed, double score, double unanswered_block,
                              double threshold) {
    return (listed || unanswered_block > 0) && score + unanswered_block >= threshold;
}

std::string join_items(const std::vector<std::string> &items, std::string_view separator) {
    std::string out;
    for (const auto &item : items)
        out += (out.empty() ? "" : std::string(separator)) + item;
    return out;
}

bool is_dnsbl_error_code(std::string_view address) {
    const auto parsed = IpAddress::parse(address);
    if (!parsed || !parsed->is_v4())
        return false;
    const auto &bytes = parsed->bytes();
    return bytes[0] == 127 && bytes[1] == 255 && bytes[2] == 255;
}

DnsblReport read_dnsbl(const CheckContext &context) {
    DnsblReport report;
    if (!context.identity.address)
        return report;
    for (const auto &entry : context.config.dnsbl_zones) {
        const auto name = dnsbl_query_name(context.identity.reversed, entry);
        const auto &answer = context.lookups.get(name, DnsType::A);
        if (answer.is_error()) {
            report.problems.push_back(entry.zone + " " + std::string(to_string(answer.status)));
            report.unanswered_allow += std::min(entry.weight, 0.0);
            report.unanswered_block += std::max(entry.weight, 0.0);
            continue;
        }
        if (const auto *code = dnsbl_refusal_code(answer)) {
            report.problems.push_back(entry.zone + " refused the query (" + *code + ")");
            report.unanswered_allow += std::min(entry.weight, 0.0);
            report.unanswered_block += std::max(entry.weight, 0.0);
            continue;
        }
        if (!answer.has_records())
            continue;
        DnsblListing listing;
        for (const auto &record : answer.records)
            if (entry.matches(record))
                listing.codes.push_back(record);
        if (listing.codes.empty())
            continue;
        listing.zone = entry.zone;
        listing.entry = entry.text;
        listing.weight = entry.weight;
        const auto &txt = context.lookups.get(name, DnsType::TXT);
        if (txt.has_records())
            listing.txt = join_items(txt.records, "; ");
        report.score += listing.weight;
        report.listings.push_back(std::move(listing));
    }
    return report;
}

const Check &dnsbl_check() {
    static const DnsblCheck check;
    return check;
}

} // namespace portcullis
