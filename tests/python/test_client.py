"""Client against the mock server (tests/mock_server): every call path,
every fault mapped to its exception, retries, rate limiting, timeouts, TLS."""

import gc
import hashlib
import json
import os
import sys
import re
import threading
import time

import pytest

import walletsign as ws
from tests.mock_server import MockServer

QUERY_NAME = "list_client_accounts"


@pytest.fixture
def halogen(server, p256_key, halogen_kid):
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid)) as client:
        yield client


@pytest.fixture
def hmac_client(server):
    info = server.info
    with ws.Client(server.url, ws.HmacAuth(info["hmac_api_key"], info["hmac_secret"])) as client:
        yield client


@pytest.fixture
def merchant(server):
    info = server.info
    auth = ws.MessageAuth(ws.Key.from_hex(info["merchant_private_key_hex"]))
    verifier = ws.MessageVerifier([info["wallet_manager_address"]])
    with ws.Client(server.url, auth, response_verifier=verifier) as client:
        yield client


def attempts(server, path):
    return [e for e in server.log() if e["path"] == path]


# ---------------------------------------------------------------- Halogen

def test_query_and_command(server, halogen):
    result = halogen.query(QUERY_NAME)
    assert {a["id"] for a in result["accounts"]} == {"account_123", "account_456", "account_789"}
    assert halogen.query(QUERY_NAME, {"accountIds": ["account_789"]})["accounts"][0]["id"] == \
        "account_789"
    out = halogen.command("create_investment_request",
                          {"accountId": "account_123", "fundId": "fund_abc", "amount": 100.5})
    assert out["requestId"].startswith("req_")
    log = server.log()
    assert [e["path"] for e in log] == ["/query", "/query", "/command"]
    assert all(e["verified_by"].startswith("jwt:ES256:der:") for e in log)
    assert log[0]["headers"]["User-Agent"].startswith("walletsign/%s (python)" % ws.__version__)


