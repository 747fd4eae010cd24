// libFuzzer target for the text an administrator or the network hands
// the core: DNSBL entries and their filters, actions, networks, durations,
// and reply rendering with hostile variable values (DNS TXT, HELO).
// Invariants checked: a rendered reply line is printable ASCII, within
// libmilter's limits, and has '%' only doubled.
#include "core/address.hpp"
#include "core/config.hpp"
#include "core/host_name.hpp"
#include "core/replies.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace portcullis;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string text(reinterpret_cast<const char *>(data), size);

    if (auto zone = DnsblZone::parse(text))
        (void)zone->matches("127.0.0.2");
    (void)Action::parse(text);
    (void)Network::parse(text);
    (void)IpAddress::parse(text);
    (void)parse_address_literal(text);
    (void)parse_duration(text);
    (void)parse_size(text);
    (void)host_name_problem(text);

    ReplyTemplate tmpl;
    tmpl.lines = {text, "${dnsbl_txt} ${helo}", "See ${url}"};
    const std::map<std::string, std::string> vars = {
        {"dnsbl_txt", text}, {"helo", text}, {"rule", text}, {"url", text}};
    const auto reply = render_reply(tmpl, Verdict::reject, vars);
    if (reply.lines.empty() || reply.lines.size() > max_reply_lines)
        std::abort();
    for (const auto &line : reply.lines) {
        if (line.size() > max_reply_line_length)
            std::abort();
        for (std::size_t i = 0; i < line.size(); ++i) {
            const auto byte = static_cast<unsigned char>(line[i]);
            if (byte < 0x20 || byte > 0x7e)
                std::abort();
            if (line[i] == '%' && (i + 1 >= line.size() || line[++i] != '%'))
                std::abort();
        }
    }
    return 0;
}
