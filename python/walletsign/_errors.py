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
    "WeakKeyWarning", "Redirect",
]


def _restore(cls, message, state):
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class Error(Exception):
    """Base class of every walletsign error.

    Attributes (None where they do not apply): ``message`` (str, for humans),
    ``status`` (HTTP status), ``code`` (API error code), ``data`` (extra
    structured data from the server), ``body`` (raw response body, bytes).
    """

    status: Optional[int] = None
    code: Any = None
    data: Any = None
    body: Optional[bytes] = None

    def __init__(self, message: str = "", *, status: Optional[int] = None, code: Any = None,
                 data: Any = None, body: Optional[bytes] = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.data = data
        self.body = body

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

    reason: str = ""

    def __init__(self, message: str = "", *, reason: str = "", **fields: Any):
        super().__init__(message, **fields)
        self.reason = reason

    def __str__(self) -> str:
        if self.reason and self.reason not in self.message:
            return "%s: %s" % (self.reason, self.message)
        return self.message


class TransportError(Error):
    """The HTTP exchange failed below HTTP (DNS, connect, TLS, reset...).
    ``curl_code`` is libcurl's CURLcode."""

    curl_code: Optional[int] = None

    def __init__(self, message: str = "", *, curl_code: Optional[int] = None, **fields: Any):
        super().__init__(message, **fields)
        self.curl_code = curl_code


class Timeout(TransportError):
    """The request (or the connection) took longer than the client's timeout."""


class ProtocolError(Error):
    """The server answered something that is not the expected protocol (e.g.
    not JSON, or a JSON-RPC envelope with neither result nor error)."""


class ApiError(Error):
    """The API answered with an HTTP status outside 2xx (>= 400, or a 3xx:
    :class:`Redirect`).

    ``status`` (int), ``code`` (e.g. ``"ErrExpiredAuthToken"`` or None),
    ``message``, ``data`` and ``body`` (the raw response bytes).
    """

    def __init__(self, message: str = "", **fields: Any):
        super().__init__(message, **fields)
        # The core's text reads "HTTP 400: <the API's message>": keep the API's part.
        head = "HTTP %s" % self.status
        if self.message.startswith(head):
            self.message = self.message[len(head):].lstrip(":").strip()

    def __str__(self) -> str:
        head = "HTTP %s" % self.status
        if self.code:
            head += " " + str(self.code)
        return "%s: %s" % (head, self.message) if self.message else head


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

    retry_after: Optional[float] = None

    def __init__(self, message: str = "", *, retry_after: Optional[float] = None,
                 **fields: Any):
        super().__init__(message, **fields)
        self.retry_after = retry_after


class ServerError(ApiError):
    """HTTP 5xx after the client's bounded retries."""


class Redirect(ApiError):
    """HTTP 3xx from query(), command() or call(): redirects are never
    followed (the signature binds this server and path) nor taken for an
    answer. ``location`` is the answer's Location header, or None."""

    location: Optional[str] = None

    def __init__(self, message: str = "", *, location: Optional[str] = None, **fields: Any):
        super().__init__(message, **fields)
        self.location = location


class RpcError(Error):
    """A JSON-RPC-like error object ``{"error": {"code", "message", "data"}}``.
    ``code`` is the integer error code, ``data`` the decoded ``data`` member
    (or None), ``status`` the HTTP status when it came over HTTP."""

    def __str__(self) -> str:
        return "RPC error %s: %s" % (self.code, self.message)


class WeakKeyWarning(UserWarning):
    """A key works but is weaker than the API expects (RSA below 4096 bits for
    Halogen)."""


# Show (and pickle) the public names: walletsign.KeyFormatError, not
# walletsign._errors.KeyFormatError.
for _name in __all__:
    globals()[_name].__module__ = "walletsign"
del _name
