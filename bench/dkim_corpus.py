#!/usr/bin/python3
"""The DKIM benchmark's mail: N distinct messages signed by python3-dkim,
and the zone that publishes their keys, for nsd on 127.0.0.1.

    dkim_corpus.py DIR [--messages N] [--domains D] [--ed25519-every K]
                   [--body-bytes B] [--seed S] [--jobs J] [--keys FILE]

Each of the D signing domains (shopNN.dkim.bench.example and the like)
gets an RSA-2048 key and an Ed25519 key, published as
<selector>._domainkey.<domain> TXT, plus an SPF record and an MX so that
the envelope sender passes portcullis' sender checks from 127.0.0.1.
Message i comes from domain i % D and is signed rsa-sha256 with
relaxed/relaxed canonicalization; every K-th message (i % K == 0) is
signed twice, Ed25519 then RSA, as RFC 8463 suggests for a transition.
Every message is distinct: its own Message-ID, subject, date and body
(about B bytes, multipart/alternative, text and HTML), with 13 to 14
header fields as a mailing-list sender writes them (two Received, the
signatures, From, To, Reply-To, Subject, Date, Message-ID, MIME-Version,
Content-Type, List-Unsubscribe, List-Unsubscribe-Post, X-Mailer).

Writes:
  DIR/messages.spool     per message "MSG <mail-from> <length>\\n", then
                         the message (CRLF lines, not dot-stuffed), "\\n"
  DIR/tampered.spool     the first 5 messages again, a word of the body
                         changed after signing: every signature must fail
  DIR/one.eml            message 1 (RSA only) with LF line ends, for
                         smtp-source -F (the feeder's yardstick)
  DIR/dkim.bench.example.zone   the zone for nsd
  DIR/corpus.json        counts, for the report
Keys are generated afresh, or read from --keys FILE when it holds as
many domains (it is written when it does not): an RSA-2048 key takes
0.1-0.5 s to make. Key generation and signing run in J processes
(default: the number of cores); python3-dkim's RSA is pure Python,
about 8 ms a signature.
"""
import argparse
import base64
import email.utils
import json
import multiprocessing
import os
import random
import sys
import time

import dkim
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ZONE = "dkim.bench.example"
WORDS = ("shop news bank travel club store media press deals alerts market notes "
         "weekly digest offers events tickets books music games health sport "
         "energy garden fashion photo cloud mobile local world").split()
LOREM = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud "
         "exercitation ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure "
         "in reprehenderit voluptate velit esse cillum eu fugiat nulla pariatur excepteur "
         "sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim "
         "id est laborum order shipped invoice account update newsletter offer week").split()
SIGNED = [b"from", b"to", b"reply-to", b"subject", b"date", b"message-id", b"mime-version",
          b"content-type", b"list-unsubscribe", b"list-unsubscribe-post", b"from"]
RSA_SELECTORS = ("s2048", "selector1", "k1", "dkim", "mail")
ED_SELECTORS = ("ed2024", "e1", "ed")


def domain_name(i):
    return f"{WORDS[i % len(WORDS)]}{i:02d}.{ZONE}"


def make_key(i):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    ed = nacl.signing.SigningKey.generate()
    return {
        "domain": domain_name(i),
        "rsa_selector": RSA_SELECTORS[i % len(RSA_SELECTORS)],
        "rsa_pem": pem.decode(),
        "rsa_public": base64.b64encode(public).decode(),
        "ed_selector": ED_SELECTORS[i % len(ED_SELECTORS)],
        "ed_seed": base64.b64encode(bytes(ed)).decode(),
        "ed_public": base64.b64encode(bytes(ed.verify_key)).decode(),
    }


