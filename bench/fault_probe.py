#!/usr/bin/env python3
"""Probe sessions for scripts/fault-run: how long until the MX serves again.

    fault_probe.py SMTP_PORT FIRST_CLIENT [--deadline S] [--interval S]

Each probe is one SMTP session through the private Postfix on
127.0.0.1:SMTP_PORT, speaking for a client of the benchmark DNS world
that portcullis has not seen yet (XCLIENT ADDR=198.18.x.y, a client whose
PTR points back, so every probe needs fresh DNS answers): EHLO, XCLIENT,
EHLO, MAIL, RCPT, QUIT. Probes follow each other every --interval seconds
until one gets 250 at RCPT or --deadline passes.

Prints one line: "served SECONDS PROBES CODES" (CODES: the RCPT reply
codes seen, e.g. "451x3,250x1"), or "unserved SECONDS PROBES CODES" and
exit status 1 after the deadline. The next unused client number is on a
second line ("next N") for the following probe run.
"""
import argparse
import collections
import socket
import sys
import time

BASE = (198 << 24) | (18 << 16)


def address(i):
    value = BASE + i
    return ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))


def good_client(i):
    # dns_world.py: i % 50 == 7 has no PTR, i % 50 == 23 an unconfirmed one.
    return i % 50 not in (7, 23)


def reply(stream):
    code = None
    while True:
        line = stream.readline()
        if not line:
            return "EOF"
        code = line[:3].decode("ascii", "replace")
        if line[3:4] != b"-":
            return code


def probe(port, client):
    """The RCPT reply code of one session (or what stopped it earlier)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            stream = connection.makefile("rb")
            steps = [None, "EHLO probe.bench.example",
                     f"XCLIENT ADDR={address(client)} NAME=h{client}.c.bench.example",
                     f"EHLO h{client}.c.bench.example",
                     "MAIL FROM:<probe@s1.senders.bench.example>",
                     "RCPT TO:<user@dest.bench.example>"]
            code = None
            for step in steps:
                if step is not None:
                    connection.sendall(step.encode("ascii") + b"\r\n")
                code = reply(stream)
                if not code.startswith(("2", "3")):
                    return f"{code}@{(step or 'banner').split()[0]}"
            connection.sendall(b"QUIT\r\n")
            return code
    except OSError as error:
        return type(error).__name__


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("first_client", type=int)
    parser.add_argument("--deadline", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()
    start = time.monotonic()
    client = args.first_client
    codes = collections.Counter()
    probes = 0
    while True:
        while not good_client(client):
            client += 1
        code = probe(args.port, client)
        client += 1
        probes += 1
        codes[code] += 1
        elapsed = time.monotonic() - start
        seen = ",".join(f"{c}x{n}" for c, n in sorted(codes.items()))
        if code == "250":
            print(f"served {elapsed:.2f} {probes} {seen}")
            print(f"next {client}")
            return 0
        if elapsed > args.deadline:
            print(f"unserved {elapsed:.2f} {probes} {seen}")
            print(f"next {client}")
            return 1
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
