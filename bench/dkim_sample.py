#!/usr/bin/env python3
"""What the DKIM part's filters wrote into the messages they passed: reads
the sample messages smtp-sink kept (one file each, smtp-sink -d) and,
per recipient check-NAME@sample.bench.example, counts the DKIM-Signature
fields and the dkim= results of the Authentication-Results fields.

    dkim_sample.py DUMP_DIR [--json FILE]

The corpus' messages carry no Authentication-Results field, so every one
found was added on the way (by the filter). A dkim= result is tied to its
signature by header.b (the first characters of b=, maybe quoted: "/" is
not a token character), else by header.s (the corpus' RSA and Ed25519
selectors differ), else by header.a, which tells the Ed25519 results
from the RSA ones. Prints the counts as JSON; --json writes them to FILE
too.
"""
import argparse
import collections
import json
import os
import re
import sys


def header_fields(text):
    """[(name, unfolded value)] of the header block (up to the first empty line)."""
    fields = []
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line:
            break
        if line[0] in " \t" and fields:
            fields[-1][1] += " " + line.strip()
        elif ":" in line:
            name, value = line.split(":", 1)
            fields.append([name.strip(), value.strip()])
    return fields


def resinfos(value):
    """The ';'-separated parts of an A-R value, ignoring ';' in comments and quotes."""
    parts, current, depth, quoted, escaped = [], [], 0, False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char == ";" and not depth:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def property_value(info, name):
    """A property's value in a resinfo (header.b=...), unquoted; "" if absent."""
    match = re.search(r"\b" + re.escape(name) + r'\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]+)', info)
    if not match:
        return ""
    value = match.group(1)
    if value.startswith('"'):
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def signature_of(info, signatures):
    """The algorithm of the signature a dkim= resinfo speaks of, or None."""
    b = property_value(info, "header.b")
    if b:
        found = [a for prefix, _, a in signatures if prefix.startswith(b) or b.startswith(prefix)]
        if len(found) == 1:
            return found[0]
    selector = property_value(info, "header.s")
    found = [a for _, s, a in signatures if selector and s == selector]
    if len(found) == 1:
        return found[0]
    return property_value(info, "header.a") or None


def tag(signature, name):
    match = re.search(r"(?:^|;)\s*" + name + r"\s*=\s*([^;]*)", signature)
    return re.sub(r"\s+", "", match.group(1)) if match else ""


def sample(directory):
    counts = collections.defaultdict(lambda: collections.Counter())
    examples = {}
    for entry in sorted(os.listdir(directory)):
        with open(os.path.join(directory, entry), errors="replace") as source:
            fields = header_fields(source.read())
        rcpt = next((v for n, v in fields if n.lower() == "x-rcpt-args"), "")
        match = re.search(r"<check-([A-Za-z0-9_.-]+)@sample\.bench\.example>", rcpt)
        if not match:
            continue
        name = match.group(1)
        c = counts[name]
        c["messages"] += 1
        signatures = []  # (b=, s=, a=)
        for n, v in fields:
            if n.lower() == "dkim-signature":
                c["signatures"] += 1
                signatures.append((tag(v, "b"), tag(v, "s"), tag(v, "a")))
                if tag(v, "a") == "ed25519-sha256":
                    c["ed25519_signatures"] += 1
        passed = 0
        for n, v in fields:
            if n.lower() != "authentication-results":
                continue
            c["ar_fields"] += 1
            examples.setdefault(name, v)
            for info in resinfos(v)[1:]:
                result = re.match(r"dkim\s*=\s*([A-Za-z]+)", info)
                if not result:
                    continue
                outcome = result.group(1).lower()
                c[f"dkim_{outcome}"] += 1
                if outcome == "pass":
                    passed += 1
                    if signature_of(info, signatures) == "ed25519-sha256":
                        c["ed25519_pass"] += 1
        if passed and passed == len(signatures):
            c["all_passed"] += 1
    return {name: dict(c, example=examples.get(name, "")) for name, c in sorted(counts.items())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--json")
    args = parser.parse_args()
    result = sample(args.dir)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
