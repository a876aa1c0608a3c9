"""Tests of the mock server itself, driven only by independent clients:
walletref, PyJWT, cryptography, http.client. Run from the repo root:
    /usr/bin/python3 -m pytest tests/mock_server -q
"""

import email.utils
import http.client
import itertools
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.mock_server import MockServer
from tests.reference import walletref

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SESSION = walletref.snowflake_make(int(time.time() * 1000), 7, 0)
SEQUENCE = itertools.count(1)


# ---------------------------------------------------------------- fixtures & helpers

@pytest.fixture(scope="module")
def srv():
    with MockServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(srv):
    srv.reset()
    yield


def request(srv, method, target, body=b"", headers=None, timeout=10, context=None):
    if srv.tls:
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=timeout,
                                           context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def control(srv, method, path, doc=None, raw=None):
    body = raw if raw is not None else (json.dumps(doc).encode() if doc is not None else b"")
    status, _, data = request(srv, method, path, body)
    return status, json.loads(data)


def pem_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_csr(key) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def register(srv, key, **query):
    qs = "&".join("%s=%s" % kv for kv in query.items())
    status, doc = control(srv, "POST", "/_mock/halogen/register" + ("?" + qs if qs else ""),
                          raw=make_csr(key))
    assert status == 200, doc
    return doc["key_id"]


def halogen(srv, key, kid, path, doc, fmt="der", iat=None, ttl=10, nonce=None,
            body=None, headers=None):
    body = body if body is not None else json.dumps(doc).encode()
    token = walletref.jwt_sign(pem_private(key), kid, path, body,
                               int(time.time()) if iat is None else iat, ttl=ttl,
                               nonce_hex=nonce, signature_format=fmt)
    hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    hdrs.update(headers or {})
    status, resp_headers, data = request(srv, "POST", path, body, hdrs)
    return status, resp_headers, json.loads(data)


LIST_ACCOUNTS = {"name": "list_client_accounts", "payload": {"accountIds": ["account_123"]}}


def invest(account="account_123", amount=10000.0):
    return {"name": "create_investment_request",
            "payload": {"accountId": account, "amount": amount}}


# ---------------------------------------------------------------- halogen

@pytest.mark.parametrize("alg,fmt", [("ES256", "der"), ("ES256", "raw"), ("RS256", "der")])
def test_halogen_query_signed_ok(srv, ec_key, rsa_key, alg, fmt):
    key = ec_key if alg == "ES256" else rsa_key
    kid = register(srv, key)
    status, _, doc = halogen(srv, key, kid, "/query", LIST_ACCOUNTS, fmt=fmt)
    assert status == 200, doc
    assert doc["asset"] == "MYR" and doc["accounts"][0]["id"] == "account_123"
    expected_form = {"der": "der", "raw": "raw"}[fmt] if alg == "ES256" else "pkcs1"
    assert srv.log()[-1]["verified_by"] == "jwt:%s:%s:%s" % (alg, expected_form, kid)


def test_halogen_register_public_key(srv, ec_key):
    pub = ec_key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    status, doc = control(srv, "POST", "/_mock/halogen/register_public?key_id=fixed-kid",
                          raw=pub)
    assert status == 200 and doc == {"key_id": "fixed-kid", "alg": "ES256", "scope": "all"}
    assert halogen(srv, ec_key, "fixed-kid", "/query", LIST_ACCOUNTS)[0] == 200


