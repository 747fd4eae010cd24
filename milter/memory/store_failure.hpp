// What greylisting and the abuse counters do when the state store fails
// (Redis down or slow, LMDB full): by default they let the mail through
// (greylist.on-store-error, limits.on-store-error = pass); tempfail
// answers with rule state-error instead. Either way the failure is logged
// at most once per state.breaker-interval for the whole process, with the
// number of failures since the last line, so that an outage does not
// flood the log.
#pragma once

#include "core/rule.hpp"

#include <chrono>
#include <span>
#include <string>
#include <string_view>

namespace portcullis::memory {

inline constexpr std::string_view state_error_rule = "state-error";

// Notes one failure; logs it when the last line is older than `interval`.
void report_store_failure(std::string_view feature, std::string_view why,
                          std::chrono::milliseconds interval);

std::span<const RuleSpec> store_failure_rules();

// Every rule of memory across sessions: greylisted, too-many-*, state-error.
std::span<const RuleSpec> memory_rules();

} // namespace portcullis::memory
