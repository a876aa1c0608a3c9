#!/usr/bin/env python3
"""Batches and the async client (issue #14) against the local nginx of
scripts/bench.sh (POST /query answers {}), ES256 JwtAuth, no limiter.

Each side sends BENCH_ASYNC_REQUESTS (500) POST /query per round; rounds
(BENCH_ASYNC_ROUNDS, 9) run every side once, in the order A,B,C,... in even
rounds and reversed in odd ones; wall time (the server shares the core, as
in python_bench.py). Each round gives one ratio per pair; the median is
reported with the min..max of the rounds in brackets:

* query_many(concurrency=8)  vs  httpx.AsyncClient, 8 tasks, walletsign.httpx_auth
  (speedup = httpx time / walletsign time; target >= 5)
* query_many(concurrency=8)  vs  8 threads, each with its own Client
  (speedup; target >= 1.0: the batch API must not lose to threads by hand)
* AsyncClient.query awaited one at a time  vs  Client.query one at a time
  (ratio = async time / sync time; target <= 1.3: the cost of handing each
  call to a core worker thread and its answer back to the loop)

Every side is checked before timing: each answer is {} and nginx saw a
signed request (the JWT verifies with the key's public half).
Environment: WALLETSIGN_BENCH_URL (required), BENCH_ASYNC_REQUESTS,
BENCH_ASYNC_ROUNDS. Exit status 0 even when a target is missed (the summary
of scripts/bench.sh reports PASS/MISS); 2 when a fixture is wrong.
"""

import asyncio
import os
import statistics
import sys
import threading
import time

import walletsign as ws

URL = os.environ.get("WALLETSIGN_BENCH_URL", "").rstrip("/")
N = int(os.environ.get("BENCH_ASYNC_REQUESTS", "500"))
ROUNDS = int(os.environ.get("BENCH_ASYNC_ROUNDS", "9"))
CONCURRENCY = 8
NAME = "list_client_accounts"
WALL = time.perf_counter_ns
CPU = time.process_time_ns

misses = 0


def die(msg):
    print(f"python_async_bench: {msg}", file=sys.stderr)
    sys.exit(2)


class Side:
    def __init__(self, name, run):
        self.name, self.run = name, run
        self.wall, self.cpu = [], []

    def once(self):
        c0, t0 = CPU(), WALL()
        out = self.run()
        self.wall.append(WALL() - t0)
        self.cpu.append(CPU() - c0)
        return out


def check(results, who):
    if len(results) != N or any(r != {} for r in results):
        bad = [r for r in results if r != {}][:3]
        die(f"{who}: {len(results)} answers, not {N} times {{}}: {bad!r}")


def report(label, a, b, kind, target_op, target):
    global misses
    vals = [(x / y if kind == "ratio" else y / x) for x, y in zip(a.wall, b.wall)]
    m = statistics.median(vals)
    ok = m <= target if target_op == "<=" else m >= target
    misses += not ok
    print(f"{label:<30} {a.name} {statistics.median(a.wall) / 1e6:8.1f} ms  "
          f"{b.name} {statistics.median(b.wall) / 1e6:8.1f} ms  "
          f"{kind} {m:6.3f}  [{min(vals):.3f}..{max(vals):.3f}]  {len(vals)} x {N} requests  "
          f"process CPU/request {statistics.median(a.cpu) / N / 1e3:.0f} vs "
          f"{statistics.median(b.cpu) / N / 1e3:.0f} us  "
          f"target {target_op} {target:.2f}  {'PASS' if ok else 'MISS'}", flush=True)


def main():
    if not URL:
        print("# python_async_bench: skipped (WALLETSIGN_BENCH_URL not set: no nginx)")
        return
    try:
        import httpx
    except ImportError:
        httpx = None
    key = ws.Key.generate("P-256")
    auth = ws.JwtAuth(key, "bench-key-id-0123456789")
    token = auth.token("/query", b"{}")
    ws.verify_jwt(token, key, uri="/query", body=b"{}")   # the auth signs what we think
    opts = dict(rate_limit=None, retries=0)
    items = [(NAME, None)] * N

    batch_client = ws.Client(URL, auth, **opts)
    sync_client = ws.Client(URL, auth, **opts)
    thread_clients = [ws.Client(URL, auth, **opts) for _ in range(CONCURRENCY)]
    loop = asyncio.new_event_loop()
    async_client = ws.AsyncClient(URL, auth, workers=CONCURRENCY, **opts)
    hx = httpx.AsyncClient(base_url=URL, auth=ws.httpx_auth(auth),
                           limits=httpx.Limits(max_connections=CONCURRENCY)) if httpx else None

    def batch():
        return batch_client.query_many(items, concurrency=CONCURRENCY)

    def threads():
        out = [None] * N

        def work(w):
            c = thread_clients[w]
            for i in range(w, N, CONCURRENCY):
                out[i] = c.query(NAME)
        ts = [threading.Thread(target=work, args=(w,)) for w in range(CONCURRENCY)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return out

    def sync_one_by_one():
        return [sync_client.query(NAME) for _ in range(N)]

    def async_one_by_one():
        async def go():
            return [await async_client.query(NAME) for _ in range(N)]
        return loop.run_until_complete(go())

    def httpx_tasks():
        async def task(w, out):
            for i in range(w, N, CONCURRENCY):
                r = await hx.post("/query", json={"name": NAME, "payload": {}})
                r.raise_for_status()
                out[i] = r.json()

        async def go():
            out = [None] * N
            await asyncio.gather(*[task(w, out) for w in range(CONCURRENCY)])
            return out
        return loop.run_until_complete(go())

    sides = [Side("query_many", batch), Side("threads", threads),
             Side("Client.query", sync_one_by_one), Side("AsyncClient.query", async_one_by_one)]
    if hx:
        sides.append(Side("httpx", httpx_tasks))
    for s in sides:                      # warm-up and the fixture check
        check(s.run(), s.name)
    print(f"# python_async_bench: {N} POST /query per side per round to {URL}, ES256 JwtAuth, "
          f"no limiter, {ROUNDS} interleaved rounds, wall time; concurrency {CONCURRENCY}",
          flush=True)
    for r in range(ROUNDS):
        for s in (sides if r % 2 == 0 else sides[::-1]):
            s.once()
    by = {s.name: s for s in sides}
    if hx:
        report("py_batch_vs_httpx_async", by["query_many"], by["httpx"], "speedup", ">=", 5)
    else:
        print("# python_async_bench: httpx is not installed: no httpx comparison")
    report("py_batch_vs_threads", by["query_many"], by["threads"], "speedup", ">=", 1.0)
    report("py_async_query_vs_sync", by["AsyncClient.query"], by["Client.query"], "ratio",
           "<=", 1.3)

    if hx:
        loop.run_until_complete(hx.aclose())
    async_client.close()
    loop.close()
    for c in [batch_client, sync_client] + thread_clients:
        c.close()
    print(f"# python_async_bench: {misses} target(s) missed", flush=True)


if __name__ == "__main__":
    main()