@pytest.mark.parametrize("bad", ["p384", "rsa1024", "tampered", "garbage"])
def test_halogen_register_rejects(srv, bad):
    if bad == "p384":
        raw = make_csr(ec.generate_private_key(ec.SECP384R1()))
    elif bad == "rsa1024":
        raw = make_csr(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    elif bad == "tampered":
        csr = x509.load_pem_x509_csr(make_csr(ec.generate_private_key(ec.SECP256R1())))
        der = bytearray(csr.public_bytes(serialization.Encoding.DER))
        der[-5] ^= 1                                   # inside the signature
        raw = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    else:
        raw = b"not a csr"
    status, doc = control(srv, "POST", "/_mock/halogen/register", raw=raw)
    assert status == 400 and doc["error"]


def test_halogen_tampered_body_is_bad_signature(srv, ec_key):
    kid = register(srv, ec_key)
    body = json.dumps(LIST_ACCOUNTS).encode()
    token = walletref.jwt_sign(pem_private(ec_key), kid, "/query", body, int(time.time()))
    tampered = body.replace(b"account_123", b"account_124")
    status, _, data = request(srv, "POST", "/query", tampered,
                              {"Authorization": "Bearer " + token})
    doc = json.loads(data)
    assert status == 401 and doc["code"] == "ErrInvalidAuthSignature"
    assert doc["statusCode"] == 401 and "bodyHash" in doc["message"]


def test_halogen_tampered_signature(srv, ec_key):
    kid = register(srv, ec_key)
    body = json.dumps(LIST_ACCOUNTS).encode()
    token = walletref.jwt_sign(pem_private(ec_key), kid, "/query", body, int(time.time()),
                               signature_format="raw")
    head, payload, sig = token.split(".")
    sig = ("A" if sig[0] != "A" else "B") + sig[1:]
    status, _, data = request(srv, "POST", "/query", body,
                              {"Authorization": "Bearer %s.%s.%s" % (head, payload, sig)})
    assert status == 401 and json.loads(data)["code"] == "ErrInvalidAuthSignature"


def test_halogen_expired(srv, ec_key):
    kid = register(srv, ec_key)
    status, _, doc = halogen(srv, ec_key, kid, "/query", LIST_ACCOUNTS,
                             iat=int(time.time()) - 100)
    assert status == 401 and doc["code"] == "ErrExpiredAuthToken"


def test_halogen_ttl_over_60_refused(srv, ec_key):
    kid = register(srv, ec_key)
    status, _, doc = halogen(srv, ec_key, kid, "/query", LIST_ACCOUNTS, ttl=61)
    assert status == 401 and doc["code"] == "ErrInvalidAuthToken"


def test_halogen_nonce_reuse(srv, ec_key):
    kid = register(srv, ec_key)
    nonce = os.urandom(20).hex()
    assert halogen(srv, ec_key, kid, "/query", LIST_ACCOUNTS, nonce=nonce)[0] == 200
    status, _, doc = halogen(srv, ec_key, kid, "/query", LIST_ACCOUNTS, nonce=nonce)
    assert status == 401 and doc["code"] == "ErrInvalidAuthToken"
    assert "nonce" in doc["message"]


def test_halogen_uri_must_match_path(srv, ec_key):
    kid = register(srv, ec_key)
    body = json.dumps(invest()).encode()
    token = walletref.jwt_sign(pem_private(ec_key), kid, "/query", body, int(time.time()))
    status, _, data = request(srv, "POST", "/command", body, {"Authorization": "Bearer " + token})
    assert status == 401 and "uri" in json.loads(data)["message"]


def test_halogen_kid_in_header_refused(srv, ec_key):
    kid = register(srv, ec_key)
    body = json.dumps(LIST_ACCOUNTS).encode()
    claims = walletref.jwt_claims(kid, "/query", body, int(time.time()))
    token = pyjwt.encode(claims, pem_private(ec_key), algorithm="ES256",
                         headers={"typ": "JWT", "kid": kid})
    status, _, data = request(srv, "POST", "/query", body, {"Authorization": "Bearer " + token})
    assert status == 401 and json.loads(data)["code"] == "ErrInvalidAuthToken"


def test_halogen_missing_token(srv):
    status, _, data = request(srv, "POST", "/query", json.dumps(LIST_ACCOUNTS).encode())
    assert status == 401 and json.loads(data)["code"] == "ErrMissingAuthToken"


def test_halogen_es256_format_config(srv, ec_key):
    kid = register(srv, ec_key)
    control(srv, "POST", "/_mock/halogen/config", {"es256_format": "raw"})
    assert halogen(srv, ec_key, kid, "/query", LIST_ACCOUNTS, fmt="raw")[0] == 200
    status, _, doc = halogen(srv, ec_key, kid, "/query", LIST_ACCOUNTS, fmt="der")
    assert status == 401 and doc["code"] == "ErrInvalidAuthSignature"
    control(srv, "POST", "/_mock/halogen/config", {"es256_format": "any"})


@pytest.mark.parametrize("path,doc,status,code", [
    ("/command", invest(), 200, None),
    ("/command", invest(amount=1e9), 400, "ErrInsufficientBalance"),
    ("/command", invest(account="account_456"), 412, "ErrActionNotAllowedForAccountType"),
    ("/command", {"name": "create_investment_request", "payload": {"amount": 5}},
     400, "ErrMissingParameter"),
    ("/command", invest(account="account_000"), 404, "ErrMissingResource"),
    ("/command", {"name": "create_redemption_request",
                  "payload": {"accountId": "account_123", "requestedAmount": 99999999}},
     400, "ErrInsufficientBalance"),
    ("/command", {"name": "create_request_cancellation",
                  "payload": {"accountId": "account_123", "requestId": "req_cancelled"}},
     410, "ErrCancelledRequest"),
    ("/command", LIST_ACCOUNTS, 400, "ErrInvalidParameter"),
    ("/query", invest(), 400, "ErrInvalidParameter"),
    ("/query", {"name": "no_such_operation", "payload": {}}, 400, "ErrInvalidParameter"),
    ("/query", {"name": "get_client_profile", "payload": {}}, 200, None),
    ("/query", {"name": "get_fund", "payload": {"fundId": "fund_abc"}}, 200, None),
    ("/query", {"name": "list_funds_for_subscription", "payload": {"accountId": "account_123"}},
     200, None),
    ("/query", {"name": "get_projected_fund_price", "payload": {"fundId": "fund_def"}}, 200, None),
])
def test_halogen_operations(srv, ec_key, path, doc, status, code):
    kid = register(srv, ec_key)
    got_status, _, got = halogen(srv, ec_key, kid, path, doc)
    assert got_status == status, got
    if code:
        assert got["code"] == code and got["statusCode"] == status and "message" in got
    if doc.get("payload", {}).get("accountId") is None and code == "ErrMissingParameter":
        assert got["message"] == "accountId is required."
    if status == 200 and path == "/command":
        assert got["requestId"].startswith("req_")


def test_halogen_read_only_key_forbidden_on_command(srv, ec_key):
    kid = register(srv, ec_key, scope="query")
    status, _, doc = halogen(srv, ec_key, kid, "/command", invest())
    assert status == 403 and doc["code"] == "ErrInsufficientAccess"


def test_halogen_idempotency_key_replays(srv, ec_key):
    kid = register(srv, ec_key)
    hdrs = {"Idempotency-Key": "idem-1"}
    s1, h1, d1 = halogen(srv, ec_key, kid, "/command", invest(), headers=hdrs)
    s2, h2, d2 = halogen(srv, ec_key, kid, "/command", invest(), headers=hdrs)
    assert s1 == s2 == 200 and d1 == d2
    assert h2.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in h1
    s3, _, d3 = halogen(srv, ec_key, kid, "/command", invest(amount=5.0), headers=hdrs)
    assert s3 == 400 and d3["code"] == "ErrInvalidParameter"
    assert [e["headers"].get("Idempotency-Key") for e in srv.log()[-3:]] == ["idem-1"] * 3


def test_halogen_rate_limit(srv, ec_key):
    kid = register(srv, ec_key)
    body = json.dumps(LIST_ACCOUNTS).encode()
    now = int(time.time())
    tokens = [walletref.jwt_sign(pem_private(ec_key), kid, "/query", body, now)
              for _ in range(12)]
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    results = []
    for token in tokens:
        conn.request("POST", "/query", body, {"Authorization": "Bearer " + token})
        resp = conn.getresponse()
        results.append((resp.status, resp.getheader("Retry-After"), json.loads(resp.read())))
    conn.close()
    limited = [r for r in results if r[0] == 429]
    assert limited, [r[0] for r in results]
    assert results[0][0] == 200
    assert limited[0][1] == "1" and limited[0][2]["code"] == "ErrRateLimitExceeded"
    srv.reset()
    assert halogen(srv, ec_key, kid, "/query", LIST_ACCOUNTS)[0] == 200


# ---------------------------------------------------------------- hmac

def hmac_headers(method, target, body=b"", secret="your-secret-key", key="test-api-key",
                 encoding="base64", ts=None):
    ts = int(time.time() * 1000) if ts is None else ts
    prehash = walletref.hmac_prehash(ts, method, target, body)
    return {"x-api-key": key, "x-timestamp": str(ts),
            "x-signature": walletref.hmac_sign(secret, prehash, encoding)}


LIST_TARGET = "/v1/wallet/list?skip=0&take=25&orderBy=desc"


def test_hmac_list_ok_and_paging(srv):
    status, _, data = request(srv, "GET", LIST_TARGET, headers=hmac_headers("GET", LIST_TARGET))
    doc = json.loads(data)
    assert status == 200 and len(doc["data"]) == 25 and doc["total"] >= 30
    assert srv.log()[-1]["verified_by"] == "hmac:test-api-key:base64"


def test_hmac_header_names_case_insensitive(srv):
    hdrs = {k.upper(): v for k, v in hmac_headers("GET", LIST_TARGET).items()}
    assert request(srv, "GET", LIST_TARGET, headers=hdrs)[0] == 200


def test_hmac_create_ok_and_tampered(srv):
    body = json.dumps({"name": "savings"}).encode()
    hdrs = hmac_headers("POST", "/v1/wallet/create", body)
    status, _, data = request(srv, "POST", "/v1/wallet/create", body, hdrs)
    assert status == 200 and json.loads(data)["name"] == "savings"
    status, _, data = request(srv, "POST", "/v1/wallet/create", body.replace(b"s", b"S", 1), hdrs)
    assert status == 401 and json.loads(data)["reason"] == "bad_signature"


def test_hmac_query_string_is_signed(srv):
    hdrs = hmac_headers("GET", LIST_TARGET)
    status, _, data = request(srv, "GET", LIST_TARGET.replace("take=25", "take=26"), headers=hdrs)
    assert status == 401 and json.loads(data)["reason"] == "bad_signature"


def test_hmac_stale_and_missing(srv):
    old = int(time.time() * 1000) - 31000
    status, _, data = request(srv, "GET", LIST_TARGET,
                              headers=hmac_headers("GET", LIST_TARGET, ts=old))
    assert status == 401 and json.loads(data)["reason"] == "stale_timestamp"
    hdrs = hmac_headers("GET", LIST_TARGET)
    del hdrs["x-signature"]
    status, _, data = request(srv, "GET", LIST_TARGET, headers=hdrs)
    assert status == 401 and json.loads(data)["reason"] == "missing_header"


def test_hmac_registered_hex_key(srv):
    status, _ = control(srv, "POST", "/_mock/hmac/register",
                        {"api_key": "k2", "secret": "s2", "encoding": "hex"})
    assert status == 200
    hdrs = hmac_headers("GET", LIST_TARGET, secret="s2", key="k2", encoding="hex")
    assert request(srv, "GET", LIST_TARGET, headers=hdrs)[0] == 200
    hdrs = hmac_headers("GET", LIST_TARGET, secret="s2", key="k2", encoding="base64")
    assert request(srv, "GET", LIST_TARGET, headers=hdrs)[0] == 401


def test_clock_offset_makes_timestamps_stale(srv):
    control(srv, "POST", "/_mock/clock", {"offset_ms": 60000})
    status, _, data = request(srv, "GET", LIST_TARGET, headers=hmac_headers("GET", LIST_TARGET))
    assert status == 401 and json.loads(data)["reason"] == "stale_timestamp"


# ---------------------------------------------------------------- wallet manager

def merchant_headers(srv, body, key_hex=None, sequence=None):
    key_hex = key_hex or srv.info["merchant_private_key_hex"]
    return walletref.message_sign(key_hex, int(time.time() * 1000), SESSION,
                                  sequence or next(SEQUENCE), body)


def wm_call(srv, method, target, doc=None, headers=None):
    body = json.dumps(doc).encode() if doc is not None else b""
    hdrs = headers or merchant_headers(srv, body)
    status, resp_headers, data = request(srv, method, target, body, hdrs)
    return status, resp_headers, data, hdrs


def assert_wm_signed(srv, resp_headers, data):
    walletref.message_verify(resp_headers, data, {srv.info["wallet_manager_address"]},
                             int(time.time() * 1000))


def test_wm_get_address_and_response_signature(srv):
    status, hdrs, data, _ = wm_call(srv, "POST", "/access/get_address",
                                    {"chain_type": "evm", "chain_id": 1, "user_id": "u1"})
    doc = json.loads(data)
    assert status == 200 and doc["error"] is None and doc["result"]["address"].startswith("0x")
    assert_wm_signed(srv, hdrs, data)
    assert srv.log()[-1]["verified_by"] == "message:" + srv.info["merchant_address"]


def test_wm_response_sequence_increments(srv):
    seqs = []
    for _ in range(2):
        _, hdrs, _, _ = wm_call(srv, "POST", "/access/get_address",
                                {"chain_type": "evm", "chain_id": 1})
        seqs.append(int(hdrs["X-Message-Sequence"]))
    assert seqs[1] == seqs[0] + 1


def test_wm_batch_withdraw_and_deposit(srv):
    doc = {"chain_type": "evm", "chain_id": "1",
           "withdraws": [{"request_id": "w1", "to": "0x" + "11" * 20, "amount": "1.25"}]}
    status, hdrs, data, _ = wm_call(srv, "POST", "/access/batch_withdraw", doc)
    assert status == 200 and json.loads(data)["result"]["withdraws"][0]["status"] == "pending"
    assert_wm_signed(srv, hdrs, data)
    target = "/access/evm/1/transfer/hash/0x%s/deposit" % ("ab" * 32)
    status, hdrs, data, _ = wm_call(srv, "GET", target)
    assert status == 200 and json.loads(data)["result"]["status"] == "confirmed"
    assert_wm_signed(srv, hdrs, data)


@pytest.mark.parametrize("target,doc,code", [
    ("/access/get_address", {"chain_id": 1}, 21),
    ("/access/batch_withdraw", {"chain_type": "evm", "chain_id": 1, "withdraws": []}, 21),
    ("/access/batch_withdraw", {"chain_type": "evm", "chain_id": 1,
                                "withdraws": [{"to": "0x" + "11" * 20, "amount": "2000000"}]}, 31),
])
def test_wm_rpc_errors(srv, target, doc, code):
    status, hdrs, data, _ = wm_call(srv, "POST", target, doc)
    error = json.loads(data)["error"]
    assert status == 200 and error["code"] == code and "result" not in json.loads(data)
    assert_wm_signed(srv, hdrs, data)


def test_wm_replay_rejected(srv):
    doc = {"chain_type": "evm", "chain_id": 1}
    _, _, _, sent = wm_call(srv, "POST", "/access/get_address", doc)
    status, hdrs, data, _ = wm_call(srv, "POST", "/access/get_address", doc, headers=sent)
    error = json.loads(data)["error"]
    assert status == 401 and error["data"] == {"reason": "replay"}
    assert_wm_signed(srv, hdrs, data)


def test_wm_untrusted_then_trusted(srv):
    other = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    doc = {"chain_type": "evm", "chain_id": 1}
    body = json.dumps(doc).encode()
    status, _, data, _ = wm_call(srv, "POST", "/access/get_address", doc,
                                 headers=merchant_headers(srv, body, key_hex=other))
    assert status == 401 and json.loads(data)["error"]["data"]["reason"] == "untrusted_address"
    control(srv, "POST", "/_mock/wm/trust", {"address": walletref.eth_address_from_private(other)})
    status, _, _, _ = wm_call(srv, "POST", "/access/get_address", doc,
                              headers=merchant_headers(srv, body, key_hex=other))
    assert status == 200


def test_wm_tampered_and_missing_header(srv):
    doc = {"chain_type": "evm", "chain_id": 1}
    body = json.dumps(doc).encode()
    hdrs = merchant_headers(srv, body)
    status, _, data = request(srv, "POST", "/access/get_address", body.replace(b"1", b"2"), hdrs)
    assert status == 401 and json.loads(data)["error"]["data"]["reason"] == "bad_signature"
    hdrs = merchant_headers(srv, body)
    del hdrs["X-Message-Session"]
    status, _, data = request(srv, "POST", "/access/get_address", body, hdrs)
    assert status == 401 and json.loads(data)["error"]["data"]["reason"] == "missing_header"


class _Merchant(BaseHTTPRequestHandler):
    """A tiny merchant that verifies Wallet Manager callbacks with walletref."""
    trusted = set()
    seen = set()
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            walletref.message_verify(dict(self.headers.items()), body, self.trusted,
                                     int(time.time() * 1000), seen=self.seen)
            status, text = 200, b'{"result":"ok"}'
            self.received.append(json.loads(body))
        except walletref.RefError as exc:
            status, text = 401, exc.reason.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        pass


@pytest.fixture
def merchant(srv):
    _Merchant.trusted = {srv.info["wallet_manager_address"]}
    _Merchant.seen, _Merchant.received = set(), []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Merchant)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/callback" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_wm_callback_signed(srv, merchant):
    data = {"tx_hash": "0x" + "ab" * 32, "amount": "1.5", "status": "confirmed"}
    status, doc = control(srv, "POST", "/_mock/wm/callback",
                          {"url": merchant, "type": "deposit_status", "data": data})
    assert status == 200 and doc["status"] == 200, doc
    assert _Merchant.received == [{"type": "deposit_status", "data": data}]
    # The same message again is a replay for the merchant.
    status, doc = control(srv, "POST", "/_mock/wm/callback", {"url": merchant, "replay_last": True})
    assert doc["status"] == 401 and doc["body"] == "replay"


