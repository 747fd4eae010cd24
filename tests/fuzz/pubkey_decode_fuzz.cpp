// libFuzzer target: the d2i_PUBKEY_bio of milter/message/pubkey_decode.cpp
// against libcrypto's own, over any bytes in a memory BIO. Asserts,
// beyond the sanitizers: both give a key or both give none; the keys are
// equal (type, size, EVP_PKEY_eq); both leave the same bytes in the BIO.
// The corpus holds SubjectPublicKeyInfo keys of every type OpenSSL reads.
#include "message/pubkey_decode.hpp"

#include <openssl/x509.h>

#include <cstdint>
#include <cstdlib>

using namespace portcullis::message;

namespace {

void require(bool condition) {
    if (!condition)
        std::abort();
}

struct Outcome {
    EVP_PKEY *key = nullptr;
    long left = -1;
};

template <typename Decode>
Outcome decode(Decode function, const std::uint8_t *data, std::size_t size) {
    BIO *bio = BIO_new_mem_buf(data, static_cast<int>(size));
    require(bio != nullptr);
    Outcome outcome;
    outcome.key = function(bio, nullptr);
    outcome.left = static_cast<long>(BIO_pending(bio));
    BIO_free(bio);
    return outcome;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 1 << 16)
        return 0;
    const Outcome ours = decode(::d2i_PUBKEY_bio, data, size);
    const Outcome theirs = decode(libcrypto_d2i_PUBKEY_bio, data, size);
    require((ours.key == nullptr) == (theirs.key == nullptr));
    require(ours.left == theirs.left);
    if (ours.key != nullptr) {
        require(EVP_PKEY_get_id(ours.key) == EVP_PKEY_get_id(theirs.key));
        require(EVP_PKEY_get_bits(ours.key) == EVP_PKEY_get_bits(theirs.key));
        require(EVP_PKEY_eq(ours.key, theirs.key) == 1);
    }
    EVP_PKEY_free(ours.key);
    EVP_PKEY_free(theirs.key);
    return 0;
}
