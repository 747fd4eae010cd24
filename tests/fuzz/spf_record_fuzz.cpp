// libFuzzer target: arbitrary bytes as an SPF record, parsed and then
// evaluated by check_host() against a resolver that answers every name
// (TXT with the same record, so include: and redirect= recurse into it).
// Besides the sanitizers' checks, asserts the evaluator's promises: one
// completion, at most 10 DNS-querying terms, bounded printable texts.
#include "spf/record.hpp"
#include "spf/spf.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

using namespace portcullis;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

bool printable(const std::string &text, bool space_allowed) {
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < (space_allowed ? 0x20 : 0x21) || byte > 0x7e)
            return false;
    }
    return true;
}

// Answers inside resolve(): TXT is the fuzzed record, everything else a
// small fixed world in which most mechanisms can match.
class EchoResolver : public Resolver {
  public:
    explicit EchoResolver(std::string record) : record_(std::move(record)) {}
    void resolve(const std::string &name, DnsType type, Callback done) override {
        DnsAnswer answer;
        answer.status = DnsAnswer::Status::ok;
        switch (type) {
        case DnsType::TXT:
            answer.records = {record_};
            break;
        case DnsType::A:
            answer.records = {"192.0.2.1"};
            break;
        case DnsType::AAAA:
            answer.records = {"2001:db8::1"};
            break;
        case DnsType::MX:
            answer.records = {"10 mx.example", "20 " + name};
            break;
        case DnsType::PTR:
            answer.records = {"host.example", "." + name};
            break;
        default:
            answer.status = DnsAnswer::Status::nxdomain;
            break;
        }
        if (name.size() % 7 == 0)
            answer.status = DnsAnswer::Status::timeout;
        done(std::move(answer));
    }

  private:
    std::string record_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string text(reinterpret_cast<const char *>(data), size);
    for (const auto &candidate : {text, "v=spf1 " + text}) {
        if (!spf::is_spf_record(candidate))
            continue;
        const auto parse = spf::parse_record(candidate);
        require(parse.record.has_value() == parse.error.empty());
        require(printable(parse.error, true));
        if (!parse.record)
            continue;
        for (const auto &mechanism : parse.record->mechanisms) {
            require(printable(mechanism.text, false));
            require(mechanism.cidr4 <= 32 && mechanism.cidr6 <= 128);
            // Each term parses the same on its own.
            const auto alone = spf::parse_record("v=spf1 " + mechanism.text);
            require(alone.record && alone.record->mechanisms.size() == 1 &&
                    alone.record->mechanisms.front().kind == mechanism.kind);
        }
    }
    for (const char *client : {"192.0.2.1", "2001:db8::1"}) {
        auto resolver = std::make_shared<EchoResolver>("v=spf1 " + text);
        SpfOptions options;
        options.default_explanation = "%{o} does not designate %{c} as a permitted sender";
        options.max_void_lookups = 2;
        options.timestamp = 0;
        options.prefetch = size % 2 == 0;
        int calls = 0;
        SpfResult result;
        spf_check_host(resolver,
                       spf_mail_from_request(*IpAddress::parse(client), "user@example.com",
                                             "helo.example", "receiver.example"),
                       options, [&](SpfResult r) {
                           ++calls;
                           result = std::move(r);
                       });
        require(calls == 1);
        require(result.dns_lookups <= spf_max_dns_lookups);
        require(result.explanation.size() <= spf_max_explanation);
        require(printable(result.explanation, true));
        require(printable(result.problem, true));
        require(result.result != SpfResult::Code::fail || !result.explanation.empty());
    }
    return 0;
}
