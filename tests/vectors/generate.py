#!/usr/bin/python3
"""Generate walletsign's shared test vectors from independent libraries only.

    /usr/bin/python3 tests/vectors/generate.py        (from anywhere)

Writes tests/vectors/{hmac,message,jwt}.json and tests/vectors/keys/.  Keys
are created once and reused afterwards (RSA generation and PEM encryption
are random); everything else is seeded, so a second run rewrites identical
bytes.  The oracle is tests/reference/walletref.py (PyJWT, cryptography,
python-ecdsa, pycryptodome); walletsign itself is never imported.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import string
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import ecdsa  # noqa: E402
import jwt as pyjwt  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: E402
    decode_dss_signature, encode_dss_signature)

from tests.reference import walletref as W  # noqa: E402

assert "walletsign" not in sys.modules, "the vectors must not depend on walletsign"

VEC = ROOT / "tests" / "vectors"
KEYS = VEC / "keys"
PASSWORD = "correct horse battery staple"
BODY_HEX_MAX = 4096
MIB = 1 << 20
BIG_PATTERN = "walletsign|1MiB#body café ₿ 日本\n".encode("utf-8")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def repeat_body(pattern: bytes, length: int) -> bytes:
    return (pattern * (length // len(pattern) + 1))[:length]


BIG_BODY = repeat_body(BIG_PATTERN, MIB)


def body_fields(body: bytes) -> dict:
    """body_hex for small bodies, body_repeat for the 1 MiB ones."""
    if len(body) <= BODY_HEX_MAX:
        return {"body_hex": body.hex()}
    assert body == repeat_body(BIG_PATTERN, len(body))
    return {"body_repeat": {"pattern_hex": BIG_PATTERN.hex(), "length": len(body)}}


def prehash_fields(pre: bytes, big: bool) -> dict:
    out = {} if big else {"prehash_hex": pre.hex()}
    out["prehash_sha256"] = hashlib.sha256(pre).hexdigest()
    return out


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def write_json(name: str, obj) -> None:
    text = json.dumps(obj, indent=1, ensure_ascii=False) + "\n"
    (VEC / name).write_text(text, encoding="utf-8")


def kept_detection() -> list:
    """keys.json's "detection" cases are written by hand (which bytes are
    PEM, DER, hex or none of them is walletsign's rule, not a library's
    answer): regeneration keeps them as they are."""
    path = VEC / "keys" / "keys.json"
    return json.loads(path.read_text(encoding="utf-8")).get("detection", []) if path.exists() else []


def rand_hex(rng: random.Random, nbytes: int) -> str:
    return bytes(rng.getrandbits(8) for _ in range(nbytes)).hex()


BODIES = {
    "empty": b"",
    "json": b'{"name":"list_client_accounts","payload":{"accountIds":["account_123","account_456"]}}',
    "utf8": '{"name":"create_investment_request","payload":{"note":"café ₿ 日本","amount":"10.00"}}'.encode("utf-8"),
    "pipe_hash": b'{"memo":"a|b#c||##d","sep":"|#|","path":"/x?y=1|2#frag"}',
    "binary": bytes(range(256)) + b"\x00\xff|#\r\n\x00",
    "body_4096": repeat_body(b'{"pad":"0123456789abcdef"}', BODY_HEX_MAX),
    "big": BIG_BODY,
    "callback": (b'{"type":"deposit_status","data":{"address":"0x8F9092CE573e41d72378Cf8c9d3335584e6843F1",'
                 b'"amount":"1.5","txid":"0xabc","status":"confirmed"}}'),
    "rpc_result": b'{"result":{"id":19,"value":"abc"},"error":null}',
}


def rand_json_body(rng: random.Random) -> bytes:
    n = rng.randrange(1, 6)
    obj = {"name": rng.choice(["get_address", "batch_withdraw", "list_client_accounts",
                               "create_investment_request", "deposit"]),
           "payload": {f"k{i}": rng.choice([rng.randrange(10 ** 9), rand_hex(rng, 6),
                                            "ü€" * rng.randrange(3), None, True])
                       for i in range(n)}}
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------

def _fixed_scalar(label: bytes, order: int) -> int:
    return int.from_bytes(hashlib.sha256(b"walletsign vectors " + label).digest(), "big") % (order - 1) + 1


def _pem_priv(key, fmt, password: bytes | None = None, enc=serialization.Encoding.PEM) -> bytes:
    alg = (serialization.BestAvailableEncryption(password) if password
           else serialization.NoEncryption())
    return key.private_bytes(enc, fmt, alg)


def _pem_pub(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    """The openssl command's own output: files as users make them."""
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True,
                          check=True).stdout


def _pem_block(pem: bytes, label: str) -> bytes:
    """The one block of a multi-block PEM file that has this label."""
    found = re.findall(rb"-----BEGIN %s-----\r?\n.*?-----END %s-----\r?\n"
                       % (label.encode(), label.encode()), pem, re.S)
    assert len(found) == 1, (label, pem)
    return found[0]


