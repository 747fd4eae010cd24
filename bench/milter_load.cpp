// milter-load: plays the MTA side of the milter protocol against one or
// more filters and measures them in the same run.
//
// Each session: open the socket and negotiate (OPTNEG), connect with a
// client address drawn from a pool of K, HELO, MAIL, R recipients, then,
// if a recipient was accepted, the message (DATA, headers, end of
// headers, body, end of message) as far as the filter negotiated it, and
// QUIT. Commands and their macros go out in one write, as Postfix does.
// N sessions run concurrently in one epoll loop (one thread, so the
// driver costs as little CPU as possible on a small machine).
//
// Reported per filter: sessions per second, latency per stage (p50, p99,
// max), the connect-to-first-RCPT decision time, the filter's CPU time
// per session (from /proc/PID/stat) and its peak RSS (VmHWM, reset
// through /proc/PID/clear_refs before each measured phase), the replies
// per recipient (continue / reject / tempfail) and errors. With
// log=FILE the decisions the filter logged during the phase
// ("action=continue|reject|tempfail" lines) are counted and compared
// with the driver's own counts: a rejected session is a rejection, not
// an error.
//
// --hold opens every session up to its last RCPT, keeps them all open at
// once, samples the filter's memory, and only then finishes them.
//
// Output: a human-readable report on stdout, and with --json FILE the
// same figures as JSON for scripts/bench. Exit status 0 when no session
// failed and every log count agreed, 1 otherwise, 64 on bad usage.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "load_measure.hpp"
#include "load_options.hpp"
#include "load_phase.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace milter_load;

// ------------------------------------------------------------- report

struct Result {
    std::string target;
    double seconds = 0;
    double sessions_per_second = 0;
    double cpu_per_session_us = 0;
    long peak_kib = 0;
    long rss_before_kib = 0;
    long hold_rss_kib = 0;
    long hold_threads = 0;
    Counts counts;
    Samples samples;
    bool log_checked = false;
    LogCounts logged;
};

std::string json_escape(const std::string &text) {
    std::string out;
    for (char c : text) {
        if (c == '"' || c == '\\')
            out += '\\';
        if (static_cast<unsigned char>(c) < 0x20)
            continue;
        out += c;
    }
    return out;
}

Result measure(const Options &options, const Target &target, unsigned round, unsigned targets_count,
               unsigned target_index) {
    // Cold runs: every (round, target) its own never-seen clients.
    unsigned offset = options.client_offset;
    if (options.fresh_clients)
        offset += (round * targets_count + target_index) * options.sessions;
    Phase phase(options, target, options.sessions, offset, true);
    const auto before = sample_process(target.pid);
    reset_peak(target.pid);
    const long log_from = target.log.empty() ? 0 : file_size(target.log);
    const auto start = Clock::now();
    phase.run();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const auto after = sample_process(target.pid);

    Result result;
    result.target = target.name;
    result.seconds = seconds;
    result.counts = phase.counts;
    result.samples = std::move(phase.samples);
    result.sessions_per_second = static_cast<double>(phase.counts.sessions) / seconds;
    if (before.valid && after.valid) {
        result.cpu_per_session_us =
            (after.cpu_seconds - before.cpu_seconds) * 1e6 / static_cast<double>(options.sessions);
        result.peak_kib = after.peak_kib;
        result.rss_before_kib = before.rss_kib;
    }
    if (options.hold && phase.at_hold.valid) {
        result.hold_rss_kib = phase.at_hold.rss_kib;
        result.hold_threads = phase.at_hold.threads;
    }
    if (!target.log.empty()) {
        result.log_checked = true;
        result.logged = count_log(target.log, log_from);
    }
    return result;
}

void print(const Result &result, const Options &options) {
    const auto &c = result.counts;
    std::printf("%s: %ld sessions in %.2f s = %.0f sessions/s; filter CPU %.0f us/session; "
                "peak RSS %ld KiB\n",
                result.target.c_str(), c.sessions, result.seconds, result.sessions_per_second,
                result.cpu_per_session_us, result.peak_kib);
    std::printf("  outcome: accepted %ld, rejected %ld, tempfailed %ld, errors %ld; "
                "rcpt replies: continue %ld, reject %ld, tempfail %ld\n",
                c.accepted, c.rejected, c.tempfailed, c.errors, c.rcpt_continue, c.rcpt_reject,
                c.rcpt_tempfail);
    for (const auto &[kind, count] : c.error_kinds)
        std::printf("  error: %s x%ld\n", kind.c_str(), count);
    if (options.hold)
        std::printf("  held %u sessions at once: filter RSS %ld KiB (before %ld KiB, +%.1f KiB "
                    "per session), %ld threads\n",
                    options.sessions, result.hold_rss_kib, result.rss_before_kib,
                    static_cast<double>(result.hold_rss_kib - result.rss_before_kib) /
                        options.sessions,
                    result.hold_threads);
    for (int stage = 0; stage < stage_count; ++stage) {
        const auto p = percentiles(result.samples.micros[stage]);
        if (p.count)
            std::printf("  %-9s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  (n=%zu)\n",
                        stage_names[stage], p.p50, p.p99, p.max, p.count);
    }
    if (result.log_checked) {
        const auto &l = result.logged;
        const bool agree = l.continue_ == c.rcpt_continue && l.reject == c.rcpt_reject &&
                           l.tempfail == c.rcpt_tempfail;
        std::printf("  filter log: continue %ld, reject %ld, tempfail %ld: %s\n", l.continue_,
                    l.reject, l.tempfail, agree ? "agrees" : "DISAGREES");
    }
}