def test_body_is_compact_json_signed_as_sent(server, halogen):
    payload = {"accountIds": ["account_123"], "note": "caf\u00e9", "big": 2 ** 70}
    with pytest.raises(ws.BadRequest):      # the mock refuses the extra fields...
        halogen.query("get_fund", payload)
    entry = server.log()[-1]                # ...but it verified the exact bytes first
    body = json.dumps({"name": "get_fund", "payload": payload}, separators=(",", ":"),
                      ensure_ascii=False).encode()
    assert entry["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert entry["verified_by"] is not None


def test_payload_as_raw_json_bytes(server, halogen):
    result = halogen.query(QUERY_NAME, b'{"accountIds":["account_123"]}')
    assert [a["id"] for a in result["accounts"]] == ["account_123"]
    with pytest.raises(ValueError):          # the core insists on a JSON object
        halogen.query(QUERY_NAME, b"[1,2]")
    with pytest.raises(ValueError):          # NaN is not JSON
        halogen.query(QUERY_NAME, {"x": float("nan")})
    with pytest.raises(TypeError):
        halogen.query(QUERY_NAME, {"x": object()})


@pytest.mark.parametrize("call,exc,status,code", [
    (("query", "get_fund", {"fundId": 7}), ws.BadRequest, 400, "ErrInvalidParameter"),
    (("query", "get_fund", {"fundId": "fund_nope"}), ws.NotFound, 404, "ErrMissingResource"),
    (("command", "create_request_cancellation",
      {"accountId": "account_123", "requestId": "req_cancelled"}), ws.Gone, 410,
     "ErrCancelledRequest"),
    (("command", "create_deposit_request", {"accountId": "account_456", "amount": 5}),
     ws.PreconditionFailed, 412, "ErrActionNotAllowedForAccountType"),
])
def test_api_errors(server, halogen, call, exc, status, code):
    method, name, payload = call
    with pytest.raises(exc) as info:
        getattr(halogen, method)(name, payload)
    err = info.value
    assert isinstance(err, ws.ApiError) and isinstance(err, ws.Error)
    assert (err.status, err.code) == (status, code)
    assert json.loads(err.body)["code"] == code
    assert code in str(err) and str(status) in str(err)
    assert err.message


def test_unauthorized_and_forbidden(server, p256_key):
    with ws.Client(server.url, ws.JwtAuth(p256_key, "unknown-kid")) as client:
        with pytest.raises(ws.Unauthorized) as info:
            client.query(QUERY_NAME)
    assert info.value.code == "ErrInvalidAuthToken" and info.value.status == 401
    reader = ws.Key.generate("P-256")
    kid = server.register_csr(reader.csr("/CN=reader").encode(), scope="query")
    with ws.Client(server.url, ws.JwtAuth(reader, kid)) as client:
        client.query(QUERY_NAME)
        with pytest.raises(ws.Forbidden) as info:
            client.command("update_display_currency", {"displayCurrency": "USD"})
    assert info.value.status == 403


def test_rs256_and_raw_es256_clients(server):
    rsa = ws.Key.load(os.path.join(os.path.dirname(__file__), "..", "vectors", "keys",
                                   "rsa4096_pkcs8.pem"))
    kid = server.register_public_key(rsa.public_pem().encode())
    with ws.Client(server.url, ws.JwtAuth(rsa, kid)) as client:
        assert client.query(QUERY_NAME)["asset"] == "MYR"
    p256 = ws.Key.generate("P-256")
    kid = server.register_public_key(p256.public_pem().encode())
    with ws.Client(server.url, ws.JwtAuth(p256, kid, signature_format="raw")) as client:
        client.query(QUERY_NAME)
    assert [e["verified_by"].split(":")[1:3] for e in server.log()] == [["RS256", "pkcs1"],
                                                                        ["ES256", "raw"]]


def test_429_is_retried_after_retry_after(server, halogen):
    server.queue_faults("/query", ["status:429:retry_after=1"])
    started = time.monotonic()
    assert halogen.query(QUERY_NAME)["asset"] == "MYR"
    assert time.monotonic() - started >= 0.9
    log = attempts(server, "/query")
    assert [e["status"] for e in log] == [429, 200]
    assert log[0]["headers"]["Authorization"] != log[1]["headers"]["Authorization"]


def test_429_http_date_retry_after(server, halogen):
    server.queue_faults("/query", ["status:429:retry_after_date=1"])
    assert halogen.query(QUERY_NAME)
    assert [e["status"] for e in attempts(server, "/query")] == [429, 200]


def test_429_gives_up_after_bounded_attempts(server, halogen):
    server.queue_faults("/query", ["status:429:retry_after=0"] * 6)
    with pytest.raises(ws.RateLimited) as info:
        halogen.query(QUERY_NAME)
    assert info.value.status == 429 and info.value.retry_after == 0.0
    assert len(attempts(server, "/query")) == 5


def test_429_longer_than_the_cap_is_not_waited_for(server, halogen):
    server.queue_faults("/command", ["status:429:retry_after=120"])
    started = time.monotonic()
    with pytest.raises(ws.RateLimited) as info:
        halogen.command("update_display_currency", {"displayCurrency": "USD"})
    assert time.monotonic() - started < 5
    assert info.value.retry_after == 120.0
    # The fields of a failure: the same names and values in Lua and the CLI.
    err = info.value
    assert (err.kind, err.http_status, err.code, err.retry_after) == \
        ("http_error", 429, "ErrRateLimitExceeded", 120.0)
    assert (err.rpc_code, err.curl_code, err.reason, err.location, err.data) == (None,) * 5
    assert json.loads(err.body)["code"] == "ErrRateLimitExceeded"
    assert err.message.startswith("HTTP 429") and err.status == 429  # the deprecated alias


def test_5xx_on_query_is_retried(server, halogen):
    server.queue_faults("/query", ["status:503", "status:500"])
    assert halogen.query(QUERY_NAME)
    assert [e["status"] for e in attempts(server, "/query")] == [503, 500, 200]


def test_5xx_gives_up(server, p256_key, halogen_kid):
    server.queue_faults("/query", ["status:502"] * 3)
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid), retries=2) as client:
        with pytest.raises(ws.ServerError) as info:
            client.query(QUERY_NAME)
    assert info.value.status == 502
    assert len(attempts(server, "/query")) == 3


def test_retries_zero_disables_retry(server, p256_key, halogen_kid):
    server.queue_faults("/query", ["status:503"])
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid), retries=0) as client:
        with pytest.raises(ws.ServerError):
            client.query(QUERY_NAME)
    assert len(attempts(server, "/query")) == 1


def test_command_500_is_not_retried_without_idempotency_key(server, halogen):
    server.queue_faults("/command", ["status:500", "status:500"])
    with pytest.raises(ws.ServerError) as info:
        halogen.command("update_display_currency", {"displayCurrency": "USD"})
    assert info.value.status == 500
    assert len(attempts(server, "/command")) == 1


