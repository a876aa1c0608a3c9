"""walletsign — sign, send and verify wallet-API requests.

A thin native module over the walletsign C core, speaking three wire
protocols byte for byte:

* ``jwt``: Halogen Wallet API bearer tokens (:class:`JwtAuth`, :func:`verify_jwt`);
* ``hmac``: API key + HMAC-SHA256 (:class:`HmacAuth`, :class:`HmacVerifier`);
* ``message``: Ethereum-address signed messages of the Wallet Manager
  (:class:`MessageAuth`, :class:`MessageVerifier`, :func:`rpc_result`...).

:class:`Client` sends signed requests (libcurl, retries, rate limit)::

    import walletsign as ws
    key = ws.Key.load("halogen.pem")
    with ws.Client("https://external-api.wallet.halogen.my", ws.JwtAuth(key, "my-key-id")) as c:
        accounts = c.query("list_client_accounts")

Every call that signs, verifies, generates keys or does I/O releases the GIL
(except an HMAC over a body under 2 KiB: under a microsecond, less than the
hand-over would cost; hashlib draws the same line).
Errors are subclasses of :class:`Error`; bad arguments raise TypeError/ValueError.
:func:`wsgi_headers`, :func:`wsgi_body` and :func:`asgi_headers` read a
request a WSGI or ASGI server hands over (the verifiers also take an
``environ`` or ``scope`` whole). :func:`requests_auth` and :func:`httpx_auth` sign requests made with those
libraries; :func:`to_frame` turns results into a pandas DataFrame. The guide is
docs/quickstart-python.md.
"""

from ._adapters import httpx_auth, requests_auth, to_frame
from ._errors import (ApiError, BadRequest, CryptoError, Error, FileError, Forbidden, Gone,
                      KeyFormatError, NotFound, PasswordError, PreconditionFailed, ProtocolError,
                      RateLimited, RpcError, ServerError, SignatureError, Timeout, TransportError,
                      Unauthorized, WeakKeyWarning)
from ._errors import Redirect, ReplayStoreError, StoreError
from ._types import Message, Response
from ._web import asgi_headers, wsgi_body, wsgi_headers
from ._walletsign import RedisReplayStore
from ._walletsign import (Auth, HmacAuth, HmacVerifier, JwtAuth, Key, MessageAuth,
                          MessageVerifier, RedisRateLimit, __version__, rpc_error, rpc_parse,
                          rpc_result, verify_jwt)
from ._batch import AsyncClient, Client
from ._walletsign import HALOGEN_BASE_URL as DEFAULT_BASE_URL  # the core's WSIG_HALOGEN_BASE_URL

__all__ = [
    "__version__", "DEFAULT_BASE_URL",
    "Key", "Auth", "JwtAuth", "HmacAuth", "MessageAuth",
    "verify_jwt", "HmacVerifier", "MessageVerifier", "Message",
    "rpc_result", "rpc_error", "rpc_parse", "wsgi_headers", "wsgi_body", "asgi_headers",
    "RedisReplayStore", "RedisRateLimit",
    "Client", "AsyncClient", "Response", "requests_auth", "httpx_auth", "to_frame",
    "Error", "KeyFormatError", "PasswordError", "CryptoError", "FileError", "SignatureError",
    "TransportError", "Timeout", "ProtocolError", "ApiError", "BadRequest", "Unauthorized",
    "Forbidden", "NotFound", "Gone", "PreconditionFailed", "RateLimited", "ServerError",
    "RpcError", "WeakKeyWarning", "Redirect", "StoreError", "ReplayStoreError",
]
