"""requests/httpx adapters against the mock server, and to_frame()."""

import sys

import pytest

import walletsign as ws

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