def test_command_with_idempotency_key_is_retried(server, halogen):
    server.queue_faults("/command", ["status:500", "status:503"])
    out = halogen.command("create_deposit_request", {"accountId": "account_123", "amount": 10},
                          idempotency_key="dep-0001")
    assert out["requestId"].startswith("req_")
    log = attempts(server, "/command")
    assert len(log) == 3
    assert {e["headers"]["Idempotency-Key"] for e in log} == {"dep-0001"}
    assert len({e["headers"]["Authorization"] for e in log}) == 3     # re-signed each time


def test_command_transport_failure_is_not_retried(server, halogen):
    server.queue_faults("/command", ["drop", "drop"])
    with pytest.raises(ws.TransportError) as info:
        halogen.command("update_display_currency", {"displayCurrency": "USD"})
    assert not isinstance(info.value, ws.Timeout)
    assert info.value.curl_code == 52                    # CURLE_GOT_NOTHING
    assert len(attempts(server, "/command")) == 1


# libcurl would silently resend a request whose reused connection died without
# an answer; the core aborts that resend and decides itself (re-signed, and only
# for requests that are safe to repeat).
def test_command_is_not_resent_on_a_reused_connection(server, halogen):
    halogen.command("update_display_currency", {"displayCurrency": "USD"})   # warm connection
    server.clear_log()
    server.queue_faults("/command", ["drop"])
    with pytest.raises(ws.TransportError):
        halogen.command("update_display_currency", {"displayCurrency": "MYR"})
    assert len(attempts(server, "/command")) == 1


def test_query_retry_after_drop_on_a_reused_connection_is_resigned(server, halogen):
    halogen.query(QUERY_NAME)                                                # warm connection
    server.clear_log()
    server.queue_faults("/query", ["drop"])
    assert halogen.query(QUERY_NAME)["asset"] == "MYR"
    log = attempts(server, "/query")
    assert len({e["headers"]["Authorization"] for e in log}) == len(log) == 2


@pytest.mark.parametrize("fault", ["reset_mid_body", "truncate"])
def test_broken_answers_are_transport_errors(server, halogen, fault):
    server.queue_faults("/command", [fault])
    with pytest.raises(ws.TransportError) as info:
        halogen.command("update_display_currency", {"displayCurrency": "USD"})
    assert info.value.curl_code


def test_non_json_answer_is_a_protocol_error(server, halogen):
    server.queue_faults("/command", ["nonjson"])
    with pytest.raises(ws.ProtocolError):
        halogen.command("update_display_currency", {"displayCurrency": "USD"})


def test_huge_answer_is_refused(server, halogen):
    server.queue_faults("/command", ["huge:%d" % (17 << 20)])
    with pytest.raises(ws.ProtocolError):
        halogen.command("update_display_currency", {"displayCurrency": "USD"})


def test_timeout(server, p256_key, halogen_kid):
    server.queue_faults("/query", ["delay:1500"])
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid), timeout=0.3,
                   retries=0) as client:
        started = time.monotonic()
        with pytest.raises(ws.Timeout) as info:
            client.query(QUERY_NAME)
    assert time.monotonic() - started < 1.2
    assert isinstance(info.value, ws.TransportError) and info.value.curl_code == 28


def test_connection_refused(p256_key):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with ws.Client("http://127.0.0.1:%d" % port, ws.JwtAuth(p256_key, "k"), retries=0) as client:
        with pytest.raises(ws.TransportError) as info:
            client.query(QUERY_NAME)
    assert info.value.curl_code == 7                     # CURLE_COULDNT_CONNECT
    assert info.value.kind == "transport_error" and info.value.http_status is None
    assert (info.value.code, info.value.body, info.value.retry_after) == (None, None, None)


def test_client_rate_limit_paces_requests(server, p256_key, halogen_kid):
    """Limiter on (10/s, burst 10): 15 calls take >= 0.5 s; off: no pacing."""
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid)) as client:
        started = time.monotonic()
        for _ in range(15):
            client.query(QUERY_NAME)
        assert time.monotonic() - started >= 0.45
    server.reset()
    with ws.Client(server.url, ws.HmacAuth("test-api-key", "your-secret-key"),
                   rate_limit=None) as client:
        started = time.monotonic()
        for _ in range(15):
            assert client.request("GET", "/v1/wallet/list?take=1").status == 200
        assert time.monotonic() - started < 0.45
    with ws.Client(server.url, ws.HmacAuth("test-api-key", "your-secret-key"),
                   rate_limit=(100, 2)) as client:
        started = time.monotonic()
        for _ in range(12):
            client.request("GET", "/v1/wallet/list?take=1")
        assert time.monotonic() - started >= 0.09


