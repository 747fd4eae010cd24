#!/usr/bin/python3
"""Signs test messages for dkim_test.cpp with python3-dkim (Debian's
/usr/bin/python3), with keys made at test time.

  dkim_sign.py keys DIR
      makes DIR/rsa.pem (RSA 2048), DIR/rsa1024.pem and DIR/ed25519.key, and writes the
      TXT record of each key (v=DKIM1; k=...; p=...) to DIR/NAME.txt
  dkim_sign.py sign DIR KEY ALGORITHM CANON SELECTOR DOMAIN [LENGTH|-] [IDENTITY]
      signs the message on standard input (CR LF lines) with key KEY
      (rsa, rsa1024, ed25519) and prints it with its DKIM-Signature
      first; LENGTH "l" adds l= (the body length at signing time)
"""
import base64
import os
import sys

import dkim
import nacl.encoding
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def make_keys(directory):
    for name, bits in (("rsa", 2048), ("rsa1024", 1024)):
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        with open(os.path.join(directory, name + ".pem"), "wb") as out:
            out.write(pem)
        with open(os.path.join(directory, name + ".txt"), "w") as out:
            out.write("v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode())
    signing = nacl.signing.SigningKey.generate()
    with open(os.path.join(directory, "ed25519.key"), "wb") as out:
        out.write(signing.encode(encoder=nacl.encoding.Base64Encoder))
    public = signing.verify_key.encode(encoder=nacl.encoding.Base64Encoder).decode()
    with open(os.path.join(directory, "ed25519.txt"), "w") as out:
        out.write("v=DKIM1; k=ed25519; p=" + public)


def sign(directory, key, algorithm, canon, selector, domain, length="-", identity=None):
    message = sys.stdin.buffer.read()
    suffix = ".key" if key == "ed25519" else ".pem"
    with open(os.path.join(directory, key + suffix), "rb") as source:
        private = source.read()
    header_canon, body_canon = canon.split("/")
    signature = dkim.sign(message, selector.encode(), domain.encode(), private,
                          identity=identity.encode() if identity else None,
                          canonicalize=(header_canon.encode(), body_canon.encode()),
                          signature_algorithm=algorithm.encode(),
                          include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
                          length=(length == "l"))
    sys.stdout.buffer.write(signature + message)


if __name__ == "__main__":
    if sys.argv[1] == "keys":
        make_keys(sys.argv[2])
    else:
        sign(*sys.argv[2:])
