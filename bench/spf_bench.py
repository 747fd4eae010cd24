#!/usr/bin/env python3
"""SPF evaluations per second over the RFC 7208 suite's records, warm
cache: portcullis (bench/spf-rate) beside libspf2's spfquery, on the same
queries, against the same DNS server, in the same run.

    spf_bench.py SUITE WORK SPF_RATE SOURCE_ROOT [--seconds S]

Must run alone in a fresh network and mount namespace (scripts/bench
starts it under `unshare --net --mount`): it brings up lo, serves each
scenario from nsd on 127.0.0.1:53 and points /etc/resolv.conf (a bind
mount, private to the namespace) at it, because spfquery resolves through
the system resolver (libresolv) and cannot be given a server or a port.
It refuses to run where any interface but lo exists.

Per scenario of the suite (their names overlap, so one at a time):
  1. the zonedata as one root zone (tests/integration/spf_suite.py), nsd;
     portcullis asks it through the relay that keeps silent for the
     suite's TIMEOUT names (tests/integration/dns_relay.py --silent), spfquery
     asks nsd itself (it only ever sees the tests kept below);
  2. spf-rate: every test once (warm-up; a test that met a DNS error, i.e.
     a TIMEOUT name, is left out of the timed runs: it would time the
     resolver's patience), then the kept tests round after round for S
     seconds through portcullis' resolver stack (shared answer cache,
     libunbound), then S seconds over the answers replayed from memory;
  3. spfquery: every kept test once on its own (its result, for the
     agreement count), then the kept tests as one -file of R+1 copies in
     one process (libspf2's own DNS cache warm after the first copy);
     the rate is R x kept / (time of R+1 copies - time of 1 copy), which
     takes out process start and the cold first copy.
Every evaluation is one at a time, as spfquery does them.

Writes WORK/spf.json (per scenario and totals) and prints a summary.
Exit 1 on a failure of the harness (nsd not answering, spf-rate failing).
"""
import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

RESOLV_PORT = 53
RELAY_PORT = 5353


def log(text):
    sys.stderr.write("%s spf: %s\n" % (time.strftime("%H:%M:%S"), text))
    sys.stderr.flush()


def udp_datagrams():
    """UDP datagrams received in this network namespace so far (a query and
    its answer count two): the DNS traffic one run made."""
    with open("/proc/net/snmp") as snmp:
        rows = [line.split() for line in snmp if line.startswith("Udp:")]
    header, values = rows[0], rows[1]
    return int(values[header.index("InDatagrams")])


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def alone_in_namespace():
    # /proc/net follows the network namespace (/sys/class/net would need
    # sysfs mounted again inside it).
    with open("/proc/net/dev") as dev:
        names = [line.split(":")[0].strip() for line in dev if ":" in line]
    return names == ["lo"]


def start_nsd(directory, zonefile, spf_suite):
    conf = spf_suite.write_nsd_conf(directory, zonefile, RESOLV_PORT)
    subprocess.run(["nsd-checkconf", conf], check=True)
    nsd = subprocess.Popen(["nsd", "-d", "-c", conf], stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(directory, "nsd.out"), "w"),
                           start_new_session=True)
    for _ in range(200):
        probe = subprocess.run(["dig", "+short", "+norec", "+time=1", "+tries=1", "-p",
                                str(RESOLV_PORT), "@127.0.0.1", "ns.spf-suite-driver", "A"],
                               capture_output=True, text=True)
        if "127.0.0.1" in probe.stdout:
            return nsd
        time.sleep(0.05)
    stop(nsd)
    raise RuntimeError("nsd did not answer for " + zonefile)


def wait_for_line(path, line):
    for _ in range(200):
        with open(path) as source:
            if line in source.read().splitlines():
                return
        time.sleep(0.05)
    raise RuntimeError("no '%s' in %s" % (line, path))


def stop(process):
    """A server of ours and its children (nsd forks its server processes)."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def write_config(path, source_root, unbound_conf):
    with open(path, "w") as out:
        out.write(f"""# portcullis for the SPF benchmark: DNS from the scenario's nsd
socket = unix:{os.path.dirname(path)}/unused.sock
replies-file = {source_root}/rules/replies.conf
generic-rdns-patterns = {source_root}/rules/generic-rdns.conf
[resolver]
forward = 127.0.0.1@{RELAY_PORT}
dnssec = no
timeout = 1s
stage-budget = 3s
unbound-config = {unbound_conf}
[spf]
# the suite's driver conventions
default-explanation = DEFAULT
receiver = receiver.example
""")


def usable(test):
    """A test both tools can be given: spfquery's -file splits on blanks."""
    fields = (test["host"], test["mailfrom"], test["helo"])
    return not any(any(c.isspace() for c in field) for field in fields)


