"""Independent reference implementation of walletsign's three wire protocols.

This module is the oracle the test-suites and the mock server trust, so it
must never share code with walletsign: it is built only from PyJWT,
cryptography, python-ecdsa, pycryptodome (``Cryptodome``) and the standard
library.  The contract it implements is docs/protocols.md.

Run ``/usr/bin/python3 -m tests.reference.walletref`` from the repository root
for a self-check against the known answers of docs/protocols.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac as _hmac
import json
import math
import os
import re
from typing import Iterable

import ecdsa
import jwt as pyjwt
from Cryptodome.Hash import keccak as _keccak
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

__all__ = [
    "RefError",
    "hmac_prehash", "hmac_sign", "hmac_verify",
    "jwt_sign", "jwt_verify", "jwt_claims",
    "keccak256", "eth_address_from_private", "eth_address_from_public",
    "eip55", "message_prehash", "message_digest", "message_sign_digest",
    "message_encode", "message_sign", "message_recover", "message_verify",
    "snowflake_parse", "snowflake_make", "SNOWFLAKE_EPOCH_MS", "SECP256K1_N",
    "P256_N", "MESSAGE_HEADERS", "HMAC_HEADERS",
]

SECP256K1_N = ecdsa.SECP256k1.order
P256_N = ecdsa.NIST256p.order
SNOWFLAKE_EPOCH_MS = 1577836800000  # 2020-01-01T00:00:00Z

HMAC_HEADERS = ("x-api-key", "x-timestamp", "x-signature")
MESSAGE_HEADERS = (
    "X-Message-Address",
    "X-Message-Timestamp",
    "X-Message-Session",
    "X-Message-Sequence",
    "X-Message-Signature",
)

_DEC_RE = re.compile(r"^[0-9]+$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]*$")
_ADDR_RE = re.compile(r"^0[xX][0-9a-fA-F]{40}$")
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")
_U64_MAX = (1 << 64) - 1


class RefError(Exception):
    """A verification (or key) failure; ``.reason`` is the machine code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# ---------------------------------------------------------------------------
# 2. hmac
# ---------------------------------------------------------------------------

def hmac_prehash(ts_ms: int, method: str, path: str, body: bytes,
                 sep: str = "|") -> bytes:
    """``MS sep METHOD sep PATH_AND_QUERY sep BODY``; separator kept when BODY is empty."""
    if isinstance(path, bytes):
        path_b = path
    else:
        path_b = path.encode("utf-8")
    sep_b = sep.encode("utf-8")
    return (str(int(ts_ms)).encode("ascii") + sep_b + method.upper().encode("utf-8")
            + sep_b + path_b + sep_b + bytes(body or b""))


def _hmac_raw(secret: str | bytes, prehash: bytes) -> bytes:
    key = secret if isinstance(secret, bytes) else secret.encode("utf-8")
    return _hmac.new(key, prehash, hashlib.sha256).digest()


def _hmac_encode(mac: bytes, encoding: str) -> str:
    if encoding == "base64":
        return base64.b64encode(mac).decode("ascii")
    if encoding == "hex":
        return mac.hex()
    raise ValueError(f"unknown hmac encoding {encoding!r}")


def hmac_sign(secret: str, prehash: bytes, encoding: str = "base64") -> str:
    """HMAC-SHA256 over the prehash with the UTF-8 secret, base64 (padded) or lowercase hex."""
    return _hmac_encode(_hmac_raw(secret, prehash), encoding)


def _hmac_decode_sig(signature: str, encoding: str) -> bytes | None:
    try:
        if encoding == "base64":
            raw = base64.b64decode(signature.encode("ascii"), validate=True)
        elif encoding == "hex":
            if len(signature) != 64 or not _HEX_RE.match(signature):
                return None
            raw = bytes.fromhex(signature)
        else:
            raise ValueError(f"unknown hmac encoding {encoding!r}")
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return raw if len(raw) == 32 else None


