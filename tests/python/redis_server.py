"""A private redis-server for the tests (#13): 127.0.0.1, a free port, files in
a temporary directory, no persistence (--save '' --appendonly no), as
scripts/lib.sh's start_redis does for the shell suites. It can be stopped and
started again on the same port mid-test (what "Redis went away and came back"
means to a client). Never touches a system-wide Redis."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """start() / stop() / restart(); url, port, command(*args) (a raw RESP
    exchange, so the tests need no Redis client package)."""

    def __init__(self, directory: Path, password: str | None = None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.password = password
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = ":%s@" % self.password if self.password else ""
        return "redis://%s127.0.0.1:%d/0" % (auth, self.port)

    def start(self) -> "RedisServer":
        if self.proc is not None:
            return self
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                "--logfile", str(self.dir / "redis.log"), "--daemonize", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.command("PING") in ("PONG", "NOAUTH Authentication required."):
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        log = (self.dir / "redis.log")
        self.stop()
        raise RuntimeError("redis-server did not start on port %d: %s" % (
            self.port, log.read_text()[-2000:] if log.exists() else "no log"))

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self, *args: str, timeout: float = 5.0):
        """Send one command, return its reply: str for status/error/bulk,
        int, None (nil) or a list. Authenticates first when a password is set."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            reader = sock.makefile("rb")
            if self.password and args[0].upper() != "PING":
                sock.sendall(_encode(("AUTH", self.password)))
                _read_reply(reader)
            sock.sendall(_encode(args))
            return _read_reply(reader)

    def commandstats(self) -> dict:
        """INFO commandstats as {command: calls}."""
        stats = {}
        for line in self.command("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_"):
                name, _, rest = line[len("cmdstat_"):].partition(":")
                fields = dict(f.split("=", 1) for f in rest.split(","))
                stats[name] = int(fields["calls"])
        return stats


def _encode(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _read_reply(reader):
    line = reader.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b"-"):
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = reader.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(reader) for _ in range(n)]
    raise ConnectionError("unexpected reply %r" % line[:40])


def redis_available() -> bool:
    return os.access(REDIS_SERVER, os.X_OK)