def spfquery_sender(test):
    # The null sender is checked as postmaster@HELO (RFC 7208 §2.4);
    # spfquery's -file has no way to give an empty field.
    return test["mailfrom"] or "postmaster@" + test["helo"]


def spfquery_one(spfquery, test):
    command = [spfquery, "-ip", test["host"], "-sender", spfquery_sender(test)]
    if test["helo"]:
        command += ["-helo", test["helo"]]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "(no answer in 30 s)"
    # A StartError ... EndError block (libspf2's complaint, e.g. "Could not
    # find a valid SPF record") may come first; the result line follows.
    in_error = False
    for line in run.stdout.splitlines():
        if line == "StartError":
            in_error = True
        elif line == "EndError":
            in_error = False
        elif not in_error:
            return line.strip()
    return "(nothing printed)"


def spfquery_timed(spfquery, lines_file, copies, directory):
    """Wall and CPU seconds, and UDP datagrams, of one spfquery -file run
    over `copies` copies of the kept queries."""
    with open(lines_file) as source:
        lines = source.read()
    batch = os.path.join(directory, "spfquery-%d.txt" % copies)
    with open(batch, "w") as out:
        out.write(lines * copies)
    datagrams = udp_datagrams()
    cpu = children_cpu()
    start = time.perf_counter()
    subprocess.run([spfquery, "-file", batch], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    return seconds, children_cpu() - cpu, udp_datagrams() - datagrams


def bench_scenario(index, scenario, args, spf_suite, spfquery):
    directory = os.path.join(args.work, "%02d" % index)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "zone.out"), "w") as out:
        saved = sys.stdout
        sys.stdout = out
        try:
            spf_suite.write_zone(scenario, directory)
        finally:
            sys.stdout = saved
    with open(os.path.join(directory, "tests.json")) as source:
        tests = [t for t in json.load(source)["tests"] if usable(t)]
    by_id = {"%02d/%s" % (index, t["name"]): t for t in tests}
    with open(os.path.join(directory, "queries.tsv"), "w") as out:
        for query_id, t in by_id.items():
            out.write("%s\t%s\t%s\t%s\n" % (query_id, t["host"], t["mailfrom"], t["helo"]))
    config = os.path.join(directory, "portcullis.conf")
    write_config(config, args.source_root, os.path.join(directory, "unbound.conf"))

    nsd = start_nsd(directory, os.path.join(directory, "root.zone"), spf_suite)
    relay = subprocess.Popen(
        [sys.executable, os.path.join(args.source_root, "tests", "integration", "dns_relay.py"),
         str(RELAY_PORT), str(RESOLV_PORT), "--silent", os.path.join(directory, "timeouts.txt")],
        stdout=open(os.path.join(directory, "relay.out"), "w"), start_new_session=True)
    try:
        wait_for_line(os.path.join(directory, "relay.out"), "listening")
        rate = subprocess.run([args.spf_rate, config, os.path.join(directory, "queries.tsv"),
                               str(args.seconds)], capture_output=True, text=True)
        if rate.returncode != 0:
            raise RuntimeError("spf-rate failed on %s: %s" % (scenario["description"],
                                                              rate.stderr.strip()))
        ours = json.loads(rate.stdout)
        kept = [r for r in ours["results"] if r["kept"]]
        row = {"scenario": scenario["description"], "tests": len(scenario.get("tests") or {}),
               "usable": len(tests), "kept": len(kept)}
        if not kept:
            return row
        agree_ours = agree_theirs = 0
        disagreements = []
        kept_lines = os.path.join(directory, "spfquery.txt")
        with open(kept_lines, "w") as out:
            for r in kept:
                t = by_id[r["id"]]
                theirs = spfquery_one(spfquery, t)
                agree_ours += r["result"] in t["results"]
                agree_theirs += theirs in t["results"]
                if theirs not in t["results"]:
                    disagreements.append("%s: spfquery %s, suite %s" % (
                        r["id"], theirs, "/".join(t["results"])))
                out.write("%s %s %s\n" % (t["host"], spfquery_sender(t), t["helo"]))
        # spfquery: calibrate the copies so that the timed run lasts about
        # S seconds (a probe of at least 0.1 s, so that process start is
        # small beside it).
        one = spfquery_timed(spfquery, kept_lines, 1, directory)
        copies = 8
        while True:
            probe = spfquery_timed(spfquery, kept_lines, copies + 1, directory)
            if probe[0] - one[0] >= 0.1 or copies >= 1 << 20:
                break
            copies *= 4
        per_copy = max((probe[0] - one[0]) / copies, 1e-7)
        copies = max(copies, int(args.seconds / per_copy))
        full = spfquery_timed(spfquery, kept_lines, copies + 1, directory)
        one = spfquery_timed(spfquery, kept_lines, 1, directory)
        row.update({
            "portcullis_live": ours["live"],
            "portcullis_memory": ours["memory"],
            "spfquery": {"evaluations": copies * len(kept),
                         "seconds": max(full[0] - one[0], 1e-9),
                         "cpu_seconds": max(full[1] - one[1], 0.0),
                         "udp_datagrams": full[2] - one[2]},
            "agree_portcullis": agree_ours,
            "agree_spfquery": agree_theirs,
            "spfquery_disagreements": disagreements,
        })
        return row
    finally:
        stop(relay)
        stop(nsd)