def hmac_verify(secret: str, ts_ms: int, method: str, path: str, body: bytes,
                signature: str, now_ms: int, window_ms: int = 30000,
                encoding: str = "base64", sep: str = "|") -> None:
    """Raise RefError('bad_signature'|'stale_timestamp') unless valid.

    A timestamp is fresh iff ``|now_ms - ts_ms| <= window_ms`` (inclusive).
    """
    expected = _hmac_raw(secret, hmac_prehash(ts_ms, method, path, body, sep))
    got = _hmac_decode_sig(signature if isinstance(signature, str) else "", encoding)
    # compare_digest on equal-length buffers even when decoding failed, so the
    # failure path does not differ in timing from a wrong MAC.
    ok = _hmac.compare_digest(expected, got if got is not None else b"\0" * 32)
    if not ok or got is None:
        raise RefError("bad_signature")
    if abs(int(now_ms) - int(ts_ms)) > int(window_ms):
        raise RefError("stale_timestamp")


# ---------------------------------------------------------------------------
# 1. jwt
# ---------------------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode_strict(seg: str) -> bytes:
    if not _B64URL_RE.match(seg) or len(seg) % 4 == 1:
        raise RefError("malformed", "bad base64url")
    try:
        return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))
    except (binascii.Error, ValueError) as exc:
        raise RefError("malformed", "bad base64url") from exc


def _load_private_key(private_pem: bytes, password: bytes | None = None):
    if isinstance(private_pem, str):
        private_pem = private_pem.encode("ascii")
    if private_pem.lstrip().startswith(b"-----"):
        return serialization.load_pem_private_key(private_pem, password=password)
    return serialization.load_der_private_key(private_pem, password=password)


def _jwt_alg_for_key(key) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise RefError("wrong_curve", key.curve.name)
        return "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise RefError("weak_key", f"RSA-{key.key_size}")
        return "RS256"
    raise RefError("unsupported_key", type(key).__name__)


def jwt_claims(kid: str, uri: str, body: bytes, iat: int, ttl: int = 10,
               nonce_hex: str | None = None) -> dict:
    """The claim set in its wire order: kid, sub, iat, exp, nonce, bodyHash, uri."""
    if nonce_hex is None:
        nonce_hex = os.urandom(20).hex()
    if len(nonce_hex) != 40 or not _HEX_RE.match(nonce_hex):
        raise ValueError("nonce_hex must be 40 hex characters")
    return {
        "kid": kid,
        "sub": "wallet",
        "iat": int(iat),
        "exp": int(iat) + int(ttl),
        "nonce": nonce_hex.lower(),
        "bodyHash": hashlib.sha256(bytes(body or b"")).hexdigest(),
        "uri": uri,
    }


class _DeterministicES256(pyjwt.algorithms.ECAlgorithm):
    """PyJWT's ES256 with an RFC 6979 nonce (python-ecdsa) instead of a random one.

    Only used so that regenerated vectors are byte-identical; verifiers cannot
    tell the difference.  Returns raw r||s like PyJWT's own ES256.
    """

    def __init__(self):
        super().__init__(self.SHA256)

    def sign(self, msg: bytes, key) -> bytes:
        d = key.private_numbers().private_value
        sk = ecdsa.SigningKey.from_secret_exponent(d, curve=ecdsa.NIST256p,
                                                   hashfunc=hashlib.sha256)
        return sk.sign_deterministic(msg, hashfunc=hashlib.sha256,
                                     sigencode=ecdsa.util.sigencode_string)


_det_jws = pyjwt.api_jws.PyJWS()
_det_jws.unregister_algorithm("ES256")
_det_jws.register_algorithm("ES256", _DeterministicES256())


def _raw_to_der(raw: bytes) -> bytes:
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"),
                                int.from_bytes(raw[half:], "big"))


