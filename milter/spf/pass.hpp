// Internal: the state of one evaluation pass (see evaluator.hpp), shared
// by the files that implement it: evaluator.cpp (check_host(), records,
// include: and redirect=, the limits), mechanisms.cpp (a, mx, ptr,
// exists, %{p}, explanations) and prefetch.cpp (speculative lookups).
#pragma once

#include "spf/evaluator.hpp"
#include "spf/macro.hpp"
#include "spf/record.hpp"

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::spf::detail {

using Code = SpfResult::Code;

inline constexpr std::size_t max_mx_records = 10;
inline constexpr std::size_t max_ptr_names = 10;
// Speculative lookups per pass, and how deep prefetching follows
// include:/redirect= records whose TXT answer is already in.
inline constexpr std::size_t max_prefetch = 64;
inline constexpr unsigned max_prefetch_depth = 3;

enum class Match { yes, no, pending, error };

// check_host() of one domain.
struct HostResult {
    bool pending = false;
    Code code = Code::none;
    std::string mechanism;
    std::string problem;
    std::optional<MacroString> explanation; // exp= of the record that decided
    std::string domain;                     // that record's domain
};

// NXDOMAIN, or an answer without records.
bool is_void(const DnsAnswer &answer);
// A name from a PTR or MX answer as a lookup key: lower-case, no
// trailing dot. "" for the root (a null MX).
std::string key_name(std::string_view presentation);
// The host of an MX record ("PREF NAME") as a lookup key; "" if none.
std::string mx_host(const std::string &record);
std::string status_text(const DnsAnswer &answer);
bool contains_address(const DnsAnswer &answer, const IpAddress &client, unsigned prefix);
// Printable ASCII of at most `limit` bytes, for texts that leave the SPF
// code (explanations, problems for the log).
std::string printable_text(std::string text, std::size_t limit);
// A term as quoted in a problem: records may be kilobytes long.
std::string quoted(const std::string &term);

class Pass {
  public:
    Pass(const SpfRequest &request, const SpfOptions &options, const AnswerCache &answers,
         RecordCache &records);
    PassOutcome run();

  private:
    unsigned full_prefix() const;
    const DnsAnswer *lookup(std::string name, DnsType type);
    const DnsAnswer *lookup_raw(const std::string &raw_name, DnsType type);
    Match error(Code code, std::string problem);
    bool count_lookup();
    bool count_void();
    MacroValues values_for(const std::string &domain) const;
    std::optional<std::string> expand_domain(const MacroString &spec, const std::string &domain,
                                             bool &pending);

    HostResult check_host(const std::string &domain);
    HostResult evaluate_record(const SpfRecord &record, const std::string &domain);
    Match follow(const MacroString &spec, const std::string &domain, const std::string &term,
                 HostResult &inner);
    Match evaluate(const Mechanism &mechanism, const std::string &domain);
    Match include(const Mechanism &mechanism, const std::string &domain);

    // mechanisms.cpp
    const DnsAnswer *term_lookup(const std::string &target, DnsType type, const char *what,
                                 Match &decided);
    Match address(const Mechanism &mechanism, const std::string &target);
    Match mx(const Mechanism &mechanism, const std::string &target);
    Match ptr(const std::string &target);
    Match exists(const std::string &target);
    std::optional<std::string> validated_name(const std::string &domain);
    std::optional<std::string> explain(const HostResult &host);
    std::optional<std::string> expand_explanation(const MacroString &text,
                                                  const std::string &domain);

    // prefetch.cpp
    void prefetch_rest(const SpfRecord &record, std::size_t from, const std::string &domain,
                       unsigned depth);
    void prefetch_term(const Mechanism &mechanism, const std::string &domain, unsigned depth);
    void prefetch_host(const std::string &target, unsigned depth);

    const SpfOptions &options_;
    const AnswerCache &answers_;
    RecordCache &records_;
    const IpAddress client_;
    const DnsType address_type_;
    const std::string domain_; // the <domain> of the request, without a trailing dot
    MacroValues values_;
    unsigned lookups_ = 0;
    unsigned voids_ = 0;
    std::string skipped_error_; // SpfResult::skipped_error
    Code error_code_ = Code::permerror;
    std::string error_problem_;
    bool speculative_ = false; // lookups listed now go to prefetch_
    std::optional<unsigned> prefetch_budget_;
    std::vector<LookupKey> needed_;
    std::vector<LookupKey> prefetch_;
    std::set<LookupKey> listed_;
};

} // namespace portcullis::spf::detail
