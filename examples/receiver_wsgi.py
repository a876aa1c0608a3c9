"""A Wallet Manager callback receiver that holds across workers and machines.

A plain WSGI application (standard library only, besides walletsign) for any
WSGI server with any number of workers; every worker shares one replay store
in Redis, so a callback is accepted once, whichever worker or machine it
reaches (docs/scale-out.md). The tests run this very file under gunicorn
with 4 workers (tests/python/test_receiver.py).

    WALLETSIGN_REDIS_URL=redis://127.0.0.1:6379/0 \\
    WALLET_MANAGER_ADDRESSES=0xAb...,0xCd... \\
    RECEIVER_SPOOL_DIR=/var/spool/callbacks \\
    gunicorn -w 4 -b 127.0.0.1:8080 receiver_wsgi:app

Answers, and what the sender does with them:
  200  accepted (a JSON-RPC result body): done.
  401  refused, the reason in the body's error message (``replay``,
       ``bad_signature``, ``stale_timestamp``...): do not redeliver.
  503  the replay store cannot be reached (fail closed: nothing was
       accepted): redeliver later.
  500  the handler failed: the reservation is released, so the redelivery
       is accepted (once).
  400/405  not a callback (a malformed or too large body, not a POST).

The handler here writes each callback to RECEIVER_SPOOL_DIR as one file,
SESSION-SEQUENCE.json (written under a temporary name, then renamed): a
full or missing directory makes it raise, which is the "handler failed"
case above. Replace handle_callback with your own processing.
"""

from __future__ import annotations

import logging
import os
import tempfile

import walletsign as ws

log = logging.getLogger("receiver")

MAX_BODY = 64 * 1024   # a callback is a few hundred bytes


def handle_callback(message: ws.Message, body: bytes, spool_dir: str) -> None:
    """Your processing of one verified callback. Raising here answers 500
    and releases the callback's reservation, so the redelivery is accepted."""
    name = "%s-%s.json" % (message.session, message.sequence)
    fd, tmp = tempfile.mkstemp(dir=spool_dir, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        os.replace(tmp, os.path.join(spool_dir, name))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class HandlerFailed(Exception):
    """handle_callback raised (whatever it raised, a walletsign error of its
    own included): answered 500, never taken for a refused callback."""


def _answer(start_response, status: str, body: bytes, extra=()):
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def make_app(trusted, redis_url: str, spool_dir: str):
    """The WSGI application: one verifier (and one Redis connection) per
    worker process, shared by its threads."""
    store = ws.RedisReplayStore(redis_url, timeout=0.5)
    verifier = ws.MessageVerifier(trusted, replay_store=store)

    def app(environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, "405 Method Not Allowed",
                           ws.rpc_error(405, "POST only"), [("Allow", "POST")])
        try:
            body = ws.wsgi_body(environ, MAX_BODY)
        except ValueError as err:
            return _answer(start_response, "400 Bad Request", ws.rpc_error(400, str(err)))
        try:
            with verifier.verified(environ, body) as message:
                try:
                    handle_callback(message, body, spool_dir)
                except Exception as err:
                    # A SignatureError of the handler's own (a Client call
                    # whose answer fails verification) must not become a
                    # 401: the sender would not redeliver a released callback.
                    raise HandlerFailed() from err
        except HandlerFailed:
            # verified() has released the reservation: the redelivery is accepted.
            log.exception("callback handler failed")
            return _answer(start_response, "500 Internal Server Error",
                           ws.rpc_error(500, "handler failed"))
        except ws.ReplayStoreError as err:
            # Fail closed: nothing was accepted; the sender redelivers.
            log.warning("replay store unavailable: %s", err)
            return _answer(start_response, "503 Service Unavailable",
                           ws.rpc_error(503, "store_unavailable"), [("Retry-After", "5")])
        except ws.SignatureError as err:
            return _answer(start_response, "401 Unauthorized", ws.rpc_error(401, err.reason))
        return _answer(start_response, "200 OK", ws.rpc_result({"received": True}))

    return app


def app_from_env(environ=os.environ):
    """make_app() configured by WALLETSIGN_REDIS_URL, WALLET_MANAGER_ADDRESSES
    (comma-separated) and RECEIVER_SPOOL_DIR. There is no in-process
    fallback: several workers without a shared store would each accept a
    replay."""
    missing = [name for name in ("WALLETSIGN_REDIS_URL", "WALLET_MANAGER_ADDRESSES",
                                 "RECEIVER_SPOOL_DIR") if not environ.get(name)]
    if missing:
        raise RuntimeError("receiver_wsgi: set %s" % ", ".join(missing))
    trusted = [a.strip() for a in environ["WALLET_MANAGER_ADDRESSES"].split(",") if a.strip()]
    return make_app(trusted, environ["WALLETSIGN_REDIS_URL"], environ["RECEIVER_SPOOL_DIR"])


app = app_from_env() if __name__ != "__main__" else None

if __name__ == "__main__":   # a single-process trial: python receiver_wsgi.py [port]
    import sys
    from wsgiref.simple_server import make_server
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    make_server("127.0.0.1", port, app_from_env()).serve_forever()
