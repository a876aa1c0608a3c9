"""Threads, fork and the GIL: one MessageAuth shared by 8 threads never
repeats a (session, sequence) pair; a forked child gets its own session;
signing releases the GIL."""

import json
import os
import sys
import threading
import time

import pytest

import walletsign as ws
from conftest import KEYS


def test_threads_share_one_message_auth():
    key = ws.Key.generate("secp256k1")
    auth = ws.MessageAuth(key)
    results = [[] for _ in range(8)]
    errors = []
    barrier = threading.Barrier(8)

    def worker(out):
        try:
            barrier.wait()
            for i in range(10000):
                out.append(auth.sign("POST", "/callback", b"%d" % i))
        except Exception as exc:   # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=worker, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    headers = [h for r in results for h in r]
    assert len(headers) == 80000
    pairs = {(h["X-Message-Session"], h["X-Message-Sequence"]) for h in headers}
    assert len(pairs) == 80000
    assert {int(seq) for _, seq in pairs} == set(range(1, 80001))
    verifier = ws.MessageVerifier([key.address], cache_size=100000)
    for r in results:
        for i, h in enumerate(r):
            verifier.verify(h, b"%d" % i)


def test_threads_share_verifiers_and_jwt_auth(p256_key):
    hmac_auth = ws.HmacAuth("k", "s")
    hmac_verifier = ws.HmacVerifier({"k": "s"})
    jwt_auth = ws.JwtAuth(p256_key, "kid")
    errors = []

    def worker(n):
        try:
            for i in range(200):
                body = b"%d-%d" % (n, i)
                h = hmac_auth.sign("POST", "/p", body)
                assert hmac_verifier.verify("POST", "/p", h, body) == "k"
                token = jwt_auth.token("/query", body)
                assert ws.verify_jwt(token, p256_key, uri="/query", body=body)["kid"] == "kid"
        except Exception as exc:   # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_child_gets_a_new_session():
    key = ws.Key.generate("secp256k1")
    auth = ws.MessageAuth(key)
    parent_first = auth.sign("POST", "/", b"parent-1")
    parent_session = auth.session
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:   # child: report its headers, never return into pytest
        status = 1
        try:
            out = {"session": auth.session,
                   "headers": [auth.sign("POST", "/", b"child-%d" % i) for i in range(3)]}
            os.write(write_fd, json.dumps(out).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    chunks = []
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child = json.loads(b"".join(chunks))
    assert child["session"] != parent_session
    assert [h["X-Message-Session"] for h in child["headers"]] == [child["session"]] * 3
    assert [h["X-Message-Sequence"] for h in child["headers"]] == ["1", "2", "3"]
    # The parent keeps its session and its sequence.
    parent_next = auth.sign("POST", "/", b"parent-2")
    assert auth.session == parent_session == parent_next["X-Message-Session"]
    assert int(parent_next["X-Message-Sequence"]) == int(parent_first["X-Message-Sequence"]) + 1
    verifier = ws.MessageVerifier([key.address])
    for i, h in enumerate(child["headers"]):
        verifier.verify(h, b"child-%d" % i)
    verifier.verify(parent_first, b"parent-1")
    verifier.verify(parent_next, b"parent-2")


def rsa_auth():
    return ws.JwtAuth(ws.Key.load(KEYS / "rsa4096_pkcs8.pem"), "kid"), b"{}"


def hmac_auth_big_body():
    # An HMAC over a small body keeps the GIL (it takes less than handing the
    # GIL over would); from 2 KiB up it is released, as hashlib does.
    return ws.HmacAuth("k", "secret"), b"x" * (4 << 20)


@pytest.mark.parametrize("make", [rsa_auth, hmac_auth_big_body], ids=["rsa4096", "hmac_4MiB"])
def test_signing_releases_the_gil(make):
    """A thread signs in a loop (RSA-4096, or HMAC over 4 MiB: a few ms
    each) while this thread counts.

    With a long switch interval (0.1 s) a signer that kept the GIL through its
    signatures would only give it up when forced, every 0.1 s, leaving this
    thread stalled about half of the time; a signer that releases it around
    each signature leaves no stall longer than OS scheduling noise. Gaps
    above 30 ms count as stalls (a GIL-holding control measured ~0.45 s of
    1 s here, walletsign ~0)."""
    auth, body = make()
    stop = threading.Event()
    signed = [0]

    def signer():
        while not stop.is_set():
            auth.sign("POST", "/query", body)
            signed[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.1)
    try:
        t = threading.Thread(target=signer)
        t.start()
        time.sleep(0.02)
        stalled = 0.0
        start = last = time.perf_counter()
        while last - start < 1.0:
            now = time.perf_counter()
            if now - last > 0.03:
                stalled += now - last
            last = now
        stop.set()
        t.join()
    finally:
        sys.setswitchinterval(old)
    assert signed[0] >= 3                  # the signer made progress too
    assert stalled < 0.3, "counting thread stalled %.2f s of 1 s" % stalled


def test_key_generation_releases_the_gil():
    done = threading.Event()

    def generate():
        ws.Key.generate("RSA-3072")
        done.set()
    t = threading.Thread(target=generate)
    t.start()
    ticks = 0
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    assert ticks >= 5