def ensure_keys() -> dict:
    """Create missing key files (never overwrite); return loaded private keys."""
    KEYS.mkdir(parents=True, exist_ok=True)

    def once(name: str, make) -> bytes:
        p = KEYS / name
        if not p.exists():
            p.write_bytes(make())
        return p.read_bytes()

    TRAD = serialization.PrivateFormat.TraditionalOpenSSL
    PKCS8 = serialization.PrivateFormat.PKCS8
    load = serialization.load_pem_private_key

    p256_pem = once("p256_sec1.pem", lambda: _pem_priv(
        ec.derive_private_key(_fixed_scalar(b"p256", W.P256_N), ec.SECP256R1()), TRAD))
    p256 = load(p256_pem, None)
    once("p256_pkcs8.pem", lambda: _pem_priv(p256, PKCS8))
    once("p256_pkcs8_encrypted.pem", lambda: _pem_priv(p256, PKCS8, PASSWORD.encode()))
    once("p256_public.pem", lambda: _pem_pub(p256))
    once("p256.der", lambda: _pem_priv(p256, PKCS8, enc=serialization.Encoding.DER))

    rsa2048 = load(once("rsa2048_pkcs1.pem", lambda: _pem_priv(
        rsa.generate_private_key(65537, 2048), TRAD)), None)
    once("rsa2048_public.pem", lambda: _pem_pub(rsa2048))
    rsa4096 = load(once("rsa4096_pkcs8.pem", lambda: _pem_priv(
        rsa.generate_private_key(65537, 4096), PKCS8)), None)
    once("rsa4096_public.pem", lambda: _pem_pub(rsa4096))
    rsa1024 = load(once("rsa1024_pkcs1.pem", lambda: _pem_priv(
        rsa.generate_private_key(65537, 1024), TRAD)), None)

    k1 = load(once("secp256k1_sec1.pem", lambda: _pem_priv(
        ec.derive_private_key(_fixed_scalar(b"secp256k1", W.SECP256K1_N), ec.SECP256K1()), TRAD)), None)
    once("secp256k1_public.pem", lambda: _pem_pub(k1))
    p384 = load(once("p384_sec1.pem", lambda: _pem_priv(
        ec.derive_private_key(_fixed_scalar(b"p384", ecdsa.NIST384p.order), ec.SECP384R1()), TRAD)), None)

    def truncated() -> bytes:
        return p256_pem[: len(p256_pem) // 2]

    def garbage() -> bytes:
        g = random.Random("walletsign garbage.pem")
        alphabet = string.ascii_letters + string.digits + "!?*&%$ .,;"
        lines = ["".join(g.choice(alphabet) for _ in range(64)) for _ in range(5)]
        return ("-----BEGIN EC PRIVATE KEY-----\n" + "\n".join(lines)
                + "\n-----END EC PRIVATE KEY-----\n").encode("ascii")

    once("truncated.pem", truncated)
    once("garbage.pem", garbage)

    # What `openssl ecparam -genkey` writes without -noout: an EC PARAMETERS
    # block before the EC PRIVATE KEY. The key itself is read from its block.
    p256_ecparam = load(_pem_block(once("p256_ecparam.pem", lambda: _openssl(
        "ecparam", "-name", "prime256v1", "-genkey")), "EC PRIVATE KEY"), None)
    k1_ecparam = load(_pem_block(once("secp256k1_ecparam.pem", lambda: _openssl(
        "ecparam", "-name", "secp256k1", "-genkey")), "EC PRIVATE KEY"), None)
    # Files that are not keys: parameters alone, a CSR, an indented PEM.
    once("p256_params_only.pem", lambda: _openssl("ecparam", "-name", "prime256v1"))
    once("p256_params.der", lambda: _openssl("ecparam", "-name", "prime256v1", "-outform", "DER"))
    once("p256_csr.pem", lambda: _openssl("req", "-new", "-key", str(KEYS / "p256_sec1.pem"),
                                          "-subj", "/CN=walletsign test"))
    once("p256_indented.pem", lambda: b"".join(b"    " + line
                                               for line in p256_pem.splitlines(True)))
    ed = load(once("ed25519_pkcs8.pem", lambda: _pem_priv(
        ed25519.Ed25519PrivateKey.from_private_bytes(
            hashlib.sha256(b"walletsign vectors ed25519").digest()), PKCS8)), None)

    # The password must be the one this file documents, whoever made the file.
    enc = load((KEYS / "p256_pkcs8_encrypted.pem").read_bytes(), PASSWORD.encode())
    assert enc.private_numbers() == p256.private_numbers()
    der = serialization.load_der_private_key((KEYS / "p256.der").read_bytes(), None)
    assert der.private_numbers() == p256.private_numbers()
    return {"p256": p256, "rsa2048": rsa2048, "rsa4096": rsa4096, "rsa1024": rsa1024,
            "secp256k1": k1, "p384": p384, "ed25519": ed,
            "p256_ecparam": p256_ecparam, "secp256k1_ecparam": k1_ecparam}


def _ec_pub_hex(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint).hex()


def keys_json(keys: dict) -> dict:
    def entry(file, kind, key, private, fmt, expect, public_file=None, password=None,
              warn=False, message_ok=False, error_hint=None):
        k = keys.get(key) if key else None
        e = {"file": file, "kind": kind, "key": key, "private": private,
             "format": fmt, "encoding": "der" if file.endswith(".der") else "pem",
             "bits": None, "password": password, "expect": expect,
             "warn": warn, "message_ok": message_ok, "error_hint": error_hint,
             "public_key_file": public_file, "public_pem": None,
             "public_key_hex": None, "rsa_modulus_hex": None, "rsa_public_exponent": None}
        if k is not None:
            pub = k.public_key()
            e["public_pem"] = _pem_pub(k).decode("ascii")
            if isinstance(k, rsa.RSAPrivateKey):
                e["bits"] = k.key_size
                e["rsa_modulus_hex"] = format(pub.public_numbers().n, "x")
                e["rsa_public_exponent"] = pub.public_numbers().e
            elif isinstance(k, ec.EllipticCurvePrivateKey):
                e["bits"] = k.curve.key_size
                e["public_key_hex"] = _ec_pub_hex(k)
            elif isinstance(k, ed25519.Ed25519PrivateKey):
                e["bits"] = 256
                e["public_key_hex"] = pub.public_bytes(serialization.Encoding.Raw,
                                                       serialization.PublicFormat.Raw).hex()
        return e

    files = [
        entry("p256_sec1.pem", "p256", "p256", True, "sec1", "ok", "p256_public.pem"),
        entry("p256_pkcs8.pem", "p256", "p256", True, "pkcs8", "ok", "p256_public.pem"),
        entry("p256_pkcs8_encrypted.pem", "p256", "p256", True, "pkcs8_encrypted", "ok",
              "p256_public.pem", password=PASSWORD),
        entry("p256_public.pem", "p256", "p256", False, "spki", "ok_public", "p256_public.pem"),
        entry("p256.der", "p256", "p256", True, "pkcs8", "ok", "p256_public.pem"),
        entry("rsa2048_pkcs1.pem", "rsa", "rsa2048", True, "pkcs1", "ok", "rsa2048_public.pem", warn=True),
        entry("rsa2048_public.pem", "rsa", "rsa2048", False, "spki", "ok_public", "rsa2048_public.pem", warn=True),
        entry("rsa4096_pkcs8.pem", "rsa", "rsa4096", True, "pkcs8", "ok", "rsa4096_public.pem"),
        entry("rsa4096_public.pem", "rsa", "rsa4096", False, "spki", "ok_public", "rsa4096_public.pem"),
        entry("rsa1024_pkcs1.pem", "rsa", "rsa1024", True, "pkcs1", "weak"),
        entry("secp256k1_sec1.pem", "secp256k1", "secp256k1", True, "sec1", "wrong_curve",
              "secp256k1_public.pem", message_ok=True),
        entry("secp256k1_public.pem", "secp256k1", "secp256k1", False, "spki", "wrong_curve",
              "secp256k1_public.pem", message_ok=True),
        entry("p384_sec1.pem", "p384", "p384", True, "sec1", "wrong_curve"),
        entry("truncated.pem", "invalid", None, True, "sec1", "malformed"),
        entry("garbage.pem", "invalid", None, True, "sec1", "malformed"),
        entry("ed25519_pkcs8.pem", "ed25519", "ed25519", True, "pkcs8", "unsupported"),
        entry("p256_ecparam.pem", "p256", "p256_ecparam", True, "sec1_with_params", "ok"),
        entry("secp256k1_ecparam.pem", "secp256k1", "secp256k1_ecparam", True,
              "sec1_with_params", "wrong_curve", message_ok=True),
        entry("p256_params_only.pem", "invalid", None, False, "ec_parameters", "malformed",
              error_hint="EC PARAMETERS"),
        entry("p256_params.der", "invalid", None, False, "ec_parameters", "malformed",
              error_hint="EC parameters only"),
        entry("p256_csr.pem", "invalid", None, False, "csr", "malformed",
              error_hint="CERTIFICATE REQUEST"),
        entry("p256_indented.pem", "invalid", None, True, "sec1", "malformed",
              error_hint="indented"),
    ]
    for e in files:
        if e["kind"] == "secp256k1":
            k1 = keys[e["key"]]
            k1_hex = format(k1.private_numbers().private_value, "064x")
            pub64 = bytes.fromhex(_ec_pub_hex(k1))[1:]
            assert W.eth_address_from_private(k1_hex) == W.eth_address_from_public(pub64)
            if e["private"]:
                e["private_key_hex"] = k1_hex
            e["address"] = W.eth_address_from_public(pub64)
    for e in files:  # every file listed exists, nothing unlisted
        assert (KEYS / e["file"]).exists(), e["file"]
    on_disk = {p.name for p in KEYS.iterdir() if p.suffix in (".pem", ".der")}
    assert on_disk == {e["file"] for e in files}, on_disk ^ {e["file"] for e in files}
    return {"format_version": 1, "password": PASSWORD, "keys": files}


# ---------------------------------------------------------------------------
# hmac.json
# ---------------------------------------------------------------------------

def hmac_case(name, secret, api_key, method, path, ts, body, encoding="base64", sep="|"):
    pre = W.hmac_prehash(ts, method, path, body, sep)
    sig = W.hmac_sign(secret, pre, encoding)
    # independent re-computation with the stdlib only
    mac = hmac.new(secret.encode("utf-8"), pre, hashlib.sha256).digest()
    assert sig == (base64.b64encode(mac).decode() if encoding == "base64" else mac.hex())
    W.hmac_verify(secret, ts, method, path, body, sig, ts, encoding=encoding, sep=sep)
    c = {"name": name, "secret": secret, "secret_hex": secret.encode("utf-8").hex(),
         "api_key": api_key, "method": method, "path": path, "timestamp_ms": ts}
    c.update(body_fields(body))
    c.update({"encoding": encoding, "separator": sep})
    c.update(prehash_fields(pre, len(body) > BODY_HEX_MAX))
    c["signature"] = sig
    c["headers"] = {"x-api-key": api_key, "x-timestamp": str(ts), "x-signature": sig}
    return c


def gen_hmac() -> dict:
    rng = random.Random(1234)
    ka_path = "/v1/wallet/list?skip=0&take=25&orderBy=desc"
    cases = []
    add = cases.append

    def ts():
        return rng.randrange(1_600_000_000_000, 1_900_000_000_000)

    def key():
        return "ak_" + rand_hex(rng, 12)

    ka = hmac_case("protocols_md_known_answer", "your-secret-key", "your-api-key",
                   "GET", ka_path, 1730998051892, b"")
    assert ka["signature"] == "PPBSJ4HyLVAjVwMXCKkFrYQ9RN7DfB8mBBNzbZkhIvs="
    add(ka)
    kh = hmac_case("protocols_md_known_answer_hex", "your-secret-key", "your-api-key",
                   "GET", ka_path, 1730998051892, b"", "hex")
    assert kh["signature"] == "3cf0522781f22d502357031708a905ad843d44dec37c1f260413736d992122fb"
    add(kh)
    add(hmac_case("protocols_md_known_answer_lowercase_method", "your-secret-key", "your-api-key",
                  "get", ka_path, 1730998051892, b""))

    secret = "s3cr3t-" + rand_hex(rng, 16)
    get_paths = [
        ("get_list", ka_path),
        ("get_query_two_params", "/v1/wallet/balance?currency=USDT&network=TRC20"),
        ("get_percent_encoded", "/v1/search?q=caf%C3%A9%20%E2%82%BF&tag=%7C%23&next=%2Fa%3Fb"),
        ("get_unicode_path", "/v1/wallets/café/日本?name=₿&emoji=🔑"),
        ("get_root", "/"),
        ("get_no_query", "/v1/wallet/list"),
        ("get_trailing_question_mark", "/v1/wallet/list?"),
        ("get_pipe_in_query", "/v1/orders?filter=a|b&ids=1,2,3&sort=-created_at"),
        ("get_repeated_params", "/v1/tx?id=1&id=2&id=3&empty=&flag"),
        ("get_plus_and_space_encoding", "/v1/search?q=a+b%20c&x=%2B"),
        ("get_long_query", "/v1/tx?" + "&".join(f"p{i}=v{i}" for i in range(60))),
    ]
    for i, (name, path) in enumerate(get_paths):
        enc = "hex" if i % 2 else "base64"
        add(hmac_case(f"{name}_{enc}", secret, key(), "GET", path, ts(), b"", enc))

    methods = ["POST", "PUT", "DELETE", "PATCH"]
    bodies = ["json", "utf8", "pipe_hash", "binary", "empty"]
    i = 0
    for m in methods:
        for b in bodies:
            enc = "hex" if i % 2 else "base64"
            path = f"/v1/wallet/{m.lower()}/{i}"
            add(hmac_case(f"{m.lower()}_{b}_{enc}", secret, key(), m, path, ts(), BODIES[b], enc))
            i += 1

    for m in ["post", "put", "delete", "patch", "Post", "gEt"]:
        add(hmac_case(f"lowercase_method_{m}", secret, key(), m, "/v1/wallet/withdraw?x=1", ts(),
                      BODIES["json"] if m.lower() != "get" else b""))

    for sep in [":", ""]:
        for enc in ["base64", "hex"]:
            for b in ["json", "empty"]:
                sname = "colon" if sep == ":" else "empty"
                add(hmac_case(f"separator_{sname}_{b}_{enc}", secret, key(), "POST",
                              "/v1/wallet/transfer?a=1", ts(), BODIES[b], enc, sep))

    for sname, sec in [("non_ascii_secret", "sécret-ключ-🔑"), ("cjk_secret", "日本語の秘密鍵"),
                       ("secret_1_byte", "k"), ("secret_64_bytes", "k" * 64),
                       ("secret_65_bytes", "k" * 65), ("secret_200_bytes", "long-" * 40)]:
        for enc in ["base64", "hex"]:
            add(hmac_case(f"{sname}_{enc}", sec, key(), "POST", "/v1/wallet/deposit",
                          ts(), BODIES["utf8"], enc))

    add(hmac_case("body_4096_bytes", secret, key(), "POST", "/v1/upload", ts(), BODIES["body_4096"]))
    add(hmac_case("body_1mib_base64", secret, key(), "POST", "/v1/upload", ts(), BIG_BODY))
    add(hmac_case("body_1mib_hex", secret, key(), "PUT", "/v1/upload?part=1", ts(), BIG_BODY, "hex"))
    add(hmac_case("timestamp_small", secret, key(), "GET", "/v1/time", 1000000000000, b""))

    for j in range(10):
        m = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH"])
        body = b"" if m == "GET" else rand_json_body(rng)
        path = f"/v{rng.randrange(1, 4)}/{rand_hex(rng, 4)}?n={rng.randrange(1000)}"
        add(hmac_case(f"random_{j}", "rs-" + rand_hex(rng, 20), key(), m, path, ts(), body,
                      rng.choice(["base64", "hex"]), rng.choice(["|", "|", ":"])))

    # ---- verify_negative (expect_reason null = must verify) ----
    neg = []

    def nc(name, *, base, expect, **over):
        c = {"name": name}
        c.update(base)
        c.update(over)
        c["expect_reason"] = expect
        try:
            W.hmac_verify(c["secret"], c["timestamp_ms"], c["method"], c["path"],
                          bytes.fromhex(c["body_hex"]), c["signature"], c["now_ms"],
                          c["window_ms"], c["encoding"], c["separator"])
            got = None
        except W.RefError as e:
            got = e.reason
        assert got == expect, (name, got, expect)
        neg.append(c)

    t0 = 1730998051892
    body = BODIES["json"]
    base = {"secret": secret, "api_key": "ak_negative", "method": "POST",
            "path": "/v1/wallet/withdraw?id=7", "timestamp_ms": t0, "body_hex": body.hex(),
            "encoding": "base64", "separator": "|", "now_ms": t0 + 1234, "window_ms": 30000}
    base["signature"] = W.hmac_sign(secret, W.hmac_prehash(t0, "POST", base["path"], body))
    hbase = dict(base, encoding="hex",
                 signature=W.hmac_sign(secret, W.hmac_prehash(t0, "POST", base["path"], body), "hex"))

    def flip_b64(s):
        i = 10
        return s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]

    nc("valid", base=base, expect=None)
    nc("valid_hex", base=hbase, expect=None)
    nc("valid_at_window_edge_past", base=base, expect=None, now_ms=t0 + 30000)
    nc("valid_at_window_edge_future", base=base, expect=None, now_ms=t0 - 30000)
    nc("valid_lowercase_method_input", base=base, expect=None, method="post")
    nc("stale_past", base=base, expect="stale_timestamp", now_ms=t0 + 30001)
    nc("stale_future", base=base, expect="stale_timestamp", now_ms=t0 - 30001)
    nc("stale_far_past", base=base, expect="stale_timestamp", now_ms=t0 + 86_400_000)
    nc("stale_custom_window", base=base, expect="stale_timestamp", now_ms=t0 + 5001, window_ms=5000)
    nc("valid_custom_window", base=base, expect=None, now_ms=t0 - 5000, window_ms=5000)
    nc("tampered_signature_base64", base=base, expect="bad_signature",
       signature=flip_b64(base["signature"]))
    nc("tampered_signature_hex", base=hbase, expect="bad_signature",
       signature=hbase["signature"][:-1] + ("0" if hbase["signature"][-1] != "0" else "1"))
    nc("truncated_signature", base=base, expect="bad_signature", signature=base["signature"][:-4])
    nc("empty_signature", base=base, expect="bad_signature", signature="")
    nc("signature_not_base64", base=base, expect="bad_signature", signature="!" * 44)
    nc("hex_signature_where_base64_expected", base=base, expect="bad_signature",
       signature=hbase["signature"])
    nc("base64_signature_where_hex_expected", base=hbase, expect="bad_signature",
       signature=base["signature"])
    nc("wrong_secret", base=base, expect="bad_signature",
       signature=W.hmac_sign("not-the-secret", W.hmac_prehash(t0, "POST", base["path"], body)))
    nc("tampered_body", base=base, expect="bad_signature",
       body_hex=body.replace(b"account_123", b"account_124").hex())
    nc("body_dropped", base=base, expect="bad_signature", body_hex="")
    nc("tampered_path", base=base, expect="bad_signature", path="/v1/wallet/withdraw?id=8")
    nc("tampered_method", base=base, expect="bad_signature", method="PUT")
    nc("tampered_timestamp", base=base, expect="bad_signature", timestamp_ms=t0 + 1)
    nc("wrong_separator", base=base, expect="bad_signature", separator=":")

    # ---- refused_secrets: signer and verifier must refuse these at set-up ----
    # An empty HMAC key is valid to RFC 2104 and to Python's hmac, and known
    # to everyone: whoever knows the api key could sign.
    refused = [{"name": "empty_secret", "secret": "", "secret_hex": "",
                "api_key": "ak_empty_secret", "expect_error": "argument"}]
    return {"format_version": 1, "cases": cases, "verify_negative": neg,
            "refused_secrets": refused}


