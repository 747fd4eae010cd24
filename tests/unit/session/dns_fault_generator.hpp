// The generator of the DNS-fault property test (dns_fault_property_test.cpp):
// from a fixed seed, case N is always the same accepted configuration
// (options over rules/portcullis.conf) and DNS world, and the same sets of
// faults over the lookups a clean session asked. Header-only, inline.
#pragma once

#include "dns_fault_world.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace portcullis::testing::dns_fault {

// PORTCULLIS_PROPERTY_SEED=N (hex) explores other cases.
inline const std::uint64_t seed = [] {
    const char *text = std::getenv("PORTCULLIS_PROPERTY_SEED");
    return text ? std::strtoull(text, nullptr, 16) : 0x9e3779b97f4a7c15ull;
}();
// Under AddressSanitizer (scripts/test builds it without optimization) a
// session costs some forty times as much: fewer cases, same generator.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr std::size_t generated_cases = 200;
#else
inline constexpr std::size_t generated_cases = 3000;
#endif

// splitmix64: the same sequence on every platform and standard library.
class Random {
  public:
    explicit Random(std::uint64_t state) : state_(state) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
    bool chance(unsigned percent) { return below(100) < percent; }
    template <typename T> const T &pick(const std::vector<T> &items) {
        return items[below(items.size())];
    }

  private:
    std::uint64_t state_;
};

// ---------------------------------------------------------------- cases

struct Case {
    std::size_t index = 0;
    std::vector<std::pair<std::string, std::string>> options;
    World world;
};

// In a scoring configuration most rules score and none rejects by
// itself, so that the thresholds decide.
inline std::string action_for(Random &random, const RuleSpec &rule, bool scoring) {
    static const std::vector<std::string> plain = {"ignore", "log", "tempfail"};
    static const std::vector<std::string> scores = {
        "score:-100", "score:-5", "score:-1", "score:-0.5", "score:0",   "score:0.5",
        "score:1",    "score:+2", "score:3",  "score:10",   "score:1000"};
    const auto roll = random.below(100);
    if (rule.may_reject && roll < (scoring ? 0u : 35u))
        return "reject";
    if (roll < (scoring ? 85u : 70u))
        return random.pick(scores);
    return random.pick(plain);
}

inline std::string list_entries(Random &random, const std::vector<std::string> &zones,
                                std::size_t most) {
    static const std::vector<std::string> filters = {
        "", "", "=127.0.0.[2..11]", "=127.0.0.2", "=127.0.[0..255].[1..3]", "=127.0.1.[2..99]"};
    static const std::vector<std::string> weights = {"",    "",    "*2",  "*0.5", "*3",
                                                     "*-1", "*-2", "*-5", "*1.5"};
    std::string out;
    const auto count = random.below(most + 1);
    for (std::size_t i = 0; i < count; ++i)
        out += (out.empty() ? "" : " ") + random.pick(zones) + random.pick(filters) +
               random.pick(weights);
    return out;
}

inline std::vector<std::pair<std::string, std::string>> generate_options(Random &random, bool v6) {
    std::vector<std::pair<std::string, std::string>> options;
    const bool scoring = random.chance(40);
    for (const auto &rule : rule_table())
        options.emplace_back("policy." + std::string(rule.id), action_for(random, rule, scoring));
    options.emplace_back("policy.dns-error",
                         random.pick(std::vector<std::string>{"tempfail", "log", "ignore"}));
    options.emplace_back("policy.score-tempfail", random.pick(std::vector<std::string>{
                                                      "0", "0", "-1", "0.5", "1", "3", "10"}));
    options.emplace_back(
        "policy.score-reject",
        random.pick(std::vector<std::string>{"0", "-2", "0.5", "1", "2", "2", "4", "4", "100"}));
    const std::vector<std::string> thresholds = {"-1", "0", "0.5", "1", "1", "2", "3"};
    options.emplace_back("dnsbl.threshold", random.pick(thresholds));
    options.emplace_back("rhsbl.threshold", random.pick(thresholds));
    if (auto zones = list_entries(random, dnsbl_zone_names, 4); !zones.empty())
        options.emplace_back("dnsbl.zone", zones);
    if (auto zones = list_entries(random, rhsbl_zone_names, 3); !zones.empty())
        options.emplace_back("rhsbl.zone", zones);
    if (random.chance(25))
        options.emplace_back("allow.hostname",
                             random.pick(std::vector<std::string>{
                                 "client.example", ".client.example", "mail.client.example",
                                 "pool.isp.example", "elsewhere.example"}));
    if (random.chance(4))
        options.emplace_back("allow.network", v6 ? "2001:db8::/32" : "192.0.2.0/24");
    if (random.chance(15))
        options.emplace_back("deny.network", random.chance(50)
                                                 ? (v6 ? "2001:db8::/32" : "192.0.2.0/24")
                                                 : "198.51.100.0/24");
    if (random.chance(25))
        options.emplace_back("deny.sender",
                             random.pick(std::vector<std::string>{"deny.example", "@sender.example",
                                                                  "alice@sender.example"}));
    if (random.chance(30))
        options.emplace_back("own-hostnames", "mail.dest.example");
    if (random.chance(20))
        options.emplace_back("own-addresses", "203.0.113.25 2001:db8:25::25");
    options.emplace_back("rdns.max-names",
                         random.pick(std::vector<std::string>{"1", "2", "10", "10"}));
    options.emplace_back("spf.void-lookup-limit",
                         random.pick(std::vector<std::string>{"0", "1", "2", "2", "10"}));
    // Nothing waits for the synchronous answers; a late one is given up
    // after a millisecond.
    options.emplace_back("resolver.stage-budget", "1ms");
    return options;
}

