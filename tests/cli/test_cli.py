#!/usr/bin/python3
"""Tests of the `walletsign` command-line tool (build/walletsign).

Run by scripts/test-cli.sh; prints one line per test and ends with
"N passed, M failed". Table-driven where the shared vectors give known
answers (tests/vectors/, made by independent libraries); end to end against
the mock server (tests/mock_server/) for the HTTP commands; and every ```sh
block of docs/cli.md is run as a test of its own.

Needs /usr/bin/python3 (Debian's cryptography for the independent checks).
Environment: WALLETSIGN_CLI (the binary; default BUILD/walletsign),
WALLETSIGN_CLI_WRAPPER (e.g. "valgrind -q --error-exitcode=99"; exit 99, from
valgrind or from sanitizers built with ASAN_OPTIONS=exitcode=99, fails a test),
CLI_TESTS (a regular expression selecting tests by name).
"""
import base64
import functools
import hashlib
import hmac
import json
import os
import re
import shlex
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils as asym_utils
from cryptography import x509

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VECTORS = os.path.join(ROOT, "tests", "vectors")
BUILD = os.environ.get("BUILD", "build")
BIN = os.environ.get("WALLETSIGN_CLI") or os.path.join(ROOT, BUILD, "walletsign")
WRAPPER = shlex.split(os.environ.get("WALLETSIGN_CLI_WRAPPER", ""))
DOCS = os.path.join(ROOT, "docs", "cli.md")

KNOWN_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KNOWN_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
KNOWN_PATH = "/v1/wallet/list?skip=0&take=25&orderBy=desc"
KNOWN_TS = "1730998051892"
KNOWN_B64 = "PPBSJ4HyLVAjVwMXCKkFrYQ9RN7DfB8mBBNzbZkhIvs="
KNOWN_HEXSIG = "3cf0522781f22d502357031708a905ad843d44dec37c1f260413736d992122fb"
HMAC_SECRET = "your-secret-key"
PASSWORD = "correct horse battery staple"
DEFAULT_SUBJECT = "/C=MY/ST=State/L=City/O=Organization/OU=Unit/CN=example.com"

TMP = tempfile.mkdtemp(prefix="walletsign-cli-")
OUTPUTS = []          # (what, text) of every run: checked for secrets at the end
SECRETS = {HMAC_SECRET, KNOWN_HEX, PASSWORD}
TESTS = []


# ---------------------------------------------------------------- harness

def redact(text):
    """Test output must not carry the secrets the suite checks for."""
    for secret in SECRETS:
        text = text.replace(secret, "<secret>")
    return text


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def case(name, fn, *args):
    TESTS.append((name, lambda: fn(*args)))


class Run:
    def __init__(self, args, p):
        self.args, self.rc = args, p.returncode
        self.outb, self.errb = p.stdout, p.stderr
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")

    def __repr__(self):
        return "walletsign %s -> exit %d\nstdout: %s\nstderr: %s" % (
            " ".join(shlex.quote(a) for a in self.args), self.rc, self.out[:2000], self.err[:2000])

    def ok(self, rc=0):
        assert self.rc == rc, "expected exit %d: %r" % (rc, self)
        return self

    def headers(self):
        h = {}
        for line in self.out.splitlines():
            name, _, value = line.partition(": ")
            h[name] = value
        return h

    def json_error(self):
        lines = [l for l in self.err.splitlines() if l.startswith("{")]
        assert len(lines) == 1, "one JSON error line on stderr expected: %r" % self
        return json.loads(lines[0])["error"]


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WALLETSIGN_", "HALOGEN_"))}
    env.update(extra or {})
    return env


def ws(*args, stdin=None, env=None, cwd=None, timeout=120):
    args = [str(a) for a in args]
    if isinstance(stdin, str):
        stdin = stdin.encode()
    p = subprocess.run(WRAPPER + [BIN] + args, input=stdin, capture_output=True,
                       env=clean_env(env), cwd=cwd or TMP, timeout=timeout)
    r = Run(args, p)
    OUTPUTS.append(("walletsign " + " ".join(args), r.out + r.err))
    if r.rc == 99:  # no exit code of walletsign: valgrind's or a sanitizer's, as configured
        raise AssertionError("valgrind or a sanitizer reported errors: %r" % r)
    return r