def test_client_rate_limit_avoids_429(server, p256_key, halogen_kid):
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid)) as client:
        for _ in range(15):
            client.query(QUERY_NAME)
    assert [e["status"] for e in attempts(server, "/query")] == [200] * 15


# ---------------------------------------------------------------- request()

def test_request_returns_any_status(server, halogen):
    resp = halogen.request("POST", "/query", json={"name": QUERY_NAME, "payload": {}})
    assert isinstance(resp, ws.Response) and resp.status == 200 and resp.ok
    assert resp.headers["content-type"] == "application/json"
    assert all(name == name.lower() for name in resp.headers)
    assert isinstance(resp.body, bytes) and resp.json()["asset"] == "MYR"
    assert resp.attempts == 1
    entry = server.log()[-1]
    assert entry["headers"]["Content-Type"] == "application/json"
    resp = halogen.request("POST", "/query", json={"name": QUERY_NAME, "payload": {}},
                           headers={"content-type": "application/json; charset=utf-8"})
    assert resp.status == 200
    sent = {k.lower(): v for k, v in server.log()[-1]["headers"].items()}
    assert sent["content-type"] == "application/json; charset=utf-8"
    resp = halogen.request("POST", "/query", body=b'{"name":"nope","payload":{}}',
                           headers={"X-Trace": "abc"})
    assert resp.status == 400 and not resp.ok and resp.json()["code"] == "ErrInvalidParameter"
    assert server.log()[-1]["headers"]["X-Trace"] == "abc"
    resp = halogen.request("GET", "/query")
    assert resp.status == 405 and resp.headers["allow"] == "POST"


def test_request_argument_errors(halogen):
    with pytest.raises(TypeError):
        halogen.request("POST", "/query", json={}, body=b"{}")
    with pytest.raises(ValueError):
        halogen.request("GET", "/query", headers={"X-Evil": "a\r\nInjected: 1"})
    with pytest.raises(ValueError):
        halogen.request("GET", "no-leading-slash")
    with pytest.raises(TypeError):
        halogen.request("GET", "/query", headers=42)


def test_hmac_client(server, hmac_client):
    resp = hmac_client.request("GET", "/v1/wallet/list?skip=0&take=5&orderBy=asc")
    assert resp.status == 200
    assert len(resp.json()["data"]) == 5
    assert server.log()[-1]["verified_by"] == "hmac:test-api-key:base64"
    resp = hmac_client.request("POST", "/v1/wallet/create", json={"name": "savings"})
    assert resp.status == 200 and resp.json()["name"] == "savings"
    with ws.Client(server.url, ws.HmacAuth("test-api-key", "wrong secret")) as client:
        resp = client.request("GET", "/v1/wallet/list")
    assert resp.status == 401 and resp.json()["reason"] == "bad_signature"


# ---------------------------------------------------------------- Wallet Manager

def test_call_paths(server, merchant):
    out = merchant.call("POST", "/access/get_address", {"chain_type": "ETH", "chain_id": "1",
                                                        "user_id": "u-1"})
    assert out["chain_type"] == "ETH" and out["address"].startswith("0x")
    out = merchant.call("POST", "/access/batch_withdraw", {
        "chain_type": "ETH", "chain_id": 1,
        "withdraws": [{"to": "0x" + "11" * 20, "amount": "1.25", "request_id": "w1"}]})
    assert out["withdraws"][0]["status"] == "pending"
    tx = "0x" + "ab" * 32
    out = merchant.call("GET", "/access/ETH/1/transfer/hash/%s/deposit" % tx)
    assert out["tx_hash"] == tx and out["confirmations"] == 12
    assert all(e["verified_by"].startswith("message:") for e in server.log())


def test_rpc_errors(server, merchant):
    with pytest.raises(ws.RpcError) as info:
        merchant.call("GET", "/access/ETH/1/transfer/hash/0x%s/deposit" % ("00" * 32))
    err = info.value
    assert (err.kind, err.rpc_code, err.code, err.message, err.data) == \
        ("rpc_error", 24, "24", "Not found", {"tx_hash": "0x" + "00" * 32})
    assert str(err) == "RPC error 24: Not found"
    assert isinstance(err, ws.Error)
    with pytest.raises(ws.RpcError) as info:
        merchant.call("POST", "/access/batch_withdraw", {
            "chain_type": "ETH", "chain_id": 1,
            "withdraws": [{"to": "0x" + "11" * 20, "amount": "2000000"}]})
    assert info.value.rpc_code == 31 and info.value.data == {"total": "2000000"}
    with pytest.raises(ws.RpcError) as info:
        merchant.call("POST", "/access/get_address", {"chain_type": "ETH"})
    assert info.value.rpc_code == 21 and info.value.data == {"field": "chain_id"}