@pytest.mark.parametrize("option,reason", [({"tamper": True}, "bad_signature"),
                                           ({"untrusted_signer": True}, "untrusted_address"),
                                           ({"timestamp_offset_ms": -120000}, "stale_timestamp")])
def test_wm_callback_bad(srv, merchant, option, reason):
    cfg = dict({"url": merchant, "type": "deposit_status", "data": {"n": 1}}, **option)
    status, doc = control(srv, "POST", "/_mock/wm/callback", cfg)
    assert status == 200 and doc["status"] == 401 and doc["body"] == reason


def test_wm_callback_refuses_remote_url(srv):
    status, doc = control(srv, "POST", "/_mock/wm/callback", {"url": "http://example.com/cb"})
    assert status == 400


# ---------------------------------------------------------------- faults

def fault(srv, spec, target="/v1/wallet/list?skip=0&take=1", timeout=10):
    hdrs = hmac_headers("GET", target)
    hdrs["X-Mock-Fault"] = spec
    return request(srv, "GET", target, headers=hdrs, timeout=timeout)


def test_fault_status_with_retry_after(srv):
    status, hdrs, _ = fault(srv, "status:429:retry_after=2")
    assert status == 429 and hdrs["Retry-After"] == "2"
    status, hdrs, _ = fault(srv, "status:429:retry_after_date=5")
    when = email.utils.parsedate_to_datetime(hdrs["Retry-After"]).timestamp()
    assert status == 429 and 2 <= when - time.time() <= 7


