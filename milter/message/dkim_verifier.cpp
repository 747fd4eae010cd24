#include "dkim_verifier.hpp"

#include "core/log.hpp"
#include "dkim_wire.hpp"
#include "pubkey_decode.hpp"
#include "syntax.hpp"

// dkim.h declares C99 _Bool parameters, which C++ does not know; bool has
// the same representation on every ABI we build for.
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <sys/time.h>

namespace portcullis::message {

std::string_view to_string(DkimResult result) {
    switch (result) {
    case DkimResult::pass:
        return "pass";
    case DkimResult::fail:
        return "fail";
    case DkimResult::neutral:
        return "neutral";
    case DkimResult::policy:
        return "policy";
    case DkimResult::temperror:
        return "temperror";
    case DkimResult::permerror:
        return "permerror";
    }
    return "neutral";
}

namespace {

// Header bytes fed to libopendkim per message; past it the signatures
// cannot be checked (neutral). Twice the default headers.max-bytes.
constexpr std::size_t max_header_bytes = 2u << 20;
constexpr int type_txt = 16;

// RFC 8301 3.1: rsa-sha1 signatures are not to be considered valid;
// libopendkim 2.11 still verifies them. They are judged here, unasked.
bool evaluated_by_library(const SignatureTags &tags) {
    return tags.well_formed && tags.algorithm != "rsa-sha1";
}

// A key query libopendkim started: it gives the buffer at start and
// takes the answer in it at waitreply.
struct KeyQuery {
    std::string name;
    unsigned char *buffer = nullptr;
    std::size_t size = 0;
};

} // namespace

struct DkimLibrary::Handle {
    DKIM_LIB *library = nullptr;
    bool fast_keys = pubkey_decode_interposed();
};

struct DkimVerification::State {
    State(Lookups &lookups, DkimSettings settings) : lookups(lookups), settings(settings) {}

    Lookups &lookups;
    DkimSettings settings;
    DKIM *dkim = nullptr;
    // Each DKIM-Signature field libopendkim took, up to max_signatures;
    // index i is libopendkim's signature i (it lists them in header order).
    std::vector<SignatureTags> signatures;
    std::size_t signature_fields = 0;
    std::vector<std::string> keys_started;
    std::vector<std::unique_ptr<KeyQuery>> queries;
    std::vector<std::pair<std::string, std::string>> key_errors; // key name, why
    Lookups::Clock::time_point deadline{};
    std::size_t header_bytes = 0;
    bool too_large = false;
    bool headers_done = false;
    bool body_done = false;
    bool finished = false;
    std::string text; // the field being fed

    void start_key(const std::string &name);
    bool may_query(const std::string &name);
    void key_error(const std::string &name, std::string why);
    const std::string *key_error_of(const std::string &name) const;
};

namespace {

// libopendkim calls the DNS hooks synchronously from inside dkim_eoh()
// and dkim_eom() on the caller's thread, with only the library-wide
// service pointer. The verification making that call is set here by
// CurrentVerification for exactly its duration, so a hook reaches the
// Lookups of the message being verified on this thread, and no other.
thread_local DkimVerification::State *current = nullptr;

class CurrentVerification {
  public:
    explicit CurrentVerification(DkimVerification::State *state) : saved_(current) {
        current = state;
    }
    ~CurrentVerification() { current = saved_; }
    CurrentVerification(const CurrentVerification &) = delete;
    CurrentVerification &operator=(const CurrentVerification &) = delete;