def jwt_sign(private_pem: bytes, kid: str, uri: str, body: bytes, iat: int,
             ttl: int = 10, nonce_hex: str | None = None,
             signature_format: str = "der", password: bytes | None = None,
             deterministic: bool = False) -> str:
    """A Halogen bearer token; ES256 signature DER by default, ``"raw"`` for r||s.

    ``deterministic=True`` uses an RFC 6979 nonce for ES256 (vector generation
    only); RS256 is deterministic anyway.
    """
    if signature_format not in ("der", "raw"):
        raise ValueError("signature_format must be 'der' or 'raw'")
    key = _load_private_key(private_pem, password)
    alg = _jwt_alg_for_key(key)
    claims = jwt_claims(kid, uri, body, iat, ttl, nonce_hex)
    if deterministic and alg == "ES256":
        payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
        token = _det_jws.encode(payload, key, algorithm=alg, headers={"typ": "JWT"})
    else:
        token = pyjwt.encode(claims, key, algorithm=alg, headers={"typ": "JWT"})
    # The bytes PyJWT produced must be exactly the contract's bytes.
    h, p, s = token.split(".")
    want_h = _b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    want_p = _b64url(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    if h != want_h or p != want_p:
        raise AssertionError("PyJWT produced unexpected header/payload bytes")
    if alg == "ES256" and signature_format == "der":
        s = _b64url(_raw_to_der(_b64url_decode_strict(s)))
    return f"{h}.{p}.{s}"


def _load_public_key(public_pem: bytes):
    if isinstance(public_pem, str):
        public_pem = public_pem.encode("ascii")
    try:
        return serialization.load_pem_public_key(public_pem)
    except ValueError:
        return _load_private_key(public_pem).public_key()


_REQUIRED_CLAIMS = {"kid": str, "sub": str, "iat": int, "exp": int,
                    "nonce": str, "bodyHash": str, "uri": str}


def _json_object_unique(data: bytes, what: str) -> dict:
    """A UTF-8 JSON object in which no object names a member twice."""
    def pairs(items):
        names = [k for k, _ in items]
        if len(set(names)) != len(names):
            raise RefError("malformed", f"{what} names a member twice")
        return dict(items)
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=pairs)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RefError("malformed", f"{what} is not UTF-8 JSON") from exc
    if not isinstance(value, dict):
        raise RefError("malformed", f"{what} is not an object")
    return value


def _numeric_date(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def jwt_verify(token: str, public_pem: bytes, now: int, leeway: int = 0,
               max_ttl: int = 300) -> dict:
    """Verify a Halogen token and return its claims.

    Order: structure/header (malformed) -> signature (bad_signature) ->
    payload/claims (malformed) -> lifetime (lifetime_too_long) -> time
    (expired).  Header and payload are UTF-8 JSON objects that name no
    member twice; a header with ``crit`` is refused (RFC 7515 4.1.11: no
    extension is understood).  iat and exp are NumericDates and may be
    fractional: exp counts rounded down and iat rounded up for the time
    checks, and the lifetime ``exp - iat`` (at most ``max_ttl``) rounds exp
    up and iat down: each check the stricter way.  The token is expired iff
    ``now >= exp + leeway`` (RFC 7519 "on or after", as PyJWT) and not yet
    valid iff ``iat > now + leeway``; both report ``expired``.
    ES256 signatures are accepted DER-encoded or raw (exactly 64 bytes).
    """
    if not isinstance(token, str):
        raise RefError("malformed", "token is not a string")
    parts = token.split(".")
    if len(parts) != 3:
        raise RefError("malformed", "not three parts")
    h_seg, p_seg, s_seg = parts
    header_b = _b64url_decode_strict(h_seg)
    payload_b = _b64url_decode_strict(p_seg)
    sig = _b64url_decode_strict(s_seg)
    header = _json_object_unique(header_b, "header")
    if not isinstance(header.get("alg"), str):
        raise RefError("malformed", "header has no alg")
    if "crit" in header:
        raise RefError("malformed", "header has crit")
    alg = header["alg"]
    key = _load_public_key(public_pem)
    signing_input = f"{h_seg}.{p_seg}".encode("ascii")
    if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) \
            and isinstance(key.curve, ec.SECP256R1):
        if len(sig) == 64:
            der = _raw_to_der(sig)
        else:
            try:
                r, s = decode_dss_signature(sig)
            except ValueError as exc:
                raise RefError("bad_signature", "not DER") from exc
            der = encode_dss_signature(r, s)
            if der != sig:  # only canonical DER
                raise RefError("bad_signature", "non-canonical DER")
        try:
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise RefError("bad_signature") from exc
    elif alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
        try:
            key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise RefError("bad_signature") from exc
    else:
        # "none", HS256 and any alg/key mismatch are signature failures.
        raise RefError("bad_signature", f"alg {alg!r} not acceptable for this key")
    claims = _json_object_unique(payload_b, "payload")
    for name, typ in _REQUIRED_CLAIMS.items():
        v = claims.get(name)
        ok = _numeric_date(v) if typ is int else isinstance(v, typ)
        if not ok:
            raise RefError("malformed", f"claim {name} missing or wrong type")
    iat, exp = math.ceil(claims["iat"]), math.floor(claims["exp"])
    # The cap rounds the other way: the longest the token could be said to live.
    lifetime = math.ceil(claims["exp"]) - math.floor(claims["iat"])
    if lifetime > max_ttl:
        raise RefError("lifetime_too_long", f"{lifetime} s")
    if now >= exp + leeway:
        raise RefError("expired", "exp")
    if iat > now + leeway:
        raise RefError("expired", "iat in the future")
    return claims


