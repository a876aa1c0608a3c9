"""Rate limits shared by clients (issue #13), against the mock's per-key bucket
(10 requests/s, burst 10, a 429 when it is empty).

By default every client of the process that signs with one key shares one
bucket: four clients in four threads draw no 429 from the mock. Without a
limiter the same load does draw 429s (so the tests can fail)."""

import threading
import time

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
