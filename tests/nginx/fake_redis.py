"""A stand-in for a Redis server that answers wrongly, for tests/nginx/replay_cases.lua.

    python3 fake_redis.py PORT MODE PIDFILE

MODE "queued": every command read is answered "+QUEUED" (what a server in a
MULTI block, or something that is not Redis, might say to SET NX).
MODE "silent": connections are accepted and never answered (a hung server).
Writes its pid to PIDFILE once listening; runs until killed.
"""
import os
import socket
import sys
import threading

port, mode, pidfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def serve(conn):
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            if mode == "queued":
                conn.sendall(b"+QUEUED\r\n")


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(64)
with open(pidfile, "w") as fh:
    fh.write(str(os.getpid()))
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
