// libFuzzer target: arbitrary bytes as a HELO/EHLO argument, through
// address-literal parsing, the host-name syntax and the three HELO
// checks (with a resolver that answers NXDOMAIN at once). Checks, beyond
// the sanitizers: a parsed literal survives a round trip, a valid name
// is short and free of underscores, every result names a known rule and
// carries a printable, bounded detail.
#include "checks/check.hpp"
#include "core/host_name.hpp"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace {

using namespace portcullis;

class NxdomainResolver : public Resolver {
  public:
    void resolve(const std::string &, DnsType, Callback done) override {
        DnsAnswer answer;
        answer.status = DnsAnswer::Status::nxdomain;
        done(answer);
    }
};

void require(bool condition) {
    if (!condition)
        std::abort();
}

void check_literal(std::string_view text) {
    const auto literal = parse_address_literal(text);
    if (!literal)
        return;
    const std::string again =
        literal->is_v4() ? "[" + literal->to_string() + "]" : "[IPv6:" + literal->to_string() + "]";
    require(parse_address_literal(again) == literal);
}

void check_name(std::string_view text) {
    const auto strict = host_name_problem(text);
    const auto lenient = host_name_problem(text, true);
    if (strict.empty()) {
        require(lenient.empty());
        require(text.size() <= 254);
        require(text.find('_') == std::string_view::npos);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    static const Config config = *load_config("").config;
    static const CheckDataSet check_data;
    static const auto resolver = std::make_shared<NxdomainResolver>();

    const std::string_view text(reinterpret_cast<const char *>(data), size);
    check_literal(text);
    check_name(text);

    Facts facts;
    facts.client = IpAddress::parse(size % 2 ? "192.0.2.1" : "2001:db8::1");
    facts.helo = std::string(text);
    facts.first_helo = "mail.example.com";
    facts.helo_count = 2;
    facts.own_hostnames = {"mx.example.net"};
    facts.own_addresses = {*IpAddress::parse("192.0.2.25")};
    ClientIdentity identity;
    identity.update(facts);
    auto lookups = Lookups::create(resolver);
    auto notes = SessionNotes::create();
    identity.names->start(*lookups, *identity.address, config.rdns_max_names);
    const CheckContext context{facts, identity, config, check_data, *lookups, *notes};
    for (const Check *check : all_checks()) {
        if (check->stage() != Stage::helo)
            continue;
        check->prefetch(context);
        for (const auto &result : check->evaluate(context)) {
            require(result.check == check->name());
            require(find_rule(result.rule) != nullptr);
            require(result.detail.size() < 2048);
            for (char c : result.detail)
                require(c >= 0x20 && c < 0x7f);
        }
    }
    return 0;
}
