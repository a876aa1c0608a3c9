"""The /_mock/* control and introspection endpoints (never logged, never
faulted)."""

import http.client
import json
import traceback

from cryptography.exceptions import UnsupportedAlgorithm

from .wire import Request, json_response


def _json(req: Request) -> dict:
    doc = json.loads(req.body.decode("utf-8") or "{}")
    if not isinstance(doc, dict):
        raise ValueError("body must be a JSON object")
    return doc


def _key_info(key):
    return {"key_id": key.key_id, "alg": key.alg, "scope": key.scope}


def _register_opts(req: Request) -> dict:
    query = req.query
    return {"key_id": query.get("key_id") or None, "scope": query.get("scope", "all")}


def halogen_register(app, req):
    return _key_info(app.halogen.register_csr(req.body, **_register_opts(req)))


def halogen_register_public(app, req):
    return _key_info(app.halogen.register_public_pem(req.body, **_register_opts(req)))


def halogen_config(app, req):
    app.halogen.configure(_json(req))
    return {"ok": True}


def hmac_register(app, req):
    doc = _json(req)
    app.hmac_api.register(doc.get("api_key"), doc.get("secret"),
                          doc.get("encoding", "base64"), doc.get("separator", "|"))
    return {"ok": True}


def wm_trust(app, req):
    app.wm.trust(_json(req).get("address"))
    return {"ok": True}


def wm_config(app, req):
    app.wm.configure(_json(req))
    return {"ok": True}


def wm_callback(app, req):
    return app.wm.send_callback(_json(req))


def faults_push(app, req):
    doc = _json(req)
    faults = doc.get("faults")
    if not isinstance(doc.get("path"), str) or not isinstance(faults, list):
        raise ValueError('expected {"path": "/query", "faults": ["status:503", ...]}')
    app.faults.push(doc["path"], faults)
    return {"ok": True, "pending": app.faults.pending()}


def faults_list(app, req):
    return {"pending": app.faults.pending()}


def faults_clear(app, req):
    app.faults.clear()
    return {"ok": True}


def log_get(app, req):
    return app.log.entries()


def log_clear(app, req):
    app.log.clear()
    return {"ok": True}


def stats(app, req):
    return app.log.stats()


def reset(app, req):
    app.reset()
    return {"ok": True}


def clock(app, req):
    app.clock.offset_ms = int(_json(req).get("offset_ms", 0))
    return {"offset_ms": app.clock.offset_ms, "now_ms": app.clock.now_ms()}


def info(app, req):
    return app.info


ROUTES = {
    ("GET", "/_mock/info"): info,
    ("POST", "/_mock/halogen/register"): halogen_register,
    ("POST", "/_mock/halogen/register_public"): halogen_register_public,
    ("POST", "/_mock/halogen/config"): halogen_config,
    ("POST", "/_mock/hmac/register"): hmac_register,
    ("POST", "/_mock/wm/trust"): wm_trust,
    ("POST", "/_mock/wm/config"): wm_config,
    ("POST", "/_mock/wm/callback"): wm_callback,
    ("POST", "/_mock/faults"): faults_push,
    ("GET", "/_mock/faults"): faults_list,
    ("DELETE", "/_mock/faults"): faults_clear,
    ("GET", "/_mock/log"): log_get,
    ("DELETE", "/_mock/log"): log_clear,
    ("GET", "/_mock/stats"): stats,
    ("POST", "/_mock/reset"): reset,
    ("POST", "/_mock/clock"): clock,
}


def handle(app, req: Request):
    route = ROUTES.get((req.method, req.path))
    if route is None:
        return json_response(404, {"error": "no control endpoint %s %s" % (req.method, req.path)})
    try:
        return json_response(200, route(app, req))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return json_response(400, {"error": str(exc) or type(exc).__name__})
    except (OSError, http.client.HTTPException) as exc:   # the merchant did not answer
        return json_response(502, {"error": "callback failed: %r" % exc})
    except Exception as exc:
        traceback.print_exc()
        return json_response(500, {"error": "mock server bug: %r" % exc})
