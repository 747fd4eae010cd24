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
    out.append(f"7. Greylisting decisions (bench/greylist-rate, memory::decide_greylist over the "
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
    out.append(f"6. SPF, warm cache: the RFC 7208 suite's records, {len(spf['scenarios'])} scenarios "
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


def warm_report(results, out, checks):
    """Part 1: the load driver, warm cache (warm.json)."""
    warm = load(os.path.join(results, "warm.json"))
    targets = by_target(warm)
    null = targets.get("null", [])
    pc = targets.get("portcullis", [])
    out.append(f"1. Load driver, unix socket, warm DNS cache: {warm['concurrency']} concurrent "
               f"sessions x {warm['sessions']}, {warm['rcpts']} RCPT, 5 headers, 1 KiB body, "
               f"1000 clients; median of {len(warm['rounds'])} alternating rounds")
    out.append(f"   {'filter':<19}{'sessions/s':>11}{'ratio':>7}{'CPU us/sess':>13}{'peak RSS':>10}"
               f"   {'decision ms p50/p99/max':<24}{'session ms p50/p99/max':<24}")
    base_rate = median(null, "sessions_per_second") if null else 0
    for name, rows in targets.items():
        rate = median(rows, "sessions_per_second")
        cpu = median(rows, "cpu_per_session_us")
        peak = max(r["peak_kib"] for r in rows) / 1024
        best = sorted(rows, key=lambda r: r["sessions_per_second"])[len(rows) // 2]
        out.append(f"   {name:<19}{rate:>11.0f}{rate / base_rate if base_rate else 0:>7.2f}{cpu:>13.0f}"
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
    greylisting_report(targets, results, out, checks)
    metrics_report(targets, warm, results, out, checks)


def metrics_report(targets, warm, results, out, checks):
    """The portcullis-metrics row of part 1 beside portcullis: what the
    counters cost, same configuration, same rounds."""
    off, on = targets.get("portcullis", []), targets.get("portcullis-metrics", [])
    if not off or not on:
        return
    ratio = median(on, "sessions_per_second") / median(off, "sessions_per_second")
    extra = median(on, "cpu_per_session_us") - median(off, "cpu_per_session_us")
    spread = max(r["cpu_per_session_us"] for r in off) - min(r["cpu_per_session_us"] for r in off)
    out.append(f"   portcullis-metrics: metrics.listen on (every counter counting, the endpoint "
               f"idle during the rounds); {ratio:.2f} x portcullis' sessions/s, CPU {extra:+.1f} "
               f"us/session" + (f"; within the {spread:.0f} us/session that portcullis' own CPU "
                                f"moved between rounds" if abs(extra) < spread else ""))
    checks.lines.append(f"  [info] warm cache, metrics on vs off: {ratio:.2f} x the sessions/s, "
                        f"CPU {extra:+.1f} us per session")
    path = os.path.join(results, "metrics-scrape.txt")
    counted = None
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("portcullis_sessions_total "):
                counted = int(float(line.split()[1]))
    driven = warm["sessions"] * len(warm["rounds"])
    checks.correctness(counted is not None and counted >= driven,
                       f"warm/portcullis-metrics: /metrics counted {counted} sessions after the "
                       f"run, wanted at least the {driven} of the measured rounds")


def cold_report(results, out, checks):
    """Part 2: the load driver, cold cache (cold.json)."""
    cold = load(os.path.join(results, "cold.json"))
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


def hold_report(results, out, checks):
    """Part 3: sessions held open (hold.json)."""
    hold = load(os.path.join(results, "hold.json"))
    out.append(f"3. Load driver, {hold['sessions']} sessions held open at once (after RCPT)")
    for name, rows in by_target(hold).items():
        r = rows[0]
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


def e2e_report(results, out, checks):
    """Part 4: Postfix + smtp-source end to end (e2e.tsv)."""
    rows = {}
    serial = {}
    refused = 0
    with open(os.path.join(results, "e2e.tsv")) as source:
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


DKIM_SETUPS = ("postfix-alone", "null-verifier", "opendkim", "portcullis", "portcullis-no-dkim")


def dkim_sample_checks(name, sample, refused, checks, label):
    """A filter's sample must show dkim=pass for every signature, and its
    tampered messages dkim=fail for every signature that arrived (the
    filter may refuse them: `refused`)."""
    good = sample.get(name, {})
    bad = sample.get(f"{name}-tampered", {})
    signatures = good.get("signatures", 0)
    checks.correctness(
        good.get("messages", 0) > 0 and good.get("all_passed", 0) == good["messages"]
        and good.get("dkim_pass", 0) == signatures
        and good.get("ed25519_pass", 0) == good.get("ed25519_signatures", 0) > 0,
        f"DKIM sample through {label}: {good.get('messages', 0)} messages, {signatures} signatures "
        f"({good.get('ed25519_signatures', 0)} Ed25519), dkim=pass for {good.get('dkim_pass', 0)} "
        f"({good.get('ed25519_pass', 0)} Ed25519)")
    checks.correctness(
        bad.get("dkim_pass", 0) == 0 and bad.get("dkim_fail", 0) == bad.get("signatures", 0),
        f"DKIM sample through {label}, body changed after signing: {refused} refused, "
        f"{bad.get('messages', 0)} delivered with {bad.get('signatures', 0)} signatures, dkim=fail "
        f"for {bad.get('dkim_fail', 0)}, dkim=pass for {bad.get('dkim_pass', 0)}")


def dkim_report(results, out, checks):
    """Part 5: Postfix with OpenDKIM, portcullis and the null filter (-v),
    the signed corpus sent by smtp-feed (dkim/*.json, dkim-sample.json)."""
    corpus = load(os.path.join(results, "dkim-corpus.json"))
    with open(os.path.join(results, "dkim-portcullis.txt")) as source:
        binary, options = (source.read().split("\n") + [""])[:2]
    dkim_on = "--dkim.verify=yes" in options.split()
    runs = {}
    errors = []
    for name in os.listdir(os.path.join(results, "dkim")):
        if not name.endswith(".json"):
            continue
        run = load(os.path.join(results, "dkim", name))
        stem = name[:-5]
        if not stem.startswith("tampered-") and (run["refused"] or run["errors"]):
            errors.append(f"{stem}: {run['refused']} refused, {run['errors']} failed")
        setup, _, round_number = stem.rpartition("-")
        if setup in DKIM_SETUPS and round_number.isdigit():
            runs.setdefault(setup, []).append(run)
    rounds = len(runs.get("postfix-alone", []))
    out.append(f"5. DKIM end to end: Postfix + bench/smtp-feed, 20 sessions, one message each, "
               f"{corpus['messages']} distinct messages signed by python3-dkim ({corpus['domains']} "
               f"domains, RSA-2048 relaxed/relaxed, {corpus['dual_signed']} also Ed25519; "
               f"{corpus['mean_bytes'] / 1024:.1f} KiB mean), 1 RCPT; median of {rounds} "
               f"alternating rounds; filter CPU from /proc per message")
    out.append(f"   {'setup':<20}{'msgs/s':>8}{'vs alone':>10}{'vs null-v':>11}{'filter CPU us/msg':>19}"
               f"{'ms/msg p50/p99':>16}")
    rate = {name: statistics.median(r["per_second"] for r in rows) for name, rows in runs.items()}
    cpu = {name: statistics.median(r["watched"].get("filter", 0) for r in rows)
           for name, rows in runs.items()}
    alone = rate.get("postfix-alone", 0)
    null = rate.get("null-verifier", 0)
    for name in DKIM_SETUPS:
        if name not in runs:
            continue
        middle = sorted(runs[name], key=lambda r: r["per_second"])[len(runs[name]) // 2]
        latency = f"{middle['transaction_ms']['p50']:.1f}/{middle['transaction_ms']['p99']:.1f}"
        cpu_text = f"{cpu[name]:.0f}" if name != "postfix-alone" else "-"
        versus_null = f"{rate[name] / null:.2f}" if null and name != "postfix-alone" else ""
        out.append(f"   {name:<20}{rate[name]:>8.0f}{rate[name] / alone if alone else 0:>10.2f}"
                   f"{versus_null:>11}{cpu_text:>19}{latency:>16}")
    out.append(f"   null-verifier: null-filter -v, every stage, one Authentication-Results field per "
               f"message; opendkim: /usr/sbin/opendkim {package_version('opendkim')}, Mode v; "
               f"portcullis: {binary} {options or '(no options added)'}"
               + ("; portcullis-no-dkim: the same with --dkim.verify=no --authentication-results=no"
                  if "portcullis-no-dkim" in runs else ""))
    if not dkim_on:
        out.append("   this portcullis build has no dkim.verify: its row verifies nothing "
                   "(set PORTCULLIS_BENCH_DKIM_BUILD to a build that has it)")
    ceiling = load(os.path.join(results, "dkim", "ceiling.json"))
    with open(os.path.join(results, "dkim", "smtp-source.txt")) as source:
        _, source_rate, source_refused = source.read().split()
    fastest = max(rate.values()) if rate else 0
    out.append(f"   smtp-feed alone into smtp-sink: {ceiling['per_second']:.0f} msgs/s, "
               f"{ceiling['client_cpu_us']:.0f} us of its own CPU per message "
               f"({ceiling['per_second'] / fastest if fastest else 0:.1f} x the fastest setup); "
               f"smtp-source into postfix-alone, one corpus message 1000 times: {float(source_rate):.0f} "
               f"msgs/s ({source_refused} complaints)")
    sample = load(os.path.join(results, "dkim-sample.json"))
    tampered_refused = {name: load(os.path.join(results, "dkim", f"tampered-{i}.json"))["refused"]
                        for i, name in enumerate(DKIM_SETUPS[:4]) if i}
    for name in ("opendkim", "portcullis"):
        example = sample.get(name, {}).get("example", "")
        if example:
            out.append(f"   {name} wrote: Authentication-Results: {example[:300]}")

    checks.correctness(not errors, "DKIM end to end: every message accepted"
                       + (f" (not so: {'; '.join(errors)})" if errors else ""))
    checks.correctness(ceiling["per_second"] >= 2 * fastest,
                       f"DKIM end to end: smtp-feed's ceiling {ceiling['per_second']:.0f} msgs/s is "
                       f"at least twice the fastest setup's {fastest:.0f} (it is not the bottleneck)")
    dkim_sample_checks("opendkim", sample, tampered_refused["opendkim"], checks, "OpenDKIM")
    nullv = sample.get("null-verifier", {})
    checks.correctness(nullv.get("ar_fields", 0) == nullv.get("messages", -1),
                       f"DKIM sample through null-filter -v: {nullv.get('messages', 0)} messages, "
                       f"{nullv.get('ar_fields', 0)} Authentication-Results fields")
    pc, odk = rate.get("portcullis", 0), rate.get("opendkim", 0)
    versus_opendkim = pc / odk if odk else 0
    versus_null = pc / null if null else 0
    cpu_text = (f"CPU per message: portcullis {cpu.get('portcullis', 0):.0f} us, OpenDKIM "
                f"{cpu.get('opendkim', 0):.0f} us, null filter {cpu.get('null-verifier', 0):.0f} us")
    if dkim_on:
        dkim_sample_checks("portcullis", sample, tampered_refused["portcullis"], checks,
                           "portcullis")
        checks.target(versus_opendkim >= 1.25,
                      f"DKIM end to end: Postfix + portcullis (DKIM, A-R) at {versus_opendkim:.2f} x "
                      f"Postfix + OpenDKIM's msgs/s (target >= 1.25)")
        checks.target(versus_null >= 0.85,
                      f"DKIM end to end: Postfix + portcullis (DKIM, A-R) at {versus_null:.2f} x "
                      f"Postfix + the null filter taking every stage (target >= 0.85)")
        checks.lines.append(f"  [info] DKIM end to end: {cpu_text}")
        if "portcullis-no-dkim" in rate:
            checks.lines.append(
                f"  [info] DKIM end to end: DKIM and A-R cost portcullis "
                f"{cpu['portcullis'] - cpu['portcullis-no-dkim']:+.0f} us of CPU per message and "
                f"take it to {pc / rate['portcullis-no-dkim']:.2f} x its msgs/s without them")
    else:
        checks.lines.append(f"  [info] DKIM end to end: targets not judged, this portcullis build "
                            f"has no dkim.verify ({versus_opendkim:.2f} x OpenDKIM, "
                            f"{versus_null:.2f} x the null filter without verifying; {cpu_text})")


def spf_part(results, out, checks):
    spf_report(load(os.path.join(results, "spf.json")), out, checks)


def greylist_part(results, out, checks):
    greylist_rate_report(load(os.path.join(results, "greylist.json")), out, checks)


# scripts/bench's parts: name, report, where to look when results are missing.
PARTS = (("warm", warm_report, "warm.txt"), ("cold", cold_report, "cold.txt"),
         ("hold", hold_report, "hold.txt"), ("e2e", e2e_report, "the bench's log"),
         ("dkim", dkim_report, "dkim/*.txt"), ("spf", spf_part, "spf.out"),
         ("greylist", greylist_part, "greylist.out"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--build", default="build")
    parser.add_argument("--parts", default=" ".join(name for name, _, _ in PARTS),
                        help="the parts that ran (scripts/bench's names)")
    args = parser.parse_args()
    checks = Checks()
    out = []
    out.append(f"portcullis benchmarks, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    out.append("machine: " + machine(args.build))
    out.append("")
    ran = args.parts.split()
    for name, report, source in PARTS:
        if name not in ran:
            continue
        try:
            report(args.results, out, checks)
        except FileNotFoundError as missing:
            checks.correctness(False, f"{name}: no results ({missing.filename} missing; "
                                      f"see {source})")
        out.append("")
    out.append("Targets and checks")
    out.extend(checks.lines)
    print("\n".join(out))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