# ---------------------------------------------------------------------------
# message.json
# ---------------------------------------------------------------------------

KNOWN_PRIV = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KNOWN_ADDR = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


def msg_case(name, priv, ts, session, sequence, body, digest="sha256", empty_body="omit",
             encoding="rsv", v_offset=27, prefix=True):
    session, sequence = str(session), str(sequence)
    pre = W.message_prehash(ts, session, sequence, body, empty_body)
    d = W.message_digest(pre, digest)
    r, s, recid = W.message_sign_digest(priv, d)
    assert s <= W.SECP256K1_N // 2
    headers = W.message_sign(priv, ts, session, sequence, body, digest, empty_body,
                             encoding, v_offset, prefix)
    sig = headers["X-Message-Signature"]
    assert sig == W.message_encode(r, s, recid, encoding, v_offset, prefix)
    # independent verification of (r, s) with python-ecdsa, and of the headers
    vk = ecdsa.SigningKey.from_string(bytes.fromhex(priv), curve=ecdsa.SECP256k1).get_verifying_key()
    assert vk.verify_digest(r.to_bytes(32, "big") + s.to_bytes(32, "big"), d)
    if encoding == "rsv":
        W.message_verify(headers, body, {headers["X-Message-Address"]}, ts, digest=digest)
    c = {"name": name, "private_key_hex": priv, "address": W.eth_address_from_private(priv),
         "timestamp_ms": ts, "session": session, "sequence": sequence}
    c.update(body_fields(body))
    c.update({"digest": digest, "empty_body": empty_body, "encoding": encoding,
              "v_offset": v_offset, "prefix": prefix})
    c.update(prehash_fields(pre, len(body) > BODY_HEX_MAX))
    c.update({"digest_hex": d.hex(), "r_hex": format(r, "064x"), "s_hex": format(s, "064x"),
              "recid": recid, "signature": sig, "headers": headers})
    return c


