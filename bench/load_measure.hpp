// milter-load's measurements: the filter process as /proc shows it (CPU,
// RSS, peak RSS, threads), the decisions the filter logged, latency
// samples per stage with their percentiles, and the session outcome
// counts. Header-only; used by milter_load.cpp alone.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace milter_load {

using Clock = std::chrono::steady_clock;

// ------------------------------------------------------ filter process

struct ProcessSample {
    double cpu_seconds = 0;
    long rss_kib = 0;
    long peak_kib = 0;
    long threads = 0;
    bool valid = false;
};

inline ProcessSample sample_process(pid_t pid) {
    ProcessSample sample;
    if (pid <= 0)
        return sample;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line))
        return sample;
    const auto close = line.rfind(')');
    if (close == std::string::npos)
        return sample;
    std::istringstream fields(line.substr(close + 2));
    std::vector<std::string> values;
    std::string field;
    while (fields >> field)
        values.push_back(field);
    // values[0] is field 3 (state); utime and stime are fields 14 and 15.
    if (values.size() < 13)
        return sample;
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    sample.cpu_seconds = (std::stod(values[11]) + std::stod(values[12])) / ticks;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0)
            sample.rss_kib = std::stol(line.substr(6));
        else if (line.rfind("VmHWM:", 0) == 0)
            sample.peak_kib = std::stol(line.substr(6));
        else if (line.rfind("Threads:", 0) == 0)
            sample.threads = std::stol(line.substr(8));
    }
    sample.valid = true;
    return sample;
}

inline void reset_peak(pid_t pid) {
    if (pid <= 0)
        return;
    std::ofstream clear("/proc/" + std::to_string(pid) + "/clear_refs");
    clear << "5\n";
}

struct LogCounts {
    long continue_ = 0, reject = 0, tempfail = 0;
};

inline long file_size(const std::string &path) {
    std::ifstream file(path, std::ios::ate | std::ios::binary);
    return file ? static_cast<long>(file.tellg()) : 0;
}

inline LogCounts count_log(const std::string &path, long from) {
    LogCounts counts;
    std::ifstream file(path, std::ios::binary);
    file.seekg(from);
    std::string line;
    while (std::getline(file, line)) {
        if (line.find(" rcpt=\"<") == std::string::npos)
            continue;
        if (line.find(" action=continue") != std::string::npos)
            ++counts.continue_;
        else if (line.find(" action=reject") != std::string::npos)
            ++counts.reject;
        else if (line.find(" action=tempfail") != std::string::npos)
            ++counts.tempfail;
    }
    return counts;
}

// --------------------------------------------------------------- stats

enum Stage {
    open_stage,
    connect_stage,
    helo_stage,
    mail_stage,
    rcpt_stage,
    message_stage,
    decision_stage,
    session_stage,
    stage_count
};
inline const char *const stage_names[stage_count] = {"open", "connect", "helo",     "mail",
                                                     "rcpt", "message", "decision", "session"};

struct Samples {
    std::vector<std::uint32_t> micros[stage_count];
    void add(Stage stage, Clock::duration elapsed) {
        micros[stage].push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()));
    }
};

struct Percentiles {
    double p50 = 0, p99 = 0, max = 0; // milliseconds
    std::size_t count = 0;
};

inline Percentiles percentiles(std::vector<std::uint32_t> values) {
    Percentiles result;
    result.count = values.size();
    if (values.empty())
        return result;
    std::sort(values.begin(), values.end());
    auto at = [&](double q) {
        const auto index =
            static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
        return values[std::min(index, values.size() - 1)] / 1000.0;
    };
    result.p50 = at(0.50);
    result.p99 = at(0.99);
    result.max = values.back() / 1000.0;
    return result;
}

struct Counts {
    long sessions = 0;   // finished, whatever the outcome
    long accepted = 0;   // at least one recipient accepted and the message accepted
    long rejected = 0;   // refused with a 5xx at some stage, nothing accepted
    long tempfailed = 0; // refused with a 4xx at some stage, nothing accepted
    long errors = 0;     // protocol errors, resets, timeouts
    long rcpt_continue = 0, rcpt_reject = 0, rcpt_tempfail = 0;
    long connect_retries = 0;
    std::map<std::string, long> error_kinds;
};

} // namespace milter_load
