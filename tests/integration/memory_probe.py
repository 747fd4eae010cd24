#!/usr/bin/python3
"""Drivers for the state store's fault cases (memory_fault_cases.sh).

Usage:
  memory_probe.py greylist-run ADDRESS OUT THREADS SESSIONS RCPTS
      THREADS connections at once over the milter protocol (libmilter's
      own path, no MTA), each running SESSIONS sessions one after the
      other from the harness's good client, each session one sender and
      RCPTS new recipients. Every reply that reached this side is
      appended to OUT as "SENDER<TAB>RECIPIENT<TAB>REPLY" (the reply's
      name, and for a reply code the code and text on one line), at once,
      before the next command goes out. A connection the milter closes
      (killed) ends that thread. Prints "recorded=N cut=M".
  memory_probe.py greylist-retry ADDRESS RECORDED OUT
      Retries every RECORDED triplet whose reply was the greylisted 451,
      one session per sender, and compares the retry's reply with the
      recorded one: the same "after <retry time>" means the triplet's first
      try was remembered; a later time would be a fresh first try. Writes
      every retry to OUT like greylist-run; prints "checked=N same=M
      other=K" and the first few differences; exit 1 unless all are the same.
  memory_probe.py smtp-loop PORT OUT STOP PREFIX
      SMTP sessions through Postfix on 127.0.0.1:PORT, one after the other,
      until the file STOP exists: XCLIENT as the harness's good client, a
      new recipient PREFIX-N@dest.test each time, the message when the
      recipient is accepted, QUIT. Appends per session
      "N<TAB>START<TAB>END<TAB>RCPT-REPLY<TAB>DATA-REPLY<TAB>ERROR" (epoch
      seconds; a reply as "CODE text" on one line; "-" when not reached).
"""
import os
import re
import smtplib
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from milter_raw import PASSES, Closed, expect, open_session, z  # noqa: E402

RETRY_AT = re.compile(r"after (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)")
# The greylisted reply as one line (libmilter sends it as "451-4.7.1 ...").
GREYLISTED = re.compile(r"replycode 451[ -]4\.7\.1 Greylisted: ")


def one_line(data):
    text = data.rstrip(b"\0").decode("utf-8", "replace")
    return " ".join(text.replace("\r", " ").replace("\n", " ").replace("\t", " ").split())


def reply_text(session, command, data):
    """Sends a command that expects a reply; the reply as one line."""
    session.send(command, data)
    name, payload = session.reply()
    return name if name != "replycode" else "replycode " + one_line(payload)


class Recorder:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.handle = open(path, "a", buffering=1)
        self.count = 0

    def write(self, sender, recipient, reply):
        with self.lock:
            self.handle.write("%s\t%s\t%s\n" % (sender, recipient, reply))
            self.handle.flush()
            self.count += 1


def greylist_run(address, out, threads, sessions, rcpts):
    recorder = Recorder(out)
    cut = []

    def worker(thread):
        try:
            for n in range(sessions):
                sender = "s%d-%d@example.test" % (thread, n)
                session = open_session(address)
                try:
                    expect("MAIL", session.command(b"M", z("<%s>" % sender)), PASSES)
                    for r in range(rcpts):
                        recipient = "r%d-%d-%d@dest.test" % (thread, n, r)
                        reply = reply_text(session, b"R", z("<%s>" % recipient))
                        recorder.write(sender, recipient, reply)
                finally:
                    session.close()
        except (OSError, Closed, AssertionError) as error:
            cut.append("thread %d: %s" % (thread, error))

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print("recorded=%d cut=%d" % (recorder.count, len(cut)))
    for line in cut[:5]:
        print("  " + line)
    return 0


def greylist_retry(address, recorded, out):
    by_sender = {}
    with open(recorded) as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or not GREYLISTED.match(parts[2]):
                continue
            by_sender.setdefault(parts[0], []).append((parts[1], parts[2]))
    recorder = Recorder(out)
    checked = same = 0
    differences = []
    for sender, triplets in by_sender.items():
        session = open_session(address)
        try:
            expect("MAIL", session.command(b"M", z("<%s>" % sender)), PASSES)
            for recipient, before in triplets:
                after = reply_text(session, b"R", z("<%s>" % recipient))
                recorder.write(sender, recipient, after)
                checked += 1
                first = RETRY_AT.search(before)
                again = RETRY_AT.search(after)
                if first and again and GREYLISTED.match(after) and \
                        first.group(1) == again.group(1):
                    same += 1
                else:
                    differences.append("%s -> %s: recorded '%s', retry '%s'" %
                                       (sender, recipient, before, after))
        finally:
            session.close()
    print("checked=%d same=%d other=%d" % (checked, same, len(differences)))
    for line in differences[:5]:
        print("  " + line)
    return 0 if checked > 0 and same == checked else 1


def reply_of(error_or_reply):
    code, text = error_or_reply
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return ("%d %s" % (code, " ".join(text.split()))).strip()


def smtp_session(port, recipient):
    """(rcpt reply, data reply, error); replies as 'CODE text'."""
    rcpt = data = "-"
    client = smtplib.SMTP("127.0.0.1", port, timeout=60)
    try:
        client.ehlo("client.example.test")
        code, text = client.docmd("XCLIENT", "ADDR=192.0.2.10 NAME=good.example.test")
        if code != 220:
            return rcpt, data, "XCLIENT %s" % reply_of((code, text))
        client.ehlo("good.example.test")
        code, text = client.docmd("MAIL", "FROM:<sender@example.test>")
        if code != 250:
            return rcpt, data, "MAIL %s" % reply_of((code, text))
        code, text = client.docmd("RCPT", "TO:<%s>" % recipient)
        rcpt = reply_of((code, text))
        if code == 250:
            message = ("From: sender@example.test\r\nTo: %s\r\nSubject: state store fault\r\n"
                       "\r\nbody\r\n" % recipient)
            data = reply_of(client.data(message))
        client.quit()
    except (OSError, smtplib.SMTPException) as error:
        return rcpt, data, "%s: %s" % (type(error).__name__, " ".join(str(error).split()))
    finally:
        client.close()
    return rcpt, data, ""


def smtp_loop(port, out, stop, prefix):
    n = 0
    with open(out, "a", buffering=1) as handle:
        while not os.path.exists(stop):
            n += 1
            start = time.time()
            rcpt, data, error = smtp_session(port, "%s-%d@dest.test" % (prefix, n))
            handle.write("%d\t%.3f\t%.3f\t%s\t%s\t%s\n" % (n, start, time.time(), rcpt, data,
                                                          error or "-"))
            handle.flush()
    return 0


def main(argv):
    if len(argv) == 7 and argv[1] == "greylist-run":
        return greylist_run(argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6]))
    if len(argv) == 5 and argv[1] == "greylist-retry":
        return greylist_retry(argv[2], argv[3], argv[4])
    if len(argv) == 6 and argv[1] == "smtp-loop":
        return smtp_loop(int(argv[2]), argv[3], argv[4], argv[5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except socket.timeout as error:
        print("timeout: %s" % error)
        sys.exit(1)
