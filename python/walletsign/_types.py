"""Plain-Python value types and conversions used by the native module.

Only value conversion lives here (JSON text <-> Python objects, environment
variables -> a Client); every protocol decision is made by the C core, which
also reads response headers (the native module hands Response a dict).
"""

from __future__ import annotations

import json as _json
import os
from typing import Any, Mapping, NamedTuple, Optional

__all__ = ["Message", "Response", "Verified", "dumps", "loads", "client_from_env"]

def dumps(obj: Any) -> bytes:
    """Compact JSON (no spaces, UTF-8, NaN refused) as bytes: the exact body
    that is hashed, signed and sent."""
    return _json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                       allow_nan=False).encode("utf-8")


def loads(text: bytes) -> Any:
    """JSON text -> Python (integers of any size stay exact)."""
    return _json.loads(text)


# json.loads ends in this scanner (JSONDecoder.raw_decode: C code when
# CPython's _json is there). The shim calls it straight on answers the core
# has judged and compacted already, skipping json.loads' Python frames
# (encoding detection, whitespace regexes: ~15k instructions a call), and
# falls back to loads() for anything it does not take whole (#14).
scan_once = _json.decoder.JSONDecoder().scan_once


class Message(NamedTuple):
    """A verified signed message (MessageVerifier.verify).

    ``address``: the signer's EIP-55 address; ``session`` and ``sequence``:
    decimal strings exactly as received (64-bit values); ``timestamp``: Unix
    milliseconds (int).
    """

    address: str
    session: str
    sequence: str
    timestamp: int


class Verified:
    """What ``MessageVerifier.verified(headers, body, now=None)`` returns: a
    context manager whose ``__enter__`` verifies and gives the Message, and
    whose ``__exit__``, when the block raised, releases the message's
    reservation (``verifier.release``) so the sender's redelivery is
    accepted, then lets the exception propagate. A failed release (the
    store went away too) does not hide the block's exception: it is added
    to it as a note, and the redelivery is refused as a replay until the
    entry expires."""

    __slots__ = ("_verifier", "_headers", "_body", "_now", "_message")

    def __init__(self, verifier: Any, headers: Any, body: Any = None, now: Optional[int] = None):
        self._verifier = verifier
        self._headers = headers
        self._body = b"" if body is None else body
        self._now = now
        self._message: Optional[Message] = None

    def __enter__(self) -> Message:
        if self._message is not None:
            raise RuntimeError("verified(): this context was already entered")
        self._message = self._verifier.verify(self._headers, self._body, now=self._now)
        return self._message

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is not None and self._message is not None:
            from ._errors import Error
            try:
                self._verifier.release(self._message)
            except (Error, ValueError) as err:   # store gone; a verifier without a cache
                if exc is not None and hasattr(exc, "add_note"):
                    exc.add_note("walletsign: the message was not released (%s: %s); its "
                                 "redelivery is refused until the entry expires"
                                 % (type(err).__name__, err))
        return False

    def __repr__(self) -> str:
        return "<walletsign.Verified %s>" % ("entered" if self._message else "not entered")


class Response:
    """An HTTP response from Client.request().

    ``status`` (int), ``headers`` (dict with lower-case names; repeated
    headers joined with ", "), ``body`` (bytes), ``attempts`` (how many times
    the request was sent, retries included); ``json()`` decodes the body.
    """

    __slots__ = ("status", "headers", "body", "attempts")

    def __init__(self, status: int, headers: Any, body: bytes, attempts: int = 1):
        self.status = status
        self.headers = dict(headers)
        self.body = body
        self.attempts = attempts

    def json(self) -> Any:
        """The body decoded as JSON, judged by the core first: a body that is
        not UTF-8 JSON, names a member twice or writes a number outside RFC
        8259 raises ProtocolError."""
        from ._walletsign import _json_loads
        return _json_loads(self.body)

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        kind = self.headers.get("content-type", "no content-type").split(";")[0]
        return "<walletsign.Response %d, %s, %d bytes, %d attempt%s>" % (
            self.status, kind, len(self.body), self.attempts, "" if self.attempts == 1 else "s")


def client_from_env(cls, environ: Optional[Mapping[str, str]] = None, **options: Any):
    """Client.from_env(): see its docstring."""
    from ._walletsign import HALOGEN_BASE_URL, JwtAuth, Key

    env = os.environ if environ is None else environ
    key_id = env.get("HALOGEN_WALLET_KEY_ID")
    if not key_id:
        raise ValueError("HALOGEN_WALLET_KEY_ID is not set")
    pem = env.get("HALOGEN_WALLET_PRIVATE_KEY_PEM")
    path = env.get("HALOGEN_WALLET_PRIVATE_KEY_PATH")
    password = env.get("HALOGEN_WALLET_PRIVATE_KEY_PASSWORD") or None
    if pem:
        if "\n" not in pem and "\\n" in pem:   # a .env file's one-line PEM
            pem = pem.replace("\\n", "\n")
        key = Key.load(pem.encode("ascii"), password=password)
    elif path:
        key = Key.load(path, password=password)
    else:
        raise ValueError("set HALOGEN_WALLET_PRIVATE_KEY_PEM or HALOGEN_WALLET_PRIVATE_KEY_PATH")
    base_url = env.get("WALLETSIGN_BASE_URL") or HALOGEN_BASE_URL
    return cls(base_url, JwtAuth(key, key_id), **options)


Message.__module__ = "walletsign"
Verified.__module__ = "walletsign"
Response.__module__ = "walletsign"