def rate(part):
    return part["evaluations"] / part["seconds"] if part["seconds"] else 0.0


def suite_rate(rows, name):
    """Evaluations per second over the kept tests, each evaluated once:
    the time of one pass over every scenario's kept tests (at each
    scenario's measured rate), not weighted by how long each was timed."""
    seconds = sum(row["kept"] / rate(row[name]) for row in rows if name in row and rate(row[name]))
    kept = sum(row["kept"] for row in rows if name in row)
    return kept / seconds if seconds else 0.0


def suite_cpu_us(rows, name):
    """CPU microseconds per evaluation over one such pass."""
    cpu = sum(row["kept"] * row[name]["cpu_seconds"] / row[name]["evaluations"]
              for row in rows if name in row and row[name]["evaluations"])
    kept = sum(row["kept"] for row in rows if name in row)
    return cpu / kept * 1e6 if kept else 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("suite")
    parser.add_argument("work")
    parser.add_argument("spf_rate")
    parser.add_argument("source_root")
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    if not alone_in_namespace():
        sys.exit("spf_bench.py: run it in a network namespace of its own "
                 "(unshare --net --mount): it serves DNS on 127.0.0.1:53")
    spfquery = shutil.which("spfquery")
    if not spfquery:
        sys.exit("spf_bench.py: spfquery not found (Debian package spfquery)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    os.makedirs(args.work, exist_ok=True)
    resolv = os.path.join(args.work, "resolv.conf")
    with open(resolv, "w") as out:
        out.write("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)

    sys.path.insert(0, os.path.join(args.source_root, "tests", "integration"))
    import spf_suite  # the suite's zone writer, shared with the integration tests

    rows = []
    for index, scenario in enumerate(spf_suite.load_suite(args.suite)):
        log("scenario %d: %s" % (index, scenario.get("description")))
        rows.append(bench_scenario(index, scenario, args, spf_suite, spfquery))

    totals = {"tests": 0, "usable": 0, "kept": 0, "agree_portcullis": 0, "agree_spfquery": 0}
    parts = {name: {"evaluations": 0, "seconds": 0.0, "cpu_seconds": 0.0}
             for name in ("portcullis_live", "portcullis_memory", "spfquery")}
    for row in rows:
        for key in totals:
            totals[key] += row.get(key, 0)
        for name, part in parts.items():
            if name in row:
                for key in part:
                    part[key] += row[name][key]
    summary = {"scenarios": rows, "totals": totals, "parts": parts,
               "rates": {name: suite_rate(rows, name) for name in parts},
               "cpu_us": {name: suite_cpu_us(rows, name) for name in parts},
               "spfquery_udp_datagrams": sum(r["spfquery"]["udp_datagrams"]
                                             for r in rows if "spfquery" in r),
               "spfquery_version": subprocess.run(
                   ["dpkg-query", "-W", "-f=${Version}", "libspf2-2"],
                   capture_output=True, text=True).stdout.strip()}
    with open(os.path.join(args.work, "spf.json"), "w") as out:
        json.dump(summary, out, indent=1)
    rates = summary["rates"]
    log("%d suite tests, %d kept; evaluations/s: portcullis %.0f (memory %.0f), spfquery %.0f"
        % (totals["tests"], totals["kept"], rates["portcullis_live"],
           rates["portcullis_memory"], rates["spfquery"]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError) as error:
        sys.exit("spf_bench.py: %s" % error)
