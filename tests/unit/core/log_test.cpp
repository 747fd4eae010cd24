// Logging: a stalled syslog must not stall the callers, and values in
// key="..." fields are escaped.
#include "core/log.hpp"

#include <doctest/doctest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <vector>

using namespace portcullis;

TEST_CASE("log_quoted escapes quotes and backslashes, and is printable") {
    CHECK(log_quoted("plain") == "plain");
    CHECK(log_quoted("say \"hi\"") == "say \\\"hi\\\"");
    CHECK(log_quoted("a\\b") == "a\\\\b");
    CHECK(log_quoted(std::string("bell\a\r\n", 7)) == "bell???");
    CHECK(log_quoted(std::string(300, '"'), 10).size() == 10 * 2 + 3); // cut, then escaped
}

TEST_CASE("defect: a stalled syslog stalls every DNS answer" * doctest::test_suite("threads")) {
    // The sink blocks until released: a syslog that stopped reading.
    std::mutex mutex;
    std::condition_variable released;
    bool release = false;
    std::vector<std::string> written;
    LogSettings stalled;
    stalled.to_syslog = false;
    stalled.queue_lines = 16;
    stalled.sink = [&](int, std::string_view line) {
        std::unique_lock lock(mutex);
        written.emplace_back(line);
        released.wait(lock, [&] { return release; });
    };
    configure_logging(stalled);
    log_warning("first"); // reaches the sink, which stalls
    // A resolver thread logging DNS errors meanwhile must not wait.
    auto resolver_thread = std::async(std::launch::async, [] {
        for (int i = 0; i < 1000; ++i)
            log_warning("dns-error " + std::to_string(i));
    });
    const bool returned =
        resolver_thread.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    CHECK(returned);
    {
        std::lock_guard lock(mutex);
        release = true;
    }
    released.notify_all();
    resolver_thread.wait();
    configure_logging(LogSettings{}); // drains the queue first

    REQUIRE_FALSE(written.empty());
    std::size_t delivered = 0;
    std::size_t dropped = 0;
    for (const auto &line : written) {
        if (line.starts_with("dns-error "))
            ++delivered;
        else if (line.find("log lines dropped") != std::string::npos)
            dropped += std::stoul(line.substr(line.find(": ") + 2));
    }
    CAPTURE(written.back());
    // The writer takes the whole queue as one batch: the batch that held
    // "first" may hold up to 15 more lines, and the queue refills to 16
    // behind it while the sink stalls. Nothing beyond that is kept.
    CHECK(delivered <= 2 * 16 - 1);
    CHECK(delivered + dropped == 1000); // every line is written or counted
}
