#!/usr/bin/python3
"""RFC 7208 conformance suite scenarios over real DNS: serve one scenario's
zonedata from nsd and check `portcullis spf` against its tests.

  spf_suite.py list SUITE
      the scenarios: index, number of tests, description
  spf_suite.py zone SUITE DESCRIPTION OUTDIR
      writes OUTDIR/root.zone (the zonedata as one root zone, for an nsd
      that the resolver forwards everything to), OUTDIR/unbound.conf
      (default local zones lifted), OUTDIR/timeouts.txt (for
      dns_relay.py --silent, the relay in front of nsd that keeps silent for
      the TIMEOUT names) and OUTDIR/tests.json
  spf_suite.py nsd-conf DIR ZONEFILE PORT
      writes DIR/nsd.conf: nsd on 127.0.0.1@PORT serving ZONEFILE as the
      root zone, its state and log in DIR
  spf_suite.py run OUTDIR PORTCULLIS CONFIG
      runs `PORTCULLIS spf --ip HOST --sender MAILFROM --helo HELO --json
      -c CONFIG` for every test; prints "ok NAME" or "FAIL NAME: why" per
      test, then "DONE N tests, F failed"; exits 1 if any failed.

Driver conventions of the suite (see /work/shared/docs/FACTS.md): an SPF
record also serves as TXT unless the name has TXT records of its own, and
"TXT: NONE" suppresses that; TIMEOUT makes every type of the name that
has no records time out (dns_relay.py --silent timeouts.txt).
A result list means any of them is accepted. An expected explanation of
"DEFAULT" is the default explanation: the configuration given to `run`
must set it to that text (spf.default-explanation), as the suite's
drivers do.

Needs python3-yaml (Debian package) for the suite file.
"""
import ipaddress
import json
import os
import subprocess
import sys

# Keys `portcullis spf --json` must print.
JSON_KEYS = ("result", "explanation", "mechanism", "problem", "dns_lookups",
             "void_lookups", "identity", "domain", "sender", "client")

# Expected explanations that differ from ours only in letter case: the
# suite writes v-macro-ip6's %{i} nibbles in upper case, RFC 7208 §7.4's
# example in lower case (the unit test of the suite tolerates the same).
CASE_INSENSITIVE_EXPLANATIONS = {"v-macro-ip6"}

# Counts that follow from the RFC for some tests, checked on top of the
# suite's result: the real resolver path must count the same lookups.
EXTRA_EXPECTATIONS = {
    ("Processing limits", "void-at-limit"): {"dns_lookups": 2, "void_lookups": 2},
    ("Processing limits", "mech-at-limit"): {"dns_lookups": 10},
    ("Processing limits", "false-a-limit"): {"dns_lookups": 1},
}

# Zones that libunbound answers itself unless told "nodefault" (RFC 6761,
# RFC 6303 and AS112 zones): a scenario may use names under them.
def default_local_zones():
    zones = ["test.", "invalid.", "onion.", "localhost.", "home.arpa.",
             "resolver.arpa.", "service.arpa.",
             "10.in-addr.arpa.", "127.in-addr.arpa.", "0.in-addr.arpa.",
             "254.169.in-addr.arpa.", "168.192.in-addr.arpa.",
             "2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.",
             "113.0.203.in-addr.arpa.", "255.255.255.255.in-addr.arpa.",
             "8.b.d.0.1.0.0.2.ip6.arpa.", "d.f.ip6.arpa.",
             "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.",
             "b.e.f.ip6.arpa.",
             "0." * 32 + "ip6.arpa.", "1." + "0." * 31 + "ip6.arpa."]
    zones += ["%d.172.in-addr.arpa." % n for n in range(16, 32)]
    zones += ["%d.100.in-addr.arpa." % n for n in range(64, 128)]
    return zones


def load_suite(path):
    import yaml  # python3-yaml
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def find_scenario(scenarios, description):
    for scenario in scenarios:
        if scenario.get("description") == description:
            return scenario
    sys.exit("no scenario described as %r" % description)


# --- zone file writing ---------------------------------------------------

def escape_label(label):
    out = []
    for byte in label.encode("utf-8"):
        c = chr(byte)
        if c.isascii() and (c.isalnum() or c in "-_"):
            out.append(c)
        else:
            out.append("\\%03d" % byte)
    return "".join(out)


