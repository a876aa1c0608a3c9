"""WSGI and ASGI requests -> what the verifiers take (value conversion only).

A verifier's ``verify()`` takes headers as a mapping or a list of (name,
value) pairs. A WSGI server hands an application an ``environ`` (PEP 3333:
``HTTP_X_MESSAGE_SIGNATURE``, ``CONTENT_TYPE``...), an ASGI server a
``scope`` whose ``headers`` are (bytes, bytes) pairs: these functions turn
each into the header form, and read a WSGI body within a size bound. The
verifiers also take an ``environ`` or a ``scope`` directly (the native
module recognises them and calls these functions), so
``verifier.verify(environ, body)`` works as ``verify(wsgi_headers(environ),
body)`` does. What the headers mean is the core's business.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

__all__ = ["wsgi_headers", "asgi_headers", "wsgi_body", "DEFAULT_MAX_BODY"]

#: wsgi_body()'s default bound: a Wallet Manager callback is a few KiB.
DEFAULT_MAX_BODY = 1 << 20

# The two request headers PEP 3333 keeps without the HTTP_ prefix.
_CGI_HEADERS = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def wsgi_headers(environ: Mapping[str, Any]) -> Dict[str, str]:
    """The request headers of a WSGI ``environ`` as a dict of lower-case,
    hyphenated names (``HTTP_X_MESSAGE_ADDRESS`` -> ``x-message-address``;
    ``CONTENT_TYPE`` and ``CONTENT_LENGTH`` when not empty), values as the
    server gave them (PEP 3333 "native strings": the raw bytes read as
    Latin-1, as the verifiers read bytes). A header the client sent twice
    arrives joined by the server (``a,b``), which the core refuses as
    ``malformed_header`` for a signature header: as it should."""
    if not hasattr(environ, "items"):
        raise TypeError("environ must be a WSGI environ dict, not %s" % type(environ).__name__)
    headers = {}
    for key, value in environ.items():
        if not isinstance(key, str):
            continue
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in _CGI_HEADERS and value:
            name = _CGI_HEADERS[key]
        else:
            continue
        if not isinstance(value, (str, bytes)):
            raise TypeError("environ[%r] must be str, not %s" % (key, type(value).__name__))
        headers[name] = value
    return headers


def asgi_headers(scope: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """The request headers of an ASGI ``scope`` (``scope["headers"]``: an
    iterable of [name, value] byte pairs) as a list of (name, value) str
    pairs, bytes read as Latin-1. A list, not a dict, so that a header sent
    twice reaches the core twice (it refuses a repeated signature header as
    ``malformed_header``), not silently the last one."""
    try:
        raw = scope["headers"]
    except (KeyError, TypeError):
        raise TypeError("scope must be an ASGI scope dict with a 'headers' list") from None
    headers = []
    for pair in raw:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise TypeError("each ASGI header must be a [name, value] pair") from None
        headers.append((_latin1(name, "name"), _latin1(value, "value")))
    return headers


def _latin1(value: Any, what: str) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    if isinstance(value, str):
        return value
    raise TypeError("ASGI header %s must be bytes, not %s" % (what, type(value).__name__))


def wsgi_body(environ: Mapping[str, Any], max_size: int = DEFAULT_MAX_BODY) -> bytes:
    """The request body of a WSGI ``environ``, at most ``max_size`` bytes.

    Reads exactly ``CONTENT_LENGTH`` bytes from ``wsgi.input`` (PEP 3333:
    never past it; no length is an empty body), or, when the server marks a
    chunked body as terminated (``wsgi.input_terminated``, gunicorn and
    others), up to its end. Raises ValueError (answer 400 or 413) when the
    length is malformed or above ``max_size``, or the body ends early,
    before reading more than ``max_size`` bytes."""
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0:
        raise ValueError("max_size must be an int >= 0")
    stream = environ.get("wsgi.input")
    length_text = environ.get("CONTENT_LENGTH") or ""
    if length_text:
        try:
            length = int(length_text, 10)
        except ValueError:
            length = -1
        if length < 0:
            raise ValueError("Content-Length is not a byte count: %r" % length_text[:40])
        if length > max_size:
            raise ValueError("the body of %d bytes is over the limit of %d" % (length, max_size))
    elif environ.get("wsgi.input_terminated") and stream is not None:
        body = _read(stream, max_size + 1)
        if len(body) > max_size:
            raise ValueError("the body is over the limit of %d bytes" % max_size)
        return body
    else:
        return b""
    if stream is None:
        raise ValueError("environ has no wsgi.input")
    body = _read(stream, length)
    if len(body) != length:
        raise ValueError("the body ended after %d of %d bytes" % (len(body), length))
    return body


def _read(stream: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``stream`` (fewer at its end)."""
    chunks = []
    left = limit
    while left > 0:
        chunk = stream.read(min(left, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
