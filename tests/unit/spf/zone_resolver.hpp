// A resolver serving the `zonedata` of one RFC 7208 suite scenario, with
// the suite's driver conventions: an SPF record also serves as TXT unless
// the name has TXT records of its own; "TXT: NONE" suppresses that;
// "TIMEOUT" makes every type of the name without records time out; CNAME
// chains are followed (a loop is SERVFAIL). Answers use the resolver
// interface's text forms (canonical addresses, lower-case presentation
// names without the trailing dot, "PREF NAME" for MX, "." for the root).
// It answers either inside resolve(), or later from a worker thread in
// random order, as the libunbound resolver may.
#pragma once

#include "core/address.hpp"
#include "core/dns.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace portcullis::testing {

class ZoneResolver : public Resolver {
  public:
    enum class Delivery { synchronous, threaded };

    ZoneResolver(const YAML::Node &zonedata, Delivery delivery, unsigned seed = 1)
        : delivery_(delivery), random_(seed) {
        if (zonedata)
            for (const auto &entry : zonedata)
                load(entry.first.as<std::string>(), entry.second);
        if (delivery_ == Delivery::threaded)
            worker_ = std::thread([this] { deliver(); });
    }

    ~ZoneResolver() override { stop(); }

    // Delivers what is queued, then answers inline. Call it before the
    // last reference may go away on the worker thread.
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id())
            worker_.join();
        else if (worker_.joinable())
            worker_.detach();
    }

    void resolve(const std::string &name, DnsType type, Callback done) override {
        DnsAnswer answer = lookup(name, type);
        {
            std::lock_guard lock(mutex_);
            asked_.emplace_back(name, type);
            if (delivery_ == Delivery::threaded && !stopping_) {
                queue_.emplace_back(std::move(done), std::move(answer));
                wake_.notify_all();
                return;
            }
        }
        done(std::move(answer));
    }

    std::vector<std::pair<std::string, DnsType>> asked() const {
        std::lock_guard lock(mutex_);
        return asked_;
    }

    // The raw form of a presentation name: "\DDD" and "\X" unescaped.
    static std::string unescape(const std::string &name) {
        std::string out;
        for (std::size_t i = 0; i < name.size(); ++i) {
            if (name[i] != '\\' || i + 1 == name.size()) {
                out += name[i];
            } else if (i + 3 < name.size() &&
                       std::isdigit(static_cast<unsigned char>(name[i + 1])) &&
                       std::isdigit(static_cast<unsigned char>(name[i + 2])) &&
                       std::isdigit(static_cast<unsigned char>(name[i + 3]))) {
                out += static_cast<char>(std::stoi(name.substr(i + 1, 3)));
                i += 3;
            } else {
                out += name[++i];
            }
        }
        return out;
    }

    static std::string presentation(std::string raw) {
        raw = to_lower(raw);
        if (!raw.empty() && raw.back() == '.')
            raw.pop_back();
        if (raw.empty())
            return ".";
        std::string out;
        for (const char c : raw) {
            const auto byte = static_cast<unsigned char>(c);
            if (byte > 0x20 && byte < 0x7f && c != '\\') {
                out += c;
            } else {
                char escaped[8];
                std::snprintf(escaped, sizeof escaped, "\\%03u", byte);
                out += escaped;
            }
        }
        return out;
    }

  private:
    struct Records {
        std::multimap<std::string, std::string> by_type; // "A", "TXT", "SPF", ...
        bool timeout = false;
        bool txt_none = false;
    };

    static std::string key_of(std::string raw) {
        raw = to_lower(raw);
        if (!raw.empty() && raw.back() == '.')
            raw.pop_back();
        return raw;
    }

    static std::string strings_of(const YAML::Node &value) {
        if (!value.IsSequence())
            return value.as<std::string>();
        std::string text;
        for (const auto &piece : value)
            text += piece.as<std::string>();
        return text;
    }

    void load(const std::string &name, const YAML::Node &entries) {
        Records &records = zone_[key_of(name)];
        for (const auto &entry : entries) {
            if (entry.IsScalar()) {
                if (entry.as<std::string>() != "TIMEOUT")
                    throw std::runtime_error("unknown zone entry " + entry.as<std::string>());
                records.timeout = true;
                continue;
            }
            for (const auto &field : entry) {
                const auto type = field.first.as<std::string>();
                const auto &value = field.second;
                if (type == "TXT" && value.IsScalar() && value.as<std::string>() == "NONE") {
                    records.txt_none = true;
                } else if (type == "TXT" || type == "SPF") {
                    records.by_type.emplace(type, strings_of(value));
                } else if (type == "A" || type == "AAAA") {
                    const auto address = IpAddress::parse(value.as<std::string>());
                    if (!address)
                        throw std::runtime_error("bad address " + value.as<std::string>());
                    records.by_type.emplace(type, address->to_string());
                } else if (type == "MX") {
                    records.by_type.emplace(type, value[0].as<std::string>() + " " +
                                                      presentation(value[1].as<std::string>()));
                } else if (type == "PTR" || type == "CNAME") {
                    records.by_type.emplace(type, presentation(value.as<std::string>()));
                } else {
                    throw std::runtime_error("unknown record type " + type);
                }
            }
        }
    }

    DnsAnswer lookup(const std::string &name, DnsType type) const {
        DnsAnswer answer;
        std::string key = key_of(unescape(name));
        for (int hops = 0; hops < 10; ++hops) {
            const auto found = zone_.find(key);
            if (found == zone_.end()) {
                answer.status = DnsAnswer::Status::nxdomain;
                return answer;
            }
            const Records &records = found->second;
            const auto cname = records.by_type.find("CNAME");
            if (cname != records.by_type.end() && type != DnsType::CNAME) {
                key = key_of(unescape(cname->second));
                answer.canonical_name = cname->second;
                continue;
            }
            std::string wanted(to_string(type));
            bool own_txt = false;
            for (const auto &[record_type, text] : records.by_type)
                own_txt = own_txt || record_type == "TXT";
            if (type == DnsType::TXT && !own_txt && !records.txt_none)
                wanted = "SPF";
            const auto [first, last] = records.by_type.equal_range(wanted);
            for (auto it = first; it != last; ++it)
                answer.records.push_back(it->second);
            if (answer.records.empty() && records.timeout) {
                answer.status = DnsAnswer::Status::timeout;
                answer.why = "TIMEOUT in the zone data";
            } else {
                answer.status =
                    answer.records.empty() ? DnsAnswer::Status::nodata : DnsAnswer::Status::ok;
            }
            return answer;
        }
        answer.status = DnsAnswer::Status::servfail;
        answer.why = "CNAME loop";
        return answer;
    }

    void deliver() {
        std::unique_lock lock(mutex_);
        while (true) {
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty())
                return;
            // Let a few queries pile up, then answer one at random.
            lock.unlock();
            std::this_thread::sleep_for(std::chrono::microseconds(random_() % 300));
            lock.lock();
            std::uniform_int_distribution<std::size_t> pick(0, queue_.size() - 1);
            const auto at = pick(random_);
            auto job = std::move(queue_[at]);
            queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(at));
            lock.unlock();
            job.first(std::move(job.second));
            lock.lock();
        }
    }

    const Delivery delivery_;
    std::map<std::string, Records> zone_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<std::pair<Callback, DnsAnswer>> queue_;
    std::vector<std::pair<std::string, DnsType>> asked_;
    std::mt19937 random_;
    bool stopping_ = false;
    std::thread worker_;
};

} // namespace portcullis::testing