def test_untrusted_merchant_gets_401(server):
    stranger = ws.MessageAuth(ws.Key.generate("secp256k1"))
    with ws.Client(server.url, stranger) as client:
        with pytest.raises(ws.RpcError) as info:
            client.call("POST", "/access/get_address", {"chain_type": "ETH", "chain_id": "1"})
    assert info.value.rpc_code == 401 and info.value.http_status == 401
    assert info.value.data == {"reason": "untrusted_address"}


def test_response_verifier_rejects_an_untrusted_server(server):
    info = server.info
    auth = ws.MessageAuth(ws.Key.from_hex(info["merchant_private_key_hex"]))
    wrong = ws.MessageVerifier([ws.Key.generate("secp256k1").address])
    with ws.Client(server.url, auth, response_verifier=wrong) as client:
        with pytest.raises(ws.SignatureError) as err:
            client.call("POST", "/access/get_address", {"chain_type": "ETH", "chain_id": "1"})
    assert err.value.reason == "untrusted_address"
    assert err.value.status == 200          # the HTTP answer that failed verification


# ---------------------------------------------------------------- lifecycle, options

def test_client_outlives_its_verifier_and_auth_objects(server):
    """The core client keeps its own references: the Python objects may go."""
    info = server.info
    auth = ws.MessageAuth(ws.Key.from_hex(info["merchant_private_key_hex"]))
    wm = ws.MessageVerifier([info["wallet_manager_address"]])
    wrong = ws.MessageVerifier([ws.Key.generate("secp256k1").address])
    before = sys.getrefcount(wm)
    good = ws.Client(server.url, auth, response_verifier=wm)
    assert sys.getrefcount(wm) == before      # no Python reference kept: the core holds one
    bad = ws.Client(server.url, auth, response_verifier=wrong)
    del auth, wm, wrong
    gc.collect()
    params = {"chain_type": "ETH", "chain_id": "1"}
    with good, bad:
        assert good.call("POST", "/access/get_address", params)["chain_type"] == "ETH"
        with pytest.raises(ws.SignatureError) as err:
            bad.call("POST", "/access/get_address", params)
        assert err.value.reason == "untrusted_address"   # the verifier is still the one given


def test_close_and_context_manager(server, p256_key, halogen_kid):
    client = ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid))
    assert not client.closed and client.base_url == server.url
    assert isinstance(client.auth, ws.JwtAuth)
    assert server.url in repr(client)
    client.close()
    client.close()
    assert client.closed and "closed" in repr(client)
    with pytest.raises(ValueError):
        client.query(QUERY_NAME)
    with pytest.raises(ValueError):
        with client:
            pass
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid)) as client:
        client.query(QUERY_NAME)
    assert client.closed


def test_constructor_arguments(p256_key):
    auth = ws.JwtAuth(p256_key, "k")
    with pytest.raises(TypeError):
        ws.Client("http://127.0.0.1:1", "not an auth")
    with pytest.raises(ValueError):
        ws.Client("ftp://example.com", auth)
    with pytest.raises(TypeError):
        ws.Client(b"http://127.0.0.1:1", auth)
    with pytest.raises(TypeError):
        ws.Client("http://127.0.0.1:1", auth, rate_limit=10)
    with pytest.raises(ValueError):
        ws.Client("http://127.0.0.1:1", auth, rate_limit=(10, 0.5))
    with pytest.raises(TypeError):
        ws.Client("http://127.0.0.1:1", auth, verify=1)
    with pytest.raises(ValueError, match="timeout"):
        ws.Client("http://127.0.0.1:1", auth, timeout=-1)    # it was 10 s in the core
    with pytest.raises(ValueError, match="timeout"):
        ws.Client("http://127.0.0.1:1", auth, timeout=float("nan"))
    with pytest.raises(ValueError):
        ws.Client("http://127.0.0.1:1", auth, retries=-1)
    with pytest.raises(TypeError):
        ws.Client("http://127.0.0.1:1", auth, response_verifier=object())
    with pytest.raises(TypeError):
        ws.Client("http://127.0.0.1:1", auth, 5.0)           # options are keyword-only
    with pytest.raises(ValueError):
        ws.Client("http://127.0.0.1:1", auth, user_agent="x\r\ny")
    ws.Client("http://127.0.0.1:1", auth, rate_limit=None, verify=False, retries=5,
              user_agent="my-app/1.0").close()