def load_keys(path, count, pool):
    """The keys of `count` domains: those kept in `path` when it has enough
    (RSA-2048 generation takes 0.1-0.5 s a key), else new ones, kept there."""
    if path and os.path.exists(path):
        with open(path) as source:
            kept = json.load(source)
        if len(kept) >= count and all(k["domain"] == domain_name(i) for i, k in enumerate(kept)):
            return kept[:count]
    keys = pool.map(make_key, range(count))
    if path:
        with open(path + ".new", "w") as out:
            json.dump(keys, out)
        os.replace(path + ".new", path)
    return keys


def txt_strings(text):
    """A TXT value as quoted strings of at most 255 bytes each."""
    parts = [text[i:i + 250] for i in range(0, len(text), 250)]
    return "( " + " ".join(f'"{p}"' for p in parts) + " )"


def zone_text(keys):
    lines = [f"$ORIGIN {ZONE}.", "$TTL 3600",
             "@ IN SOA ns.bench.example. hostmaster.bench.example. 1 3600 600 86400 3600",
             "@ IN NS ns.bench.example."]
    for key in keys:
        label = key["domain"][:-len(ZONE) - 1]
        lines.append(f'{label} TXT "v=spf1 ip4:127.0.0.1 ip4:198.18.0.0/15 -all"')
        lines.append(f"{label} MX 10 mx.bench.example.")
        lines.append(f"{label} A 127.0.0.1")
        lines.append(f"{key['rsa_selector']}._domainkey.{label} TXT "
                     + txt_strings(f"v=DKIM1; k=rsa; p={key['rsa_public']}"))
        lines.append(f"{key['ed_selector']}._domainkey.{label} TXT "
                     f"\"v=DKIM1; k=ed25519; p={key['ed_public']}\"")
    return "\n".join(lines) + "\n"


def date_time(seconds):
    return email.utils.formatdate(seconds).replace("-0000", "+0000")


def paragraph(rng, words):
    """Lines of at most 76 characters, `words` words in all."""
    lines, line = [], []
    for _ in range(words):
        word = rng.choice(LOREM)
        if sum(len(w) + 1 for w in line) + len(word) > 76:
            lines.append(" ".join(line))
            line = []
        line.append(word)
    lines.append(" ".join(line))
    return lines


def body_lines(rng, number, target):
    boundary = f"=_bench_{number:06d}_{rng.getrandbits(48):012x}"
    text = [f"Hello, this is message {number} of the portcullis DKIM benchmark.", ""]
    html = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"></head><body>",
            f"<p>Hello, this is message {number} of the portcullis DKIM benchmark.</p>"]
    size = 0
    while size < target:
        chunk = paragraph(rng, rng.randint(30, 60))
        text += chunk + [""]
        html += ["<p>"] + chunk + ["</p>"]
        size = sum(len(x) + 2 for x in text) + sum(len(x) + 2 for x in html)
    html.append("</body></html>")
    lines = ["This is a multi-part message in MIME format.", "", f"--{boundary}",
             "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 7bit", ""]
    lines += text
    lines += [f"--{boundary}", "Content-Type: text/html; charset=utf-8",
              "Content-Transfer-Encoding: 7bit", ""]
    lines += html
    lines += ["", f"--{boundary}--"]
    return boundary, lines


