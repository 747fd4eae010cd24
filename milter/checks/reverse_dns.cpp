// The reverse-dns check (rules rdns-missing and rdns-unconfirmed). The
// PTR lookup and the forward lookups of the names are the session's
// (ClientNames, started at connect); this check reads their answers. A
// PTR lookup error leaves both rules undecided (error); a forward lookup
// error leaves rdns-unconfirmed undecided unless another name confirms
// the client. A missing PTR is rdns-missing only: rdns-unconfirmed then
// has nothing to confirm (skip), so each rule can be given its own action.
#include "checks/check.hpp"
#include "core/host_name.hpp"
#include "core/log.hpp"

#include <algorithm>

namespace portcullis {

namespace {

constexpr std::string_view check_name = "reverse-dns";
constexpr std::size_t names_in_detail = 3;

constexpr std::string_view rdns_missing_text[] = {
    "Client host ${client_addr} has no reverse DNS (PTR) record.",
    "Ask the operator of ${client_addr} (usually your ISP or hosting provider) to publish a PTR "
    "record",
    "that names this host, and an A/AAAA record for that name pointing back to ${client_addr}.",
    "See ${url}",
};
constexpr std::string_view rdns_unconfirmed_text[] = {
    "Reverse DNS of ${client_addr} is not confirmed: ${detail}.",
    "The PTR name of ${client_addr} must have an A/AAAA record pointing back to ${client_addr}.",
    "See ${url}",
};

constexpr RuleSpec declared[] = {
    {.id = "rdns-missing",
     .stage = Stage::connect,
     .default_action = "reject",
     .summary = "the client address has no PTR record",
     .help = "The address your mail server connects from has no reverse DNS (PTR) record. "
             "Mail servers are expected to have one. Ask whoever controls the address block, "
             "usually your ISP or hosting provider, to publish a PTR record naming the server, "
             "and give that name an A or AAAA record pointing back to the address.",
     .reject = "550 5.7.25",
     .tempfail = "450 4.7.25",
     .text = rdns_missing_text,
     .example = "tempfail",
     .notes = "A missing PTR record is a fault of the sending network, so it rejects by "
              "default."},
    {.id = "rdns-unconfirmed",
     .stage = Stage::connect,
     .default_action = "tempfail",
     .summary = "no PTR name of the client resolves back to its address",
     .help = "The reverse DNS (PTR) name of your mail server's address does not resolve back "
             "to that address. Give the PTR name an A or AAAA record holding the address "
             "(forward-confirmed reverse DNS). After a recent change, wait for the old records "
             "to expire: the mail will be retried.",
     .reject = "550 5.7.25",
     .tempfail = "450 4.7.25",
     .text = rdns_unconfirmed_text,
     .example = "reject",
     .notes = "At most rdns.max-names names are tried. Forward confirmation can fail for a "
              "moment while DNS changes, so it only tempfails by default."},
};

CheckResult make_result(std::string_view rule, Outcome outcome, std::string detail) {
    return {std::string(check_name), std::string(rule), outcome, std::move(detail), {}};
}

// "a, b, c and 4 more"
std::string join_some(const std::vector<std::string> &items) {
    std::string out;
    for (std::size_t i = 0; i < items.size() && i < names_in_detail; ++i)
        out += (i ? ", " : "") + items[i];
    if (items.size() > names_in_detail)
        out += " and " + std::to_string(items.size() - names_in_detail) + " more";
    return out;
}

std::string describe_answer(const DnsAnswer &answer) {
    if (!answer.has_records())
        return std::string(to_string(answer.status));
    std::vector<std::string> addresses;
    for (const auto &record : answer.records)
        addresses.push_back(log_safe(record, 64));
    return join_some(addresses);
}

// Everything the reverse-dns lookups of this session produced so far.
struct ReverseDnsView {
    IpAddress client;
    DnsType type{};
    std::string ptr_name;
    // Completed answers stay valid while the session's lookups live.
    const DnsAnswer *ptr = nullptr;
    std::vector<std::string> names;
    std::vector<const DnsAnswer *> forward; // one per name
};

ReverseDnsView read_view(const CheckContext &context) {
    ReverseDnsView view;
    view.client = *context.identity.address;
    view.type = view.client.is_v4() ? DnsType::A : DnsType::AAAA;
    view.ptr_name = context.identity.reverse_name;
    view.ptr = &context.lookups.get(view.ptr_name, DnsType::PTR);
    view.names = context.identity.names->names();
    view.forward.reserve(view.names.size());
    for (const auto &name : view.names)
        view.forward.push_back(&context.lookups.get(name, view.type));
    return view;
}

CheckResult missing_result(const ReverseDnsView &view) {
    const std::string client = view.client.to_string();
    if (view.ptr->is_error())
        return make_result("rdns-missing", Outcome::error,
                           "PTR lookup of " + view.ptr_name +
                               " failed: " + std::string(to_string(view.ptr->status)) +
                               (view.ptr->why.empty() ? "" : " (" + log_safe(view.ptr->why) + ")"));
    if (!view.ptr->has_records())
        return make_result("rdns-missing", Outcome::fail,
                           "no PTR record for " + client + " (" +
                               (view.ptr->status == DnsAnswer::Status::ok
                                    ? std::string("empty answer")
                                    : std::string(to_string(view.ptr->status))) +
                               ")");
    if (view.names.empty()) {
        std::vector<std::string> records;
        for (const auto &record : view.ptr->records)
            records.push_back("\"" + log_safe(record, 64) + "\"");
        return make_result("rdns-missing", Outcome::fail,
                           "no usable PTR record for " + client + ": " + join_some(records));
    }
    return make_result("rdns-missing", Outcome::pass,
                       "PTR of " + client + ": " + join_some(view.names));
}

CheckResult unconfirmed_result(const ReverseDnsView &view) {
    const std::string client = view.client.to_string();
    if (view.ptr->is_error())
        return make_result("rdns-unconfirmed", Outcome::error,
                           "cannot confirm " + client + ": its PTR lookup failed");
    if (view.names.empty())
        return make_result("rdns-unconfirmed", Outcome::skip,
                           "no PTR name of " + client + " to confirm");
    std::vector<std::string> failed;
    std::vector<std::string> unconfirmed;
    for (std::size_t i = 0; i < view.names.size(); ++i) {
        const auto &answer = *view.forward[i];
        if (answer_contains(answer, view.client))
            return make_result("rdns-unconfirmed", Outcome::pass,
                               view.names[i] + " resolves back to " + client);
        const std::string lookup = view.names[i] + "/" + std::string(to_string(view.type));
        if (answer.is_error())
            failed.push_back(lookup + " " + std::string(to_string(answer.status)));
        else
            unconfirmed.push_back(lookup + " " + describe_answer(answer));
    }
    // An error may hide the confirming name: never fail on it.
    if (!failed.empty())
        return make_result("rdns-unconfirmed", Outcome::error,
                           "cannot confirm " + client + ": lookups failed: " + join_some(failed));
    std::string detail = "no PTR name resolves back to " + client + ": " + join_some(unconfirmed);
    const auto total = ptr_names_to_confirm(*view.ptr, static_cast<unsigned>(-1)).size();
    if (total > view.names.size())
        detail += " (checked " + std::to_string(view.names.size()) + " of " +
                  std::to_string(total) + " names)";
    return make_result("rdns-unconfirmed", Outcome::fail, std::move(detail));
}

class ReverseDnsCheck final : public Check {
  public:
    std::string_view name() const override { return check_name; }
    Stage stage() const override { return Stage::connect; }
    std::span<const RuleSpec> rules() const override { return declared; }
    bool needs_client_names() const override { return true; }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        if (!context.identity.address)
            return {make_result("rdns-missing", Outcome::skip, "no client IP address"),
                    make_result("rdns-unconfirmed", Outcome::skip, "no client IP address")};
        const auto view = read_view(context);
        return {missing_result(view), unconfirmed_result(view)};
    }
};

} // namespace

const Check &reverse_dns_check() {
    static const ReverseDnsCheck check;
    return check;
}

} // namespace portcullis
