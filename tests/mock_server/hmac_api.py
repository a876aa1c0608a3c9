"""API key + HMAC-SHA256 API (docs/protocols.md, hmac): GET /v1/wallet/list and
POST /v1/wallet/create. The MAC itself is checked by the reference
implementation (tests/reference/walletref.py)."""

import hashlib
import threading
import uuid
from dataclasses import dataclass

from tests.reference import walletref

from .wire import Request, Response, json_response

HEADERS = ("x-api-key", "x-timestamp", "x-signature")


@dataclass
class HmacKey:
    secret: str
    encoding: str = "base64"   # or "hex"
    separator: str = "|"


def _fake_wallet(index: int, name: str, created_ms: int) -> dict:
    digest = hashlib.sha256(("wallet-%d-%s" % (index, name)).encode()).hexdigest()
    return {"id": str(uuid.UUID(digest[:32])), "name": name, "chain": "ethereum",
            "address": "0x" + digest[-40:], "createdAt": created_ms}


class HmacApi:
    def __init__(self, clock):
        self.clock = clock
        self.window_ms = 30000
        self.keys = {}
        self.register("test-api-key", "your-secret-key")
        self._lock = threading.Lock()
        base = 1730998051892
        self.wallets = [_fake_wallet(i, "Wallet %d" % i, base + i * 60000) for i in range(30)]

    def register(self, api_key, secret, encoding="base64", separator="|"):
        if encoding not in ("base64", "hex"):
            raise ValueError("encoding must be base64 or hex")
        if not api_key or not isinstance(api_key, str) or not isinstance(secret, str):
            raise ValueError("api_key and secret must be non-empty strings")
        self.keys[api_key] = HmacKey(secret, encoding, separator)

    def reset(self):
        pass   # no per-request state: replay protection is the timestamp window

    # -- requests

    def handle(self, req: Request) -> Response:
        failure = self.authenticate(req)
        if failure is not None:
            return failure
        verified_by = "hmac:%s:%s" % (req.header("x-api-key"),
                                      self.keys[req.header("x-api-key")].encoding)
        route = {("GET", "/v1/wallet/list"): self.list_wallets,
                 ("POST", "/v1/wallet/create"): self.create_wallet}.get((req.method, req.path))
        resp = route(req) if route else _error(404, "not found", "not_found")
        resp.verified_by = verified_by
        return resp

    def authenticate(self, req: Request):
        values = {name: req.header(name) for name in HEADERS}
        for name, value in values.items():
            if not value:
                return _error(401, "missing header %s" % name, "missing_header")
        key = self.keys.get(values["x-api-key"])
        if key is None:
            return _error(401, "unknown api key", "unknown_api_key")
        if not values["x-timestamp"].isdigit():
            return _error(401, "x-timestamp must be decimal milliseconds", "malformed_header")
        try:
            walletref.hmac_verify(key.secret, int(values["x-timestamp"]), req.method,
                                  req.target, req.body, values["x-signature"],
                                  self.clock.now_ms(), window_ms=self.window_ms,
                                  encoding=key.encoding, sep=key.separator)
        except walletref.RefError as exc:
            return _error(401, "signature verification failed: %s" % exc.reason, exc.reason)
        return None

    def list_wallets(self, req: Request) -> Response:
        query = req.query
        try:
            skip = int(query.get("skip", "0"))
            take = int(query.get("take", "25"))
        except ValueError:
            return _error(400, "skip and take must be integers", "invalid_parameter")
        order = query.get("orderBy", "desc")
        if skip < 0 or not 1 <= take <= 100 or order not in ("asc", "desc"):
            return _error(400, "skip >= 0, take 1..100, orderBy asc|desc", "invalid_parameter")
        with self._lock:
            wallets = sorted(self.wallets, key=lambda w: w["createdAt"], reverse=order == "desc")
        return json_response(200, {"data": wallets[skip:skip + take], "total": len(wallets),
                                   "skip": skip, "take": take})

    def create_wallet(self, req: Request) -> Response:
        try:
            doc = req.json()
        except ValueError:
            return _error(400, "body must be JSON", "invalid_parameter")
        name = doc.get("name") if isinstance(doc, dict) else None
        if not isinstance(name, str) or not name.strip():
            return _error(400, "name is required", "invalid_parameter")
        with self._lock:
            wallet = _fake_wallet(len(self.wallets), name, self.clock.now_ms())
            self.wallets.append(wallet)
        return json_response(200, wallet)


def _error(status, message, reason) -> Response:
    return json_response(status, {"error": message, "reason": reason}, error_code=reason)


def error_for_status(status) -> dict:
    return {"error": "injected fault", "reason": "http_%d" % status}
