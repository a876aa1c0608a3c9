"""requests/httpx adapters against the mock server, redirects between two
local servers, and to_frame()."""

import asyncio
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import walletsign as ws
from tests.reference import walletref

requests = pytest.importorskip("requests")


def test_requests_hmac(server):
    auth = ws.requests_auth(ws.HmacAuth("test-api-key", "your-secret-key"))
    r = requests.get(server.url + "/v1/wallet/list", params={"skip": 1, "take": 3}, auth=auth,
                     timeout=10)
    assert r.status_code == 200 and len(r.json()["data"]) == 3
    r = requests.post(server.url + "/v1/wallet/create", json={"name": "caf\u00e9"}, auth=auth,
                      timeout=10)
    assert r.status_code == 200 and r.json()["name"] == "caf\u00e9"
    r = requests.post(server.url + "/v1/wallet/create", data='{"name": "str body \u2603"}',
                      auth=auth, timeout=10)
    assert r.status_code == 200
    assert [e["verified_by"] for e in server.log()] == ["hmac:test-api-key:base64"] * 3


def test_requests_halogen_jwt(server, p256_key, halogen_kid):
    auth = ws.requests_auth(ws.JwtAuth(p256_key, halogen_kid))
    r = requests.post(server.url + "/query", json={"name": "list_client_accounts",
                                                   "payload": {}}, auth=auth, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["asset"] == "MYR"


def test_requests_message(server):
    info = server.info
    auth = ws.requests_auth(ws.MessageAuth(ws.Key.from_hex(info["merchant_private_key_hex"])))
    r = requests.post(server.url + "/access/get_address",
                      json={"chain_type": "ETH", "chain_id": "1"}, auth=auth, timeout=10)
    assert r.status_code == 200 and ws.rpc_parse(r.content)["chain_type"] == "ETH"
    verifier = ws.MessageVerifier([info["wallet_manager_address"]])
    assert verifier.verify(r.headers, r.content).address == info["wallet_manager_address"]


def test_requests_refuses_streamed_bodies(server):
    auth = ws.requests_auth(ws.HmacAuth("test-api-key", "your-secret-key"))
    with pytest.raises(TypeError):
        requests.post(server.url + "/v1/wallet/create", data=iter([b"a", b"b"]), auth=auth,
                      timeout=10)


def test_httpx(server):
    httpx = pytest.importorskip("httpx")
    auth = ws.httpx_auth(ws.HmacAuth("test-api-key", "your-secret-key"))
    with httpx.Client(auth=auth, timeout=10) as client:
        r = client.get(server.url + "/v1/wallet/list", params={"take": 2})
        assert r.status_code == 200 and len(r.json()["data"]) == 2
        r = client.post(server.url + "/v1/wallet/create", json={"name": "x"})
        assert r.status_code == 200


@pytest.mark.parametrize("name,factory", [
    ("httpx", lambda: ws.httpx_auth(ws.HmacAuth("k", "s"))),
    ("requests", lambda: ws.requests_auth(ws.HmacAuth("k", "s"))),
    ("pandas", lambda: ws.to_frame([{"a": 1}])),
])
def test_missing_packages_are_named(monkeypatch, name, factory):
    monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, name + ".auth", None)
    with pytest.raises(ImportError) as info:
        factory()
    assert repr(name) in str(info.value)


def test_to_frame():
    pandas = pytest.importorskip("pandas")
    frame = ws.to_frame({"accounts": [{"id": "a", "x": {"y": 1}}, {"id": "b", "x": {"y": 2}}],
                         "asset": "MYR"})
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame["id"]) == ["a", "b"] and list(frame["x.y"]) == [1, 2]
    assert list(frame["asset"]) == ["MYR", "MYR"]        # top-level fields kept


def test_to_frame_keeps_top_level_fields_of_a_real_answer(server, p256_key, halogen_kid):
    pytest.importorskip("pandas")
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid)) as c:
        frame = ws.to_frame(c.query("list_client_accounts"))
    assert list(frame["id"]) == ["account_123", "account_456", "account_789"]
    assert set(frame["asset"]) == {"MYR"} and "amount" in frame and "canCreateAccount" in frame
    assert "accounts" not in frame


def test_to_frame_flattens_nested_lists():
    pytest.importorskip("pandas")
    result = {"asset": "MYR", "accounts": [
        {"id": "a", "holdings": [{"fund": "f1", "units": 1}, {"fund": "f2", "units": 2}]},
        {"id": "b", "holdings": [{"fund": "f1", "units": 3}]}]}
    frame = ws.to_frame(result, record_path=["accounts", "holdings"],
                        meta=["asset", ["accounts", "id"]])
    assert list(frame["fund"]) == ["f1", "f2", "f1"] and list(frame["units"]) == [1, 2, 3]
    assert list(frame["accounts.id"]) == ["a", "a", "b"] and set(frame["asset"]) == {"MYR"}
    rows = ws.to_frame(result["accounts"], record_path="holdings", meta=["id"])
    assert list(rows["id"]) == ["a", "a", "b"]


