// libFuzzer target: the From: and Authentication-Results parsers and the
// A-R writer (milter/message/address_list.hpp, auth_results.hpp). The
// whole input is read as an A-R value (authserv_id_of) and as a From:
// value (mailbox_domains); split at NUL it gives the writer's pieces:
//   ID \0 METHOD \0 RESULT \0 REASON \0 PTYPE \0 PROPERTY \0 VALUE \0 COMMENT
// (written as two results, the second without properties).
// Asserts, beyond the sanitizers: an authserv-id is lower-case and as
// long as the input at most; mailbox domains are non-empty, lower-case
// ASCII, without a trailing dot, at most max_mailboxes; the field written
// has lines under 998 octets (with "Authentication-Results: "), folds as
// "\n\t", no control byte but tab, and gives back its authserv-id.
#include "message/address_list.hpp"
#include "message/auth_results.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace portcullis::message;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

bool has_upper(std::string_view text) {
    for (const char c : text)
        if (c >= 'A' && c <= 'Z')
            return true;
    return false;
}

std::string lower_clean(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && c != '\t') || byte == 0x7f)
            continue;
        out += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return out;
}

void check_field(const std::string &field) {
    std::size_t line = 24;
    for (std::size_t i = 0; i < field.size(); ++i) {
        const auto byte = static_cast<unsigned char>(field[i]);
        if (field[i] == '\n') {
            require(line < 998 && i + 1 < field.size() && field[i + 1] == '\t');
            line = 0;
            continue;
        }
        require((byte >= 0x20 || field[i] == '\t') && byte != 0x7f);
        ++line;
    }
    require(line < 998);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char *>(data), size);

    const auto id = authserv_id_of(input);
    require(id.size() <= input.size() && !has_upper(id));

    const auto found = mailbox_domains(input);
    require(found.domains.size() <= max_mailboxes);
    for (const auto &domain : found.domains) {
        require(!domain.empty() && domain.back() != '.' && !has_upper(domain));
        require(domain.find('\0') == std::string::npos);
    }

    std::vector<std::string> pieces;
    std::string_view rest = input;
    for (int i = 0; i < 8; ++i) {
        const auto cut = rest.find('\0');
        pieces.emplace_back(rest.substr(0, cut));
        rest.remove_prefix(cut == std::string_view::npos ? rest.size() : cut + 1);
    }
    const std::vector<AuthResult> results = {
        {pieces[1], pieces[2], pieces[3], {{pieces[4], pieces[5], pieces[6]}}, pieces[7]},
        {pieces[2], pieces[1], pieces[7], {}, pieces[3]}};
    for (const auto *list : {&results, static_cast<const std::vector<AuthResult> *>(nullptr)}) {
        const auto field =
            format_authentication_results(pieces[0], list ? *list : std::vector<AuthResult>{});
        check_field(field);
        require(authserv_id_of(field) == lower_clean(std::string_view(pieces[0]).substr(0, 255)));
    }
    return 0;
}
