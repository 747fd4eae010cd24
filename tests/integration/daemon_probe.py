#!/usr/bin/python3
"""Milter-protocol probes for the daemon cases (signals, shutdown, file
descriptors), built on milter_raw.py's Session.

Usage:
  daemon_probe.py serves ADDRESS
      One session from the harness's good client up to RCPT: exit 0 when
      every command was answered with continue/accept, 1 otherwise.
  daemon_probe.py hold ADDRESS READY RELEASE OUT
      Negotiate and connect, create the file READY, wait until the file
      RELEASE exists, then send HELO, MAIL and RCPT and write "served" or
      "cut: why" to OUT before closing.
  daemon_probe.py flood ADDRESS PID COUNT SECONDS
      Open COUNT connections without sending anything and keep them; after
      a second, measure the CPU time process PID uses over SECONDS and
      count the connections the milter closed. Prints
      "cpu_percent=P opened=N closed_by_milter=M" and exits 0.
  daemon_probe.py hup PID COUNT SECONDS
      Send COUNT SIGHUPs to PID, evenly spread over SECONDS (0: back to
      back, as fast as one process can send them).
  daemon_probe.py notify-listen NOTIFY_SOCKET MILTER_SOCKET OUT SECONDS
      Play systemd's side of sd_notify(): bind a unix datagram socket at
      NOTIFY_SOCKET, print "listening", then write one line to OUT per
      datagram received: its fields separated by spaces, then
      "socket=yes" or "socket=no" (whether MILTER_SOCKET was a socket
      when it arrived). Ends after STOPPING=1 or SECONDS.
  daemon_probe.py library-versions BINARY
      The versions that the libmilter, libunbound and libopendkim BINARY
      is linked with (ldd) report at run time, called through ctypes:
      "libmilter X.Y.Z", "libunbound X.Y.Z", "libopendkim X.Y.Z", a line
      each.
"""
import ctypes
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from milter_raw import PASSES, Closed, Session, expect, open_session, z  # noqa: E402


def serves(address):
    try:
        session = open_session(address)
        expect("MAIL", session.command(b"M", z("<sender@example.test>")), PASSES)
        expect("RCPT", session.command(b"R", z("<user@dest.test>")), PASSES)
        session.close()
    except (OSError, Closed, AssertionError) as error:
        print("not served: %s" % error)
        return 1
    return 0


def hold(address, ready, release, out):
    result = "served"
    try:
        session = open_session(address, helo=None)
        open(ready, "w").close()
        while not os.path.exists(release):
            time.sleep(0.02)
        expect("HELO", session.command(b"H", z("good.example.test")), PASSES)
        expect("MAIL", session.command(b"M", z("<sender@example.test>")), PASSES)
        expect("RCPT", session.command(b"R", z("<user@dest.test>")), PASSES)
        session.close()
    except (OSError, Closed, AssertionError) as error:
        result = "cut: %s" % error
        if not os.path.exists(ready):
            open(ready, "w").close()
    with open(out, "w") as handle:
        handle.write(result + "\n")
    return 0


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def flood(address, pid, count, seconds):
    path = address[5:] if address.startswith("unix:") else None
    held = []
    for _ in range(count):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except BlockingIOError:
            pass
        except OSError:
            sock.close()
            continue
        held.append(sock)
    time.sleep(1)
    hertz = os.sysconf("SC_CLK_TCK")
    before, start = cpu_ticks(pid), time.monotonic()
    time.sleep(seconds)
    used = (cpu_ticks(pid) - before) / hertz
    elapsed = time.monotonic() - start
    closed = 0
    for sock in held:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            try:
                if sock.recv(1) == b"":
                    closed += 1
            except OSError:
                closed += 1
    print("cpu_percent=%d opened=%d closed_by_milter=%d"
          % (round(100 * used / elapsed), len(held), closed))
    for sock in held:
        sock.close()
    return 0


def hup(pid, count, seconds):
    gap = seconds / count if seconds > 0 else 0
    for _ in range(count):
        os.kill(pid, signal.SIGHUP)
        if gap:
            time.sleep(gap)
    return 0


def notify_listen(path, milter_socket, out, seconds):
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    os.chmod(path, 0o666)
    print("listening", flush=True)
    deadline = time.monotonic() + seconds
    with open(out, "w") as handle:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([listener], [], [], 0.2)
            if not readable:
                continue
            message = listener.recv(4096).decode("utf-8", "replace")
            try:
                is_socket = stat.S_ISSOCK(os.stat(milter_socket).st_mode)
            except OSError:
                is_socket = False
            fields = [field.replace(" ", "_") for field in message.split("\n") if field]
            handle.write("%s socket=%s\n" % (" ".join(fields), "yes" if is_socket else "no"))
            handle.flush()
            if "STOPPING=1" in fields:
                break
    listener.close()
    os.unlink(path)
    return 0


def linked_library(binary, stem):
    """The path of the library named lib<stem>.so* that ldd resolves for binary."""
    listing = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("lib%s.so" % stem) and "=>" in parts:
            return parts[parts.index("=>") + 1]
    raise SystemExit("%s is not linked with lib%s" % (binary, stem))


def library_versions(binary):
    milter = ctypes.CDLL(linked_library(binary, "milter"))
    parts = [ctypes.c_uint() for _ in range(3)]
    milter.smfi_version(*[ctypes.byref(part) for part in parts])
    print("libmilter %d.%d.%d" % tuple(part.value for part in parts))
    unbound = ctypes.CDLL(linked_library(binary, "unbound"))
    unbound.ub_version.restype = ctypes.c_char_p
    print("libunbound %s" % unbound.ub_version().decode())
    opendkim = ctypes.CDLL(linked_library(binary, "opendkim"))
    opendkim.dkim_libversion.restype = ctypes.c_uint32
    version = opendkim.dkim_libversion()  # 0xrrMMmmpp (dkim.h)
    text = "%d.%d.%d" % (version >> 24, (version >> 16) & 0xFF, (version >> 8) & 0xFF)
    if version & 0xFF:
        text += ".%d" % (version & 0xFF)
    print("libopendkim %s" % text)
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "serves":
        return serves(argv[2])
    if len(argv) == 6 and argv[1] == "hold":
        return hold(*argv[2:])
    if len(argv) == 6 and argv[1] == "flood":
        return flood(argv[2], int(argv[3]), int(argv[4]), float(argv[5]))
    if len(argv) == 5 and argv[1] == "hup":
        return hup(int(argv[2]), int(argv[3]), float(argv[4]))
    if len(argv) == 6 and argv[1] == "notify-listen":
        return notify_listen(argv[2], argv[3], argv[4], float(argv[5]))
    if len(argv) == 3 and argv[1] == "library-versions":
        return library_versions(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