enum class Presence { client, other, both, nodata, missing };

inline void host(World &world, Random &random, const std::string &name) {
    if (world.has(name) || world.answers.contains({name, DnsType::A}))
        return;
    static const std::vector<Presence> presences = {Presence::client, Presence::client,
                                                    Presence::other,  Presence::both,
                                                    Presence::nodata, Presence::missing};
    const auto presence = random.pick(presences);
    if (presence == Presence::missing)
        return;
    std::vector<std::string> a, aaaa;
    auto add = [&](const std::string &address) {
        (address.find(':') == std::string::npos ? a : aaaa).push_back(address);
    };
    if (presence == Presence::client || presence == Presence::both)
        add(world.client);
    if (presence == Presence::other || presence == Presence::both)
        add(world.other_address);
    if (random.chance(30))
        add(world.v6 ? "198.51.100.77" : "2001:db8:77::77");
    world.set(name, DnsType::A, a);
    world.set(name, DnsType::AAAA, aaaa);
}

// An SPF record for `domain`, with the names its terms ask for.
inline void spf(World &world, Random &random, const std::string &domain) {
    if (!world.has(domain) || world.answers.contains({domain, DnsType::TXT}))
        return;
    const std::string aux = "spf." + domain;
    switch (random.below(10)) {
    case 0:
        world.set(domain, DnsType::TXT, {"google-site-verification=x"});
        break;
    case 1:
        world.set(domain, DnsType::TXT, {"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"});
        break;
    case 2:
        world.set(domain, DnsType::TXT, {"v=spf1 -all"});
        break;
    case 3:
        world.set(domain, DnsType::TXT, {"v=spf1 ~all"});
        break;
    case 4:
        world.set(domain, DnsType::TXT, {"v=spf1 ?all"});
        break;
    case 5:
        world.set(domain, DnsType::TXT,
                  {"v=spf1 a:a." + aux + " mx include:inc." + aux + " exists:%{i}.x." + aux +
                   (random.chance(50) ? " -all" : " ~all")});
        host(world, random, "a." + aux);
        host(world, random, "mx." + domain);
        world.set(
            "inc." + aux, DnsType::TXT,
            {random.pick(std::vector<std::string>{"v=spf1 ip4:198.51.100.0/24 -all", "v=spf1 ?all",
                                                  "v=spf1 -all", "v=spf1 a:a." + aux + " -all"})});
        break;
    case 6:
        world.set(domain, DnsType::TXT, {"v=spf1 frobnicate -all"});
        break;
    case 7:
        world.set(domain, DnsType::TXT,
                  {"v=spf1 a:v1." + aux + " a:v2." + aux + " a:v3." + aux + " -all"});
        break;
    case 8:
        world.set(domain, DnsType::TXT, {"v=spf1 -all", "v=spf1 +all"});
        break;
    default:
        world.set(domain, DnsType::TXT, {"v=spf1 ptr -all"});
        break;
    }
}

