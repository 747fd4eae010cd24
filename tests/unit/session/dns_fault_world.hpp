// The DNS world of the DNS-fault tests (dns_fault_property_test.cpp and
// dns_fault_defects_test.cpp): a World holding a case's base answers, the
// faults a FaultingResolver injects on chosen lookups (timeout, SERVFAIL,
// DNSSEC bogus, unreadable records, an answer later than the stage budget,
// a list error code), and one whole session run over them to its RCPT
// reply. Header-only; everything is inline, so each test file links it.
#pragma once

#include "resolver/unbound_resolver.hpp"
#include "session/session.hpp"
#include "session/shared_answers.hpp"

#include <unbound.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis::testing::dns_fault {

using Key = std::pair<std::string, DnsType>;

enum class Fault { timeout, servfail, bogus, malformed, late, list_error };
inline constexpr Fault all_faults[] = {Fault::timeout,   Fault::servfail, Fault::bogus,
                                       Fault::malformed, Fault::late,     Fault::list_error};

inline std::string_view fault_name(Fault fault) {
    switch (fault) {
    case Fault::timeout:
        return "timeout";
    case Fault::servfail:
        return "servfail";
    case Fault::bogus:
        return "bogus";
    case Fault::malformed:
        return "malformed";
    case Fault::late:
        return "late";
    case Fault::list_error:
        return "list-error";
    }
    return "?";
}

inline const std::vector<std::string> dnsbl_zone_names = {"bl.example", "bl2.example",
                                                          "wl.example"};
inline const std::vector<std::string> rhsbl_zone_names = {"dbl.example", "rwl.example"};

inline bool under(const std::string &name, const std::string &zone) {
    return name.size() > zone.size() + 1 && name.ends_with("." + zone);
}

inline bool is_list_query(const Key &key) {
    if (key.second != DnsType::A)
        return false;
    for (const auto *zones : {&dnsbl_zone_names, &rhsbl_zone_names})
        for (const auto &zone : *zones)
            if (under(key.first, zone))
                return true;
    return false;
}

// An answer as the libunbound resolver makes it from a response whose
// records of the asked type cannot be read (a wrong RDATA length, a
// label running past its record).
inline DnsAnswer malformed_answer(const Key &key) {
    static char a[] = {127, 0, 0};
    static char aaaa[] = {32, 1, 13, -72, 0};
    static char name[] = {5, 'a'};
    static char mx[] = {0};
    static char txt[] = {9, 'v', '=', 's'};
    char *record = a;
    int length = sizeof a;
    switch (key.second) {
    case DnsType::A:
        break;
    case DnsType::AAAA:
        record = aaaa;
        length = sizeof aaaa;
        break;
    case DnsType::PTR:
    case DnsType::CNAME:
        record = name;
        length = sizeof name;
        break;
    case DnsType::MX:
        record = mx;
        length = sizeof mx;
        break;
    case DnsType::TXT:
        record = txt;
        length = sizeof txt;
        break;
    }
    char *data[] = {record, nullptr};
    int lengths[] = {length, 0};
    std::string qname = key.first + ".";
    ub_result result{};
    result.qname = qname.data();
    result.qtype = static_cast<int>(key.second);
    result.qclass = 1;
    result.havedata = 1;
    result.data = data;
    result.len = lengths;
    return answer_from_unbound(0, &result, key.second, key.first);
}

inline DnsAnswer records(std::vector<std::string> values) {
    DnsAnswer answer;
    answer.status = values.empty() ? DnsAnswer::Status::nodata : DnsAnswer::Status::ok;
    answer.records = std::move(values);
    return answer;
}

// What the DNS holds for one case: its base answers, before any fault.
struct World {
    bool v6 = false;
    std::string client;
    std::string other_address; // an address of the client's family that is not the client's
    std::vector<std::string> helos;
    std::string sender;
    std::vector<std::string> ptr_names;
    std::map<Key, DnsAnswer> answers;
    std::set<std::string> names; // names that exist

    void set(const std::string &name, DnsType type, std::vector<std::string> values) {
        names.insert(name);
        answers[{name, type}] = records(std::move(values));
    }
    bool has(const std::string &name) const { return names.contains(name); }
    DnsAnswer answer(const Key &key) const {
        if (auto it = answers.find(key); it != answers.end())
            return it->second;
        DnsAnswer none;
        none.status = has(key.first) ? DnsAnswer::Status::nodata : DnsAnswer::Status::nxdomain;
        return none;
    }
    // "No such record", consistent with the rest of the world.
    DnsAnswer negative(const Key &key) const {
        DnsAnswer none;
        none.status = DnsAnswer::Status::nxdomain;
        for (const auto &[other, answer] : answers)
            if (other.first == key.first && other != key)
                none.status = DnsAnswer::Status::nodata;
        return none;
    }
};

