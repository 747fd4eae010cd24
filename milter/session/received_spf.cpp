#include "received_spf.hpp"

#include "session.hpp"

#include <algorithm>

namespace portcullis {

namespace {

constexpr std::size_t receiver_limit = 64;
constexpr std::size_t sender_limit = 100; // in the comment
constexpr std::size_t envelope_limit = 128;
constexpr std::size_t helo_limit = 80;
constexpr std::size_t mechanism_limit = 80;
constexpr std::size_t problem_limit = 100;

// Printable ASCII with `special` characters backslash-escaped, at most
// `limit` bytes; an escape pair is never split.
std::string escaped(std::string_view text, std::string_view special, std::size_t limit) {
    std::string out;
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f)
            continue;
        const char shown = byte > 0x7f ? '?' : c;
        const bool escape = special.find(shown) != std::string_view::npos;
        if (out.size() + (escape ? 2 : 1) > limit)
            break;
        if (escape)
            out += '\\';
        out += shown;
    }
    return out;
}

std::string quoted(std::string_view text, std::size_t limit) {
    return "\"" + escaped(text, "\"\\", limit) + "\"";
}

std::string comment_text(std::string_view text, std::size_t limit) {
    return escaped(text, "()\\", limit);
}

bool is_atext(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// RFC 5322 dot-atom-text.
bool is_dot_atom(std::string_view text) {
    if (text.empty() || text.front() == '.' || text.back() == '.')
        return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '.' && text[i + 1] == '.')
            return false;
        if (text[i] != '.' && !is_atext(text[i]))
            return false;
    }
    return true;
}

// A dot-atom when it is one and fits, else a quoted-string.
std::string atom_or_quoted(std::string_view text, std::size_t limit) {
    if (is_dot_atom(text) && text.size() <= limit)
        return std::string(text);
    return quoted(text, limit);
}

std::string comment_for(const SpfNote &note) {
    using Code = SpfResult::Code;
    const std::string sender = note.request.sender;
    const std::string client = note.request.client.to_string();
    switch (note.result.result) {
    case Code::pass:
        return "domain of " + sender + " designates " + client + " as permitted sender";
    case Code::fail:
        return "domain of " + sender + " does not designate " + client + " as permitted sender";
    case Code::softfail:
        return "domain of transitioning " + sender + " does not designate " + client +
               " as permitted sender";
    case Code::neutral:
        return client + " is neither permitted nor denied by domain of " + sender;
    case Code::none:
        return "domain of " + sender + " does not designate permitted sender hosts";
    case Code::temperror:
        return "temporary error while checking the domain of " + sender;
    case Code::permerror:
        return "permanent error in the SPF record of the domain of " + sender;
    }
    return "";
}

} // namespace

std::string received_spf_value(const SpfNote &note, std::string_view envelope_from) {
    const SpfRequest &request = note.request;
    const SpfResult &result = note.result;
    // The sender inside the comment is cut before the fixed words are
    // added, so that the words stay whole.
    SpfNote shown = note;
    shown.request.sender =
        std::string(request.sender.substr(0, std::min(request.sender.size(), sender_limit)));
    std::string comment = comment_text(comment_for(shown), 400);
    if (!request.receiver.empty())
        comment = comment_text(request.receiver, receiver_limit) + ": " + comment;

    std::string value = std::string(to_string(result.result)) + " (" + comment + ")";
    value += " client-ip=" + request.client.to_string() + ";";
    value += " envelope-from=" + quoted(envelope_from, envelope_limit) + ";";
    if (!request.helo.empty())
        value += " helo=" + atom_or_quoted(request.helo, helo_limit) + ";";
    if (!request.receiver.empty())
        value += " receiver=" + atom_or_quoted(request.receiver, receiver_limit) + ";";
    value += " identity=" + std::string(to_string(note.identity));
    if (!result.mechanism.empty())
        value += "; mechanism=" + quoted(result.mechanism, mechanism_limit);
    if (!result.problem.empty())
        value += "; problem=" + quoted(result.problem, problem_limit);
    return value.substr(0, std::min(value.size(), max_received_spf_length));
}

std::optional<std::string> Session::received_spf_header() const {
    if (!config().spf.add_header || is_trusted())
        return std::nullopt;
    const CheckContext context = this->context();
    const auto note = read_spf(context, SpfIdentity::mail_from);
    if (!note)
        return std::nullopt;
    return received_spf_value(*note, facts_.sender);
}

} // namespace portcullis
