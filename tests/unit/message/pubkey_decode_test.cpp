// The d2i_PUBKEY_bio that pubkey_decode.cpp puts in front of libcrypto's:
// it is the one the process (and so libopendkim) calls, it takes plain
// RSA keys itself, and for every input it gives what libcrypto's own
// function gives: the same key or none, and the same bytes left in the
// BIO.
#include "message/dkim_verifier.hpp"
#include "message/pubkey_decode.hpp"

#include <doctest/doctest.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

using namespace portcullis::message;

namespace {

using Bytes = std::vector<unsigned char>;

struct PkeyFree {
    void operator()(EVP_PKEY *key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct BioFree {
    void operator()(BIO *bio) const { BIO_free(bio); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

EVP_PKEY *generated(const std::string &type) {
    EVP_PKEY_CTX *context = EVP_PKEY_CTX_new_from_name(nullptr, type.c_str(), nullptr);
    EVP_PKEY *key = nullptr;
    if (context != nullptr && EVP_PKEY_keygen_init(context) == 1)
        EVP_PKEY_generate(context, &key);
    EVP_PKEY_CTX_free(context);
    return key;
}

// A new key's SubjectPublicKeyInfo: "RSA" with bits, "EC" on P-256,
// others (RSA-PSS, ED25519, X25519) with their defaults.
Bytes spki_of(const std::string &type, unsigned bits = 2048) {
    Pkey key(type == "RSA"  ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits))
             : type == "EC" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                            : generated(type));
    INFO(type);
    REQUIRE(key != nullptr);
    unsigned char *der = nullptr;
    const int length = i2d_PUBKEY(key.get(), &der);
    REQUIRE(length > 0);
    Bytes bytes(der, der + length);
    OPENSSL_free(der);
    return bytes;
}

struct Outcome {
    Pkey key;
    int left = -1; // bytes still pending in the BIO
};

template <typename Decode> Outcome decode_with(Decode decode, const Bytes &input) {
    static const unsigned char nothing = 0;
    Bio bio(
        BIO_new_mem_buf(input.empty() ? &nothing : input.data(), static_cast<int>(input.size())));
    REQUIRE(bio != nullptr);
    Outcome outcome;
    outcome.key.reset(decode(bio.get(), nullptr));
    outcome.left = static_cast<int>(BIO_pending(bio.get()));
    return outcome;
}

// Ours against libcrypto's on one input; returns whether a key came out.
bool same_as_libcrypto(const Bytes &input) {
    const Outcome ours = decode_with(::d2i_PUBKEY_bio, input);
    const Outcome theirs = decode_with(libcrypto_d2i_PUBKEY_bio, input);
    REQUIRE((ours.key != nullptr) == (theirs.key != nullptr));
    CHECK(ours.left == theirs.left);
    if (ours.key == nullptr)
        return false;
    CHECK(EVP_PKEY_get_id(ours.key.get()) == EVP_PKEY_get_id(theirs.key.get()));
    CHECK(EVP_PKEY_get_bits(ours.key.get()) == EVP_PKEY_get_bits(theirs.key.get()));
    CHECK(EVP_PKEY_eq(ours.key.get(), theirs.key.get()) == 1);
    return true;
}

Bytes joined(Bytes front, const Bytes &back) {
    front.insert(front.end(), back.begin(), back.end());
    return front;
}

} // namespace

TEST_CASE("the process's d2i_PUBKEY_bio is portcullis', and libcrypto's is found behind it") {
    CHECK(pubkey_decode_interposed());
    CHECK(DkimLibrary().fast_key_decoding());
    Bytes none;
    CHECK(libcrypto_d2i_PUBKEY_bio != nullptr);
    const Outcome empty = decode_with(libcrypto_d2i_PUBKEY_bio, none);
    CHECK(empty.key == nullptr);
}

TEST_CASE("plain RSA keys are decoded here, to the key libcrypto decodes") {
    for (const unsigned bits : {1024u, 2048u, 3072u}) {
        CAPTURE(bits);
        const Bytes spki = spki_of("RSA", bits);
        const auto before = pubkey_decode_counts();
        CHECK(same_as_libcrypto(spki));
        const auto after = pubkey_decode_counts();
        CHECK(after.fast == before.fast + 1);
        // Trailing bytes stay in the BIO, as libcrypto leaves them.
        CHECK(same_as_libcrypto(joined(spki, {0x30, 0x03, 0x02, 0x01, 0x05})));
        CHECK(same_as_libcrypto(joined(spki, Bytes(100, 'x'))));
    }
}

TEST_CASE("other key types and anything the RSA path refuses go to libcrypto, same result") {
    const Bytes rsa = spki_of("RSA", 2048);
    SUBCASE("RSA-PSS, EC, Ed25519 and X25519 keys") {
        const Bytes keys[] = {spki_of("RSA-PSS"), spki_of("EC"), spki_of("ED25519"),
                              spki_of("X25519")};
        for (const auto &spki : keys) {
            const auto before = pubkey_decode_counts();
            CHECK(same_as_libcrypto(spki));
            CHECK(pubkey_decode_counts().fast == before.fast);
        }
    }
    SUBCASE("truncated, empty, garbage, a wrong outer tag, an indefinite length") {
        std::vector<Bytes> inputs;
        for (const std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{2},
                                      std::size_t{20}, rsa.size() / 2, rsa.size() - 1})
            inputs.emplace_back(rsa.begin(), rsa.begin() + static_cast<long>(cut));
        inputs.push_back(Bytes(64, 0xff));
        Bytes wrong_tag = rsa;
        wrong_tag[0] = 0x31;
        inputs.push_back(wrong_tag);
        Bytes corrupt = rsa;
        corrupt[rsa.size() / 3] ^= 0x5a; // inside the modulus or its header
        inputs.push_back(corrupt);
        // The same key written with indefinite lengths (BER): 30 80 ... 00 00.
        Bytes indefinite{0x30, 0x80};
        indefinite.insert(indefinite.end(), rsa.begin() + 4, rsa.end());
        indefinite.insert(indefinite.end(), {0x00, 0x00});
        inputs.push_back(indefinite);
        for (const auto &input : inputs) {
            CAPTURE(input.size());
            same_as_libcrypto(input);
        }
    }
}

TEST_CASE("a BIO other than memory, or a key to reuse, is libcrypto's to read") {
    const Bytes rsa = spki_of("RSA", 2048);
    const auto before = pubkey_decode_counts();
    BIO *pair_in = nullptr, *pair_out = nullptr;
    REQUIRE(BIO_new_bio_pair(&pair_in, 0, &pair_out, 0) == 1);
    Bio in(pair_in), out(pair_out);
    REQUIRE(BIO_write(in.get(), rsa.data(), static_cast<int>(rsa.size())) ==
            static_cast<int>(rsa.size()));
    Pkey from_pair(::d2i_PUBKEY_bio(out.get(), nullptr));
    CHECK(from_pair != nullptr);

    Bio memory(BIO_new_mem_buf(rsa.data(), static_cast<int>(rsa.size())));
    EVP_PKEY *reused = nullptr;
    Pkey decoded(::d2i_PUBKEY_bio(memory.get(), &reused));
    CHECK(decoded != nullptr);
    CHECK(decoded.get() == reused);

    const auto after = pubkey_decode_counts();
    CHECK(after.fast == before.fast);
    CHECK(after.passed_on == before.passed_on + 2);
    CHECK(EVP_PKEY_eq(from_pair.get(), decoded.get()) == 1);
}
