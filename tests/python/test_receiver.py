"""The documented receiver (examples/receiver_wsgi.py) under a real
multi-process server (#13): gunicorn with 4 workers, one private Redis as the
replay store. Runs exactly the example file, with Debian's gunicorn
(scripts/ensure-deps.sh installs it) through the venv's python."""

import http.client
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import walletsign as ws
from redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"
WORKERS = 4


@pytest.fixture(scope="module")
def sender():
    return ws.MessageAuth(ws.Key.generate("secp256k1"))


class Receiver:
    def __init__(self, port, spool):
        self.port = port
        self.spool = spool

    def post(self, headers, body, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", "/callbacks/wallet", body, headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def spooled(self):
        return sorted(p.name for p in self.spool.iterdir() if not p.name.startswith("."))


@pytest.fixture
def receiver(redis_server, sender, tmp_path):
    """gunicorn -w 4 serving examples/receiver_wsgi.py:app; stopped in teardown."""
    spool = tmp_path / "spool"
    spool.mkdir()
    port = free_port()
    env = dict(os.environ, WALLETSIGN_REDIS_URL=redis_server.url,
               WALLET_MANAGER_ADDRESSES=sender.address, RECEIVER_SPOOL_DIR=str(spool))
    log = open(tmp_path / "gunicorn.log", "wb")
    # The venv's python runs Debian's gunicorn (--system-site-packages), so the
    # workers import the walletsign built into the venv.
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--bind",
         "127.0.0.1:%d" % port, "--chdir", str(EXAMPLES), "--timeout", "60",
         "--graceful-timeout", "5", "receiver_wsgi:app"],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_ready(proc, port, tmp_path / "gunicorn.log")
        yield Receiver(port, spool)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_ready(proc, port, log_path):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            if conn.getresponse().status == 405:   # a worker runs the app
                return
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
        finally:
            conn.close()
    raise RuntimeError("gunicorn did not start: " + log_path.read_text(errors="replace")[-3000:])


BODY = b'{"type":"deposit_status","data":{"tx_hash":"0xabc","status":"confirmed"}}'


def _error_message(body):
    try:
        ws.rpc_parse(body)
    except ws.RpcError as err:
        return err.message
    return None


def test_same_callback_20_times_concurrently_is_accepted_once(receiver, sender):
    headers = sender.sign("POST", "/callbacks/wallet", BODY)
    start = threading.Barrier(20)
    answers = []
    lock = threading.Lock()

    def deliver():
        start.wait()
        answer = receiver.post(headers, BODY)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [401] * 19, answers
    assert all(_error_message(body) == "replay" for status, body in answers if status == 401)
    assert len(receiver.spooled()) == 1


def test_redis_stopped_mid_run_fails_closed_then_recovers(receiver, sender, redis_server):
    callbacks = [sender.sign("POST", "/callbacks/wallet", BODY) for _ in range(30)]
    answers = []
    for i, headers in enumerate(callbacks):
        if i == 10:
            redis_server.stop()
        if i == 20:
            redis_server.start()          # same port; gunicorn is not restarted
        answers.append(receiver.post(headers, BODY)[0])
    assert answers[:10] == [200] * 10
    assert answers[10:20] == [503] * 10, answers      # fail closed: nothing accepted
    assert answers[20:] == [200] * 10, answers        # recovered by itself
    assert len(receiver.spooled()) == 20
    # The senders redeliver what got 503: each is accepted once.
    for headers in callbacks[10:20]:
        assert receiver.post(headers, BODY)[0] == 200
        status, body = receiver.post(headers, BODY)
        assert (status, _error_message(body)) == (401, "replay")
    assert len(receiver.spooled()) == 30


def test_handler_failure_then_redelivery_accepted_exactly_once(receiver, sender):
    headers = sender.sign("POST", "/callbacks/wallet", BODY)
    receiver.spool.rmdir()                               # the handler cannot write: raises
    assert receiver.post(headers, BODY)[0] == 500
    assert receiver.post(headers, BODY)[0] == 500        # released again each time
    receiver.spool.mkdir()
    answers = [receiver.post(headers, BODY)[0] for _ in range(3)]
    assert answers == [200, 401, 401]
    assert len(receiver.spooled()) == 1


def test_bad_requests(receiver, sender):
    assert receiver.post({}, BODY)[0] == 401            # unsigned: missing_header
    headers = sender.sign("POST", "/callbacks/wallet", BODY)
    assert receiver.post(headers, BODY + b" ")[0] == 401   # body changed: bad_signature
    big = b"x" * (64 * 1024 + 1)
    assert receiver.post(sender.sign("POST", "/callbacks/wallet", big), big)[0] == 400
    assert receiver.spooled() == []


def test_handler_raising_a_walletsign_error_is_500_not_401(redis_server, sender, tmp_path,
                                                           monkeypatch):
    """A handler of your own may use walletsign too (a Client call whose
    answer fails verification raises SignatureError): that is the handler
    failing (500, released, the redelivery accepted once), not a refused
    callback (401: the sender would not redeliver, while the release left it
    open to anyone holding a copy). The example runs in this process, with
    its handler replaced."""
    import importlib.util
    import io
    from wsgiref.util import setup_testing_defaults

    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setenv("WALLETSIGN_REDIS_URL", redis_server.url)
    monkeypatch.setenv("WALLET_MANAGER_ADDRESSES", sender.address)
    monkeypatch.setenv("RECEIVER_SPOOL_DIR", str(spool))
    spec = importlib.util.spec_from_file_location("receiver_wsgi_inproc",
                                                  EXAMPLES / "receiver_wsgi.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    def handler_verifies_something_bad(message, body, spool_dir):
        ws.MessageVerifier([sender.address]).verify({}, b"")   # raises SignatureError

    def call(headers):
        environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(BODY)),
                   "wsgi.input": io.BytesIO(BODY)}
        for name, value in headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        setup_testing_defaults(environ)
        status = []
        example.app(environ, lambda s, h: status.append(s))
        return int(status[0].split()[0])

    headers = sender.sign("POST", "/callbacks/wallet", BODY)
    monkeypatch.setattr(example, "handle_callback", handler_verifies_something_bad)
    assert call(headers) == 500
    monkeypatch.setattr(example, "handle_callback", lambda message, body, spool_dir: None)
    assert [call(headers) for _ in range(2)] == [200, 401]
