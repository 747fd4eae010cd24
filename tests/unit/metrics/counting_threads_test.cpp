// Counting from many threads at once loses nothing and takes no lock:
// sessions' threads and the resolver's count into one registry while a
// scraper renders it. In the "threads" suite, so that scripts/test runs
// it under ThreadSanitizer.
#include "metrics/registry.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace portcullis::metrics;

TEST_CASE("counts from several threads add up while a scraper reads" *
          doctest::test_suite("threads")) {
    Registry registry;
    const std::vector<std::string_view> rules = {"rdns-missing", "spf-fail"};
    registry.register_rules(rules);
    registry.enable_store();
    constexpr int threads = 4;
    constexpr int rounds = 20000;
    std::atomic<bool> done{false};
    std::size_t scrapes = 0;
    std::thread scraper([&] {
        while (!done.load()) {
            const auto text = registry.render();
            REQUIRE(text.find("portcullis_sessions_total ") != std::string::npos);
            ++scrapes;
        }
    });
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&registry, t] {
            for (int i = 0; i < rounds; ++i) {
                registry.count_session();
                registry.count_verdict(i % 2 ? "rdns-missing" : "spf-fail",
                                       t % 2 ? "reject" : "log");
                registry.count_dns_lookup("A", "ok", static_cast<std::uint64_t>(i % 3000));
                registry.count_answer_cache(i % 4 == 0);
                registry.count_spf_result("helo", "pass");
                registry.count_store_call("count_event", i % 10 == 0 ? "unavailable" : "");
            }
        });
    for (auto &worker : workers)
        worker.join();
    done = true;
    scraper.join();
    CHECK(scrapes > 0);

    const auto text = registry.render();
    const std::string all = std::to_string(threads * rounds);
    const std::string quarter = std::to_string(threads * rounds / 4);
    auto has = [&](const std::string &line) { return text.find(line + "\n") != std::string::npos; };
    CHECK(has("portcullis_sessions_total " + all));
    // Threads 1 and 3 reject, 0 and 2 log; each alternates the two rules.
    CHECK(has("portcullis_verdicts_total{rule=\"rdns-missing\",action=\"reject\"} " + quarter));
    CHECK(has("portcullis_verdicts_total{rule=\"spf-fail\",action=\"reject\"} " + quarter));
    CHECK(has("portcullis_verdicts_total{rule=\"rdns-missing\",action=\"log\"} " + quarter));
    CHECK(has("portcullis_verdicts_total{rule=\"spf-fail\",action=\"log\"} " + quarter));
    CHECK(has("portcullis_dns_lookups_total{type=\"A\",outcome=\"ok\"} " + all));
    CHECK(has("portcullis_dns_lookup_duration_seconds_count{type=\"A\"} " + all));
    CHECK(has("portcullis_dns_lookup_duration_seconds_bucket{type=\"A\",le=\"+Inf\"} " + all));
    CHECK(has("portcullis_answer_cache_hits_total " + std::to_string(threads * rounds / 4)));
    CHECK(has("portcullis_answer_cache_misses_total " +
              std::to_string(threads * rounds - threads * rounds / 4)));
    CHECK(has("portcullis_spf_results_total{identity=\"helo\",result=\"pass\"} " + all));
    CHECK(has("portcullis_state_store_calls_total{operation=\"count_event\"} " + all));
    CHECK(has(
        "portcullis_state_store_errors_total{operation=\"count_event\",status=\"unavailable\"} " +
        std::to_string(threads * rounds / 10)));
}
