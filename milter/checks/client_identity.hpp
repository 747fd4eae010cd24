// What the session knows about who the client is, derived once from the
// facts as they arrive and read by every check: the unmapped address and
// its reversed forms, the form of the HELO argument, the sender domain,
// and the client's PTR names with those confirmed by forward lookups.
//
// Contract: update() is called with the facts after each change (connect,
// HELO, MAIL) on the session's thread and only derives values. The PTR
// names are filled by ClientNames as the answers arrive, on the
// resolver's thread: start() once at connect starts the PTR lookup and,
// when it answers, A (IPv4 client) or AAAA (IPv6 client) of the first
// rdns.max-names usable names. An IPv4-mapped IPv6 client is IPv4.
#pragma once

#include "core/address.hpp"
#include "core/dns.hpp"
#include "core/lookups.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

struct Facts;

// The PTR names worth confirming from a PTR answer: usable host names,
// lower-case, without duplicates, at most `max_names` of them, in answer
// order.
std::vector<std::string> ptr_names_to_confirm(const DnsAnswer &ptr, unsigned max_names);

// Does an A/AAAA answer hold `client`?
bool answer_contains(const DnsAnswer &answer, const IpAddress &client);

// The client's PTR names and which of them resolve back to it. Thread-safe.
class ClientNames : public std::enable_shared_from_this<ClientNames> {
  public:
    using Listener = std::function<void(const std::string &name)>;

    static std::shared_ptr<ClientNames> create() {
        return std::shared_ptr<ClientNames>(new ClientNames());
    }

    // Starts the PTR lookup of `client` and the forward lookups of its
    // names; once per session (later calls do nothing).
    void start(Lookups &lookups, const IpAddress &client, unsigned max_names);

    // Calls `listener` once for each confirmed name: now for those
    // confirmed so far, later (on the resolver's thread) for the others.
    // One listener per `key` (the first one kept): a check registering at
    // every MAIL does not pile them up.
    void each_confirmed(std::string_view key, Listener listener);

    // The usable PTR names (empty before the PTR answer), and those whose
    // A/AAAA records hold the client address, both in PTR answer order.
    std::vector<std::string> names() const;
    std::vector<std::string> confirmed() const;

  private:
    ClientNames() = default;
    void on_ptr(Lookups &lookups, const DnsAnswer &ptr);
    void on_forward(std::size_t index, const DnsAnswer &forward);

    mutable std::mutex mutex_;
    bool started_ = false;
    IpAddress client_;
    DnsType forward_type_ = DnsType::A;
    unsigned max_names_ = 0;
    std::vector<std::string> names_;
    std::vector<bool> confirmed_; // one per name
    std::vector<std::pair<std::string, Listener>> listeners_;
};

enum class HeloForm {
    missing,         // no HELO/EHLO yet, or an empty argument
    address_literal, // "[192.0.2.1]", parsed or not
    not_host_name,   // not a valid host name (RFC 1035/5321)
    not_fqdn,        // a host name of one label, or an IP address without brackets
    fqdn,            // a fully qualified host name
};

struct ClientIdentity {
    std::optional<IpAddress> address; // unmapped; nullopt: not an IP client
    std::string reversed;             // "4.3.2.1" or 32 nibbles, for DNSBL queries
    std::string reverse_name;         // "4.3.2.1.in-addr.arpa", for the PTR lookup

    HeloForm helo_form = HeloForm::missing;
    // The HELO name lower-case without a trailing dot, when helo_form is
    // not_fqdn or fqdn; else "".
    std::string helo_name;

    // The MAIL FROM domain lower-case, when it is a host name; else "" and
    // no_sender_domain says why ("no MAIL FROM yet", "the null sender has
    // no domain", ...).
    std::string sender_domain;
    std::string no_sender_domain;

    std::shared_ptr<ClientNames> names = ClientNames::create();

    // Derives everything above but the names from the facts.
    void update(const Facts &facts);

    bool helo_is_fqdn() const { return helo_form == HeloForm::fqdn; }
    // The HELO name when fully qualified, else "".
    const std::string &fqdn_helo() const {
        static const std::string none;
        return helo_is_fqdn() ? helo_name : none;
    }
};

} // namespace portcullis