  private:
    DkimVerification::State *saved_;
};

int query_start(void *, int type, unsigned char *query, unsigned char *buffer, std::size_t size,
                void **handle) {
    DkimVerification::State *state = current;
    if (state == nullptr || type != type_txt || query == nullptr || buffer == nullptr ||
        handle == nullptr)
        return -1;
    const std::size_t length = ::strnlen(reinterpret_cast<const char *>(query), 1024);
    std::string name(reinterpret_cast<const char *>(query), length);
    if (!state->may_query(name))
        return -1;
    auto key_query = std::make_unique<KeyQuery>(KeyQuery{std::move(name), buffer, size});
    *handle = key_query.get();
    state->queries.push_back(std::move(key_query));
    return 0;
}

// Queries live as long as their verification; libopendkim cancels each
// one after its answer, which leaves nothing to do.
int query_cancel(void *, void *) {
    return 0;
}

int query_waitreply(void *, void *handle, struct timeval *timeout, std::size_t *bytes, int *error,
                    int *dnssec) {
    DkimVerification::State *state = current;
    if (state == nullptr)
        return DKIM_DNS_INVALID;
    const auto found = std::find_if(state->queries.begin(), state->queries.end(),
                                    [&](const auto &query) { return query.get() == handle; });
    if (found == state->queries.end())
        return DKIM_DNS_INVALID;
    const KeyQuery &query = **found;
    auto until = state->deadline;
    if (timeout != nullptr) {
        const auto limit = Lookups::Clock::now() + std::chrono::seconds(timeout->tv_sec) +
                           std::chrono::microseconds(timeout->tv_usec);
        until = std::min(until, limit);
    }
    if (!state->lookups.wait_for(query.name, DnsType::TXT, until)) {
        state->key_error(query.name, state->lookups.exhausted() ? "lookup budget spent"
                                                                : "key lookup timed out");
        return DKIM_DNS_EXPIRED;
    }
    const DnsAnswer &answer = state->lookups.get(query.name, DnsType::TXT);
    if (answer.is_error()) {
        state->key_error(query.name, "key lookup " + std::string(to_string(answer.status)) +
                                         (answer.why.empty() ? "" : ": " + answer.why));
        return DKIM_DNS_ERROR;
    }
    const auto written =
        write_txt_answer(query.name, answer, std::span<unsigned char>(query.buffer, query.size));
    if (!written) {
        state->key_error(query.name, "key answer too large");
        return DKIM_DNS_ERROR;
    }
    if (bytes != nullptr)
        *bytes = *written;
    if (error != nullptr)
        *error = 0;
    if (dnssec != nullptr)
        *dnssec = answer.secure ? DKIM_DNSSEC_SECURE : DKIM_DNSSEC_INSECURE;
    return DKIM_DNS_SUCCESS;
}

// At dkim_eoh(): every signature past max_signatures, and every one whose
// tag-list we found malformed (reported permerror by us, whatever
// libopendkim would make of what it could read of it), is ignored.
DKIM_CBSTAT prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int count) {
    auto *state = static_cast<DkimVerification::State *>(dkim_get_user_context(dkim));
    if (state == nullptr)
        return DKIM_CBSTAT_ERROR;
    for (int i = 0; i < count; ++i) {
        const auto index = static_cast<std::size_t>(i);
        if (index >= state->signatures.size() || !evaluated_by_library(state->signatures[index]))
            dkim_sig_ignore(sigs[i]);
    }
    return DKIM_CBSTAT_CONTINUE;
}

} // namespace

void DkimVerification::State::start_key(const std::string &name) {
    if (!name.empty())
        may_query(name);
}

// Whether the key `name` may be asked: one already started, or a new one
// while fewer than max_signatures keys are.
bool DkimVerification::State::may_query(const std::string &name) {
    if (std::find(keys_started.begin(), keys_started.end(), name) != keys_started.end())
        return true;
    if (keys_started.size() >= settings.max_signatures)
        return false;
    keys_started.push_back(name);
    lookups.start(name, DnsType::TXT);
    return true;
}

void DkimVerification::State::key_error(const std::string &name, std::string why) {
    key_errors.emplace_back(name, std::move(why));
}

const std::string *DkimVerification::State::key_error_of(const std::string &name) const {
    for (const auto &[key, why] : key_errors)
        if (key == name)
            return &why;
    return nullptr;
}

DkimLibrary::DkimLibrary() : handle_(std::make_unique<Handle>()) {
    handle_->library = dkim_init(nullptr, nullptr);
    if (handle_->library == nullptr)
        throw std::runtime_error("libopendkim: dkim_init failed");
    DKIM_LIB *library = handle_->library;
    // Signatures with a bad tag-list are listed (BADSIGHANDLES) so that
    // they keep their place and are reported; keys are fetched at
    // dkim_eom(), not dkim_eoh() (DELAYSIGPROC), so that the body may
    // arrive while the lookups started at header() run.
    unsigned int flags = DKIM_LIBFLAGS_BADSIGHANDLES | DKIM_LIBFLAGS_DELAYSIGPROC;
    dkim_options(library, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags);
    dkim_set_prescreen(library, prescreen);
    // Our hooks only: the service pointer is a token (never NULL, or
    // libopendkim would start its own resolver), and libopendkim must not
    // init or close it.
    dkim_dns_set_init(library, nullptr);
    dkim_dns_set_close(library, nullptr);
    dkim_dns_set_query_service(library, handle_.get());
    dkim_dns_set_query_start(library, query_start);
    dkim_dns_set_query_waitreply(library, query_waitreply);
    dkim_dns_set_query_cancel(library, query_cancel);
}

