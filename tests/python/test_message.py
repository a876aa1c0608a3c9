"""message protocol: every vector of tests/vectors/message.json both ways,
sessions (Snowflake layout) and independent checks with walletref."""

import time

import pytest

import walletsign as ws
from conftest import body_of, ids, load_vectors
from tests.reference import walletref

V = load_vectors("message")
CASES = V["cases"]
NEGATIVE = V["verify_negative"]


def auth_for(case):
    return ws.MessageAuth(ws.Key.from_hex(case["private_key_hex"]), encoding=case["encoding"],
                          v_offset=case["v_offset"], empty_body=case["empty_body"],
                          digest=case["digest"], prefix=case["prefix"])


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_sign_fixed_matches_vector(case):
    auth = auth_for(case)
    assert auth.address == case["address"]
    headers = auth._sign_fixed(case["session"], case["sequence"], body_of(case),
                               case["timestamp_ms"])
    assert list(headers.items()) == list(case["headers"].items())


@pytest.mark.parametrize("case", [c for c in CASES if c["encoding"] == "rsv"],
                         ids=ids([c for c in CASES if c["encoding"] == "rsv"]))
def test_verify_vector(case):
    verifier = ws.MessageVerifier([case["address"]], digest=case["digest"])
    msg = verifier.verify(case["headers"], body_of(case), now=case["timestamp_ms"])
    assert msg == ws.Message(case["address"], case["session"], case["sequence"],
                             case["timestamp_ms"])
    assert msg.address == case["address"] and isinstance(msg.timestamp, int)


@pytest.mark.parametrize("case", NEGATIVE, ids=ids(NEGATIVE))
def test_verify_negative(case):
    verifier = ws.MessageVerifier(case["trusted"], window_ms=case["window_ms"],
                                  digest=case["digest"])
    body = bytes.fromhex(case["body_hex"])
    if case["verify_twice"]:
        verifier.verify(case["headers"], body, now=case["now_ms"])
    if case["expect_reason"] is None:
        msg = verifier.verify(case["headers"], body, now=case["now_ms"])
        assert msg.address.lower() == {k.lower(): v for k, v in
                                       case["headers"].items()}["x-message-address"].lower()
        return
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify(case["headers"], body, now=case["now_ms"])
    assert info.value.reason == case["expect_reason"], str(info.value)


def test_addresses():
    for entry in V["addresses"]:
        auth = ws.MessageAuth(ws.Key.from_hex(entry["private_key_hex"]))
        assert auth.address == entry["address"]


def test_session_is_a_fresh_snowflake():
    before = int(time.time() * 1000)
    auth = ws.MessageAuth(ws.Key.generate("secp256k1"))
    after = int(time.time() * 1000)
    session = auth.session
    assert isinstance(session, str) and session.isdigit()
    fields = walletref.snowflake_parse(session)
    assert before - 1000 <= fields["ms"] <= after + 1000
    headers = auth.sign("POST", "/access/get_address", b"{}")
    assert headers["X-Message-Session"] == session
    assert headers["X-Message-Sequence"] == "1"
    assert auth.sign("POST", "/x", b"{}")["X-Message-Sequence"] == "2"


@pytest.mark.parametrize("digest", ["sha256", "keccak256", "eip191"])
@pytest.mark.parametrize("body", [b"", b'{"type":"deposit_status","data":{"amount":"1.5"}}',
                                  "caf\u00e9 \u2603"])
def test_reference_verifies_fresh_signatures(digest, body):
    key = ws.Key.generate("secp256k1")
    auth = ws.MessageAuth(key, digest=digest)
    headers = auth.sign("POST", "/callback", body)
    raw = body.encode() if isinstance(body, str) else body
    now = int(headers["X-Message-Timestamp"])
    out = walletref.message_verify(headers, raw, [key.address], now, digest=digest, seen=set())
    assert out["address"] == key.address
    # ...and walletsign's own verifier agrees.
    msg = ws.MessageVerifier([key.address.lower()], digest=digest).verify(headers, raw)
    assert msg.sequence == "1"


@pytest.mark.parametrize("options", [dict(v_offset=0), dict(prefix=False),
                                     dict(empty_body="separator"),
                                     dict(v_offset=0, prefix=False)])
def test_rsv_options_verify(options):
    key = ws.Key.generate("secp256k1")
    headers = ws.MessageAuth(key, **options).sign("GET", "/", b"")
    sig = headers["X-Message-Signature"]
    assert sig.startswith("0x") == options.get("prefix", True)
    assert int(sig[-2:], 16) in ((0, 1) if options.get("v_offset") == 0 else (27, 28))
    walletref.message_verify(headers, b"", [key.address], int(headers["X-Message-Timestamp"]))
    ws.MessageVerifier([key.address]).verify(headers, b"")


@pytest.mark.parametrize("encoding", ["der_hex", "der_base64"])
def test_der_encodings_match_reference(encoding):
    """DER signatures are deterministic (RFC 6979): compare with the reference."""
    hexkey = V["addresses"][0]["private_key_hex"]
    auth = ws.MessageAuth(ws.Key.from_hex(hexkey), encoding=encoding)
    body = b'{"chain_type":"ETH","chain_id":"1"}'
    mine = auth._sign_fixed("634753971000192132", 7, body, 1730998051892)
    theirs = walletref.message_sign(hexkey, 1730998051892, "634753971000192132", 7, body,
                                    encoding=encoding)
    assert mine == theirs


