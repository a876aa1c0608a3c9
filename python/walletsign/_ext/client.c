/* walletsign.Client: the signing HTTP client (libcurl in the core). */
#include "shim.h"

#include <pythread.h>

/* ------------------------------------------------------------------ */
/* Client                                                             */

static int Client_traverse(ClientObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->auth);
    Py_VISIT(self->pool);
    return 0;
}

/* With the GIL: the pool's close releases it while its workers stop. */
static void pool_close(ClientObject *self)
{
    if (self->pool) {
        PyObject *r = PyObject_CallMethod(self->pool, "close", NULL);
        Py_XDECREF(r);
        PyErr_Clear(); /* close() of a pool does not fail */
        Py_CLEAR(self->pool);
    }
}

static void client_close(ClientObject *self)
{
    if (self->client) {
        wsig_client_free(self->client);
        self->client = NULL;
    }
}

static int Client_clear(ClientObject *self)
{
    pool_close(self);
    client_close(self);
    Py_CLEAR(self->auth);
    return 0;
}

static void Client_dealloc(ClientObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Client_clear(self);
    Py_CLEAR(self->base_url);
    if (self->lock)
        PyThread_free_lock(self->lock);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* The core's abort_check (ud: the ClientObject): a call runs without the
 * GIL, so Ctrl-C only sets a flag. Every 50 ms or so the calling thread takes
 * its own thread state back for a moment to run the signal handlers (they
 * run in the main thread only); one that raises (KeyboardInterrupt) stops
 * the call, and its exception stays set for the caller (call_failed). */
static int interrupted(void *ud)
{
    ClientObject *self = ud;
    PyEval_RestoreThread(self->caller);
    int stop = PyErr_CheckSignals() < 0;
    self->caller = PyEval_SaveThread();
    return stop;
}

/* One event to logging.getLogger("walletsign"): WARNING for a retry, INFO
 * for a wait, with logging's own lazy % formatting (a handler sees args).
 * The event holds no secret and no query string (walletsign.h). */
void wsp_log_client_event(const wsig_client_event *e)
{
    PyObject *path = PyUnicode_DecodeASCII(e->path, (Py_ssize_t)e->path_len, "replace");
    PyObject *logging = path ? PyImport_ImportModule("logging") : NULL;
    PyObject *logger = logging ? PyObject_CallMethod(logging, "getLogger", "s", "walletsign")
                               : NULL;
    PyObject *r = NULL;
    if (logger && e->kind == WSIG_EVENT_RETRY)
        r = PyObject_CallMethod(logger, "warning", "ssOids",
                                "retrying %s %s (attempt %d) in %.3g s after %s", e->method,
                                path, e->attempt, e->delay, e->cause);
    else if (logger)
        r = PyObject_CallMethod(logger, "info", "sdsOis",
                                e->kind == WSIG_EVENT_WAIT_RATE
                                    ? "waiting %.3g s before %s %s (attempt %d) for %s"
                                    : "waiting %.3g s before %s %s (attempt %d) after %s",
                                e->delay, e->method, path, e->attempt, e->cause);
    Py_XDECREF(r);
    Py_XDECREF(logger);
    Py_XDECREF(logging);
    Py_XDECREF(path);
}

/* The core's on_event (ud: the ClientObject), run in the calling thread
 * while the call has released the GIL: it takes back the thread state the
 * call released, as interrupted() does. It never raises: a failure of
 * logging itself is dropped, and an exception already set stays for the
 * caller. A log handler must not use this same client (its lock is held). */
static void log_event(void *ud, const wsig_client_event *e)
{
    ClientObject *self = ud;
    PyEval_RestoreThread(self->caller);
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *saved = PyErr_GetRaisedException();
    wsp_log_client_event(e);
    PyErr_Clear();
    PyErr_SetRaisedException(saved);
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    wsp_log_client_event(e);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
#endif
    self->caller = PyEval_SaveThread();
}

/* The integer options, passed to the core as given: their ranges are the
 * core's (check_options), so only what C cannot hold is refused here. */
static int int_options(wsig_client_options *opt, PyObject *max429_o, PyObject *max_response_o)
{
    long v;
    if (max429_o) {
        if (wsp_as_long_in(max429_o, "max_429_attempts", INT_MIN, INT_MAX, &v) < 0)
            return -1;
        opt->max_429_attempts = (int)v;
    }
    if (max_response_o) {
        if (wsp_as_long_in(max_response_o, "max_response", LONG_MIN, LONG_MAX, &v) < 0)
            return -1;
        /* A negative size becomes one above any cap: the core refuses it. */
        opt->max_response = v < 0 ? SIZE_MAX : (size_t)v;
    }
    return 0;
}

static PyObject *Client_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"base_url", "auth", "timeout", "connect_timeout", "retries",
                             "rate_limit", "verify", "user_agent", "response_verifier",
                             "attempt_timeout", "max_429_attempts", "max_retry_after",
                             "backoff", "max_response", NULL};
    PyObject *url_o, *auth_o, *retries_o = Py_None, *rate_o = NULL, *verify_o = Py_True,
                              *ua_o = Py_None, *rv_o = Py_None, *max429_o = NULL,
                              *max_response_o = NULL;
    /* The core's defaults; every range is the core's (wsig_client_new). */
    wsig_client_options opt = WSIG_CLIENT_OPTIONS_INIT;
    wsmod_state *st = wsp_state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "OO|$ddOOOOOdOddO:Client", kwlist,
                                            &url_o, &auth_o, &opt.timeout,
                                            &opt.connect_timeout, &retries_o, &rate_o,
                                            &verify_o, &ua_o, &rv_o, &opt.attempt_timeout,
                                            &max429_o, &opt.max_retry_after, &opt.backoff,
                                            &max_response_o) ||
        int_options(&opt, max429_o, max_response_o) < 0)
        return NULL;
    const char *url = wsp_as_str(url_o, "base_url");
    if (!url)
        return NULL;
    if (!PyObject_TypeCheck(auth_o, st->Auth_Type))
        return PyErr_Format(PyExc_TypeError,
                            "auth must be a JwtAuth, HmacAuth or MessageAuth, not %.100s",
                            Py_TYPE(auth_o)->tp_name);
    opt.binding = "python";
    long retries;
    if (retries_o != Py_None) {
        if (wsp_as_long_in(retries_o, "retries", INT_MIN, INT_MAX, &retries) < 0)
            return NULL;
        opt.max_retries = (int)retries;
    }
    if (rate_o == Py_None) {
        opt.rate = -1; /* rate_limit=None: the core's "no limiter" */
    } else if (rate_o && PyObject_TypeCheck(rate_o, st->RedisRateLimit_Type)) {
        opt.rate_limit = ((RateLimitObject *)rate_o)->limit; /* the client takes a reference */
    } else if (rate_o) {
        PyObject *pair = PyTuple_Check(rate_o) || PyList_Check(rate_o) ? PySequence_Tuple(rate_o)
                                                                      : NULL;
        int ok = pair && PyArg_ParseTuple(pair, "dd", &opt.rate, &opt.burst);
        Py_XDECREF(pair);
        if (!ok) {
            if (!pair || PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyErr_SetString(PyExc_TypeError,
                                "rate_limit must be (requests_per_second, burst), a "
                                "RedisRateLimit or None");
            }
            return NULL;
        }
    }
    PyObject *ca = NULL;
    if (verify_o == Py_False) {
        opt.insecure = 1;
    } else if (verify_o != Py_True) {
        if (!PyUnicode_Check(verify_o) && !PyObject_HasAttrString(verify_o, "__fspath__"))
            return PyErr_Format(PyExc_TypeError, "verify must be True, False or a CA file path");
        if (!PyUnicode_FSConverter(verify_o, &ca))
            return NULL;
        opt.ca_file = PyBytes_AS_STRING(ca);
    }
    int failed;
    opt.user_agent = wsp_as_opt_str(ua_o, "user_agent", &failed);
    if (failed) {
        Py_XDECREF(ca);
        return NULL;
    }
    if (rv_o != Py_None) {
        if (!PyObject_TypeCheck(rv_o, st->MessageVerifier_Type)) {
            Py_XDECREF(ca);
            return PyErr_Format(PyExc_TypeError, "response_verifier must be a MessageVerifier");
        }
        opt.response_verifier = ((MessageVerifierObject *)rv_o)->v;
    }
    ClientObject *self = (ClientObject *)tp->tp_alloc(tp, 0);
    if (!self) {
        Py_XDECREF(ca);
        return NULL;
    }
    self->lock = PyThread_allocate_lock();
    if (!self->lock) {
        Py_XDECREF(ca);
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    opt.abort_check = interrupted;
    opt.abort_ud = self; /* the client never outlives its object */
    opt.on_event = log_event;
    opt.event_ud = self;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_client_new(&self->client, url, ((AuthObject *)auth_o)->auth, &opt, &err);
    Py_XDECREF(ca);
    if (rc != WSIG_OK) {
        self->client = NULL;
        Py_DECREF(self);
        return wsp_raise_wsig(st, rc, &err);
    }
    wsig_error_clear(&err);
    self->auth = Py_NewRef(auth_o);
    self->base_url = Py_NewRef(url_o);
    return (PyObject *)self;
}

