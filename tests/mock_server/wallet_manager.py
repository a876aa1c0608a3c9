"""Wallet Manager (docs/protocols.md, message): merchant requests signed with X-Message-*
headers, JSON-RPC-like answers signed by the Wallet Manager's own key, and
signed callbacks POSTed to the merchant. Signing and verifying are done by the
reference implementation (tests/reference/walletref.py).

RPC error codes: 21 Invalid request (bad params/JSON), 22 Method not found,
24 Not found (tx hash 0x00..00), 31 Insufficient balance (batch total > 1e6),
401 Unauthorized (verification failed; HTTP 401, data {"reason": ...}).
"""

import http.client
import re
import secrets
import ssl
import threading
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from tests.reference import walletref

from .wire import Request, Response, dumps

ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
TX_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
DEPOSIT_RE = re.compile(r"^/access/([A-Za-z0-9_-]+)/([^/]+)/transfer/hash/([^/]+)/deposit$")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
HOT_WALLET_BALANCE = Decimal(1000000)


class RpcError(Exception):
    def __init__(self, code, message, data=None, status=200):
        super().__init__(message)
        self.code, self.message, self.data, self.status = code, message, data, status

    def body(self):
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"error": error}


def invalid(field):
    return RpcError(21, "Invalid request", {"field": field})


def new_private_key() -> str:
    while True:
        key = secrets.token_bytes(32)
        if 0 < int.from_bytes(key, "big") < walletref.SECP256K1_N:
            return key.hex()


class ReplayCache:
    """The `seen` set message_verify fills, forgetting entries after `ttl_s`
    (twice the window: by then the timestamp check refuses them anyway)."""

    def __init__(self, ttl_s=120.0):
        self.ttl_s = ttl_s
        self._items = {}

    def __contains__(self, key):
        return key in self._items

    def add(self, key):
        now = time.monotonic()
        if len(self._items) >= 4096:
            self._items = {k: t for k, t in self._items.items() if now - t < self.ttl_s}
        self._items[key] = now

    def clear(self):
        self._items.clear()


class Signer:
    """One signing identity: a key, a Snowflake session, a sequence counter."""

    def __init__(self, clock, key_hex=None):
        self.clock = clock
        self.key_hex = key_hex or new_private_key()
        self.address = walletref.eth_address_from_private(self.key_hex)
        self.session = walletref.snowflake_make(clock.now_ms(), secrets.randbelow(1024), 0)
        self._sequence = 0
        self._lock = threading.Lock()

    def sign(self, body: bytes, ts_offset_ms=0) -> dict:
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
        return walletref.message_sign(self.key_hex, self.clock.now_ms() + ts_offset_ms,
                                      self.session, sequence, body)


class WalletManager:
    def __init__(self, clock):
        self.clock = clock
        self.signer = Signer(clock)
        self.merchant_key_hex = new_private_key()
        self.merchant_address = walletref.eth_address_from_private(self.merchant_key_hex)
        self.trusted = {self.merchant_address.lower()}
        self.window_ms = 60000
        self.digest = "sha256"
        self.seen = ReplayCache()
        self.last_callback = None      # (headers, body) for replay_last
        self._lock = threading.Lock()

    @property
    def address(self):
        return self.signer.address

    # -- control

    def trust(self, address):
        if not isinstance(address, str) or not ADDRESS_RE.match(address):
            raise ValueError("address must be 0x + 40 hex digits")
        with self._lock:
            self.trusted.add(address.lower())

    def configure(self, cfg: dict):
        if "digest" in cfg:
            if cfg["digest"] not in ("sha256", "keccak256", "eip191"):
                raise ValueError("digest must be sha256, keccak256 or eip191")
            self.digest = cfg["digest"]
        self.window_ms = int(cfg.get("window_ms", self.window_ms))

    def reset(self):
        with self._lock:
            self.seen.clear()

    # -- requests

    def handle(self, req: Request) -> Response:
        verified_by = None
        try:
            verified_by = "message:" + self.verify(req)
            result = self.route(req)
            body, status, code = {"error": None, "result": result}, 200, None
        except RpcError as exc:
            body, status, code = exc.body(), exc.status, _error_code(exc)
        resp = self.signed_response(status, body)
        resp.verified_by, resp.error_code = verified_by, code
        return resp

    def signed_response(self, status, doc) -> Response:
        body = dumps(doc)
        return Response(status, body, list(self.signer.sign(body).items()))

    def verify(self, req: Request) -> str:
        with self._lock:     # message_verify's check-then-add on `seen` must be atomic
            try:
                out = walletref.message_verify(req.headers, req.body, self.trusted,
                                               self.clock.now_ms(), window_ms=self.window_ms,
                                               digest=self.digest, seen=self.seen)
            except walletref.RefError as exc:
                raise RpcError(401, "Unauthorized", {"reason": exc.reason}, status=401) from None
        return out["address"]

    def route(self, req: Request):
        if req.path == "/access/get_address":
            return get_address(_params(req, "POST"))
        if req.path == "/access/batch_withdraw":
            return batch_withdraw(_params(req, "POST"))
        match = DEPOSIT_RE.match(req.path)
        if match:
            if req.method != "GET":
                raise RpcError(22, "Method not found", status=405)
            return deposit(*match.groups())
        raise RpcError(22, "Method not found", status=404)

    # -- callbacks to the merchant

    def send_callback(self, cfg: dict) -> dict:
        url = urlsplit(cfg.get("url", ""))
        if url.scheme not in ("http", "https") or url.hostname not in LOCAL_HOSTS:
            raise ValueError("url must be http(s)://127.0.0.1|localhost:PORT/...")
        headers, body = self._callback_message(cfg)
        sent = body
        if cfg.get("tamper"):
            sent = tamper(body)
        for name in cfg.get("omit_headers", []):
            headers.pop(name, None)
        status, text = _post(url, dict(headers, **{"Content-Type": "application/json"}),
                             sent, cfg)
        return {"status": status, "body": text,
                "sent": {"headers": headers, "body": sent.decode("utf-8", "replace")}}

    def _callback_message(self, cfg):
        if cfg.get("replay_last"):
            if self.last_callback is None:
                raise ValueError("no callback sent yet")
            headers, body = self.last_callback
            return dict(headers), body
        body = dumps({"type": cfg.get("type", "deposit_status"), "data": cfg.get("data", {})})
        signer = Signer(self.clock) if cfg.get("untrusted_signer") else self.signer
        headers = signer.sign(body, int(cfg.get("timestamp_offset_ms", 0)))
        self.last_callback = (dict(headers), body)
        return headers, body