inline void domain(World &world, Random &random, const std::string &name) {
    if (world.has(name) || random.chance(12))
        return;
    const auto mx = random.below(4);
    world.set(name, DnsType::MX,
              mx == 0   ? std::vector<std::string>{"10 mx." + name}
              : mx == 1 ? std::vector<std::string>{"0 ."}
                        : std::vector<std::string>{});
    if (mx == 0)
        host(world, random, "mx." + name);
    world.set(name, DnsType::A,
              random.chance(60) ? std::vector<std::string>{"198.51.100.20"}
                                : std::vector<std::string>{});
    world.set(name, DnsType::AAAA, {});
}

inline World generate_world(Random &random) {
    World world;
    world.v6 = random.chance(25);
    world.client = world.v6 ? "2001:db8::" + std::to_string(10 + random.below(200))
                            : "192.0.2." + std::to_string(10 + random.below(200));
    world.other_address = world.v6 ? "2001:db8:ffff::7" : "198.51.100.7";
    const auto client = *IpAddress::parse(world.client);

    switch (random.below(6)) {
    case 0:
        break; // NXDOMAIN
    case 1:
        world.set(client.reverse_name(), DnsType::PTR, {});
        break;
    case 2:
        world.ptr_names = {"mail.client.example"};
        break;
    case 3:
        world.ptr_names = {"mail.client.example", "mx2.client.example"};
        break;
    case 4:
        world.ptr_names = {"dyn-42.pool.isp.example"};
        break;
    default:
        world.ptr_names = {random.chance(50) ? "host.elsewhere.example"
                                             : "bad_name!.client.example",
                           "mail.client.example"};
        break;
    }
    if (!world.ptr_names.empty())
        world.set(client.reverse_name(), DnsType::PTR, world.ptr_names);
    for (const auto &name : world.ptr_names)
        host(world, random, name);

    const std::string literal = "[" + std::string(world.v6 ? "IPv6:" : "") + world.client + "]";
    const std::vector<std::string> helos = {"mail.client.example",
                                            "mail.client.example",
                                            "helo.other.example",
                                            "helo.other.example",
                                            "sender.example",
                                            "localhost",
                                            "localhost.localdomain",
                                            "mx.dest.example",
                                            "mail.dest.example",
                                            literal,
                                            "[198.51.100.9]",
                                            "[198.51.100.9]",
                                            world.client,
                                            "nodots",
                                            "bad_name!"};
    world.helos.push_back(random.pick(helos));
    if (random.chance(12))
        world.helos.push_back(random.pick(helos));
    for (const auto &helo : world.helos)
        if (helo.find('.') != std::string::npos && helo.front() != '[' && !IpAddress::parse(helo)) {
            host(world, random, helo);
            spf(world, random, helo);
        }

    const std::vector<std::string> senders = {
        "alice@sender.example",     "alice@sender.example",
        "bob@other-sender.example", "carol@gone.example",
        "dave@deny.example",        "",
        "erin@[192.0.2.1]",         "postmaster@" + world.helos.back()};
    world.sender = random.pick(senders);
    const auto at = world.sender.rfind('@');
    const std::string sender_domain =
        at == std::string::npos ? "" : normalize_host(world.sender.substr(at + 1));
    if (!sender_domain.empty() && sender_domain.front() != '[') {
        if (sender_domain != "gone.example")
            domain(world, random, sender_domain);
        spf(world, random, sender_domain);
    }

    // The lists: for the client address, and for every name that could
    // be asked of an RHSBL.
    const std::vector<std::vector<std::string>> codes = {{},
                                                         {},
                                                         {},
                                                         {"127.0.0.2"},
                                                         {"127.0.0.4"},
                                                         {"127.0.1.3"},
                                                         {"127.0.0.1"},
                                                         {"127.0.0.2", "127.0.0.10"}};
    for (const auto &zone : dnsbl_zone_names) {
        const auto name = client.reversed() + "." + zone;
        const auto &code = random.pick(codes);
        if (code.empty())
            continue;
        world.set(name, DnsType::A, code);
        world.set(name, DnsType::TXT, {"Listed by " + zone + ": see \"http://" + zone + "/\""});
    }
    std::set<std::string> domains(world.ptr_names.begin(), world.ptr_names.end());
    for (const auto &helo : world.helos)
        domains.insert(normalize_host(helo));
    if (!sender_domain.empty() && sender_domain.front() != '[')
        domains.insert(sender_domain);
    for (const auto &zone : rhsbl_zone_names)
        for (const auto &name : domains) {
            const auto &code = random.pick(codes);
            if (code.empty())
                continue;
            world.set(name + "." + zone, DnsType::A, code);
            world.set(name + "." + zone, DnsType::TXT, {"Domain listed by " + zone});
        }
    return world;
}

