"""Batches: Client.query_many / command_many on the core's pools
(csrc/pool.c), against the mock server (tests/mock_server): input order,
per-item errors, progress, the key's rate limit across the batch, Ctrl-C."""

import re
import signal
import threading
import time

import pytest

import walletsign as ws

QUERY = "list_client_accounts"
ACCOUNTS = ["account_123", "account_456", "account_789"]


def halogen_log(server, path="/query"):
    return [e for e in server.log() if e["path"] == path]


@pytest.fixture
def auth(p256_key, halogen_kid):
    return ws.JwtAuth(p256_key, halogen_kid)


@pytest.fixture
def client(server, auth):
    with ws.Client(server.url, auth, timeout=30) as c:
        yield c


@pytest.fixture
def unlimited(server):
    """The mock's per-key limiter off (10/s, burst 10 again afterwards)."""
    server.app.halogen.configure({"rate": 0})
    yield server
    server.app.halogen.configure({"rate": 10, "burst": 10})


def account_items(n):
    return [(QUERY, {"accountIds": [ACCOUNTS[i % 3]]}) for i in range(n)]


def test_results_come_back_in_input_order(unlimited, auth):
    with ws.Client(unlimited.url, auth, rate_limit=None) as c:
        out = c.query_many(account_items(24), concurrency=6)
    assert [r["accounts"][0]["id"] for r in out] == [ACCOUNTS[i % 3] for i in range(24)]
    assert len(halogen_log(unlimited)) == 24


def test_a_failed_item_holds_its_exception(unlimited, auth):
    items = [("get_fund", {"fundId": "fund_abc"}), ("get_fund", {"fundId": "nope"}),
             ("get_fund", {"fundId": "fund_def"}), ("no_such_query", None)]
    with ws.Client(unlimited.url, auth, rate_limit=None) as c:
        out = c.query_many(items)
    assert out[0]["fund"]["id"] == "fund_abc" and out[2]["fund"]["id"] == "fund_def"
    assert isinstance(out[1], ws.NotFound) and out[1].code == "ErrMissingResource"
    assert "POST /query" in str(out[1])          # the core's context, per item
    assert isinstance(out[3], ws.BadRequest)


def test_return_exceptions_false_raises_the_first_failure(unlimited, auth):
    items = [("get_fund", {"fundId": "fund_abc"}), ("get_fund", {"fundId": "nope"}),
             ("no_such_query", None)]
    with ws.Client(unlimited.url, auth, rate_limit=None) as c:
        with pytest.raises(ws.NotFound):
            c.query_many(items, return_exceptions=False)
        assert c.query("get_fund", {"fundId": "fund_abc"})["fund"]["id"] == "fund_abc"


def test_progress_callable_sees_done_and_total(unlimited, auth):
    seen = []
    with ws.Client(unlimited.url, auth, rate_limit=None) as c:
        c.query_many(account_items(12), concurrency=4,
                     progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)
    assert all(t == 12 for _, t in seen)
    assert [d for d, _ in seen] == sorted(set(d for d, _ in seen))   # rising, no repeats


def test_progress_true_draws_a_tqdm_bar(unlimited, auth, capsys):
    pytest.importorskip("tqdm")
    with ws.Client(unlimited.url, auth, rate_limit=None) as c:
        c.query_many(account_items(5), progress=True)
    err = capsys.readouterr().err
    assert "5/5" in err and "walletsign" in err


def test_progress_must_be_a_bool_or_callable(client):
    with pytest.raises(TypeError):
        client.query_many(account_items(1), progress="yes")


def test_bad_items_are_refused_before_anything_is_sent(server, client):
    with pytest.raises(ValueError, match="item 1"):
        client.query_many([(QUERY, None), (QUERY,)])
    with pytest.raises(TypeError, match="item 0"):
        client.query_many([QUERY])
    with pytest.raises(ValueError, match="concurrency|workers"):
        client.query_many(account_items(2), concurrency=0)
    assert halogen_log(server) == []


def test_commands_of_a_batch_need_idempotency_keys(server, client):
    with pytest.raises(ValueError, match="item 1: every command of a batch needs an "
                                         "idempotency key"):
        client.command_many([("create_investment_request",
                              {"accountId": "account_123", "amount": 10}, "k-1"),
                             ("create_investment_request",
                              {"accountId": "account_123", "amount": 10}, None)])
    assert halogen_log(server, "/command") == []


