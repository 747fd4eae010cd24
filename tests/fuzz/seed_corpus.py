#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus/TARGET/ from the unit tests'
inputs: the string literals of the unit tests that exercise each target's
code (and the shipped configuration and replies), each put in the input
form its target reads (see the comment at the top of TARGET.cpp). A seed
is named seed-SHA1PREFIX after its content, so running this again adds
only what is new; inputs that scripts/fuzz --merge added stay as they
are. Run from anywhere: python3 tests/fuzz/seed_corpus.py
"""
import ast
import hashlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
MAX_SEED = 4096  # scripts/fuzz runs with -max_len=4096
SEEDS = 40  # per target, spread over the candidates: a few dozen keep the repository small

LITERAL = re.compile(r'(?<![A-Za-z0-9_])"((?:[^"\\\n]|\\.)*)"')


def literals(*files):
    """The C++ string literals of the files, decoded to bytes."""
    out = []
    for name in files:
        text = (UNIT / name).read_text(encoding="utf-8")
        for body in LITERAL.findall(text):
            try:
                value = ast.literal_eval('"' + body + '"')
            except (SyntaxError, ValueError):
                continue
            out.append(value.encode("latin-1", "replace"))
    return out


def write(target, seeds):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    candidates = [s for s in dict.fromkeys(seeds) if len(s) <= MAX_SEED]  # unique, in order
    step = max(1, len(candidates) / SEEDS)
    chosen = [candidates[int(i * step)] for i in range(min(SEEDS, len(candidates)))]
    written = 0
    for seed in chosen:
        path = directory / ("seed-" + hashlib.sha1(seed).hexdigest()[:16])
        if not path.exists():
            path.write_bytes(seed)
            written += 1
    print(f"{target}: {written} new seeds, {len(list(directory.iterdir()))} inputs")


def config_files():
    """Whole configuration files: the ones config_test.cpp writes, the
    shipped one and the golden tests' one."""
    texts = [t for t in literals("core/config_test.cpp") if b"=" in t and b"\n" in t]
    texts += [(ROOT / p).read_bytes() for p in
              ("rules/portcullis.conf", "tests/golden/portcullis.conf")]
    texts.append(b"")
    return texts


