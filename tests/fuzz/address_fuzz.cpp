// libFuzzer target: what the MTA hands a session, as the milter glue
// reads it (daemon/milter.cpp): the HELO argument, the client address,
// the macros j, {daemon_addr}, {auth_authen} and i, the client's host
// name, the envelope, and text the DNS returns (PTR names, TXT records
// for SPF and the DNSBL reasons). The input is those values separated by
// NUL, as each reaches us as a C string:
//   FLAGS HELO \0 CLIENT \0 DAEMON_ADDR \0 J \0 AUTH \0 HOSTNAME \0
//   SENDER \0 RCPT \0 QUEUE_ID \0 DNS_TEXT
// FLAGS (one byte) picks a fallback client address when CLIENT does not
// parse (bits 0-1), and which lookups time out (bits 4-7). A session
// runs connect, HELO, MAIL and RCPT over a synchronous resolver that
// answers from DNS_TEXT, with the shipped configuration, replies and
// patterns, a DNSBL and an RHSBL.
// Asserts, beyond the sanitizers: address literals and addresses read
// back as themselves; the reply is what libmilter takes (code class of
// the verdict, 1 to 32 printable lines of at most 980 bytes, '%'
// doubled) and names its rule; every log line is printable, and the
// decision line splits into known key=value fields (a value from the
// network cannot end a field or add one); Received-SPF is one printable
// line; `portcullis check`'s reports are made without an exception.
#include "core/log.hpp"
#include "session/received_spf.hpp"
#include "session/report.hpp"
#include "session/session.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using namespace portcullis;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

bool printable(std::string_view text) {
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte > 0x7e)
            return false;
    }
    return true;
}

// The DNS as this input sees it.
struct World {
    std::string client;   // the client's address as text
    std::string dns_text; // PTR name, TXT record
    unsigned flags = 0;
};
World world;

// Answers inside resolve(), from `world`: the client's PTR points at a
// name made of DNS_TEXT (as dns_wire would print it) and at a fixed one,
// both resolving back to the client; TXT is DNS_TEXT raw (an SPF record
// when it starts with v=spf1, a list's reason otherwise); the DNSBL and
// RHSBL list every name with 127.0.0.2.
class WorldResolver : public Resolver {
  public:
    void resolve(const std::string &name, DnsType type, Callback done) override {
        DnsAnswer answer;
        answer.status = DnsAnswer::Status::ok;
        const auto client = IpAddress::parse(world.client);
        const bool listed = name.ends_with(".bl.example") || name.ends_with(".dbl.example");
        switch (type) {
        case DnsType::PTR:
            answer.records = {ptr_name(), "mail.example.org"};
            break;
        case DnsType::A:
            if (listed)
                answer.records = {"127.0.0.2"};
            else if (client && client->is_v4())
                answer.records = {client->to_string()};
            else
                answer.status = DnsAnswer::Status::nodata;
            break;
        case DnsType::AAAA:
            if (client && !client->is_v4())
                answer.records = {client->to_string()};
            else
                answer.status = DnsAnswer::Status::nodata;
            break;
        case DnsType::TXT:
            answer.records = {world.dns_text};
            break;
        case DnsType::MX:
            answer.records = {"10 mail.example.org"};
            break;
        case DnsType::CNAME:
            answer.status = DnsAnswer::Status::nodata;
            break;
        }
        const unsigned times_out = type == DnsType::TXT   ? 0x80
                                   : type == DnsType::PTR ? 0x40
                                   : type == DnsType::MX  ? 0x20
                                                          : 0x10;
        if (world.flags & times_out)
            answer = DnsAnswer{DnsAnswer::Status::timeout, {}, {}, false, "fuzzed timeout"};
        done(std::move(answer));
    }

  private:
    static std::string ptr_name() {
        std::string name;
        for (const char c : world.dns_text) {
            const auto byte = static_cast<unsigned char>(c);
            if (byte > 0x20 && byte < 0x7f && c != '\\')
                name += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        }
        return name.empty() ? "." : name.substr(0, 253);
    }
};

std::shared_ptr<const Runtime> make_runtime() {
    auto loaded = load_config(SOURCE_ROOT "/rules/portcullis.conf",
                              {{"dnsbl.zone", "bl.example=127.0.0.[2..11]*2"},
                               {"dnsbl.zone", "wl.bl.example*-1"},
                               {"rhsbl.zone", "dbl.example"},
                               {"reply-url", "https://mx.example/why/${rule}"},
                               {"dnsbl.txt-max-length", "900"}});
    require(loaded.config.has_value());
    std::vector<std::string> reply_errors;
    std::vector<ConfigError> data_errors;
    auto runtime = std::make_shared<Runtime>();
    runtime->replies = load_replies(loaded.config->replies_file, reply_errors);
    runtime->check_data = CheckDataSet::load(*loaded.config, data_errors);
    require(reply_errors.empty() && data_errors.empty());
    // Straight to the world, without the shared answer cache, so that one
    // input's answers never reach the next.
    runtime->resolver = std::make_shared<WorldResolver>();
    runtime->config = std::make_shared<const Config>(std::move(*loaded.config));
    return runtime;
}

void check_addresses(std::string_view text) {
    if (const auto literal = parse_address_literal(text)) {
        const std::string again = literal->is_v4() ? "[" + literal->to_string() + "]"
                                                   : "[IPv6:" + literal->to_string() + "]";
        require(parse_address_literal(again) == literal);
    }
    if (const auto address = IpAddress::parse(text)) {
        const auto canonical = address->to_string();
        require(IpAddress::parse(canonical) == address);
        require(address->unmapped().unmapped() == address->unmapped());
        require(address->reverse_name().size() ==
                (address->is_v4() ? 13 : 9) + address->reversed().size());
        require(Network::parse(canonical)->contains(*address));
    }
    if (const auto network = Network::parse(text)) {
        const auto slash = text.find('/');
        require(network->contains(*IpAddress::parse(text.substr(0, slash))));
        require(Network::parse(network->to_string()).has_value());
    }
}

