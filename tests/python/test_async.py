"""walletsign.AsyncClient against the mock server (tests/mock_server): the
calls, their errors, cancellation (the mock sees the connection closed),
concurrency, batches."""

import asyncio
import time

import pytest

import walletsign as ws

QUERY = "list_client_accounts"


def halogen_log(server, path="/query"):
    return [e for e in server.log() if e["path"] == path]


@pytest.fixture
def auth(p256_key, halogen_kid):
    return ws.JwtAuth(p256_key, halogen_kid)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_query_command_and_request(server, auth):
    async def main():
        async with ws.AsyncClient(server.url, auth, timeout=10) as c:
            accounts = await c.query(QUERY)
            fund = await c.query("get_fund", {"fundId": "fund_abc"})
            made = await c.command("create_investment_request",
                                   {"accountId": "account_123", "amount": 10},
                                   idempotency_key="async-1")
            res = await c.request("POST", "/query", json={"name": QUERY, "payload": {}})
            return accounts, fund, made, res
    accounts, fund, made, res = run(main())
    assert accounts["asset"] == "MYR" and fund["fund"]["id"] == "fund_abc"
    assert made["requestId"].startswith("req_")
    assert isinstance(res, ws.Response) and res.status == 200 and res.json()["asset"] == "MYR"
    sent = halogen_log(server, "/command")
    assert sent[0]["headers"]["Idempotency-Key"] == "async-1"
    assert all(e["verified_by"].startswith("jwt:ES256") for e in server.log())


def test_call_with_a_signed_answer(server):
    info = server.info
    auth = ws.MessageAuth(ws.Key.from_hex(info["merchant_private_key_hex"]))
    verifier = ws.MessageVerifier([info["wallet_manager_address"]])

    async def main():
        async with ws.AsyncClient(server.url, auth, response_verifier=verifier) as c:
            return await c.call("POST", "/access/get_address",
                                {"chain_type": "ETH", "chain_id": "1"})
    out = run(main())
    assert out["address"].startswith("0x")


def test_errors_are_the_clients(server, auth):
    async def main():
        async with ws.AsyncClient(server.url, auth) as c:
            with pytest.raises(ws.NotFound) as info:
                await c.query("get_fund", {"fundId": "nope"})
            with pytest.raises(TypeError):
                await c.query(QUERY, object())
            return info.value
    err = run(main())
    assert err.status == 404 and "(POST /query, 1 attempt" in str(err)


def test_constructor_takes_the_clients_options(server, auth):
    with pytest.raises(ValueError, match="timeout"):
        ws.AsyncClient(server.url, auth, timeout=-1)
    with pytest.raises(ValueError, match="base_url"):
        ws.AsyncClient("ftp://x", auth)
    with pytest.raises(ValueError, match="workers"):
        ws.AsyncClient(server.url, auth, workers=0)
    c = ws.AsyncClient(server.url, auth, rate_limit=None, max_429_attempts=1, workers=2)
    assert "AsyncClient" in repr(c) and server.url in repr(c)
    c.close()
    assert c.closed and "closed" in repr(c)


def test_calls_run_at_once_without_blocking_the_loop(server, auth):
    server.queue_faults("/query", ["delay:600"] * 6)

    async def main():
        async with ws.AsyncClient(server.url, auth, workers=6) as c:
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1
            t = asyncio.ensure_future(ticker())
            started = time.monotonic()
            out = await asyncio.gather(*[c.query(QUERY) for _ in range(6)])
            elapsed = time.monotonic() - started
            t.cancel()
            return out, elapsed, ticks
    out, elapsed, ticks = run(main())
    assert [o["asset"] for o in out] == ["MYR"] * 6
    assert elapsed < 1.5                  # ~0.6 s together, not 3.6 s one by one
    assert ticks >= 20                    # the loop kept running meanwhile


