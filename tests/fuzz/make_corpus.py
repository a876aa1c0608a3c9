#!/usr/bin/env python3
"""Write the seed corpora of the libFuzzer targets from tests/vectors.

    /usr/bin/python3 tests/fuzz/make_corpus.py OUTDIR

creates OUTDIR/<target>/<name> for every target of tests/fuzz/. Each file is
in the input layout documented at the top of tests/fuzz/<target>.c. Standard
library only; paths are resolved from this file, not from the working
directory. Seeds larger than libFuzzer's default -max_len (4096) are skipped.
"""
import base64
import hashlib
import json
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "vectors")
KEYS = os.path.join(VECTORS, "keys")
MAX_LEN = 4096
PASSWORD = "correct horse battery staple"


def load(name):
    with open(os.path.join(VECTORS, name), encoding="utf-8") as f:
        return json.load(f)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def s(text):
    """A NUL-terminated field (None if the text itself holds a NUL)."""
    b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return None if b"\0" in b else b + b"\0"


def body_of(case):
    """The case's body bytes, or None for the 1 MiB body_repeat cases."""
    if "body_hex" in case:
        return bytes.fromhex(case["body_hex"])
    return None


class Corpus:
    def __init__(self, root):
        self.root = root
        self.counts = {}

    def add(self, target, name, *parts):
        if any(p is None for p in parts):
            return
        data = b"".join(parts)
        if len(data) > MAX_LEN:
            return
        d = os.path.join(self.root, target)
        os.makedirs(d, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80]
        digest = hashlib.sha1(data).hexdigest()[:8]
        with open(os.path.join(d, f"{safe}-{digest}"), "wb") as f:
            f.write(data)
        self.counts[target] = self.counts.get(target, 0) + 1


# ---------------------------------------------------------------- keys

def pem_to_der(text):
    m = re.search(r"-----BEGIN [^-]+-----(.*?)-----END", text, re.S)
    if not m:
        return None
    try:
        return base64.b64decode("".join(m.group(1).split()), validate=True)
    except Exception:
        return None


def key_seeds(c):
    info = load(os.path.join("keys", "keys.json"))
    for k in info["keys"]:
        path = os.path.join(KEYS, k["file"])
        with open(path, "rb") as f:
            raw = f.read()
        pw = 1 if k.get("password") else 0
        if k["encoding"] == "der":
            c.add("fuzz_key_pem", k["file"], bytes([4 | 8 | pw]), raw)
            c.add("fuzz_key_pem", k["file"] + "-as-pem", bytes([8 | pw]), raw)
            continue
        c.add("fuzz_key_pem", k["file"], bytes([8 | pw]), raw)
        c.add("fuzz_key_pem", k["file"] + "-nopw", bytes([0 if pw else 1]), raw)
        if pw:
            c.add("fuzz_key_pem", k["file"] + "-wrongpw", bytes([3]), raw)
            c.add("fuzz_key_pem", k["file"] + "-emptypw", bytes([2]), raw)
        der = pem_to_der(raw.decode("ascii", "replace"))
        if der:
            c.add("fuzz_key_pem", k["file"] + "-der", bytes([4 | 8 | pw]), der)
            if pw:
                c.add("fuzz_key_pem", k["file"] + "-der-nopw", bytes([4]), der)
    c.add("fuzz_key_pem", "empty", bytes([0]))


# ---------------------------------------------------------------- jwt

def b64url_decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_seed(flags, now, leeway, uri, body, rest):
    return (bytes([flags]), u64(now), u16(leeway), s(uri or ""), s(body or b""), rest)