def main():
    rdns_and_helo = literals("checks/helo_test.cpp", "checks/reverse_dns_test.cpp",
                             "core/address_test.cpp")
    short = [t for t in rdns_and_helo if 0 < len(t) <= 300]
    replies = literals("core/replies_test.cpp", "session/session_test.cpp")
    hostile = [t for t in replies if 0 < len(t) <= 300]

    write("config_file_fuzz", config_files())

    reply_files = [t for t in literals("core/replies_test.cpp") if t.startswith(b"[")]
    reply_files.append((ROOT / "rules/replies.conf").read_bytes())
    seeds = []
    for i, file in enumerate(reply_files):
        for j in range(0, len(hostile), 6):
            values = hostile[j:j + 6] + [b"https://mx.example/${rule}"]
            seeds.append(file + b"\0" + b"\0".join(values))
            if len(seeds) > 8 * (i + 1):
                break
    write("reply_template_fuzz", seeds)

    zones = literals("core/dnsbl_zone_test.cpp", "checks/dnsbl_test.cpp",
                     "checks/rhsbl_test.cpp")
    entries = [t for t in zones if b"example" in t or t.startswith(b"=")]
    answers = [t for t in zones if t.startswith(b"127.") or t == b"not an address"]
    write("zone_entry_fuzz", [e + b"\n" + b"\n".join(answers[:4]) for e in entries] + entries)

    # FLAGS HELO \0 CLIENT \0 DAEMON_ADDR \0 J \0 AUTH \0 HOSTNAME \0 SENDER \0 RCPT \0
    # QUEUE_ID \0 DNS_TEXT
    sessions = []
    clients = [b"192.0.2.10", b"192.0.2.20", b"2001:db8::1", b"", b"::ffff:192.0.2.7"]
    for i, helo in enumerate(short[:40]):
        fields = [helo, clients[i % len(clients)], b"192.0.2.25", b"mx.dest.example", b"",
                  b"client.example", b"a@good.example", b"u@dest.example", b"4Xyz1",
                  hostile[i % len(hostile)] if hostile else b""]
        sessions.append(bytes([i * 37 % 256 & 0x0f]) + b"\0".join(fields))
    sessions.append(b"\x00mail.good.example\x00192.0.2.10\x00\x00mx.dest.example\x00alice"
                    b"\x00client\x00a@good.example\x00postmaster@dest.example\x00Q1\x00v=spf1 -all")
    write("address_fuzz", sessions)

    # Each RDATA of dns_wire_test.cpp is a byte list, not a string: the
    # names and TXT strings it is built from, in wire form, stand in.
    def wire(labels):
        return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"
    names = [wire(t.split(b".")) for t in short if b"." in t and len(t) < 200
             and all(0 < len(l) < 64 for l in t.split(b"."))]
    rdatas = [bytes([192, 0, 2, 1]), bytes(16), b"\0", b"\xc0\x0c", b"\0\x0a" + wire([b"mx"])]
    rdatas += names + [bytes([len(t)]) + t for t in hostile if len(t) < 256]
    answers = []
    for i, rdata in enumerate(rdatas[:30]):
        answers.append(bytes([i % 6, 0x01 | (i & 0x24), 0]) + len(rdata).to_bytes(2, "big") + rdata)
    write("dns_wire_fuzz", rdatas + answers)

    signatures = literals("message/dkim_wire_test.cpp", "message/dkim_test.cpp")
    write("dkim_signature_fuzz", [t for t in signatures if b"=" in t] +
          [b"v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=sel; h=from : to;"
           b"\r\n bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA=="])

    write("helo_syntax_fuzz", short)
    write("policy_text_fuzz", entries + [t for t in literals("core/config_test.cpp",
                                                             "core/policy_test.cpp")
                                         if 0 < len(t) < 100 and b"\n" not in t])

    macros = [t for t in literals("spf/macro_test.cpp") if b"%" in t]
    write("spf_macro_fuzz",
          [bytes([i % 8]) + m + b"\nstrong-bad\nemail.example.com\nmx.example.org"
           for i, m in enumerate(macros)])
    records = [t for t in literals("spf/record_test.cpp", "spf/check_host_test.cpp",
                                   "checks/spf_test.cpp")
               if t.startswith(b"v=spf1")]
    write("spf_record_fuzz", records)

    dates = literals("message/date_test.cpp")
    write("date_fuzz", [t for t in dates if t and not t[:1].isdigit() or b":" in t])
    write("message_id_fuzz", [t for t in literals("message/message_id_test.cpp") if t])

    # FIELDS BYTES, then NAME_LENGTH NAME VALUE_LENGTH(2) VALUE per field
    def fields(pairs, max_fields=20, max_bytes=64):
        out = bytes([max_fields, max_bytes])
        for name, value in pairs:
            out += bytes([len(name)]) + name + len(value).to_bytes(2, "big") + value
        return out
    blocks = []
    names = [b"From", b"Date", b"Subject", b"DKIM-Signature", b"Received", b"To",
             b"Message-ID", b"X-Bad\x80", b"Sub ject", b""]
    values = [t for t in literals("message/header_block_test.cpp",
                                  "message/address_list_test.cpp") if len(t) < 300]
    for i in range(0, len(values), 3):
        pairs = [(names[(i + j) % len(names)], v) for j, v in enumerate(values[i:i + 3])]
        blocks.append(fields(pairs, 2 + i % 20, 1 + i % 255))
    blocks.append(fields([(b"Subject", b"a" * 995 + b"\r\n b\rc\0")], 3, 40))
    write("header_block_fuzz", blocks)

    auth = literals("message/auth_results_test.cpp", "message/address_list_test.cpp")
    pieces = [b"mx.example.org", b"dkim", b"pass", b"bad\"sig\"", b"header", b"d",
              b"a@example.org", b"comment (x)"]
    write("auth_results_fuzz", [t for t in auth if t and len(t) < 1000] +
          [b"\0".join(pieces), b"\0".join([b"\"q id\""] + pieces[1:])])


if __name__ == "__main__":
    main()
