"""Adapters for people who keep their HTTP library: requests and httpx sign
the exact bytes they send through a walletsign auth; and to_frame() for
notebooks. The third-party packages are imported only when used."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str):
    """(scheme, host, port) of a URL: the unit a signature may travel within."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


class _Chain:
    """A request and its redirect hops: the origin it was signed for, None
    once a hop has left it (a chain that went elsewhere is never signed
    again, or the other origin could steer our body and a fresh signature to
    a path of its choosing on ours), and the last request handled."""

    def __init__(self, url: str):
        self.origin = _origin(url)
        self.handled = None


class _RedirectSigner:
    """What both adapters do on a redirect: the library copies the previous
    request's headers, so a signature (the HMAC headers, X-Message-*, or a
    JWT) would reach the new URL for the old path, and on another origin could
    be replayed against ours within its window. A same-origin hop is signed
    afresh for its own method, path and body; any other hop carries no
    signature header at all (httpx and requests strip only Authorization,
    and let an http -> https hop keep it; we do not)."""

    def __init__(self, signer):
        self.signer = signer
        self._names = ()  # the header names this signer writes

    def sign(self, headers, method, path, body):
        signed = self.signer.sign(method, path, body)
        self._names = tuple(signed)
        headers.update(signed)

    def strip(self, headers):
        for name in self._names:
            headers.pop(name, None)

    def hop(self, headers, chain, url, method, path, body):
        """Re-sign or strip a request of ``chain`` going to ``url``."""
        self.strip(headers)
        if _origin(url) != chain.origin:
            chain.origin = None
        else:
            self.sign(headers, method, path, body)


def _missing(package: str, what: str) -> ImportError:
    return ImportError("walletsign.%s needs the %r package, which is not installed "
                       "(pip install %s, or apt install python3-%s)" % (what, package, package,
                                                                        package))


def requests_auth(auth):
    """A ``requests.auth.AuthBase`` that signs each request with ``auth``
    (JwtAuth, HmacAuth or MessageAuth)::

        requests.post(url, json=payload, auth=ws.requests_auth(ws.HmacAuth(key, secret)))

    The body is signed as the bytes requests sends (a str body is sent as
    UTF-8). Streamed bodies (files, generators) cannot be signed and raise
    TypeError. Note that urllib3-level retries resend the same signed headers:
    retry at the application level instead, so each attempt is signed afresh.

    Redirects: a same-origin redirect is signed afresh for its new method,
    path and body; a redirect to another origin (scheme, host or port) carries
    no signature header. The ``.request`` of a redirect response still shows
    what was sent.
    """
    try:
        import requests
        import requests.auth
    except ImportError:
        raise _missing("requests", "requests_auth") from None

    class WalletsignAuth(requests.auth.AuthBase):
        """requests auth signing with a walletsign auth."""

        def __init__(self, signer):
            self.signer = signer
            self._redirects = _RedirectSigner(signer)

        def __call__(self, r):
            body = r.body
            if body is None:
                body = b""
            elif isinstance(body, str):
                body = body.encode("utf-8")
                r.body = body
                r.prepare_content_length(body)
            elif not isinstance(body, (bytes, bytearray)):
                raise TypeError("walletsign cannot sign a streamed request body; "
                                "pass bytes, str or json=")
            self._redirects.sign(r.headers, r.method, r.path_url, body)
            # Hops share the hooks of the request they were copied from.
            r.register_hook("response", functools.partial(self._on_response, _Chain(r.url)))
            return r

        def _on_response(self, chain, r, **kwargs):
            # requests follows a redirect (or builds Response.next) from a copy
            # of the request object it sent, after this hook and without asking
            # the auth again: set that object's headers for the next hop here,
            # and keep an untouched copy as the response's record.
            if not r.is_redirect:
                return r
            sent = r.request
            r.request = sent.copy()
            nxt = _next_request(r, sent)
            self._redirects.hop(sent.headers, chain, nxt.url, nxt.method, nxt.path_url,
                                nxt.body or b"")
            return r

    def _next_request(r, sent):
        # The next hop exactly as requests builds it (URL, method, body),
        # from its own code rather than a copy of its rules.
        with requests.Session() as session:
            return next(session.resolve_redirects(r, sent, yield_requests=True))

    return WalletsignAuth(auth)