# ---------------------------------------------------------------------------
# 3. message
# ---------------------------------------------------------------------------

def keccak256(data: bytes) -> bytes:
    """Original Keccak-256 (Ethereum), not SHA3-256."""
    h = _keccak.new(digest_bits=256)
    h.update(bytes(data))
    return h.digest()


def eip55(addr20: bytes | str) -> str:
    """EIP-55 checksummed ``0x`` address from 20 bytes or any-case hex."""
    if isinstance(addr20, (bytes, bytearray)):
        low = bytes(addr20).hex()
    else:
        low = addr20[2:].lower() if addr20[:2] in ("0x", "0X") else addr20.lower()
    h = keccak256(low.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(h[i], 16) >= 8 else c
                          for i, c in enumerate(low))


def eth_address_from_public(pub64: bytes) -> str:
    pub64 = bytes(pub64)
    if len(pub64) == 65 and pub64[0] == 4:
        pub64 = pub64[1:]
    if len(pub64) != 64:
        raise ValueError("need the 64-byte uncompressed public key")
    return eip55(keccak256(pub64)[12:])


def _sk(priv_hex: str) -> ecdsa.SigningKey:
    raw = bytes.fromhex(priv_hex[2:] if priv_hex[:2] in ("0x", "0X") else priv_hex)
    if len(raw) != 32:
        raise ValueError("private key must be 32 bytes")
    return ecdsa.SigningKey.from_string(raw, curve=ecdsa.SECP256k1,
                                        hashfunc=hashlib.sha256)


def eth_address_from_private(priv_hex: str) -> str:
    return eth_address_from_public(_sk(priv_hex).get_verifying_key().to_string())


def message_prehash(ts_ms: int, session, sequence, body: bytes,
                    empty_body: str = "omit") -> bytes:
    """``TS#SESSION#SEQUENCE#BODY``; with an empty body ``TS#SESSION#SEQUENCE``
    ("omit") or ``TS#SESSION#SEQUENCE#`` ("separator").  Strings are used verbatim."""
    head = f"{ts_ms}#{session}#{sequence}".encode("ascii")
    body = bytes(body or b"")
    if body:
        return head + b"#" + body
    if empty_body == "omit":
        return head
    if empty_body == "separator":
        return head + b"#"
    raise ValueError(f"unknown empty_body {empty_body!r}")


def message_digest(prehash: bytes, digest: str = "sha256") -> bytes:
    if digest == "sha256":
        return hashlib.sha256(prehash).digest()
    if digest == "keccak256":
        return keccak256(prehash)
    if digest == "eip191":
        return keccak256(b"\x19Ethereum Signed Message:\n"
                         + str(len(prehash)).encode("ascii") + prehash)
    raise ValueError(f"unknown digest {digest!r}")