/* Run one client call without the GIL, serialised on the client's lock. The
 * released thread state is kept for the abort_check (interrupted). */
#define CLIENT_CALL(self, rc, call)                                                     \
    do {                                                                                \
        PyThreadState *released_ = PyEval_SaveThread();                                 \
        PyThread_acquire_lock((self)->lock, WAIT_LOCK);                                 \
        (self)->caller = released_;                                                     \
        (rc) = (self)->client ? (call) : -1;                                            \
        (self)->caller = NULL;                                                          \
        PyThread_release_lock((self)->lock);                                            \
        PyEval_RestoreThread(released_);                                                \
    } while (0)

static PyObject *closed_error(void)
{
    PyErr_SetString(PyExc_ValueError, "the client is closed");
    return NULL;
}

/* A failed call: the exception a signal handler raised when it aborted the
 * call (KeyboardInterrupt) goes on as it is; anything else is the core's. */
PyObject *wsp_call_failed(wsmod_state *st, int rc, wsig_error *err)
{
    if (rc == WSIG_ERR_ABORTED && PyErr_Occurred()) {
        wsig_error_clear(err);
        return NULL;
    }
    return wsp_raise_wsig(st, rc, err);
}

/* payload -> JSON bytes: None -> NULL (the core sends {}), bytes-like taken
 * verbatim as JSON text, anything else through json.dumps. */
