#include "milter.hpp"

#include "core/log.hpp"
#include "metrics/registry.hpp"
#include "session/session.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>

namespace portcullis {

namespace {

std::atomic<std::size_t> connections_open{0};

// One MTA connection, attached with smfi_setpriv() at its first callback
// (negotiation) and destroyed only in close: it holds the session of the
// SMTP client and counts itself, so that shutdown knows what is in flight.
struct Connection {
    std::unique_ptr<Session> session;
    // What negotiation settled for the message stage.
    bool leading_space = false;   // SMFIP_HDR_LEADSPC: header values as sent
    bool skip_body = false;       // SMFIP_SKIP: the rest of the body may be skipped
    bool no_header_reply = false; // SMFIP_NR_HDR: header fields are not answered
    bool no_eoh_reply = false;    // SMFIP_NR_EOH: the end of the header is not answered
    bool no_body_reply = false;   // SMFIP_NR_BODY: body chunks are not answered
    bool header_failed = false;   // an internal error at a header field: EOH tempfails
    // A refusal decided where no answer may carry it (the end of the
    // header with SMFIP_NR_EOH): given at the first stage that answers
    // (a body chunk, or the end of the message). Its text was set with
    // smfi_setreply() when it was decided; libmilter sends that text with
    // the next reject or tempfail, which is this one.
    std::optional<sfsistat> held;

