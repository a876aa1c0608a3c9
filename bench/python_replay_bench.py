#!/usr/bin/env python3
"""MessageVerifier with a Redis replay store, from Python (#13), against what a
Python receiver would otherwise write by hand: verify with the in-memory cache,
then one `SET key 1 NX PX ttl` through redis-py (Debian python3-redis) on its
own kept-alive connection to the same Redis. Target: ratio <= 1.10.

Run by scripts/bench.sh (`make bench`, part "pyredis") with the venv's
python pinned to one core, against the private redis-server it starts
(WALLETSIGN_BENCH_REDIS_URL; not pinned, as for the C part "redis"). Wall
time (a round trip is mostly waiting); the method of bench/python_bench.py:
each side calibrated to ~BENCH_PY_ROUND_MS of work, BENCH_PY_ROUNDS
interleaved rounds (A,B / B,A), the median of the per-round ratios with
min..max. Every verification is of a message never seen
(signed before the timed loop), so every one costs its SET; both sides are
checked to accept each message exactly once before timing.
"""

import itertools
import os
import platform
import statistics
import sys
import time

import walletsign as ws

ROUNDS = int(os.environ.get("BENCH_PY_ROUNDS", "21"))
ROUND_S = float(os.environ.get("BENCH_PY_ROUND_MS", "30")) / 1e3
URL = os.environ.get("WALLETSIGN_BENCH_REDIS_URL", "")
BODY = b'{"type":"deposit_status","data":{"tx_hash":"0xabc","status":"confirmed"}}'
SECP_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
WALL = time.perf_counter_ns


def die(msg):
    print(f"python_replay_bench: {msg}", file=sys.stderr)
    sys.exit(2)


def main():
    if not URL:
        print("# python_replay_bench: skipped (WALLETSIGN_BENCH_REDIS_URL not set)")
        return
    try:
        import redis
    except ImportError:
        print("# python_replay_bench: skipped (python3-redis is not installed)")
        return
    sender = ws.MessageAuth(ws.Key.from_hex(SECP_HEX))
    store = ws.RedisReplayStore(URL, prefix="bench:ws:")
    with_store = ws.MessageVerifier([sender.address], replay_store=store)
    in_memory = ws.MessageVerifier([sender.address], cache_size=1 << 20)
    peer = redis.Redis.from_url(URL)
    ttl_ms = 2 * 60000 + 1000   # the store's TTL for the default window (protocols.md)
    counter = itertools.count()

    def signed(n):
        return [sender.sign("POST", "/callbacks", BODY) for _ in range(n)]

    def store_side(n):
        batch = signed(n)
        t0 = WALL()
        for headers in batch:
            with_store.verify(headers, BODY)
        return (WALL() - t0) / n

    def peer_side(n):
        batch = signed(n)
        keys = ["bench:peer:%d" % next(counter) for _ in range(n)]
        t0 = WALL()
        for headers, key in zip(batch, keys):
            in_memory.verify(headers, BODY)
            if not peer.set(key, b"1", nx=True, px=ttl_ms):
                raise SystemExit("peer: key %s already there" % key)
        return (WALL() - t0) / n

    # Check: each side accepts a message once and refuses it after.
    for verifier in (with_store, in_memory):
        h = signed(1)[0]
        verifier.verify(h, BODY)
        try:
            verifier.verify(h, BODY)
            die("a replay was accepted")
        except ws.SignatureError as err:
            if err.reason != "replay":
                die("unexpected reason %s" % err.reason)

    def calibrate(timed):
        per = min(timed(64) for _ in range(3))
        return max(16, int(ROUND_S * 1e9 / per))

    n_a, n_b = calibrate(store_side), calibrate(peer_side)
    a, b = [], []
    for r in range(ROUNDS):
        order = [(store_side, n_a, a), (peer_side, n_b, b)]
        for fn, n, out in (order if r % 2 == 0 else order[::-1]):
            out.append(fn(n))
    server = peer.info("server")
    print(f"# python_replay_bench: CPython {platform.python_version()}, walletsign "
          f"{ws.__version__}, redis-py {redis.__version__}, redis-server "
          f"{server.get('redis_version')} on 127.0.0.1 (not pinned), median of {ROUNDS} "
          f"interleaved rounds of ~{ROUND_S * 1e3:.0f} ms, wall time")
    vals = [x / y for x, y in zip(a, b)]
    m = statistics.median(vals)
    ok = m <= 1.10
    print(f"{'message_verify_redis_store':<30} walletsign {statistics.median(a) / 1e3:9.2f} us  "
          f"{'mem+redis-py':<14} {statistics.median(b) / 1e3:9.2f} us  "
          f"ratio {m:6.3f}  [{min(vals):.3f}..{max(vals):.3f}]  {ROUNDS} x {n_a}/{n_b} ops  "
          f"target <= 1.10  {'PASS' if ok else 'MISS'}", flush=True)


if __name__ == "__main__":
    main()
