#!/usr/bin/python3
"""Speak SMTP line by line for what swaks cannot (two EHLOs in one
session). Usage: smtp_dialogue.py HOST PORT COMMAND...
Each COMMAND is sent after the previous reply; the transcript is printed
in swaks' style (' -> ' sent, '<-  ' reply, '<** ' 4xx/5xx reply)."""
import socket
import sys


def read_reply(stream):
    lines = []
    while True:
        try:
            raw = stream.readline()
        except ConnectionResetError:
            # The server closed while our last command was in flight.
            raw = b""
        if not raw:
            print("*** connection closed by server")
            return None
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(line)
        arrow = "<** " if line[:1] in ("4", "5") else "<-  "
        print(arrow + line)
        if len(line) < 4 or line[3] != "-":
            return lines


def main():
    host, port, commands = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    with socket.create_connection((host, port), timeout=60) as connection:
        stream = connection.makefile("rb")
        if read_reply(stream) is None:
            return 1
        for command in commands:
            print(" -> " + command)
            try:
                connection.sendall(command.encode("utf-8", "surrogateescape") + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                print("*** connection closed by server")
                return 1
            if read_reply(stream) is None:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
