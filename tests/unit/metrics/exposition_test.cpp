// The Prometheus text format the registry writes (version 0.0.4): HELP
// and TYPE lines, label escaping, cumulative histogram buckets, the
// fixed label lists with "other", and metrics.listen's address syntax.
#include "metrics/exposition.hpp"
#include "metrics/listen_address.hpp"
#include "metrics/registry.hpp"

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using namespace portcullis::metrics;

namespace {

bool has_line(const std::string &text, std::string_view line) {
    std::istringstream in(text);
    for (std::string got; std::getline(in, got);)
        if (got == line)
            return true;
    return false;
}

} // namespace

TEST_CASE("label values are escaped as the text format wants") {
    CHECK(escape_label_value("plain") == "plain");
    CHECK(escape_label_value("a\"b") == "a\\\"b");
    CHECK(escape_label_value("a\\b") == "a\\\\b");
    CHECK(escape_label_value("a\nb") == "a\\nb");
}

TEST_CASE("a family has its HELP and TYPE lines, then its samples") {
    TextWriter out;
    out.family("x_total", "counter", "Things.\nMore \\ things.");
    out.sample("x_total", {{"rule", "r\"1"}, {"action", "reject"}}, std::uint64_t{7});
    out.sample("x_total", {}, std::uint64_t{0});
    CHECK(out.text() == "# HELP x_total Things.\\nMore \\\\ things.\n"
                        "# TYPE x_total counter\n"
                        "x_total{rule=\"r\\\"1\",action=\"reject\"} 7\n"
                        "x_total 0\n");
}

TEST_CASE("histogram buckets are cumulative, +Inf equals the count") {
    Histogram histogram;
    histogram.observe_microseconds(100);     // 0.0001 s: first bucket
    histogram.observe_microseconds(500);     // exactly on the 0.0005 bound: le is inclusive
    histogram.observe_microseconds(30000);   // 0.03 s: the 0.05 bucket
    histogram.observe_microseconds(9000000); // 9 s: only +Inf
    TextWriter out;
    out.histogram("d_seconds", {{"type", "A"}}, histogram);
    const auto &text = out.text();
    CHECK(has_line(text, "d_seconds_bucket{type=\"A\",le=\"0.0005\"} 2"));
    CHECK(has_line(text, "d_seconds_bucket{type=\"A\",le=\"0.025\"} 2"));
    CHECK(has_line(text, "d_seconds_bucket{type=\"A\",le=\"0.05\"} 3"));
    CHECK(has_line(text, "d_seconds_bucket{type=\"A\",le=\"2.5\"} 3"));
    CHECK(has_line(text, "d_seconds_bucket{type=\"A\",le=\"+Inf\"} 4"));
    CHECK(has_line(text, "d_seconds_count{type=\"A\"} 4"));
    CHECK(has_line(text, "d_seconds_sum{type=\"A\"} 9.0306"));
}

