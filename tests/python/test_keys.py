"""Keys: every file of tests/vectors/keys loaded as keys.json says, round
trips through PEM, save() with mode 0600, CSRs checked by `cryptography`."""

import json
import os
import stat
import warnings

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

import walletsign as ws
from conftest import KEYS, load_vectors

KEYS_JSON = json.loads((KEYS / "keys.json").read_text(encoding="utf-8"))
PASSWORD = KEYS_JSON["password"]
ENTRIES = KEYS_JSON["keys"]
KIND = {"p256": "P-256", "rsa": "RSA", "secp256k1": "secp256k1"}
ALG = {"p256": "ES256", "rsa": "RS256", "secp256k1": "ES256K"}


def loadable(e):
    return e["expect"] in ("ok", "ok_public") or e["message_ok"]


LOAD_CASES = [(e, source) for e in ENTRIES if loadable(e) for source in ("path", "bytes", "text")
              if not (source == "text" and e["encoding"] == "der")]


@pytest.mark.parametrize("entry,source", LOAD_CASES,
                         ids=["%s-%s" % (e["file"], s) for e, s in LOAD_CASES])
def test_load_key_files(entry, source):
    path = KEYS / entry["file"]
    if source == "path":
        src = path
    elif source == "bytes":
        src = path.read_bytes()
    else:
        src = path.read_text()
    key = ws.Key.load(src, password=entry["password"])
    assert key.kind == KIND[entry["kind"]]
    assert key.algorithm == ALG[entry["kind"]]
    assert key.bits == entry["bits"]
    assert key.is_private == entry["private"]
    assert key.public_pem() == entry["public_pem"]
    if entry["kind"] == "secp256k1":
        assert key.address == entry["address"]
    else:
        assert key.address is None


@pytest.mark.parametrize("entry", [e for e in ENTRIES if not loadable(e)], ids=lambda e: e["file"])
def test_unusable_key_files_are_refused(entry):
    with pytest.raises(ws.KeyFormatError) as info:
        ws.Key.load(KEYS / entry["file"], password=entry["password"])
    assert not isinstance(info.value, ws.PasswordError)
    assert isinstance(info.value, ValueError)
    # A CSR, EC parameters alone, an indented PEM: the error says which.
    assert (entry["error_hint"] or "") in str(info.value)
    with pytest.raises(ws.KeyFormatError) as info:
        ws.Key.load((KEYS / entry["file"]).read_bytes())
    assert (entry["error_hint"] or "") in str(info.value)


DETECTION = KEYS_JSON["detection"]


def detection_bytes(case):
    if "data" in case:
        return case["data"].encode()
    if "data_hex" in case:
        return bytes.fromhex(case["data_hex"])
    data = (KEYS / case["file"]).read_bytes()
    if "truncate" in case:
        data = data[:case["truncate"]]
    return case.get("prefix", "").encode() + data


def check_detected(case, expect, load):
    """One way in to the core's detection: the key the case names, or the
    error its status maps to (docs/errors.md), with the hint, never echoing."""
    if expect == "ok":
        key = load()
        if "address" in case:
            assert key.address == case["address"]
        if "public_key_file" in case:
            assert key.public_pem() == (KEYS / case["public_key_file"]).read_text()
        return
    error = {"key_error": ws.KeyFormatError, "io_error": ws.FileError,
             "argument_error": ValueError}[expect]
    with pytest.raises(error) as info:
        load()
    if expect == "argument_error":
        assert not isinstance(info.value, ws.Error) or not isinstance(info.value, ws.KeyFormatError)
    if expect == "key_error" and case.get("error_hint"):
        assert case["error_hint"] in str(info.value)
    if case.get("no_echo"):   # not even a source taken as a path (a mistyped key?)
        assert case["no_echo"] not in str(info.value)


@pytest.mark.parametrize("case", DETECTION, ids=lambda c: c["name"])
def test_key_form_detection(case, tmp_path):
    """keys.json "detection": bytes and files are detected by the core (PEM,
    DER, 64 hex digits); a str is key text or a path, never hex."""
    data = detection_bytes(case)
    check_detected(case, case["expect"], lambda: ws.Key.load(data))
    check_detected(case, case["expect"], lambda: ws.Key.load(bytearray(data)))
    path = tmp_path / "key"
    path.write_bytes(data)
    check_detected(case, case["expect"], lambda: ws.Key.load(path))
    if "data_hex" not in case and case.get("encoding", "pem") != "der" and b"\0" not in data \
            and not case.get("file", "").endswith(".der"):
        check_detected(case, case["as_source"], lambda: ws.Key.load(data.decode()))


