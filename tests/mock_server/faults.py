"""Fault injection: parse specs, queue them per path, and turn them into a
changed Response (status:, nonjson, huge:, invalid_utf8, deep_json:) or a way
of delivering it (drop, reset_mid_body, truncate, drip:). delay: sleeps
before the answer is written.

Specs (several may be joined with ","):
  status:CODE[:retry_after=S][:retry_after_date=S]
  redirect:CODE   a 3xx with Location: https://elsewhere.example/moved and a
                  body that looks like success, {"status":"COMPLETED"}
  delay:MS  drop  reset_mid_body  truncate  nonjson  huge:BYTES  drip:MS
  invalid_utf8  deep_json:N
The request is always processed first (auth, nonces, idempotency), as a real
server would before its answer is lost or replaced.
"""

import collections
import email.utils
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from .wire import Response, dumps

WITH_ARG = {"status", "delay", "huge", "drip", "deep_json", "redirect"}
REDIRECT_LOCATION = "https://elsewhere.example/moved"
NO_ARG = {"drop", "reset_mid_body", "truncate", "nonjson", "invalid_utf8"}
DELIVERY = {"drop", "reset_mid_body", "truncate", "drip"}


@dataclass
class Fault:
    kind: str
    value: int = 0
    params: dict = field(default_factory=dict)
    spec: str = ""


def parse_one(spec: str) -> Fault:
    kind, *args = spec.strip().split(":")
    if kind in NO_ARG and not args:
        return Fault(kind, spec=spec)
    if kind not in WITH_ARG or not args:
        raise ValueError("bad fault spec %r" % spec)
    try:
        value = int(args[0])
        params = dict(_param(a) for a in args[1:])
    except ValueError:
        raise ValueError("bad fault spec %r" % spec) from None
    if (kind != "status" and params) or value < 0 \
            or (kind == "status" and not 100 <= value <= 599) \
            or (kind == "redirect" and not 300 <= value <= 399):
        raise ValueError("bad fault spec %r" % spec)
    return Fault(kind, value, params, spec)


def _param(text):
    name, _, value = text.partition("=")
    if name not in ("retry_after", "retry_after_date"):
        raise ValueError(name)
    return name, int(value)


def parse(spec: str) -> list:
    faults = [parse_one(part) for part in spec.split(",") if part.strip()]
    if sum(f.kind in DELIVERY for f in faults) > 1:
        raise ValueError("at most one of drop/reset_mid_body/truncate/drip per request")
    return faults


class FaultQueue:
    """Faults queued per path ("*" matches any protocol path), consumed one
    spec per matching request, in order."""

    def __init__(self):
        self._queues = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def push(self, path: str, specs: list):
        parsed = [parse(s) for s in specs]     # validate all before queueing any
        with self._lock:
            self._queues[path].extend(parsed)

    def pop(self, path: str) -> list:
        with self._lock:
            for key in (path, "*"):
                if self._queues.get(key):
                    return self._queues[key].popleft()
        return []

    def pending(self) -> dict:
        with self._lock:
            return {p: [",".join(f.spec for f in fs) for fs in q]
                    for p, q in self._queues.items() if q}

    def clear(self):
        with self._lock:
            self._queues.clear()


# ---------------------------------------------------------------- applying

def delay(faults, connection=None) -> bool:
    """Sleep for each delay:MS. With a plain (not TLS) connection given, watch
    it meanwhile: True as soon as the client has closed it (an aborted or
    cancelled call), so the log can say so."""
    for fault in faults:
        if fault.kind != "delay":
            continue
        if connection is None or isinstance(connection, ssl.SSLSocket):
            time.sleep(fault.value / 1000.0)
        elif _closed_while_waiting(connection, fault.value / 1000.0):
            return True
    return False


def _closed_while_waiting(connection, seconds) -> bool:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        readable, _, _ = select.select([connection], [], [], min(left, 0.01))
        if not readable:
            continue
        try:
            if connection.recv(1, socket.MSG_PEEK) == b"":
                return True                      # FIN: the client hung up
        except OSError:
            return True                          # RST
        time.sleep(min(left, 0.01))              # pipelined bytes: not ours to read
    return False


def transform(faults, resp: Response, error_body) -> Response:
    """Replace the response for body/status faults. error_body(status) gives
    the protocol's own error document for an injected status."""
    for fault in faults:
        make = _REPLACERS.get(fault.kind)
        if make is not None:
            new = make(fault, error_body)
            new.verified_by, new.error_code = resp.verified_by, resp.error_code
            resp = new
    return resp


def delivery(faults):
    """("normal"|"drop"|"reset_mid_body"|"truncate"|"drip", arg)"""
    for fault in faults:
        if fault.kind in DELIVERY:
            return fault.kind, fault.value
    return "normal", 0


def _status(fault, error_body):
    headers = []
    if "retry_after" in fault.params:
        headers.append(("Retry-After", str(fault.params["retry_after"])))
    if "retry_after_date" in fault.params:
        when = time.time() + fault.params["retry_after_date"]
        headers.append(("Retry-After", email.utils.formatdate(when, usegmt=True)))
    return Response(fault.value, dumps(error_body(fault.value)), headers)


def _redirect(fault, error_body):
    return Response(fault.value, dumps({"status": "COMPLETED"}),
                    [("Location", REDIRECT_LOCATION)])


def _nonjson(fault, error_body):
    return Response(200, b"<html><body><h1>Welcome to nginx!</h1></body></html>\n",
                    content_type="text/html")


def _huge(fault, error_body):
    return Response(200, stream=_huge_chunks(fault.value), stream_length=fault.value)


def _huge_chunks(size, chunk=65536):
    """A valid JSON document {"pad":"aaa..."} of exactly `size` bytes
    (plain padding when size is too small for the wrapper)."""
    opening, closing = b'{"pad":"', b'"}'
    if size < len(opening) + len(closing):
        yield b" " * size
        return
    yield opening
    left = size - len(opening) - len(closing)
    while left > 0:
        n = min(chunk, left)
        yield b"a" * n
        left -= n
    yield closing


def _invalid_utf8(fault, error_body):
    return Response(200, b'{"name":"caf\xc3\x28 \xff\xfe","ok":true}')


def _deep_json(fault, error_body):
    return Response(200, b"[" * fault.value + b"]" * fault.value)


_REPLACERS = {"status": _status, "redirect": _redirect, "nonjson": _nonjson, "huge": _huge,
              "invalid_utf8": _invalid_utf8, "deep_json": _deep_json}
