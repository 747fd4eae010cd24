// The registry: every check milter/checks/meson.build lists, by stage,
// the rule table derived from their declarations, and the configuration
// and reply book built over that table. The list arrives as the macro
// PORTCULLIS_CHECKS in the generated header registered_checks.h; a check
// NAME defines `const Check &NAME_check()` in NAME.cpp.
#include "checks/check.hpp"
#include "checks/registered_checks.h"
#include "memory/store_failure.hpp"

#include <algorithm>
#include <vector>

namespace portcullis {

#define PORTCULLIS_CHECK(name) const Check &name##_check();
PORTCULLIS_CHECKS
#undef PORTCULLIS_CHECK

std::span<const Check *const> all_checks() {
    static const std::vector<const Check *> checks = [] {
#define PORTCULLIS_CHECK(name) &name##_check(),
        std::vector<const Check *> list = {PORTCULLIS_CHECKS};
#undef PORTCULLIS_CHECK
        std::stable_sort(list.begin(), list.end(),
                         [](const Check *a, const Check *b) { return a->stage() < b->stage(); });
        return list;
    }();
    return checks;
}

std::span<const RuleSpec> rule_table() {
    static const std::vector<RuleSpec> rules = [] {
        std::vector<RuleSpec> list;
        for (const Check *check : all_checks())
            list.insert(list.end(), check->rules().begin(), check->rules().end());
        // Greylisting and the abuse counters (milter/memory/) act on what
        // the checks found; their rules follow.
        const auto memory = memory::memory_rules();
        list.insert(list.end(), memory.begin(), memory.end());
        return list;
    }();
    return rules;
}

const RuleSpec *find_rule(std::string_view id) {
    return find_rule(rule_table(), id);
}

ConfigResult load_config(const std::string &file,
                         const std::vector<std::pair<std::string, std::string>> &overrides) {
    return load_config(rule_table(), file, overrides);
}

std::span<const OptionSpec> option_table() {
    return option_table(rule_table());
}

ReplyBook load_replies(const std::string &file, std::vector<std::string> &errors) {
    return ReplyBook::load(file, rule_table(), errors);
}

CheckDataSet CheckDataSet::load(const Config &config, std::vector<ConfigError> &errors) {
    CheckDataSet set;
    for (const Check *check : all_checks())
        if (auto data = check->load(config, errors))
            set.set(*check, std::move(data));
    return set;
}

const CheckData *CheckDataSet::find(const Check &check) const {
    for (const auto &[owner, data] : data_)
        if (owner == &check)
            return data.get();
    return nullptr;
}

void CheckDataSet::set(const Check &check, std::shared_ptr<const CheckData> data) {
    for (auto &[owner, held] : data_)
        if (owner == &check) {
            held = std::move(data);
            return;
        }
    data_.emplace_back(&check, std::move(data));
}

} // namespace portcullis