def test_openssl_ecparam_genkey_output_is_a_private_key():
    """`openssl ecparam -genkey` writes EC PARAMETERS before the key: the
    parameters are skipped, never loaded as a (half) public key."""
    path = KEYS / "p256_ecparam.pem"
    assert path.read_bytes().startswith(b"-----BEGIN EC PARAMETERS-----")
    entry = next(e for e in ENTRIES if e["file"] == path.name)
    key = ws.Key.load(path)
    assert key.is_private and key.kind == "P-256"
    assert key.public_pem() == entry["public_pem"]   # as cryptography reads the key block
    token = ws.JwtAuth(key, "kid", signature_format="raw").token("/query", b"{}")
    claims = pyjwt.decode(token, entry["public_pem"], algorithms=["ES256"])
    assert claims["kid"] == "kid" and claims["uri"] == "/query"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["file"])
def test_halogen_jwt_expectations(entry):
    """keys.json's `expect` is the verdict for a Halogen JWT key."""
    path = KEYS / entry["file"]
    expect = entry["expect"]
    if expect in ("weak", "wrong_curve", "unsupported", "malformed"):
        with pytest.raises(ws.KeyFormatError):
            key = ws.Key.load(path, password=entry["password"])
            ws.JwtAuth(key, "kid")
        return
    key = ws.Key.load(path, password=entry["password"])
    if expect == "ok_public":
        with pytest.raises(ws.KeyFormatError):   # a public key cannot sign
            ws.JwtAuth(key, "kid")
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ws.JwtAuth(key, "kid")
    weak = [w for w in caught if issubclass(w.category, ws.WeakKeyWarning)]
    assert bool(weak) == entry["warn"]
    if weak:
        assert "4096" in str(weak[0].message)


def test_password_errors():
    path = KEYS / "p256_pkcs8_encrypted.pem"
    with pytest.raises(ws.PasswordError) as info:
        ws.Key.load(path)
    assert isinstance(info.value, ws.KeyFormatError)
    secret = "not the right password, hunter2"
    with pytest.raises(ws.PasswordError) as info:
        ws.Key.load(path, password=secret)
    assert secret not in str(info.value) and secret not in repr(info.value)
    key = ws.Key.load(path, password=PASSWORD.encode())      # bytes password too
    assert key.kind == "P-256"


@pytest.mark.parametrize("kind,expected", [("P-256", ("P-256", "ES256", 256)),
                                           ("secp256k1", ("secp256k1", "ES256K", 256)),
                                           ("RSA-2048", ("RSA", "RS256", 2048))])
def test_generate(kind, expected):
    key = ws.Key.generate(kind)
    assert (key.kind, key.algorithm, key.bits) == expected
    assert key.is_private
    # The private PEM is PKCS#8, readable by cryptography, same public key.
    pem = key.private_pem()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    theirs = serialization.load_pem_private_key(pem.encode(), None)
    assert theirs.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode() == key.public_pem()
    again = ws.Key.load(pem.encode())
    assert again.public_pem() == key.public_pem()
    assert ws.Key.generate(kind).public_pem() != key.public_pem()


def test_generate_rejects_unknown_kinds():
    for bad in ("P-384", "RSA-1024", "RSA-99999", "ed25519", "", "RSA-"):
        with pytest.raises(ValueError):
            ws.Key.generate(bad)
    with pytest.raises(TypeError):
        ws.Key.generate(256)


def test_encrypted_private_pem_round_trip():
    key = ws.Key.generate("P-256")
    pem = key.private_pem(password="s3cret pass")
    assert pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(ws.PasswordError):
        ws.Key.load(pem.encode())
    with pytest.raises(ws.PasswordError):
        ws.Key.load(pem.encode(), password="wrong")
    assert ws.Key.load(pem, password="s3cret pass").public_pem() == key.public_pem()
    theirs = serialization.load_pem_private_key(pem.encode(), b"s3cret pass")
    assert theirs.key_size == 256


def test_public_key_has_no_private_pem():
    key = ws.Key.load(KEYS / "p256_public.pem")
    with pytest.raises(ws.KeyFormatError):
        key.private_pem()


