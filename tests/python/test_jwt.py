"""jwt protocol: RS256 known answers byte for byte, ES256 tokens from the
independent signer verified, every negative vector rejected with its reason,
and walletsign's tokens verified by PyJWT / cryptography / walletref."""

import base64
import hashlib
import json
import time
import warnings

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import walletsign as ws
from conftest import KEYS, body_of, ids, load_vectors
from tests.reference import walletref

V = load_vectors("jwt")
PASSWORD = V["password"]
RS256 = V["rs256_exact"]
ES256 = V["es256_verify"]
NEGATIVE = V["verify_negative"]


def b64url_decode(seg):
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def load_key(name, password=None):
    return ws.Key.load(KEYS / name, password=password)


@pytest.fixture(scope="module")
def rsa_keys():
    return {name: load_key(name) for name in ("rsa2048_pkcs1.pem", "rsa4096_pkcs8.pem")}


@pytest.mark.parametrize("case", RS256, ids=ids(RS256))
def test_rs256_exact(case, rsa_keys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ws.WeakKeyWarning)
        auth = ws.JwtAuth(rsa_keys[case["key_file"]], case["kid"], ttl=case["ttl"])
    token = auth._token_fixed(case["uri"], body_of(case), case["iat"], case["nonce_hex"])
    assert token == case["token"]
    assert json.loads(b64url_decode(token.split(".")[1])) == case["claims"]


@pytest.mark.parametrize("case", ES256, ids=ids(ES256))
def test_es256_vectors_verify(case):
    public = (KEYS / case["public_key_file"]).read_text()
    body = body_of(case)
    for key in (public, public.encode(), load_key(case["public_key_file"]),
                load_key(case["key_file"], case["password"])):
        claims = ws.verify_jwt(case["token"], key, now=case["now"], uri=case["uri"], body=body)
        assert claims == case["claims"]
    with pytest.raises(ws.SignatureError) as info:
        ws.verify_jwt(case["token"], public, now=case["now"], body=body + b"x")
    assert info.value.reason == "request_mismatch"
    with pytest.raises(ws.SignatureError) as info:
        ws.verify_jwt(case["token"], public, now=case["now"], uri=case["uri"] + "x")
    assert info.value.reason == "request_mismatch"


@pytest.mark.parametrize("case", ES256[:4], ids=ids(ES256[:4]))
def test_es256_signing_same_claims_as_vector(case):
    """ES256 signatures are random; everything but the signature must match."""
    auth = ws.JwtAuth(load_key(case["key_file"], case["password"]), case["kid"], ttl=case["ttl"],
                      signature_format=case["format"])
    token = auth._token_fixed(case["uri"], body_of(case), case["iat"], case["nonce_hex"])
    assert token.split(".")[:2] == case["token"].split(".")[:2]
    sig = b64url_decode(token.split(".")[2])
    if case["format"] == "raw":
        assert len(sig) == 64
    else:
        decode_dss_signature(sig)   # DER SEQUENCE of r, s
    public = (KEYS / case["public_key_file"]).read_bytes()
    assert walletref.jwt_verify(token, public, now=case["now"]) == case["claims"]


@pytest.mark.parametrize("case", NEGATIVE, ids=ids(NEGATIVE))
def test_verify_negative(case):
    public = (KEYS / case["public_key_file"]).read_text()
    if case["expect_reason"] is None:
        claims = ws.verify_jwt(case["token"], public, now=case["now"], leeway=case["leeway"],
                               max_ttl=case["max_ttl"])
        assert set(claims) == {"kid", "sub", "iat", "exp", "nonce", "bodyHash", "uri"}
        return
    with pytest.raises(ws.SignatureError) as info:
        ws.verify_jwt(case["token"], public, now=case["now"], leeway=case["leeway"],
                      max_ttl=case["max_ttl"])
    assert info.value.reason == case["expect_reason"], str(info.value)


def test_pyjwt_verifies_walletsign_es256_raw(p256_key):
    auth = ws.JwtAuth(p256_key, "key-1", ttl=30, signature_format="raw")
    body = b'{"name":"list_client_accounts","payload":{}}'
    token = auth.token("/query", body)
    public = p256_key.public_pem().encode()
    claims = pyjwt.decode(token, public, algorithms=["ES256"])
    assert claims["kid"] == "key-1" and claims["sub"] == "wallet" and claims["uri"] == "/query"
    assert claims["bodyHash"] == hashlib.sha256(body).hexdigest()
    assert claims["exp"] - claims["iat"] == 30
    assert abs(claims["iat"] - time.time()) < 5
    assert len(claims["nonce"]) == 40 and int(claims["nonce"], 16) >= 0
    header = pyjwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "typ": "JWT"}


