// See pubkey_decode.hpp: why this file defines libcrypto's d2i_PUBKEY_bio.
#include "pubkey_decode.hpp"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <dlfcn.h>

#include <atomic>

// d2i_RSA_PUBKEY, RSA_test_flags and EVP_PKEY_assign_RSA are deprecated
// in OpenSSL 3.0 and are what this file is for: the RSA-specific path
// that the provider decoders replaced.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace portcullis::message {
namespace {

using D2iPubkeyBio = EVP_PKEY *(*)(BIO *, EVP_PKEY **);

std::atomic<std::uint64_t> fast_count{0};
std::atomic<std::uint64_t> passed_on_count{0};

D2iPubkeyBio libcrypto_function() {
    static const D2iPubkeyBio function = [] {
        void *symbol = dlvsym(RTLD_NEXT, "d2i_PUBKEY_bio", "OPENSSL_3.0.0");
        if (symbol == nullptr)
            symbol = dlsym(RTLD_NEXT, "d2i_PUBKEY_bio");
        return reinterpret_cast<D2iPubkeyBio>(symbol);
    }();
    return function;
}

// Takes count bytes from the front of bio, as reading the element would.
bool consume(BIO *bio, long count) {
    unsigned char scratch[512];
    while (count > 0) {
        const int step =
            static_cast<int>(count < long{sizeof scratch} ? count : long{sizeof scratch});
        const int got = BIO_read(bio, scratch, step);
        if (got <= 0)
            return false;
        count -= got;
    }
    return true;
}

// The first DER element in a memory BIO as a plain RSA key, or nullptr
// with the BIO and the error queue untouched.
EVP_PKEY *plain_rsa_key(BIO *bio) {
    char *data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    if (size <= 0 || data == nullptr)
        return nullptr;
    const auto *start = reinterpret_cast<const unsigned char *>(data);
    const unsigned char *cursor = start;
    long content = 0;
    int tag = 0, tag_class = 0;
    // 0x80: a bad or overlong header; bit 0: indefinite length (BER),
    // which libcrypto reads up to its end-of-contents itself.
    const int header = ASN1_get_object(&cursor, &content, &tag, &tag_class, size);
    if (header != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE || tag_class != V_ASN1_UNIVERSAL)
        return nullptr;
    const long element = (cursor - start) + content;

    ERR_set_mark();
    cursor = start;
    RSA *rsa = d2i_RSA_PUBKEY(nullptr, &cursor, element);
    // d2i_RSA_PUBKEY also reads RSA-PSS keys (as RSA); those, and a key
    // that did not fill its element, go to libcrypto.
    if (rsa == nullptr || cursor != start + element ||
        RSA_test_flags(rsa, RSA_FLAG_TYPE_MASK) != RSA_FLAG_TYPE_RSA) {
        RSA_free(rsa);
        ERR_pop_to_mark();
        return nullptr;
    }
    EVP_PKEY *key = EVP_PKEY_new();
    if (key == nullptr || EVP_PKEY_assign_RSA(key, rsa) != 1) {
        EVP_PKEY_free(key);
        RSA_free(rsa);
        ERR_pop_to_mark();
        return nullptr;
    }
    ERR_clear_last_mark();
    if (!consume(bio, element)) { // cannot happen: the bytes were there
        EVP_PKEY_free(key);
        return nullptr;
    }
    return key;
}

} // namespace

PubkeyDecodeCounts pubkey_decode_counts() {
    return {fast_count.load(std::memory_order_relaxed),
            passed_on_count.load(std::memory_order_relaxed)};
}

EVP_PKEY *libcrypto_d2i_PUBKEY_bio(BIO *bio, EVP_PKEY **reuse) {
    const D2iPubkeyBio function = libcrypto_function();
    return function != nullptr ? function(bio, reuse) : nullptr;
}

bool pubkey_decode_interposed() {
    return dlsym(RTLD_DEFAULT, "d2i_PUBKEY_bio") == reinterpret_cast<void *>(&::d2i_PUBKEY_bio);
}

} // namespace portcullis::message

extern "C" EVP_PKEY *d2i_PUBKEY_bio(BIO *bio, EVP_PKEY **reuse) {
    using namespace portcullis::message;
    if (reuse == nullptr && bio != nullptr && BIO_method_type(bio) == BIO_TYPE_MEM) {
        if (EVP_PKEY *key = plain_rsa_key(bio)) {
            fast_count.fetch_add(1, std::memory_order_relaxed);
            return key;
        }
    }
    passed_on_count.fetch_add(1, std::memory_order_relaxed);
    return libcrypto_d2i_PUBKEY_bio(bio, reuse);
}
