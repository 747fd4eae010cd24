// A resolver for unit tests: answers come from a table filled by the
// test, synchronously, without any DNS. Names not in the table are
// NXDOMAIN; an entry may also be an error (servfail, timeout, bogus).
// Records come with a TTL of an hour unless the test gives one, NXDOMAIN
// and NODATA with 300 s (a zone's SOA minimum), errors with none.
#pragma once

#include "core/address.hpp"
#include "core/dns.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace portcullis::testing {

class ScriptedResolver : public Resolver {
  public:
    static constexpr std::uint32_t record_ttl = 3600;
    static constexpr std::uint32_t negative_ttl = 300;

    ScriptedResolver &add(std::string name, DnsType type, std::vector<std::string> records,
                          std::uint32_t ttl = record_ttl) {
        DnsAnswer answer;
        answer.status = records.empty() ? DnsAnswer::Status::nodata : DnsAnswer::Status::ok;
        answer.records = std::move(records);
        answer.ttl = answer.records.empty() ? negative_ttl : ttl;
        answers_[{normalize_host(name), type}] = answer;
        return *this;
    }
    ScriptedResolver &fail(std::string name, DnsType type, DnsAnswer::Status status) {
        DnsAnswer answer;
        answer.status = status;
        answer.why = "scripted failure";
        answers_[{normalize_host(name), type}] = answer;
        return *this;
    }
    ScriptedResolver &set(std::string name, DnsType type, DnsAnswer answer) {
        answers_[{normalize_host(name), type}] = std::move(answer);
        return *this;
    }

    void resolve(const std::string &name, DnsType type, Callback done) override {
        DnsAnswer answer;
        {
            std::lock_guard lock(mutex_);
            asked_.emplace_back(normalize_host(name), type);
            auto it = answers_.find({normalize_host(name), type});
            if (it != answers_.end())
                answer = it->second;
            else {
                answer.status = exists(normalize_host(name)) ? DnsAnswer::Status::nodata
                                                             : DnsAnswer::Status::nxdomain;
                answer.ttl = negative_ttl;
            }
        }
        done(answer);
    }

    std::vector<std::pair<std::string, DnsType>> asked() const {
        std::lock_guard lock(mutex_);
        return asked_;
    }

  private:
    bool exists(const std::string &name) const {
        for (const auto &[key, answer] : answers_)
            if (key.first == name)
                return true;
        return false;
    }

    mutable std::mutex mutex_;
    std::map<std::pair<std::string, DnsType>, DnsAnswer> answers_;
    std::vector<std::pair<std::string, DnsType>> asked_;
};

} // namespace portcullis::testing
