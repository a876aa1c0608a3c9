"""The HTTP(S) server: sockets, routing to the protocol modules, fault
delivery and the request log. MockServer runs it in a background thread."""

import email.utils
import http
import os
import shutil
import socket
import socketserver
import ssl
import struct
import sys
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import control, faults, halogen_ops, hmac_api, tls, wallet_manager
from .faults import FaultQueue
from .halogen import Halogen
from .hmac_api import HmacApi
from .stores import Clock, RequestLog
from .wallet_manager import WalletManager
from .wire import Request, Response, json_response

MAX_BODY = 64 * 1024 * 1024
QUIET_ERRORS = (ConnectionError, TimeoutError, ssl.SSLError, BrokenPipeError)


class MockApp:
    """All protocol state; independent of sockets."""

    def __init__(self):
        self.clock = Clock()
        self.halogen = Halogen(self.clock)
        self.hmac_api = HmacApi(self.clock)
        self.wm = WalletManager(self.clock)
        self.faults = FaultQueue()
        self.log = RequestLog()
        self.info = {}

    def service(self, path):
        if path in ("/query", "/command"):
            return "halogen"
        if path.startswith("/v1/"):
            return "hmac"
        if path.startswith("/access/"):
            return "wm"
        return None

    def handle(self, req: Request) -> Response:
        service = self.service(req.path)
        if service == "halogen":
            return self.halogen.handle(req)
        if service == "hmac":
            return self.hmac_api.handle(req)
        if service == "wm":
            return self.wm.handle(req)
        return json_response(404, {"error": "not found"}, error_code="not_found")

    def error_body(self, path):
        """status -> the body an injected `status:N` fault answers with."""
        service = self.service(path)
        if service == "halogen":
            return lambda status: halogen_ops.error_for_status(status).body()
        if service == "wm":
            return wallet_manager.error_for_status
        return hmac_api.error_for_status

    def reset(self):
        self.halogen.reset()
        self.hmac_api.reset()
        self.wm.reset()
        self.faults.clear()
        self.clock.offset_ms = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "walletsign-mock/1"
    timeout = 120                   # idle keep-alive connections
    disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stalls between writes

    def setup(self):
        self.handshake_ok = True
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.handshake_ok = False   # e.g. the client refused our certificate
        super().setup()

    def handle(self):
        if self.handshake_ok:
            try:
                super().handle()
            except QUIET_ERRORS:
                pass

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # -- reading

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length)

    def read_chunked(self) -> bytes:
        parts, total = [], 0
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass                     # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise ValueError("body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def first_headers(self) -> dict:
        out = {}
        for name, value in self.headers.items():
            out.setdefault(name, value)
        return out

    # -- dispatching

    def dispatch(self):
        app = self.server.app
        try:
            req = Request(self.command, self.path, self.first_headers(), self.read_body())
        except ValueError as exc:
            self.close_connection = True
            self.deliver(json_response(400, {"error": str(exc)}), "normal", 0)
            return
        if req.path.startswith("/_mock/"):
            self.deliver(control.handle(app, req), "normal", 0)
            return
        try:
            plan = self.faults_for(req)
        except ValueError as exc:
            self.deliver(json_response(400, {"error": str(exc)}), "normal", 0)
            return
        started = time.time()
        try:
            resp = app.handle(req)
        except Exception as exc:      # a mock bug must not look like a network fault
            traceback.print_exc()
            resp = json_response(500, {"error": "mock server bug: %r" % exc},
                                 error_code="mock_bug")
        resp = faults.transform(plan, resp, app.error_body(req.path))
        mode, arg = faults.delivery(plan)
        entry = self.log_entry(req, resp, plan, mode, started)
        app.log.add(entry)
        if faults.delay(plan, self.connection):
            # The client closed the connection during a delay: no answer goes out.
            entry["client_closed_ms"] = int((time.time() - started) * 1000)
            self.close_connection = True
            return
        self.deliver(resp, mode, arg)

    def faults_for(self, req: Request) -> list:
        spec = req.header("X-Mock-Fault")
        if spec:
            return faults.parse(spec)
        return self.server.app.faults.pop(req.path)

    @staticmethod
    def log_entry(req, resp, plan, mode, started) -> dict:
        return {"method": req.method, "path": req.path, "target": req.target,
                "headers": req.headers, "body_sha256": req.body_sha256(),
                "status": None if mode == "drop" else resp.status,
                "verified_by": resp.verified_by, "error_code": resp.error_code,
                "fault": ",".join(f.spec for f in plan) or None,
                "client_closed_ms": None,
                "t_ms": int(started * 1000)}

    # -- writing

    def head(self, resp: Response) -> bytes:
        try:
            reason = http.HTTPStatus(resp.status).phrase
        except ValueError:
            reason = "Status"
        lines = ["HTTP/1.1 %d %s" % (resp.status, reason),
                 "Server: " + self.server_version,
                 # The server's own (possibly skewed, POST /_mock/clock) time.
                 "Date: " + email.utils.formatdate(self.server.app.clock.now(), usegmt=True),
                 "Content-Type: " + resp.content_type,
                 "Content-Length: %d" % resp.content_length]
        lines += ["%s: %s" % (name, value) for name, value in resp.headers]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def deliver(self, resp: Response, mode: str, arg: int):
        if mode == "drop":
            self.abort(rst=False)
        elif mode in ("reset_mid_body", "truncate"):
            half = body_bytes(resp)[:resp.content_length // 2]
            self.wfile.write(self.head(resp) + half)
            self.abort(rst=mode == "reset_mid_body")
        elif mode == "drip":
            for byte in self.head(resp) + body_bytes(resp):
                self.wfile.write(bytes([byte]))
                time.sleep(arg / 1000.0)
        elif resp.stream is None:
            self.wfile.write(self.head(resp) + resp.body)
        else:
            self.wfile.write(self.head(resp))
            for chunk in resp.stream:
                self.wfile.write(chunk)

    def abort(self, rst: bool):
        """Close now: FIN (drop, truncate) or RST (reset_mid_body)."""
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.rfile.close()          # drop makefile's reference so close() is real
        self.connection.close()


def body_bytes(resp: Response) -> bytes:
    return b"".join(resp.stream) if resp.stream is not None else resp.body


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, app, ssl_context=None, verbose=False):
        self.app, self.ssl_context, self.verbose = app, ssl_context, verbose
        super().__init__(address, Handler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)   # skip HTTPServer's getfqdn lookup
        self.server_name, self.server_port = self.server_address[:2]

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # Handshake later, in the handler thread, so one stuck client
            # cannot block accept().
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], QUIET_ERRORS + (OSError,)):
            super().handle_error(request, client_address)