bool DkimLibrary::fast_key_decoding() const {
    return handle_->fast_keys;
}

DkimLibrary::~DkimLibrary() {
    if (handle_ && handle_->library != nullptr)
        dkim_close(handle_->library);
}

namespace {

// libopendkim takes a field name of printable US-ASCII (space allowed)
// without ':' or ';', and compares it with trailing white space removed.
bool name_accepted(std::string_view name) {
    if (name.empty())
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte >= 32 && byte <= 126 && c != ':' && c != ';';
    });
}

std::string_view trim_end(std::string_view name) {
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
        name.remove_suffix(1);
    return name;
}

// "Name:value" (the value keeps the white space after the colon, as sent)
// with the milter's LF folding turned into CR LF.
void field_text(std::string_view name, std::string_view value, std::string &out) {
    out.clear();
    out.reserve(name.size() + 1 + value.size() + value.size() / 32);
    out.append(name);
    out.append(":");
    char last = '\0';
    for (char c : value) {
        if (c == '\n' && last != '\r')
            out += '\r';
        out += c;
        last = c;
    }
}

} // namespace

DkimVerification::DkimVerification(const DkimLibrary &library, Lookups &lookups,
                                   DkimSettings settings)
    : state_(std::make_unique<State>(lookups, settings)) {
    DKIM_STAT status = DKIM_STAT_OK;
    state_->dkim =
        dkim_verify(library.handle_->library, reinterpret_cast<const unsigned char *>("portcullis"),
                    nullptr, &status);
    if (state_->dkim == nullptr)
        throw std::runtime_error("libopendkim: dkim_verify failed: " +
                                 std::string(dkim_getresultstr(status)));
    dkim_set_user_context(state_->dkim, state_.get());
}

DkimVerification::~DkimVerification() {
    if (state_->dkim != nullptr)
        dkim_free(state_->dkim);
}

void DkimVerification::header(std::string_view name, std::string_view value) {
    State &state = *state_;
    if (state.headers_done || state.too_large || !name_accepted(name))
        return;
    field_text(name, value, state.text);
    state.header_bytes += state.text.size();
    if (state.header_bytes > max_header_bytes) {
        state.too_large = true;
        return;
    }
    const DKIM_STAT status = dkim_header(
        state.dkim, reinterpret_cast<unsigned char *>(state.text.data()), state.text.size());
    // A DKIM-Signature libopendkim cannot read is still listed (SYNTAX);
    // these mean it kept nothing of the field.
    if (status == DKIM_STAT_INVALID || status == DKIM_STAT_NORESOURCE ||
        status == DKIM_STAT_INTERNAL ||
        !syntax::equal_ignoring_case(trim_end(name), "DKIM-Signature"))
        return;
    if (state.signature_fields++ >= state.settings.max_signatures)
        return;
    state.signatures.push_back(read_signature_tags(value));
    if (evaluated_by_library(state.signatures.back()))
        state.start_key(state.signatures.back().key_name);
}

void DkimVerification::end_of_headers() {
    State &state = *state_;
    if (state.headers_done)
        return;
    state.headers_done = true;
    if (state.too_large) {
        state.body_done = true;
        return;
    }
    const CurrentVerification current_verification(&state);
    const DKIM_STAT status = dkim_eoh(state.dkim);
    if (status != DKIM_STAT_OK)
        state.body_done = true; // no signature to evaluate, or none can be
}

bool DkimVerification::body(std::string_view chunk) {
    State &state = *state_;
    if (!state.headers_done)
        end_of_headers();
    if (state.body_done || state.finished)
        return false;
    if (!chunk.empty()) {
        // libopendkim only reads the chunk; its API is not const-correct.
        auto *bytes = reinterpret_cast<unsigned char *>(const_cast<char *>(chunk.data()));
        if (dkim_body(state.dkim, bytes, chunk.size()) != DKIM_STAT_OK) {
            state.body_done = true;
            return false;
        }
    }
    if (dkim_minbody(state.dkim) == 0)
        state.body_done = true;
    return !state.body_done;
}

