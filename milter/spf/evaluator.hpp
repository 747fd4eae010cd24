// One evaluation pass of check_host() (RFC 7208 §4-§6) over the DNS
// answers at hand. The pass is a pure function: it either completes with
// the result, or stops at the first term whose answer is missing and
// lists the lookups it waits for (`needed`) plus those later terms of the
// records being evaluated are likely to need (`prefetch`). The driver in
// check_host.cpp starts them and runs a new pass as answers arrive. Since
// every pass evaluates left to right from the start and reads only the
// answers on its own path, extra answers in the cache never change a
// result or a count: prefetching is invisible.
#pragma once

#include "core/dns.hpp"
#include "spf/record.hpp"
#include "spf/spf.hpp"

#include <compare>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace portcullis::spf {

struct LookupKey {
    std::string name; // presentation form, lower-case, no trailing dot
    DnsType type{};
    friend auto operator<=>(const LookupKey &, const LookupKey &) = default;
};

using AnswerCache = std::map<LookupKey, DnsAnswer>;

struct PassOutcome {
    std::optional<SpfResult> result; // set when the evaluation completed
    std::vector<LookupKey> needed;   // otherwise: the answers it waits for
    std::vector<LookupKey> prefetch; // and answers later terms may need
};

// The records one evaluation has parsed, by their text: every pass walks
// the same records again, and parsing them was the largest part of a pass.
// Parsing is a pure function of the text, so a cached parse is the parse.
class RecordCache {
  public:
    const RecordParse &parse(const std::string &text);

  private:
    std::unordered_map<std::string, RecordParse> parsed_; // references stay valid
};

// `options.timestamp` must be set: passes of one evaluation agree on %{t}.
// `records` is the evaluation's own, used by one pass at a time.
PassOutcome evaluate_pass(const SpfRequest &request, const SpfOptions &options,
                          const AnswerCache &answers, RecordCache &records);

} // namespace portcullis::spf
