#!/usr/bin/env python3
"""The DNS world of the benchmarks: zone files and an nsd.conf for nsd on
127.0.0.1, and the unbound.conf portcullis hands to libunbound.

    dns_world.py DIR --port PORT [--clients N] [--dnsbl-zones Z]
                 [--listed-per-mille L] [--zone NAME=FILE ...]

Clients are 198.18.0.0 + i for i in [0, N) (RFC 2544's benchmarking
range, which libunbound does not answer by itself). Client i has the PTR
h<i>.c.bench.example, whose A record points back to it, except:
  - i % 50 == 7: no PTR (rdns-missing: reject under the default policy);
  - i % 50 == 23: the PTR name's A is 198.19.x.y (rdns-unconfirmed:
    tempfail under the default policy).
DNSBL zones bl0.bench.example .. bl<Z-1>.bench.example each list about
L per mille of the clients (127.0.0.2 with a TXT reason), chosen by a
hash of (client, zone), plus the RFC 5782 test entry 127.0.0.2.
Sender domains *.senders.bench.example carry an SPF-style TXT record.
127.0.0.1 has the PTR source.bench.example (and back), so Postfix's
smtp-source client passes the reverse-DNS checks. --zone adds a zone
written elsewhere (the DKIM part's keys, bench/dkim_corpus.py).

Writes DIR/nsd.conf, DIR/zones/*.zone, DIR/unbound.conf and
DIR/world.json (the expected refusals per client pool, for reports).
"""
import argparse
import json
import os

TTL = 3600
BASE = (198 << 24) | (18 << 16)


def address(i, base=BASE):
    value = base + i
    return ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))


def reversed_octets(i, base=BASE):
    return ".".join(reversed(address(i, base).split(".")))


def listed(i, zone, per_mille):
    mixed = (i * 2654435761 + (zone + 1) * 40503 * 97) & 0xFFFFFFFF
    mixed ^= mixed >> 13
    return (mixed * 1103515245 + 12345) % 1000 < per_mille


def no_ptr(i):
    return i % 50 == 7


def forged(i):
    return i % 50 == 23


def soa(zone):
    return (f"$ORIGIN {zone}.\n$TTL {TTL}\n"
            f"@ IN SOA ns.bench.example. hostmaster.bench.example. 1 3600 600 86400 {TTL}\n"
            f"@ IN NS ns.bench.example.\n")


def write_zone(directory, zone, lines):
    path = os.path.join(directory, "zones", zone + ".zone")
    with open(path, "w") as out:
        out.write(soa(zone))
        out.write("\n".join(lines))
        out.write("\n")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=65536)
    parser.add_argument("--dnsbl-zones", type=int, default=10)
    parser.add_argument("--listed-per-mille", type=int, default=10)
    parser.add_argument("--zone", action="append", default=[], metavar="NAME=FILE",
                        help="serve this zone file too")
    args = parser.parse_args()
    if not 0 < args.clients <= 65536:
        parser.error("--clients must be in 1..65536 (one /16)")

    os.makedirs(os.path.join(args.dir, "zones"), exist_ok=True)
    zones = {}

    hosts = ["ns A 127.0.0.1", "mx A 127.0.0.1", "source A 127.0.0.1",
             '*.senders TXT "v=spf1 ip4:198.18.0.0/15 ip4:127.0.0.1 -all"',
             "*.senders MX 10 mx.bench.example."]
    reverse = []
    for i in range(args.clients):
        target = address(i, (198 << 24) | (19 << 16)) if forged(i) else address(i)
        hosts.append(f"h{i}.c A {target}")
        if not no_ptr(i):
            octets = reversed_octets(i).rsplit(".", 2)[0]  # drop "18.198"
            reverse.append(f"{octets} PTR h{i}.c.bench.example.")
    zones["bench.example"] = write_zone(args.dir, "bench.example", hosts)
    zones["18.198.in-addr.arpa"] = write_zone(args.dir, "18.198.in-addr.arpa", reverse)
    zones["127.in-addr.arpa"] = write_zone(
        args.dir, "127.in-addr.arpa",
        ["1.0.0 PTR source.bench.example."])

    listings = {}
    for zone in range(args.dnsbl_zones):
        name = f"bl{zone}.bench.example"
        lines = ["2.0.0.127 A 127.0.0.2", '2.0.0.127 TXT "RFC 5782 test entry"']
        for i in range(args.clients):
            if listed(i, zone, args.listed_per_mille):
                key = reversed_octets(i)
                lines.append(f"{key} A 127.0.0.2")
                lines.append(f'{key} TXT "{address(i)} is listed in {name} (benchmark data)"')
                listings.setdefault(i, []).append(zone)
        zones[name] = write_zone(args.dir, name, lines)

    for extra in args.zone:
        name, _, path = extra.partition("=")
        if not name or not path:
            parser.error(f"--zone {extra}: want NAME=FILE")
        zones[name.rstrip(".")] = os.path.abspath(path)

    with open(os.path.join(args.dir, "nsd.conf"), "w") as out:
        out.write(f"""server:
    ip-address: 127.0.0.1@{args.port}
    port: {args.port}
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonelistfile: "{args.dir}/zone.list"
    xfrdfile: "{args.dir}/xfrd.state"
    xfrdir: "{args.dir}"
    pidfile: "{args.dir}/nsd.pid"
    logfile: "{args.dir}/nsd.log"
    verbosity: 0
    hide-version: yes
    minimal-responses: yes
remote-control:
    control-enable: no
""")
        for zone, path in zones.items():
            out.write(f'zone:\n    name: "{zone}."\n    zonefile: "{path}"\n')

    # libunbound answers 127.in-addr.arpa itself (localhost) unless lifted;
    # do-not-query-localhost: no lets it ask a server on 127.0.0.1.
    with open(os.path.join(args.dir, "unbound.conf"), "w") as out:
        out.write('server:\n    do-not-query-localhost: no\n'
                  '    local-zone: "127.in-addr.arpa." nodefault\n')

    def expected(first, count, dnsbl_zones):
        refused = {"reject": 0, "tempfail": 0, "continue": 0}
        for i in range(first, first + count):
            if no_ptr(i) or any(z < dnsbl_zones for z in listings.get(i, [])):
                refused["reject"] += 1
            elif forged(i):
                refused["tempfail"] += 1
            else:
                refused["continue"] += 1
        return refused

    with open(os.path.join(args.dir, "world.json"), "w") as out:
        json.dump({"clients": args.clients, "dnsbl_zones": args.dnsbl_zones,
                   "listed_per_mille": args.listed_per_mille,
                   "listed_clients": len(listings),
                   "expected_first_1000_4_zones": expected(0, 1000, 4)}, out)
        out.write("\n")


if __name__ == "__main__":
    main()