def _recid_of(vk: ecdsa.VerifyingKey, digest32: bytes, r: int, s: int) -> int:
    """Recovery id from the nonce point R = (e/s)G + (r/s)Q itself."""
    n = SECP256K1_N
    e = int.from_bytes(digest32, "big") % n
    w = pow(s, -1, n)
    R = ecdsa.SECP256k1.generator * (e * w % n) + vk.pubkey.point * (r * w % n)
    x, y = R.x(), R.y()
    if x % n != r:
        raise AssertionError("signature does not verify")
    return (y & 1) | (2 if x >= n else 0)


def message_sign_digest(priv_hex: str, digest32: bytes) -> tuple[int, int, int]:
    """(r, s, recid): RFC 6979 (HMAC-SHA256) nonce, low-S normalised."""
    if len(digest32) != 32:
        raise ValueError("digest must be 32 bytes")
    sk = _sk(priv_hex)
    vk = sk.get_verifying_key()
    r, s = sk.sign_digest_deterministic(digest32, hashfunc=hashlib.sha256,
                                        sigencode=lambda r, s, order: (r, s))
    if s > SECP256K1_N // 2:
        s = SECP256K1_N - s
    recid = _recid_of(vk, digest32, r, s)
    # Cross-check with python-ecdsa's own public-key recovery (index = y parity).
    cands = ecdsa.VerifyingKey.from_public_key_recovery_with_digest(
        r.to_bytes(32, "big") + s.to_bytes(32, "big"), digest32,
        curve=ecdsa.SECP256k1, hashfunc=hashlib.sha256,
        sigdecode=ecdsa.util.sigdecode_string)
    if recid < 2 and cands[recid].to_string() != vk.to_string():
        raise AssertionError("recovery id cross-check failed")
    return r, s, recid


def message_encode(r: int, s: int, recid: int, encoding: str = "rsv",
                   v_offset: int = 27, prefix: bool = True) -> str:
    pre = "0x" if prefix else ""
    if encoding == "rsv":
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([recid + v_offset])
        return pre + raw.hex()
    if encoding == "der_hex":
        return pre + encode_dss_signature(r, s).hex()
    if encoding == "der_base64":
        return base64.b64encode(encode_dss_signature(r, s)).decode("ascii")
    raise ValueError(f"unknown signature encoding {encoding!r}")


def message_sign(priv_hex: str, ts_ms: int, session, sequence, body: bytes,
                 digest: str = "sha256", empty_body: str = "omit",
                 encoding: str = "rsv", v_offset: int = 27,
                 prefix: bool = True) -> dict:
    """The five X-Message-* headers (exact names) for one message."""
    pre = message_prehash(ts_ms, session, sequence, body, empty_body)
    r, s, recid = message_sign_digest(priv_hex, message_digest(pre, digest))
    return {
        "X-Message-Address": eth_address_from_private(priv_hex),
        "X-Message-Timestamp": str(ts_ms),
        "X-Message-Session": str(session),
        "X-Message-Sequence": str(sequence),
        "X-Message-Signature": message_encode(r, s, recid, encoding, v_offset, prefix),
    }