// How a session's resolver answers: the world, with faults on some keys,
// and for the counter-runs the faulted keys answered honestly instead.
enum class Mode { faulted, base, negative, listed };

class FaultingResolver : public Resolver {
  public:
    FaultingResolver(const World &world, const std::map<Key, Fault> &faults, Mode mode)
        : world_(world), faults_(faults), mode_(mode) {}

    void resolve(const std::string &asked, DnsType type, Callback done) override {
        const Key key{normalize_host(asked), type};
        asked_.push_back(key);
        const auto fault = faults_.find(key);
        if (fault == faults_.end() || mode_ == Mode::base) {
            done(world_.answer(key));
            return;
        }
        if (mode_ == Mode::negative) {
            done(world_.negative(key));
            return;
        }
        if (mode_ == Mode::listed) {
            done(is_list_query(key) ? records({"127.0.0.2"}) : world_.answer(key));
            return;
        }
        DnsAnswer answer;
        answer.why = "injected " + std::string(fault_name(fault->second));
        switch (fault->second) {
        case Fault::timeout:
            answer.status = DnsAnswer::Status::timeout;
            break;
        case Fault::servfail:
            answer.status = DnsAnswer::Status::servfail;
            break;
        case Fault::bogus:
            answer.status = DnsAnswer::Status::bogus;
            break;
        case Fault::malformed:
            answer = malformed_answer(key);
            break;
        case Fault::late:
            held_.emplace_back(key, std::move(done));
            return;
        case Fault::list_error:
            answer = records({"127.255.255." + std::to_string(252 + key.first.size() % 4)});
            break;
        }
        done(answer);
    }

    // The answers that missed the stage budget arrive after all.
    void release() {
        auto held = std::move(held_);
        held_.clear();
        for (auto &[key, done] : held)
            done(world_.answer(key));
    }

    const std::vector<Key> &asked() const { return asked_; }

  private:
    const World &world_;
    const std::map<Key, Fault> &faults_;
    Mode mode_;
    std::vector<Key> asked_;
    std::vector<std::pair<Key, Callback>> held_;
};

// ---------------------------------------------------------------- runs

struct Run {
    Verdict verdict = Verdict::continue_; // what the MTA is told at RCPT
    std::string code;                     // its reply code, "" when continuing
    std::string rule;
    std::vector<StagedResult> results;
    std::vector<Key> asked;

    bool refuses_permanently() const { return !code.empty() && code.front() == '5'; }
};

// `runtime` gets the run's resolver, in front of which the daemon's
// SharedAnswers sits as it does in every runtime; the session is gone
// before the next run changes it again.
inline Run run(Runtime &runtime, const World &world, const std::map<Key, Fault> &faults,
               Mode mode) {
    auto resolver = std::make_shared<FaultingResolver>(world, faults, mode);
    runtime.resolver = std::make_shared<SharedAnswers>(resolver);
    Run out;
    {
        Session session(std::shared_ptr<const Runtime>(std::shared_ptr<void>(), &runtime),
                        "property");
        session.connect(IpAddress::parse(world.client), "client.mta.example", "mx.dest.example",
                        IpAddress::parse("203.0.113.25"));
        for (const auto &helo : world.helos)
            session.helo(helo);
        session.mail(world.sender, "");
        const auto answer = session.recipient("user@dest.example");
        resolver->release();
        out.verdict = answer.verdict;
        if (answer.verdict != Verdict::continue_)
            out.code = answer.reply.code;
        out.rule = answer.rule;
        out.results = session.evaluate().results;
    }
    out.asked = resolver->asked();
    return out;
}

inline std::string describe(const Key &key) {
    return key.first + "/" + std::string(to_string(key.second));
}

inline std::string describe(const DnsAnswer &answer) {
    std::string out(to_string(answer.status));
    for (const auto &record : answer.records)
        out += " \"" + record + "\"";
    return out;
}

inline std::string describe(const Run &run) {
    std::string out = std::string(to_string(run.verdict)) +
                      (run.code.empty() ? "" : " " + run.code) +
                      (run.rule.empty() ? "" : " rule " + run.rule) + "\n";
    for (const auto &staged : run.results)
        if (staged.result.outcome == Outcome::fail || staged.result.outcome == Outcome::error)
            out += "    " + staged.result.rule + ": " +
                   std::string(to_string(staged.result.outcome)) + " - " + staged.result.detail +
                   "\n";
    return out;
}

} // namespace portcullis::testing::dns_fault