def test_command_many_sends_each_key_and_a_rerun_is_replayed(unlimited, auth):
    items = [("create_investment_request", {"accountId": "account_123", "amount": 10 + i},
              "batch-key-%d" % i) for i in range(5)]
    with ws.Client(unlimited.url, auth, rate_limit=None) as c:
        first = c.command_many(items)
        again = c.command_many(items)
    assert [r["requestId"] for r in first] == [r["requestId"] for r in again]
    sent = halogen_log(unlimited, "/command")
    assert sorted(e["headers"]["Idempotency-Key"] for e in sent[:5]) == \
        sorted(k for _, _, k in items)


def test_the_keys_rate_limit_holds_across_the_batch(server, auth):
    # The mock allows 10/s with a burst of 10, per key; so does the client by
    # default. Eight workers, one bucket: no 429 of our own making.
    n = 25
    started = time.monotonic()
    with ws.Client(server.url, auth) as c:
        out = c.query_many(account_items(n), concurrency=8)
    elapsed = time.monotonic() - started
    assert all(isinstance(r, dict) for r in out), [r for r in out if not isinstance(r, dict)]
    statuses = [e["status"] for e in halogen_log(server)]
    assert statuses == [200] * n, statuses
    assert elapsed >= 1.2            # 10 at once, then 10 a second: ~1.5 s, not 0.1 s


def test_the_batch_and_the_client_share_the_bucket(server, auth):
    with ws.Client(server.url, auth) as c:
        c.query_many(account_items(10), concurrency=8)     # the burst is spent
        started = time.monotonic()
        c.query(QUERY)
        assert time.monotonic() - started >= 0.05           # waited for a token
    assert [e["status"] for e in halogen_log(server)] == [200] * 11


@pytest.fixture
def sigint_after():
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


def test_ctrl_c_cancels_the_whole_batch(server, client, sigint_after):
    server.queue_faults("/query", ["delay:8000"] * 8)
    started = time.monotonic()
    sigint_after(0.3)
    with pytest.raises(KeyboardInterrupt):
        client.query_many(account_items(20), concurrency=8)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 0.6          # ~0.3-0.4 s: every item aborted within 50 ms
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        sent = halogen_log(server)
        if len(sent) == 8 and all(e["client_closed_ms"] is not None for e in sent):
            break
        time.sleep(0.05)
    assert len(sent) == 8                 # the queued 12 were never sent
    assert all(e["client_closed_ms"] is not None for e in sent)   # each transfer was closed
    server.reset()
    assert [r["asset"] for r in client.query_many([(QUERY, None)] * 2)] == ["MYR", "MYR"]


def test_the_workers_log_their_retries_and_waits(unlimited, auth, caplog):
    import logging
    caplog.set_level(logging.INFO, logger="walletsign")
    unlimited.queue_faults("/query", ["status:503", "status:429:retry_after=0"])
    with ws.Client(unlimited.url, auth, rate_limit=None, backoff=0.01) as c:
        out = c.query_many(account_items(4), concurrency=2)
    assert all(isinstance(r, dict) for r in out)
    lines = [r.getMessage() for r in caplog.records if r.name == "walletsign"]
    # Either item may draw either fault (one item may draw both: attempt 3).
    assert any(re.match(r"retrying POST /query \(attempt 2\) in [0-9.e-]+ s after HTTP 503$", m)
               for m in lines), lines
    assert any(re.match(r"waiting 0 s before POST /query \(attempt [23]\) after HTTP 429$", m)
               for m in lines), lines
    assert not any("Bearer" in m or "eyJ" in m or "accountIds" in m for m in lines)
    # Logged from the core's worker threads, not this one.
    assert {r.threadName for r in caplog.records if r.name == "walletsign"} != {"MainThread"}


def test_a_forked_child_makes_its_own_pool(server, auth):
    import os
    with ws.Client(server.url, auth) as c:
        assert c.query_many([(QUERY, None)])[0]["asset"] == "MYR"     # the parent's pool
        pid = os.fork()
        if pid == 0:                                                   # the child
            code = 1
            try:
                out = c.query_many([(QUERY, None)] * 2)
                code = 0 if [r["asset"] for r in out] == ["MYR", "MYR"] else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert c.query_many([(QUERY, None)])[0]["asset"] == "MYR"     # the parent's goes on
