"""Interrupting a call (Ctrl-C, a notebook's "Interrupt kernel") and
deadlines for the whole call, against the mock server (tests/mock_server)."""

import signal
import threading
import time

import pytest

import walletsign as ws

QUERY_NAME = "list_client_accounts"


def attempts(server, path):
    return [e for e in server.log() if e["path"] == path]


@pytest.fixture
def sigint_after():
    """sigint_after(s): SIGINT to the main thread s seconds from now, as Ctrl-C
    would; Python's own handler (KeyboardInterrupt) is in place meanwhile."""
    timers = []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    main = threading.main_thread().ident

    def arm(seconds):
        t = threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGINT))
        timers.append(t)
        t.start()

    yield arm
    for t in timers:
        t.cancel()
        t.join()
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def client(server, p256_key, halogen_kid):
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid), timeout=30) as c:
        yield c


def interrupted_call(sigint_after, call):
    """Run call with a SIGINT 0.3 s in; the seconds until KeyboardInterrupt came."""
    started = time.monotonic()
    sigint_after(0.3)
    with pytest.raises(KeyboardInterrupt):
        call()
    return time.monotonic() - started


def test_ctrl_c_stops_a_slow_answer(server, client, sigint_after):
    server.queue_faults("/query", ["delay:8000"])
    elapsed = interrupted_call(sigint_after, lambda: client.query(QUERY_NAME))
    assert 0.3 <= elapsed < 1.5          # about 0.35 s; far below the 8 s answer
    assert len(attempts(server, "/query")) == 1
    # The client goes on: a new connection, a fresh token.
    assert client.query(QUERY_NAME)["asset"] == "MYR"


def test_ctrl_c_stops_a_retry_after_wait(server, client, sigint_after):
    server.queue_faults("/query", ["status:429:retry_after=4"] * 5)
    elapsed = interrupted_call(sigint_after, lambda: client.query(QUERY_NAME))
    assert 0.3 <= elapsed < 1.5          # not after the first 4 s wait
    assert [e["status"] for e in attempts(server, "/query")] == [429]
    server.reset()
    assert client.query(QUERY_NAME)["asset"] == "MYR"


def test_ctrl_c_stops_a_command_that_may_have_run(server, client, sigint_after):
    server.queue_faults("/command", ["delay:8000"])
    elapsed = interrupted_call(sigint_after, lambda: client.command(
        "update_display_currency", {"displayCurrency": "USD"}))
    assert elapsed < 1.5
    assert len(attempts(server, "/command")) == 1   # never sent again


def test_timeout_bounds_the_whole_call(server, p256_key, halogen_kid):
    # A query is retried after a timeout; the retries must fit in the same second.
    server.queue_faults("/query", ["delay:5000"] * 4)
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid), timeout=1) as client:
        started = time.monotonic()
        with pytest.raises(ws.Timeout) as info:
            client.query(QUERY_NAME)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.5
    assert info.value.kind == "timeout" and info.value.curl_code == 28
    assert len(attempts(server, "/query")) == 1


def test_503_retries_stop_at_the_deadline(server, p256_key, halogen_kid):
    # Backoff 0.25, 0.5, 1 s (with jitter) would end at about 1.75 s with a 503.
    server.queue_faults("/query", ["status:503"] * 4)
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid), timeout=1) as client:
        started = time.monotonic()
        with pytest.raises(ws.Timeout) as info:
            client.query(QUERY_NAME)
    elapsed = time.monotonic() - started
    assert elapsed <= 1.1                 # at the deadline, never after it
    assert info.value.http_status == 503  # the last answer, kept
    assert "timeout of 1 s" in info.value.message and "backoff" in info.value.message
    assert 2 <= len(attempts(server, "/query")) <= 3


def test_retry_after_longer_than_the_time_left(server, p256_key, halogen_kid):
    server.queue_faults("/query", ["status:429:retry_after=2"])
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid), timeout=1) as client:
        started = time.monotonic()
        with pytest.raises(ws.Timeout) as info:
            client.query(QUERY_NAME)
    assert time.monotonic() - started < 0.5    # not begun: it could not end in time
    assert (info.value.http_status, info.value.retry_after) == (429, 2.0)


def test_attempt_timeout_bounds_each_attempt(server, p256_key, halogen_kid):
    server.queue_faults("/query", ["delay:3000"] * 2)
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid), timeout=5,
                   attempt_timeout=0.3, retries=1) as client:
        started = time.monotonic()
        with pytest.raises(ws.Timeout):
            client.query(QUERY_NAME)
    elapsed = time.monotonic() - started
    assert 0.55 <= elapsed < 1.5
    assert len(attempts(server, "/query")) == 2
    with pytest.raises(ValueError, match="attempt_timeout"):
        ws.Client(server.url, ws.HmacAuth("k", "s"), attempt_timeout=-1)