def test_to_frame_of_a_plain_result_is_one_row():
    pytest.importorskip("pandas")
    frame = ws.to_frame({"name": "x", "address": {"city": "KL"}})
    assert len(frame) == 1 and frame["address.city"][0] == "KL"


def test_reprs_show_settings_never_secrets(server, p256_key, halogen_kid):
    info = server.info
    verifier = ws.MessageVerifier([info["wallet_manager_address"]], window_ms=30000)
    assert repr(verifier) == "<walletsign.MessageVerifier trusted=1 replay=memory>"
    hmac = ws.HmacAuth("my-api-key", "c2VjcmV0LXNlY3JldA==")
    with ws.Client(server.url, hmac, timeout=3, rate_limit=(5, 2)) as c:
        text = repr(c)
        assert text == ("<walletsign.Client %r %r timeout=3 retries=3 rate_limit=(5, 2)>"
                        % (server.url, hmac))
        assert "c2VjcmV0" not in text
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid), rate_limit=None) as c:
        assert "rate_limit=None" in repr(c) and halogen_kid in repr(c)
        res = c.request("POST", "/query", json={"name": "list_client_accounts", "payload": {}})
    assert repr(res) == "<walletsign.Response 200, application/json, %d bytes, 1 attempt>" \
        % len(res.body)
    assert "Bearer" not in repr(res)


# ---------------------------------------------------------------- redirects
# Two servers on 127.0.0.1 (two ports: two origins). /to-other?status=N
# answers N to the other server's /landing, /to-same?status=N to its own
# /landing?hop=1, /bounce?status=N to the other's /to-other (and so back
# here); /landing records what arrived.

HMAC_NAMES = ("x-api-key", "x-timestamp", "x-signature")
MESSAGE_NAMES = ("x-message-address", "x-message-timestamp", "x-message-session",
                 "x-message-sequence", "x-message-signature")