int wsp_payload_json(wsmod_state *st, PyObject *o, PyObject **out)
{
    *out = NULL;
    if (!o || o == Py_None)
        return 0;
    if (PyBytes_Check(o)) {
        if ((size_t)PyBytes_GET_SIZE(o) != strlen(PyBytes_AS_STRING(o))) {
            PyErr_SetString(PyExc_ValueError, "JSON text must not contain NUL bytes");
            return -1;
        }
        *out = Py_NewRef(o);
        return 0;
    }
    *out = wsp_to_json(st, o);
    return *out ? 0 : -1;
}

/* The end of a client call that returns JSON text: the closed-client case,
 * the error, or the text converted (and freed). */
static PyObject *json_call_result(wsmod_state *st, int rc, char *out, wsig_error *err)
{
    if (rc < 0)
        return closed_error();
    if (rc != WSIG_OK)
        return wsp_call_failed(st, rc, err);
    wsig_error_clear(err);
    PyObject *res = wsp_from_json(st, out, strlen(out));
    wsig_free(out);
    return res;
}

PyDoc_STRVAR(Client_query_doc,
"query($self, /, name, payload=None)\n--\n\n"
"Halogen read: POST /query {\"name\": name, \"payload\": payload} and return the\n"
"decoded JSON answer. payload: a dict (serialised compactly), bytes of JSON\n"
"text sent verbatim, or None for {}. Retried on 429 (Retry-After), 5xx and\n"
"transport failures. Raises an ApiError subclass, TransportError, Timeout or\n"
"ProtocolError.");

