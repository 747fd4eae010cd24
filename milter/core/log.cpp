#include "log.hpp"

#include "metrics/registry.hpp"

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace portcullis {

namespace {

// Where lines go, guarded by output_mutex: only the writer thread (or,
// without a queue, the caller) holds it while a line is written.
std::mutex output_mutex;
LogSettings settings;

struct Line {
    int priority;
    std::string text;
};

// The queue in front of the output when settings.queue_lines > 0. Its
// mutex is held only to push or to take a batch, never while writing.
struct Queue {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<Line> lines;
    std::size_t capacity = 0; // 0: no writer, callers write themselves
    std::size_t dropped = 0;
    bool stopping = false;
    std::thread writer;

    // A writer still running at exit would end the program: drain it.
    ~Queue() { stop(); }
    void start(std::size_t lines);
    void stop();
    void run();
};
Queue queue;

int facility_code(std::string_view name) {
    if (name == "daemon")
        return LOG_DAEMON;
    if (name == "local0")
        return LOG_LOCAL0;
    if (name == "local1")
        return LOG_LOCAL1;
    if (name == "local2")
        return LOG_LOCAL2;
    if (name == "local3")
        return LOG_LOCAL3;
    if (name == "local4")
        return LOG_LOCAL4;
    if (name == "local5")
        return LOG_LOCAL5;
    if (name == "local6")
        return LOG_LOCAL6;
    if (name == "local7")
        return LOG_LOCAL7;
    return LOG_MAIL;
}

void write_line(int priority, std::string_view text) {
    std::lock_guard lock(output_mutex);
    if (settings.sink) {
        settings.sink(priority, text);
        return;
    }
    if (settings.to_syslog)
        syslog(priority, "%.*s", static_cast<int>(text.size()), text.data());
    if (settings.to_stderr) {
        std::fprintf(stderr, "portcullis: %.*s\n", static_cast<int>(text.size()), text.data());
        std::fflush(stderr);
    }
}

void Queue::start(std::size_t lines) {
    std::lock_guard lock(mutex);
    capacity = lines;
    stopping = false;
    // The writer takes no signal: the daemon waits for its signals in
    // sigwait(), and one delivered to this thread would end the process.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    writer = std::thread([this] { run(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void Queue::stop() {
    {
        std::lock_guard lock(mutex);
        if (!writer.joinable())
            return;
        stopping = true;
    }
    changed.notify_all();
    writer.join();
    std::lock_guard lock(mutex);
    capacity = 0;
}

void Queue::run() {
    std::unique_lock lock(mutex);
    for (;;) {
        changed.wait(lock, [this] { return stopping || !lines.empty() || dropped > 0; });
        if (lines.empty() && dropped == 0)
            return; // stopping, and everything written
        std::deque<Line> batch;
        batch.swap(lines);
        const std::size_t lost = std::exchange(dropped, 0);
        lock.unlock();
        for (const auto &line : batch)
            write_line(line.priority, line.text);
        if (lost > 0)
            write_line(LOG_WARNING,
                       "log lines dropped (the log queue was full): " + std::to_string(lost));
        lock.lock();
    }
}

} // namespace

void configure_logging(const LogSettings &new_settings) {
    queue.stop(); // what was queued is written with the old settings
    {
        std::lock_guard lock(output_mutex);
        settings = new_settings;
        if (settings.to_syslog && !settings.sink)
            openlog("portcullis", LOG_PID | LOG_NDELAY, facility_code(settings.facility));
    }
    if (new_settings.queue_lines > 0)
        queue.start(new_settings.queue_lines);
}

void log_message(int priority, std::string_view text) {
    {
        std::unique_lock lock(queue.mutex);
        if (queue.capacity > 0) {
            if (queue.lines.size() >= queue.capacity) {
                ++queue.dropped;
                metrics::global().count_log_lines_dropped(1);
            } else
                queue.lines.push_back({priority, std::string(text)});
            lock.unlock();
            queue.changed.notify_one();
            return;
        }
    }
    write_line(priority, text);
}

std::string log_safe(std::string_view text, std::size_t limit) {
    std::string out;
    out.reserve(std::min(text.size(), limit));
    for (char c : text) {
        if (out.size() >= limit) {
            out += "...";
            break;
        }
        const auto byte = static_cast<unsigned char>(c);
        out += (byte >= 0x20 && byte < 0x7f) ? c : '?';
    }
    return out;
}

std::string log_quoted(std::string_view text, std::size_t limit) {
    std::string out;
    for (char c : log_safe(text, limit)) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out;
}

} // namespace portcullis