def test_user_agent(server, p256_key, halogen_kid):
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid), user_agent="my-app/2.0") as c:
        c.query(QUERY_NAME)
    assert server.log()[-1]["headers"]["User-Agent"] == "my-app/2.0"


def test_from_env(server, p256_key, halogen_kid, tmp_path, monkeypatch):
    for name in ("HALOGEN_WALLET_PRIVATE_KEY_PEM", "HALOGEN_WALLET_PRIVATE_KEY_PATH",
                 "HALOGEN_WALLET_PRIVATE_KEY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HALOGEN_WALLET_KEY_ID", halogen_kid)
    monkeypatch.setenv("WALLETSIGN_BASE_URL", server.url)
    monkeypatch.setenv("HALOGEN_WALLET_PRIVATE_KEY_PEM", p256_key.private_pem())
    with ws.Client.from_env() as client:
        assert client.query(QUERY_NAME)["asset"] == "MYR"
        assert client.auth.key_id == halogen_kid
    # A .env-style one-line PEM with literal \n.
    monkeypatch.setenv("HALOGEN_WALLET_PRIVATE_KEY_PEM", p256_key.private_pem().replace("\n", "\\n"))
    with ws.Client.from_env(timeout=5.0) as client:
        client.query(QUERY_NAME)
    monkeypatch.delenv("HALOGEN_WALLET_PRIVATE_KEY_PEM")
    path = tmp_path / "halogen.pem"
    p256_key.save(path, password="pw")
    monkeypatch.setenv("HALOGEN_WALLET_PRIVATE_KEY_PATH", str(path))
    monkeypatch.setenv("HALOGEN_WALLET_PRIVATE_KEY_PASSWORD", "pw")
    with ws.Client.from_env() as client:
        client.query(QUERY_NAME)
    env = {"HALOGEN_WALLET_KEY_ID": halogen_kid, "WALLETSIGN_BASE_URL": server.url,
           "HALOGEN_WALLET_PRIVATE_KEY_PEM": p256_key.private_pem()}
    with ws.Client.from_env(env) as client:
        client.query(QUERY_NAME)
    with pytest.raises(ValueError):
        ws.Client.from_env({"HALOGEN_WALLET_KEY_ID": "k"})
    with pytest.raises(ValueError):
        ws.Client.from_env({})
    client = ws.Client.from_env({"HALOGEN_WALLET_KEY_ID": "k",
                                 "HALOGEN_WALLET_PRIVATE_KEY_PEM": p256_key.private_pem()})
    assert client.base_url == ws.DEFAULT_BASE_URL == "https://external-api.wallet.halogen.my"
    client.close()


def test_default_base_url_is_the_cores():
    from walletsign import _walletsign
    # One definition, WSIG_HALOGEN_BASE_URL in walletsign.h; Python only re-exports it.
    assert ws.DEFAULT_BASE_URL is _walletsign.HALOGEN_BASE_URL
    assert ws.DEFAULT_BASE_URL == "https://external-api.wallet.halogen.my"


# ---------------------------------------------------------------- threads

def test_one_client_shared_by_threads_is_serialised(server, hmac_client):
    errors, statuses = [], []

    def worker():
        try:
            for _ in range(5):
                statuses.append(hmac_client.request("GET", "/v1/wallet/list?take=1").status)
        except Exception as exc:   # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and statuses == [200] * 20


def test_http_releases_the_gil(server, p256_key, halogen_kid):
    server.queue_faults("/query", ["delay:600"])
    done = threading.Event()

    def slow():
        with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid)) as client:
            client.query(QUERY_NAME)
        done.set()
    t = threading.Thread(target=slow)
    t.start()
    ticks = 0
    while not done.is_set():
        ticks += 1
        time.sleep(0.01)
    t.join()
    assert ticks >= 20            # the main thread kept running during the request


def test_eight_threads_on_eight_clients_run_in_parallel(server, p256_key, halogen_kid):
    """The server holds each of 8 queries for 300 ms. Eight threads with a
    client each finish together (~0.3 s); serialised (the GIL or a shared
    lock held through the request) they would take 2.4 s."""
    server.queue_faults("/query", ["delay:300"] * 8)
    clients = [ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid)) for _ in range(8)]
    start = threading.Barrier(9)
    answers, errors = [], []

    def run(client):
        start.wait()
        try:
            answers.append(client.query(QUERY_NAME))
        except Exception as e:  # reported below, not lost in the thread
            errors.append(e)
    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.close()
    assert not errors and len(answers) == 8
    assert elapsed < 1.2, "8 parallel 300 ms queries took %.2f s" % elapsed