class _Recorder(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _handle(self):
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        status = int(query.partition("status=")[2] or 0)
        targets = {"/to-other": srv.other.url + "/landing", "/to-same": "/landing?hop=1",
                   "/bounce": "%s/to-other?status=%d" % (srv.other.url, status)}
        if path in targets:
            srv.first.append((self.command, self.path, {k.lower(): v for k, v in
                                                        self.headers.items()}, body))
            where = targets[path]
            self.send_response(status)
            self.send_header("Location", where)
        else:
            srv.landed.append((self.command, self.path, {k.lower(): v for k, v in
                                                         self.headers.items()}, body))
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _handle


def _recorder():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    srv.url = "http://127.0.0.1:%d" % srv.server_address[1]
    srv.first, srv.landed = [], []
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv


@pytest.fixture
def origins():
    a, b = _recorder(), _recorder()
    a.other, b.other = b, a
    yield a, b
    for srv in (a, b):
        srv.shutdown()
        srv.server_close()


def _hmac_signer():
    return ws.HmacAuth("test-api-key", "your-secret-key")


MESSAGE_KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def _message_signer():
    return ws.MessageAuth(ws.Key.from_hex(MESSAGE_KEY_HEX))


SIGNERS = [(_hmac_signer, HMAC_NAMES), (_message_signer, MESSAGE_NAMES)]


def _assert_signed_hmac(record):
    """An independent check (Python's hmac) that a recorded request carries a
    fresh signature for its own method, path and body."""
    method, path, headers, body = record
    walletref.hmac_verify("your-secret-key", int(headers["x-timestamp"]), method, path, body,
                          headers["x-signature"], now_ms=int(time.time() * 1000))
    assert headers["x-api-key"] == "test-api-key"


def _send_requests(auth, url, status, **kw):
    return requests.post(url + "?status=%d" % status, data=b'{"amount":"1.5"}', auth=auth,
                         timeout=10, **kw)


def _assert_cross_origin_unsigned(a, b, names):
    assert [r[0] for r in b.landed] == ["POST"] and b.landed[0][3] == b'{"amount":"1.5"}'
    assert all(n in a.first[0][2] for n in names)      # the first request was signed
    assert [n for n in names if n in b.landed[0][2]] == []


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("signer,names", SIGNERS)
def test_requests_cross_origin_redirect_drops_signature(origins, signer, names, status):
    a, b = origins
    r = _send_requests(ws.requests_auth(signer()), a.url + "/to-other", status)
    assert r.status_code == 200 and r.history[0].status_code == status
    _assert_cross_origin_unsigned(a, b, names)
    assert all(n in r.history[0].request.headers for n in names)  # the record of what was sent


@pytest.mark.parametrize("status,method", [(307, "POST"), (303, "GET"), (302, "GET")])
def test_requests_same_origin_redirect_signed_afresh(origins, status, method):
    a, _ = origins
    r = _send_requests(ws.requests_auth(_hmac_signer()), a.url + "/to-same", status)
    assert r.status_code == 200
    (landed,) = a.landed
    assert landed[:2] == (method, "/landing?hop=1")
    assert landed[3] == (b'{"amount":"1.5"}' if method == "POST" else b"")
    _assert_signed_hmac(landed)
    _assert_signed_hmac(a.first[0])


def test_requests_redirect_back_to_origin_stays_unsigned(origins):
    a, b = origins
    r = _send_requests(ws.requests_auth(_hmac_signer()), a.url + "/bounce", 307)
    assert r.status_code == 200 and len(r.history) == 2
    assert [n for n in HMAC_NAMES if n in b.first[0][2]] == []
    assert a.landed[0][:2] == ("POST", "/landing")
    assert [n for n in HMAC_NAMES if n in a.landed[0][2]] == []


def test_requests_redirect_not_followed(origins):
    a, b = origins
    auth = ws.requests_auth(_hmac_signer())
    with requests.Session() as session:
        r = _send_requests(auth, a.url + "/to-other", 307, allow_redirects=False)
        assert r.status_code == 307 and r.next is not None
        assert [n for n in HMAC_NAMES if n in r.next.headers] == []
        session.send(r.next, timeout=10)
        r = _send_requests(auth, a.url + "/to-same", 307, allow_redirects=False)
        session.send(r.next, timeout=10)
    assert [n for n in HMAC_NAMES if n in b.landed[0][2]] == []
    _assert_signed_hmac(a.landed[0])


def _httpx():
    return pytest.importorskip("httpx")


def _send_httpx(client, url, status):
    return client.post(url + "?status=%d" % status, content=b'{"amount":"1.5"}')


@pytest.mark.parametrize("signer,names", SIGNERS)
def test_httpx_cross_origin_redirect_drops_signature(origins, signer, names):
    httpx = _httpx()
    a, b = origins
    auth = ws.httpx_auth(signer())
    with httpx.Client(auth=auth, follow_redirects=True, event_hooks=auth.event_hooks,
                      timeout=10) as client:
        r = _send_httpx(client, a.url + "/to-other", 307)
    assert r.status_code == 200 and [h.status_code for h in r.history] == [307]
    _assert_cross_origin_unsigned(a, b, names)


@pytest.mark.parametrize("status,method", [(307, "POST"), (303, "GET")])
def test_httpx_same_origin_redirect_signed_afresh(origins, status, method):
    httpx = _httpx()
    a, _ = origins
    auth = ws.httpx_auth(_hmac_signer())
    with httpx.Client(auth=auth, follow_redirects=True, event_hooks=auth.event_hooks,
                      timeout=10) as client:
        assert _send_httpx(client, a.url + "/to-same", status).status_code == 200
        assert _send_httpx(client, a.url + "/to-other", 200).status_code == 200  # no redirect
    assert [x[:2] for x in a.landed] == [(method, "/landing?hop=1")]
    _assert_signed_hmac(a.landed[0])
    _assert_signed_hmac(a.first[1])


def test_httpx_redirect_back_to_origin_stays_unsigned(origins):
    httpx = _httpx()
    a, b = origins
    auth = ws.httpx_auth(_hmac_signer())
    with httpx.Client(auth=auth, follow_redirects=True, event_hooks=auth.event_hooks,
                      timeout=10) as client:
        assert len(_send_httpx(client, a.url + "/bounce", 307).history) == 2
    assert [n for n in HMAC_NAMES if n in b.first[0][2]] == []
    assert a.landed[0][:2] == ("POST", "/landing")
    assert [n for n in HMAC_NAMES if n in a.landed[0][2]] == []


def test_httpx_async_redirects(origins):
    httpx = _httpx()
    a, b = origins
    auth = ws.httpx_auth(_hmac_signer())

    async def run():
        async with httpx.AsyncClient(auth=auth, follow_redirects=True, timeout=10,
                                     event_hooks=auth.async_event_hooks) as client:
            await client.post(a.url + "/to-other?status=307", content=b'{"amount":"1.5"}')
            await client.post(a.url + "/to-same?status=307", content=b'{"amount":"1.5"}')

    asyncio.run(run())
    _assert_cross_origin_unsigned(a, b, HMAC_NAMES)
    _assert_signed_hmac(a.landed[0])


def test_httpx_redirect_not_followed(origins):
    httpx = _httpx()
    a, b = origins
    auth = ws.httpx_auth(_hmac_signer())
    with httpx.Client(auth=auth, timeout=10) as client:
        r = _send_httpx(client, a.url + "/to-other", 307)
        assert r.status_code == 307
        assert [n for n in HMAC_NAMES if n in r.next_request.headers] == []
        client.send(r.next_request)  # through the same auth: still not signed for b
        r = _send_httpx(client, a.url + "/to-same", 307)
        _assert_signed_hmac((r.next_request.method, r.next_request.url.raw_path.decode(),
                             r.next_request.headers, r.next_request.content))
        client.send(r.next_request)
    assert [n for n in HMAC_NAMES if n in b.landed[0][2]] == []
    _assert_signed_hmac(a.landed[0])


def test_httpx_followed_redirect_without_hooks_is_refused(origins):
    httpx = _httpx()
    a, _ = origins
    with httpx.Client(auth=ws.httpx_auth(_hmac_signer()), follow_redirects=True,
                      timeout=10) as client:
        with pytest.raises(RuntimeError, match="event_hooks"):
            _send_httpx(client, a.url + "/to-same", 307)