def test_fault_redirect(srv):
    status, hdrs, body = fault(srv, "redirect:302")
    assert status == 302 and hdrs["Location"] == "https://elsewhere.example/moved"
    assert json.loads(body) == {"status": "COMPLETED"}
    assert control(srv, "POST", "/_mock/faults", {"path": "/x", "faults": ["redirect:200"]})[0] == 400


def test_fault_status_halogen_body(srv, ec_key):
    kid = register(srv, ec_key)
    status, _, doc = halogen(srv, ec_key, kid, "/query", LIST_ACCOUNTS,
                             headers={"X-Mock-Fault": "status:503"})
    assert status == 503 and doc["code"] == "ErrServiceUnavailable"


def test_fault_queue(srv):
    status, doc = control(srv, "POST", "/_mock/faults",
                          {"path": "/v1/wallet/list", "faults": ["status:503", "status:500"]})
    assert status == 200
    assert [fault(srv, "")[0] for _ in range(3)] == [503, 500, 200]
    control(srv, "POST", "/_mock/faults", {"path": "*", "faults": ["status:502"]})
    control(srv, "DELETE", "/_mock/faults")
    assert fault(srv, "")[0] == 200
    assert control(srv, "POST", "/_mock/faults", {"path": "/x", "faults": ["bogus"]})[0] == 400


