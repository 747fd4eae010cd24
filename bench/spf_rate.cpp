// spf-rate: SPF evaluations per second with a warm cache, through
// portcullis' own path (the Runtime's resolver: the shared answer cache in
// front of libunbound, as in the milter), and through the evaluator alone
// (answers replayed from memory). Driven by bench/spf_bench.py, which
// serves the RFC 7208 suite's scenarios and runs libspf2's spfquery on the
// same queries.
//
//   spf-rate CONFIG QUERIES SECONDS
//
// QUERIES: one query per line, "ID<TAB>IP<TAB>MAIL-FROM<TAB>HELO" (MAIL-FROM
// may be empty: the null sender, checked as postmaster@HELO).
//
// 1. Warm-up: every query once, in order, through the Runtime's resolver,
//    recording every answer. A query any of whose answers was a DNS error
//    (a suite TIMEOUT name) is left out of the timed runs: a timeout
//    measures the resolver's patience, not SPF.
// 2. live: the kept queries, round after round, one evaluation at a time,
//    through the Runtime's resolver, for at least SECONDS.
// 3. memory: the same over the recorded answers, handed out synchronously.
//    Each result must equal the warm-up's.
//
// Prints one JSON object: per-query results of the warm-up, which were
// kept, and for live and memory the evaluations, the wall and CPU seconds.
// Exit 1 on a replay that changed a result or on a bad input line.
#include "checks/spf_identity.hpp"
#include "core/address.hpp"
#include "core/config.hpp"
#include "core/dns.hpp"
#include "core/log.hpp"
#include "resolver/unbound_resolver.hpp"
#include "session/runtime.hpp"
#include "spf/spf.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace portcullis;

namespace {

struct Query {
    std::string id;
    SpfRequest request;
};

using AnswerKey = std::pair<std::string, DnsType>;
using AnswerMap = std::map<AnswerKey, DnsAnswer>;

// Passes lookups through, keeping a copy of every answer and noting
// whether any was a DNS error.
class RecordingResolver final : public Resolver {
  public:
    RecordingResolver(std::shared_ptr<Resolver> inner, std::shared_ptr<AnswerMap> answers,
                      std::shared_ptr<std::mutex> mutex)
        : inner_(std::move(inner)), answers_(std::move(answers)), mutex_(std::move(mutex)) {}

    void resolve(const std::string &name, DnsType type, Callback done) override {
        inner_->resolve(
            name, type,
            [this, key = AnswerKey(name, type), done = std::move(done)](DnsAnswer answer) {
                {
                    std::lock_guard lock(*mutex_);
                    if (answer.is_error())
                        saw_error_ = true;
                    (*answers_)[key] = answer;
                }
                done(std::move(answer));
            });
    }

    bool saw_error() const {
        std::lock_guard lock(*mutex_);
        return saw_error_;
    }

  private:
    std::shared_ptr<Resolver> inner_;
    std::shared_ptr<AnswerMap> answers_;
    std::shared_ptr<std::mutex> mutex_;
    bool saw_error_ = false;
};

// Answers from memory, synchronously; a name never recorded is a SERVFAIL
// (which would change a result, and the replay check would say so).
class MemoryResolver final : public Resolver {
  public:
    explicit MemoryResolver(std::shared_ptr<const AnswerMap> answers)
        : answers_(std::move(answers)) {}

    void resolve(const std::string &name, DnsType type, Callback done) override {
        const auto found = answers_->find(AnswerKey(name, type));
        if (found == answers_->end()) {
            DnsAnswer missing;
            missing.status = DnsAnswer::Status::servfail;
            missing.why = "not recorded during the warm-up";
            done(std::move(missing));
            return;
        }
        done(found->second);
    }

  private:
    std::shared_ptr<const AnswerMap> answers_;
};

std::vector<std::string> split_tabs(const std::string &line) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream in(line);
    while (std::getline(in, field, '\t'))
        fields.push_back(field);
    if (!line.empty() && line.back() == '\t')
        fields.emplace_back();
    return fields;
}

bool read_queries(const std::string &file, const std::string &receiver, std::vector<Query> &out) {
    std::ifstream in(file);
    if (!in) {
        std::cerr << "spf-rate: cannot read " << file << "\n";
        return false;
    }
    std::string line;
    unsigned number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (line.empty())
            continue;
        const auto fields = split_tabs(line);
        const auto client = fields.size() == 4 ? IpAddress::parse(fields[1]) : std::nullopt;
        if (!client) {
            std::cerr << file << ":" << number << ": expected ID, IP, MAIL-FROM, HELO\n";
            return false;
        }
        out.push_back({fields[0], spf_mail_from_request(*client, fields[2], fields[3], receiver)});
    }
    return true;
}

double cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

struct Timed {
    unsigned long evaluations = 0;
    unsigned rounds = 0;
    double seconds = 0;
    double cpu = 0;
    unsigned changed = 0; // results that differ from the warm-up's
};

// Rounds over `kept` until `seconds` have passed (whole rounds only).
Timed timed_rounds(const std::shared_ptr<Resolver> &resolver, const std::vector<Query> &queries,
                   const std::vector<std::size_t> &kept,
                   const std::vector<SpfResult::Code> &expected, const SpfOptions &options,
                   std::chrono::milliseconds budget, double seconds) {
    using Clock = std::chrono::steady_clock;
    Timed timed;
    const auto start = Clock::now();
    const double cpu_start = cpu_seconds();
    while (timed.rounds == 0 ||
           std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
        for (const auto index : kept) {
            const auto result =
                spf_check_host_blocking(resolver, queries[index].request, options, budget);
            if (result.result != expected[index])
                ++timed.changed;
            ++timed.evaluations;
        }
        ++timed.rounds;
    }
    timed.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    timed.cpu = cpu_seconds() - cpu_start;
    return timed;
}

nlohmann::json to_json(const Timed &timed) {
    return {{"evaluations", timed.evaluations},
            {"rounds", timed.rounds},
            {"seconds", timed.seconds},
            {"cpu_seconds", timed.cpu},
            {"changed_results", timed.changed}};
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 4) {
        std::cerr << "usage: spf-rate CONFIG QUERIES SECONDS\n";
        return 2;
    }
    LogSettings logging;
    logging.to_syslog = false;
    logging.to_stderr = false;
    configure_logging(logging);

    auto loaded = load_config(argv[1]);
    for (const auto &error : loaded.errors)
        std::cerr << error.to_string() << "\n";
    if (!loaded.config)
        return 1;
    std::vector<ConfigError> errors;
    std::shared_ptr<Resolver> resolver;
    try {
        resolver = std::make_shared<UnboundResolver>(loaded.config->resolver);
    } catch (const std::exception &error) {
        std::cerr << "resolver: " << error.what() << "\n";
        return 1;
    }
    const auto runtime = Runtime::build(std::move(*loaded.config), errors, std::move(resolver));
    for (const auto &error : errors)
        std::cerr << error.to_string() << "\n";
    if (!runtime)
        return 1;
    const Config &config = *runtime->config;
    const SpfOptions options = spf_options(config);
    const auto budget = config.resolver.stage_budget;
    const double seconds = std::stod(argv[3]);

    std::vector<Query> queries;
    if (!read_queries(argv[2], config.spf.receiver, queries))
        return 1;

    // 1. Warm-up, recording the answers.
    auto answers = std::make_shared<AnswerMap>();
    auto answers_mutex = std::make_shared<std::mutex>();
    std::vector<SpfResult::Code> expected;
    std::vector<std::size_t> kept;
    nlohmann::json results = nlohmann::json::array();
    for (std::size_t i = 0; i < queries.size(); ++i) {
        auto recorder =
            std::make_shared<RecordingResolver>(runtime->resolver, answers, answers_mutex);
        const auto result = spf_check_host_blocking(recorder, queries[i].request, options, budget);
        expected.push_back(result.result);
        const bool clean = !recorder->saw_error();
        if (clean)
            kept.push_back(i);
        results.push_back({{"id", queries[i].id},
                           {"result", std::string(to_string(result.result))},
                           {"dns_lookups", result.dns_lookups},
                           {"kept", clean}});
    }
    if (kept.empty()) {
        std::cout << nlohmann::json{{"results", results}, {"kept", 0}}.dump() << "\n";
        return 0;
    }

    // 2. Through the Runtime's resolver (shared answer cache, libunbound).
    const Timed live =
        timed_rounds(runtime->resolver, queries, kept, expected, options, budget, seconds);
    // 3. The evaluator alone, over the recorded answers.
    const Timed memory = timed_rounds(std::make_shared<MemoryResolver>(answers), queries, kept,
                                      expected, options, budget, seconds);

    const nlohmann::json out = {{"results", results},
                                {"kept", kept.size()},
                                {"live", to_json(live)},
                                {"memory", to_json(memory)}};
    std::cout << out.dump() << "\n";
    if (live.changed || memory.changed) {
        std::cerr << "spf-rate: " << live.changed << " live and " << memory.changed
                  << " replayed results differ from the warm-up's\n";
        return 1;
    }
    return 0;
}
