#!/usr/bin/python3
"""A DNS server that never answers: reads UDP queries and accepts TCP
connections on HOST PORT, and stays silent, so resolvers time out.
Used by the integration tests for the DNS-timeout case."""
import select
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((host, port))
    tcp.listen(16)
    print("listening", flush=True)
    held = []
    queries = 0
    while True:
        ready, _, _ = select.select([udp, tcp] + held, [], [])
        for sock in ready:
            if sock is udp:
                udp.recv(65535)
                queries += 1
                print("query", queries, flush=True)
            elif sock is tcp:
                connection, _ = tcp.accept()
                held.append(connection)
            elif not sock.recv(65535):
                held.remove(sock)
                sock.close()


if __name__ == "__main__":
    main()
