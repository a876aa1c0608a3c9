"""The exception hierarchy of walletsign.

Every failure of the C core is raised as a subclass of :class:`Error` (the
native module maps each core status to one of these classes). Bad arguments
raise the builtins TypeError and ValueError. No exception ever carries secret
material: the core never puts key bytes, secrets or passwords in a message.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    "Error", "KeyFormatError", "PasswordError", "CryptoError", "FileError",
    "SignatureError", "TransportError", "Timeout", "ProtocolError",
    "ApiError", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "Gone",
    "PreconditionFailed", "RateLimited", "ServerError", "RpcError",
    "WeakKeyWarning", "Redirect", "StoreError", "ReplayStoreError",
]


def _restore(cls, message, state):
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class Error(Exception):
    """Base class of every walletsign error.

    The fields of a failure, the same names in Python, Lua and the CLI
    (docs/errors.md), None where they do not apply: ``kind`` (the core's
    status name, e.g. ``"http_error"``), ``message`` (for humans), ``reason``
    (a refused signature), ``http_status``, ``code`` (the API's error code as
    text, e.g. ``"ErrExpiredAuthToken"`` or ``"-32601"``), ``rpc_code`` (a
    JSON-RPC error's int code), ``retry_after`` (seconds), ``curl_code``,
    ``location`` (a redirect's), ``body`` (raw answer, bytes) and ``data``
    (decoded JSON-RPC error data). ``status`` is a deprecated alias of
    ``http_status``.
    """

    kind: Optional[str] = None
    reason: Optional[str] = None
    http_status: Optional[int] = None
    code: Optional[str] = None
    rpc_code: Optional[int] = None
    retry_after: Optional[float] = None
    curl_code: Optional[int] = None
    location: Optional[str] = None
    body: Optional[bytes] = None
    data: Any = None

    def __init__(self, message: str = "", *, status: Optional[int] = None, **fields: Any):
        super().__init__(message)
        self.message = message
        if status is not None:   # the deprecated name of http_status
            fields.setdefault("http_status", status)
        for name, value in fields.items():
            if not hasattr(type(self), name) or name == "message":
                raise TypeError("%s() got an unexpected keyword argument %r"
                                % (type(self).__name__, name))
            setattr(self, name, value)

    @property
    def status(self) -> Optional[int]:
        """Deprecated: the HTTP status, ``http_status``."""
        return self.http_status

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        return (_restore, (type(self), self.message, dict(self.__dict__)))


class KeyFormatError(Error, ValueError):
    """A key could not be used: malformed or truncated PEM/DER, an unsupported
    type or curve, an RSA key below 2048 bits, or the wrong kind of key for
    the protocol."""


class PasswordError(KeyFormatError):
    """An encrypted private key needs a password, or the password is wrong."""


class CryptoError(Error):
    """OpenSSL or libsecp256k1 failed (should not happen with valid input)."""


class FileError(Error, OSError):
    """A key file could not be read or written."""

    def __init__(self, message: str = "", **fields: Any):
        Error.__init__(self, message, **fields)

    def __str__(self) -> str:
        return self.message


class SignatureError(Error):
    """A signature, token or signed message was rejected.

    ``reason`` says why: ``bad_signature``, ``untrusted_address``,
    ``stale_timestamp``, ``replay``, ``malformed_header``, ``missing_header``
    (message and hmac protocols), ``expired`` or ``malformed`` (JWT).
    """

    def __str__(self) -> str:
        if self.reason and self.reason not in self.message:   # a field, not parsed text
            return "%s: %s" % (self.reason, self.message)
        return self.message


class TransportError(Error):
    """The HTTP exchange failed below HTTP (DNS, connect, TLS, reset...).
    ``curl_code`` is libcurl's CURLcode."""


class Timeout(TransportError):
    """The request (or the connection) took longer than the client's timeout."""


class ProtocolError(Error):
    """The server answered something that is not the expected protocol (e.g.
    not JSON, or a JSON-RPC envelope with neither result nor error)."""


class ApiError(Error):
    """The API answered with an HTTP status outside 2xx (>= 400, or a 3xx:
    :class:`Redirect`).

    ``http_status`` (int), ``code`` (e.g. ``"ErrExpiredAuthToken"`` or None),
    ``message`` (the core's, e.g. ``"HTTP 400: name is invalid."``), ``data``,
    ``retry_after`` and ``body`` (the raw response bytes).
    """

    def __str__(self) -> str:
        return "%s [%s]" % (self.message, self.code) if self.code else self.message


class BadRequest(ApiError):
    """HTTP 400: a missing or invalid parameter."""


class Unauthorized(ApiError):
    """HTTP 401: the request's authentication was refused (expired token, bad
    signature, unauthorised IP address...)."""


class Forbidden(ApiError):
    """HTTP 403: the key may not do this (e.g. a read-only key on /command)."""


class NotFound(ApiError):
    """HTTP 404: no such resource."""


class Gone(ApiError):
    """HTTP 410: the resource is gone (e.g. a cancelled request)."""


class PreconditionFailed(ApiError):
    """HTTP 412: the action is not allowed in the resource's current state."""


class RateLimited(ApiError):
    """HTTP 429 after the client's bounded retries. ``retry_after`` is the
    server's last Retry-After in seconds (float), or None."""


class ServerError(ApiError):
    """HTTP 5xx after the client's bounded retries."""


class Redirect(ApiError):
    """HTTP 3xx from query(), command() or call(): redirects are never
    followed (the signature binds this server and path) nor taken for an
    answer. ``location`` is the answer's Location header, or None."""


class RpcError(Error):
    """A JSON-RPC-like error object ``{"error": {"code", "message", "data"}}``.
    ``rpc_code`` is the integer error code (``code`` the same as text),
    ``data`` the decoded ``data`` member (or None), ``http_status`` the HTTP
    status when it came over HTTP."""

    def __str__(self) -> str:
        return "RPC error %s: %s" % (self.rpc_code, self.message)


class StoreError(Error):
    """A replay store or a shared rate limit (Redis) could not be reached, timed
    out, or answered an error. Nothing was accepted (the store fails closed):
    ``kind`` is ``"store_error"``, ``reason`` is ``"store_unavailable"``, the
    message names the server and the cause (never the password). A receiver
    answers 503 so that the sender delivers again."""


#: The name issue #13 gave it: the same class.
ReplayStoreError = StoreError


class WeakKeyWarning(UserWarning):
    """A key works but is weaker than the API expects (RSA below 4096 bits for
    Halogen)."""


# Show (and pickle) the public names: walletsign.KeyFormatError, not
# walletsign._errors.KeyFormatError.
for _name in __all__:
    globals()[_name].__module__ = "walletsign"  # ReplayStoreError is StoreError: set twice
del _name
