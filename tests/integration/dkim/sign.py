#!/usr/bin/python3
"""Signs the message on stdin with python3-dkim (an implementation
independent of libopendkim) and writes it to stdout: the integration
tests' DKIM mail. Usage: sign.py SELECTOR DOMAIN KEYFILE rsa|ed25519
[relaxed|simple]. The keys here are test keys, published only in the test
zone (zones/test.zone)."""
import sys

import dkim

selector, domain, keyfile, algorithm = sys.argv[1:5]
canon = sys.argv[5].encode() if len(sys.argv) > 5 else b"relaxed"
message = sys.stdin.buffer.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
key = open(keyfile, "rb").read()
if algorithm == "ed25519":
    key = key.strip()
signature = dkim.sign(
    message,
    selector.encode(),
    domain.encode(),
    key,
    canonicalize=(canon, canon),
    signature_algorithm=b"ed25519-sha256" if algorithm == "ed25519" else b"rsa-sha256",
    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
)
sys.stdout.buffer.write(signature + message)
