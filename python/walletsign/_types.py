"""Plain-Python value types and conversions used by the native module.

Only value conversion lives here (JSON text <-> Python objects, environment
variables -> a Client); every protocol decision is made by the C core, which
also reads response headers (the native module hands Response a dict).
"""

from __future__ import annotations

import json as _json
import os
from typing import Any, Mapping, NamedTuple, Optional

__all__ = ["Message", "Response", "dumps", "loads", "client_from_env"]

def dumps(obj: Any) -> bytes:
    """Compact JSON (no spaces, UTF-8, NaN refused) as bytes: the exact body
    that is hashed, signed and sent."""
    return _json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
                       allow_nan=False).encode("utf-8")


def loads(text: bytes) -> Any:
    """JSON text -> Python (integers of any size stay exact)."""
    return _json.loads(text)


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
Response.__module__ = "walletsign"