def test_fault_delay(srv):
    started = time.time()
    assert fault(srv, "delay:300")[0] == 200
    assert time.time() - started >= 0.3


def test_fault_drop(srv):
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        fault(srv, "drop")


@pytest.mark.parametrize("spec", ["reset_mid_body", "truncate"])
def test_fault_partial_body(srv, spec):
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        fault(srv, spec)


def test_fault_nonjson(srv):
    status, hdrs, data = fault(srv, "nonjson")
    assert status == 200 and hdrs["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        json.loads(data)


def test_fault_huge(srv):
    status, hdrs, data = fault(srv, "huge:1000000")
    assert status == 200 and len(data) == 1000000 and int(hdrs["Content-Length"]) == 1000000
    assert len(json.loads(data)["pad"]) == 1000000 - 10


def test_fault_drip(srv):
    started = time.time()
    status, _, data = fault(srv, "drip:2", target="/nowhere")
    assert status == 404 and json.loads(data) == {"error": "not found"}
    assert time.time() - started > 0.2
    with pytest.raises(socket.timeout):       # a gap longer than the read timeout
        fault(srv, "drip:800", target="/nowhere", timeout=0.3)


def test_fault_invalid_utf8_and_deep_json(srv):
    status, _, data = fault(srv, "invalid_utf8")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    status, _, data = fault(srv, "deep_json:5000")
    assert status == 200 and data == b"[" * 5000 + b"]" * 5000
    with pytest.raises(RecursionError):
        json.loads(data)


def test_fault_tamper_breaks_the_answers_signature(srv):
    doc = {"chain_type": "evm", "chain_id": 1}
    body = json.dumps(doc).encode()
    hdrs = dict(merchant_headers(srv, body), **{"X-Mock-Fault": "tamper"})
    status, resp_headers, data = request(srv, "POST", "/access/get_address", body, hdrs)
    assert status == 200 and json.loads(data)["result"]["address"]
    assert resp_headers.get("X-Message-Signature")
    with pytest.raises(Exception):
        assert_wm_signed(srv, resp_headers, data)
    status, resp_headers, data, _ = wm_call(srv, "POST", "/access/get_address", doc)
    assert_wm_signed(srv, resp_headers, data)   # the next answer is whole again


def test_fault_bad_spec(srv):
    assert fault(srv, "explode")[0] == 400


# ---------------------------------------------------------------- log, stats, reset

def test_log_and_stats(srv):
    control(srv, "DELETE", "/_mock/log")
    fault(srv, "")
    fault(srv, "status:500")
    status, log = control(srv, "GET", "/_mock/log")
    assert status == 200 and [e["status"] for e in log] == [200, 500]
    entry = log[0]
    assert set(entry) >= {"method", "path", "headers", "body_sha256", "status", "verified_by",
                          "error_code", "t_ms"}
    assert entry["path"] == "/v1/wallet/list" and entry["method"] == "GET"
    assert log[1]["fault"] == "status:500"
    assert control(srv, "GET", "/_mock/stats")[1] == {"/v1/wallet/list": {"200": 1, "500": 1}}
    control(srv, "DELETE", "/_mock/log")
    assert control(srv, "GET", "/_mock/log")[1] == []


# ---------------------------------------------------------------- TLS and the CLI

@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tls"))


def test_tls_with_and_without_ca(tls_dir):
    with MockServer(tls=True, state_dir=tls_dir) as server:
        good = ssl.create_default_context(cafile=server.ca_file)
        status, _, _ = request(server, "GET", LIST_TARGET,
                               headers=hmac_headers("GET", LIST_TARGET), context=good)
        assert status == 200
        for host in ("127.0.0.1", "localhost"):
            conn = http.client.HTTPSConnection(host, server.port, timeout=5, context=good)
            conn.request("GET", "/_mock/info")
            assert conn.getresponse().status == 200
            conn.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            request(server, "GET", "/_mock/info", context=ssl.create_default_context())


@pytest.mark.parametrize("mode,needle", [("expired", "expired"), ("wrong_host", "mismatch")])
def test_tls_bad_certificates_refused(tls_dir, mode, needle):
    with MockServer(tls=True, cert_mode=mode, state_dir=os.path.join(tls_dir, mode)) as server:
        ctx = ssl.create_default_context(cafile=server.ca_file)
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            request(server, "GET", "/_mock/info", context=ctx)
        assert needle in str(info.value).lower()


def test_cli_prints_info_and_stops_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "tests.mock_server", "--port", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) >= {"port", "tls", "ca_file", "merchant_private_key_hex",
                             "wallet_manager_address"}
        assert info["tls"] is False and info["ca_file"] is None
        addr = walletref.eth_address_from_private(info["merchant_private_key_hex"])
        assert addr == info["merchant_address"]
        conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=5)
        conn.request("GET", "/_mock/info")
        assert json.loads(conn.getresponse().read())["port"] == info["port"]
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
