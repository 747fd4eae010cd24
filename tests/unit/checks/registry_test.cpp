// The registry: every check milter/checks/meson.build lists, in stage
// order, each declaring well-formed rules that no other check declares.
// These hold for any check added later; nothing here lists the checks.
#include "checks/check.hpp"
#include "memory/store_failure.hpp"
#include "core/policy.hpp"
#include "core/replies.hpp"

#include <doctest/doctest.h>

#include <regex>
#include <set>

using namespace portcullis;

TEST_CASE("all_checks lists each check once, by stage") {
    const auto checks = all_checks();
    REQUIRE_FALSE(checks.empty());
    std::set<std::string_view> names;
    for (std::size_t i = 0; i < checks.size(); ++i) {
        CAPTURE(i);
        REQUIRE(checks[i] != nullptr);
        CAPTURE(checks[i]->name());
        CHECK(names.insert(checks[i]->name()).second);
        CHECK(checks[i]->stage() != Stage::rcpt);
        if (i > 0)
            CHECK(checks[i - 1]->stage() <= checks[i]->stage());
    }
}

TEST_CASE("the rule table is the checks' declarations, each id once") {
    std::size_t declared = 0;
    std::set<std::string_view> ids;
    for (const auto &rule : policy_rules())
        ids.insert(rule.id);
    for (const Check *check : all_checks()) {
        CAPTURE(check->name());
        CHECK_FALSE(check->rules().empty());
        for (const auto &rule : check->rules()) {
            CAPTURE(rule.id);
            CHECK(ids.insert(rule.id).second); // not another check's, nor the policy's
            CHECK(find_rule(rule.id) == &rule_table()[declared]);
            CHECK(rule.stage == check->stage());
            ++declared;
        }
    }
    // Then the rules of greylisting and the abuse counters (milter/memory/).
    for (const auto &rule : memory::memory_rules()) {
        CAPTURE(rule.id);
        CHECK(ids.insert(rule.id).second);
        CHECK(find_rule(rule.id) == &rule_table()[declared]);
        ++declared;
    }
    CHECK(rule_table().size() == declared);
}

TEST_CASE("every declaration is complete and well formed") {
    static const std::regex id_pattern("[a-z][a-z0-9]*(-[a-z0-9]+)*");
    static const std::regex reject_pattern("5[0-9][0-9] 5\\.[0-9]{1,3}\\.[0-9]{1,3}");
    static const std::regex tempfail_pattern("4[0-9][0-9] 4\\.[0-9]{1,3}\\.[0-9]{1,3}");
    std::vector<RuleSpec> rules(rule_table().begin(), rule_table().end());
    rules.insert(rules.end(), policy_rules().begin(), policy_rules().end());
    const ReplyBook book(rule_table());
    for (const auto &rule : rules) {
        CAPTURE(rule.id);
        CHECK(std::regex_match(rule.id.begin(), rule.id.end(), id_pattern));
        const auto action = Action::parse(rule.default_action);
        REQUIRE(action);
        const auto example = Action::parse(rule.example);
        REQUIRE(example);
        if (!rule.may_reject) {
            CHECK(action->kind != ActionKind::reject);
            CHECK(example->kind != ActionKind::reject);
        }
        CHECK_FALSE(rule.summary.empty());
        CHECK(rule.summary.back() != '.'); // it completes "Applies when ..."
        CHECK(rule.help.size() >= 40);     // tells the sender what to fix
        CHECK(std::regex_match(rule.reject.begin(), rule.reject.end(), reject_pattern));
        CHECK(std::regex_match(rule.tempfail.begin(), rule.tempfail.end(), tempfail_pattern));
        REQUIRE_FALSE(rule.text.empty());
        CHECK(rule.text.size() <= max_reply_lines);
        // The reply book takes the declaration as it is.
        const auto &tmpl = book.find(rule.id);
        CHECK(tmpl.id == rule.id);
        CHECK(tmpl.reject_code + " " + tmpl.reject_status == rule.reject);
        CHECK(tmpl.tempfail_code + " " + tmpl.tempfail_status == rule.tempfail);
        CHECK(tmpl.lines.size() == rule.text.size());
    }
}