# ---------------------------------------------------------------- TLS

@pytest.fixture(scope="module")
def tls_server():
    srv = MockServer(tls=True).start()
    yield srv
    srv.stop()


def tls_client(srv, **kw):
    info = srv.info
    return ws.Client(srv.url, ws.HmacAuth(info["hmac_api_key"], info["hmac_secret"]), **kw)


def test_tls_with_the_mock_ca(tls_server):
    assert tls_server.url.startswith("https://")
    with tls_client(tls_server, verify=tls_server.ca_file) as client:
        assert client.request("GET", "/v1/wallet/list?take=1").status == 200


def test_tls_without_the_ca_is_refused(tls_server):
    with tls_client(tls_server, retries=0) as client:
        with pytest.raises(ws.TransportError) as info:
            client.request("GET", "/v1/wallet/list")
    assert info.value.curl_code == 60             # CURLE_PEER_FAILED_VERIFICATION


def test_tls_verify_false_is_an_explicit_opt_out(tls_server):
    with tls_client(tls_server, verify=False) as client:
        assert client.request("GET", "/v1/wallet/list?take=1").status == 200


@pytest.mark.parametrize("mode", ["wrong_host", "expired"])
def test_tls_bad_certificates_are_refused(mode):
    with MockServer(tls=True, cert_mode=mode) as srv:
        with tls_client(srv, verify=srv.ca_file, retries=0) as client:
            with pytest.raises(ws.TransportError):
                client.request("GET", "/v1/wallet/list")


# ---------------------------------------------------------------- what is signed is sent

INJECTED_METHOD = "GET /evil HTTP/1.1\r\nX-Injected: yes\r\nX-Pad:"


@pytest.fixture
def unverified_merchant(server):
    info = server.info
    auth = ws.MessageAuth(ws.Key.from_hex(info["merchant_private_key_hex"]))
    with ws.Client(server.url, auth) as client:
        yield client


def test_a_method_that_is_not_a_token_is_refused(server, halogen, unverified_merchant, p256_key):
    for client in (halogen, unverified_merchant):
        with pytest.raises(ValueError, match="method"):
            client.request(INJECTED_METHOD, "/query")
        with pytest.raises(ValueError, match="method"):
            client.call(INJECTED_METHOD, "/access/get_address")
    assert server.log() == []
    auths = [ws.JwtAuth(p256_key, "kid"), ws.HmacAuth("k", "s"),
             ws.MessageAuth(ws.Key.generate("secp256k1"))]
    for auth in auths:
        for method in (INJECTED_METHOD, "GET ", "G\tET", ""):
            with pytest.raises(ValueError, match="method"):
                auth.sign(method, "/query", b"")
        assert auth.sign("PATCH", "/query", b"")


def test_a_lower_case_method_is_signed_and_sent_upper_case(server, hmac_client):
    """hmac signs the method upper-cased: "get" goes out as GET, so the
    mock (which verifies with Python's hmac) accepts it."""
    r = hmac_client.request("get", "/v1/wallet/list?skip=0&take=1&orderBy=asc")
    assert r.status == 200
    assert [e["method"] for e in server.log()] == ["GET"]


@pytest.mark.parametrize("path", ["/v1/./wallet/list", "/v1/x/../wallet/list",
                                  "/v1//wallet/list?", "/v1/wallet/%2e%2e/list"])
def test_the_request_target_is_the_signed_path(server, hmac_client, path):
    resp = hmac_client.request("GET", path)
    entry = server.log()[-1]
    assert entry["target"] == path
    assert entry["verified_by"] == "hmac:test-api-key:base64"     # signed == sent
    assert resp.status == 404                                      # and no such route


@pytest.mark.parametrize("path", ["/v1/wallet/list#top", "/v1/wallet/list?x=1#", "/a b"])
def test_a_path_that_cannot_be_sent_as_signed_is_refused(server, hmac_client, path):
    with pytest.raises(ValueError, match="path"):
        hmac_client.request("GET", path)
    assert server.log() == []