    Connection() { ++connections_open; }
    ~Connection() { --connections_open; }
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;
};

Connection *connection_of(SMFICTX *ctx) {
    return static_cast<Connection *>(smfi_getpriv(ctx));
}

Connection &attach_connection(SMFICTX *ctx) {
    if (auto *connection = connection_of(ctx))
        return *connection;
    auto connection = std::make_unique<Connection>();
    smfi_setpriv(ctx, connection.get());
    return *connection.release();
}

Session *session_of(SMFICTX *ctx) {
    auto *connection = connection_of(ctx);
    return connection ? connection->session.get() : nullptr;
}

std::string macro(SMFICTX *ctx, const char *name) {
    const char *value = smfi_getsymval(ctx, const_cast<char *>(name));
    return value ? value : "";
}

std::optional<IpAddress> address_of(const sockaddr *address) {
    if (!address)
        return std::nullopt;
    if (address->sa_family == AF_INET) {
        sockaddr_in in{};
        std::memcpy(&in, address, sizeof in);
        std::array<std::uint8_t, 4> bytes{};
        std::memcpy(bytes.data(), &in.sin_addr, 4);
        return IpAddress::from_v4(bytes);
    }
    if (address->sa_family == AF_INET6) {
        sockaddr_in6 in6{};
        std::memcpy(&in6, address, sizeof in6);
        std::array<std::uint8_t, 16> bytes{};
        std::memcpy(bytes.data(), &in6.sin6_addr, 16);
        return IpAddress::from_v6(bytes);
    }
    return std::nullopt;
}

// "<user@example.org>" -> "user@example.org"; the null sender is "".
std::string strip_brackets(const char *argument) {
    std::string_view text = argument ? argument : "";
    if (text.size() >= 2 && text.front() == '<' && text.back() == '>')
        text = text.substr(1, text.size() - 2);
    return std::string(text);
}

// Whether the ESMTP parameters after the address (argv[1] on) hold
// `name`, alone or as name=value, in any case.
bool has_parameter(char **argv, std::string_view name) {
    if (!argv || !argv[0])
        return false;
    for (char **argument = argv + 1; *argument; ++argument) {
        std::string_view text = *argument;
        text = text.substr(0, text.find('='));
        if (text.size() == name.size() &&
            std::equal(text.begin(), text.end(), name.begin(), [](char a, char b) {
                return std::toupper(static_cast<unsigned char>(a)) == b;
            }))
            return true;
    }
    return false;
}

bool set_reply(SMFICTX *ctx, const Reply &reply) {
    std::array<char *, max_reply_lines> lines{};
    for (std::size_t i = 0; i < reply.lines.size() && i < lines.size(); ++i)
        lines[i] = const_cast<char *>(reply.lines[i].c_str());
    auto code = const_cast<char *>(reply.code.c_str());
    auto status = const_cast<char *>(reply.status.c_str());
    int result;
    if (reply.lines.size() <= 1)
        result = smfi_setreply(ctx, code, status, lines[0]);
    else
        result = smfi_setmlreply(ctx, code, status, lines[0], lines[1], lines[2], lines[3],
                                 lines[4], lines[5], lines[6], lines[7], lines[8], lines[9],
                                 lines[10], lines[11], lines[12], lines[13], lines[14], lines[15],
                                 lines[16], lines[17], lines[18], lines[19], lines[20], lines[21],
                                 lines[22], lines[23], lines[24], lines[25], lines[26], lines[27],
                                 lines[28], lines[29], lines[30], lines[31], nullptr);
    if (result != MI_SUCCESS)
        log_error("libmilter refused the reply text for " + reply.code + " " + reply.status);
    return result == MI_SUCCESS;
}

// HELO, MAIL and unknown commands refuse beyond the session's budget or
// for a block of the abuse counters.
sfsistat answer_command(SMFICTX *ctx, const CommandAnswer &answer) {
    if (answer.verdict != Verdict::tempfail)
        return SMFIS_CONTINUE;
    set_reply(ctx, answer.reply);
    return SMFIS_TEMPFAIL;
}

template <typename Body> sfsistat guarded(SMFICTX *ctx, const char *stage, Body body) {
    try {
        return body();
    } catch (const std::exception &error) {
        log_error(std::string("internal error at ") + stage + ": " + error.what() +
                  "; tempfailing");
    } catch (...) {
        log_error(std::string("internal error at ") + stage + "; tempfailing");
    }
    try {
        set_reply(ctx, internal_error_reply(current_runtime().get()));
    } catch (...) {
        // Not even the reply could be made: the MTA's own 4xx text.
        log_error("no reply text for the internal error at " + std::string(stage));
    }
    return SMFIS_TEMPFAIL;
}

// Over TCP the DATA stage is taken, not skipped: Postfix sends DATA's
// macros even for a skipped stage, a packet nothing answers, so the
// end-of-message packet that follows waits for our delayed ACK (Nagle,
// about 40 ms per message). Answering DATA acknowledges it at once.
bool listening_on_tcp() {
    static const bool tcp = [] {
        const auto runtime = current_runtime();
        return runtime && runtime->config->socket.rfind("inet", 0) == 0;
    }();
    return tcp;
}

sfsistat on_negotiate(SMFICTX *ctx, unsigned long actions, unsigned long steps, unsigned long,
                      unsigned long, unsigned long *actions_out, unsigned long *steps_out,
                      unsigned long *, unsigned long *) {
    const auto runtime = current_runtime();
    const auto needs = runtime ? runtime->message_needs : MessageNeeds{};
    // Adding headers (Received-SPF, Authentication-Results), and deleting
    // forged Authentication-Results fields, is all we change in a message.
    *actions_out = actions & (SMFIF_ADDHDRS | (needs.change_fields ? SMFIF_CHGHDRS : 0));
    // Skip what no configured check looks at, when the MTA can leave it out.
    unsigned long skip = 0;
    if (!needs.header)
        skip |= SMFIP_NOHDRS | SMFIP_NOEOH;
    if (!needs.body)
        skip |= SMFIP_NOBODY;
    if (!listening_on_tcp())
        skip |= SMFIP_NODATA;
    // The abuse counters see the recipients the MTA refused itself
    // ({rcpt_mailer} = error) and the commands it did not know.
    const bool counting = runtime && runtime->store;
    if (!counting || !runtime->config->limits.unknown_commands)
        skip |= SMFIP_NOUNKNOWN;
    *steps_out = steps & skip;
    if (counting && runtime->config->limits.rejected_recipients)
        *steps_out |= steps & SMFIP_RCPT_REJ;
    auto &connection = attach_connection(ctx);
    // DKIM's simple header canonicalization needs the white space after
    // the colon as it was sent.
    if (needs.header && (steps & SMFIP_HDR_LEADSPC)) {
        *steps_out |= SMFIP_HDR_LEADSPC;
        connection.leading_space = true;
    }
    // Nothing refuses at a header field (the header is judged at its end):
    // the MTA need not wait for an answer to each.
    if (needs.header && (steps & SMFIP_NR_HDR)) {
        *steps_out |= SMFIP_NR_HDR;
        connection.no_header_reply = true;
    }
    // On a Unix socket the end of the header and the body chunks go
    // unanswered too: the MTA sends the whole message in one stream and
    // waits once, at its end, where a refusal of the header is given
    // (the SMTP client hears it only after the final dot anyway). Not
    // over TCP: there the MTA's small unanswered packets would wait for
    // our delayed ACK (Nagle), as DATA's would.
    const bool streamed = !listening_on_tcp();
    if (needs.header && streamed && (steps & SMFIP_NR_EOH)) {
        *steps_out |= SMFIP_NR_EOH;
        connection.no_eoh_reply = true;
    }
    if (needs.body && streamed && (steps & SMFIP_NR_BODY)) {
        // Unanswered chunks cannot be skipped: the rest of a body no
        // check needs is read and dropped, which costs less than one
        // answer per chunk.
        *steps_out |= SMFIP_NR_BODY;
        connection.no_body_reply = true;
    } else if (needs.body && (steps & SMFIP_SKIP)) {
        *steps_out |= SMFIP_SKIP;
        connection.skip_body = true;
    }
    smfi_setsymlist(ctx, SMFIM_CONNECT, const_cast<char *>("j {daemon_addr} _"));
    smfi_setsymlist(ctx, SMFIM_HELO, const_cast<char *>("j"));
    smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char *>("i {auth_authen}"));
    smfi_setsymlist(ctx, SMFIM_ENVRCPT, const_cast<char *>("i {rcpt_mailer}"));
    return SMFIS_CONTINUE;
}

sfsistat on_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *address) {
    return guarded(ctx, "connect", [&] {
        auto &connection = attach_connection(ctx);
        connection.session.reset(); // a second connect on one MTA connection
        auto runtime = current_runtime();
        auto session = std::make_unique<Session>(runtime, next_session_id());
        metrics::global().count_session();
        std::optional<IpAddress> daemon_address;
        if (auto text = macro(ctx, "{daemon_addr}"); !text.empty())
            daemon_address = IpAddress::parse(text);
        session->connect(address_of(address), hostname ? hostname : "", macro(ctx, "j"),
                         daemon_address);
        connection.session = std::move(session);
        return SMFIS_CONTINUE;
    });
}

