"""Text from the network that is not UTF-8 gives walletsign's typed errors,
never a UnicodeDecodeError from the shim (issue #11 item 5b)."""

import base64
import hashlib
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import walletsign as ws

NOT_UTF8 = b"caf\xc3\x28 \xff\xfe"


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _es256_token(private, payload):
    """A validly signed ES256 token over raw payload bytes (cryptography)."""
    head = _b64url(b'{"alg":"ES256","typ":"JWT"}') + b"." + _b64url(payload)
    r, s = decode_dss_signature(private.sign(head, ec.ECDSA(hashes.SHA256())))
    return (head + b"." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))).decode()


@pytest.mark.parametrize("claim", ["kid", "sub", "nonce", "bodyHash", "uri"])
def test_jwt_claims_not_utf8_are_malformed(claim):
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    claims = {"kid": "k", "sub": "wallet", "iat": now, "exp": now + 10, "nonce": "ab" * 20,
              "bodyHash": hashlib.sha256(b"").hexdigest(), "uri": "/query"}
    good = json.dumps(claims, separators=(",", ":")).encode()
    assert ws.verify_jwt(_es256_token(private, good), public)["kid"] == "k"
    claims[claim] = "@@"
    bad = json.dumps(claims, separators=(",", ":")).encode().replace(b"@@", NOT_UTF8)
    with pytest.raises(ws.SignatureError) as info:
        ws.verify_jwt(_es256_token(private, bad), public)
    assert info.value.reason == "malformed"


@pytest.mark.parametrize("body", [b'{"result":"' + NOT_UTF8 + b'"}',
                                  b'{"result":{"' + NOT_UTF8 + b'":1}}'])
def test_rpc_result_not_utf8_is_a_protocol_error(body):
    with pytest.raises(ws.ProtocolError):
        ws.rpc_parse(body)


def test_rpc_error_not_utf8_is_a_protocol_error():
    """JSON is UTF-8 (RFC 8259): the core refuses any envelope that is not,
    error envelopes too, so no binding decodes such text."""
    with pytest.raises(ws.ProtocolError):
        ws.rpc_parse(b'{"error":{"code":7,"message":"' + NOT_UTF8 + b'","data":"'
                     + NOT_UTF8 + b'"}}')


def test_query_answer_not_utf8_is_a_protocol_error(server, p256_key, halogen_kid):
    server.queue_faults("/query", ["invalid_utf8", "invalid_utf8"])
    with ws.Client(server.url, ws.JwtAuth(p256_key, halogen_kid)) as client:
        with pytest.raises(ws.ProtocolError):
            client.query("list_client_accounts")
        r = client.request("POST", "/query", json={"name": "list_client_accounts",
                                                   "payload": {}})
        assert r.status == 200 and NOT_UTF8 in r.body  # the raw answer, as bytes


@pytest.mark.parametrize("body", [b'{"a":1,"a":2}', b'{"a":01}', b'[1.]', b'{"a":"\xff"}',
                                  b'{"a":1} x'])
def test_response_json_is_judged_by_the_core(body):
    """Response.json() refuses what every walletsign reader refuses (a member
    named twice, a number outside RFC 8259, non-UTF-8, trailing text) instead
    of letting json.loads pick the last duplicate or raise its own errors."""
    with pytest.raises(ws.ProtocolError):
        ws.Response(200, {}, body).json()
    with pytest.raises(ws.ProtocolError):
        ws.rpc_parse(b'{"result":' + body + b'}')
