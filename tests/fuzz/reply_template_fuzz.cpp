// libFuzzer target: a replies file and hostile variable values. The input
// is "FILE\0VALUE\0VALUE..."; the file (handed over as a memfd) overrides
// the checks' declared replies through ReplyBook::load(), and every
// template of the book is rendered, as a reject and as a tempfail, with
// the values as ${dnsbl_txt}, ${helo}, ${sender}, ... (what DNS and the
// client control). The rule is one of the declared ids, picked by the
// input's length. Asserts what replies.hpp promises: codes of the right
// class, 1 to 32 lines of at most 980 bytes of printable ASCII, '%' only
// doubled, and the rule id named in the reply.
#include "checks/check.hpp"
#include "core/policy.hpp"
#include "core/replies.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

using namespace portcullis;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

const std::string &file_holding(std::string_view text) {
    static const int fd = memfd_create("portcullis-replies-fuzz", 0);
    static const std::string path = "/proc/self/fd/" + std::to_string(fd);
    require(fd >= 0);
    require(ftruncate(fd, 0) == 0);
    std::size_t written = 0;
    while (written < text.size()) {
        const auto n =
            pwrite(fd, text.data() + written, text.size() - written, static_cast<off_t>(written));
        require(n > 0);
        written += static_cast<std::size_t>(n);
    }
    return path;
}

bool is_code(const std::string &code, char first) {
    return code.size() == 3 && code[0] == first && code[1] >= '0' && code[1] <= '9' &&
           code[2] >= '0' && code[2] <= '9';
}

bool is_status(const std::string &status, char first) {
    return status.size() >= 5 && status[0] == first && status[1] == '.' &&
           status.find_first_not_of("0123456789.") == std::string::npos;
}

void check_reply(const Reply &reply, const ReplyTemplate &tmpl, Verdict verdict,
                 const std::string &rule) {
    const char first = verdict == Verdict::reject ? '5' : '4';
    require(is_code(reply.code, first) && is_status(reply.status, first));
    require(reply.code == (verdict == Verdict::reject ? tmpl.reject_code : tmpl.tempfail_code));
    require(!reply.lines.empty() && reply.lines.size() <= max_reply_lines);
    for (const auto &line : reply.lines) {
        require(line.size() <= max_reply_line_length);
        for (std::size_t i = 0; i < line.size(); ++i) {
            const auto byte = static_cast<unsigned char>(line[i]);
            require(byte >= 0x20 && byte <= 0x7e);
            if (line[i] == '%')
                require(++i < line.size() && line[i] == '%');
        }
    }
    const auto text = reply.text();
    require(text.find(rule) != std::string::npos);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 65536)
        return 0;
    std::string_view input(reinterpret_cast<const char *>(data), size);
    const auto end = input.find('\0');
    const auto file = input.substr(0, end);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
    std::vector<std::string> values;
    while (!input.empty()) {
        const auto cut = input.find('\0');
        values.emplace_back(input.substr(0, cut));
        input.remove_prefix(cut == std::string_view::npos ? input.size() : cut + 1);
    }
    auto value = [&](std::size_t i) { return i < values.size() ? values[i] : std::string(); };

    std::vector<std::string> errors;
    const std::string &path = file_holding(file);
    const auto book = ReplyBook::load(path, rule_table(), errors);
    for (const auto &error : errors)
        require(error.starts_with(path + ":"));

    std::vector<std::string_view> ids;
    for (const auto &rule : rule_table())
        ids.push_back(rule.id);
    for (const auto &rule : policy_rules())
        ids.push_back(rule.id);
    const std::string rule(ids[size % ids.size()]);

    const std::map<std::string, std::string> vars = {
        {"dnsbl_txt", value(0)},
        {"rhsbl_txt", value(0)},
        {"helo", value(1)},
        {"first_helo", value(1)},
        {"sender", value(2)},
        {"recipient", value(3)},
        {"client_name", value(4)},
        {"detail", value(5)},
        {"dnsbl_zone", value(6)},
        {"client_addr", value(6)},
        {"rhsbl_domain", value(6)},
        {"url", value(7)},
        {"rule", rule},
        {"score", "3.5"},
        {"rhsbl_source", "HELO name"},
    };
    std::vector<std::string_view> rendered = ids;
    rendered.push_back("default");
    for (const auto id : rendered) {
        const auto &tmpl = book.find(id);
        require(tmpl.lines.size() <= max_reply_lines);
        for (const auto verdict : {Verdict::reject, Verdict::tempfail})
            check_reply(render_reply(tmpl, verdict, vars), tmpl, verdict, rule);
    }
    return 0;
}