sfsistat on_helo(SMFICTX *ctx, char *name) {
    return guarded(ctx, "helo", [&] {
        if (auto *session = session_of(ctx))
            return answer_command(ctx, session->helo(name ? name : ""));
        return SMFIS_CONTINUE;
    });
}

sfsistat on_mail(SMFICTX *ctx, char **argv) {
    return guarded(ctx, "mail", [&] {
        if (auto *session = session_of(ctx))
            return answer_command(ctx, session->mail(strip_brackets(argv ? argv[0] : nullptr),
                                                     macro(ctx, "{auth_authen}"),
                                                     has_parameter(argv, "SMTPUTF8")));
        return SMFIS_CONTINUE;
    });
}

sfsistat on_recipient(SMFICTX *ctx, char **argv) {
    return guarded(ctx, "rcpt", [&] {
        auto *session = session_of(ctx);
        if (!session)
            return SMFIS_CONTINUE;
        session->set_queue_id(macro(ctx, "i"));
        const auto answer = session->recipient(strip_brackets(argv ? argv[0] : nullptr),
                                               macro(ctx, "{rcpt_mailer}") == "error");
        if (answer.verdict == Verdict::reject || answer.verdict == Verdict::tempfail) {
            // A reply libmilter refuses would leave the MTA's generic text;
            // the verdict still stands.
            set_reply(ctx, answer.reply);
            return answer.verdict == Verdict::reject ? SMFIS_REJECT : SMFIS_TEMPFAIL;
        }
        return SMFIS_CONTINUE;
    });
}

