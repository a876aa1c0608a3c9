"""hmac protocol: every vector of tests/vectors/hmac.json both ways, plus
independent checks with tests/reference/walletref.py."""

import pytest

import walletsign as ws
from conftest import body_of, ids, load_vectors
from tests.reference import walletref

V = load_vectors("hmac")
CASES = V["cases"]
NEGATIVE = V["verify_negative"]
REFUSED = V["refused_secrets"]


def auth_for(case, secret=None):
    return ws.HmacAuth(case["api_key"], case["secret"] if secret is None else secret,
                       encoding=case["encoding"], separator=case["separator"])


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_sign_matches_vector(case):
    headers = auth_for(case).sign(case["method"], case["path"], body_of(case),
                                  timestamp=case["timestamp_ms"])
    assert list(headers.items()) == list(case["headers"].items())
    assert headers["x-signature"] == case["signature"]


@pytest.mark.parametrize("case", CASES[:12] + [c for c in CASES if "secret" in c["name"]],
                         ids=ids(CASES[:12] + [c for c in CASES if "secret" in c["name"]]))
def test_secret_as_bytes_and_path_as_bytes(case):
    auth = auth_for(case, secret=bytes.fromhex(case["secret_hex"]))
    headers = auth.sign(case["method"].encode(), case["path"].encode("utf-8"),
                        bytearray(body_of(case)), timestamp=case["timestamp_ms"])
    assert headers == case["headers"]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_verify_vector(case):
    verifier = ws.HmacVerifier({case["api_key"]: case["secret"]}, encoding=case["encoding"],
                               separator=case["separator"])
    body = body_of(case)
    got = verifier.verify(case["method"], case["path"], case["headers"], body,
                          now=case["timestamp_ms"] + 1000)
    assert got == case["api_key"]
    # Header names match case-insensitively; a list of pairs works too.
    upper = [(k.upper(), v) for k, v in case["headers"].items()]
    assert verifier.verify(case["method"], case["path"], upper, body,
                           now=case["timestamp_ms"]) == case["api_key"]


@pytest.mark.parametrize("case", NEGATIVE, ids=ids(NEGATIVE))
def test_verify_negative(case):
    verifier = ws.HmacVerifier({case["api_key"]: case["secret"]}, window_ms=case["window_ms"],
                               encoding=case["encoding"], separator=case["separator"])
    headers = {"x-api-key": case["api_key"], "x-timestamp": str(case["timestamp_ms"]),
               "x-signature": case["signature"]}
    args = (case["method"], case["path"], headers, bytes.fromhex(case["body_hex"]))
    if case["expect_reason"] is None:
        assert verifier.verify(*args, now=case["now_ms"]) == case["api_key"]
        return
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify(*args, now=case["now_ms"])
    assert info.value.reason == case["expect_reason"]
    assert case["secret"] not in str(info.value)


@pytest.mark.parametrize("case", REFUSED, ids=ids(REFUSED))
def test_refused_secret(case):
    """An empty secret would let anyone sign: refused as str and as bytes."""
    assert case["expect_error"] == "argument"
    for secret in (case["secret"], bytes.fromhex(case["secret_hex"])):
        with pytest.raises(ValueError, match="secret") as info:
            ws.HmacAuth(case["api_key"], secret)
        assert not isinstance(info.value, ws.Error)  # an argument error, not a key error
        with pytest.raises(ValueError, match="secret"):
            ws.HmacVerifier({"good-key": "good-secret", case["api_key"]: secret})


def test_reference_verifies_fresh_signatures():
    """Signed now (system clock), checked by the independent implementation."""
    auth = ws.HmacAuth("k1", "another secret", encoding="hex", separator=":")
    body = '{"amount":"1.50","memo":"caf\u00e9"}'
    headers = auth.sign("post", "/v1/wallet/create?x=1", body)
    walletref.hmac_verify("another secret", int(headers["x-timestamp"]), "POST",
                          "/v1/wallet/create?x=1", body.encode(), headers["x-signature"],
                          int(headers["x-timestamp"]), encoding="hex", sep=":")


def test_custom_header_names():
    auth = ws.HmacAuth("k", "s", api_key_header="X-Key", signature_header="X-Sig",
                       timestamp_header="X-Ts")
    headers = auth.sign("GET", "/", timestamp=1730998051892)
    assert list(headers) == ["X-Key", "X-Ts", "X-Sig"]
    verifier = ws.HmacVerifier({"k": "s"}, api_key_header="x-key", signature_header="x-sig",
                               timestamp_header="x-ts")
    assert verifier.verify("GET", "/", headers, now=1730998051892) == "k"


