#!/usr/bin/env python3
"""A DNS proxy on loopback that delays every answer: the added latency of
the benchmarks' DNS world.

    dns_delay.py LISTEN_PORT UPSTREAM_PORT DELAY_MS

Listens on 127.0.0.1:LISTEN_PORT (UDP), passes each query at once to
127.0.0.1:UPSTREAM_PORT (nsd), and sends the answer back DELAY_MS after
it arrived. Query IDs are rewritten upstream so that clients cannot
collide. UDP only: the benchmark's answers are small and never
truncated. Prints "listening" once ready; stops on SIGTERM.

Why a proxy and not netem: this kernel has no sch_netem (nor sch_prio),
so `tc qdisc ... netem` in a network namespace is not available; a
proxy also delays only the DNS answers, not the milter or SMTP traffic
on the same loopback.
"""
import asyncio
import signal
import socket
import struct
import sys


class Upstream(asyncio.DatagramProtocol):
    def __init__(self, proxy):
        self.proxy = proxy

    def datagram_received(self, data, _):
        self.proxy.answer(data)


class Proxy(asyncio.DatagramProtocol):
    def __init__(self, loop, upstream_port, delay):
        self.loop = loop
        self.delay = delay
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
        for _ in range(65536):
            self.next_id = (self.next_id + 1) & 0xFFFF
            if self.next_id not in self.pending:
                break
        else:
            return  # 65536 queries in flight: drop, the client retries
        original = data[:2]
        self.pending[self.next_id] = (original, client)
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


async def main():
    listen_port, upstream_port, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    loop = asyncio.get_running_loop()
    proxy = Proxy(loop, upstream_port, delay_ms / 1000.0)
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    listener.bind(("127.0.0.1", listen_port))
    await loop.create_datagram_endpoint(lambda: proxy, sock=listener)
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    upstream.bind(("127.0.0.1", 0))
    proxy.upstream, _ = await loop.create_datagram_endpoint(lambda: Upstream(proxy), sock=upstream)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("listening", flush=True)
    await stop.wait()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: dns_delay.py LISTEN_PORT UPSTREAM_PORT DELAY_MS")
    asyncio.run(main())