inline Case generate_case(std::size_t index) {
    Random random(seed ^ (index * 0xd1b54a32d192ed03ull));
    Case generated;
    generated.index = index;
    generated.world = generate_world(random);
    generated.options = generate_options(random, generated.world.v6);
    return generated;
}

inline std::string describe(const Case &generated, const std::map<Key, Fault> &faults) {
    std::ostringstream out;
    out << "case " << generated.index << " (seed " << std::hex << seed << std::dec
        << "; PORTCULLIS_PROPERTY_SEED=" << std::hex << seed << std::dec
        << " PORTCULLIS_PROPERTY_CASE=" << generated.index << " runs it alone)\n";
    out << "options (over rules/portcullis.conf):\n";
    for (const auto &[name, value] : generated.options)
        out << "  " << name << " = " << value << "\n";
    const auto &world = generated.world;
    out << "client " << world.client << ", HELO";
    for (const auto &helo : world.helos)
        out << " '" << helo << "'";
    out << ", MAIL FROM <" << world.sender << ">\nDNS:\n";
    for (const auto &[key, answer] : world.answers)
        out << "  " << describe(key) << " " << describe(answer) << "\n";
    out << "faults:\n";
    for (const auto &[key, fault] : faults)
        out << "  " << describe(key) << " " << fault_name(fault) << "\n";
    return out.str();
}

// The kinds of lookup, for faults that hit all lookups of one kind.
inline std::string kind_of(const Case &generated, const Key &key) {
    const auto &world = generated.world;
    for (const auto &zone : dnsbl_zone_names)
        if (under(key.first, zone))
            return "dnsbl " + zone;
    for (const auto &zone : rhsbl_zone_names)
        if (under(key.first, zone))
            return "rhsbl " + zone;
    if (key.second == DnsType::PTR)
        return "client names";
    for (const auto &name : world.ptr_names)
        if (key.first == name)
            return "client names";
    for (const auto &helo : world.helos)
        if (key.first == normalize_host(helo))
            return "helo";
    if (world.sender.ends_with("@" + key.first))
        return "sender domain";
    return "spf";
}

inline std::vector<Fault> faults_for(const Key &key) {
    std::vector<Fault> faults(std::begin(all_faults), std::end(all_faults));
    if (!is_list_query(key))
        faults.pop_back(); // list errors are answers of lists only
    return faults;
}

// A fault for `key`. A late answer costs the session its whole stage
// budget in real time, so it comes less often than the others, and only
// where `late` allows it.
inline Fault some_fault(Random &random, const Key &key, bool late = true) {
    if (late && random.chance(4))
        return Fault::late;
    auto faults = faults_for(key);
    faults.erase(std::find(faults.begin(), faults.end(), Fault::late));
    return random.pick(faults);
}

// Each lookup alone; every lookup of each kind together; lookups here
// and there; sometimes all of them.
inline std::vector<std::map<Key, Fault>> fault_sets(const Case &generated,
                                                    const std::vector<Key> &asked, Random &random) {
    std::vector<std::map<Key, Fault>> sets;
    for (const auto &key : asked)
        sets.push_back({{key, some_fault(random, key)}});
    std::map<std::string, std::map<Key, Fault>> kinds;
    for (const auto &key : asked)
        kinds[kind_of(generated, key)][key] = some_fault(random, key);
    for (auto &[kind, faults] : kinds)
        if (faults.size() > 1)
            sets.push_back(std::move(faults));
    for (int i = 0; i < 2; ++i) {
        std::map<Key, Fault> scattered;
        for (const auto &key : asked)
            if (random.chance(30))
                scattered[key] = some_fault(random, key, false);
        if (scattered.size() > 1)
            sets.push_back(std::move(scattered));
    }
    if (random.chance(25)) {
        std::map<Key, Fault> all;
        for (const auto &key : asked)
            all[key] = some_fault(random, key, false);
        sets.push_back(std::move(all));
    }
    return sets;
}

inline std::vector<Key> unique(std::vector<Key> keys) {
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
}

} // namespace portcullis::testing::dns_fault