namespace {

std::string describe(int error) {
    const char *text = dkim_sig_geterrorstr(error);
    return text != nullptr ? log_safe(text, 100) : "error " + std::to_string(error);
}

// What libopendkim made of one signature it evaluated.
void judge(DKIM_SIGINFO *sig, const DkimVerification::State &state, const SignatureTags &tags,
           DkimSignature &out) {
    const unsigned int flags = dkim_sig_getflags(sig);
    const int body_hash = dkim_sig_getbh(sig);
    const int error = dkim_sig_geterror(sig);
    out.key_secure = dkim_sig_getdnssec(sig) == DKIM_DNSSEC_SECURE;
    if ((flags & DKIM_SIGFLAG_PASSED) != 0 && body_hash == DKIM_SIGBH_MATCH) {
        out.result = DkimResult::pass;
        out.detail = "verified";
        return;
    }
    if (body_hash == DKIM_SIGBH_MISMATCH) {
        out.result = DkimResult::fail;
        out.detail = "body hash mismatch";
        return;
    }
    switch (error) {
    case DKIM_SIGERROR_BADSIG:
        out.result = DkimResult::fail;
        out.detail = "signature did not verify";
        return;
    case DKIM_SIGERROR_KEYFAIL: {
        out.result = DkimResult::temperror;
        const std::string *why = state.key_error_of(tags.key_name);
        out.detail = why != nullptr ? *why : "key lookup failed";
        return;
    }
    case DKIM_SIGERROR_NOKEY:
        out.result = DkimResult::permerror;
        out.detail = "no key";
        return;
    case DKIM_SIGERROR_UNKNOWN:
        // Never processed: libopendkim stopped before it (an internal
        // error, or the message could not be read).
        out.result = DkimResult::neutral;
        out.detail = "not evaluated";
        return;
    case DKIM_SIGERROR_OK:
        // Processed without error, not passed: the body was not seen.
        out.result = DkimResult::neutral;
        out.detail = "body not verified";
        return;
    default:
        // Signature or key syntax, algorithm, expiry, key size, revoked key.
        out.result = DkimResult::permerror;
        out.detail = describe(error);
        return;
    }
}

} // namespace

std::vector<DkimSignature> DkimVerification::end_of_message(Lookups::Clock::time_point deadline) {
    State &state = *state_;
    if (state.finished)
        return {};
    if (!state.headers_done)
        end_of_headers();
    state.finished = true;
    state.deadline = deadline;
    DKIM_SIGINFO **sigs = nullptr;
    int count = 0;
    if (!state.too_large) {
        const CurrentVerification current_verification(&state);
        dkim_eom(state.dkim, nullptr);
        if (dkim_getsiglist(state.dkim, &sigs, &count) != DKIM_STAT_OK)
            count = 0;
    }
    std::vector<DkimSignature> results;
    results.reserve(state.signatures.size());
    for (std::size_t i = 0; i < state.signatures.size(); ++i) {
        const SignatureTags &tags = state.signatures[i];
        DkimSignature &out = results.emplace_back();
        out.domain = log_safe(tags.domain, 255);
        out.identity = log_safe(tags.identity, 255);
        out.selector = log_safe(tags.selector, 255);
        out.algorithm = log_safe(tags.algorithm, 32);
        out.b_prefix = log_safe(tags.b_prefix, 8);
        if (!tags.well_formed) {
            out.result = DkimResult::permerror;
            out.detail = "signature syntax invalid";
        } else if (!evaluated_by_library(tags)) {
            out.result = DkimResult::permerror;
            out.detail = "rsa-sha1 not accepted (RFC 8301)";
        } else if (state.too_large) {
            out.result = DkimResult::neutral;
            out.detail = "header too large to verify";
        } else if (i >= static_cast<std::size_t>(count) || sigs == nullptr) {
            out.result = DkimResult::neutral;
            out.detail = "not evaluated";
        } else {
            judge(sigs[i], state, tags, out);
        }
    }
    return results;
}

} // namespace portcullis::message
