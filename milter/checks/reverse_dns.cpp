// The reverse-dns check (rules rdns-missing and rdns-unconfirmed) and
// the forward-confirmed PTR names other checks use. A PTR lookup error
// leaves both rules undecided (error); a forward lookup error leaves
// rdns-unconfirmed undecided unless another name confirms the client.
// A missing PTR is rdns-missing only: rdns-unconfirmed then has nothing
// to confirm (skip), so each rule can be given its own action.
#include "checks/reverse_dns.hpp"

#include "core/host_name.hpp"
#include "core/log.hpp"

#include <algorithm>

namespace portcullis {

namespace {

constexpr std::string_view check_name = "reverse-dns";
constexpr std::size_t names_in_detail = 3;

CheckResult make_result(std::string_view rule, Outcome outcome, std::string detail) {
    return {std::string(check_name), std::string(rule), outcome, std::move(detail), {}};
}

DnsType forward_type(const IpAddress &client) {
    return client.is_v4() ? DnsType::A : DnsType::AAAA;
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

bool answer_contains(const DnsAnswer &answer, const IpAddress &client) {
    if (!answer.has_records())
        return false;
    return std::any_of(answer.records.begin(), answer.records.end(), [&](const std::string &text) {
        auto address = IpAddress::parse(text);
        return address && address->unmapped() == client;
    });
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
    view.client = context.facts.client->unmapped();
    view.type = forward_type(view.client);
    view.ptr_name = view.client.reverse_name();
    view.ptr = &context.lookups.get(view.ptr_name, DnsType::PTR);
    view.names = ptr_names_to_confirm(*view.ptr, context.config.rdns_max_names);
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
    void prefetch(const CheckContext &context) const override { prefetch_reverse_dns(context); }

    std::vector<CheckResult> evaluate(const CheckContext &context) const override {
        if (!context.facts.client)
            return {make_result("rdns-missing", Outcome::skip, "no client IP address"),
                    make_result("rdns-unconfirmed", Outcome::skip, "no client IP address")};
        const auto view = read_view(context);
        return {missing_result(view), unconfirmed_result(view)};
    }
};

} // namespace

std::vector<std::string> ptr_names_to_confirm(const DnsAnswer &ptr, unsigned max_names) {
    std::vector<std::string> names;
    if (!ptr.has_records())
        return names;
    for (const auto &record : ptr.records) {
        if (names.size() >= max_names)
            break;
        auto name = normalize_host(record);
        if (!host_name_problem(name, true).empty())
            continue;
        if (std::find(names.begin(), names.end(), name) == names.end())
            names.push_back(std::move(name));
    }
    return names;
}

void prefetch_reverse_dns(const CheckContext &context) {
    if (!context.facts.client)
        return;
    const IpAddress client = context.facts.client->unmapped();
    const DnsType type = forward_type(client);
    const unsigned max_names = context.config.rdns_max_names;
    // Weak: the continuation is stored inside the Lookups it refers to.
    std::weak_ptr<Lookups> weak = context.lookups.weak_from_this();
    context.lookups.start(client.reverse_name(), DnsType::PTR,
                          [weak, type, max_names](const DnsAnswer &ptr) {
                              auto lookups = weak.lock();
                              if (!lookups)
                                  return;
                              for (const auto &name : ptr_names_to_confirm(ptr, max_names))
                                  lookups->start(name, type);
                          });
}

std::vector<std::string> verified_ptr_names(const CheckContext &context) {
    std::vector<std::string> verified;
    if (!context.facts.client)
        return verified;
    const auto view = read_view(context);
    for (std::size_t i = 0; i < view.names.size(); ++i)
        if (answer_contains(*view.forward[i], view.client))
            verified.push_back(view.names[i]);
    return verified;
}

const Check &reverse_dns_check() {
    static const ReverseDnsCheck check;
    return check;
}

} // namespace portcullis