def gen_message() -> dict:
    rng = random.Random(1235)
    n = W.SECP256K1_N
    assert W.eth_address_from_private(KNOWN_PRIV) == KNOWN_ADDR

    privs = [KNOWN_PRIV, format(1, "064x"), format(2, "064x"), format(n - 1, "064x"),
             format(n // 2, "064x")]
    privs += [format(_fixed_scalar(b"message key %d" % i, n), "064x") for i in range(8)]
    addresses = [{"private_key_hex": p, "address": W.eth_address_from_private(p)} for p in privs]
    assert addresses[0]["address"] == KNOWN_ADDR
    assert addresses[1]["address"] == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"

    def ts():
        return rng.randrange(1_650_000_000_000, 1_800_000_000_000)

    def session_for(t):
        return str(W.snowflake_make(t - rng.randrange(1, 86_400_000 * 30), rng.randrange(1024),
                                    rng.randrange(4096)))

    cases = []
    add = cases.append
    t = 1730998051892
    add(msg_case("protocols_md_known_answer", KNOWN_PRIV, t, session_for(t), "1", BODIES["json"]))

    body_cycle = ["json", "utf8", "pipe_hash", "binary", "callback", "empty", "rpc_result"]
    i = 0
    for digest in ["sha256", "keccak256", "eip191"]:
        for encoding in ["rsv", "der_hex", "der_base64"]:
            for v_offset in [27, 0]:
                for prefix in [True, False]:
                    b = body_cycle[i % len(body_cycle)]
                    priv = privs[i % len(privs)]
                    t = ts()
                    name = f"{digest}_{encoding}_v{v_offset}_{'0x' if prefix else 'noprefix'}_{b}"
                    add(msg_case(name, priv, t, session_for(t), str(i + 1), BODIES[b], digest,
                                 "omit" if i % 2 else "separator", encoding, v_offset, prefix))
                    i += 1

    for digest in ["sha256", "keccak256", "eip191"]:
        for eb in ["omit", "separator"]:
            t = ts()
            add(msg_case(f"empty_body_{eb}_{digest}", privs[5], t, session_for(t), "7", b"",
                         digest, eb))
    for digest in ["sha256", "keccak256", "eip191"]:
        t = ts()
        add(msg_case(f"body_1mib_{digest}", privs[6], t, session_for(t), "42", BIG_BODY, digest))
    for b in ["utf8", "pipe_hash", "binary", "body_4096", "callback", "rpc_result"]:
        t = ts()
        add(msg_case(b if b.startswith("body_") else f"body_{b}", privs[7], t, session_for(t), "3", BODIES[b]))

    sessions = [("session_1", "1"), ("session_2p53_plus_1", str(2 ** 53 + 1)),
                ("session_max_snowflake", str(2 ** 63 - 1)), ("session_u64_max", str(2 ** 64 - 1)),
                ("session_epoch_start", str(W.snowflake_make(W.SNOWFLAKE_EPOCH_MS, 0, 0)))]
    for name, sess in sessions:
        add(msg_case(name, privs[8], ts(), sess, "1", BODIES["json"]))
    for name, seq in [("sequence_2", "2"), ("sequence_2p32_plus_1", str(2 ** 32 + 1)),
                      ("sequence_2p53_plus_1", str(2 ** 53 + 1)), ("sequence_u64_max", str(2 ** 64 - 1))]:
        t = ts()
        add(msg_case(name, privs[9], t, session_for(t), seq, BODIES["json"]))
    for j, p in enumerate(privs[1:5]):
        t = ts()
        add(msg_case(f"edge_key_{j}", p, t, session_for(t), "1", BODIES["callback"]))
    for j in range(12):
        t = ts()
        body = rand_json_body(rng) if rng.random() < 0.8 else b""
        p = format(_fixed_scalar(b"random message key %d" % j, n), "064x")
        add(msg_case(f"random_{j}", p, t, session_for(t), str(rng.randrange(1, 10 ** 6)), body,
                     rng.choice(["sha256", "keccak256", "eip191"]), rng.choice(["omit", "separator"]),
                     rng.choice(["rsv", "der_hex", "der_base64"]), rng.choice([27, 0]),
                     rng.choice([True, False])))
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names))

    # ---- verify_negative ----
    neg = []
    priv = privs[10]
    addr = W.eth_address_from_private(priv)
    other_priv = privs[11]
    other_addr = W.eth_address_from_private(other_priv)
    t0 = 1730998051892
    sess = str(W.snowflake_make(t0 - 3_600_000, 77, 5))
    body = BODIES["callback"]
    good = W.message_sign(priv, t0, sess, "9", body)
    sig = good["X-Message-Signature"]
    raw = bytes.fromhex(sig[2:])
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    v = raw[64]

    def rsv(r_, s_, v_=None, pre="0x"):
        b = r_.to_bytes(32, "big") + s_.to_bytes(32, "big") + (bytes([v_]) if v_ is not None else b"")
        return pre + b.hex()

    def nc(name, expect, *, headers=None, body_=body, trusted=None, now=t0 + 1500,
           window=60000, digest="sha256", twice=False, drop=None, **hdr):
        h = dict(headers if headers is not None else good)
        for k, val in hdr.items():
            h[{"addr": "X-Message-Address", "ts": "X-Message-Timestamp", "sess": "X-Message-Session",
               "seq": "X-Message-Sequence", "sig": "X-Message-Signature"}[k]] = val
        if drop:
            del h[drop]
        c = {"name": name, "headers": h, "body_hex": body_.hex(),
             "trusted": trusted if trusted is not None else [addr],
             "now_ms": now, "window_ms": window, "digest": digest, "verify_twice": twice,
             "expect_reason": expect}
        seen: set = set()
        try:
            W.message_verify(h, body_, c["trusted"], now, window, digest, seen)
            if twice:
                W.message_verify(h, body_, c["trusted"], now, window, digest, seen)
            got = None
        except W.RefError as e:
            got = e.reason
        assert got == expect, (name, got, expect)
        neg.append(c)

    nc("valid", None)
    nc("valid_64_byte_rs_no_v", None, sig=sig[:-2])
    nc("valid_64_byte_rs_no_prefix", None, sig=sig[2:-2])
    nc("valid_v_0_1", None, sig=rsv(r, s, v - 27))
    nc("valid_no_0x_prefix", None, sig=sig[2:])
    nc("valid_uppercase_hex_signature", None, sig="0x" + sig[2:].upper())
    nc("valid_lowercase_address_header", None, addr=addr.lower())
    nc("valid_lowercase_header_names", None, headers={k.lower(): val for k, val in good.items()})
    nc("valid_trusted_set_lowercase", None, trusted=[addr.lower()])
    nc("valid_window_edge", None, now=t0 + 60000)
    e_omit = W.message_sign(priv, t0, sess, "10", b"", empty_body="omit")
    e_sep = W.message_sign(priv, t0, sess, "11", b"", empty_body="separator")
    nc("valid_empty_body_omit_form", None, headers=e_omit, body_=b"")
    nc("valid_empty_body_separator_form", None, headers=e_sep, body_=b"")
    for dg in ["keccak256", "eip191"]:
        nc(f"valid_digest_{dg}", None, headers=W.message_sign(priv, t0, sess, "12", body, dg), digest=dg)

    nc("high_s", "bad_signature", sig=rsv(r, n - s, 55 - v))
    nc("high_s_64_byte", "bad_signature", sig=rsv(r, n - s))
    nc("wrong_recid_v_flipped", "bad_signature", sig=rsv(r, s, 55 - v))
    for bad_v in [29, 26, 2, 3, 35, 255]:
        nc(f"v_{bad_v}", "bad_signature", sig=rsv(r, s, bad_v))
    nc("r_zero", "bad_signature", sig=rsv(0, s, v))
    nc("s_zero", "bad_signature", sig=rsv(r, 0, v))
    nc("r_equals_n", "bad_signature", sig=rsv(n, s, v))
    nc("length_63_bytes", "malformed_header", sig=sig[:2 + 126])
    nc("length_66_bytes", "malformed_header", sig=sig + "00")
    nc("odd_hex_length", "malformed_header", sig=sig[:-1])
    nc("non_hex_signature", "malformed_header", sig="0x" + "zz" + sig[4:])
    nc("empty_signature", "malformed_header", sig="")
    rr, ss = r, s
    nc("der_hex_signature_not_accepted", "malformed_header",
       sig="0x" + encode_dss_signature(rr, ss).hex())
    nc("der_base64_signature_not_accepted", "malformed_header",
       sig=base64.b64encode(encode_dss_signature(rr, ss)).decode())
    nc("untrusted_address", "untrusted_address", trusted=[other_addr])
    nc("untrusted_empty_trusted_set", "untrusted_address", trusted=[])
    nc("address_header_not_signer", "bad_signature", addr=other_addr, trusted=[addr, other_addr])
    nc("address_header_malformed_short", "malformed_header", addr="0x1234")
    nc("address_header_no_0x", "malformed_header", addr=addr[2:])
    nc("stale_past", "stale_timestamp", now=t0 + 60001)
    nc("stale_future", "stale_timestamp", now=t0 - 60001)
    nc("stale_custom_window", "stale_timestamp", now=t0 + 10001, window=10000)
    nc("tampered_body_byte", "bad_signature", body_=body.replace(b"1.5", b"9.5"))
    nc("body_dropped", "bad_signature", body_=b"")
    nc("tampered_session", "bad_signature", sess=str(int(sess) + 1))
    nc("tampered_sequence", "bad_signature", seq="10")
    nc("tampered_timestamp", "bad_signature", ts=str(t0 + 1))
    nc("wrong_digest_expected", "bad_signature", digest="keccak256")
    for hname in W.MESSAGE_HEADERS:
        nc("missing_" + hname.lower().replace("-", "_"), "missing_header", drop=hname)
    nc("sequence_not_decimal", "malformed_header", seq="9a")
    nc("sequence_negative", "malformed_header", seq="-9")
    nc("sequence_above_u64", "malformed_header", seq=str(2 ** 64))
    nc("session_hex", "malformed_header", sess=hex(int(sess)))
    nc("session_empty", "malformed_header", sess="")
    nc("timestamp_float", "malformed_header", ts="1.730998051892e12")
    nc("timestamp_plus_sign", "malformed_header", ts="+" + str(t0))
    nc("replay_same_headers_twice", "replay", twice=True)

    snow = []
    for ms, worker, counter in [(W.SNOWFLAKE_EPOCH_MS, 0, 0), (1730998051892, 77, 5),
                                (1730998051892, 1023, 4095),
                                (W.SNOWFLAKE_EPOCH_MS + (1 << 41) - 1, 1023, 4095),
                                (1700000000000, 1, 1)]:
        sid = W.snowflake_make(ms, worker, counter)
        assert W.snowflake_parse(sid) == {"ms": ms, "worker": worker, "counter": counter}
        snow.append({"session": str(sid), "ms": ms, "worker": worker, "counter": counter})

    kec = []
    for ln in [0, 1, 3, 31, 32, 33, 55, 56, 64, 100, 127, 128, 135, 136, 137, 200, 271, 272, 273,
               500, 1000, 1088, 4096]:
        data = b"abc" if ln == 3 else bytes(rng.getrandbits(8) for _ in range(ln))
        kec.append({"input_hex": data.hex(), "digest_hex": W.keccak256(data).hex()})
    fox = b"The quick brown fox jumps over the lazy dog"
    kec.append({"input_hex": fox.hex(), "digest_hex": W.keccak256(fox).hex()})
    kec.append({"input_hex": (b"\xff" * 136).hex(), "digest_hex": W.keccak256(b"\xff" * 136).hex()})
    assert kec[0]["digest_hex"] == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert kec[2]["digest_hex"] == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    assert kec[-2]["digest_hex"] == "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15"

    return {"format_version": 1, "addresses": addresses, "cases": cases,
            "verify_negative": neg, "snowflake": snow, "keccak": kec}