bool log_agrees(const Result &result) {
    if (!result.log_checked)
        return true;
    const auto &c = result.counts;
    const auto &l = result.logged;
    return l.continue_ == c.rcpt_continue && l.reject == c.rcpt_reject &&
           l.tempfail == c.rcpt_tempfail;
}

void write_json(const Options &options, const std::vector<std::vector<Result>> &rounds) {
    std::ofstream out(options.json);
    out << "{\"sessions\":" << options.sessions << ",\"rate\":" << options.rate
        << ",\"concurrency\":" << options.concurrency << ",\"rcpts\":" << options.recipients
        << ",\"hold\":" << (options.hold ? "true" : "false") << ",\"rounds\":[";
    for (std::size_t r = 0; r < rounds.size(); ++r) {
        out << (r ? "," : "") << "[";
        for (std::size_t t = 0; t < rounds[r].size(); ++t) {
            const auto &result = rounds[r][t];
            const auto &c = result.counts;
            out << (t ? "," : "") << "{\"target\":\"" << json_escape(result.target) << "\""
                << ",\"seconds\":" << result.seconds
                << ",\"sessions_per_second\":" << result.sessions_per_second
                << ",\"cpu_per_session_us\":" << result.cpu_per_session_us
                << ",\"peak_kib\":" << result.peak_kib
                << ",\"rss_before_kib\":" << result.rss_before_kib
                << ",\"hold_rss_kib\":" << result.hold_rss_kib
                << ",\"hold_threads\":" << result.hold_threads
                << ",\"sessions_done\":" << c.sessions << ",\"accepted\":" << c.accepted
                << ",\"rejected\":" << c.rejected << ",\"tempfailed\":" << c.tempfailed
                << ",\"errors\":" << c.errors << ",\"rcpt_continue\":" << c.rcpt_continue
                << ",\"rcpt_reject\":" << c.rcpt_reject << ",\"rcpt_tempfail\":" << c.rcpt_tempfail
                << ",\"connect_retries\":" << c.connect_retries;
            if (result.log_checked)
                out << ",\"log\":{\"continue\":" << result.logged.continue_
                    << ",\"reject\":" << result.logged.reject
                    << ",\"tempfail\":" << result.logged.tempfail
                    << ",\"agrees\":" << (log_agrees(result) ? "true" : "false") << "}";
            out << ",\"stages\":{";
            bool first = true;
            for (int stage = 0; stage < stage_count; ++stage) {
                const auto p = percentiles(result.samples.micros[stage]);
                if (!p.count)
                    continue;
                out << (first ? "" : ",") << "\"" << stage_names[stage] << "\":{\"p50\":" << p.p50
                    << ",\"p99\":" << p.p99 << ",\"max\":" << p.max << ",\"n\":" << p.count << "}";
                first = false;
            }
            out << "}}";
        }
        out << "]";
    }
    out << "]}\n";
}

void raise_file_limit() {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    rlim_t want = 1 << 20;
    if (setrlimit(RLIMIT_NOFILE, &(limit = {want, want})) != 0) {
        getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

} // namespace

int main(int argc, char **argv) {
    const Options options = parse_options(argc, argv);
    raise_file_limit();
    bool ok = true;
    if (options.warmup > 0) {
        for (const auto &target : options.targets) {
            Phase warm(options, target, options.warmup, options.client_offset, false);
            warm.run();
            if (warm.counts.errors > 0) {
                std::printf("%s: warm-up had %ld errors\n", target.name.c_str(),
                            warm.counts.errors);
                for (const auto &[kind, count] : warm.counts.error_kinds)
                    std::printf("  error: %s x%ld\n", kind.c_str(), count);
                ok = false;
            }
        }
    }
    std::vector<std::vector<Result>> rounds;
    for (unsigned round = 0; round < options.rounds; ++round) {
        std::vector<Result> results;
        for (std::size_t t = 0; t < options.targets.size(); ++t) {
            // Alternate the order so neither target always runs first.
            const std::size_t index = (round % 2 == 0) ? t : options.targets.size() - 1 - t;
            results.push_back(measure(options, options.targets[index], round,
                                      static_cast<unsigned>(options.targets.size()),
                                      static_cast<unsigned>(index)));
        }
        std::sort(results.begin(), results.end(), [&](const Result &a, const Result &b) {
            auto rank = [&](const Result &r) {
                for (std::size_t i = 0; i < options.targets.size(); ++i)
                    if (options.targets[i].name == r.target)
                        return i;
                return options.targets.size();
            };
            return rank(a) < rank(b);
        });
        if (options.rounds > 1)
            std::printf("round %u\n", round + 1);
        for (const auto &result : results) {
            print(result, options);
            ok = ok && result.counts.errors == 0 && log_agrees(result);
        }
        rounds.push_back(std::move(results));
    }
    if (!options.json.empty())
        write_json(options, rounds);
    return ok ? 0 : 1;
}