def jwt_seeds(c):
    v = load("jwt.json")
    for case in v["es256_verify"] + v["rs256_exact"]:
        rsa = case["public_key_file"].startswith("rsa")
        if case["public_key_file"] not in ("p256_public.pem", "rsa2048_public.pem"):
            continue
        body = body_of(case)
        now = case.get("now", case["iat"] + 1)
        flags = (1 if rsa else 0) | 8 | (16 if body is not None else 0)
        tok = case["token"].encode()
        c.add("fuzz_jwt_verify", case["name"], *jwt_seed(flags, now, 0, case["uri"], body, tok))
        if not rsa:
            # Sign mode: the same header and payload, signed by the harness.
            h, p, _ = case["token"].split(".")
            for raw in (0, 4):
                c.add("fuzz_jwt_verify", case["name"] + f"-sign{raw}",
                      *jwt_seed(2 | raw | flags, now, 0, case["uri"], body,
                                b64url_decode(h) + b"\0" + b64url_decode(p)))
    for case in v["verify_negative"]:
        f = case["public_key_file"]
        if f not in ("p256_public.pem", "rsa2048_public.pem"):
            continue
        rsa = f.startswith("rsa")
        c.add("fuzz_jwt_verify", "neg-" + case["name"],
              *jwt_seed(1 if rsa else 0, case["now"], case.get("leeway") or 0, None, None,
                        case["token"].encode()))
    # A few sign-mode payloads around the claim rules.
    hdr = b'{"alg":"ES256","typ":"JWT"}'
    claims = ('{"kid":"k","sub":"wallet","iat":%s,"exp":%s,"nonce":"00","bodyHash":"%s",'
              '"uri":"/query"}')
    empty_hash = hashlib.sha256(b"").hexdigest()
    for name, iat, exp in (("ok", "1730998051", "1730998061"), ("float", "1730998051.5", "1730998061"),
                           ("neg", "-5", "10"), ("big", "17309980510000", "17309980510010")):
        c.add("fuzz_jwt_verify", "sign-claims-" + name,
              *jwt_seed(2 | 8 | 16, 1730998055, 30, "/query", b"",
                        hdr + b"\0" + (claims % (iat, exp, empty_hash)).encode()))


# ---------------------------------------------------------------- message

NAMES = ["x-message-address", "x-message-timestamp", "x-message-session",
         "x-message-sequence", "x-message-signature"]
DIGESTS = {"sha256": 0, "keccak256": 1, "eip191": 2}


def msg_seed(headers, body, now, window, digest, twice=False, cache=15):
    vals, drop, lower = [], 7, False
    lowered = {k.lower(): (k, v) for k, v in headers.items()}
    for i, n in enumerate(NAMES):
        if n in lowered:
            orig, val = lowered[n]
            lower = lower or orig == n
            vals.append(val)
        else:
            drop = i
            vals.append("")
    flags = DIGESTS[digest] | (4 if twice else 0) | (8 if lower else 0) | (drop << 4)
    fields = [s(x) for x in vals]
    return (bytes([flags, cache]), u64(now), u32(window), *fields, body)


def msg_seeds(c):
    v = load("message.json")
    for case in v["verify_negative"]:
        body = body_of(case)
        c.add("fuzz_msg_verify", "neg-" + case["name"],
              *msg_seed(case["headers"], body, case["now_ms"], case["window_ms"], case["digest"],
                        case.get("verify_twice", False)))
    for case in v["cases"]:
        body = body_of(case)
        if body is None:
            continue
        c.add("fuzz_msg_verify", case["name"],
              *msg_seed(case["headers"], body, case["timestamp_ms"], 60000, case["digest"], True))
    # Sequence mode: [op, session, sequence, dt, advance] records.
    def seq(name, cache, window, records):
        c.add("fuzz_msg_verify", "seq-" + name, bytes([0x80, cache]), u64(0), u32(window),
              b"".join(bytes([op, ses, sq, dt & 0xFF, adv]) for op, ses, sq, dt, adv in records))
    seq("replay-after-eviction", 1, 60000,
        [(0, 0, 1, 0, 1), (0, 0, 2, 0, 1), (0, 0, 3, 0, 1), (0, 0, 1, 0, 1), (1, 0, 1, 0, 0)])
    seq("out-of-order", 3, 60000,
        [(0, 1, 5, 10, 1), (0, 1, 4, -10, 1), (0, 1, 6, 0, 1), (1, 0, 0, 0, 1), (0, 1, 5, 10, 1),
         (0, 2, 1, 0, 200), (0, 2, 2, 0, 255), (1, 0, 0, 0, 0)])
    seq("expiry", 2, 1000, [(0, 3, 1, 0, 0), (0, 3, 2, 0, 3), (0, 3, 1, 0, 8), (0, 3, 3, 4, 1)])


