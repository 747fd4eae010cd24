#!/usr/bin/python3
"""A DNS relay in front of nsd that stays silent for some names, so that a
resolver asking them times out: the RFC 7208 suite's TIMEOUT entries.

    dns_timeouts.py PORT UPSTREAM_PORT TIMEOUTS_FILE

Listens on 127.0.0.1:PORT (UDP), passes every query to 127.0.0.1:
UPSTREAM_PORT and the answer back, except a query for a name listed in
TIMEOUTS_FILE whose type is not listed after it: that one is read and
never answered. A line of TIMEOUTS_FILE is "NAME [TYPE ...]": an absolute
presentation name as spf_suite.py writes them (lower case, bytes other
than letters, digits, '-' and '_' as \\DDD), then the types that still
answer (the name's own records, as in the suite's drivers: "TIMEOUT makes
every type of the name without records time out"). The name's
subdomains are not affected, unlike a resolver's forward-zone.

UDP only (the suite's answers fit). Prints "listening" once ready, then
"silent NAME TYPE" per query it swallows; stops on SIGTERM.
"""
import select
import signal
import socket
import struct
import sys
import time

TYPE_NUMBERS = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
                "AAAA": 28, "SPF": 99}


def label_text(label):
    out = []
    for byte in label.lower():
        c = chr(byte)
        if c.isascii() and (c.isalnum() or c in "-_"):
            out.append(c)
        else:
            out.append("\\%03d" % byte)
    return "".join(out)


def question(packet):
    """(name as spf_suite.py writes it, qtype) of a query, or None."""
    if len(packet) < 12 or struct.unpack("!H", packet[4:6])[0] != 1:
        return None
    offset, labels = 12, []
    while True:
        if offset >= len(packet):
            return None
        length = packet[offset]
        if length == 0:
            offset += 1
            break
        if length > 63 or offset + 1 + length > len(packet):
            return None  # compression or garbage: not in a query we relay as is
        labels.append(label_text(packet[offset + 1:offset + 1 + length]))
        offset += 1 + length
    if offset + 2 > len(packet):
        return None
    name = ".".join(labels) + "." if labels else "."
    return name, struct.unpack("!H", packet[offset:offset + 2])[0]


def load_timeouts(path):
    timeouts = {}
    with open(path, encoding="ascii") as source:
        for line in source:
            fields = line.split()
            if fields:
                timeouts[fields[0].lower()] = {TYPE_NUMBERS[t] for t in fields[1:]}
    return timeouts


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: dns_timeouts.py PORT UPSTREAM_PORT TIMEOUTS_FILE")
    port, upstream_port, timeouts = int(sys.argv[1]), int(sys.argv[2]), load_timeouts(sys.argv[3])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", port))
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.bind(("127.0.0.1", 0))
    upstream_address = ("127.0.0.1", upstream_port)
    pending = {}  # relayed id -> (the client's id, client, time)
    next_id = 0
    print("listening", flush=True)
    while True:
        ready, _, _ = select.select([listener, upstream], [], [], 1.0)
        now = time.monotonic()
        for sock in ready:
            if sock is listener:
                packet, client = listener.recvfrom(65535)
                asked = question(packet)
                if asked is None:
                    continue
                name, qtype = asked
                if name in timeouts and qtype not in timeouts[name]:
                    print("silent", name, qtype, flush=True)
                    continue
                for _ in range(65536):
                    next_id = (next_id + 1) & 0xFFFF
                    if next_id not in pending:
                        break
                pending[next_id] = (packet[:2], client, now)
                upstream.sendto(struct.pack("!H", next_id) + packet[2:], upstream_address)
            else:
                packet = upstream.recv(65535)
                if len(packet) < 12:
                    continue
                entry = pending.pop(struct.unpack("!H", packet[:2])[0], None)
                if entry is not None:
                    listener.sendto(entry[0] + packet[2:], entry[1])
        for key in [k for k, (_, _, t) in pending.items() if now - t > 10]:
            del pending[key]


if __name__ == "__main__":
    main()
