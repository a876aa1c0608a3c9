"""Thread-safe state shared by the handler threads: clock, rate limits,
nonces, the request log."""

import collections
import threading
import time


class Clock:
    """Server time with an adjustable offset, so tests can skew the server
    against the client (POST /_mock/clock)."""

    def __init__(self):
        self.offset_ms = 0

    def now(self) -> float:
        return time.time() + self.offset_ms / 1000.0

    def now_ms(self) -> int:
        return int(self.now() * 1000)


class RateLimiter:
    """Token bucket per key: `rate` tokens/s, at most `burst` stored."""

    def __init__(self, rate=10.0, burst=10):
        self.rate = float(rate)
        self.burst = float(burst)
        self._buckets = {}           # key -> (tokens, last_monotonic)
        self._lock = threading.Lock()

    def configure(self, rate=None, burst=None):
        with self._lock:
            if rate is not None:
                self.rate = float(rate)
            if burst is not None:
                self.burst = float(burst)
            self._buckets.clear()

    def allow(self, key) -> bool:
        if self.rate <= 0:           # rate 0 disables the limiter
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            return allowed

    def reset(self):
        with self._lock:
            self._buckets.clear()


class NonceStore:
    """Remembers nonces until their token expires (after that the token is
    refused as expired anyway, so forgetting the nonce is safe)."""

    def __init__(self, grace_s=60):
        self.grace_s = grace_s
        self._seen = {}              # nonce -> exp
        self._lock = threading.Lock()

    def add(self, nonce, exp, now) -> bool:
        """Record a nonce; False if it was already used."""
        with self._lock:
            if nonce in self._seen:
                return False
            self._prune(now)
            self._seen[nonce] = exp
            return True

    def _prune(self, now):
        if len(self._seen) < 4096:
            return
        for key in [k for k, exp in self._seen.items() if exp + self.grace_s < now]:
            del self._seen[key]

    def reset(self):
        with self._lock:
            self._seen.clear()


class RequestLog:
    """The last `size` protocol requests plus per path/status counters."""

    def __init__(self, size=1000):
        self._entries = collections.deque(maxlen=size)
        self._stats = collections.defaultdict(collections.Counter)
        self._lock = threading.Lock()

    def add(self, entry: dict):
        with self._lock:
            self._entries.append(entry)
            status = "dropped" if entry["status"] is None else str(entry["status"])
            self._stats[entry["path"]][status] += 1

    def entries(self):
        with self._lock:
            return list(self._entries)

    def stats(self):
        with self._lock:
            return {path: dict(counts) for path, counts in self._stats.items()}

    def clear(self):
        with self._lock:
            self._entries.clear()
            self._stats.clear()
