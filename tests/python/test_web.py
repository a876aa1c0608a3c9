"""WSGI/ASGI requests -> verifier input (#13): wsgi_headers, asgi_headers,
wsgi_body, and verifiers taking an environ or a scope whole. The WSGI cases
run through a real server (wsgiref) fed by a real HTTP client."""

import http.client
import io
import threading
import wsgiref.simple_server
import wsgiref.util

import pytest

import walletsign as ws

BODY = b'{"type":"deposit_status","data":{"tx_hash":"0xabc","status":"confirmed"}}'


@pytest.fixture(scope="module")
def sender():
    return ws.MessageAuth(ws.Key.generate("secp256k1"))


def environ_for(headers, body=b"", **extra):
    """An environ as PEP 3333 builds one (wsgiref's defaults plus the headers)."""
    env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/callbacks",
           "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    wsgiref.util.setup_testing_defaults(env)
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    env.update(extra)
    return env


def scope_for(headers):
    return {"type": "http", "asgi": {"version": "3.0"}, "method": "POST", "path": "/callbacks",
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in headers.items()]}


def test_wsgi_headers_names_and_values():
    env = environ_for({"X-Message-Address": "0xAb", "Content-Type": "application/json"},
                      b"abc")
    h = ws.wsgi_headers(env)
    assert h["x-message-address"] == "0xAb"
    assert h["content-type"] == "application/json"
    assert h["content-length"] == "3"
    assert not any(k.startswith(("wsgi", "request", "path")) for k in h)
    env["CONTENT_LENGTH"] = ""
    assert "content-length" not in ws.wsgi_headers(env)


def test_wsgi_headers_bad_input():
    with pytest.raises(TypeError, match="environ"):
        ws.wsgi_headers(["HTTP_X"])
    with pytest.raises(TypeError, match="HTTP_X_BAD"):
        ws.wsgi_headers({"HTTP_X_BAD": 3})


def test_asgi_headers_keeps_repeats():
    scope = {"type": "http", "headers": [(b"X-A", b"1"), [b"x-a", b"\xe9"]]}
    assert ws.asgi_headers(scope) == [("X-A", "1"), ("x-a", "\xe9")]
    with pytest.raises(TypeError, match="scope"):
        ws.asgi_headers({"type": "http"})
    with pytest.raises(TypeError, match="pair"):
        ws.asgi_headers({"headers": [(b"a", b"b", b"c")]})
    with pytest.raises(TypeError, match="bytes"):
        ws.asgi_headers({"headers": [(1, b"b")]})


SOURCES = {
    "environ": lambda h: environ_for(h, BODY),
    "scope": scope_for,
    "wsgi_headers": lambda h: ws.wsgi_headers(environ_for(h, BODY)),
    "asgi_headers": lambda h: ws.asgi_headers(scope_for(h)),
}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_verify_takes_environ_and_scope(sender, source):
    given = SOURCES[source](sender.sign("POST", "/callbacks", BODY))
    verifier = ws.MessageVerifier([sender.address])
    assert verifier.verify(given, BODY).address == sender.address
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify(given, BODY)
    assert info.value.reason == "replay"


def test_environ_without_signature_is_missing_header(sender):
    verifier = ws.MessageVerifier([sender.address])
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify(environ_for({}), b"")
    assert info.value.reason == "missing_header"


def test_repeated_asgi_signature_header_is_refused(sender):
    headers = sender.sign("POST", "/callbacks", BODY)
    scope = scope_for(headers)
    scope["headers"].append((b"x-message-signature", headers["X-Message-Signature"].encode()))
    with pytest.raises(ws.SignatureError) as info:
        ws.MessageVerifier([sender.address]).verify(scope, BODY)
    assert info.value.reason == "malformed_header"


def test_hmac_verifier_takes_environ():
    auth = ws.HmacAuth("key-1", b"s3cret-s3cret")
    headers = auth.sign("POST", "/hook", BODY)
    verifier = ws.HmacVerifier({"key-1": b"s3cret-s3cret"})
    assert verifier.verify("POST", "/hook", environ_for(headers, BODY), BODY) == "key-1"


def test_a_header_named_type_is_still_a_header(sender):
    # Plain header mappings are not taken for a scope or an environ.
    headers = dict(sender.sign("POST", "/callbacks", BODY), type="http")
    assert ws.MessageVerifier([sender.address]).verify(headers, BODY).address == sender.address


def test_wsgi_body_bounds():
    assert ws.wsgi_body(environ_for({}, b"hello")) == b"hello"
    assert ws.wsgi_body({"wsgi.input": io.BytesIO(b"unread")}) == b""   # no length: empty
    with pytest.raises(ValueError, match="over the limit"):
        ws.wsgi_body(environ_for({}, b"x" * 11), max_size=10)
    with pytest.raises(ValueError, match="ended after 3 of 5"):
        ws.wsgi_body(environ_for({}, b"abc", CONTENT_LENGTH="5"))
    for bad in ("-1", "1e3", "0x10", "ten"):
        with pytest.raises(ValueError, match="Content-Length"):
            ws.wsgi_body(environ_for({}, b"", CONTENT_LENGTH=bad))
    chunked = {"wsgi.input": io.BytesIO(b"y" * 20), "wsgi.input_terminated": True}
    assert ws.wsgi_body(dict(chunked), max_size=20) == b"y" * 20
    chunked["wsgi.input"] = io.BytesIO(b"y" * 21)
    with pytest.raises(ValueError, match="over the limit of 20"):
        ws.wsgi_body(chunked, max_size=20)
    with pytest.raises(ValueError, match="max_size"):
        ws.wsgi_body({}, max_size=-1)


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_real_wsgi_server_round_trip(sender):
    """wsgiref serves an app that verifies the environ it is handed."""
    verifier = ws.MessageVerifier([sender.address])
    seen = []

    def app(environ, start_response):
        try:
            msg = verifier.verify(environ, ws.wsgi_body(environ))
            seen.append(msg)
            status, text = "200 OK", b"ok"
        except ws.SignatureError as err:
            status, text = "401 Unauthorized", err.reason.encode()
        start_response(status, [("Content-Type", "text/plain")])
        return [text]

    srv = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        headers = sender.sign("POST", "/callbacks", BODY)
        answers = []
        for _ in range(2):
            conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=10)
            conn.request("POST", "/callbacks", BODY, headers)
            resp = conn.getresponse()
            answers.append((resp.status, resp.read()))
            conn.close()
    finally:
        srv.shutdown()
        srv.server_close()
    assert answers == [(200, b"ok"), (401, b"replay")]
    assert len(seen) == 1 and seen[0].address == sender.address