def write(name, data, mode=0o600):
    path = os.path.join(TMP, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def fresh_dir(name):
    path = os.path.join(TMP, name)
    shutil.rmtree(path, ignore_errors=True)
    return path


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def vectors(name):
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


def body_of(c):
    if "body_repeat" in c:
        pat = bytes.fromhex(c["body_repeat"]["pattern_hex"])
        n = c["body_repeat"]["length"]
        return (pat * (n // len(pat) + 1))[:n]
    return bytes.fromhex(c["body_hex"])


# ---------------------------------------------------------------- mock server

class Mock:
    def __init__(self):
        self.proc = subprocess.Popen(["/usr/bin/python3", "-m", "tests.mock_server", "--port", "0"],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("mock server did not start")
        self.info = json.loads(line)
        self.url = self.info["url"]
        SECRETS.add(self.info["merchant_private_key_hex"])
        self.post("/_mock/halogen/config", {"rate": 0})  # many short CLI runs: no 429s
        self.post("/_mock/hmac/register", {"api_key": "my-api-key", "secret": HMAC_SECRET})

    def request(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise AssertionError("mock %s %s: %s %s" % (method, path, e.code, e.read()))

    def post(self, path, body=None, raw=None):
        return self.request("POST", path, body, raw)

    def register_public(self, pem_path, key_id, scope="all"):
        with open(pem_path, "rb") as f:
            return self.post("/_mock/halogen/register_public?key_id=%s&scope=%s" % (key_id, scope),
                             raw=f.read())["key_id"]

    def register_csr(self, csr_path, key_id):
        with open(csr_path, "rb") as f:
            return self.post("/_mock/halogen/register?key_id=%s" % key_id, raw=f.read())["key_id"]

    def log(self):
        """What the mock received, oldest first."""
        return self.request("GET", "/_mock/log")

    def faults(self, path, faults):
        self.post("/_mock/faults", {"path": path, "faults": faults})

    def clear_faults(self):
        self.request("DELETE", "/_mock/faults")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@functools.lru_cache(None)
def mock():
    return Mock()


# ---------------------------------------------------------------- fixtures

def remember_private_key(path, password=None):
    """Add a key file's secret parts to SECRETS (checked against every output)."""
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password.encode() if password else None)
    value = key.private_numbers().private_value
    SECRETS.add("%064x" % value)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    SECRETS.add(base64.b64encode(der).decode()[40:100])  # a stretch covering the scalar


@functools.lru_cache(None)
def p256():
    """A P-256 key made by `walletsign keygen`, registered with the mock as cli-p256."""
    out = fresh_dir("p256")
    ws("keygen", "p256", "--out", out).ok()
    remember_private_key(os.path.join(out, "ec_private_key.pem"))
    return out


@functools.lru_cache(None)
def p256_kid():
    return mock().register_public(os.path.join(p256(), "ec_public_key.pem"), "cli-p256")


def jwt_env(**extra):
    env = {"HALOGEN_WALLET_KEY_ID": p256_kid(),
           "HALOGEN_WALLET_PRIVATE_KEY_PATH": os.path.join(p256(), "ec_private_key.pem"),
           "WALLETSIGN_BASE_URL": mock().url}
    env.update(extra)
    return env


@functools.lru_cache(None)
def secret_file():
    return write("secret.txt", HMAC_SECRET + "\n")


@functools.lru_cache(None)
def known_hex_file():
    return write("known.hex", KNOWN_HEX + "\n")


@functools.lru_cache(None)
def merchant_hex_file():
    return write("merchant.hex", "0x" + mock().info["merchant_private_key_hex"] + "\n")


@functools.lru_cache(None)
def password_file():
    return write("password.txt", PASSWORD + "\r\n")


def decode_segment(seg):
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


# ================================================================ general

@test
def version_matches_the_header():
    with open(os.path.join(ROOT, "csrc", "include", "walletsign.h")) as f:
        version = re.search(r'#define WSIG_VERSION "([^"]+)"', f.read()).group(1)
    r = ws("--version").ok()
    expect(r.out == "walletsign %s\n" % version, r)


@test
def top_level_help_lists_commands_and_exit_codes():
    r = ws("--help").ok()
    for word in ("keygen", "csr", "address", "sign", "verify", "query", "command", "request",
                 "call", "Exit codes", "4 transport/timeout", "9 internal"):
        expect(word in r.out, "%s missing from --help" % word)
    expect(ws("help", "sign").ok().out.startswith("Usage: walletsign sign"), "help sign")


HELP_COMMANDS = [["keygen"], ["csr"], ["address"], ["sign"], ["sign", "jwt"], ["sign", "hmac"],
                 ["sign", "message"], ["verify"], ["verify", "message"], ["verify", "jwt"],
                 ["verify", "hmac"], ["query"], ["command"], ["request"], ["call"],
                 ["keygen", "rsa4096"]]


def help_of(words):
    r = ws(*words, "--help").ok()
    expect(r.out.startswith("Usage: walletsign " + words[0]), r)
    expect(r.err == "", r)


for _words in HELP_COMMANDS:
    case("help: walletsign %s --help" % " ".join(_words), help_of, _words)

USAGE_ERRORS = [
    [],
    ["frobnicate"],
    ["keygen"],
    ["keygen", "ed25519"],
    ["keygen", "p256", "--bogus"],
    ["keygen", "p256", "extra"],
    ["sign"],
    ["sign", "rsa", "GET", "/"],
    ["sign", "hmac", "GET"],
    ["sign", "hmac", "GET", "/", "--api-key"],
    ["sign", "hmac", "GET", "/", "--api-key", "k", "--secret-file", "x", "--encoding", "b32"],
    ["sign", "hmac", "GET", "/", "--api-key", "k", "--secret-file", "x", "--timestamp", "12x"],
    ["sign", "hmac", "GET", "/", "--secret-file", "x"],          # no API key
    ["sign", "hmac", "GET", "/", "--api-key", "k"],              # no secret
    ["sign", "jwt", "POST", "/query", "--key-id", "k"],          # no key
    ["sign", "message", "POST", "/x", "--session", "1"],         # no sequence
    ["verify"],
    ["verify", "message", "--headers", "h"],                     # no --trusted
    ["verify", "message", "--trusted", KNOWN_ADDRESS],           # no headers
    ["verify", "jwt", "--token", "x"],                           # no key
    ["verify", "hmac", "--api-key", "k", "--secret-file", "x"],  # no method/path
    ["query"],
    ["query", "a", "{}", "extra"],
    ["call", "POST"],
    ["request", "GET", "/x", "--auth", "basic"],
    ["request", "GET", "/x"],                                    # which protocol?
    ["address"],
    ["address", "--key", "a", "--hex-file", "b"],
    ["csr"],
]


def usage_error(args):
    r = ws(*args).ok(2)
    expect(r.out == "", "usage errors print nothing on stdout: %r" % r)
    expect(r.err.strip(), "usage errors explain themselves: %r" % r)


for _args in USAGE_ERRORS:
    case("usage error (exit 2): %s" % " ".join(_args), usage_error, _args)


@test
def write_error_on_stdout_is_an_io_error():
    with open("/dev/full", "wb") as full:
        p = subprocess.run(WRAPPER + [BIN, "address", "--hex-file", known_hex_file()],
                           stdout=full, stderr=subprocess.PIPE, env=clean_env(), cwd=TMP)
    expect(p.returncode == 8, "exit %d: %s" % (p.returncode, p.stderr))


# ================================================================ keys

@test
def keygen_p256_writes_key_csr_and_public_key():
    out = p256()
    key, pub, csr = (os.path.join(out, n) for n in ("ec_private_key.pem", "ec_public_key.pem",
                                                     "ec_csr.pem"))
    expect(stat.S_IMODE(os.stat(key).st_mode) == 0o600, "private key mode")
    expect(stat.S_IMODE(os.stat(out).st_mode) == 0o700, "key directory mode")
    subprocess.run(["openssl", "req", "-verify", "-noout", "-in", csr], check=True,
                   capture_output=True)
    with open(csr, "rb") as f:
        req = x509.load_pem_x509_csr(f.read())
    expect(req.is_signature_valid, "CSR signature")
    expect(isinstance(req.signature_hash_algorithm, hashes.SHA256), "CSR hash")
    subject = "/" + "/".join(a.rfc4514_string() for a in req.subject)
    expect(subject == DEFAULT_SUBJECT, subject)
    with open(key, "rb") as f:
        priv = serialization.load_pem_private_key(f.read(), None)
    expect(isinstance(priv.curve, ec.SECP256R1), "curve")
    with open(pub, "rb") as f:
        expect(f.read() == priv.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
            "public key file matches the private key")
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    expect(req.public_key().public_bytes(*spki) == priv.public_key().public_bytes(*spki),
           "CSR holds the key's public half")


@test
def keygen_prints_what_it_wrote():
    out = fresh_dir("printed")
    r = ws("keygen", "p256", "--out", out).ok()
    for name in ("ec_private_key.pem", "ec_public_key.pem", "ec_csr.pem"):
        expect(os.path.join(out, name) in r.out, "%s not reported: %r" % (name, r))
    expect("Halogen" in r.out, r)


@test
def keygen_custom_subject():
    out = fresh_dir("subject")
    ws("keygen", "p256", "--out", out, "--subject", "/C=MY/O=Acme Sdn Bhd/CN=api.acme.my").ok()
    p = subprocess.run(["openssl", "req", "-verify", "-noout", "-subject", "-nameopt", "compat",
                        "-in", os.path.join(out, "ec_csr.pem")], capture_output=True, text=True,
                       check=True)
    expect("/C=MY/O=Acme Sdn Bhd/CN=api.acme.my" in p.stdout, p.stdout)


@test
def keygen_bad_subject_is_a_usage_error_and_writes_nothing():
    out = fresh_dir("badsubject")
    ws("keygen", "p256", "--out", out, "--subject", "not a subject").ok(2)
    expect(not os.path.exists(os.path.join(out, "ec_private_key.pem")), "nothing written")


@test
def keygen_never_replaces_a_key_without_force():
    out = fresh_dir("force")
    ws("keygen", "secp256k1", "--out", out).ok()
    path = os.path.join(out, "secp256k1_private_key.pem")
    with open(path) as f:
        before = f.read()
    r = ws("keygen", "secp256k1", "--out", out).ok(8)
    expect("--force" in r.err, r)
    with open(path) as f:
        expect(f.read() == before, "the key was kept")
    ws("keygen", "secp256k1", "--out", out, "--force").ok()
    with open(path) as f:
        expect(f.read() != before, "--force replaced it")
    expect(stat.S_IMODE(os.stat(path).st_mode) == 0o600, "mode after --force")


@test
def keygen_secp256k1_prints_its_address():
    out = fresh_dir("k1")
    r = ws("keygen", "secp256k1", "--out", out).ok()
    m = re.search(r"address (0x[0-9a-fA-F]{40})", r.out)
    expect(m, r)
    key = os.path.join(out, "secp256k1_private_key.pem")
    remember_private_key(key)
    expect(stat.S_IMODE(os.stat(key).st_mode) == 0o600, "mode")
    expect(not os.path.exists(os.path.join(out, "secp256k1_csr.pem")), "no CSR for secp256k1")
    expect(ws("address", "--key", key).ok().out.strip() == m.group(1), "address --key agrees")
    with open(key, "rb") as f:
        priv = serialization.load_pem_private_key(f.read(), None)
    expect(isinstance(priv.curve, ec.SECP256K1), "curve")


@test
def keygen_with_password_encrypts_the_key():
    out = fresh_dir("encrypted")
    ws("keygen", "p256", "--out", out, "--password-file", password_file()).ok()
    key = os.path.join(out, "ec_private_key.pem")
    with open(key) as f:
        expect("ENCRYPTED PRIVATE KEY" in f.read(), "encrypted PEM")
    remember_private_key(key, PASSWORD)
    ws("csr", "--key", key, "--password-file", password_file()).ok()
    wrong = write("wrong-password.txt", "Tr0ub4dor&3\n")
    r = ws("csr", "--key", key, "--password-file", wrong).ok(3)
    expect("password" in r.err.lower(), r)
    ws("csr", "--key", key).ok(3)  # no password at all
    ws("sign", "jwt", "POST", "/query", "--key", key, "--key-id", "k",
       "--password-file", wrong).ok(3)
    ws("sign", "jwt", "POST", "/query", "--key", key, "--key-id", "k",
       "--password-file", password_file()).ok()


@test
def key_password_from_the_environment_is_pythons_name():
    # HALOGEN_WALLET_PRIVATE_KEY_PASSWORD (the password itself) is the name
    # Python's Client.from_env reads too; WALLETSIGN_PASSWORD_FILE is its
    # deprecated alias, and the flag wins over both.
    out = fresh_dir("encrypted-env")
    ws("keygen", "p256", "--out", out, "--password-file", password_file()).ok()
    key = os.path.join(out, "ec_private_key.pem")
    remember_private_key(key, PASSWORD)
    ws("csr", "--key", key, env={"HALOGEN_WALLET_PRIVATE_KEY_PASSWORD": PASSWORD}).ok()
    ws("sign", "jwt", "POST", "/query", "--key", key, "--key-id", "k",
       env={"HALOGEN_WALLET_PRIVATE_KEY_PASSWORD": PASSWORD}).ok()
    r = ws("csr", "--key", key, env={"HALOGEN_WALLET_PRIVATE_KEY_PASSWORD": "Tr0ub4dor&3"}).ok(3)
    expect("password" in r.err.lower(), r)
    ws("csr", "--key", key, env={"HALOGEN_WALLET_PRIVATE_KEY_PASSWORD": ""}).ok(3)  # empty: unset
    ws("csr", "--key", key, env={"WALLETSIGN_PASSWORD_FILE": password_file()}).ok()
    ws("csr", "--key", key, "--password-file", password_file(),
       env={"HALOGEN_WALLET_PRIVATE_KEY_PASSWORD": "Tr0ub4dor&3"}).ok()


@test
def csr_for_an_existing_key():
    key = os.path.join(VECTORS, "keys", "p256_sec1.pem")
    r = ws("csr", "--key", key, "--subject", "/CN=walletsign-test").ok()
    req = x509.load_pem_x509_csr(r.outb)
    expect(req.is_signature_valid, "signature")
    expect(req.subject.rfc4514_string() == "CN=walletsign-test", req.subject)
    out = os.path.join(TMP, "out.csr")
    ws("csr", "--key", key, "--out", out, "--force").ok()
    subprocess.run(["openssl", "req", "-verify", "-noout", "-in", out], check=True,
                   capture_output=True)


@test
def csr_refuses_a_secp256k1_key():
    ws("csr", "--key", os.path.join(VECTORS, "keys", "secp256k1_sec1.pem")).ok(3)


def address_of(args, expected):
    r = ws("address", *args).ok()
    expect(r.out == expected + "\n", r)


case("address: docs/protocols.md known key via --hex-file", lambda: address_of(
    ["--hex-file", known_hex_file()], KNOWN_ADDRESS))
case("address: known key in a hex file via --key", lambda: address_of(
    ["--key", known_hex_file()], KNOWN_ADDRESS))
case("address: known key from WALLETSIGN_MESSAGE_KEY_PATH", lambda: (
    expect(ws("address", env={"WALLETSIGN_MESSAGE_KEY_PATH": known_hex_file()}).ok().out
           == KNOWN_ADDRESS + "\n", "env")))


@test
def address_vectors():
    """Every address of message.json, through a hex file."""
    for i, a in enumerate(vectors("message.json")["addresses"]):
        path = write("addr%d.hex" % i, a["private_key_hex"])
        address_of(["--hex-file", path], a["address"])


@test
def address_of_pem_key_files():
    for k in vectors(os.path.join("keys", "keys.json"))["keys"]:
        if k["kind"] == "secp256k1" and k["private"]:
            address_of(["--key", os.path.join(VECTORS, "keys", k["file"])], k["address"])


@test
def key_files_of_every_form_are_detected_by_the_library():
    """keys.json "detection": a --key file holding PEM, DER or 64 hex digits
    (0x, line end) is detected by the library; anything else is a key error
    (exit 3) that names what it saw and never echoes the key."""
    for i, c in enumerate(vectors(os.path.join("keys", "keys.json"))["detection"]):
        if "data" in c:
            data = c["data"].encode()
        elif "data_hex" in c:
            data = bytes.fromhex(c["data_hex"])
        else:
            data = open(os.path.join(VECTORS, "keys", c["file"]), "rb").read()
            data = c.get("prefix", "").encode() + data[:c.get("truncate", len(data))]
        r = ws("address", "--key", write("detect%d.key" % i, data))
        if c["expect"] == "ok" and "address" in c:
            expect(r.rc == 0 and r.out == c["address"] + "\n", (c["name"], r))
        elif c["expect"] == "ok":  # a P-256 key: loaded, then refused by address
            expect(r.rc == 3 and "secp256k1" in r.err, (c["name"], r))
        else:
            expect(r.rc == 3 and c["error_hint"] in r.err, (c["name"], r))
        if c.get("no_echo"):
            expect(c["no_echo"] not in r.out + r.err, (c["name"], "echoes the key"))


@test
def address_refuses_other_keys():
    ws("address", "--key", os.path.join(VECTORS, "keys", "p256_sec1.pem")).ok(3)
    ws("address", "--hex-file", write("bad.hex", "zz" * 32)).ok(3)
    ws("address", "--hex-file", write("zero.hex", "00" * 32)).ok(3)


@test
def missing_key_file_is_an_io_error():
    for args in (["address", "--key", "/nonexistent/key.pem"],
                 ["csr", "--key", "/nonexistent/key.pem"],
                 ["sign", "jwt", "POST", "/query", "--key", "/nonexistent/key.pem", "--key-id",
                  "k"],
                 ["sign", "hmac", "GET", "/", "--api-key", "k", "--secret-file", "/nonexistent"]):
        r = ws(*args).ok(8)
        expect("/nonexistent" in r.err, r)


@test
def malformed_key_files_are_key_errors():
    for name in ("garbage.pem", "truncated.pem", "ed25519_pkcs8.pem", "p384_sec1.pem",
                 "rsa1024_pkcs1.pem"):
        ws("sign", "jwt", "POST", "/query", "--key", os.path.join(VECTORS, "keys", name),
           "--key-id", "k").ok(3)


# ================================================================ sign hmac

def hmac_args(extra=()):
    return ["--api-key", "my-api-key", "--secret-file", secret_file()] + list(extra)


@test
def sign_hmac_known_answer():
    r = ws("sign", "hmac", "GET", KNOWN_PATH, "--timestamp", KNOWN_TS, *hmac_args()).ok()
    expect(r.out == "x-api-key: my-api-key\nx-timestamp: %s\nx-signature: %s\n"
           % (KNOWN_TS, KNOWN_B64), r)


@test
def sign_hmac_known_answer_hex():
    r = ws("sign", "hmac", "GET", KNOWN_PATH, "--timestamp", KNOWN_TS, "--encoding", "hex",
           *hmac_args()).ok()
    expect(r.headers()["x-signature"] == KNOWN_HEXSIG, r)


@test
def sign_hmac_from_the_environment():
    r = ws("sign", "hmac", "GET", KNOWN_PATH, "--timestamp", KNOWN_TS,
           env={"WALLETSIGN_API_KEY": "env-key", "WALLETSIGN_SECRET": HMAC_SECRET}).ok()
    expect(r.headers() == {"x-api-key": "env-key", "x-timestamp": KNOWN_TS,
                           "x-signature": KNOWN_B64}, r)


@test
def sign_hmac_secret_on_the_command_line_warns():
    r = ws("sign", "hmac", "GET", KNOWN_PATH, "--timestamp", KNOWN_TS, "--api-key", "k",
           "--secret", HMAC_SECRET).ok()
    expect(r.headers()["x-signature"] == KNOWN_B64, r)
    expect("process list" in r.err, "a warning on stderr: %r" % r)


@test
def sign_hmac_formats():
    base = ["sign", "hmac", "GET", KNOWN_PATH, "--timestamp", KNOWN_TS] + hmac_args()
    j = json.loads(ws(*base, "--format", "json").ok().out)
    expect(j == {"x-api-key": "my-api-key", "x-timestamp": KNOWN_TS, "x-signature": KNOWN_B64}, j)
    curl = ws(*base, "--format", "curl").ok().out
    words = shlex.split(curl)
    expect(words == ["-H", "x-api-key: my-api-key", "-H", "x-timestamp: " + KNOWN_TS,
                     "-H", "x-signature: " + KNOWN_B64], words)


@test
def sign_hmac_body_sources_agree():
    body = '{"name":"it\'s a wallet","chain":"ethereum"}'
    path = write("body.json", body)
    expected = base64.b64encode(hmac.new(HMAC_SECRET.encode(), (
        "%s|POST|/v1/wallet/create|%s" % (KNOWN_TS, body)).encode(), hashlib.sha256).digest())
    for args, stdin in ((["--body", body], None), (["--body", "@" + path], None),
                        (["--body", "-"], body)):
        r = ws("sign", "hmac", "post", "/v1/wallet/create", "--timestamp", KNOWN_TS,
               *hmac_args(args), stdin=stdin).ok()
        expect(r.headers()["x-signature"] == expected.decode(), r)


def hmac_vector(c):
    secret = write("vec-secret", c["secret"].encode() + b"\n")
    body = write("vec-body", body_of(c))
    r = ws("sign", "hmac", c["method"], c["path"], "--timestamp", c["timestamp_ms"],
           "--api-key", c["api_key"], "--secret-file", secret, "--body", "@" + body,
           "--encoding", c["encoding"], "--separator", c["separator"], "--format", "json").ok()
    expect(json.loads(r.out) == c["headers"], r)


for _c in vectors("hmac.json")["cases"]:
    case("hmac vector %s" % _c["name"], hmac_vector, _c)


# ================================================================ sign/verify message

def message_key_args():
    return ["--hex-file", known_hex_file()]


def sign_message(body, *extra, env=None):
    path = write("msg-body", body)
    r = ws("sign", "message", "POST", "/callback", "--body", "@" + path, *message_key_args(),
           *extra, env=env).ok()
    return write("msg-headers", r.out), path, r


@test
def sign_message_then_verify():
    headers, body, r = sign_message(b'{"type":"deposit_status","data":{"amount":"1.5"}}')
    h = r.headers()
    expect(list(h) == ["X-Message-Address", "X-Message-Timestamp", "X-Message-Session",
                       "X-Message-Sequence", "X-Message-Signature"], h)
    expect(h["X-Message-Address"] == KNOWN_ADDRESS and h["X-Message-Sequence"] == "1", h)
    v = ws("verify", "message", "--trusted", KNOWN_ADDRESS.lower(), "--headers", headers,
           "--body", body).ok()
    expect(v.out.startswith("valid\n"), v)
    expect("sender: %s\n" % KNOWN_ADDRESS in v.out, v)
    expect("session: %s\n" % h["X-Message-Session"] in v.out, v)
    expect("sequence: 1\n" in v.out, v)


@test
def verify_message_session_as_sent():
    # Leading zeros are part of the signed prehash (issue #11 item 6); a known
    # answer made by tests/reference/walletref.py (python-ecdsa).
    headers = write("zeros-headers", "".join("%s: %s\n" % kv for kv in [
        ("X-Message-Address", KNOWN_ADDRESS), ("X-Message-Timestamp", KNOWN_TS),
        ("X-Message-Session", "0915000000000000001"), ("X-Message-Sequence", "007"),
        ("X-Message-Signature", "0xa0bca5869fcef11e0647d4f5631362f219a5134a2e4e529b52faf18fa6250f"
                                "52051df2050f27b850f22c400575e226ad4c14c9001e270a7b6b34a47cade13"
                                "2361b")]))
    body = write("zeros-body", b'{"type":"deposit_status"}')
    args = ["verify", "message", "--trusted", KNOWN_ADDRESS, "--headers", headers, "--body", body,
            "--now", KNOWN_TS]
    v = ws(*args).ok()
    expect("session: 0915000000000000001\nsequence: 007\n" in v.out, v)
    j = json.loads(ws(*args, "--format", "json").ok().out)
    expect(j["session"] == "0915000000000000001" and j["sequence"] == "007", j)


@test
def verify_message_tampered_body():
    headers, _, _ = sign_message(b'{"amount":"1.5"}')
    tampered = write("tampered", b'{"amount":"9.5"}')
    v = ws("verify", "message", "--trusted", KNOWN_ADDRESS, "--headers", headers,
           "--body", tampered).ok(1)
    expect("bad_signature" in v.out, v)


@test
def verify_message_untrusted_sender():
    headers, body, _ = sign_message(b"{}")
    v = ws("verify", "message", "--trusted", "0x" + "11" * 20, "--trusted", "0x" + "22" * 20,
           "--headers", headers, "--body", body).ok(1)
    expect("untrusted_address" in v.out, v)


@test
def verify_message_stale_and_json_output():
    headers, body, r = sign_message(b"{}")
    ts = int(r.headers()["X-Message-Timestamp"])
    v = ws("verify", "message", "--trusted", KNOWN_ADDRESS, "--headers", headers, "--body", body,
           "--now", ts + 60001, "--format", "json").ok(1)
    expect(json.loads(v.out)["reason"] == "stale_timestamp", v)
    v = ws("verify", "message", "--trusted", KNOWN_ADDRESS, "--headers", headers, "--body", body,
           "--now", ts + 60001, "--window-ms", 120000, "--format", "json").ok()
    j = json.loads(v.out)
    expect(j["valid"] is True and j["address"] == KNOWN_ADDRESS and j["timestamp_ms"] == ts, j)


@test
def verify_message_missing_header():
    _, body, r = sign_message(b"{}")
    lines = [l for l in r.out.splitlines() if not l.startswith("X-Message-Signature")]
    headers = write("partial-headers", "\n".join(lines) + "\n")
    v = ws("verify", "message", "--trusted", KNOWN_ADDRESS, "--headers", headers,
           "--body", body).ok(1)
    expect("missing_header" in v.out, v)


@test
def verify_message_headers_from_stdin_and_flags():
    _, body, r = sign_message(b"{}")
    h = r.headers()
    lower = "".join("%s:%s\r\n" % (k.lower(), v) for k, v in h.items() if k != "X-Message-Signature")
    ws("verify", "message", "--trusted", KNOWN_ADDRESS, "--headers", "-", "--body", body,
       "--header", "X-Message-Signature: " + h["X-Message-Signature"], stdin=lower).ok()


@test
def sign_message_from_the_environment_and_a_pem_key():
    pem = os.path.join(VECTORS, "keys", "secp256k1_sec1.pem")
    path = write("env-body", b"x")
    r = ws("sign", "message", "POST", "/x", "--body", "@" + path,
           env={"WALLETSIGN_MESSAGE_KEY_PATH": pem}).ok()
    address = ws("address", "--key", pem).ok().out.strip()
    expect(r.headers()["X-Message-Address"] == address, r)
    ws("verify", "message", "--trusted", address, "--headers", write("env-h", r.out),
       "--body", path).ok()


@test
def sign_message_options_round_trip():
    for opts in (["--digest", "keccak256"], ["--digest", "eip191", "--v-offset", "0"],
                 ["--v-offset", "0", "--no-prefix"], ["--empty-body", "separator"]):
        body = b"" if "--empty-body" in opts else b'{"a":1}'
        headers, path, r = sign_message(body, *opts)
        sig = r.headers()["X-Message-Signature"]
        if "--v-offset" in opts:
            expect(sig[-2:] in ("00", "01"), sig)
        expect(sig.startswith("0x") != ("--no-prefix" in opts), sig)
        digest = opts[1] if opts[0] == "--digest" else "sha256"
        ws("verify", "message", "--trusted", KNOWN_ADDRESS, "--headers", headers, "--body", path,
           "--digest", digest).ok()
        if digest != "sha256":
            v = ws("verify", "message", "--trusted", KNOWN_ADDRESS, "--headers", headers,
                   "--body", path).ok(1)
            expect("bad_signature" in v.out, v)


def message_vector(c):
    key = write("vec.hex", c["private_key_hex"])
    body = write("vec-msg-body", body_of(c))
    args = ["sign", "message", "POST", "/x", "--hex-file", key, "--body", "@" + body,
            "--timestamp", c["timestamp_ms"], "--session", c["session"], "--sequence",
            c["sequence"], "--digest", c["digest"], "--empty-body", c["empty_body"],
            "--sig-encoding", c["encoding"], "--v-offset", c["v_offset"], "--format", "json"]
    if not c["prefix"]:
        args.append("--no-prefix")
    r = ws(*args).ok()
    expect(json.loads(r.out) == c["headers"], r)


for _c in vectors("message.json")["cases"]:
    case("message vector %s" % _c["name"], message_vector, _c)


def message_negative(c):
    headers = write("neg-headers", "".join("%s: %s\n" % kv for kv in c["headers"].items()))
    body = write("neg-body", body_of(c))
    args = ["verify", "message", "--headers", headers, "--body", body, "--now", c["now_ms"],
            "--window-ms", c["window_ms"], "--digest", c["digest"], "--format", "json"]
    for t in c["trusted"]:
        args += ["--trusted", t]
    # One run has no replay memory: a verify_twice case must pass its first delivery.
    expected = None if c.get("verify_twice") else c["expect_reason"]
    r = ws(*args).ok(0 if expected is None else 1)
    if expected:
        expect(json.loads(r.out)["reason"] == expected, r)


for _c in vectors("message.json")["verify_negative"]:
    if all(t.startswith("0x") and len(t) == 42 for t in _c["trusted"]) and _c["trusted"]:
        case("message verify vector %s" % _c["name"], message_negative, _c)


# ================================================================ sign/verify jwt

def p256_key():
    return os.path.join(p256(), "ec_private_key.pem")


def p256_pub():
    return os.path.join(p256(), "ec_public_key.pem")


@test
def sign_jwt_is_a_valid_es256_token():
    body = '{"name":"list_client_accounts","payload":{}}'
    r = ws("sign", "jwt", "POST", "/query", "--key", p256_key(), "--key-id", "kid-1",
           "--body", body, "--ttl", "30").ok()
    auth = r.headers()["Authorization"]
    expect(auth.startswith("Bearer "), r)
    token = auth[7:]
    h, p, s = token.split(".")
    expect(json.loads(decode_segment(h)) == {"alg": "ES256", "typ": "JWT"}, h)
    claims = json.loads(decode_segment(p))
    expect(list(claims) == ["kid", "sub", "iat", "exp", "nonce", "bodyHash", "uri"], claims)
    expect(claims["kid"] == "kid-1" and claims["sub"] == "wallet" and claims["uri"] == "/query",
           claims)
    expect(claims["exp"] - claims["iat"] == 30, claims)
    expect(claims["bodyHash"] == hashlib.sha256(body.encode()).hexdigest(), claims)
    expect(re.fullmatch(r"[0-9a-f]{40}", claims["nonce"]), claims)
    # Independent check: DER signature by default, verified with cryptography.
    with open(p256_pub(), "rb") as f:
        pub = serialization.load_pem_public_key(f.read())
    pub.verify(decode_segment(s), ("%s.%s" % (h, p)).encode(), ec.ECDSA(hashes.SHA256()))
    v = ws("verify", "jwt", "--key", p256_pub(), "--token", auth, "--uri", "/query",
           "--body", write("jwt-body", body)).ok()
    expect("kid: kid-1\n" in v.out and "uri: /query\n" in v.out, v)


@test
def sign_jwt_raw_signature_and_timestamp():
    r = ws("sign", "jwt", "POST", "/command", "--key", p256_key(), "--key-id", "k",
           "--signature-format", "raw", "--timestamp", "1730998051892").ok()
    token = r.headers()["Authorization"][7:]
    h, p, s = token.split(".")
    sig = decode_segment(s)
    expect(len(sig) == 64, "raw r||s is 64 bytes")
    claims = json.loads(decode_segment(p))
    expect(claims["iat"] == 1730998051 and claims["exp"] == 1730998061, claims)
    expect(claims["bodyHash"] == hashlib.sha256(b"").hexdigest(), claims)
    with open(p256_pub(), "rb") as f:
        pub = serialization.load_pem_public_key(f.read())
    der = asym_utils.encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                          int.from_bytes(sig[32:], "big"))
    pub.verify(der, ("%s.%s" % (h, p)).encode(), ec.ECDSA(hashes.SHA256()))
    tok = write("token.txt", token + "\n")
    ws("verify", "jwt", "--key", p256_pub(), "--token-file", tok, "--now", 1730998055).ok()
    v = ws("verify", "jwt", "--key", p256_pub(), "--token-file", tok, "--now", 1730998061).ok(1)
    expect("expired" in v.out, v)
    ws("verify", "jwt", "--key", p256_pub(), "--token-file", tok, "--now", 1730998061,
       "--leeway", 5).ok()
    v = ws("verify", "jwt", "--key", p256_pub(), "--token-file", tok, "--now", 1730998055,
           "--uri", "/query", "--format", "json").ok(1)
    expect(json.loads(v.out)["valid"] is False, v)


@test
def sign_jwt_from_the_environment():
    r = ws("sign", "jwt", "POST", "/query", env={
        "HALOGEN_WALLET_KEY_ID": "env-kid", "HALOGEN_WALLET_PRIVATE_KEY_PATH": p256_key()}).ok()
    claims = json.loads(decode_segment(r.headers()["Authorization"].split(".")[1]))
    expect(claims["kid"] == "env-kid", claims)


@test
def sign_jwt_refuses_a_secp256k1_key():
    ws("sign", "jwt", "POST", "/query", "--key", os.path.join(VECTORS, "keys",
                                                               "secp256k1_sec1.pem"),
       "--key-id", "k").ok(3)


@test
def sign_jwt_warns_about_rsa2048():
    r = ws("sign", "jwt", "POST", "/query", "--key", os.path.join(VECTORS, "keys",
                                                                   "rsa2048_pkcs1.pem"),
           "--key-id", "k").ok()
    expect("warning" in r.err and "4096" in r.err, r)


def jwt_verify_vector(c, kind):
    key = os.path.join(VECTORS, "keys", c["public_key_file"])
    args = ["verify", "jwt", "--key", key, "--token", c["token"], "--now", c["now"],
            "--format", "json"]
    if kind == "negative":
        args += ["--leeway", c["leeway"], "--max-ttl", c["max_ttl"]]
        r = ws(*args).ok(0 if c["expect_reason"] is None else 1)
        if c["expect_reason"]:
            expect(json.loads(r.out)["reason"] == c["expect_reason"], r)
    else:
        body = write("jwt-vec-body", body_of(c))
        r = ws(*args, "--uri", c["uri"], "--body", body).ok()
        j = json.loads(r.out)
        expect(j["kid"] == c["kid"] and j["uri"] == c["uri"], j)


_jwt = vectors("jwt.json")
for _c in _jwt["es256_verify"]:
    case("jwt verify vector %s" % _c["name"], jwt_verify_vector, _c, "positive")
for _c in _jwt["verify_negative"]:
    if _c["now"] > 0:
        case("jwt verify vector %s" % _c["name"], jwt_verify_vector, _c, "negative")


# ================================================================ verify hmac

@test
def verify_hmac_round_trip():
    body = write("hmac-body", b'{"name":"w"}')
    r = ws("sign", "hmac", "POST", "/v1/wallet/create", "--body", "@" + body, *hmac_args()).ok()
    headers = write("hmac-headers", r.out)
    common = ["verify", "hmac", "--api-key", "my-api-key", "--secret-file", secret_file(),
              "--method", "POST", "--path", "/v1/wallet/create", "--headers", headers]
    v = ws(*common, "--body", body).ok()
    expect(v.out == "valid\napi key: my-api-key\n", v)
    v = ws(*common, "--body", write("hmac-other", b'{"name":"x"}')).ok(1)
    expect("bad_signature" in v.out, v)
    ts = int(r.headers()["x-timestamp"])
    v = ws(*common, "--body", body, "--now", ts + 30001, "--format", "json").ok(1)
    expect(json.loads(v.out)["reason"] == "stale_timestamp", v)
    v = ws(*common[:-2], "--headers", "-", "--body", body,
           stdin=r.out.replace("x-signature", "X-Signature")).ok()


@test
def verify_header_with_nul_is_malformed():
    # A NUL inside a header line is the library's to judge, as in every
    # binding: malformed_header (exit 1), never the value cut at the NUL,
    # which would verify here.
    body = write("nul-body", b'{"name":"w"}')
    r = ws("sign", "hmac", "POST", "/v1/wallet/create", "--body", "@" + body, *hmac_args()).ok()
    common = ["verify", "hmac", "--api-key", "my-api-key", "--secret-file", secret_file(),
              "--method", "POST", "--path", "/v1/wallet/create", "--body", body,
              "--format", "json"]
    ws(*common, "--headers", write("nul-clean", r.out)).ok()
    for name in ("x-signature", "x-timestamp", "x-api-key"):
        lines = [l + "\0junk" if l.startswith(name + ":") else l for l in r.out.splitlines()]
        v = ws(*common, "--headers", write("nul-headers", "\n".join(lines) + "\n")).ok(1)
        expect(json.loads(v.out)["reason"] == "malformed_header", v)
    msg_headers, msg_body, m = sign_message(b"{}")
    with open(msg_headers) as f:
        text = f.read()
    ws("verify", "message", "--trusted", KNOWN_ADDRESS, "--headers", msg_headers,
       "--body", msg_body).ok()
    sig = "X-Message-Signature:"
    nul_value = "".join(l + "\0junk\n" if l.startswith(sig) else l + "\n"
                        for l in text.splitlines())
    for nul in (nul_value, text.replace(sig, sig[:-1] + "\0x:", 1)):
        v = ws("verify", "message", "--trusted", KNOWN_ADDRESS, "--headers", "-",
               "--body", msg_body, "--format", "json", stdin=nul).ok(1)
        expect(json.loads(v.out)["reason"] == "malformed_header", v)


def hmac_negative(c):
    secret = write("neg-secret", c["secret"].encode() + b"\n")
    body = write("neg-hbody", body_of(c))
    headers = write("neg-hheaders", "x-api-key: %s\nx-timestamp: %s\nx-signature: %s\n" % (
        c["api_key"], c["timestamp_ms"], c["signature"]))
    r = ws("verify", "hmac", "--api-key", c["api_key"], "--secret-file", secret,
           "--method", c["method"], "--path", c["path"], "--headers", headers, "--body", body,
           "--now", c["now_ms"], "--window-ms", c["window_ms"], "--encoding", c["encoding"],
           "--separator", c["separator"], "--format", "json").ok(
        0 if c["expect_reason"] is None else 1)
    if c["expect_reason"]:
        expect(json.loads(r.out)["reason"] == c["expect_reason"], r)


for _c in vectors("hmac.json")["verify_negative"]:
    case("hmac verify vector %s" % _c["name"], hmac_negative, _c)


def hmac_refused_secret(c):
    """An empty --secret-file (no line, or an empty first line) is refused by
    sign and verify alike, as a bad argument (exit 2), never used as a key."""
    headers = write("refused-headers", "x-api-key: %s\nx-timestamp: 1\nx-signature: AAAA\n"
                    % c["api_key"])
    for content in (bytes.fromhex(c["secret_hex"]), bytes.fromhex(c["secret_hex"]) + b"\n"):
        secret = write("refused-secret", content)
        for args in (["sign", "hmac", "GET", "/", "--timestamp", "1"],
                     ["verify", "hmac", "--method", "GET", "--path", "/", "--headers", headers,
                      "--now", "1"]):
            r = ws(*args, "--api-key", c["api_key"], "--secret-file", secret).ok(2)
            expect("secret is empty" in r.err and r.out == "", r)


for _c in vectors("hmac.json")["refused_secrets"]:
    case("hmac refused secret %s" % _c["name"], hmac_refused_secret, _c)


# ================================================================ HTTP: Halogen

@test
def query_against_the_mock():
    r = ws("query", "list_client_accounts", '{"accountIds":["account_123"]}',
           "--key", p256_key(), "--key-id", p256_kid(), "--base-url", mock().url).ok()
    j = json.loads(r.out)
    expect([a["id"] for a in j["accounts"]] == ["account_123"], j)
    expect(r.err == "", r)


@test
def query_with_credentials_from_the_environment_and_payload_file():
    payload = write("payload.json", '{"accountIds":["account_456"]}')
    r = ws("query", "list_client_accounts", "@" + payload, env=jwt_env()).ok()
    expect([a["id"] for a in json.loads(r.out)["accounts"]] == ["account_456"], r)
    r = ws("query", "list_client_accounts", "-", stdin='{"accountIds":["account_789"]}',
           env=jwt_env()).ok()
    expect([a["id"] for a in json.loads(r.out)["accounts"]] == ["account_789"], r)


@test
def command_with_idempotency_key():
    payload = '{"accountId":"account_123","fundId":"fund_abc","amount":100}'
    key = "cli-test-%d" % time.time_ns()
    a = ws("command", "create_investment_request", payload, "--idempotency-key", key,
           env=jwt_env()).ok()
    b = ws("command", "create_investment_request", payload, "--idempotency-key", key,
           env=jwt_env()).ok()
    expect(json.loads(a.out)["requestId"] == json.loads(b.out)["requestId"], (a, b))


@test
def http_400_exits_5_with_a_json_error():
    r = ws("query", "no_such_query", env=jwt_env()).ok(5)
    expect(r.out == "", r)
    e = r.json_error()
    expect(e["kind"] == "http_error" and e["exit_code"] == 5 and e["http_status"] == 400, e)
    expect(e["code"] == "ErrInvalidParameter", e)
    expect(json.loads(e["body"])["code"] == "ErrInvalidParameter", e)
    r = ws("command", "create_investment_request", '{"accountId":"account_123"}',
           env=jwt_env()).ok(5)
    expect(r.json_error()["code"] == "ErrMissingParameter", r)


@test
def http_401_unknown_key_id():
    e = ws("query", "list_client_accounts", env=jwt_env(HALOGEN_WALLET_KEY_ID="unknown")) \
        .ok(5).json_error()
    expect(e["http_status"] == 401 and e["code"] == "ErrInvalidAuthToken", e)


@test
def http_403_query_only_key():
    kid = mock().register_public(p256_pub(), "cli-query-only", scope="query")
    e = ws("command", "create_investment_request",
           '{"accountId":"account_123","fundId":"fund_abc","amount":1}',
           env=jwt_env(HALOGEN_WALLET_KEY_ID=kid)).ok(5).json_error()
    expect(e["http_status"] == 403 and e["code"] == "ErrInsufficientAccess", e)


@test
def http_429_with_a_long_retry_after():
    mock().faults("/query", ["status:429:retry_after=120"])
    try:
        e = ws("query", "list_client_accounts", env=jwt_env()).ok(5).json_error()
    finally:
        mock().clear_faults()
    expect(e["http_status"] == 429 and e["retry_after"] == 120, e)
    # The fields of a failure: the same names and values as Python's and Lua's.
    expect(e["kind"] == "http_error" and e["code"] == "ErrRateLimitExceeded", e)
    expect(json.loads(e["body"])["code"] == "ErrRateLimitExceeded", e)
    expect(not {"rpc_code", "curl_code", "reason", "location", "data"} & set(e), e)
    expect(e["message"].startswith("request failed: HTTP 429"), e)


@test
def payload_must_be_a_json_object():
    r = ws("query", "list_client_accounts", "[1,2]", env=jwt_env()).ok(2)
    expect(r.json_error()["kind"] == "argument_error", r)


@test
def connection_refused_is_a_transport_error():
    r = ws("query", "list_client_accounts", "--retries", "0",
           env=jwt_env(WALLETSIGN_BASE_URL="http://127.0.0.1:9")).ok(4)
    e = r.json_error()
    expect(e["kind"] == "transport_error" and e["curl_code"] == 7, e)
    expect(not {"http_status", "code", "body", "retry_after"} & set(e), e)


@test
def timeout_is_a_transport_error():
    mock().faults("/query", ["delay:3000"])
    try:
        t = time.time()
        r = ws("query", "list_client_accounts", "--timeout", "0.5", "--retries", "0",
               env=jwt_env()).ok(4)
        if not WRAPPER:  # valgrind's start-up alone can take seconds
            expect(time.time() - t < 2.5, "the timeout was honoured")
    finally:
        mock().clear_faults()
    expect(r.json_error()["status"] == "timeout", r)


@test
def non_json_answer_is_a_protocol_error():
    mock().faults("/query", ["nonjson"])
    try:
        r = ws("query", "list_client_accounts", env=jwt_env()).ok(7)
    finally:
        mock().clear_faults()
    expect(r.json_error()["kind"] == "protocol_error", r)


@test
def server_error_without_retries():
    mock().faults("/query", ["status:503"])
    try:
        e = ws("query", "list_client_accounts", "--retries", "0", env=jwt_env()).ok(5).json_error()
    finally:
        mock().clear_faults()
    expect(e["http_status"] == 503, e)


@test
def redirect_is_an_http_error_with_its_location():
    moved = "https://elsewhere.example/moved"
    mock().faults("/query", ["redirect:302", "redirect:301"])
    mock().faults("/command", ["redirect:307"])
    try:
        e = ws("query", "list_client_accounts", env=jwt_env()).ok(5).json_error()
        expect(e["http_status"] == 302 and e["location"] == moved, e)
        e = ws("request", "POST", "/query", '{"name":"list_client_accounts","payload":{}}',
               env=jwt_env()).ok(5).json_error()
        expect(e["http_status"] == 301 and e["location"] == moved, e)
        e = ws("command", "update_display_currency", '{"displayCurrency":"USD"}',
               env=jwt_env()).ok(5).json_error()
        expect(e["http_status"] == 307 and e["location"] == moved, e)
    finally:
        mock().clear_faults()


@test
def request_refuses_what_cannot_be_sent_as_signed():
    hmac = ["--api-key", "test-api-key", "--secret-file", secret_file(), "--base-url", mock().url]
    e = ws("request", "GET", "/v1/wallet/list#top", *hmac).ok(2).json_error()
    expect("path" in e["message"], e)
    e = ws("request", "GET", "/v1/wallet/list", "--header", "X-Signature: forged", *hmac) \
        .ok(2).json_error()
    expect("X-Signature" in e["message"], e)
    r = ws("request", "GET", "/v1/./wallet/list?skip=0&take=1&orderBy=asc", *hmac).ok(5)
    expect(r.json_error()["http_status"] == 404, r)        # verified as sent, no such route


@test
def tls_verification_cafile_and_insecure():
    tls = subprocess.Popen(["/usr/bin/python3", "-m", "tests.mock_server", "--port", "0", "--tls"],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        info = json.loads(tls.stdout.readline())
        with open(p256_pub(), "rb") as f:
            req = urllib.request.Request(info["url"] + "/_mock/halogen/register_public?key_id=tls",
                                         data=f.read(), method="POST")
        ctx = ssl.create_default_context(cafile=info["ca_file"])
        urllib.request.urlopen(req, context=ctx, timeout=10).read()
        env = jwt_env(WALLETSIGN_BASE_URL=info["url"], HALOGEN_WALLET_KEY_ID="tls")
        e = ws("query", "list_client_accounts", "--retries", "0", env=env).ok(4).json_error()
        expect(e["kind"] == "transport_error", e)  # the test CA is not trusted by default
        ws("query", "list_client_accounts", "--cafile", info["ca_file"], env=env).ok()
        r = ws("query", "list_client_accounts", "--insecure", env=env).ok()
        expect("--insecure" in r.err, "a warning for --insecure: %r" % r)
        ws("query", "list_client_accounts", "--retries", "0", "--cafile", "/nonexistent.pem",
           env=env).ok(4)
    finally:
        tls.terminate()
        tls.wait(10)


@test
def bad_base_url_is_a_usage_error():
    ws("query", "list_client_accounts", env=jwt_env(WALLETSIGN_BASE_URL="ftp://x")).ok(2)


# ================================================================ HTTP: request, call

@test
def request_hmac_wallet_list():
    r = ws("request", "GET", "/v1/wallet/list?skip=0&take=3&orderBy=asc", "--auth", "hmac",
           "--api-key", "test-api-key", "--secret-file", secret_file(),
           "--base-url", mock().url).ok()
    j = json.loads(r.out)
    expect(len(j["data"]) == 3 and j["take"] == 3, j)


@test
def request_picks_the_protocol_from_the_credentials():
    r = ws("request", "POST", "/v1/wallet/create", '{"name":"cli wallet"}', "--api-key",
           "my-api-key", "--secret-file", secret_file(), "--base-url", mock().url).ok()
    expect(json.loads(r.out)["name"] == "cli wallet", r)
    r = ws("request", "POST", "/query", '{"name":"get_client_profile","payload":{}}',
           env=jwt_env()).ok()
    json.loads(r.out)


@test
def option_names_and_ranges_are_the_librarys():
    """tests/vectors/options.json through the CLI's flags: names the library
    takes (any case), names it refuses (exit 2), and the settings the CLI
    passes on (ttl, timeout, retries)."""
    doc = vectors("options.json")
    hmac = ["sign", "hmac", "GET", "/", "--api-key", "k", "--secret-file", secret_file(),
            "--timestamp", "1"]
    msg = ["sign", "message", "POST", "/x", "--hex-file", merchant_hex_file(),
           "--session", "1", "--sequence", "1", "--timestamp", "1"]
    flags = {"hmac_encoding": (hmac, "--encoding"), "digest": (msg, "--digest"),
             "message_encoding": (msg, "--sig-encoding"), "empty_body": (msg, "--empty-body")}
    for o in doc["options"]:
        if o["option"] not in flags:
            continue
        base, flag = flags[o["option"]]
        outs = {}
        for name, value in list(o["names"].items()) + list(o["also_accepted"].items()):
            outs.setdefault(value, set()).add(ws(*base, flag, name).ok().out)
        expect(all(len(v) == 1 for v in outs.values()), (o["option"], outs))
        for name in o["refused"]:
            ws(*base, flag, name).ok(2)
    ws(*msg, "--v-offset", "28").ok(2)
    key = os.path.join(p256(), "ec_private_key.pem")
    ttl = next(r for r in doc["ranges"] if r["setting"] == "jwt.ttl")
    for value, code in ((ttl["min"], 0), (ttl["max"], 0), (0, 0), (ttl["max"] + 1, 2),
                        (ttl["min"] - 2, 2)):
        ws("sign", "jwt", "POST", "/query", "--key", key, "--key-id", "k", "--ttl",
           value).ok(code)
    # The client's settings the CLI has: taken (the query is answered, or a
    # 1 ms timeout runs out) or refused with the library's message (exit 2).
    ranges = {r["setting"]: r for r in doc["ranges"]}
    for setting, flag, other, word in (
            ("client.timeout", "--timeout", ["--retries", "0"], "timeout"),
            ("client.attempt_timeout", "--attempt-timeout", ["--retries", "0"],
             "attempt_timeout"),
            ("client.retries", "--retries", [], "retries")):
        r = ranges[setting]
        taken = [r["min"], r["max"]] + ([0] if r["zero_is_default"] else [])
        refused = [r["min"] - 1, r["max"] + 1] + r.get("refused", [])
        for value in taken:
            got = ws("query", "list_client_accounts", flag, value, *other, env=jwt_env())
            expect(got.rc in (0, 4), (setting, value, got))
        for value in refused:
            e = ws("query", "list_client_accounts", "%s=%s" % (flag, value), *other,
                   env=jwt_env()).ok(2).json_error()
            expect(word in e["message"], (setting, value, e))


@test
def request_body_is_json_unless_labelled():
    common = ["--api-key", "test-api-key", "--secret-file", secret_file(), "--base-url",
              mock().url, "--retries", "0"]
    before = len(mock().log())
    e = ws("request", "POST", "/v1/wallet/create", "name=x", *common).ok(2).json_error()
    expect("JSON" in e["message"] and len(mock().log()) == before, e)
    # Labelled by the caller, any body goes as it is (the mock then refuses it).
    ws("request", "POST", "/v1/wallet/create", "name=x", "--header",
       "Content-Type: text/plain", *common).ok(5)
    sent = mock().log()[-1]["headers"]
    expect(sent.get("Content-Type") == "text/plain", sent)


@test
def request_http_error_carries_the_body():
    bad = write("bad-secret.txt", "not-the-secret\n")
    e = ws("request", "GET", "/v1/wallet/list?skip=0&take=3&orderBy=asc", "--auth", "hmac",
           "--api-key", "test-api-key", "--secret-file", bad, "--base-url", mock().url) \
        .ok(5).json_error()
    expect(e["http_status"] == 401 and json.loads(e["body"])["reason"] == "bad_signature", e)


@test
def request_extra_headers_and_lower_case_method():
    # The mock applies X-Mock-Fault after verifying the request: the header got through.
    e = ws("request", "get", "/v1/wallet/list?skip=0&take=1&orderBy=asc", "--api-key",
           "test-api-key", "--secret-file", secret_file(), "--base-url", mock().url,
           "--header", "X-Mock-Fault: status:418", "--retries", "0").ok(5).json_error()
    expect(e["http_status"] == 418, e)
    ws("request", "GET", "/x", "--auth", "hmac", "--header", "no colon").ok(2)
    ws("request", "G E T", "/x", "--auth", "hmac").ok(2)


@test
def request_message_returns_the_raw_envelope():
    r = ws("request", "POST", "/access/get_address", '{"chain_type":"ETH","chain_id":"1"}',
           "--auth", "message", "--hex-file", merchant_hex_file(), "--base-url", mock().url).ok()
    expect("address" in json.loads(r.out)["result"], r)


@test
def call_get_address_with_a_verified_response():
    r = ws("call", "POST", "/access/get_address", '{"chain_type":"ETH","chain_id":"1"}',
           "--hex-file", merchant_hex_file(), "--trusted", mock().info["wallet_manager_address"],
           "--base-url", mock().url).ok()
    j = json.loads(r.out)
    expect(re.fullmatch(r"0x[0-9a-fA-F]{40}", j["address"]), j)


@test
def call_with_the_key_from_the_environment():
    r = ws("call", "POST", "/access/get_address", '{"chain_type":"ETH","chain_id":"56"}',
           env={"WALLETSIGN_MESSAGE_KEY_PATH": merchant_hex_file(),
                "WALLETSIGN_BASE_URL": mock().url}).ok()
    expect(json.loads(r.out)["chain_id"] == "56", r)


@test
def call_response_from_an_untrusted_signer_is_invalid():
    r = ws("call", "POST", "/access/get_address", '{"chain_type":"ETH","chain_id":"1"}',
           "--hex-file", merchant_hex_file(), "--trusted", KNOWN_ADDRESS,
           "--base-url", mock().url).ok(1)
    e = r.json_error()
    expect(e["kind"] == "invalid" and e["reason"] == "untrusted_address", e)


@test
def call_rpc_error_exits_6():
    r = ws("call", "GET", "/access/ETH/1/transfer/hash/0x%s/deposit" % ("0" * 64),
           "--hex-file", merchant_hex_file(), "--base-url", mock().url).ok(6)
    e = r.json_error()
    expect(e["kind"] == "rpc_error" and e["rpc_code"] == 24 and "tx_hash" in e["data"], e)
    expect(e["code"] == "24" and e["data"]["tx_hash"] == "0x" + "0" * 64, e)
    expect(e["message"].endswith("Not found") and e["http_status"] == 200, e)


@test
def call_signed_by_an_unknown_merchant_is_refused():
    e = ws("call", "POST", "/access/get_address", '{"chain_type":"ETH","chain_id":"1"}',
           "--hex-file", write("stranger.hex", "0000000000000000000000000000000000000000000000"
                                               "000000000000000002"),
           "--base-url", mock().url).ok(6).json_error()
    expect(e["rpc_code"] == 401 and e["data"]["reason"] == "untrusted_address", e)


# ================================================================ docs/cli.md

def docs_blocks():
    """Every ```sh block of docs/cli.md as (line, text, expected stdout or None):
    a ```text block right after it (blank lines between) is its exact output."""
    fences, cur = [], None
    with open(DOCS) as f:
        lines = f.readlines()
    for n, line in enumerate(lines, 1):
        stripped = line.rstrip("\n")
        if cur is None and stripped.startswith("```"):
            cur = {"lang": stripped[3:].strip(), "line": n, "text": []}
        elif cur is not None and stripped == "```":
            cur["end"] = n
            fences.append(cur)
            cur = None
        elif cur is not None:
            cur["text"].append(line)
    blocks = []
    for i, b in enumerate(fences):
        if b["lang"] != "sh":
            continue
        nxt = fences[i + 1] if i + 1 < len(fences) else None
        output = None
        if nxt and nxt["lang"] == "text" and all(
                not l.strip() for l in lines[b["end"]:nxt["line"] - 1]):
            output = "".join(nxt["text"])
        blocks.append((b["line"], "".join(b["text"]), output))
    return blocks


DOCS_DIR = os.path.join(TMP, "docs")
DOCS_STATE = {"registered": set()}


def docs_env():
    bindir = os.path.join(TMP, "bin")
    os.makedirs(bindir, exist_ok=True)
    link = os.path.join(bindir, "walletsign")
    if WRAPPER:
        with open(link + ".tmp", "w") as f:
            f.write("#!/bin/sh\nexec %s %s \"$@\"\n" % (" ".join(map(shlex.quote, WRAPPER)),
                                                         shlex.quote(BIN)))
        os.chmod(link + ".tmp", 0o755)
        os.replace(link + ".tmp", link)
    elif not os.path.exists(link):
        os.symlink(BIN, link)
    return {"PATH": bindir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
            "WALLETSIGN_BASE_URL": mock().url,
            "WALLET_MANAGER_ADDRESS": mock().info["wallet_manager_address"]}


def docs_register():
    """What the user does by hand between examples: paste the CSR into Halogen
    (key id my-key-id), give the merchant address to the Wallet Manager."""
    csr = os.path.join(DOCS_DIR, ".key", "ec_csr.pem")
    if os.path.exists(csr) and csr not in DOCS_STATE["registered"]:
        mock().register_csr(csr, "my-key-id")
        remember_private_key(os.path.join(DOCS_DIR, ".key", "ec_private_key.pem"))
        DOCS_STATE["registered"].add(csr)
    k1 = os.path.join(DOCS_DIR, ".key", "secp256k1_private_key.pem")
    if os.path.exists(k1) and k1 not in DOCS_STATE["registered"]:
        address = ws("address", "--key", k1).ok().out.strip()
        mock().post("/_mock/wm/trust", {"address": address})
        remember_private_key(k1)
        DOCS_STATE["registered"].add(k1)


def docs_example(line, text, output):
    first = text.splitlines()[0] if text else ""
    m = re.fullmatch(r"# test(?: exit=(\d+))?", first.strip())
    expect(m, "docs/cli.md:%d: a ```sh block must start with '# test' (every example runs)"
           % line)
    want = int(m.group(1) or 0)
    os.makedirs(DOCS_DIR, exist_ok=True)
    # Exit codes of the last command count; any earlier failure stops the block.
    script = "set -e -o pipefail\n" + text if want == 0 else text
    p = subprocess.run(["bash", "-c", script], cwd=DOCS_DIR, env=clean_env(docs_env()),
                       capture_output=True, timeout=120)
    out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    OUTPUTS.append(("docs/cli.md:%d" % line, out))
    docs_register()
    expect(p.returncode == want, "docs/cli.md:%d: exit %d, expected %d\n%s"
           % (line, p.returncode, want, out[-3000:]))
    if output is not None:
        got = p.stdout.decode("utf-8", "replace")
        expect(got == output, "docs/cli.md:%d: the output shown is not what it prints:\n%s"
               % (line, got))


if os.path.exists(DOCS):
    for _line, _text, _output in docs_blocks():
        case("docs/cli.md example at line %d" % _line, docs_example, _line, _text, _output)
else:
    case("docs/cli.md exists", lambda: expect(False, DOCS + " is missing"))


@test
def docs_list_every_exit_code():
    with open(DOCS) as f:
        docs = f.read()
    help_text = ws("--help").ok().out
    for code, name in re.findall(r"\b(\d) ([a-zA-Z][a-zA-Z /]+?)(?=\s{2,}|\n)", help_text):
        expect(re.search(r"\|\s*`?%s`?\s*\|" % code, docs), "exit code %s missing in docs" % code)


# ================================================================ secrets (last)

def vector_secrets():
    """The shared vectors' secrets that the runs above handled."""
    out = {vectors(os.path.join("keys", "keys.json"))["password"]}
    out.update(c["secret"] for c in vectors("hmac.json")["cases"])
    out.update(c["private_key_hex"] for c in vectors("message.json")["cases"])
    out.update(a["private_key_hex"] for a in vectors("message.json")["addresses"])
    # Short or repetitive strings would match by accident.
    return {s for s in out if len(s) >= 12 and len(set(s)) > 4}


@test
def no_secret_in_any_output():
    expect(len(OUTPUTS) > 50, "enough runs were checked")
    SECRETS.update(vector_secrets())
    for secret in sorted(SECRETS):
        for what, text in OUTPUTS:
            expect(secret not in text, "a secret (%s...) appeared in the output of %s"
                   % (secret[:4], what))


# ================================================================ main

def main():
    if not os.access(BIN, os.X_OK):
        print("no binary at %s (run make)" % BIN)
        print("0 passed, 1 failed")
        return 1
    pattern = re.compile(os.environ.get("CLI_TESTS", ""))
    passed = failed = 0
    try:
        for name, fn in TESTS:
            if not pattern.search(name):
                continue
            t = time.time()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - every failure is reported
                failed += 1
                detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
                print("FAIL %s\n     %s" % (name, redact(detail).replace("\n", "\n     ")))
            else:
                passed += 1
                print("ok   %s (%.2fs)" % (name, time.time() - t))
            sys.stdout.flush()
    finally:
        if mock.cache_info().currsize:
            mock().stop()
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
