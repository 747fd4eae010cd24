#!/usr/bin/python3
"""Sessions for the metrics cases, and the comparison of a /metrics scrape
with the milter's log lines.

Usage:
  metrics_probe.py sessions ADDRESS ROUNDS
      Runs ROUNDS times a fixed set of milter sessions up to RCPT (one per
      client kind of the harness zones: a good client, one without PTR,
      one listed in bl.test, a denied network, an allowed network, IPv6
      with and without PTR, a sender with SPF fail). Prints the number of
      sessions run.
  metrics_probe.py compare URL LOG SESSIONS
      Scrapes URL and compares it with the decision lines of LOG:
      portcullis_sessions_total must be SESSIONS and the number of
      session ids in LOG's decision lines; portcullis_verdicts_total
      must hold, per (rule, action), the count of decision lines with
      rule=R action=A (rule "none" for action=continue) plus one per
      log=R field (action "log"). Exits 1 and says what differs.
  metrics_probe.py scrape URL NAME
      Prints the sum of the samples of NAME (any labels).
"""
import os
import re
import sys
import urllib.request
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from milter_raw import ANY, Closed, Session, connect_data, z  # noqa: E402

# (client address, client name the MTA gives, HELO, sender)
CLIENTS = [
    ("192.0.2.10", "good.example.test", "good.example.test", "<sender@example.test>"),
    ("192.0.2.30", "[192.0.2.30]", "host.example.test", "<sender@example.test>"),
    ("192.0.2.40", "listed.example.test", "listed.example.test", "<sender@example.test>"),
    ("192.0.2.66", "denied.example.test", "denied.example.test", "<sender@example.test>"),
    ("192.0.2.77", "[192.0.2.77]", "allowed.example.test", "<sender@example.test>"),
    ("2001:db8::10", "good6.example.test", "good6.example.test", "<sender@example.test>"),
    ("2001:db8::30", "[2001:db8::30]", "nothing6.example.test", "<sender@example.test>"),
    ("192.0.2.10", "good.example.test", "good.example.test", "<someone@spf-fail.test>"),
]


def one_session(address, ip, name, helo, sender):
    session = Session(address)
    try:
        session.negotiate()
        family = b"6" if ":" in ip else b"4"
        for command, data in ((b"C", connect_data(name, family, ip)), (b"H", z(helo)),
                              (b"M", z(sender)), (b"R", z("<user@dest.test>"))):
            if session.command(command, data) not in ANY:
                break
        session.send(b"Q")
    except Closed:
        pass
    finally:
        session.close()


def sessions(address, rounds):
    count = 0
    for _ in range(rounds):
        for client in CLIENTS:
            one_session(address, *client)
            count += 1
    print(count)
    return 0


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        if response.status != 200:
            raise AssertionError("HTTP %d" % response.status)
        kind = response.headers.get("Content-Type", "")
        if not kind.startswith("text/plain; version=0.0.4"):
            raise AssertionError("Content-Type %r" % kind)
        return response.read().decode("utf-8")


SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? ([0-9.eE+-]+|\+Inf|NaN)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def samples(text):
    """(name, labels dict, value) of every sample; checks the line syntax."""
    out = []
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        if not match:
            raise AssertionError("not a sample line: %r" % line)
        labels = dict(LABEL.findall(match.group(2) or ""))
        out.append((match.group(1), labels, float(match.group(3))))
    return out


def sum_of(text, name):
    return sum(value for sample, _, value in samples(text) if sample == name)


def log_verdicts(log):
    verdicts, ids = Counter(), set()
    with open(log, "rb") as handle:
        for line in handle.read().decode("utf-8", "replace").splitlines():
            session = re.search(r"\bsession=(\S+)", line)
            action = re.search(r" action=([a-z]+)", line)
            if not session or not action:
                continue
            ids.add(session.group(1))
            rule = re.search(r" rule=(\S+)", line)
            verdicts[(rule.group(1) if rule else "none", action.group(1))] += 1
            for logged in re.findall(r" log=(\S+)", line):
                verdicts[(logged, "log")] += 1
    return verdicts, ids


def compare(url, log, expected_sessions):
    text = scrape(url)
    scraped = Counter()
    for name, labels, value in samples(text):
        if name == "portcullis_verdicts_total":
            scraped[(labels["rule"], labels["action"])] += int(value)
    logged, ids = log_verdicts(log)
    problems = []
    sessions_total = sum_of(text, "portcullis_sessions_total")
    if sessions_total != expected_sessions:
        problems.append("portcullis_sessions_total %d, sessions run %d" %
                        (sessions_total, expected_sessions))
    if len(ids) != expected_sessions:
        problems.append("session ids in decision lines: %d, sessions run %d" %
                        (len(ids), expected_sessions))
    for key in sorted(set(scraped) | set(logged)):
        if scraped[key] != logged[key]:
            problems.append("rule=%s action=%s: /metrics %d, log %d" %
                            (key[0], key[1], scraped[key], logged[key]))
    if not logged:
        problems.append("no decision lines in the log")
    for rule, action in scraped:
        if "other" in (rule, action):
            problems.append("counted under other: rule=%s action=%s" % (rule, action))
    for problem in problems:
        print(problem)
    print("compared %d (rule, action) pairs, %d decision lines" %
          (len(set(scraped) | set(logged)), sum(logged.values())))
    return 1 if problems else 0


def main(argv):
    if len(argv) == 4 and argv[1] == "sessions":
        return sessions(argv[2], int(argv[3]))
    if len(argv) == 5 and argv[1] == "compare":
        return compare(argv[2], argv[3], int(argv[4]))
    if len(argv) == 4 and argv[1] == "scrape":
        print(int(sum_of(scrape(argv[2]), argv[3])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