// The fields of the decision line, as session_test's fields_of() reads
// them: words or "..." strings with \" and \\ escaped.
std::optional<std::multimap<std::string, std::string>> fields_of(std::string_view line) {
    std::multimap<std::string, std::string> fields;
    std::size_t at = 0;
    while (at < line.size()) {
        if (line[at] == ' ') {
            ++at;
            continue;
        }
        const auto equals = line.find('=', at);
        const auto space = line.find(' ', at);
        if (equals == std::string_view::npos || (space != std::string_view::npos && space < equals))
            return std::nullopt;
        std::string key(line.substr(at, equals - at));
        at = equals + 1;
        std::string value;
        if (at < line.size() && line[at] == '"') {
            for (++at;; ++at) {
                if (at >= line.size())
                    return std::nullopt;
                if (line[at] == '\\' && at + 1 < line.size()) {
                    value += line[++at];
                    continue;
                }
                if (line[at] == '"')
                    break;
                value += line[at];
            }
            if (++at < line.size() && line[at] != ' ')
                return std::nullopt;
        } else {
            const auto end = std::min(line.find(' ', at), line.size());
            value = std::string(line.substr(at, end - at));
            at = end;
        }
        fields.emplace(std::move(key), std::move(value));
    }
    return fields;
}

void check_decision_line(std::string_view line, const RecipientAnswer &answer) {
    static const std::set<std::string> known = {
        "session", "queue",  "client", "ptr",  "helo",    "from",   "rcpt",    "stage",
        "rule",    "action", "code",   "text", "skipped", "exempt", "dry-run", "log"};
    const auto fields = fields_of(line);
    require(fields.has_value());
    for (const auto &[key, value] : *fields) {
        require(known.contains(key));
        require(key == "log" || fields->count(key) == 1);
    }
    const bool refused =
        answer.policy_verdict == Verdict::reject || answer.policy_verdict == Verdict::tempfail;
    require(fields->count("rule") == (refused ? 1u : 0u));
    if (refused)
        require(fields->find("rule")->second == answer.rule);
}

void check_reply(const RecipientAnswer &answer) {
    const bool refused =
        answer.policy_verdict == Verdict::reject || answer.policy_verdict == Verdict::tempfail;
    if (!refused) {
        require(answer.verdict == Verdict::continue_);
        return;
    }
    const Reply &reply = answer.reply;
    const char first = answer.policy_verdict == Verdict::reject ? '5' : '4';
    require(reply.code.size() == 3 && reply.code[0] == first);
    require(reply.status.size() >= 5 && reply.status[0] == first);
    require(!reply.lines.empty() && reply.lines.size() <= max_reply_lines);
    for (const auto &line : reply.lines) {
        require(line.size() <= max_reply_line_length && printable(line));
        for (std::size_t i = 0; i < line.size(); ++i)
            if (line[i] == '%')
                require(++i < line.size() && line[i] == '%');
    }
    require(reply.text().find(answer.rule) != std::string::npos);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    static const auto runtime = make_runtime();
    static std::vector<std::string> lines;
    static const bool logging = [] {
        LogSettings capture;
        capture.to_syslog = false;
        capture.sink = [](int, std::string_view line) { lines.emplace_back(line); };
        configure_logging(capture);
        return true;
    }();
    (void)logging;
    if (size == 0 || size > 8192)
        return 0;

    std::string_view input(reinterpret_cast<const char *>(data + 1), size - 1);
    std::vector<std::string> fields;
    for (int i = 0; i < 10; ++i) {
        const auto cut = input.find('\0');
        fields.emplace_back(input.substr(0, cut));
        input.remove_prefix(cut == std::string_view::npos ? input.size() : cut + 1);
    }
    const std::string &helo = fields[0];
    for (const auto &field : fields)
        check_addresses(field);

    const unsigned flags = data[0];
    auto client = IpAddress::parse(fields[1]);
    if (!client && (flags & 3) != 3)
        client = IpAddress::parse((flags & 3) == 0   ? "192.0.2.10"
                                  : (flags & 3) == 1 ? "2001:db8::10"
                                                     : "::ffff:192.0.2.10");
    world = World{client ? client->unmapped().to_string() : "", fields[9], flags};
    lines.clear();

    Session session(runtime, "fuzz");
    std::optional<IpAddress> daemon_address;
    if (!fields[2].empty())
        daemon_address = IpAddress::parse(fields[2]);
    session.connect(client, fields[5], fields[3], daemon_address);
    session.helo(helo);
    session.mail(fields[6], fields[4]);
    session.set_queue_id(fields[8]);
    const auto answer = session.recipient(fields[7]);
    check_reply(answer);

    if (const auto header = session.received_spf_header())
        require(header->size() <= max_received_spf_length && printable(*header));

    CheckReport report{session, session.evaluate(), {{fields[7], answer}}, answer.reply};
    (void)report_json(report).dump();
    const auto text = report_text(report);
    for (const char c : text)
        require(c == '\n' || printable(std::string_view(&c, 1)));

    int decisions = 0;
    for (const auto &line : lines) {
        require(printable(line));
        if (line.starts_with("session=fuzz queue=")) {
            ++decisions;
            check_decision_line(line, answer);
        }
    }
    require(decisions == 1);
    return 0;
}