def make_message(job):
    number, key, ed_every, body_bytes, seed, now = job
    rng = random.Random(seed * 1000003 + number)
    domain = key["domain"]
    sent = now - rng.randint(5, 7200)
    boundary, body = body_lines(rng, number, body_bytes)
    local = rng.choice(("news", "info", "noreply", "orders", "team", "hello"))
    subject = " ".join(rng.choice(LOREM) for _ in range(rng.randint(4, 9))).capitalize()
    fields = [
        f'From: "{WORDS[number % len(WORDS)].capitalize()} Team" <{local}@{domain}>',
        "To: <user@dest.bench.example>",
        f"Reply-To: <support@{domain}>",
        f"Subject: {subject} #{number}",
        f"Date: {date_time(sent)}",
        f"Message-ID: <{sent}.{number}.{rng.getrandbits(40):010x}@mailer.{domain}>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"',
        f"List-Unsubscribe: <https://{domain}/u/{rng.getrandbits(64):016x}>,\r\n"
        f" <mailto:unsubscribe-{number}@{domain}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "X-Mailer: bench-mailer 2.4",
    ]
    message = ("\r\n".join(fields) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode()
    signatures = b""
    if ed_every and number % ed_every == 0:
        signatures += dkim.sign(message, key["ed_selector"].encode(), domain.encode(),
                                key["ed_seed"].encode(), canonicalize=(b"relaxed", b"relaxed"),
                                signature_algorithm=b"ed25519-sha256", include_headers=SIGNED)
    signatures = dkim.sign(signatures + message, key["rsa_selector"].encode(), domain.encode(),
                           key["rsa_pem"].encode(), canonicalize=(b"relaxed", b"relaxed"),
                           signature_algorithm=b"rsa-sha256",
                           include_headers=SIGNED) + signatures
    host = rng.randint(1, 250)
    when = date_time(sent + 1)
    received = (f"Received: from smtp-out{host % 8}.{domain} (smtp-out{host % 8}.{domain} "
                f"[198.18.{host}.{rng.randint(1, 254)}])\r\n\tby relay.{domain} (Postfix) with "
                f"ESMTPS id {rng.getrandbits(40):010X}; {when}\r\n"
                f"Received: from app{host}.internal.{domain} (app{host}.internal.{domain} "
                f"[10.{host}.0.{rng.randint(1, 254)}])\r\n\tby smtp-out{host % 8}.{domain} with "
                f"ESMTP id {rng.getrandbits(40):010X}; {date_time(sent)}\r\n").encode()
    return f"bounce-{number}@{domain}", received + signatures + message


def write_spool(path, messages):
    with open(path, "wb") as out:
        for sender, message in messages:
            out.write(f"MSG {sender} {len(message)}\n".encode())
            out.write(message)
            out.write(b"\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--domains", type=int, default=50)
    parser.add_argument("--ed25519-every", type=int, default=5)
    parser.add_argument("--body-bytes", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keys", help="JSON file of keys to reuse (written when missing)")
    args = parser.parse_args()
    if not 0 < args.domains <= 1000 or args.messages <= 0:
        parser.error("--domains must be in 1..1000 and --messages positive")
    os.makedirs(args.dir, exist_ok=True)
    started = time.time()

    with multiprocessing.Pool(max(1, args.jobs)) as pool:
        keys = load_keys(args.keys, args.domains, pool)
        with open(os.path.join(args.dir, f"{ZONE}.zone"), "w") as out:
            out.write(zone_text(keys))
        now = int(time.time())
        jobs = [(i, keys[i % args.domains], args.ed25519_every, args.body_bytes, args.seed, now)
                for i in range(args.messages)]
        messages = pool.map(make_message, jobs, chunksize=16)
    write_spool(os.path.join(args.dir, "messages.spool"), messages)
    tampered = []
    for sender, message in messages[:5]:
        head, _, body = message.partition(b"\r\n\r\n")
        tampered.append((sender, head + b"\r\n\r\n" + body.replace(b"Hello,", b"Hullo,", 1)))
    write_spool(os.path.join(args.dir, "tampered.spool"), tampered)
    with open(os.path.join(args.dir, "one.eml"), "wb") as out:
        out.write(messages[1 % len(messages)][1].replace(b"\r\n", b"\n"))
    sizes = [len(message) for _, message in messages]
    dual = sum(1 for i in range(args.messages) if args.ed25519_every and i % args.ed25519_every == 0)
    summary = {"messages": args.messages, "domains": args.domains, "dual_signed": dual,
               "mean_bytes": sum(sizes) / len(sizes), "min_bytes": min(sizes),
               "max_bytes": max(sizes), "seconds": round(time.time() - started, 1)}
    with open(os.path.join(args.dir, "corpus.json"), "w") as out:
        json.dump(summary, out)
        out.write("\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
