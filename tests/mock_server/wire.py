"""Plain request/response values shared by the protocol modules.

The protocol modules never touch sockets: they take a Request and return a
Response. server.py owns the sockets and faults.py decides how a Response
reaches the wire, so every protocol gets every fault for free.
"""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterator, Optional
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    target: str          # path with query string, exactly as received
    headers: dict        # original names -> first value
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.target).query,
                                              keep_blank_values=True).items()}

    def header(self, name: str) -> Optional[str]:
        """Case-insensitive header lookup (HTTP semantics)."""
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return None

    def json(self):
        """Parsed JSON body; raises ValueError on anything that is not JSON."""
        return json.loads(self.body.decode("utf-8"))

    def body_sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list = field(default_factory=list)   # [(name, value)]
    content_type: str = "application/json"
    # Streamed bodies (huge:BYTES) give chunks plus their total length.
    stream: Optional[Iterator[bytes]] = None
    stream_length: int = 0
    # Filled in by the protocol module for /_mock/log.
    verified_by: Optional[str] = None
    error_code: Optional[str] = None

    @property
    def content_length(self) -> int:
        return self.stream_length if self.stream is not None else len(self.body)


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def json_response(status: int, obj, headers=None, error_code=None) -> Response:
    return Response(status, dumps(obj), list(headers or []), error_code=error_code)