# ---------------------------------------------------------------- hmac

SEPARATORS = {"|": 0, ":": 1, "": 2}


def hmac_seed(case, now, window, sig, sign=False):
    body = body_of(case)
    if body is None:
        return None
    flags = (1 if case["encoding"] == "hex" else 0) | (SEPARATORS[case["separator"]] << 1)
    flags |= 32 if sign else 0
    return (bytes([flags]), u64(now), u32(window), s(case["secret"]), s(case["api_key"]),
            s(case["method"]), s(case["path"]), s(case["api_key"]), s(str(case["timestamp_ms"])),
            s(sig), body)


def hmac_seeds(c):
    v = load("hmac.json")
    for i, case in enumerate(v["cases"]):
        seed = hmac_seed(case, case["timestamp_ms"], 30000, case["signature"])
        if seed:
            c.add("fuzz_hmac_verify", case["name"], *seed)
            if i % 4 == 0:
                c.add("fuzz_hmac_verify", case["name"] + "-sign",
                      *hmac_seed(case, case["timestamp_ms"], 30000, "", sign=True))
    for case in v["verify_negative"]:
        seed = hmac_seed(case, case["now_ms"], case["window_ms"], case["signature"])
        if seed:
            c.add("fuzz_hmac_verify", "neg-" + case["name"], *seed)


# ---------------------------------------------------------------- rpc, json

ENVELOPES = [
    b'{"result":{"id":"w_1","balance":"12.50"}}',
    b'{"result":[1,2,3],"error":null}',
    b'{"error":null,"result":12345678901234567890}',
    b'{"result":null}',
    b'{"result":"text with \\"quotes\\" and \\u00e9"}',
    b'{ "result" : { "nested" : { "result" : 1 } } , "id" : 7 }',
    b'{"error":{"code":-32000,"message":"insufficient funds","data":{"need":"1.5","have":"0.2"}}}',
    b'{"error":{"code":4001,"message":"denied"}}',
    b'{"error":{"code":1.5,"message":"not an integer"}}',
    b'{"error":{"code":9007199254740993,"message":"too big"}}',
    b'{"error":{"message":"no code","data":[1,{"a":null}]}}',
    b'{"error":"string"}',
    b'{"id":1}',
    b'[1,2]',
    b'{"code":"ErrExpiredAuthToken","message":"token expired"}',
    b'{"result":{"a":[{"b":"}"},"]"]},"data":"x"}',
]
RESULTS = [b'{"a":1}', b'[1,"two",null,true,false]', b'"string"', b'12345678901234567890',
           b'-0.5e-3', b'null', b'{"k":{"k":{"k":[[]]}}}', b' \n{"pad":true}\t']
ERRORS = [(-32000, "insufficient funds", '{"need":"1.5"}'), (4001, "denied", None),
          (0, "", "null"), (-1, "unicode \u00e9\u4e2d", "[1,2]"), (2**53, "edge", '"x"')]


def rpc_seeds(c, bodies):
    for i, e in enumerate(ENVELOPES + bodies):
        c.add("fuzz_rpc", f"parse-{i}", b"\0", e)
    for i, r in enumerate(RESULTS):
        c.add("fuzz_rpc", f"result-{i}", b"\1", r)
    for i, (code, msg, data) in enumerate(ERRORS):
        c.add("fuzz_rpc", f"error-{i}", bytes([2 | (0 if data is not None else 128)]), u64(code),
              s(msg), s(data or ""))