def test_save_mode_0600(tmp_path):
    key = ws.Key.generate("secp256k1")
    path = tmp_path / "wallet.pem"
    path.write_text("old content")
    os.chmod(path, 0o644)
    key.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert ws.Key.load(path).address == key.address
    enc = tmp_path / "wallet-enc.pem"
    key.save(str(enc), password="pw")
    assert stat.S_IMODE(os.stat(enc).st_mode) == 0o600
    assert b"ENCRYPTED" in enc.read_bytes()
    assert ws.Key.load(enc, password="pw").address == key.address
    with pytest.raises(ws.FileError) as info:
        key.save(tmp_path / "no" / "such" / "dir.pem")
    assert isinstance(info.value, OSError)


def test_from_hex_matches_vector_addresses():
    for entry in load_vectors("message")["addresses"]:
        key = ws.Key.from_hex(entry["private_key_hex"])
        assert key.address == entry["address"]
        assert ws.Key.from_hex("0x" + entry["private_key_hex"]).address == entry["address"]
        assert ws.Key.from_hex(entry["private_key_hex"].encode()).address == entry["address"]


@pytest.mark.parametrize("bad", ["", "00" * 32, "ff" * 32, "zz" * 32, "4c08", "0x",
                                 "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f36231"])
def test_from_hex_rejects(bad):
    with pytest.raises(ws.KeyFormatError) as info:
        ws.Key.from_hex(bad)
    if len(bad) > 8:
        assert bad not in str(info.value)


@pytest.mark.parametrize("kind", ["P-256", "RSA-2048"])
def test_csr_is_valid_for_cryptography(kind):
    key = ws.Key.generate(kind)
    pem = key.csr("/C=MY/ST=Kuala Lumpur/L=KL/O=Example Sdn Bhd/OU=Payments/CN=example.com")
    csr = x509.load_pem_x509_csr(pem.encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "example.com"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "Example Sdn Bhd"
    assert csr.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode() == key.public_pem()


def test_csr_refuses_secp256k1_and_bad_subjects():
    with pytest.raises(ws.Error):
        ws.Key.generate("secp256k1").csr("/CN=x")
    key = ws.Key.generate("P-256")
    with pytest.raises((ValueError, ws.Error)):
        key.csr("no slashes here")
    with pytest.raises(TypeError):
        key.csr(None)


def test_repr_never_shows_secret_material():
    hexkey = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    key = ws.Key.from_hex(hexkey)
    text = repr(key) + str(key)
    assert hexkey not in text and hexkey[:16] not in text
    assert "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23" in repr(key)
    p256 = ws.Key.load(KEYS / "p256_sec1.pem")
    pem_body = (KEYS / "p256_sec1.pem").read_text().splitlines()[1]
    assert pem_body[:20] not in repr(p256)
    assert repr(p256) == "<walletsign.Key P-256 private>"
    assert repr(ws.Key.load(KEYS / "rsa4096_public.pem")) == "<walletsign.Key RSA-4096 public>"


def test_keys_refuse_pickling():
    import pickle
    with pytest.raises(TypeError):
        pickle.dumps(ws.Key.generate("P-256"))


def test_key_is_not_constructible_directly():
    with pytest.raises(TypeError):
        ws.Key()


@pytest.mark.parametrize("bad", [None, 42, 3.5, ["a"], {"pem": 1}])
def test_load_type_errors(bad):
    with pytest.raises(TypeError):
        ws.Key.load(bad)


def test_load_bad_inputs():
    with pytest.raises(ws.KeyFormatError):
        ws.Key.load(b"")
    with pytest.raises(ws.KeyFormatError):
        ws.Key.load(b"\x00\x01garbage")
    with pytest.raises(ws.KeyFormatError):
        ws.Key.load("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
    truncated = (KEYS / "p256_sec1.pem").read_bytes()[:100]
    with pytest.raises(ws.KeyFormatError):
        ws.Key.load(truncated)
    with pytest.raises(ws.FileError):
        ws.Key.load("/nonexistent/walletsign/key.pem")
    with pytest.raises(ValueError):
        ws.Key.load("bad\0path")
    with pytest.raises(TypeError):
        ws.Key.load(KEYS / "p256_sec1.pem", password=123)
    with pytest.raises(ValueError):
        ws.Key.load(KEYS / "p256_pkcs8_encrypted.pem", password="nul\0inside")
