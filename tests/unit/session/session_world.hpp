// The scripted DNS world and session helpers the session tests share.
#pragma once

#include "../scripted_resolver.hpp"
#include "core/log.hpp"
#include "session/session.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace portcullis::testing {
inline std::shared_ptr<ScriptedResolver> world() {
    auto dns = std::make_shared<ScriptedResolver>();
    dns->add("10.2.0.192.in-addr.arpa", DnsType::PTR, {"mail.good.example"});
    dns->add("mail.good.example", DnsType::A, {"192.0.2.10"});
    dns->add("mail.good.example", DnsType::AAAA, {});
    dns->add("20.2.0.192.in-addr.arpa", DnsType::PTR, {"forged.example"});
    dns->add("forged.example", DnsType::A, {"198.51.100.1"});
    dns->fail("40.2.0.192.in-addr.arpa", DnsType::PTR, DnsAnswer::Status::timeout);
    dns->add("50.2.0.192.in-addr.arpa", DnsType::PTR, {"mx.listed.example"});
    dns->add("mx.listed.example", DnsType::A, {"192.0.2.50"});
    dns->add("50.2.0.192.bl.example", DnsType::A, {"127.0.0.2"});
    dns->add("50.2.0.192.bl.example", DnsType::TXT, {"Listed: 100% bad\r\nsee http://bl.example/"});
    // Sender domains that exist (the sender-domain check asks).
    for (const char *domain : {"good.example", "x.example", "spam.example"})
        dns->add(domain, DnsType::MX, {"10 mail.good.example"});
    return dns;
}

inline std::shared_ptr<const Runtime>
runtime_with(std::vector<std::pair<std::string, std::string>> options,
             std::shared_ptr<Resolver> dns = world()) {
    options.emplace_back("dnsbl.zone", "bl.example=127.0.0.[2..11]");
    auto loaded = load_config(SOURCE_ROOT "/rules/portcullis.conf", options);
    for (const auto &error : loaded.errors)
        MESSAGE(error.to_string());
    REQUIRE(loaded.config);
    std::vector<ConfigError> errors;
    auto runtime = Runtime::build(std::move(*loaded.config), errors, std::move(dns));
    for (const auto &error : errors)
        MESSAGE(error.to_string());
    REQUIRE(runtime);
    return runtime;
}

struct Client {
    const char *address;
    const char *helo;
    const char *sender;
};

inline RecipientAnswer run(const std::shared_ptr<const Runtime> &runtime, const Client &client,
                           const std::string &recipient, const std::string &auth = "") {
    Session session(runtime, "test");
    session.connect(IpAddress::parse(client.address), "client", "mx.dest.example", std::nullopt);
    session.helo(client.helo);
    session.mail(client.sender, auth);
    return session.recipient(recipient);
}

// Captures the log lines of its lifetime.
struct LogCapture {
    std::vector<std::string> lines;
    LogCapture() {
        LogSettings capture;
        capture.to_syslog = false;
        capture.sink = [this](int, std::string_view line) { lines.emplace_back(line); };
        configure_logging(capture);
    }
    ~LogCapture() { configure_logging(LogSettings{}); }
    bool has(std::string_view text) const {
        for (const auto &line : lines)
            if (line.find(text) != std::string::npos)
                return true;
        return false;
    }
};

} // namespace portcullis::testing