def message_recover(signature: str, digest32: bytes) -> list[str]:
    """Candidate signer addresses for a header signature value.

    Accepts hex (optional ``0x``) of 65 bytes r||s||v with v in {0,1,27,28},
    or 64 bytes r||s (both recovery ids are tried).  Anything that is not hex
    of 64/65 bytes is ``malformed_header`` (DER is a signer option for other
    systems, not a verifier input); a bad v, high S, r or s out of range or a
    failed recovery is ``bad_signature``.
    """
    if not isinstance(signature, str):
        raise RefError("malformed_header", "signature")
    h = signature[2:] if signature[:2] in ("0x", "0X") else signature
    if len(h) not in (128, 130) or not _HEX_RE.match(h):
        raise RefError("malformed_header", "signature is not 64/65 bytes of hex")
    raw = bytes.fromhex(h)
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    n = SECP256K1_N
    if len(raw) == 65:
        v = raw[64]
        if v in (27, 28):
            recids = [v - 27]
        elif v in (0, 1):
            recids = [v]
        else:
            raise RefError("bad_signature", f"v={v}")
    else:
        recids = [0, 1]
    if not (0 < r < n) or not (0 < s < n):
        raise RefError("bad_signature", "r or s out of range")
    if s > n // 2:
        raise RefError("bad_signature", "high S")
    if len(digest32) != 32:
        raise ValueError("digest must be 32 bytes")
    try:
        cands = ecdsa.VerifyingKey.from_public_key_recovery_with_digest(
            raw[:64], digest32, curve=ecdsa.SECP256k1, hashfunc=hashlib.sha256,
            sigdecode=ecdsa.util.sigdecode_string)
    except Exception as exc:  # no curve point with x = r, point at infinity, ...
        raise RefError("bad_signature", "recovery failed") from exc
    out = []
    for rid in recids:
        vk = cands[rid]
        # A recovered key always verifies; check anyway (cheap, independent).
        if vk.verify_digest(raw[:64], digest32, sigdecode=ecdsa.util.sigdecode_string):
            out.append(eth_address_from_public(vk.to_string()))
    return out


def _ci_get(headers: dict, name: str):
    low = name.lower()
    for k, v in headers.items():
        if k.lower() == low:
            return v
    return None


def message_verify(headers: dict, body: bytes, trusted: Iterable[str], now_ms: int,
                   window_ms: int = 60000, digest: str = "sha256",
                   seen: set | None = None) -> dict:
    """Verify the five X-Message-* headers over ``body``.

    Checks, in order: missing_header, malformed_header (address, decimals,
    signature syntax), bad_signature (v, high S, recovery, signer != header
    address), untrusted_address, stale_timestamp (``|now-ts| > window``),
    replay (``(address_lower, session, sequence)`` in ``seen``; added on success).
    """
    vals = {}
    for name in MESSAGE_HEADERS:
        v = _ci_get(headers, name)
        if v is None:
            raise RefError("missing_header", name)
        vals[name] = v
    addr = vals["X-Message-Address"]
    ts_s = vals["X-Message-Timestamp"]
    session = vals["X-Message-Session"]
    sequence = vals["X-Message-Sequence"]
    sig = vals["X-Message-Signature"]
    if not isinstance(addr, str) or not _ADDR_RE.match(addr):
        raise RefError("malformed_header", "X-Message-Address")
    for name, val in (("X-Message-Timestamp", ts_s), ("X-Message-Session", session),
                      ("X-Message-Sequence", sequence)):
        if not isinstance(val, str) or not _DEC_RE.match(val) or int(val) > _U64_MAX:
            raise RefError("malformed_header", name)
    body = bytes(body or b"")
    forms = ["omit", "separator"] if not body else ["omit"]
    signers: set = set()
    for form in forms:
        d = message_digest(message_prehash(ts_s, session, sequence, body, form), digest)
        signers.update(a.lower() for a in message_recover(sig, d))
    addr_l = addr.lower()
    if addr_l not in signers:
        raise RefError("bad_signature", "signer does not match X-Message-Address")
    if addr_l not in {t.lower() for t in trusted}:
        raise RefError("untrusted_address", addr)
    ts = int(ts_s)
    if abs(int(now_ms) - ts) > int(window_ms):
        raise RefError("stale_timestamp")
    if seen is not None:
        key = (addr_l, session, sequence)
        if key in seen:
            raise RefError("replay")
        seen.add(key)
    return {"address": eip55(addr_l), "session": session, "sequence": sequence,
            "timestamp": ts}


def snowflake_parse(session) -> dict:
    v = int(session)
    return {"ms": (v >> 22) + SNOWFLAKE_EPOCH_MS,
            "worker": (v >> 12) & 0x3FF,
            "counter": v & 0xFFF}


