// Public-key decoding for libopendkim without OpenSSL 3.0's decoder
// search on every key.
//
// libopendkim reads every RSA key it verifies with d2i_PUBKEY_bio(). In
// OpenSSL 3.0 that call sets up an OSSL_DECODER context for each key (a
// search through every provider's decoders, by name, under locks): about
// 200 us of CPU per key on the bench machine, against 2-4 us for the same
// key through the RSA decoder, and more than half of what verifying a
// message cost portcullis (bench part 5, perf).
//
// pubkey_decode.cpp therefore defines d2i_PUBKEY_bio in the executable;
// the dynamic linker binds it ahead of libcrypto's for every caller in
// the process (libopendkim is the only one that links it: libunbound,
// libmilter and hiredis do not). A plain RSA key (an rsaEncryption
// SubjectPublicKeyInfo, DER with a definite length) read from a memory
// BIO, with no object to reuse, is decoded by d2i_RSA_PUBKEY into a new
// EVP_PKEY and exactly its bytes are taken from the BIO. Everything else
// (another key type, RSA-PSS, another kind of BIO, a reuse argument, an
// input the RSA decoder refuses) goes to libcrypto's own function with
// the BIO and the error queue as they were. Either way the caller gets
// the same key: the unit tests and the fuzz target pubkey_decode compare
// both functions' results and what they leave in the BIO.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>

#include <cstdint>

namespace portcullis::message {

// How many keys took each path since the process started (relaxed
// counters; for tests and logs).
struct PubkeyDecodeCounts {
    std::uint64_t fast = 0;      // decoded here, as plain RSA
    std::uint64_t passed_on = 0; // handed to libcrypto's d2i_PUBKEY_bio
};
PubkeyDecodeCounts pubkey_decode_counts();

// libcrypto's own d2i_PUBKEY_bio, found past this executable's
// definition; nullptr only if libcrypto has none (then every key fails).
EVP_PKEY *libcrypto_d2i_PUBKEY_bio(BIO *bio, EVP_PKEY **reuse);

// True when the process's d2i_PUBKEY_bio is the one defined here (a
// build or link that lost it would still verify, at OpenSSL's speed).
bool pubkey_decode_interposed();

} // namespace portcullis::message