def test_cancelling_the_task_closes_the_transfer(server, auth):
    server.queue_faults("/query", ["delay:8000"])

    async def main():
        async with ws.AsyncClient(server.url, auth) as c:
            task = asyncio.ensure_future(c.query(QUERY))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            cancelled_in = time.monotonic() - started
            # The transfer is closed by the core within 50 ms: the mock sees it.
            for _ in range(40):
                sent = halogen_log(server)
                if sent and sent[0]["client_closed_ms"] is not None:
                    break
                await asyncio.sleep(0.05)
            after = await c.query(QUERY)           # the client goes on
            return cancelled_in, sent, after
    cancelled_in, sent, after = run(main())
    assert cancelled_in < 0.1
    assert len(sent) == 1 and sent[0]["client_closed_ms"] is not None
    assert 250 <= sent[0]["client_closed_ms"] < 1000
    assert after["asset"] == "MYR"


def test_a_deadline_bounds_the_call(server, auth):
    server.queue_faults("/query", ["delay:5000"])

    async def main():
        async with ws.AsyncClient(server.url, auth, timeout=0.5) as c:
            started = time.monotonic()
            with pytest.raises(ws.Timeout):
                await c.query(QUERY)
            return time.monotonic() - started
    assert run(main()) < 1.5


def test_query_many_order_errors_and_progress(server, auth):
    server.app.halogen.configure({"rate": 0})
    seen = []
    items = [("get_fund", {"fundId": f}) for f in ["fund_abc", "nope", "fund_def"] * 4]

    async def main():
        async with ws.AsyncClient(server.url, auth, rate_limit=None) as c:
            out = await c.query_many(items, concurrency=4,
                                     progress=lambda d, t: seen.append((d, t)))
            with pytest.raises(ws.NotFound):
                await c.query_many(items, return_exceptions=False)
            return out
    try:
        out = run(main())
    finally:
        server.app.halogen.configure({"rate": 10, "burst": 10})
    for i, r in enumerate(out):
        if i % 3 == 1:
            assert isinstance(r, ws.NotFound)
        else:
            assert r["fund"]["id"] == items[i][1]["fundId"]
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)


def test_command_many_needs_keys_and_sends_nothing_otherwise(server, auth):
    async def main():
        async with ws.AsyncClient(server.url, auth) as c:
            with pytest.raises(ValueError, match="idempotency key"):
                await c.command_many([("create_investment_request",
                                       {"accountId": "account_123", "amount": 1}, "")])
            return await c.command_many([("create_investment_request",
                                          {"accountId": "account_123", "amount": 1}, "k-a")])
    out = run(main())
    assert out[0]["requestId"].startswith("req_")
    assert len(halogen_log(server, "/command")) == 1


def test_rate_limit_holds_across_async_calls(server, auth):
    async def main():
        async with ws.AsyncClient(server.url, auth) as c:     # 10/s, burst 10, as the mock
            return await c.query_many([(QUERY, None)] * 20, concurrency=8)
    out = run(main())
    assert all(isinstance(r, dict) for r in out)
    assert [e["status"] for e in halogen_log(server)] == [200] * 20


def test_clients_left_unclosed_are_collected(server, auth):
    import gc

    async def main():
        c = ws.AsyncClient(server.url, auth)
        c._cycle = c                      # only the garbage collector can free it
        return await c.query(QUERY)
    assert run(main())["asset"] == "MYR"
    started = time.monotonic()
    gc.collect()                          # closes the pool: workers stopped and joined
    assert time.monotonic() - started < 1.0
    b = ws.Client(server.url, auth)
    assert b.query_many([(QUERY, None)])[0]["asset"] == "MYR"
    del b
    gc.collect()


def test_ctrl_c_in_asyncio_run_aborts_the_transfer(server, auth):
    import signal
    import threading
    server.queue_faults("/query", ["delay:8000"])
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, signal.pthread_kill,
                            (threading.main_thread().ident, signal.SIGINT))

    async def main():
        async with ws.AsyncClient(server.url, auth) as c:
            await c.query(QUERY)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            asyncio.run(main())     # the runner cancels the task: the call is aborted
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 1.0
    for _ in range(40):
        sent = halogen_log(server)
        if sent and sent[0]["client_closed_ms"] is not None:
            break
        time.sleep(0.05)
    assert sent[0]["client_closed_ms"] is not None and sent[0]["client_closed_ms"] < 1500
