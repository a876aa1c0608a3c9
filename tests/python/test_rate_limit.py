"""Rate limits shared by clients (issue #13), against the mock's per-key bucket
(10 requests/s, burst 10, a 429 when it is empty).

By default every client of the process that signs with one key shares one
bucket: four clients in four threads draw no 429 from the mock. Without a
limiter the same load does draw 429s (so the tests can fail). A
RedisRateLimit shares the bucket between processes, through a real
redis-server started here (127.0.0.1, a free port, a temporary directory, no
persistence, stopped in teardown)."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

import walletsign as ws

QUERY_NAME = "list_client_accounts"
THREADS, QUERIES = 4, 6


@pytest.fixture
def fresh_kid(server):
    """A key of its own, registered with the mock: no other test drew on its bucket."""
    key = ws.Key.generate("P-256")
    return key, server.register_public_key(key.public_pem().encode())


def query_statuses(server):
    return [e["status"] for e in server.log() if e["path"] == "/query"]


def run_threads(make_client, queries=QUERIES):
    """THREADS threads, each with its own client, QUERIES queries each."""
    failures = []

    def work():
        try:
            with make_client() as client:
                for _ in range(queries):
                    client.query(QUERY_NAME)
        except ws.Error as exc:   # reported below, with the rest
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started, failures


def test_four_clients_with_one_key_share_one_bucket(server, fresh_kid):
    key, kid = fresh_kid
    elapsed, failures = run_threads(lambda: ws.Client(server.url, ws.JwtAuth(key, kid)))
    statuses = query_statuses(server)
    assert failures == []
    assert statuses.count(429) == 0, "our own burst drew 429s: %s" % statuses
    assert len(statuses) == THREADS * QUERIES
    assert elapsed >= (THREADS * QUERIES - 10) / 10 - 0.05   # 10/s after a burst of 10


def test_without_a_limiter_the_same_load_draws_429s(server, fresh_kid):
    key, kid = fresh_kid
    run_threads(lambda: ws.Client(server.url, ws.JwtAuth(key, kid), rate_limit=None,
                                  max_429_attempts=1))
    assert query_statuses(server).count(429) >= 1


def test_clients_of_other_keys_do_not_wait_for_each_other(server, p256_key, caplog):
    kids = [server.register_public_key(p256_key.public_pem().encode()) for _ in range(THREADS)]
    it = iter(kids)
    lock = threading.Lock()

    def make_client():
        with lock:
            kid = next(it)
        return ws.Client(server.url, ws.JwtAuth(p256_key, kid))

    with caplog.at_level("INFO", logger="walletsign"):
        elapsed, failures = run_threads(make_client)
    assert failures == []
    assert query_statuses(server).count(429) == 0
    assert not [r for r in caplog.records if "rate limit" in r.getMessage()]


# ---------------------------------------------------------------- Redis

ROOT = Path(__file__).resolve().parent.parent.parent
# Redis's own tools run without the sanitizer runtime a make check run
# preloads into this process (their leaks are not ours to report).
PLAIN_ENV = {k: v for k, v in os.environ.items()
             if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS")}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server (scripts/lib.sh start_redis, in Python)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wsig-redis-")
        self.port = free_port()
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile", self.dir + "/redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=PLAIN_ENV)
        for _ in range(100):
            if self.cli("PING") == "PONG":
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start (%s/redis.log)" % self.dir)

    def cli(self, *args):
        out = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                             text=True, timeout=10, env=PLAIN_ENV)
        return out.stdout.strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis_server():
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed (make deps installs it)")
    srv = RedisServer().start()
    yield srv
    srv.remove()


# One process of the two-process test: its own RedisRateLimit (its own
# connection), QUERIES queries, then a line "ok N".
WORKER = r"""
import os, sys
sys.path.insert(0, os.environ["WSIG_ROOT"])
import walletsign as ws
key = ws.Key.load(os.environ["WSIG_KEY_PEM"].encode())
limiter = ws.RedisRateLimit(os.environ["WSIG_REDIS_URL"], prefix=os.environ["WSIG_PREFIX"])
ok = 0
with ws.Client(os.environ["WSIG_URL"], ws.JwtAuth(key, os.environ["WSIG_KID"]),
               rate_limit=limiter) as client:
    for _ in range(int(os.environ["WSIG_QUERIES"])):
        client.query("list_client_accounts")
        ok += 1