static PyObject *Client_query(ClientObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    static const char *const names[] = {"name", "payload", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("query", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *name = wsp_as_str(a[0], "name");
    PyObject *payload;
    if (!name || wsp_payload_json(st, a[1], &payload) < 0)
        return NULL;
    const char *p = payload ? PyBytes_AS_STRING(payload) : NULL;
    char *out = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    CLIENT_CALL(self, rc, wsig_client_query(self->client, &out, name, p, &err));
    Py_XDECREF(payload);
    return json_call_result(st, rc, out, &err);
}

PyDoc_STRVAR(Client_command_doc,
"command($self, /, name, payload=None, *, idempotency_key=None)\n--\n\n"
"Halogen write: POST /command. Never retried once it may have reached the\n"
"server, unless an idempotency_key is given (sent as Idempotency-Key).");

static PyObject *Client_command(ClientObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    static const char *const names[] = {"name", "payload", "idempotency_key", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("command", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    int failed;
    const char *name = wsp_as_str(a[0], "name");
    if (!name)
        return NULL;
    const char *idem = wsp_as_opt_str(a[2], "idempotency_key", &failed);
    PyObject *payload;
    if (failed || wsp_payload_json(st, a[1], &payload) < 0)
        return NULL;
    const char *p = payload ? PyBytes_AS_STRING(payload) : NULL;
    char *out = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    CLIENT_CALL(self, rc, wsig_client_command(self->client, &out, name, p, idem, &err));
    Py_XDECREF(payload);
    return json_call_result(st, rc, out, &err);
}

PyDoc_STRVAR(Client_call_doc,
"call($self, /, method, path, params=None)\n--\n\n"
"Wallet Manager style: METHOD path with params as the JSON body (POST) or no\n"
"body (GET), returning the envelope's result. An error object raises\n"
"RpcError; a response_verifier rejecting the answer raises SignatureError.");

static PyObject *Client_call(ClientObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    static const char *const names[] = {"method", "path", "params", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("call", names, 3, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *method = wsp_as_str(a[0], "method");
    const char *path = method ? wsp_as_str(a[1], "path") : NULL;
    PyObject *params;
    if (!path || wsp_payload_json(st, a[2], &params) < 0)
        return NULL;
    const char *p = params ? PyBytes_AS_STRING(params) : NULL;
    char *out = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    CLIENT_CALL(self, rc, wsig_client_call(self->client, &out, method, path, p, &err));
    Py_XDECREF(params);
    return json_call_result(st, rc, out, &err);
}

PyDoc_STRVAR(Client_request_doc,
"request($self, /, method, path, *, json=None, body=None, headers=None)\n--\n\n"
"Send one signed request to base_url + path (path and query exactly as\n"
"sent) and return a Response(status, headers, body) whatever the HTTP status.\n"
"json: a value sent as compact JSON (with Content-Type: application/json);\n"
"body: bytes or str sent verbatim. headers: extra headers (mapping or pairs).\n"
"429s are retried; 5xx and transport failures only for GET/HEAD or with an\n"
"Idempotency-Key header. Raises TransportError, Timeout or ProtocolError.");

/* The response's headers, read by the core's walk, as a dict: names in
 * lower case, repeated ones joined with ", " (RFC 9110 5.3), bytes as Latin-1. */
static PyObject *response_headers(const wsig_response *res)
{
    PyObject *d = PyDict_New();
    size_t pos = 0, nl, vl;
    const char *n, *v;
    while (d && wsig_response_header_next(res, &pos, &n, &nl, &v, &vl)) {
        PyObject *name = PyUnicode_DecodeLatin1(n, (Py_ssize_t)nl, NULL);
        PyObject *lower = name ? PyObject_CallMethod(name, "lower", NULL) : NULL;
        PyObject *value = PyUnicode_DecodeLatin1(v, (Py_ssize_t)vl, NULL);
        PyObject *seen = lower && value ? PyDict_GetItemWithError(d, lower) : NULL;
        PyObject *joined = seen ? PyUnicode_FromFormat("%U, %U", seen, value) : NULL;
        int ok = lower && value && !PyErr_Occurred() &&
                 PyDict_SetItem(d, lower, joined ? joined : value) == 0;
        Py_XDECREF(name);
        Py_XDECREF(lower);
        Py_XDECREF(value);
        Py_XDECREF(joined);
        if (!ok)
            Py_CLEAR(d);
    }
    return d;
}

/* A Response(status, headers, body, attempts) made from res, which is cleared. */
PyObject *wsp_response_object(wsmod_state *st, wsig_response *res)
{
    PyObject *hdr = response_headers(res);
    PyObject *bdy = PyBytes_FromStringAndSize(res->body ? res->body : "", (Py_ssize_t)res->body_len);
    long status = res->status;
    int attempts = res->attempts;
    wsig_response_clear(res);
    if (!hdr || !bdy) {
        Py_XDECREF(hdr);
        Py_XDECREF(bdy);
        return NULL;
    }
    return PyObject_CallFunction(st->Response, "lNNi", status, hdr, bdy, attempts);
}

static PyObject *Client_request(ClientObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    static const char *const names[] = {"method", "path", "json", "body", "headers", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("request", names, 2, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *method = wsp_as_str(a[0], "method");
    const char *path = method ? wsp_as_str(a[1], "path") : NULL;
    if (!path)
        return NULL;
    int has_json = a[2] && a[2] != Py_None, has_body = a[3] && a[3] != Py_None;
    if (has_json && has_body)
        return PyErr_Format(PyExc_TypeError, "request() takes json or body, not both");
    PyObject *json = NULL;
    if (has_json && !(json = wsp_to_json(st, a[2])))
        return NULL;
    inbuf body = {0};
    if (json) {
        body.ptr = PyBytes_AS_STRING(json);
        body.len = (size_t)PyBytes_GET_SIZE(json);
    } else if (has_body && wsp_inbuf_get(&body, a[3], "body") < 0) {
        return NULL;
    }
    header_list hl;
    memset(&hl, 0, sizeof hl);
    if (a[4] && a[4] != Py_None && wsp_header_list_get(&hl, a[4]) < 0)
        goto fail;
    wsig_response res;
    memset(&res, 0, sizeof res);
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    /* A json= body goes through the core's JSON request (Content-Type too). */
    CLIENT_CALL(self, rc,
                json ? wsig_client_request_json(self->client, &res, method, path, body.ptr,
                                                body.len, hl.refs, hl.n, &err)
                     : wsig_client_request(self->client, &res, method, path, body.ptr, body.len,
                                           hl.refs, hl.n, &err));
    wsp_header_list_release(&hl);
    wsp_inbuf_release(&body);
    Py_XDECREF(json);
    if (rc < 0)
        return closed_error();
    if (rc != WSIG_OK) {
        wsig_response_clear(&res);
        return wsp_call_failed(st, rc, &err);
    }
    wsig_error_clear(&err);
    return wsp_response_object(st, &res);
fail:
    wsp_header_list_release(&hl);
    wsp_inbuf_release(&body);
    Py_XDECREF(json);
    return NULL;
}

PyDoc_STRVAR(Client_pool_doc,
"_pool($self, /, workers)\n--\n\n"
"The client's pool of worker threads (made on first use, closed with the\n"
"client) with room for at least `workers` calls at once: query_many and\n"
"AsyncClient run on it.");

static PyObject *Client_pool(ClientObject *self, PyObject *workers)
{
    wsmod_state *st = STATE_OF(self);
    long n;
    if (!st || wsp_as_long_in(workers, "workers", INT_MIN, INT_MAX, &n) < 0)
        return NULL;
    if (!self->client)
        return closed_error();
    if (self->pool && wsp_pool_is_inherited(self->pool))
        Py_CLEAR(self->pool); /* a forked child's: abandoned by the core, not joined */
    if (!self->pool) {
        self->pool = PyObject_CallFunction((PyObject *)st->Pool_Type, "Ol", (PyObject *)self, n);
        return self->pool ? Py_NewRef(self->pool) : NULL;
    }
    PyObject *r = PyObject_CallMethod(self->pool, "set_workers", "l", n);
    if (!r)
        return NULL;
    Py_DECREF(r);
    return Py_NewRef(self->pool);
}

PyDoc_STRVAR(Client_close_doc,
"close($self, /)\n--\n\nClose the connection and free the client. Idempotent.");

static PyObject *Client_close(ClientObject *self, PyObject *Py_UNUSED(ignored))
{
    pool_close(self);
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    client_close(self);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *Client_enter(ClientObject *self, PyObject *Py_UNUSED(ignored))
{
    if (!self->client)
        return closed_error();
    return Py_NewRef(self);
}

static PyObject *Client_exit(ClientObject *self, PyObject *args)
{
    PyObject *r = Client_close(self, NULL);
    Py_XDECREF(r);
    Py_RETURN_FALSE;
}

PyDoc_STRVAR(Client_from_env_doc,
"from_env($type, /, environ=None, **options)\n--\n\n"
"A Halogen client configured from the environment (os.environ, or the\n"
"environ mapping given): HALOGEN_WALLET_KEY_ID,\n"
"HALOGEN_WALLET_PRIVATE_KEY_PEM or HALOGEN_WALLET_PRIVATE_KEY_PATH (and\n"
"HALOGEN_WALLET_PRIVATE_KEY_PASSWORD if encrypted), WALLETSIGN_BASE_URL\n"
"(default " WSIG_HALOGEN_BASE_URL "). Keyword options are\n"
"passed to Client().");

static PyObject *Client_from_env(PyObject *cls, PyObject *args, PyObject *kwargs)
{
    wsmod_state *st = wsp_state_of_type((PyTypeObject *)cls);
    if (!st)
        return NULL;
    PyObject *cls_t = PyTuple_Pack(1, cls);
    PyObject *t = cls_t ? PySequence_Concat(cls_t, args) : NULL;
    Py_XDECREF(cls_t);
    if (!t)
        return NULL;
    PyObject *res = PyObject_Call(st->client_from_env, t, kwargs);
    Py_DECREF(t);
    return res;
}

static PyObject *Client_get_base_url(ClientObject *self, void *closure)
{
    return Py_NewRef(self->base_url ? self->base_url : Py_None);
}

static PyObject *Client_get_auth(ClientObject *self, void *closure)
{
    return Py_NewRef(self->auth ? self->auth : Py_None);
}

static PyObject *Client_get_closed(ClientObject *self, void *closure)
{
    return PyBool_FromLong(self->client == NULL);
}

/* What a notebook wants to see: where it goes, who signs, the limits in
 * effect. Never a secret (the auth's repr holds none). */
static PyObject *Client_repr(ClientObject *self)
{
    PyObject *url = self->base_url ? self->base_url : Py_None;
    PyObject *auth = self->auth ? self->auth : Py_None;
    if (!self->client)
        return PyUnicode_FromFormat("<walletsign.Client %R %R closed>", url, auth);
    wsig_client_options o;
    wsig_client_get_options(self->client, &o);
    char limits[160];
    if (o.rate < 0)
        snprintf(limits, sizeof limits, "timeout=%g retries=%d rate_limit=None", o.timeout,
                 o.max_retries);
    else
        snprintf(limits, sizeof limits, "timeout=%g retries=%d rate_limit=(%g, %g)", o.timeout,
                 o.max_retries, o.rate, o.burst);
    return PyUnicode_FromFormat("<walletsign.Client %R %R %s>", url, auth, limits);
}

static PyMethodDef Client_methods[] = {
    {"query", (PyCFunction)(void (*)(void))Client_query, METH_FASTCALL | METH_KEYWORDS,
     Client_query_doc},
    {"command", (PyCFunction)(void (*)(void))Client_command, METH_FASTCALL | METH_KEYWORDS,
     Client_command_doc},
    {"call", (PyCFunction)(void (*)(void))Client_call, METH_FASTCALL | METH_KEYWORDS,
     Client_call_doc},
    {"request", (PyCFunction)(void (*)(void))Client_request, METH_FASTCALL | METH_KEYWORDS,
     Client_request_doc},
    {"close", (PyCFunction)Client_close, METH_NOARGS, Client_close_doc},
    {"_pool", (PyCFunction)Client_pool, METH_O, Client_pool_doc},
    {"__enter__", (PyCFunction)Client_enter, METH_NOARGS, "Use the client as a context manager."},
    {"__exit__", (PyCFunction)Client_exit, METH_VARARGS, "Close the client."},
    {"from_env", (PyCFunction)(void (*)(void))Client_from_env,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS, Client_from_env_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Client_getset[] = {
    {"base_url", (getter)Client_get_base_url, NULL, "The base URL requests go to.", NULL},
    {"auth", (getter)Client_get_auth, NULL, "The auth that signs every request.", NULL},
    {"closed", (getter)Client_get_closed, NULL, "True after close().", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(Client_doc,
"Client(base_url, auth, *, timeout=10.0, connect_timeout=5.0, retries=None,\n"
"       rate_limit=(10, 10), verify=True, user_agent=None, response_verifier=None,\n"
"       attempt_timeout=0, max_429_attempts=0, max_retry_after=0, backoff=0,\n"
"       max_response=0)\n--\n\n"
"An HTTP client (libcurl, keep-alive) that signs every attempt with auth.\n\n"
"timeout: the whole call, seconds, every retry and wait included (a wait\n"
"that would pass it ends the call with Timeout at once); attempt_timeout:\n"
"one attempt (0: only the call's timeout); connect_timeout: seconds (each\n"
"0.001 to 86400, 0 for the default); retries: retries of 5xx/transport failures,\n"
"0 to 100 (None: 3; 0: none); rate_limit: (requests per second, burst) of\n"
"the token bucket shared by every client of this process that signs with\n"
"the same key at that rate and burst, a RedisRateLimit (shared by\n"
"processes and machines; StoreError when Redis cannot answer), or None to\n"
"disable; verify:\n"
"True (system CAs), False (no TLS verification) or a CA file path;\n"
"response_verifier: a MessageVerifier that every response must satisfy;\n"
"max_429_attempts: attempts when answered 429, 1 to 100 (0: 5);\n"
"max_retry_after: the longest Retry-After the client waits for, seconds\n"
"(0: 30; a longer one is not waited for: RateLimited); backoff: the first\n"
"retry's wait, seconds, doubled per retry with jitter (0: 0.25);\n"
"max_response: the largest answer, bytes, 1 to 2**30 (0: 16 MiB).\n"
"Retries are logged at WARNING and waits (429, rate limit) at INFO to\n"
"logging.getLogger(\"walletsign\"); never a header, signature or query.\n"
"Calls release the GIL; one client serialises its own calls (use one per\n"
"thread for parallelism). Ctrl-C (KeyboardInterrupt) stops a call within\n"
"about 50 ms, waits included; the client stays usable. Use as a context\n"
"manager or call close().");

static PyType_Slot Client_slots[] = {
    {Py_tp_new, Client_new},
    {Py_tp_dealloc, Client_dealloc},
    {Py_tp_traverse, Client_traverse},
    {Py_tp_clear, Client_clear},
    {Py_tp_repr, Client_repr},
    {Py_tp_methods, Client_methods},
    {Py_tp_getset, Client_getset},
    {Py_tp_doc, (void *)Client_doc},
    {0, NULL},
};

PyType_Spec wsp_Client_spec = {
    .name = "walletsign.Client",
    .basicsize = sizeof(ClientObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Client_slots,
};