class MockServer:
    """The mock in a background thread, for pytest fixtures:

        srv = MockServer(tls=False); srv.start(); ... srv.url ...; srv.stop()
    """

    def __init__(self, tls=False, cert_mode="valid", state_dir=None, host="127.0.0.1",
                 port=0, verbose=False):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the mock server only listens on loopback")
        self.tls, self.cert_mode, self.host, self.verbose = tls, cert_mode, host, verbose
        self.requested_port = port
        self.state_dir, self._own_state_dir = state_dir, False
        self.app = MockApp()
        self.ca_file = None
        self._httpd = self._thread = None

    # -- lifecycle

    def start(self):
        ssl_context = self._tls_context() if self.tls else None
        self._httpd = _HTTPServer((self.host, self.requested_port), self.app, ssl_context,
                                  self.verbose)
        self.app.info = self.info
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="mock-server", daemon=True)
        self._thread.start()
        return self

    def _tls_context(self):
        if self.state_dir is None:
            self.state_dir = tempfile.mkdtemp(prefix="walletsign-mock-")
            self._own_state_dir = True
        os.makedirs(self.state_dir, exist_ok=True)
        paths = tls.create_certificates(self.state_dir)
        self.ca_file = paths["ca_file"]
        return tls.server_context(paths, self.cert_mode)

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
            self._httpd = None
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self._own_state_dir = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- facts a client needs

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    @property
    def info(self) -> dict:
        return {"port": self.port, "tls": self.tls, "ca_file": self.ca_file,
                "merchant_private_key_hex": self.app.wm.merchant_key_hex,
                "merchant_address": self.app.wm.merchant_address,
                "wallet_manager_address": self.app.wm.address,
                "hmac_api_key": "test-api-key", "hmac_secret": "your-secret-key",
                "cert_mode": self.cert_mode if self.tls else None,
                "state_dir": self.state_dir, "url": self.url}

    # -- in-process shortcuts for the control endpoints

    def register_csr(self, pem: bytes, key_id=None, scope="all") -> str:
        return self.app.halogen.register_csr(pem, key_id=key_id, scope=scope).key_id

    def register_public_key(self, pem: bytes, key_id=None, scope="all") -> str:
        return self.app.halogen.register_public_pem(pem, key_id=key_id, scope=scope).key_id

    def register_hmac(self, api_key, secret, encoding="base64", separator="|"):
        self.app.hmac_api.register(api_key, secret, encoding, separator)

    def trust(self, address: str):
        self.app.wm.trust(address)

    def queue_faults(self, path: str, specs: list):
        self.app.faults.push(path, specs)

    def log(self) -> list:
        return self.app.log.entries()

    def clear_log(self):
        self.app.log.clear()

    def reset(self):
        self.app.reset()
