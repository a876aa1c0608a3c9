"""tests/vectors/options.json, the contract the C, Lua and CLI suites check
too: every option name reaches the core as the value it names, every
refused spelling is a ValueError, and every numeric setting takes exactly
its range (0 meaning the default where the file says so)."""

import pytest

import walletsign as ws
from conftest import load_vectors

V = load_vectors("options")
OPTIONS = {o["option"]: o for o in V["options"]}
RANGES = {r["setting"]: r for r in V["ranges"]}

P256 = ws.Key.generate("P-256")
SECP = ws.Key.from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
MSG = ws.MessageAuth(SECP)
TOKEN = ws.JwtAuth(P256, "kid").token("/query", b"")


def use_option(option, name):
    """Use an option through the Python API; return what it produced, so two
    names of one value can be compared."""
    if option == "jwt_format":
        t = ws.JwtAuth(P256, "kid", signature_format=name).token("/query", b"")
        return len(t.rsplit(".", 1)[1]) == 86          # raw r||s is 64 bytes
    if option == "hmac_encoding":
        return ws.HmacAuth("k", "s", encoding=name).sign("GET", "/", timestamp=1)["x-signature"]
    if option == "digest":
        auth = ws.MessageAuth(SECP, digest=name)
        return auth._sign_fixed(1, 1, b"x", 1)["X-Message-Signature"]
    if option == "message_encoding":
        return ws.MessageAuth(SECP, encoding=name)._sign_fixed(1, 1, b"x", 1)["X-Message-Signature"]
    if option == "empty_body":
        return ws.MessageAuth(SECP, empty_body=name)._sign_fixed(1, 1, b"", 1)["X-Message-Signature"]
    if option == "key_kind":
        return ws.Key.generate(name).kind if name.lower() != "rsa" else "RSA"
    raise AssertionError("options.json names an option this test does not know: " + option)


def names_of(o):
    return list(o["names"].items()) + list(o["also_accepted"].items())


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_option_names(option):
    o = OPTIONS[option]
    by_value = {}
    for name, value in names_of(o):
        by_value.setdefault(value, set()).add(repr(use_option(option, name)))
    # Every spelling of one value does the same; different values differ.
    assert all(len(results) == 1 for results in by_value.values()), by_value
    assert len({next(iter(r)) for r in by_value.values()}) == len(by_value)
    if option == "key_kind":
        for name, value in o["names"].items():
            if value != 2:
                assert ws.Key.generate(name).kind == name   # canonical names come back
    for name in o["refused"]:
        with pytest.raises(ValueError):
            use_option(option, name)


CLIENT_KW = {"client.timeout": lambda v: {"timeout": v},
             "client.attempt_timeout": lambda v: {"attempt_timeout": v},
             "client.connect_timeout": lambda v: {"connect_timeout": v},
             "client.retries": lambda v: {"retries": v},
             "client.rate": lambda v: {"rate_limit": (v, 10)},
             "client.burst": lambda v: {"rate_limit": (10, v)},
             "client.max_429_attempts": lambda v: {"max_429_attempts": v},
             "client.max_retry_after": lambda v: {"max_retry_after": v},
             "client.backoff": lambda v: {"backoff": v},
             "client.max_response": lambda v: {"max_response": v}}


def test_a_negative_time_is_refused():
    """0 (or None) is the clock; a negative time is the core's ValueError."""
    with pytest.raises(ValueError):
        ws.verify_jwt(TOKEN, P256, now=-1)
    with pytest.raises(ValueError):
        ws.HmacAuth("k", "s").sign("GET", "/", timestamp=-1)
    ws.HmacAuth("k", "s").sign("GET", "/", timestamp=0)   # the clock


def try_setting(setting, value):
    if setting in CLIENT_KW:
        # A client needs no server to be made.
        ws.Client("http://127.0.0.1:1", ws.HmacAuth("k", "s"), **CLIENT_KW[setting](value)).close()
    elif setting == "jwt.ttl":
        ws.JwtAuth(P256, "kid", ttl=value)
    elif setting in ("jwt.leeway", "jwt.max_ttl"):
        kw = {setting.split(".")[1]: value}
        try:
            ws.verify_jwt(TOKEN, P256, **kw)
        except ws.SignatureError:
            pass   # the options were taken; the 10 s token may exceed a 1 s cap
    elif setting == "hmac.window_ms":
        ws.HmacVerifier({"k": "s"}, window_ms=value)
    elif setting == "hmac.cache_size":
        ws.HmacVerifier({"k": "s"}, replay_cache=True, cache_size=value)
    elif setting == "message.window_ms":
        ws.MessageVerifier([], window_ms=value)
    elif setting == "message.cache_size":
        ws.MessageVerifier([], cache_size=value)
    elif setting == "key.rsa_bits":
        ws.Key.generate("RSA-%d" % value)
    else:
        raise AssertionError("options.json names a setting this test does not know: " + setting)


@pytest.mark.parametrize("setting", sorted(RANGES))
def test_setting_ranges(setting):
    r = RANGES[setting]
    rsa = setting == "key.rsa_bits"
    if not rsa:
        try_setting(setting, r["min"])
        if r["zero_is_default"]:
            try_setting(setting, 0)
    if not r.get("slow"):
        try_setting(setting, r["max"])
    if "off" in r:
        try_setting(setting, r["off"])
    elif not (r["zero_is_default"] and r["min"] - 1 == 0):
        with pytest.raises(ValueError):
            try_setting(setting, r["min"] - 1)
    for value in [r["max"] + 1] + r.get("refused", []):
        with pytest.raises(ValueError):
            try_setting(setting, value)