def absolute_name(name):
    """A suite name as an absolute presentation name ("" and "." = root)."""
    name = str(name)
    if name.endswith("."):
        name = name[:-1]
    if name == "":
        return "."
    labels = name.split(".")
    if any(not label for label in labels):
        raise ValueError("empty label in %r" % name)
    if any(len(label.encode("utf-8")) > 63 for label in labels):
        raise ValueError("label over 63 bytes in %r" % name)
    if sum(len(label.encode("utf-8")) + 1 for label in labels) > 254:
        raise ValueError("name over 253 bytes: %r" % name)
    return ".".join(escape_label(label) for label in labels) + "."


def txt_rdata(value):
    """TXT/SPF rdata: a string, or a list of strings (one character-string
    each); strings over 255 bytes become several character-strings."""
    pieces = value if isinstance(value, list) else [value]
    strings = []
    for piece in pieces:
        data = str(piece).encode("utf-8")
        chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
        for chunk in chunks:
            text = []
            for byte in chunk:
                if 0x20 <= byte < 0x7f and byte not in (0x22, 0x5c):
                    text.append(chr(byte))
                else:
                    text.append("\\%03d" % byte)
            strings.append('"' + "".join(text) + '"')
    # A record of no strings at all (the suite's "SPF: [ ]") has no
    # presentation form; one empty string is the same text.
    return " ".join(strings) or '""'



def write_zone(scenario, outdir):
    zonedata = scenario.get("zonedata") or {}
    records = []   # (owner, type, rdata)
    timeouts = []
    problems = []
    for name, entries in zonedata.items():
        try:
            owner = absolute_name(name)
        except ValueError as error:
            problems.append("name not served: %s" % error)
            continue
        txt, spf, txt_none, timeout, other = [], [], False, False, []
        for entry in entries:
            if entry == "TIMEOUT":
                timeout = True
                continue
            (rtype, value), = entry.items()
            if rtype == "TXT" and value == "NONE":
                txt_none = True
            elif rtype == "TXT":
                txt.append(txt_rdata(value))
            elif rtype == "SPF":
                spf.append(txt_rdata(value))
            elif rtype in ("A", "AAAA"):
                other.append((rtype, str(ipaddress.ip_address(str(value)))))
            elif rtype == "MX":
                preference, exchange = value
                other.append(("MX", "%d %s" % (int(preference), absolute_name(exchange))))
            elif rtype in ("PTR", "CNAME"):
                other.append((rtype, absolute_name(value)))
            else:
                problems.append("%s: record type %s not supported" % (name, rtype))
        if not txt and not txt_none:
            txt = list(spf)
        rrs = [("TXT", r) for r in txt] + [("SPF", r) for r in spf] + other
        if timeout:
            # The types that still answer; a CNAME answers every type.
            answering = {rtype for rtype, _ in rrs}
            if "CNAME" in answering:
                answering = set()
            else:
                timeouts.append((owner, sorted(answering)))
        seen = set()
        for rtype, rdata in rrs:
            # identical records in one RRset are one record in DNS
            if (rtype, rdata.lower()) not in seen:
                seen.add((rtype, rdata.lower()))
                records.append((owner, rtype, rdata))

    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "root.zone"), "w", encoding="ascii") as f:
        f.write("; generated by spf_suite.py from the RFC 7208 suite scenario\n")
        f.write("; %s\n" % scenario.get("description"))
        f.write("$TTL 300\n")
        f.write(". IN SOA ns.spf-suite-driver. hostmaster.spf-suite-driver. "
                "1 3600 600 86400 300\n")
        f.write(". IN NS ns.spf-suite-driver.\n")
        f.write("ns.spf-suite-driver. IN A 127.0.0.1\n")
        for owner, rtype, rdata in records:
            f.write("%s IN %s %s\n" % (owner, rtype, rdata))
    with open(os.path.join(outdir, "unbound.conf"), "w", encoding="ascii") as f:
        f.write("server:\n    do-not-query-localhost: no\n")
        for zone in default_local_zones():
            f.write('    local-zone: "%s" nodefault\n' % zone)
    with open(os.path.join(outdir, "timeouts.txt"), "w", encoding="ascii") as f:
        for owner, answering in timeouts:
            f.write(" ".join([owner.lower()] + answering) + "\n")
    tests = []
    for test_name, test in (scenario.get("tests") or {}).items():
        result = test["result"]
        tests.append({
            "scenario": scenario.get("description"),
            "name": test_name,
            "host": str(test["host"]),
            "helo": str(test.get("helo") or ""),
            "mailfrom": str(test.get("mailfrom") or ""),
            "results": result if isinstance(result, list) else [result],
            "explanation": test.get("explanation"),
        })
    with open(os.path.join(outdir, "tests.json"), "w", encoding="utf-8") as f:
        json.dump({"tests": tests, "timeouts": [owner for owner, _ in timeouts],
                   "problems": problems}, f, indent=1)
    print("zone: %d records, %d timeout names, %d tests"
          % (len(records), len(timeouts), len(tests)))
    for problem in problems:
        print("problem: %s" % problem)
    return 1 if problems else 0