// A verdict on the whole message, at the end of the header or of the message.
sfsistat answer_message(SMFICTX *ctx, const MessageAnswer &answer) {
    if (answer.verdict != Verdict::reject && answer.verdict != Verdict::tempfail)
        return SMFIS_CONTINUE;
    set_reply(ctx, answer.reply);
    return answer.verdict == Verdict::reject ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

sfsistat on_header(SMFICTX *ctx, char *name, char *value) {
    auto *connection = connection_of(ctx);
    if (!connection || !connection->session)
        return SMFIS_CONTINUE;
    const sfsistat answer = connection->no_header_reply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
    if (connection->header_failed)
        return answer;
    try {
        std::string_view text = value ? value : "";
        if (connection->leading_space)
            connection->session->header(name ? name : "", text);
        else
            // The MTA took the space after the colon away; one is the usual.
            connection->session->header(name ? name : "", " " + std::string(text));
        return answer;
    } catch (const std::exception &error) {
        log_error(std::string("internal error at header: ") + error.what() +
                  "; tempfailing at the end of the header");
    } catch (...) {
        log_error("internal error at header; tempfailing at the end of the header");
    }
    // A header field gets no answer (SMFIP_NR_HDR): the end of the header
    // carries the tempfail.
    connection->header_failed = true;
    return answer;
}

// A stage the MTA does not wait for: a refusal it decided is held for
// the next stage that answers (see Connection::held).
sfsistat unanswered(Connection &connection, sfsistat status) {
    if (status != SMFIS_CONTINUE)
        connection.held = status;
    return SMFIS_NOREPLY;
}

sfsistat take_held(Connection &connection) {
    const sfsistat held = *connection.held;
    connection.held.reset();
    return held;
}

sfsistat on_end_of_header(SMFICTX *ctx) {
    const sfsistat status = guarded(ctx, "eoh", [&] {
        if (auto *connection = connection_of(ctx); connection && connection->header_failed) {
            connection->header_failed = false;
            throw std::runtime_error("a header field could not be taken");
        }
        if (auto *session = session_of(ctx))
            return answer_message(ctx, session->end_of_header());
        return SMFIS_CONTINUE;
    });
    auto *connection = connection_of(ctx);
    return connection && connection->no_eoh_reply ? unanswered(*connection, status) : status;
}

sfsistat on_body(SMFICTX *ctx, unsigned char *chunk, size_t size) {
    auto *connection = connection_of(ctx);
    const bool silent = connection && connection->no_body_reply;
    if (connection && connection->held)
        // The message is refused already: its body is not looked at.
        return silent ? SMFIS_NOREPLY : take_held(*connection);
    const sfsistat status = guarded(ctx, "body", [&] {
        if (!connection || !connection->session)
            return SMFIS_CONTINUE;
        const bool more = connection->session->body(
            std::string_view(reinterpret_cast<const char *>(chunk), chunk ? size : 0));
        return !more && connection->skip_body ? SMFIS_SKIP : SMFIS_CONTINUE;
    });
    // An internal error in a silent chunk: given at the end.
    return silent ? unanswered(*connection, status) : status;
}

sfsistat on_end_of_message(SMFICTX *ctx) {
    return guarded(ctx, "eom", [&] {
        auto *connection = connection_of(ctx);
        auto *session = connection ? connection->session.get() : nullptr;
        if (connection && connection->held) {
            // Decided (and logged) at the end of the header.
            if (session)
                session->reset_transaction();
            return take_held(*connection);
        }
        if (!session)
            return SMFIS_CONTINUE;
        const auto end = session->end_of_message();
        session->reset_transaction();
        if (end.answer.verdict != Verdict::continue_)
            return answer_message(ctx, end.answer);
        // Highest index first: a deletion shifts only the fields after it.
        for (const auto index : end.delete_authentication_results)
            if (smfi_chgheader(ctx, const_cast<char *>("Authentication-Results"),
                               static_cast<int>(index), nullptr) != MI_SUCCESS)
                log_warning("session=" + session->id() +
                            " could not delete a forged Authentication-Results field");
        // Each lands at position 1, just below the MTA's own Received:
        // field, above the one added before it: in reverse order.
        // With SMFIP_HDR_LEADSPC the MTA writes the value as given, the
        // space after the colon included.
        const std::string space = connection->leading_space ? " " : "";
        for (auto field = end.add_fields.rbegin(); field != end.add_fields.rend(); ++field)
            if (smfi_insheader(ctx, 1, const_cast<char *>(field->first.c_str()),
                               const_cast<char *>((space + field->second).c_str())) != MI_SUCCESS)
                log_warning("session=" + session->id() + " could not add " + field->first);
        return SMFIS_CONTINUE;
    });
}

sfsistat on_abort(SMFICTX *ctx) {
    return guarded(ctx, "abort", [&] {
        if (auto *connection = connection_of(ctx)) {
            connection->header_failed = false;
            connection->held.reset();
        }
        if (auto *session = session_of(ctx))
            session->abort_transaction();
        return SMFIS_CONTINUE;
    });
}

sfsistat on_unknown(SMFICTX *ctx, const char *) {
    return guarded(ctx, "unknown", [&] {
        if (auto *session = session_of(ctx))
            return answer_command(ctx, session->unknown_command());
        return SMFIS_CONTINUE;
    });
}

sfsistat on_close(SMFICTX *ctx) {
    // May run without a connect; the only place a connection is destroyed.
    if (auto *session = session_of(ctx)) {
        try {
            session->close();
        } catch (const std::exception &error) {
            log_error(std::string("internal error at close: ") + error.what());
        } catch (...) {
            log_error("internal error at close");
        }
    }
    delete connection_of(ctx);
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
}

} // namespace

std::size_t open_connections() {
    return connections_open.load();
}

smfiDesc milter_description() {
    smfiDesc description{};
    description.xxfi_name = const_cast<char *>("portcullis");
    description.xxfi_version = SMFI_VERSION;
    description.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
    description.xxfi_connect = on_connect;
    description.xxfi_helo = on_helo;
    description.xxfi_envfrom = on_mail;
    description.xxfi_envrcpt = on_recipient;
    description.xxfi_header = on_header;
    description.xxfi_eoh = on_end_of_header;
    description.xxfi_body = on_body;
    description.xxfi_eom = on_end_of_message;
    description.xxfi_abort = on_abort;
    description.xxfi_unknown = on_unknown;
    description.xxfi_close = on_close;
    description.xxfi_negotiate = on_negotiate;
    return description;
}

} // namespace portcullis