def test_cryptography_verifies_walletsign_es256_der(p256_key):
    """The default (DER) form, the way Halogen's Go/Node SDKs sign."""
    auth = ws.JwtAuth(p256_key, "key-1")
    headers = auth.sign("POST", "/command", b'{"name":"x","payload":{}}')
    assert list(headers) == ["Authorization"]
    token = headers["Authorization"].removeprefix("Bearer ")
    h, p, s = token.split(".")
    public = serialization.load_pem_public_key(p256_key.public_pem().encode())
    public.verify(b64url_decode(s), (h + "." + p).encode(), ec.ECDSA(hashes.SHA256()))
    claims = walletref.jwt_verify(token, p256_key.public_pem().encode(), now=int(time.time()))
    assert claims["uri"] == "/command"


def test_pyjwt_verifies_walletsign_rs256():
    key = load_key("rsa4096_pkcs8.pem")
    token = ws.JwtAuth(key, "rsa-key").token("/query", "")
    claims = pyjwt.decode(token, key.public_pem().encode(), algorithms=["RS256"])
    assert claims["bodyHash"] == hashlib.sha256(b"").hexdigest()


def test_walletsign_verifies_pyjwt_tokens(p256_key):
    now = int(time.time())
    priv = serialization.load_pem_private_key(p256_key.private_pem().encode(), None)
    body = b'{"name":"get_account","payload":{"accountId":"account_123"}}'
    claims = {"kid": "k", "sub": "wallet", "iat": now, "exp": now + 10,
              "nonce": "ab" * 20, "bodyHash": hashlib.sha256(body).hexdigest(), "uri": "/query"}
    token = pyjwt.encode(claims, priv, algorithm="ES256", headers={"typ": "JWT"})
    assert ws.verify_jwt(token, p256_key, uri="/query", body=body) == claims
    with pytest.raises(ws.SignatureError) as info:
        ws.verify_jwt(token, p256_key, uri="/command")
    assert info.value.reason == "request_mismatch"
    with pytest.raises(ws.SignatureError) as info:
        ws.verify_jwt(token, p256_key, now=now + 10)
    assert info.value.reason == "expired"
    assert ws.verify_jwt(token, p256_key, now=now + 10, leeway=1)["kid"] == "k"
    other = ws.Key.generate("P-256")
    with pytest.raises(ws.SignatureError) as info:
        ws.verify_jwt(token, other)
    assert info.value.reason == "bad_signature"


def test_every_token_is_fresh(p256_key):
    auth = ws.JwtAuth(p256_key, "k")
    a, b = auth.token("/query", b"{}"), auth.token("/query", b"{}")
    assert a != b
    na = json.loads(b64url_decode(a.split(".")[1]))["nonce"]
    nb = json.loads(b64url_decode(b.split(".")[1]))["nonce"]
    assert na != nb


def test_sign_timestamp_and_now(p256_key):
    auth = ws.JwtAuth(p256_key, "k", ttl=60)
    headers = auth.sign("POST", "/query", b"{}", timestamp=1730998051892)
    token = headers["Authorization"].split(" ", 1)[1]
    claims = ws.verify_jwt(token, p256_key, now=1730998052)
    assert claims["iat"] == 1730998051 and claims["exp"] == 1730998111
    token = auth.token("/query", b"{}", now=1730998000)
    assert ws.verify_jwt(token, p256_key, now=1730998001)["iat"] == 1730998000


def test_bad_arguments(p256_key):
    with pytest.raises(ws.KeyFormatError):
        ws.JwtAuth(ws.Key.generate("secp256k1"), "k")
    with pytest.raises(TypeError):
        ws.JwtAuth(p256_key.public_pem(), "k")
    with pytest.raises(TypeError):
        ws.JwtAuth(p256_key, 7)
    with pytest.raises(ValueError):
        ws.JwtAuth(p256_key, 'quote"in-kid')
    with pytest.raises(ValueError):
        ws.JwtAuth(p256_key, "k", ttl=-1)
    with pytest.raises(ValueError):
        ws.JwtAuth(p256_key, "k", ttl=3601)
    with pytest.raises(ValueError):
        ws.JwtAuth(p256_key, "k", signature_format="jose")
    with pytest.raises(TypeError):
        ws.verify_jwt(123, p256_key)
    with pytest.raises(TypeError):
        ws.verify_jwt("a.b.c", 42)
    with pytest.raises(ws.KeyFormatError):
        ws.verify_jwt("a.b.c", "not a pem")
    with pytest.raises(ValueError):
        ws.verify_jwt("a.b.c", p256_key, leeway=-1)
    auth = ws.JwtAuth(p256_key, "k")
    with pytest.raises(ValueError):
        auth._token_fixed("/query", b"", 1, "abcd")
    assert repr(auth) == "<walletsign.JwtAuth key_id='k'>" and auth.key_id == "k"