def json_seeds(c, bodies):
    names = ["result", "error", "data", "code", "name", "payload"]
    for i, e in enumerate(ENVELOPES + bodies):
        for n in names:
            if n.encode() in e:
                c.add("fuzz_json_span", f"{n}-{i}", s(n), e)
    # JWT claim sets, as more objects to scan.
    for case in load("jwt.json")["es256_verify"][:6]:
        payload = b64url_decode(case["token"].split(".")[1])
        c.add("fuzz_json_span", "claims-" + case["name"], s("uri"), payload)


JSON_API = [b'{"id":123456789012345678901,"n":9007199254740993,"f":-0.5e-3,"z":-0}',
            b'["\\u00e9\\ud83d\\ude00","\\t\\b\\f\\r\\n\\/","\xc3\xa9"]',
            b'{"":{},"a":[],"b":[[[{"c":[true,false,null]}]]]}', b'1E+2', b'"\\"\\\\"',
            b'{"a":1,"a":2}', b'01', b'[1.]', b'"\xff"', b'[' * 40 + b']' * 40]


def json_api_seeds(c, bodies):
    for i, e in enumerate(ENVELOPES + RESULTS + JSON_API + bodies):
        c.add("fuzz_json_api", f"json-{i}", e)


def vector_bodies():
    out = []
    for case in load("hmac.json")["cases"] + load("message.json")["cases"]:
        b = body_of(case)
        if b and b[:1] in (b"{", b"[") and b not in out:
            out.append(b)
    return out[:24]


# ---------------------------------------------------------------- Retry-After

RETRY_AFTER = ["120", "0", " 5 ", "\t30\r", "86400000", "18446744073709551615", "18446744073709551616",
               "-1", "1.5", "", "Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT",
               "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
               "Thu, 31 Dec 2099 23:59:59 GMT", "Fri, 01 Jan 2100 00:00:00 GMT", "tomorrow"]


def retry_seeds(c):
    for i, v in enumerate(RETRY_AFTER):
        c.add("fuzz_retry_after", f"ra-{i}", u64(1730998051), v.encode())


# ---------------------------------------------------------------- redis

REDIS_REPLIES = [b"+OK\r\n", b"$-1\r\n", b"*-1\r\n", b"+QUEUED\r\n", b":1\r\n", b":0\r\n",
                 b"-ERR wrong number of arguments for 'set' command\r\n",
                 b"-NOAUTH Authentication required.\r\n",
                 b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
                 b"-MOVED 3999 127.0.0.1:6381\r\n", b"-LOADING Redis is loading\r\n",
                 b"$2\r\nOK\r\n", b"*4\r\n:1\r\n:9\r\n:0\r\n:100\r\n",
                 b"*2\r\n$1\r\na\r\n:5\r\n", b"*0\r\n", b"+OK\r\n$-1\r\n+OK\r\n",
                 b"+O", b"$5\r\nhel", b"*3\r\n*1\r\n*1\r\n:1\r\n"]

REDIS_URLS = ["redis://127.0.0.1", "redis://localhost:6380/2", "redis://:secret@h:6379/0",
              "redis://app:p%40ss%3Aw@cache.internal:7000/15", "redis://[::1]:6379/3",
              "rediss://h", "redis://user@h", "redis://:@h", "redis://h:0", "redis://h/x",
              "redis://:a%zz@h", "redis://h?timeout=1"]


def redis_seeds(c):
    for i, r in enumerate(REDIS_REPLIES):
        c.add("fuzz_redis_reply", f"reply-{i}", r)
    for i, u in enumerate(REDIS_URLS):
        c.add("fuzz_redis_url", f"url-{i}", u.encode())


# ---------------------------------------------------------------- responses