print("ok", ok)
"""


def test_two_processes_share_one_redis_bucket(server, fresh_kid, redis_server):
    key, kid = fresh_kid
    env = dict(os.environ, WSIG_ROOT=str(ROOT), WSIG_KEY_PEM=key.private_pem(),
               WSIG_REDIS_URL=redis_server.url, WSIG_PREFIX="wsig-test:", WSIG_URL=server.url,
               WSIG_KID=kid, WSIG_QUERIES="10")
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    elapsed = time.monotonic() - started
    assert [o[0].strip() for o in outs] == ["ok 10", "ok 10"], [o[1][-500:] for o in outs]
    statuses = query_statuses(server)
    assert len(statuses) == 20 and statuses.count(429) == 0, statuses
    assert elapsed >= 0.95                       # 20 at 10/s after a burst of 10
    keys = redis_server.cli("--scan", "--pattern", "wsig-test:*").split()
    assert len(keys) == 1 and keys[0].startswith("wsig-test:rate:"), keys
    assert 0 < int(redis_server.cli("PTTL", keys[0])) <= 2100


def test_a_stopped_redis_fails_the_call_closed(server, fresh_kid, redis_server):
    key, kid = fresh_kid
    limiter = ws.RedisRateLimit(redis_server.url, rate=10, burst=10, timeout=0.2)
    with ws.Client(server.url, ws.JwtAuth(key, kid), rate_limit=limiter) as client:
        client.query(QUERY_NAME)
        redis_server.stop()
        with pytest.raises(ws.StoreError) as info:
            client.query(QUERY_NAME)
        assert isinstance(info.value, ws.ReplayStoreError)
        assert info.value.kind == "store_error" and info.value.reason == "store_unavailable"
        assert len(query_statuses(server)) == 1          # nothing sent without a token
        redis_server.start()                             # back: works, nothing restarted
        client.query(QUERY_NAME)
    assert len(query_statuses(server)) == 2


def test_redis_rate_limit_arguments():
    limiter = ws.RedisRateLimit("redis://:s3cret@127.0.0.1:1/2", rate=5, burst=2)
    assert "s3cret" not in repr(limiter) and "rate=5" in repr(limiter)
    for bad in ({"rate": -1}, {"rate": 2e6}, {"burst": 0.5}, {"timeout": 100}):
        with pytest.raises(ValueError):
            ws.RedisRateLimit("redis://127.0.0.1:1", **bad)
    with pytest.raises(ValueError):
        ws.RedisRateLimit("rediss://127.0.0.1:1")
    with pytest.raises(TypeError):
        ws.RedisRateLimit(b"redis://127.0.0.1:1")
    with pytest.raises(TypeError):
        ws.Client("http://127.0.0.1:1", ws.HmacAuth("k", "s"), rate_limit="redis://x")


def scale_out_examples(lang):
    """The ```lang blocks of docs/scale-out.md's "Rate limits" section."""
    text = (ROOT / "docs" / "scale-out.md").read_text(encoding="utf-8")
    section = text.split("\n## Rate limits\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```%s\n(.*?)```" % lang, section, re.S)


def test_the_scale_out_python_example_runs(server, fresh_kid, redis_server, monkeypatch):
    (example,) = scale_out_examples("python")
    key, kid = fresh_kid
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("WALLETSIGN_BASE_URL", server.url)
    monkeypatch.setenv("HALOGEN_WALLET_KEY_ID", kid)
    monkeypatch.setenv("HALOGEN_WALLET_PRIVATE_KEY_PEM", key.private_pem())
    started = time.monotonic()
    exec(compile(example, "scale-out.md:python", "exec"), {"__name__": "docs_example"})
    assert time.monotonic() - started >= 0.15          # two of the twelve waited
    assert query_statuses(server) == [200] * 12
    assert redis_server.cli("--scan", "--pattern", "walletsign:rate:*").startswith(
        "walletsign:rate:")


def test_the_wait_for_a_redis_bucket_releases_the_gil(server, fresh_kid, redis_server):
    key, kid = fresh_kid
    limiter = ws.RedisRateLimit(redis_server.url, rate=2, burst=1)
    done = threading.Event()

    def paced():
        with ws.Client(server.url, ws.JwtAuth(key, kid), rate_limit=limiter) as client:
            client.query(QUERY_NAME)
            client.query(QUERY_NAME)        # waits ~0.5 s for the bucket
        done.set()
    t = threading.Thread(target=paced)
    started = time.monotonic()
    t.start()
    ticks = 0
    while not done.is_set():
        ticks += 1
        time.sleep(0.01)
    t.join()
    assert time.monotonic() - started >= 0.45
    assert ticks >= 20            # the main thread kept running during the wait



def test_the_script_in_the_docs_is_the_one_the_core_sends():
    """Other implementations share a bucket by running the same script on the
    same key: docs/scale-out.md must show it exactly."""
    source = (ROOT / "csrc" / "rate_limit.c").read_text(encoding="utf-8")
    literal = re.search(r"static const char RATE_SCRIPT\[\] =\n(.*?);\n", source, re.S).group(1)
    script = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', literal)).encode().decode(
        "unicode_escape")
    assert "redis.call('TIME')" in script
    assert script in [textwrap.dedent(b) for b in scale_out_examples("lua")]
