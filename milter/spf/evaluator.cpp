// check_host() as one pass over cached answers: the record walk, include:
// and redirect=, and the limits of RFC 7208 §4.6.4. Choices where the RFC
// leaves room, each made so that the result does not depend on the order
// in which answers arrive:
// - mx: more than 10 MX records is permerror before any address lookup;
//   a match on any MX host wins, else an address lookup error gives
//   temperror (§5: DNS errors are temperror unless noted).
// - ptr and %{p}: the first 10 PTR names in answer order; errors skip a
//   name (§5.5). ptr only confirms names within its target.
// - A target that no DNS query can be built from (an empty or too long
//   label after expansion) does not exist: no match, no void lookup.
// - A void lookup is a term whose own query (TXT for include/redirect,
//   A/AAAA for a, MX for mx, PTR for ptr, A for exists) answers NXDOMAIN
//   or no records; lookups of MX hosts and PTR names are not terms.
#include "spf/evaluator.hpp"

#include "spf/domain_name.hpp"
#include "spf/pass.hpp"

namespace portcullis::spf {

namespace detail {

namespace {

constexpr std::size_t max_quoted_term = 80;
constexpr std::size_t max_problem = 512;

Code code_of(Qualifier qualifier) {
    switch (qualifier) {
    case Qualifier::pass:
        return Code::pass;
    case Qualifier::fail:
        return Code::fail;
    case Qualifier::softfail:
        return Code::softfail;
    case Qualifier::neutral:
        return Code::neutral;
    }
    return Code::neutral;
}

} // namespace

bool is_void(const DnsAnswer &answer) {
    return answer.is_negative() ||
           (answer.status == DnsAnswer::Status::ok && answer.records.empty());
}

std::string key_name(std::string_view presentation) {
    std::string name = to_lower(presentation);
    if (!name.empty() && name.back() == '.' && (name.size() < 2 || name[name.size() - 2] != '\\'))
        name.pop_back();
    return name;
}

std::string mx_host(const std::string &record) {
    const auto space = record.find(' ');
    return key_name(space == std::string::npos ? "" : std::string_view(record).substr(space + 1));
}

std::string status_text(const DnsAnswer &answer) {
    return std::string(to_string(answer.status));
}

bool contains_address(const DnsAnswer &answer, const IpAddress &client, unsigned prefix) {
    if (answer.status != DnsAnswer::Status::ok)
        return false;
    for (const auto &record : answer.records) {
        const auto address = IpAddress::parse(record);
        if (address && in_network(client, *address, prefix))
            return true;
    }
    return false;
}

std::string printable_text(std::string text, std::size_t limit) {
    for (auto &c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte > 0x7e)
            c = '?';
    }
    if (text.size() > limit)
        text.resize(limit);
    return text;
}

std::string quoted(const std::string &term) {
    return term.size() <= max_quoted_term ? term : term.substr(0, max_quoted_term) + "...";
}

Pass::Pass(const SpfRequest &request, const SpfOptions &options, const AnswerCache &answers,
           RecordCache &records)
    : options_(options), answers_(answers), records_(records), client_(request.client.unmapped()),
      address_type_(client_.is_v4() ? DnsType::A : DnsType::AAAA),
      domain_(request.domain.ends_with('.') ? request.domain.substr(0, request.domain.size() - 1)
                                            : request.domain) {
    const auto at = request.sender.rfind('@');
    values_.local_part = at == std::string::npos ? "" : request.sender.substr(0, at);
    values_.sender_domain = at == std::string::npos ? domain_ : request.sender.substr(at + 1);
    if (values_.local_part.empty())
        values_.local_part = "postmaster";
    values_.sender = values_.local_part + "@" + values_.sender_domain;
    values_.client = client_;
    values_.helo = request.helo;
    values_.receiver = request.receiver;
    values_.timestamp = options.timestamp.value_or(0);
}

PassOutcome Pass::run() {
    PassOutcome outcome;
    SpfResult result;
    const auto problem = identity_domain_problem(domain_);
    if (!problem.empty()) {
        result.problem =
            "'" + printable_text(domain_.substr(0, 64), 64) + "' cannot be checked: " + problem;
        outcome.result = std::move(result);
        return outcome;
    }
    const HostResult host = check_host(domain_);
    if (!host.pending) {
        result.result = host.code;
        result.mechanism = host.mechanism;
        result.problem = printable_text(host.problem, max_problem);
        result.dns_lookups = lookups_;
        result.void_lookups = voids_;
        // Those of the explanation's %{p} leave the result as it is.
        result.skipped_error = printable_text(skipped_error_, max_problem);
        std::optional<std::string> explanation;
        if (host.code == Code::fail)
            explanation = explain(host);
        else
            explanation.emplace();
        if (explanation) {
            result.explanation = std::move(*explanation);
            outcome.result = std::move(result);
            return outcome;
        }
    }
    outcome.needed = std::move(needed_);
    outcome.prefetch = std::move(prefetch_);
    return outcome;
}

unsigned Pass::full_prefix() const {
    return client_.is_v4() ? 32 : 128;
}

// The answer if cached; else lists the lookup and returns nullptr.
const DnsAnswer *Pass::lookup(std::string name, DnsType type) {
    LookupKey key{std::move(name), type};
    const auto it = answers_.find(key);
    if (it != answers_.end())
        return &it->second;
    if (speculative_ && prefetch_.size() >= max_prefetch)
        return nullptr;
    if (listed_.insert(key).second)
        (speculative_ ? prefetch_ : needed_).push_back(std::move(key));
    return nullptr;
}

const DnsAnswer *Pass::lookup_raw(const std::string &raw_name, DnsType type) {
    return lookup(escape_name(raw_name), type);
}

Match Pass::error(Code code, std::string problem) {
    error_code_ = code;
    error_problem_ = std::move(problem);
    return Match::error;
}

bool Pass::count_lookup() {
    if (lookups_ >= spf_max_dns_lookups) {
        error(Code::permerror, "more than " + std::to_string(spf_max_dns_lookups) +
                                   " DNS-querying terms (RFC 7208 4.6.4)");
        return false;
    }
    ++lookups_;
    return true;
}

bool Pass::count_void() {
    if (++voids_ > options_.max_void_lookups) {
        error(Code::permerror, "more than " + std::to_string(options_.max_void_lookups) +
                                   " void DNS lookups (RFC 7208 4.6.4)");
        return false;
    }
    return true;
}

MacroValues Pass::values_for(const std::string &domain) const {
    MacroValues values = values_;
    values.domain = domain;
    return values;
}

// The raw name a domain-spec expands to: nullopt when no query can be
// built from it; `pending` when %{p} still waits for answers.
std::optional<std::string> Pass::expand_domain(const MacroString &spec, const std::string &domain,
                                               bool &pending) {
    MacroValues values = values_for(domain);
    if (spec.uses('p')) {
        auto name = validated_name(domain);
        if (!name) {
            pending = true;
            return std::nullopt;
        }
        values.validated_name = std::move(*name);
    }
    return name_for_query(expand(spec, values, ExpansionUse::domain_name));
}

HostResult Pass::check_host(const std::string &domain) {
    HostResult host;
    host.domain = domain;
    const auto name = escape_name(domain);
    const DnsAnswer *txt = lookup(name, DnsType::TXT);
    if (!txt) {
        host.pending = true;
        return host;
    }
    if (txt->is_error()) {
        host.code = Code::temperror;
        host.problem = "TXT lookup of " + name + " failed: " + status_text(*txt);
        return host;
    }
    std::vector<const std::string *> records;
    if (txt->status == DnsAnswer::Status::ok)
        for (const auto &text : txt->records)
            if (is_spf_record(text))
                records.push_back(&text);
    if (records.empty()) {
        host.problem = txt->status == DnsAnswer::Status::nxdomain ? name + " does not exist"
                                                                  : "no SPF record at " + name;
        return host;
    }
    if (records.size() > 1) {
        host.code = Code::permerror;
        host.problem = std::to_string(records.size()) + " SPF records at " + name;
        return host;
    }
    const auto &parse = records_.parse(*records.front());
    if (!parse.record) {
        host.code = Code::permerror;
        host.problem = "SPF record of " + name + ": " + parse.error;
        return host;
    }
    return evaluate_record(*parse.record, domain);
}

HostResult Pass::evaluate_record(const SpfRecord &record, const std::string &domain) {
    HostResult host;
    host.domain = domain;
    for (std::size_t i = 0; i < record.mechanisms.size(); ++i) {
        const auto &mechanism = record.mechanisms[i];
        switch (evaluate(mechanism, domain)) {
        case Match::yes:
            host.code = code_of(mechanism.qualifier);
            host.mechanism = mechanism.text;
            host.explanation = record.explanation;
            return host;
        case Match::no:
            continue;
        case Match::pending:
            prefetch_rest(record, i + 1, domain, 0);
            host.pending = true;
            return host;
        case Match::error:
            host.code = error_code_;
            host.problem = error_problem_;
            return host;
        }
    }
    if (!record.redirect) {
        host.code = Code::neutral;
        return host;
    }
    switch (follow(*record.redirect, domain, "redirect", host)) {
    case Match::pending:
        host.pending = true;
        return host;
    case Match::error:
        host.code = error_code_;
        host.problem = error_problem_;
        return host;
    default:
        break;
    }
    if (!host.pending && host.code == Code::none) {
        host.code = Code::permerror;
        host.problem = "redirect: " + host.problem;
    }
    return host;
}

// include: and redirect=: counts the term, expands the target and runs
// check_host() on it into `inner`; yes when `inner` is complete.
Match Pass::follow(const MacroString &spec, const std::string &domain, const std::string &term,
                   HostResult &inner) {
    if (!count_lookup())
        return Match::error;
    bool pending = false;
    const auto target = expand_domain(spec, domain, pending);
    if (pending)
        return Match::pending;
    if (!target || !identity_domain_problem(*target).empty())
        return error(Code::permerror, term + " target is not a valid domain" +
                                          (target ? ": " + escape_name(*target) : ""));
    const DnsAnswer *txt = lookup_raw(*target, DnsType::TXT);
    if (!txt)
        return Match::pending;
    if (is_void(*txt) && !count_void())
        return Match::error;
    inner = check_host(*target);
    return inner.pending ? Match::pending : Match::yes;
}

Match Pass::evaluate(const Mechanism &mechanism, const std::string &domain) {
    switch (mechanism.kind) {
    case MechanismKind::all:
        return Match::yes;
    case MechanismKind::ip4:
        return client_.is_v4() && in_network(client_, mechanism.network, mechanism.cidr4)
                   ? Match::yes
                   : Match::no;
    case MechanismKind::ip6:
        return !client_.is_v4() && in_network(client_, mechanism.network, mechanism.cidr6)
                   ? Match::yes
                   : Match::no;
    case MechanismKind::include:
        return include(mechanism, domain);
    default:
        break;
    }
    if (!count_lookup())
        return Match::error;
    std::string target = domain;
    if (mechanism.domain) {
        bool pending = false;
        auto expanded = expand_domain(*mechanism.domain, domain, pending);
        if (pending)
            return Match::pending;
        if (!expanded)
            return Match::no;
        target = std::move(*expanded);
    }
    switch (mechanism.kind) {
    case MechanismKind::a:
        return address(mechanism, target);
    case MechanismKind::mx:
        return mx(mechanism, target);
    case MechanismKind::ptr:
        return ptr(target);
    case MechanismKind::exists:
        return exists(target);
    default:
        return Match::no;
    }
}

Match Pass::include(const Mechanism &mechanism, const std::string &domain) {
    HostResult inner;
    const auto followed = follow(*mechanism.domain, domain, quoted(mechanism.text), inner);
    if (followed != Match::yes)
        return followed;
    switch (inner.code) {
    case Code::pass:
        return Match::yes;
    case Code::fail:
    case Code::softfail:
    case Code::neutral:
        return Match::no;
    case Code::temperror:
        return error(Code::temperror, quoted(mechanism.text) + ": " + inner.problem);
    case Code::permerror:
    case Code::none:
        return error(Code::permerror, quoted(mechanism.text) + ": " + inner.problem);
    }
    return Match::no;
}

} // namespace detail

const RecordParse &RecordCache::parse(const std::string &text) {
    const auto found = parsed_.find(text);
    if (found != parsed_.end())
        return found->second;
    return parsed_.emplace(text, parse_record(text)).first->second;
}

PassOutcome evaluate_pass(const SpfRequest &request, const SpfOptions &options,
                          const AnswerCache &answers, RecordCache &records) {
    return detail::Pass(request, options, answers, records).run();
}

} // namespace portcullis::spf