def test_replay_and_window():
    key = ws.Key.generate("secp256k1")
    auth = ws.MessageAuth(key)
    verifier = ws.MessageVerifier([key.address], window_ms=5000)
    headers = auth.sign("POST", "/", b"x", timestamp=1730998051892)
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify(headers, b"x", now=1730998051892 + 5001)
    assert info.value.reason == "stale_timestamp"
    verifier.verify(headers, b"x", now=1730998051892 + 5000)
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify(headers, b"x", now=1730998051892 + 5000)
    assert info.value.reason == "replay"
    no_cache = ws.MessageVerifier([key.address], window_ms=5000, replay_cache=False)
    no_cache.verify(headers, b"x", now=1730998051892)
    no_cache.verify(headers, b"x", now=1730998051892)


def test_expired_entry_still_refused():
    """Verify X at T, let it expire with Y at T + window + 1, offer X again
    with the clock at T + window (inside X's window): refused, never taken."""
    key = ws.Key.generate("secp256k1")
    auth = ws.MessageAuth(key)
    verifier = ws.MessageVerifier([key.address], window_ms=60000)
    t = 1730998051892
    x = auth.sign("POST", "/cb", b"x", timestamp=t)
    y = auth.sign("POST", "/cb", b"y", timestamp=t + 60001)
    verifier.verify(x, b"x", now=t)
    verifier.verify(y, b"y", now=t + 60001)
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify(x, b"x", now=t + 60000)
    assert info.value.reason == "stale_timestamp"


def test_headers_as_pairs_bytes_and_mappings():
    key = ws.Key.generate("secp256k1")
    auth = ws.MessageAuth(key)
    verifier = ws.MessageVerifier([key.address])
    h = auth.sign("POST", "/", b"1")
    verifier.verify([(k.lower().encode(), v.encode()) for k, v in h.items()], b"1")
    h = auth.sign("POST", "/", b"2")
    verifier.verify(list(h.items()) + [("Content-Type", "application/json")], b"2")
    h = auth.sign("POST", "/", b"3")

    class Headers:   # a mapping-like object with items(), e.g. a framework's headers
        def __init__(self, d):
            self.d = d

        def items(self):
            return self.d.items()
    verifier.verify(Headers(h), memoryview(b"3"))
    with pytest.raises(TypeError):
        verifier.verify([("X-Message-Address", 5)], b"")
    with pytest.raises(TypeError):
        verifier.verify(None, b"")


def test_a_nul_in_a_header_is_malformed_not_cut_short():
    # The core judges the text the shim holds, whole: cut at the NUL, each of
    # these would verify.
    key = ws.Key.generate("secp256k1")
    auth = ws.MessageAuth(key)
    verifier = ws.MessageVerifier([key.address])
    h = auth.sign("POST", "/", b"1")
    for name in list(h) + ["X-Other"]:
        nul = dict(h, **{name: h.get(name, "1") + "\0junk"})
        with pytest.raises(ws.SignatureError) as info:
            verifier.verify(nul, b"1")
        assert info.value.reason == "malformed_header", name
    nul_name = [(k + "\0x" if k == "X-Message-Signature" else k, v) for k, v in h.items()]
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify(nul_name, b"1")
    assert info.value.reason == "malformed_header"
    as_bytes = [(k.encode(), v.encode() + (b"\0" if k == "X-Message-Session" else b""))
                for k, v in h.items()]
    with pytest.raises(ws.SignatureError) as info:
        verifier.verify(as_bytes, b"1")
    assert info.value.reason == "malformed_header"
    assert verifier.verify(h, b"1").address == key.address


def test_wrong_keys_and_options():
    with pytest.raises(ws.KeyFormatError):
        ws.MessageAuth(ws.Key.generate("P-256"))
    with pytest.raises(TypeError):
        ws.MessageAuth("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
    key = ws.Key.generate("secp256k1")
    for bad in (dict(encoding="base58"), dict(v_offset=1), dict(v_offset=28),
                dict(empty_body="never"), dict(digest="sha3")):
        with pytest.raises(ValueError):
            ws.MessageAuth(key, **bad)
    with pytest.raises(ValueError):
        ws.MessageVerifier(["0x1234"])
    with pytest.raises(TypeError):
        ws.MessageVerifier("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23")
    with pytest.raises(ValueError):
        ws.MessageVerifier([], digest="md5")
    auth = ws.MessageAuth(key)
    with pytest.raises(ValueError):
        auth._sign_fixed(-1, 1, b"", 1730998051892)
    with pytest.raises(ValueError):
        auth._sign_fixed(1 << 64, 1, b"", 1730998051892)
    assert "secp256k1" not in repr(auth) and key.address in repr(auth)


def test_public_key_cannot_sign_messages():
    from conftest import KEYS
    with pytest.raises(ws.KeyFormatError):
        ws.MessageAuth(ws.Key.load(KEYS / "secp256k1_public.pem"))


@pytest.mark.parametrize("session,sequence", [("0915000000000000001", "007"),
                                              ("00000000000000000042", "0001")])
def test_session_and_sequence_come_back_as_sent(session, sequence):
    """Leading zeros are part of the signed prehash: Message keeps the header
    text (issue #11 item 6), signed here by the independent walletref."""
    private_hex = V["cases"][0]["private_key_hex"]
    address = walletref.eth_address_from_private(private_hex)
    now = int(time.time() * 1000)
    headers = walletref.message_sign(private_hex, now, session, sequence, b"{}")
    msg = ws.MessageVerifier([address]).verify(headers, b"{}")
    assert (msg.session, msg.sequence) == (session, sequence)
    assert msg == ws.Message(address, session, sequence, now)
