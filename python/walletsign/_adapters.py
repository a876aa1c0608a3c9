"""Adapters for people who keep their HTTP library: requests and httpx sign
the exact bytes they send through a walletsign auth; and to_frame() for
notebooks. The third-party packages are imported only when used."""

from __future__ import annotations

from typing import Any


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
    """
    try:
        import requests.auth
    except ImportError:
        raise _missing("requests", "requests_auth") from None

    class WalletsignAuth(requests.auth.AuthBase):
        """requests auth signing with a walletsign auth."""

        def __init__(self, signer):
            self.signer = signer

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
            r.headers.update(self.signer.sign(r.method, r.path_url, body))
            return r

    return WalletsignAuth(auth)


def httpx_auth(auth):
    """An ``httpx.Auth`` that signs each request (and each retry or redirect
    httpx makes) with ``auth``; the body is read first so the exact bytes are
    signed::

        httpx.Client(auth=ws.httpx_auth(ws.JwtAuth(key, key_id)))
    """
    try:
        import httpx
    except ImportError:
        raise _missing("httpx", "httpx_auth") from None

    class WalletsignAuth(httpx.Auth):
        """httpx auth signing with a walletsign auth."""

        requires_request_body = True

        def __init__(self, signer):
            self.signer = signer

        def auth_flow(self, request):
            path = request.url.raw_path.decode("ascii")
            request.headers.update(self.signer.sign(request.method, path, request.content))
            yield request

    return WalletsignAuth(auth)


def to_frame(records: Any):
    """A pandas DataFrame from API results: a list of records, or a result
    holding exactly one list of records (e.g. ``{"accounts": [...], ...}``).
    Nested objects become dotted columns (pandas.json_normalize)."""
    try:
        import pandas
    except ImportError:
        raise _missing("pandas", "to_frame") from None
    if isinstance(records, dict):
        lists = [v for v in records.values() if isinstance(v, list)]
        if len(lists) == 1:
            records = lists[0]
        else:
            records = [records]
    return pandas.json_normalize(records)