def test_verifier_reasons_for_missing_and_unknown():
    verifier = ws.HmacVerifier({"k": "s"})
    headers = ws.HmacAuth("k", "s").sign("GET", "/", timestamp=1730998051892)
    partial = {k: v for k, v in headers.items() if k != "x-signature"}
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify("GET", "/", partial, now=1730998051892)
    assert info.value.reason == "missing_header"
    other = ws.HmacAuth("unknown", "s").sign("GET", "/", timestamp=1730998051892)
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify("GET", "/", other, now=1730998051892)
    assert info.value.reason == "bad_signature"
    nul = dict(headers, **{"x-signature": headers["x-signature"] + "\0junk"})
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify("GET", "/", nul, now=1730998051892)
    assert info.value.reason == "malformed_header"
    for nul in ([(k + "\0x" if k == "x-timestamp" else k, v) for k, v in headers.items()],
                [(k.encode(), v.encode() + b"\0") for k, v in headers.items()]):
        with pytest.raises(ws.SignatureError) as info:   # the core's verdict, not the shim's
            verifier.verify("GET", "/", nul, now=1730998051892)
        assert info.value.reason == "malformed_header"


def test_unknown_key_and_wrong_signature_share_a_reason():
    verifier = ws.HmacVerifier({"k": "s"})
    unknown = ws.HmacAuth("unknown", "s").sign("GET", "/", timestamp=1730998051892)
    wrong = ws.HmacAuth("k", "not-s").sign("GET", "/", timestamp=1730998051892)
    reasons = []
    for headers in (unknown, wrong):
        with pytest.raises(ws.SignatureError) as info:
            verifier.verify("GET", "/", headers, now=1730998051892)
        reasons.append(info.value.reason)
    assert reasons == ["bad_signature", "bad_signature"]


def test_opt_in_replay_cache():
    """Off by default (a repeat within the window verifies, as the protocol
    allows); on, a repeated (api key, timestamp, signature) is a replay, also
    when re-framed across the separator ("/a|b" + "" vs "/a" + "b|")."""
    t = 1730998051892
    headers = ws.HmacAuth("k", "s").sign("POST", "/a", b"b|", timestamp=t)
    assert headers == ws.HmacAuth("k", "s").sign("POST", "/a|b", b"", timestamp=t)
    assert walletref.hmac_sign("s", walletref.hmac_prehash(t, "POST", "/a|b", b"")) == \
        headers["x-signature"]
    plain = ws.HmacVerifier({"k": "s"})
    assert plain.verify("POST", "/a", headers, b"b|", now=t) == "k"
    assert plain.verify("POST", "/a", headers, b"b|", now=t) == "k"
    guarded = ws.HmacVerifier({"k": "s"}, replay_cache=True, cache_size=10)
    assert guarded.verify("POST", "/a", headers, b"b|", now=t) == "k"
    for path, body in (("/a", b"b|"), ("/a|b", b"")):
        with pytest.raises(ws.SignatureError) as info:
            guarded.verify("POST", path, headers, body, now=t)
        assert info.value.reason == "replay"
    fresh = ws.HmacAuth("k", "s").sign("POST", "/a", b"b|", timestamp=t + 1)
    assert guarded.verify("POST", "/a", fresh, b"b|", now=t + 1) == "k"
    with pytest.raises(ValueError):
        ws.HmacVerifier({"k": "s"}, replay_cache=True, cache_size=2 ** 31)


def test_secret_never_shown():
    secret = "very-secret-hmac-key-0123456789"
    auth = ws.HmacAuth("public-key-id", secret)
    assert secret not in repr(auth) and "public-key-id" in repr(auth)
    assert auth.api_key == "public-key-id"
    verifier = ws.HmacVerifier({"public-key-id": secret})
    assert secret not in repr(verifier)
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify("GET", "/", {"x-api-key": "public-key-id", "x-timestamp": "1",
                                     "x-signature": "AAAA"}, now=1)
    assert secret not in str(info.value) and secret not in repr(info.value)


def test_bad_arguments():
    with pytest.raises(ValueError):
        ws.HmacAuth("k", "s", encoding="base32")
    with pytest.raises(TypeError):
        ws.HmacAuth("k", 12345)
    with pytest.raises(TypeError):
        ws.HmacAuth(None, "s")
    with pytest.raises(ValueError):
        ws.HmacAuth("", "s")
    with pytest.raises(ValueError):
        ws.HmacAuth("k\r\nX-Injected: 1", "s")
    auth = ws.HmacAuth("k", "s")
    with pytest.raises(TypeError):
        auth.sign("GET", 17)
    with pytest.raises(TypeError):
        auth.sign("GET", "/", 3.14)
    with pytest.raises(TypeError):
        auth.sign("GET", "/", b"", timestamp="now")
    with pytest.raises(ValueError):
        auth.sign("GET", "/a\0b")
    with pytest.raises(TypeError):
        auth.sign("GET", "/", b"", 1730998051892)      # timestamp is keyword-only
    with pytest.raises(TypeError):
        ws.HmacVerifier(["k", "s"])
    with pytest.raises(TypeError):
        ws.HmacVerifier({"k": "s"}).verify("GET", "/", 42)
    with pytest.raises(TypeError):
        ws.HmacVerifier({"k": "s"}).verify("GET", "/", [("only-name",)])
