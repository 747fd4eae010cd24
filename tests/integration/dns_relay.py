#!/usr/bin/env python3
"""A DNS relay on loopback in front of nsd, for the tests and benchmarks:
it can send every answer back late, and keep silent for some names.

    dns_relay.py LISTEN_PORT UPSTREAM_PORT [--delay-ms MS] [--silent FILE]

Listens on 127.0.0.1:LISTEN_PORT (UDP) and passes each query at once to
127.0.0.1:UPSTREAM_PORT; query IDs are rewritten upstream so that clients
cannot collide. UDP only: the answers served here are small and never
truncated. Prints "listening" once ready; stops on SIGTERM.

--delay-ms MS: every answer goes back MS milliseconds after it arrived
(the added latency of the benchmarks' cold cache). Why a relay and not
netem: this kernel has no sch_netem (nor sch_prio), and a relay delays
only the DNS answers, not the milter or SMTP traffic on the same loopback.

--silent FILE: a query for a name listed in FILE whose type is not listed
after it is read and never answered, so the resolver times out: the RFC
7208 suite's TIMEOUT entries ("TIMEOUT makes every type of the name
without records time out"). A line is "NAME [TYPE ...]": an absolute
presentation name as spf_suite.py writes it (lower case, bytes other than
letters, digits, '-' and '_' as \\DDD), then the types that still answer.
Subdomains are not affected, unlike a resolver's forward-zone. Each
swallowed query prints "silent NAME TYPE".
"""
import argparse
import asyncio
import signal
import socket
import struct

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
    if struct.unpack("!H", packet[4:6])[0] != 1:
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
            return None  # compression or garbage: not a query as resolvers send them
        labels.append(label_text(packet[offset + 1:offset + 1 + length]))
        offset += 1 + length
    if offset + 2 > len(packet):
        return None
    name = ".".join(labels) + "." if labels else "."
    return name, struct.unpack("!H", packet[offset:offset + 2])[0]


def load_silent(path):
    silent = {}
    with open(path, encoding="ascii") as source:
        for line in source:
            fields = line.split()
            if fields:
                silent[fields[0].lower()] = {TYPE_NUMBERS[t] for t in fields[1:]}
    return silent


class Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay):
        self.relay = relay

    def datagram_received(self, data, _):
        self.relay.answer(data)


class Relay(asyncio.DatagramProtocol):
    def __init__(self, loop, upstream_port, delay, silent):
        self.loop = loop
        self.delay = delay
        self.silent = silent
        self.upstream_address = ("127.0.0.1", upstream_port)
        self.pending = {}
        self.next_id = 0
        self.transport = None
        self.upstream = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, client):
        if len(data) < 12 or self.upstream is None:
            return
        if self.silent:
            asked = question(data)
            if asked is None:
                return
            name, qtype = asked
            if name in self.silent and qtype not in self.silent[name]:
                print("silent", name, qtype, flush=True)
                return
        for _ in range(65536):
            self.next_id = (self.next_id + 1) & 0xFFFF
            if self.next_id not in self.pending:
                break
        else:
            return  # 65536 queries in flight: drop, the client retries
        self.pending[self.next_id] = (data[:2], client)
        self.upstream.sendto(struct.pack("!H", self.next_id) + data[2:], self.upstream_address)

    def answer(self, data):
        if len(data) < 12:
            return
        entry = self.pending.pop(struct.unpack("!H", data[:2])[0], None)
        if entry is None:
            return
        original, client = entry
        reply = original + data[2:]
        if self.delay > 0:
            self.loop.call_later(self.delay, self.transport.sendto, reply, client)
        else:
            self.transport.sendto(reply, client)


async def main(args):
    loop = asyncio.get_running_loop()
    silent = load_silent(args.silent) if args.silent else {}
    relay = Relay(loop, args.upstream_port, args.delay_ms / 1000.0, silent)
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    listener.bind(("127.0.0.1", args.listen_port))
    await loop.create_datagram_endpoint(lambda: relay, sock=listener)
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    upstream.bind(("127.0.0.1", 0))
    relay.upstream, _ = await loop.create_datagram_endpoint(lambda: Upstream(relay), sock=upstream)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("listening", flush=True)
    await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="DNS relay in front of nsd")
    parser.add_argument("listen_port", type=int)
    parser.add_argument("upstream_port", type=int)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--silent", metavar="FILE")
    asyncio.run(main(parser.parse_args()))