def write_nsd_conf(directory, zonefile, port):
    """nsd serving one scenario's root zone on 127.0.0.1@port (no rate
    limiting: the benchmark asks fast)."""
    path = os.path.join(directory, "nsd.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write("""server:
    ip-address: 127.0.0.1@{port}
    port: {port}
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonelistfile: "{dir}/zone.list"
    xfrdfile: "{dir}/xfrd.state"
    xfrdir: "{dir}"
    pidfile: "{dir}/nsd.pid"
    logfile: "{dir}/nsd.log"
    verbosity: 1
    hide-version: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "."
    zonefile: "{zonefile}"
""".format(port=port, dir=directory, zonefile=zonefile))
    return path


# --- running the tests ---------------------------------------------------

def same_address(a, b):
    try:
        x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return False
    if x.version == 6 and x.ipv4_mapped:
        x = x.ipv4_mapped
    if y.version == 6 and y.ipv4_mapped:
        y = y.ipv4_mapped
    return x == y


def check_one(test, portcullis, config):
    command = [portcullis, "spf", "--ip", test["host"], "--sender", test["mailfrom"],
               "--helo", test["helo"], "--json", "-c", config]
    try:
        run = subprocess.run(command, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return ["no answer within 60 s"], None
    stdout = run.stdout.decode("utf-8", "replace")
    stderr = run.stderr.decode("utf-8", "replace").strip()
    try:
        out = json.loads(stdout)
        if not isinstance(out, dict):
            raise ValueError("not an object")
    except ValueError as error:
        return ["exit %d, not one JSON object (%s): %r %r"
                % (run.returncode, error, stdout[:300], stderr[:300])], None
    why = []
    missing = [key for key in JSON_KEYS if key not in out]
    if missing:
        why.append("missing keys %s" % " ".join(missing))
    result = out.get("result")
    if result not in test["results"]:
        why.append("result %r, expected %s" % (result, "/".join(test["results"])))
    expected = test["explanation"]
    got = out.get("explanation")
    if expected is not None:
        if test["name"] in CASE_INSENSITIVE_EXPLANATIONS:
            good = isinstance(got, str) and got.lower() == expected.lower()
        else:
            good = got == expected
        if not good:
            why.append("explanation %r, expected %r" % (got, expected))
    for key, value in EXTRA_EXPECTATIONS.get((test["scenario"], test["name"]), {}).items():
        if out.get(key) != value:
            why.append("%s %r, expected %r" % (key, out.get(key), value))
    if "client" in out and not same_address(str(out["client"]), test["host"]):
        why.append("client %r for --ip %s" % (out["client"], test["host"]))
    return why, out


def run_tests(outdir, portcullis, config):
    with open(os.path.join(outdir, "tests.json"), encoding="utf-8") as f:
        data = json.load(f)
    failed = 0
    for test in data["tests"]:
        why, out = check_one(test, portcullis, config)
        summary = ""
        if out is not None:
            summary = " [%s mechanism=%r lookups=%s void=%s problem=%r]" % (
                out.get("result"), out.get("mechanism"), out.get("dns_lookups"),
                out.get("void_lookups"), out.get("problem"))
        if why:
            failed += 1
            print("FAIL %s: %s (--ip %s --sender %r --helo %r)%s"
                  % (test["name"], "; ".join(why), test["host"], test["mailfrom"],
                     test["helo"], summary))
        else:
            print("ok %s%s" % (test["name"], summary))
        sys.stdout.flush()
    print("DONE %d tests, %d failed" % (len(data["tests"]), failed))
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "list":
        for i, scenario in enumerate(load_suite(argv[2])):
            print("%d\t%d\t%s" % (i, len(scenario.get("tests") or {}),
                                  scenario.get("description")))
        return 0
    if len(argv) == 5 and argv[1] == "zone":
        scenario = find_scenario(load_suite(argv[2]), argv[3])
        return write_zone(scenario, argv[4])
    if len(argv) == 5 and argv[1] == "nsd-conf":
        write_nsd_conf(argv[2], argv[3], int(argv[4]))
        return 0
    if len(argv) == 5 and argv[1] == "run":
        return run_tests(argv[2], argv[3], argv[4])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