TEST_CASE("the registry renders every family with its counts") {
    Registry registry;
    const std::vector<std::string_view> rules = {"rdns-missing", "dnsbl-listed", "rdns-missing"};
    CHECK(registry.register_rules(rules));
    CHECK_FALSE(registry.register_rules(rules)); // the first call wins
    registry.count_session();
    registry.count_session();
    registry.count_verdict("rdns-missing", "reject");
    registry.count_verdict("rdns-missing", "reject");
    registry.count_verdict("dnsbl-listed", "log");
    registry.count_verdict("none", "continue");
    registry.count_verdict("made-up", "reject");           // not registered: other
    registry.count_verdict("dnsbl-listed", "explode\n\""); // not an action: other
    registry.count_dns_lookup("PTR", "nxdomain", 1500);
    registry.count_dns_lookup("SRV", "weird", 10); // neither known: other/other
    registry.count_answer_cache(true);
    registry.count_answer_cache(false);
    registry.count_answer_cache(false);
    registry.count_spf_result("mailfrom", "softfail");
    registry.count_reload(true);
    registry.count_reload(false);
    registry.count_reload(false);
    registry.count_log_lines_dropped(5);

    auto text = registry.render();
    CHECK(has_line(text, "# TYPE portcullis_sessions_total counter"));
    CHECK(has_line(text, "portcullis_sessions_total 2"));
    CHECK(has_line(text, "portcullis_verdicts_total{rule=\"rdns-missing\",action=\"reject\"} 2"));
    CHECK(has_line(text, "portcullis_verdicts_total{rule=\"dnsbl-listed\",action=\"log\"} 1"));
    CHECK(has_line(text, "portcullis_verdicts_total{rule=\"none\",action=\"continue\"} 1"));
    CHECK(has_line(text, "portcullis_verdicts_total{rule=\"other\",action=\"reject\"} 1"));
    CHECK(has_line(text, "portcullis_verdicts_total{rule=\"dnsbl-listed\",action=\"other\"} 1"));
    CHECK(has_line(text, "portcullis_dns_lookups_total{type=\"PTR\",outcome=\"nxdomain\"} 1"));
    CHECK(has_line(text, "portcullis_dns_lookups_total{type=\"other\",outcome=\"other\"} 1"));
    CHECK(has_line(text, "# TYPE portcullis_dns_lookup_duration_seconds histogram"));
    CHECK(has_line(text,
                   "portcullis_dns_lookup_duration_seconds_bucket{type=\"PTR\",le=\"0.001\"} 0"));
    CHECK(has_line(text,
                   "portcullis_dns_lookup_duration_seconds_bucket{type=\"PTR\",le=\"0.0025\"} 1"));
    CHECK(has_line(text, "portcullis_dns_lookup_duration_seconds_count{type=\"PTR\"} 1"));
    CHECK(has_line(text, "portcullis_answer_cache_hits_total 1"));
    CHECK(has_line(text, "portcullis_answer_cache_misses_total 2"));
    CHECK(has_line(text,
                   "portcullis_spf_results_total{identity=\"mailfrom\",result=\"softfail\"} 1"));
    CHECK(has_line(text, "portcullis_reloads_total{result=\"ok\"} 1"));
    CHECK(has_line(text, "portcullis_reloads_total{result=\"failed\"} 2"));
    CHECK(has_line(text, "portcullis_log_lines_dropped_total 5"));
    // No store yet: its families are absent; a store brings them.
    CHECK(text.find("portcullis_state_store") == std::string::npos);
    registry.enable_store();
    registry.count_store_call("get", "");
    registry.count_store_call("put", "timeout");
    text = registry.render();
    CHECK(has_line(text, "portcullis_state_store_calls_total{operation=\"get\"} 1"));
    CHECK(has_line(text, "portcullis_state_store_calls_total{operation=\"put\"} 1"));
    CHECK(has_line(text,
                   "portcullis_state_store_errors_total{operation=\"put\",status=\"timeout\"} 1"));
    // Every line is a comment or a sample "name[{labels}] value".
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        CAPTURE(line);
        CHECK_FALSE(line.empty());
        if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0)
            continue;
        CHECK(line.rfind("portcullis_", 0) == 0);
        CHECK(line.find(' ') != std::string::npos);
    }
    CHECK(text.back() == '\n');
}

TEST_CASE("metrics.listen takes IPv4:PORT and [IPv6]:PORT only") {
    struct Case {
        std::string_view text;
        bool valid;
        bool ipv6;
    };
    const Case cases[] = {
        {"127.0.0.1:9781", true, false},  {"[::1]:9781", true, true},
        {"0.0.0.0:1", true, false},       {"[2001:db8::1]:65535", true, true},
        {"127.0.0.1", false, false},      {"127.0.0.1:", false, false},
        {"127.0.0.1:0", false, false},    {"127.0.0.1:65536", false, false},
        {"127.0.0.1:97x", false, false},  {"::1:9781", false, false},
        {"[::1", false, false},           {"[127.0.0.1]:9781", false, false},
        {"localhost:9781", false, false}, {"[fe80::1%eth0]:9781", false, false},
        {":9781", false, false},          {"", false, false},
    };
    for (const auto &c : cases) {
        CAPTURE(c.text);
        std::string error;
        const auto address = parse_listen_address(c.text, error);
        CHECK(address.has_value() == c.valid);
        if (address)
            CHECK(address->ipv6 == c.ipv6);
        else
            CHECK_FALSE(error.empty());
    }
}