# ---------------------------------------------------------------------------
# jwt.json
# ---------------------------------------------------------------------------

def _es256_raw(key, signing_input: bytes) -> bytes:
    d = key.private_numbers().private_value
    sk = ecdsa.SigningKey.from_secret_exponent(d, curve=ecdsa.NIST256p, hashfunc=hashlib.sha256)
    return sk.sign_deterministic(signing_input, hashfunc=hashlib.sha256,
                                 sigencode=ecdsa.util.sigencode_string)


def _raw_to_der(raw: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def make_token(header, payload, key, alg=None, fmt="der", h_seg=None, p_seg=None) -> str:
    """Assemble a token from arbitrary header/payload (dict or bytes), signed properly."""
    h = h_seg if h_seg is not None else b64url(header if isinstance(header, bytes) else compact(header))
    p = p_seg if p_seg is not None else b64url(payload if isinstance(payload, bytes) else compact(payload))
    si = f"{h}.{p}".encode("ascii")
    if alg == "ES256":
        raw = _es256_raw(key, si)
        sig = raw if fmt == "raw" else _raw_to_der(raw)
    elif alg == "RS256":
        sig = key.sign(si, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "HS256":
        sig = hmac.new(key, si, hashlib.sha256).digest()
    else:
        sig = b""
    return f"{h}.{p}.{b64url(sig)}"


def gen_jwt(keys: dict) -> dict:
    rng = random.Random(1236)
    pem = {name: (KEYS / name).read_bytes() for name in
           ["rsa2048_pkcs1.pem", "rsa4096_pkcs8.pem", "p256_sec1.pem", "p256_pkcs8.pem",
            "p256_pkcs8_encrypted.pem", "p256.der", "p256_public.pem", "rsa2048_public.pem",
            "rsa4096_public.pem"]}
    pub_of = {"rsa2048_pkcs1.pem": "rsa2048_public.pem", "rsa4096_pkcs8.pem": "rsa4096_public.pem"}

    def iat():
        return rng.randrange(1_650_000_000, 1_800_000_000)

    def kid():
        return rng.choice([
            lambda: "halogen-key-" + str(rng.randrange(1000)),
            lambda: "-".join(rand_hex(rng, n) for n in (4, 2, 2, 2, 6)),
            lambda: "ak_" + rand_hex(rng, 16),
            lambda: "KID." + rand_hex(rng, 3).upper() + "_x-y",
        ])()

    def check_claims(token, pubfile, claims, now):
        got = W.jwt_verify(token, pem[pubfile], now)
        assert got == claims and list(got) == list(claims)

    rs = []
    bodies = ["json", "empty", "utf8", "pipe_hash", "binary", "callback", "big"]
    ttls = [10, 1, 30, 300, 60]
    i = 0
    for key_file in ["rsa2048_pkcs1.pem", "rsa4096_pkcs8.pem"]:
        for b in bodies:
            for uri in ["/query", "/command"]:
                ttl = ttls[i % len(ttls)]
                k, t, nonce = kid(), iat(), rand_hex(rng, 20)
                body = BODIES[b]
                tok = W.jwt_sign(pem[key_file], k, uri, body, t, ttl, nonce)
                claims = W.jwt_claims(k, uri, body, t, ttl, nonce)
                # independent decode with PyJWT
                dec = pyjwt.decode(tok, pem[pub_of[key_file]], algorithms=["RS256"],
                                   options={"verify_exp": False, "verify_iat": False})
                assert dec == claims
                check_claims(tok, pub_of[key_file], claims, t)
                c = {"name": f"{key_file.split('_')[0]}_{b}_{uri[1:]}_ttl{ttl}", "key_file": key_file,
                     "public_key_file": pub_of[key_file], "kid": k, "uri": uri}
                c.update(body_fields(body))
                c.update({"iat": t, "ttl": ttl, "nonce_hex": nonce, "token": tok, "claims": claims})
                rs.append(c)
                i += 1

    es = []
    key_files = ["p256_sec1.pem", "p256_pkcs8.pem", "p256_pkcs8_encrypted.pem", "p256.der"]
    ebodies = ["json", "empty", "utf8", "pipe_hash", "binary", "big", "callback"]
    for j in range(28):
        key_file = key_files[j % len(key_files)]
        fmt = "der" if j % 2 == 0 else "raw"
        b = ebodies[j % len(ebodies)]
        uri = "/query" if (j // 2) % 2 == 0 else "/command"
        ttl = ttls[j % len(ttls)]
        k, t, nonce = kid(), iat(), rand_hex(rng, 20)
        password = PASSWORD.encode() if key_file.endswith("encrypted.pem") else None
        tok = W.jwt_sign(pem[key_file], k, uri, BODIES[b], t, ttl, nonce, fmt, password,
                         deterministic=True)
        claims = W.jwt_claims(k, uri, BODIES[b], t, ttl, nonce)
        now = t + rng.randrange(ttl)
        h, p, s = tok.split(".")
        sig = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
        pub = keys["p256"].public_key()
        if fmt == "raw":
            assert len(sig) == 64
            assert pyjwt.decode(tok, pem["p256_public.pem"], algorithms=["ES256"],
                                options={"verify_exp": False, "verify_iat": False}) == claims
            sig = _raw_to_der(sig)
        else:
            decode_dss_signature(sig)
        pub.verify(sig, f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))  # cryptography
        check_claims(tok, "p256_public.pem", claims, now)
        c = {"name": f"es256_{fmt}_{key_file.replace('.pem', '').replace('.', '_')}_{b}_{uri[1:]}_{j}", "key_file": key_file,
             "password": PASSWORD if password else None, "public_key_file": "p256_public.pem",
             "kid": k, "uri": uri}
        c.update(body_fields(BODIES[b]))
        c.update({"iat": t, "ttl": ttl, "nonce_hex": nonce, "token": tok, "format": fmt,
                  "claims": claims, "now": now})
        es.append(c)

    # ---- verify_negative ----
    neg = []
    p256, r2048, r4096 = keys["p256"], keys["rsa2048"], keys["rsa4096"]
    other_p256 = ec.derive_private_key(_fixed_scalar(b"other p256", W.P256_N), ec.SECP256R1())
    T = 1730998051
    claims = W.jwt_claims("halogen-key-7", "/command", BODIES["json"], T, 10, "0123456789abcdef" * 2 + "01234567")
    now = T + 3
    hES = {"alg": "ES256", "typ": "JWT"}
    hRS = {"alg": "RS256", "typ": "JWT"}

    def nc(name, token, expect, pubfile="p256_public.pem", now_=now, leeway=0, max_ttl=300):
        c = {"name": name, "public_key_file": pubfile, "token": token, "now": now_,
             "leeway": leeway, "max_ttl": max_ttl, "expect_reason": expect}
        try:
            W.jwt_verify(token, pem[pubfile], now_, leeway, max_ttl)
            got = None
        except W.RefError as e:
            got = e.reason
        assert got == expect, (name, got, expect)
        neg.append(c)

    es_der = make_token(hES, claims, p256, "ES256", "der")
    es_raw = make_token(hES, claims, p256, "ES256", "raw")
    rs_tok = make_token(hRS, claims, r2048, "RS256")
    assert rs_tok == W.jwt_sign(pem["rsa2048_pkcs1.pem"], claims["kid"], "/command", BODIES["json"],
                                T, 10, claims["nonce"])
    nc("valid_es256_der", es_der, None)
    nc("valid_es256_raw", es_raw, None)
    nc("valid_rs256", rs_tok, None, "rsa2048_public.pem")

    def swap(tok, idx, seg):
        parts = tok.split(".")
        parts[idx] = seg
        return ".".join(parts)

    tampered = dict(claims, bodyHash=hashlib.sha256(b"{}").hexdigest())
    nc("tampered_payload_es256", swap(es_der, 1, b64url(compact(tampered))), "bad_signature")
    nc("tampered_payload_rs256", swap(rs_tok, 1, b64url(compact(tampered))), "bad_signature",
       "rsa2048_public.pem")
    nc("tampered_payload_uri", swap(es_raw, 1, b64url(compact(dict(claims, uri="/query")))),
       "bad_signature")

    def flip_sig(tok, byte_index):
        h, p, s = tok.split(".")
        sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
        sig[byte_index] ^= 0x01
        return f"{h}.{p}.{b64url(bytes(sig))}"

    nc("tampered_signature_es256_der", flip_sig(es_der, 10), "bad_signature")
    nc("tampered_signature_es256_raw", flip_sig(es_raw, 40), "bad_signature")
    nc("tampered_signature_rs256", flip_sig(rs_tok, 100), "bad_signature", "rsa2048_public.pem")
    nc("es256_raw_signature_63_bytes", swap(es_raw, 2, b64url(
        base64.urlsafe_b64decode(es_raw.split(".")[2] + "==")[:63])), "bad_signature")
    der_sig = base64.urlsafe_b64decode(es_der.split(".")[2] + "==")
    nc("es256_der_trailing_garbage", swap(es_der, 2, b64url(der_sig + b"\x00")), "bad_signature")
    nc("es256_empty_signature", swap(es_der, 2, ""), "bad_signature")
    nc("alg_none_empty_signature", make_token({"alg": "none", "typ": "JWT"}, claims, None, "none"),
       "bad_signature")
    nc("alg_none_with_signature", swap(es_der, 0, b64url(compact({"alg": "none", "typ": "JWT"}))),
       "bad_signature")
    nc("alg_hs256_public_key_as_secret",
       make_token({"alg": "HS256", "typ": "JWT"}, claims, pem["p256_public.pem"], "HS256"), "bad_signature")
    nc("alg_mismatch_rs256_header_ec_key", rs_tok, "bad_signature", "p256_public.pem")
    nc("alg_mismatch_es256_header_rsa_key", es_der, "bad_signature", "rsa2048_public.pem")
    nc("alg_header_says_rs256_signed_es256", swap(es_der, 0, b64url(compact(hRS))), "bad_signature")
    nc("wrong_key_es256", make_token(hES, claims, other_p256, "ES256"), "bad_signature")
    nc("wrong_key_rs256", make_token(hRS, claims, r4096, "RS256"), "bad_signature", "rsa2048_public.pem")

    def timed(iat_, ttl=10, fmt="der"):
        return make_token(hES, dict(claims, iat=iat_, exp=iat_ + ttl), p256, "ES256", fmt)

    nc("expired_now_equals_exp", timed(T), "expired", now_=T + 10)
    nc("valid_one_second_before_exp", timed(T), None, now_=T + 9)
    nc("expired_long_ago", timed(T), "expired", now_=T + 3600)
    nc("expired_rs256", make_token(hRS, claims, r2048, "RS256"), "expired", "rsa2048_public.pem",
       now_=T + 11)
    nc("valid_expired_within_leeway", timed(T), None, now_=T + 14, leeway=5)
    nc("expired_beyond_leeway", timed(T), "expired", now_=T + 15, leeway=5)
    nc("iat_in_future", timed(T + 1), "expired", now_=T)
    nc("valid_iat_equals_now", timed(T), None, now_=T)
    nc("valid_iat_future_within_leeway", timed(T + 5), None, now_=T, leeway=5)
    nc("iat_future_beyond_leeway", timed(T + 6), "expired", now_=T, leeway=5)

    nc("empty_token", "", "malformed")
    nc("one_part", es_der.split(".")[0], "malformed")
    nc("two_parts", ".".join(es_der.split(".")[:2]), "malformed")
    nc("four_parts", es_der + ".AAAA", "malformed")
    h, p, s = es_der.split(".")
    nc("bad_base64_header_char", "!" + h[1:] + "." + p + "." + s, "malformed")
    bad_p = p[:5] + "*" + p[6:]
    nc("bad_base64_payload_char_signed",
       make_token(None, None, p256, "ES256", h_seg=h, p_seg=bad_p), "malformed")
    std_p = p[:5] + "+" + p[6:]
    nc("standard_base64_alphabet_payload_signed",
       make_token(None, None, p256, "ES256", h_seg=h, p_seg=std_p), "malformed")
    nc("bad_base64_signature_char", f"{h}.{p}.{s[:-3]}$$$", "malformed")
    nc("bad_base64_length_mod4_is_1_header_signed",
       make_token(None, None, p256, "ES256", h_seg=h + "A", p_seg=p), "malformed")
    nc("header_not_json", make_token(b"not json", claims, p256, "ES256"), "malformed")
    nc("header_json_array", make_token(b'["ES256","JWT"]', claims, p256, "ES256"), "malformed")
    nc("header_missing_alg", make_token({"typ": "JWT"}, claims, p256, "ES256"), "malformed")
    nc("payload_not_json_signed", make_token(hES, b"kid=1&sub=wallet", p256, "ES256"), "malformed")
    nc("payload_json_array_signed", make_token(hES, b"[1,2,3]", p256, "ES256"), "malformed")
    for cl in ["kid", "sub", "iat", "exp", "nonce", "bodyHash", "uri"]:
        missing = {k: v for k, v in claims.items() if k != cl}
        nc(f"missing_claim_{cl}", make_token(hES, missing, p256, "ES256"), "malformed")
    nc("claim_exp_is_string", make_token(hES, dict(claims, exp=str(claims["exp"])), p256, "ES256"),
       "malformed")
    nc("claim_iat_is_string", make_token(hES, dict(claims, iat=str(claims["iat"])), p256, "ES256"),
       "malformed")

    # Members named twice: PyJWT (json.loads) keeps the last, so a verifier
    # keeping the first would read other claims than the backend behind it.
    def dup_payload(name, value):
        text = compact(claims)[:-1] + b',"' + name.encode() + b'":' + json.dumps(value).encode() + b"}"
        tok = make_token(hES, text, p256, "ES256", "raw")  # JWS form, as PyJWT reads it
        assert pyjwt.decode(tok, pem["p256_public.pem"], algorithms=["ES256"],
                            options={"verify_exp": False, "verify_iat": False})[name] == value
        return tok
    nc("duplicate_claim_uri", dup_payload("uri", "/query"), "malformed")
    nc("duplicate_claim_kid", dup_payload("kid", "other-key"), "malformed")
    nc("duplicate_claim_exp", dup_payload("exp", T + 86400), "malformed")
    nc("duplicate_claim_same_value", dup_payload("sub", "wallet"), "malformed")
    nc("duplicate_header_alg",
       make_token(b'{"alg":"ES256","typ":"JWT","alg":"none"}', claims, p256, "ES256"), "malformed")
    nc("duplicate_member_nested_in_header",
       make_token(b'{"alg":"ES256","typ":"JWT","x":{"a":1,"a":2}}', claims, p256, "ES256"),
       "malformed")
    nc("duplicate_key_escaped_spelling",
       make_token(hES, compact(claims)[:-1] + b',"\\u0075ri":"/query"}', p256, "ES256"),
       "malformed")
    # RFC 7515 4.1.11: crit names extensions that must be understood; none is.
    nc("crit_header_names_extension",
       make_token(dict(hES, crit=["exp"], exp=1), claims, p256, "ES256"), "malformed")
    nc("crit_header_empty_list", make_token(dict(hES, crit=[]), claims, p256, "ES256"), "malformed")
    # NumericDate may be fractional: exp counts rounded down, iat rounded up.
    def frac(iat_, exp_):
        return make_token(hES, dict(claims, iat=iat_, exp=exp_), p256, "ES256")
    nc("valid_fractional_iat_exp", frac(T + 0.5, T + 10.5), None, now_=T + 9)
    nc("fractional_exp_rounds_down", frac(T + 0.5, T + 10.5), "expired", now_=T + 10)
    nc("fractional_iat_rounds_up", frac(T + 3.25, T + 10), "expired", now_=T + 3)
    nc("valid_fractional_iat_reached", frac(T + 3.25, T + 10), None, now_=T + 4)
    # Claims that are not UTF-8 (RFC 7519 7.2), validly signed.
    bad_utf8 = compact(dict(claims, kid="KID"))
    bad_utf8 = bad_utf8.replace(b'"KID"', b'"K\xff\xfeD"')
    nc("payload_not_utf8_signed", make_token(hES, bad_utf8, p256, "ES256"), "malformed")
    nc("header_not_utf8_signed",
       make_token(b'{"alg":"ES256","typ":"J\xc3\x28"}', claims, p256, "ES256"), "malformed")
    # Lifetime cap: exp - iat at most max_ttl (300 s unless the verifier says).
    nc("lifetime_at_cap", timed(T, ttl=300), None, now_=T + 3)
    nc("lifetime_above_cap", timed(T, ttl=301), "lifetime_too_long", now_=T + 3)
    nc("lifetime_one_day_default_cap", timed(T, ttl=86400), "lifetime_too_long", now_=T + 3)
    nc("valid_lifetime_one_hour_cap_raised", timed(T, ttl=3600), None, now_=T + 3, max_ttl=3600)
    nc("lifetime_above_raised_cap", timed(T, ttl=3601), "lifetime_too_long", now_=T + 3,
       max_ttl=3600)
    nc("lifetime_above_cap_rs256",
       make_token(hRS, dict(claims, exp=T + 3600), r2048, "RS256"), "lifetime_too_long",
       "rsa2048_public.pem")
    nc("valid_fractional_lifetime_within_cap", frac(T + 0.5, T + 299.9), None, now_=T + 3)
    nc("fractional_lifetime_above_cap", frac(T + 0.01, T + 300.99), "lifetime_too_long",
       now_=T + 3)
    return {"format_version": 1, "password": PASSWORD, "rs256_exact": rs, "es256_verify": es,
            "verify_negative": neg}


# ---------------------------------------------------------------------------

def main() -> None:
    keys = ensure_keys()
    write_json("keys/keys.json", dict(keys_json(keys), detection=kept_detection()))
    write_json("hmac.json", gen_hmac())
    write_json("message.json", gen_message())
    write_json("jwt.json", gen_jwt(keys))
    assert "walletsign" not in sys.modules
    for name in ["hmac.json", "message.json", "jwt.json", "keys/keys.json"]:
        data = json.loads((VEC / name).read_text(encoding="utf-8"))
        counts = {k: len(v) for k, v in data.items() if isinstance(v, list)}
        print(f"{name}: {counts}")


if __name__ == "__main__":
    main()