def _error_code(exc: RpcError):
    if exc.data and isinstance(exc.data, dict) and "reason" in exc.data:
        return exc.data["reason"]
    return "rpc_%d" % exc.code


def tamper(body: bytes) -> bytes:
    """Change one byte after signing, keeping the JSON valid: the last
    letter changes case, or the last digit changes value."""
    data = bytearray(body)
    for i in range(len(data) - 1, -1, -1):
        c = chr(data[i])
        if c.isdigit():
            data[i] = ord(str((int(c) + 1) % 10))
            return bytes(data)
        if c.isalpha():
            data[i] = ord(c.swapcase())
            return bytes(data)
    return bytes(data) + b" "


def _post(url, headers, body, cfg):
    port = url.port or (443 if url.scheme == "https" else 80)
    timeout = float(cfg.get("timeout", 10))
    if url.scheme == "https":
        ctx = ssl.create_default_context(cafile=cfg.get("ca_file"))
        if not cfg.get("ca_file"):
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        conn = http.client.HTTPSConnection(url.hostname, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(url.hostname, port, timeout=timeout)
    try:
        target = url.path or "/"
        conn.request("POST", target + ("?" + url.query if url.query else ""), body, headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


# ---------------------------------------------------------------- methods

def _params(req: Request, method: str) -> dict:
    if req.method != method:
        raise RpcError(22, "Method not found", status=405)
    try:
        doc = req.json()
    except ValueError:
        raise RpcError(21, "Invalid request", {"field": "body"}) from None
    if not isinstance(doc, dict):
        raise invalid("body")
    return doc


def _chain(params: dict):
    chain_type, chain_id = params.get("chain_type"), params.get("chain_id")
    if not isinstance(chain_type, str) or not chain_type:
        raise invalid("chain_type")
    if isinstance(chain_id, bool) or not (isinstance(chain_id, int)
                                          or (isinstance(chain_id, str) and chain_id.isdigit())):
        raise invalid("chain_id")
    return chain_type, chain_id


def _derived_address(*parts) -> str:
    seed = ":".join(str(p) for p in parts).encode()
    return walletref.eip55(walletref.keccak256(seed)[12:])


def get_address(params: dict) -> dict:
    chain_type, chain_id = _chain(params)
    user_id = params.get("user_id", "")
    return {"chain_type": chain_type, "chain_id": chain_id, "user_id": user_id,
            "address": _derived_address(chain_type, chain_id, user_id)}


def _amount(value, field) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise invalid(field)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise invalid(field) from None
    if not amount.is_finite() or amount <= 0:
        raise invalid(field)
    return amount


def batch_withdraw(params: dict) -> dict:
    chain_type, chain_id = _chain(params)
    items = params.get("withdraws", params.get("items"))
    if not isinstance(items, list) or not items:
        raise invalid("withdraws")
    out, total = [], Decimal(0)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid("withdraws[%d]" % i)
        to = item.get("to", item.get("address"))
        if not isinstance(to, str) or not ADDRESS_RE.match(to):
            raise invalid("withdraws[%d].to" % i)
        total += _amount(item.get("amount"), "withdraws[%d].amount" % i)
        out.append({"request_id": item.get("request_id", item.get("id", str(i))), "to": to,
                    "amount": str(item.get("amount")), "status": "pending",
                    "operation_id": str(secrets.randbits(62))})
    if total > HOT_WALLET_BALANCE:
        raise RpcError(31, "Insufficient balance", {"total": str(total)})
    return {"chain_type": chain_type, "chain_id": chain_id,
            "batch_id": "wd_" + secrets.token_hex(8), "withdraws": out}


def deposit(chain_type, chain_id, tx_hash) -> dict:
    if not chain_id.isdigit():
        raise invalid("chain_id")
    if not TX_HASH_RE.match(tx_hash):
        raise invalid("tx_hash")
    if int(tx_hash, 16) == 0:
        raise RpcError(24, "Not found", {"tx_hash": tx_hash})
    return {"chain_type": chain_type, "chain_id": chain_id, "tx_hash": tx_hash,
            "status": "confirmed", "confirmations": 12, "block_number": 19000000,
            "deposits": [{"address": _derived_address("deposit", tx_hash), "amount": "1.5",
                          "token": "native", "log_index": 0}]}


def error_for_status(status) -> dict:
    return {"error": {"code": status, "message": "HTTP %d" % status}}