def http(status, reason, headers, body, chunked=False):
    lines = [f"HTTP/1.1 {status} {reason}"]
    hs = list(headers)
    if chunked:
        hs.append(("Transfer-Encoding", "chunked"))
        half = len(body) // 2
        parts = [body[:half], body[half:]]
        body = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in parts if p) + b"0\r\n\r\n"
    elif body is not None:
        hs.append(("Content-Length", str(len(body))))
    for k, v in hs:
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def response_seeds(c):
    ct = [("Content-Type", "application/json")]
    ok_rpc = b'{"result":{"balance":"1.5"}}'
    answers = {
        "200-rpc": http(200, "OK", ct, ok_rpc),
        "200-rpc-chunked": http(200, "OK", ct, ok_rpc, chunked=True),
        "200-halogen": http(200, "OK", ct, b'{"accounts":[{"id":"a","balance":"0"}]}'),
        "200-rpc-error": http(200, "OK", ct, b'{"error":{"code":-32000,"message":"no","data":[1]}}'),
        "200-not-json": http(200, "OK", [("Content-Type", "text/plain")], b"hello"),
        "200-empty": http(200, "OK", [], b""),
        "204": http(204, "No Content", [], None),
        "400-halogen": http(400, "Bad Request", ct,
                            b'{"code":"ErrExpiredAuthToken","message":"token expired"}'),
        "401-rpc": http(401, "Unauthorized", ct, b'{"error":{"code":401,"message":"bad signature"}}'),
        "429-retry-0": http(429, "Too Many Requests", [("Retry-After", "0")] + ct,
                            b'{"code":"ErrRateLimited","message":"slow down"}'),
        "429-retry-date": http(429, "Too Many Requests",
                               [("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")], b"{}"),
        "429-retry-long": http(429, "Too Many Requests", [("Retry-After", "3600")], b"{}"),
        "500": http(500, "Internal Server Error", ct, b'{"message":"boom"}'),
        "503-no-body": http(503, "Service Unavailable", [], b""),
        "100-then-200": b"HTTP/1.1 100 Continue\r\n\r\n" + http(200, "OK", ct, ok_rpc),
        "close-delimited": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + ok_rpc,
        "http10": b"HTTP/1.0 200 OK\r\n\r\n" + ok_rpc,
        "truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"result\":",
        "garbage": b"\x00\xffNOT HTTP\r\n\r\n",
    }
    v = load("message.json")
    for case in v["cases"][:4]:
        body = body_of(case)
        if body is not None:
            answers["signed-" + case["name"]] = http(200, "OK", list(case["headers"].items()) + ct, body)
    payloads = [b'{"accountIds":["account_123"]}', b"{}", b'{"amount":"1.5","to":"0xabc"}']
    for name, resp in answers.items():
        for call in range(8):
            if name.startswith("signed") and call != 7:
                continue
            flags = call | (8 if name.startswith("429") else 0)
            # query (3) and command (4) carry a NUL-terminated payload first.
            payload = payloads[len(name) % 3] + b"\0" if call in (3, 4) else b""
            c.add("fuzz_response", f"{name}-call{call}", bytes([flags]), payload, resp)
    c.add("fuzz_response", "small-cap", bytes([5 | 32]), http(200, "OK", ct, b'{"result":"' + b"x" * 400 + b'"}'))
    c.add("fuzz_response", "retry-503", bytes([5 | 64]), answers["503-no-body"])
    c.add("fuzz_response", "jwt-auth", bytes([3 | 128]), b"{}\0", answers["200-halogen"])
    c.add("fuzz_response", "payload-not-object", bytes([3]), b"[1,2]\0", answers["200-halogen"])


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUTDIR")
    c = Corpus(sys.argv[1])
    bodies = vector_bodies()
    key_seeds(c)
    jwt_seeds(c)
    msg_seeds(c)
    hmac_seeds(c)
    rpc_seeds(c, bodies)
    json_seeds(c, bodies)
    json_api_seeds(c, bodies)
    retry_seeds(c)
    response_seeds(c)
    redis_seeds(c)
    print("seed corpora in %s: %s" % (sys.argv[1], ", ".join(
        f"{t} {n}" for t, n in sorted(c.counts.items()))))


if __name__ == "__main__":
    main()