def snowflake_make(ms: int, worker: int, counter: int) -> int:
    if not (0 <= ms - SNOWFLAKE_EPOCH_MS < (1 << 41)) or not (0 <= worker < 1024) \
            or not (0 <= counter < 4096):
        raise ValueError("snowflake field out of range")
    return ((ms - SNOWFLAKE_EPOCH_MS) << 22) | (worker << 12) | counter


# ---------------------------------------------------------------------------
# self-check
# ---------------------------------------------------------------------------

def _selfcheck() -> None:
    pre = hmac_prehash(1730998051892, "get", "/v1/wallet/list?skip=0&take=25&orderBy=desc", b"")
    assert pre == b"1730998051892|GET|/v1/wallet/list?skip=0&take=25&orderBy=desc|", pre
    assert hmac_sign("your-secret-key", pre) == "PPBSJ4HyLVAjVwMXCKkFrYQ9RN7DfB8mBBNzbZkhIvs="
    assert hmac_sign("your-secret-key", pre, "hex") == \
        "3cf0522781f22d502357031708a905ad843d44dec37c1f260413736d992122fb"
    hmac_verify("your-secret-key", 1730998051892, "GET",
                "/v1/wallet/list?skip=0&take=25&orderBy=desc", b"",
                "PPBSJ4HyLVAjVwMXCKkFrYQ9RN7DfB8mBBNzbZkhIvs=", 1730998051892 + 30000)
    for bad in (dict(signature="QPBSJ4HyLVAjVwMXCKkFrYQ9RN7DfB8mBBNzbZkhIvs="),
                dict(now_ms=1730998051892 + 30001)):
        args = dict(signature="PPBSJ4HyLVAjVwMXCKkFrYQ9RN7DfB8mBBNzbZkhIvs=",
                    now_ms=1730998051892)
        args.update(bad)
        try:
            hmac_verify("your-secret-key", 1730998051892, "GET",
                        "/v1/wallet/list?skip=0&take=25&orderBy=desc", b"", **args)
        except RefError:
            pass
        else:
            raise AssertionError("hmac_verify accepted a bad request")

    assert keccak256(b"").hex() == \
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    kpriv = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    assert eth_address_from_private(kpriv) == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    assert eth_address_from_private("00" * 31 + "01") == \
        "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    # EIP-55 spec examples
    for a in ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
              "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
              "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"):
        assert eip55(a.lower()) == a

    hdrs = message_sign(kpriv, 1700000000000, "412162395226804224", "1", b'{"a":1}')
    assert hdrs["X-Message-Address"] == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    seen: set = set()
    out = message_verify({k.lower(): v for k, v in hdrs.items()}, b'{"a":1}',
                         {"0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"},
                         1700000000000, seen=seen)
    assert out["address"] == hdrs["X-Message-Address"]
    try:
        message_verify(hdrs, b'{"a":1}', {hdrs["X-Message-Address"]}, 1700000000000, seen=seen)
    except RefError as e:
        assert e.reason == "replay"
    else:
        raise AssertionError("replay accepted")
    # 64-byte r||s verifies
    h64 = dict(hdrs, **{"X-Message-Signature": hdrs["X-Message-Signature"][:-2]})
    message_verify(h64, b'{"a":1}', {hdrs["X-Message-Address"]}, 1700000000000)
    sf = snowflake_parse(snowflake_make(1700000000000, 5, 7))
    assert sf == {"ms": 1700000000000, "worker": 5, "counter": 7}

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    pub = serialization.load_pem_private_key(pem, None).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for fmt in ("der", "raw"):
        tok = jwt_sign(pem, "kid-1", "/query", b"{}", 1700000000, nonce_hex="ab" * 20,
                       signature_format=fmt)
        c = jwt_verify(tok, pub, 1700000001)
        assert list(c) == ["kid", "sub", "iat", "exp", "nonce", "bodyHash", "uri"]
        if fmt == "raw":  # PyJWT itself accepts the RFC 7518 form
            pyjwt.decode(tok, pub, algorithms=["ES256"],
                         options={"verify_exp": False, "verify_iat": False})
    print("walletref self-check OK")


if __name__ == "__main__":
    _selfcheck()
