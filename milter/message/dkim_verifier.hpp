// DKIM verification (RFC 6376, RFC 8463) of one message over libopendkim,
// with every key lookup going through the session's Lookups: the
// project's resolver, cache and budget, never libopendkim's own resolver.
//
// DkimLibrary is the one libopendkim handle of a runtime, its DNS hooks
// set once. DkimVerification is one message: header() takes every field
// as it arrives and, at a DKIM-Signature (up to max_signatures of them),
// reads d= and s= itself and starts the key lookup "<s>._domainkey.<d>"
// TXT at once, so that the key is usually in by the end of the message.
// Signatures past max_signatures are neither evaluated (libopendkim's
// prescreen marks them ignored) nor listed, and start no lookup.
// end_of_message() waits for the keys until its deadline; a key not in
// by then is temperror, never fail. Results: verified -> pass; bad
// signature or body hash mismatch -> fail; key missing (NXDOMAIN, no
// TXT), key or signature syntax bad, unsupported algorithm (rsa-sha1
// too, RFC 8301: not looked up), expired -> permerror; DNS error or
// timeout -> temperror; a signature libopendkim could not process at
// all -> neutral. libopendkim reads "Name: value" as header(): a value
// the MTA sent with its leading space kept would be read with two.
//
// Threads: a DkimVerification is used by one thread at a time (the
// milter's callbacks of one message); the DkimLibrary is shared.
#pragma once

#include "core/lookups.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::message {

enum class DkimResult { pass, fail, neutral, policy, temperror, permerror };
std::string_view to_string(DkimResult result); // RFC 8601 result names

struct DkimSignature {
    DkimResult result = DkimResult::neutral;
    std::string domain, identity, selector, algorithm; // d= i= s= a=, log_safe-cleaned, bounded
    std::string b_prefix;                              // first 8 chars of b= (header.b)
    bool key_secure = false;                           // the key's DNS answer was DNSSEC-secure
    std::string detail;                                // why, for logs ("body hash mismatch", ...)
};

struct DkimSettings {
    unsigned max_signatures = 5;
};

class DkimLibrary {
  public:
    // Throws std::runtime_error when libopendkim cannot start.
    DkimLibrary();
    ~DkimLibrary();
    DkimLibrary(const DkimLibrary &) = delete;
    DkimLibrary &operator=(const DkimLibrary &) = delete;

    // True when libopendkim's RSA keys are decoded by pubkey_decode.cpp
    // rather than by OpenSSL 3.0's decoder search (see pubkey_decode.hpp).
    bool fast_key_decoding() const;

  private:
    friend class DkimVerification;
    struct Handle;
    std::unique_ptr<Handle> handle_;
};

class DkimVerification {
  public:
    DkimVerification(const DkimLibrary &library, Lookups &lookups, DkimSettings settings);
    ~DkimVerification();
    DkimVerification(const DkimVerification &) = delete;
    DkimVerification &operator=(const DkimVerification &) = delete;

    // One header field as the MTA hands it with SMFIP_HDR_LEADSPC: the
    // name, and the value as sent after the colon (its leading white space
    // kept, which simple canonicalization signs), folded lines joined by
    // "\n" or "\r\n" (fed to libopendkim as "Name:value", CR LF folding).
    void header(std::string_view name, std::string_view value);
    void end_of_headers();
    // A piece of the body as the MTA sends it (CR LF line ends, no dot
    // stuffing). False once no signature needs more of the body
    // (dkim_minbody() is 0: every signature has its l= bytes, or there is
    // no signature to evaluate); further calls are then ignored.
    bool body(std::string_view chunk);
    // One result per signature evaluated, in header order. Waits for key
    // lookups until `deadline`. Call once.
    std::vector<DkimSignature> end_of_message(Lookups::Clock::time_point deadline);

    struct State;

  private:
    std::unique_ptr<State> state_;
};

} // namespace portcullis::message