def httpx_auth(auth):
    """An ``httpx.Auth`` that signs each request with ``auth``; the body is
    read first so the exact bytes are signed::

        httpx.Client(auth=ws.httpx_auth(ws.JwtAuth(key, key_id)))

    Redirects: a same-origin redirect is signed afresh for its new method,
    path and body; a redirect to another origin (scheme, host or port) carries
    no signature header. httpx asks an auth only about the first request, so
    with ``follow_redirects=True`` pass the auth's hooks too::

        a = ws.httpx_auth(signer)
        httpx.Client(auth=a, follow_redirects=True, event_hooks=a.event_hooks)
        httpx.AsyncClient(auth=a, follow_redirects=True, event_hooks=a.async_event_hooks)

    Without them a followed redirect raises RuntimeError (after the fact:
    the hop has been sent). With ``follow_redirects=False`` (httpx's
    default) ``response.next_request`` is already re-signed or stripped.
    """
    try:
        import httpx
    except ImportError:
        raise _missing("httpx", "httpx_auth") from None

    # httpx hands every hop the extensions dict of the request before it.
    chain_key = "walletsign.redirect_chain"

    class WalletsignAuth(httpx.Auth):
        """httpx auth signing with a walletsign auth."""

        requires_request_body = True

        def __init__(self, signer):
            self.signer = signer
            self._redirects = _RedirectSigner(signer)
            self.event_hooks = {"request": [self._on_request]}
            self.async_event_hooks = {"request": [self._on_request_async]}

        def auth_flow(self, request):
            chain = request.extensions.get(chain_key)
            if chain is None:  # a new request, not a hop sent on by hand
                chain = _Chain(str(request.url))
                request.extensions = {**request.extensions, chain_key: chain}
            self._hop(request, chain, request.content)
            response = yield request
            if response.history and chain.handled is not response.request:
                raise RuntimeError("httpx followed a redirect without walletsign's event "
                                   "hooks: pass event_hooks=auth.event_hooks to the client")
            if response.next_request is not None:
                nxt = response.next_request
                self._hop(nxt, chain, nxt.read())

        def _hop(self, request, chain, body):
            path = request.url.raw_path.decode("ascii")
            self._redirects.hop(request.headers, chain, str(request.url), request.method, path,
                                body)
            chain.handled = request

        def _on_request(self, request):
            chain = request.extensions.get(chain_key)
            if chain is not None and chain.handled is not request:
                self._hop(request, chain, request.read())

        async def _on_request_async(self, request):
            chain = request.extensions.get(chain_key)
            if chain is not None and chain.handled is not request:
                self._hop(request, chain, await request.aread())

    return WalletsignAuth(auth)


def to_frame(records: Any, record_path: Any = None, meta: Any = None):
    """A pandas DataFrame from API results, built on pandas.json_normalize:
    nested objects become dotted columns ("permanentAddress.city").

    records: a list of records, or one result. A result holding exactly one
    list of records (``{"amount": ..., "asset": ..., "accounts": [...]}``)
    gives a row per record, and its other top-level fields (amount, asset)
    are kept as columns beside them (unless a record has a field of the same
    name). Any other result is one row.
    record_path, meta: as pandas.json_normalize's, for nested lists (a row
    per element of ``record_path``, with ``meta`` fields of the parents);
    with a result and no meta, its top-level fields are the meta."""
    try:
        import pandas
    except ImportError:
        raise _missing("pandas", "to_frame") from None
    if isinstance(records, dict):
        if record_path is None:
            lists = [k for k, v in records.items()
                     if isinstance(v, list) and all(isinstance(r, dict) for r in v)]
            if len(lists) != 1:
                return pandas.json_normalize(records)
            record_path = lists[0]
        if meta is None:
            meta = _top_level_meta(records, record_path)
        records = [records]
    return pandas.json_normalize(records, record_path=record_path, meta=meta)


def _top_level_meta(result: dict, record_path: Any) -> list:
    """The result's scalar top-level fields, except the path and any name a
    record of the path already has (json_normalize refuses a clash)."""
    path = [record_path] if isinstance(record_path, str) else list(record_path)
    rows = result.get(path[0]) if len(path) == 1 else None
    taken = set()
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict):
            taken.update(row)
    return [k for k, v in result.items()
            if k != path[0] and k not in taken and not isinstance(v, (dict, list))]