@pytest.mark.parametrize("client_name,header", [
    ("halogen", "Authorization"), ("halogen", "authorization"),
    ("hmac_client", "X-API-Key"), ("hmac_client", "x-signature"), ("hmac_client", "X-Timestamp"),
    ("unverified_merchant", "X-Message-Signature"), ("unverified_merchant", "x-message-session"),
    ("halogen", "Content-Length"), ("hmac_client", "Host"),
    ("unverified_merchant", "Transfer-Encoding"),
])
def test_extra_headers_cannot_shadow_the_signature(request, server, client_name, header):
    client = request.getfixturevalue(client_name)
    with pytest.raises(ValueError, match=header):
        client.request("POST", "/query", body=b"{}", headers={header: "7"})
    assert server.log() == []


@pytest.mark.parametrize("headers", [
    {"X-Request-Id": "abc\0def"}, {"X-Request\0-Id": "abc"}, [(b"X-Request-Id", b"abc\0")],
])
def test_a_nul_in_an_extra_header_is_refused_before_sending(server, hmac_client, headers):
    # The core's rule (WSIG_ERR_ARG), never a header cut at the NUL.
    with pytest.raises(ValueError, match="NUL"):
        hmac_client.request("POST", "/query", body=b"{}", headers=headers)
    with pytest.raises(ValueError, match="NUL"):
        hmac_client.request("POST", "/query", json={}, headers=headers)
    assert server.log() == []


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_error_with_its_location(server, halogen, unverified_merchant, code):
    calls = [lambda: halogen.query(QUERY_NAME, {}),
             lambda: halogen.command("update_display_currency", {"displayCurrency": "USD"}),
             lambda: unverified_merchant.call("POST", "/access/get_address", {})]
    for path, call in zip(["/query", "/command", "/access/get_address"], calls):
        server.queue_faults(path, ["redirect:%d" % code])
        with pytest.raises(ws.Redirect) as info:
            call()
        err = info.value
        assert isinstance(err, ws.ApiError) and err.status == code
        assert err.location == "https://elsewhere.example/moved"
        assert err.body == b'{"status":"COMPLETED"}'
    server.queue_faults("/query", ["redirect:%d" % code])
    resp = halogen.request("POST", "/query", json={"name": QUERY_NAME, "payload": {}})
    assert resp.status == code and resp.headers["location"] == "https://elsewhere.example/moved"


def test_response_verifier_applies_to_every_call(server, p256_key, halogen_kid):
    info = server.info
    wm = ws.MessageVerifier([info["wallet_manager_address"]])
    auth = ws.MessageAuth(ws.Key.from_hex(info["merchant_private_key_hex"]))
    with ws.Client(server.url, auth, response_verifier=wm) as client:
        resp = client.request("POST", "/access/get_address",
                              json={"chain_type": "ETH", "chain_id": "1"})
        assert resp.status == 200 and resp.json()["result"]["chain_type"] == "ETH"
        server.queue_faults("/access/get_address", ["status:503"])
        with pytest.raises(ws.SignatureError) as info_:
            client.request("POST", "/access/get_address", json={})
        assert info_.value.reason == "missing_header" and info_.value.status == 503
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid), response_verifier=wm) as client:
        for call in (lambda: client.query(QUERY_NAME, {}),
                     lambda: client.command("update_display_currency", {"displayCurrency": "USD"}),
                     lambda: client.request("POST", "/query",
                                            json={"name": QUERY_NAME, "payload": {}})):
            with pytest.raises(ws.SignatureError) as info_:
                call()                      # Halogen's answers carry no X-Message-* signature
            assert info_.value.reason == "missing_header" and info_.value.status == 200


# ---------------------------------------------------------------- clock skew in 401s

@pytest.mark.parametrize("server_offset_s, words", [
    (-120, "ahead of"),     # the server is behind: our iat is in its future
    (120, "behind"),        # the server is ahead: our token has expired for it
])
def test_a_401_from_a_skewed_clock_says_by_how_much(server, p256_key, halogen_kid,
                                                    server_offset_s, words):
    server.app.clock.offset_ms = server_offset_s * 1000
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid)) as c:
        with pytest.raises(ws.Unauthorized) as info:
            c.query("list_client_accounts")
    msg = str(info.value)
    m = re.search(r"your clock is (\d+) s (ahead of|behind) the server's \(its Date: ", msg)
    assert m, msg
    assert abs(int(m.group(1)) - 120) <= 2 and m.group(2) == words


def test_a_401_with_clocks_in_step_says_nothing_of_clocks(server, p256_key):
    with ws.Client(server.url, ws.JwtAuth(p256_key, "no-such-kid")) as c:
        with pytest.raises(ws.Unauthorized) as info:
            c.query("list_client_accounts")
    assert "clock" not in str(info.value)
