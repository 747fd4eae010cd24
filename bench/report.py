#!/usr/bin/env python3
"""Prints the one table of scripts/bench from the results directory.

    report.py RESULTS_DIR [--build BUILD_DIR]

Reads warm.json, cold.json, hold.json (written by milter-load),
e2e.tsv (written by scripts/bench), spf.json (bench/spf_bench.py) and
greylist.json (bench/greylist-rate), prints the figures, the machine they
came from and each target as met or missed. Exit status 1 when a
correctness check failed (driver errors, or decision counts that
disagree with portcullis' log); a missed performance target is reported,
not failed.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time


def run(command):
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def package_version(name):
    return run(["dpkg-query", "-W", "-f=${Version}", name]) or "?"


def machine(build):
    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = 0
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal"):
                memory = int(line.split()[1]) / 1024 / 1024
    debian = "?"
    if os.path.exists("/etc/debian_version"):
        debian = open("/etc/debian_version").read().strip()
    buildtype = "?"
    compiler = "?"
    info = os.path.join(build, "meson-info", "intro-buildoptions.json")
    if os.path.exists(info):
        for option in json.load(open(info)):
            if option["name"] == "buildtype":
                buildtype = option["value"]
    first = run(["c++", "--version"]).splitlines()
    if first:
        compiler = first[0]
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.1f} GiB RAM; Linux {platform.release()}, "
            f"Debian {debian}\nPostfix {package_version('postfix')}, libmilter "
            f"{package_version('libmilter1.0.1')}, libunbound {package_version('libunbound8')}, "
            f"nsd {package_version('nsd')}; portcullis built {buildtype} with {compiler}\n"
            f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
            f"(other work on the machine skews the figures)")


def load(path):
    with open(path) as source:
        return json.load(source)


def by_target(data):
    """{target: [result per round]}"""
    out = {}
    for round_results in data["rounds"]:
        for result in round_results:
            out.setdefault(result["target"], []).append(result)
    return out


def median(results, key):
    return statistics.median(r[key] for r in results)


def stage(result, name):
    s = result["stages"].get(name)
    return (s["p50"], s["p99"], s["max"]) if s else (0, 0, 0)


def fmt_stage(values):
    return "/".join(f"{v:.1f}" for v in values)


class Checks:
    def __init__(self):
        self.lines = []
        self.failed = False

    def target(self, met, text):
        self.lines.append(f"  [{'met' if met else 'MISSED'}] {text}")

    def correctness(self, ok, text):
        self.lines.append(f"  [{'ok' if ok else 'FAILED'}] {text}")
        if not ok:
            self.failed = True


def correctness_of(name, data, checks):
    for target, results in by_target(data).items():
        errors = sum(r["errors"] for r in results)
        sessions = sum(r["sessions_done"] for r in results)
        checks.correctness(errors == 0, f"{name}/{target}: {sessions} sessions, {errors} errors")
        logged = [r["log"] for r in results if "log" in r]
        if logged:
            agree = all(entry["agrees"] for entry in logged)
            refused = sum(r["rejected"] + r["tempfailed"] for r in results)
            rcpt = {k: sum(r[f"rcpt_{k}"] for r in results) for k in ("continue", "reject", "tempfail")}
            log = {k: sum(entry[k] for entry in logged) for k in ("continue", "reject", "tempfail")}
            checks.correctness(
                agree,
                f"{name}/{target}: driver counted RCPT continue/reject/tempfail "
                f"{rcpt['continue']}/{rcpt['reject']}/{rcpt['tempfail']}, portcullis logged "
                f"{log['continue']}/{log['reject']}/{log['tempfail']}; "
                f"{refused} refused sessions counted as refusals, not errors")


def greylisting_report(targets, results, out, checks):
    """The grey-* rows of part 1 beside portcullis with greylisting off."""
    off = targets.get("portcullis", [])
    if not off:
        return
    passes = {}
    path = os.path.join(results, "grey-passes.tsv")
    if os.path.exists(path):
        for line in open(path):
            name, count = line.split()
            passes[name.replace("grey", "grey-")] = int(count)
    rate = median(off, "sessions_per_second")
    cpu = median(off, "cpu_per_session_us")
    # How far the same setup moves from round to round: a difference
    # smaller than this is noise (other work on the machine).
    spread = max(r["cpu_per_session_us"] for r in off) - min(r["cpu_per_session_us"] for r in off)
    tempfails = sum(r["rcpt_tempfail"] for r in off)
    for name, backend in (("grey-lmdb", "LMDB"), ("grey-redis", "Redis")):
        rows = targets.get(name)
        if not rows:
            continue
        ratio = median(rows, "sessions_per_second") / rate if rate else 0
        extra = median(rows, "cpu_per_session_us") - cpu
        out.append(f"   {name}: greylist.mode = all over {backend}, every origin passed before the "
                   f"measured rounds (one read per recipient); {ratio:.2f} x portcullis' sessions/s with "
                   f"greylisting off, state CPU {extra:+.1f} us/session"
                   + (" (portcullis' side only: the Redis server's CPU is not counted here)"
                      if backend == "Redis" else "")
                   + (f"; within the {spread:.0f} us/session that portcullis' own CPU moved "
                      f"between rounds" if abs(extra) < spread else ""))
        if backend == "LMDB":
            checks.target(extra < 30, f"warm cache, greylisting on (mode all, origin passed), LMDB: "
                          f"state CPU {extra:+.1f} us per session over greylisting off (target < 30 us)")
        grey_tempfails = sum(r["rcpt_tempfail"] for r in rows)
        checks.correctness(grey_tempfails == tempfails,
                           f"warm/{name}: {grey_tempfails} RCPT tempfails, as many as with "
                           f"greylisting off ({tempfails}): no recipient was greylisted in the "
                           f"measured rounds")
        accepted = sum(r["rcpt_continue"] for r in rows)
        logged = passes.get(name, 0)
        checks.correctness(logged >= accepted,
                           f"warm/{name}: {logged} recipients logged as passed on their origin's "
                           f"pass over the whole run, wanted at least the {accepted} accepted in "
                           f"the measured rounds (greylisting ran for each)")


def greylist_rate_report(data, out, checks):
    out.append(f"6. Greylisting decisions (bench/greylist-rate, memory::decide_greylist over the "
               f"store, one at a time, {data['seconds']:g} s or more per path); LMDB in "
               f"{data.get('lmdb_filesystem', '?')} with a sync per write, Redis on loopback "
               f"(CPU: the driver's, + the server's from INFO cpu)")
    out.append(f"   {'backend':<8}{'path':<9}{'decisions/s':>12}{'CPU us':>9}{'+server':>9}"
               f"{'p50 us':>9}{'p99 us':>9}{'max us':>10}")
    for backend in data["backends"]:
        for row in backend["paths"]:
            server = f"{row['server_cpu_us']:.1f}" if "server_cpu_us" in row else "-"
            out.append(f"   {backend['backend']:<8}{row['path']:<9}{row['per_second']:>12.0f}"
                       f"{row['cpu_us']:>9.1f}{server:>9}{row['p50_us']:>9.1f}{row['p99_us']:>9.1f}"
                       f"{row['max_us']:>10.0f}")
            checks.correctness(row["wrong"] == 0,
                               f"greylisting/{backend['backend']}/{row['path']}: "
                               f"{row['decisions']} decisions, {row['wrong']} not as the path wants")
    out.append("   passed: the origin has passed (one read); new: a new triplet (a read and a "
               "write); retry: a retry after the delay (two reads, two writes)")


def spf_report(spf, out, checks):
    totals, rates, cpu = spf["totals"], spf["rates"], spf["cpu_us"]
    theirs = rates["spfquery"]
    out.append(f"5. SPF, warm cache: the RFC 7208 suite's records, {len(spf['scenarios'])} scenarios "
               f"served one at a time by nsd; {totals['kept']} of {totals['tests']} tests (left out: "
               f"those meeting a TIMEOUT name, {totals['tests'] - totals['usable']} with blanks in "
               f"an argument); one evaluation at a time; evaluations/s over one pass of the kept tests")
    out.append(f"   {'':<34}{'eval/s':>9}{'ratio':>7}{'CPU us/eval':>13}   agrees with the suite")
    rows = (("portcullis, its resolver stack", "portcullis_live", totals["agree_portcullis"]),
            ("portcullis, answers from memory", "portcullis_memory", None),
            (f"spfquery (libspf2 {spf.get('spfquery_version', '?')})", "spfquery",
             totals["agree_spfquery"]))
    for label, name, agree in rows:
        ratio = rates[name] / theirs if theirs else 0
        agree_text = f"{agree}/{totals['kept']}" if agree is not None else ""
        out.append(f"   {label:<34}{rates[name]:>9.0f}{ratio:>7.2f}{cpu[name]:>13.1f}   {agree_text}")
    per_scenario = []
    for row in spf["scenarios"]:
        if "spfquery" not in row:
            continue
        ours = row["portcullis_live"]["evaluations"] / row["portcullis_live"]["seconds"]
        libspf2 = row["spfquery"]["evaluations"] / row["spfquery"]["seconds"]
        per_scenario.append(f"{row['scenario']} {ours / 1000:.0f}k/{libspf2 / 1000:.0f}k")
    out.append("   per scenario, portcullis/spfquery eval/s: " + "; ".join(per_scenario))
    ratios = sorted(r["portcullis_live"]["evaluations"] / r["portcullis_live"]["seconds"] /
                    (r["spfquery"]["evaluations"] / r["spfquery"]["seconds"])
                    for r in spf["scenarios"] if "spfquery" in r)
    if ratios:
        out.append(f"   portcullis/spfquery per scenario: median {statistics.median(ratios):.2f}, "
                   f"from {ratios[0]:.2f} to {ratios[-1]:.2f}")
    datagrams = spf.get("spfquery_udp_datagrams", 0)
    evaluations = spf["parts"]["spfquery"]["evaluations"]
    out.append(f"   spfquery's timed runs still sent {datagrams} DNS datagrams "
               f"({datagrams / evaluations if evaluations else 0:.3f} per evaluation): "
               f"libspf2 caches a negative answer with a TTL of 0 (spfquery -debug shows it), so "
               f"it asks again every time")
    changed = sum(row[name]["changed_results"] for row in spf["scenarios"]
                  for name in ("portcullis_live", "portcullis_memory") if name in row)
    checks.correctness(totals["agree_portcullis"] == totals["kept"] and changed == 0,
                       f"SPF: portcullis agrees with the suite on {totals['agree_portcullis']} of "
                       f"{totals['kept']} timed tests; {changed} results changed while timed")
    checks.lines.append(f"  [info] SPF, warm cache: portcullis {rates['portcullis_live']:.0f} "
                        f"evaluations/s, {rates['portcullis_live'] / theirs if theirs else 0:.2f} x "
                        f"spfquery's {theirs:.0f} on the same records")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--build", default="build")
    args = parser.parse_args()
    checks = Checks()
    out = []
    out.append(f"portcullis benchmarks, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    out.append("machine: " + machine(args.build))
    out.append("")

    warm = load(os.path.join(args.results, "warm.json"))
    targets = by_target(warm)
    null = targets.get("null", [])
    pc = targets.get("portcullis", [])
    out.append(f"1. Load driver, unix socket, warm DNS cache: {warm['concurrency']} concurrent "
               f"sessions x {warm['sessions']}, {warm['rcpts']} RCPT, 5 headers, 1 KiB body, "
               f"1000 clients; median of {len(warm['rounds'])} alternating rounds")
    out.append(f"   {'filter':<12}{'sessions/s':>11}{'ratio':>7}{'CPU us/sess':>13}{'peak RSS':>10}"
               f"   {'decision ms p50/p99/max':<24}{'session ms p50/p99/max':<24}")
    base_rate = median(null, "sessions_per_second") if null else 0
    for name, results in targets.items():
        rate = median(results, "sessions_per_second")
        cpu = median(results, "cpu_per_session_us")
        peak = max(r["peak_kib"] for r in results) / 1024
        best = sorted(results, key=lambda r: r["sessions_per_second"])[len(results) // 2]
        out.append(f"   {name:<12}{rate:>11.0f}{rate / base_rate if base_rate else 0:>7.2f}{cpu:>13.0f}"
                   f"{peak:>8.1f}Mi   {fmt_stage(stage(best, 'decision')):<24}"
                   f"{fmt_stage(stage(best, 'session')):<24}")
    correctness_of("warm", warm, checks)
    if null and pc:
        ratio = median(pc, "sessions_per_second") / base_rate
        extra = median(pc, "cpu_per_session_us") - median(null, "cpu_per_session_us")
        checks.target(ratio >= 0.90, f"warm cache, 4 DNSBL zones: portcullis at {ratio:.2f} of the "
                      f"null filter's sessions/s (target >= 0.90)")
        checks.target(extra < 100, f"warm cache: portcullis CPU per session {extra:+.0f} us over the "
                      f"null filter (target < +100 us)")
    greylisting_report(targets, args.results, out, checks)
    out.append("")

    cold = load(os.path.join(args.results, "cold.json"))
    c = by_target(cold)["portcullis"][0]
    p50, p99, top = stage(c, "decision")
    out.append(f"2. Load driver, cold cache: every client new, 20 ms added to every DNS answer, "
               f"10 DNSBL zones, {cold['sessions']} sessions at {cold.get('rate', 0):.0f}/s, "
               f"{cold['rcpts']} RCPT")
    out.append(f"   connect-to-RCPT decision: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {top:.1f} ms; "
               f"portcullis CPU {c['cpu_per_session_us']:.0f} us/session, peak RSS "
               f"{c['peak_kib'] / 1024:.1f} MiB; accepted {c['accepted']}, rejected {c['rejected']}, "
               f"tempfailed {c['tempfailed']}")
    correctness_of("cold", cold, checks)
    checks.target(p99 <= 50, f"cold cache, 20 ms DNS, 10 DNSBL zones: decision p99 {p99:.1f} ms "
                  f"(target <= 2 x 20 + 10 = 50 ms)")
    out.append("")

    hold = load(os.path.join(args.results, "hold.json"))
    out.append(f"3. Load driver, {hold['sessions']} sessions held open at once (after RCPT)")
    for name, results in by_target(hold).items():
        r = results[0]
        growth = (r["peak_kib"] - r["rss_before_kib"]) / hold["sessions"]
        out.append(f"   {name:<12} errors {r['errors']}; RSS before {r['rss_before_kib'] / 1024:.1f} MiB, "
                   f"all held {r['hold_rss_kib'] / 1024:.1f} MiB, peak {r['peak_kib'] / 1024:.1f} MiB "
                   f"({growth:+.1f} KiB per session); {r['hold_threads']} threads; "
                   f"open p99 {stage(r, 'open')[1]:.0f} ms")
        if name == "portcullis":
            checks.target(r["errors"] == 0 and growth < 30,
                          f"{hold['sessions']} concurrent sessions: {r['errors']} errors, peak RSS "
                          f"{growth:+.1f} KiB per session (target 0 errors, < 30 KiB)")
    correctness_of("hold", hold, checks)
    out.append("")

    rows = {}
    serial = {}
    refused = 0
    with open(os.path.join(args.results, "e2e.tsv")) as source:
        for line in source:
            name, kind, _, seconds, rate, bad = line.rstrip("\n").split("\t")
            refused += int(bad)
            if kind == "throughput":
                rows.setdefault(name, []).append(float(rate))
            else:
                serial[name] = float(seconds) / 50 * 1000
    alone = statistics.median(rows.get("postfix-alone", [0]))
    out.append("4. End to end: Postfix + smtp-source, 20 sessions, 1000 messages of 1 KiB, "
               "1 RCPT; median of 3 rounds; then 50 messages one session at a time")
    out.append(f"   {'setup':<18}{'msgs/s':>8}{'vs alone':>10}{'vs null':>9}{'ms/msg, serial':>16}")
    for name in ("postfix-alone", "null-unix", "portcullis-unix", "null-inet", "portcullis-inet",
                 "null-lean-inet"):
        rate = statistics.median(rows[name]) if name in rows else 0
        socket = name.rsplit("-", 1)[-1]
        null_rate = statistics.median(rows.get(f"null-{socket}", [0]))
        versus_null = f"{rate / null_rate:.2f}" if name.startswith("portcullis") and null_rate else ""
        rate_text = f"{rate:.0f}" if rate else "-"
        alone_text = f"{rate / alone:.2f}" if alone and rate else "-"
        out.append(f"   {name:<18}{rate_text:>8}{alone_text:>10}{versus_null:>9}"
                   f"{serial.get(name, 0):>16.1f}")
    out.append("   null-lean-inet: the null filter negotiating DATA away, as portcullis used to over "
               "TCP: Postfix's DATA macros go unanswered and the next write waits for a delayed ACK")
    if "portcullis-unix" in rows and "null-unix" in rows:
        ratio = statistics.median(rows["portcullis-unix"]) / statistics.median(rows["null-unix"])
        checks.target(ratio >= 0.90, f"end to end, unix socket: Postfix + portcullis at {ratio:.2f} "
                      f"of Postfix + null filter (target >= 0.90)")
    checks.correctness(refused == 0, f"end to end: {refused} smtp-source complaints (all mail accepted)")
    out.append("")

    greylist_path = os.path.join(args.results, "greylist.json")
    spf_path = os.path.join(args.results, "spf.json")
    if os.path.exists(spf_path):
        spf_report(load(spf_path), out, checks)
    else:
        checks.correctness(False, "SPF: no results (see spf.out)")
    out.append("")
    if os.path.exists(greylist_path):
        greylist_rate_report(load(greylist_path), out, checks)
    else:
        checks.correctness(False, "greylisting: no results (see greylist.out)")
    out.append("")
    out.append("Targets and checks")
    out.extend(checks.lines)
    print("\n".join(out))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
