/* The verifiers: walletsign.verify_jwt, HmacVerifier and MessageVerifier. */
#include "shim.h"

/* ------------------------------------------------------------------ */
/* Verification                                                       */

const char wsp_verify_jwt_doc[] = PyDoc_STR(
"verify_jwt($module, /, token, key, *, leeway=0, now=None, uri=None, body=None,\n"
"           max_ttl=300)\n--\n\n"
"Verify a Halogen JWT and return its claims as a dict (kid, sub, iat, exp,\n"
"nonce, bodyHash, uri).\n\n"
"key: a Key (public or private) or public-key PEM (str or bytes; parsing PEM\n"
"costs milliseconds, so keep a Key when verifying many tokens). ES256\n"
"signatures are accepted DER or raw. now: Unix seconds (None: the clock);\n"
"leeway: seconds of clock skew allowed; max_ttl: the longest lifetime\n"
"(exp - iat) accepted, in seconds. When uri is given the uri claim must\n"
"equal it; when body is given bodyHash must equal SHA-256(body). Raises\n"
"SignatureError with .reason bad_signature, expired, lifetime_too_long or\n"
"malformed.");

PyObject *wsp_verify_jwt(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    static const char *const names[] = {"token", "key", "leeway", "now", "uri", "body", "max_ttl",
                                        NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = wsp_state_of_module(module);
    if (wsp_parse_args("verify_jwt", names, 2, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    Py_ssize_t token_len;
    const char *token = wsp_as_cstr(a[0], "token", &token_len);
    if (!token)
        return NULL;
    long leeway = 0, max_ttl = 0;
    int64_t now;
    int failed;
    /* The core checks the ranges; INT_MAX only keeps the conversion exact. */
    if ((a[2] && wsp_as_long_in(a[2], "leeway", INT_MIN, INT_MAX, &leeway) < 0) ||
        (a[6] && wsp_as_long_in(a[6], "max_ttl", INT_MIN, INT_MAX, &max_ttl) < 0) ||
        wsp_as_time(a[3], "now", &now) < 0)
        return NULL;
    wsig_jwt_verify_options opt = {(int)leeway, (int)max_ttl};
    const char *uri = wsp_as_opt_str(a[4], "uri", &failed);
    if (failed)
        return NULL;
    wsig_key *key = NULL;
    inbuf pem = {0};
    if (PyObject_TypeCheck(a[1], st->Key_Type)) {
        key = ((KeyObject *)a[1])->key;
    } else if (PyUnicode_Check(a[1]) || PyBytes_Check(a[1])) {
        if (wsp_inbuf_get(&pem, a[1], "key") < 0)
            return NULL;
    } else {
        return PyErr_Format(PyExc_TypeError,
                            "key must be a walletsign.Key or public-key PEM, not %.100s",
                            Py_TYPE(a[1])->tp_name);
    }
    inbuf body = {0};
    if (a[5] && a[5] != Py_None && wsp_inbuf_get(&body, a[5], "body") < 0) {
        wsp_inbuf_release(&pem);
        return NULL;
    }
    int check_body = a[5] && a[5] != Py_None;
    wsig_jwt_claims c;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = WSIG_OK;
    wsig_key *owned = NULL;
    Py_BEGIN_ALLOW_THREADS
    if (!key) {
        rc = wsig_key_load_pem(&owned, pem.ptr, pem.len, NULL, &err);
        key = owned;
    }
    if (rc == WSIG_OK)
        rc = wsig_jwt_verify(key, &c, token, (size_t)token_len, now, &opt, uri,
                             check_body ? (body.ptr ? body.ptr : "") : NULL, body.len, &err);
    wsig_key_free(owned);
    Py_END_ALLOW_THREADS
    wsp_inbuf_release(&pem);
    wsp_inbuf_release(&body);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *claims = Py_BuildValue("{s:s,s:s,s:L,s:L,s:s,s:s,s:s}", "kid", c.kid, "sub", c.sub,
                                     "iat", (long long)c.iat, "exp", (long long)c.exp, "nonce",
                                     c.nonce, "bodyHash", c.body_hash, "uri", c.uri);
    if (!claims && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        /* The core refuses such tokens as malformed; should one get through,
         * it is refused the same way here, not with a UnicodeDecodeError. */
        PyErr_Clear();
        return wsp_raise_status(st, WSIG_INVALID, WSIG_REASON_MALFORMED,
                                "JWT claims are not UTF-8");
    }
    return claims;
}

/* ---- HmacVerifier */

typedef struct {
    PyObject_HEAD
    wsig_hmac_verifier *v;
} HmacVerifierObject;

static void HmacVerifier_dealloc(HmacVerifierObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    wsig_hmac_verifier_free(self->v);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *HmacVerifier_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"secrets",          "window_ms",        "encoding",
                             "separator",        "api_key_header",   "signature_header",
                             "timestamp_header", "replay_cache",     "cache_size",
                             NULL};
    PyObject *secrets_o, *win_o = NULL, *enc = NULL, *sep = NULL, *akh = NULL, *sigh = NULL,
                         *tsh = NULL, *cache_o = NULL;
    int replay_cache = 0;
    wsmod_state *st = wsp_state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOO$OOOpO:HmacVerifier", kwlist,
                                            &secrets_o, &win_o, &enc, &sep, &akh, &sigh, &tsh,
                                            &replay_cache, &cache_o))
        return NULL;
    long cache_size = 0;
    /* size_t needs >= 0; the core checks the range. */
    if (cache_o && wsp_as_long_in(cache_o, "cache_size", 0, LONG_MAX, &cache_size) < 0)
        return NULL;
    if (!PyDict_Check(secrets_o) && !PyObject_HasAttrString(secrets_o, "items"))
        return PyErr_Format(PyExc_TypeError, "secrets must be a mapping of api_key -> secret");
    long window = 0; /* the core's default; the core checks the range */
    if (win_o && wsp_as_long_in(win_o, "window_ms", LONG_MIN, LONG_MAX, &window) < 0)
        return NULL;
    wsig_hmac_options opt;
    if (wsp_hmac_options(st, &opt, enc, sep, akh, sigh, tsh) < 0)
        return NULL;
    PyObject *items = PyObject_CallMethod(secrets_o, "items", NULL);
    PyObject *list = items ? PySequence_List(items) : NULL;
    Py_XDECREF(items);
    if (!list)
        return NULL;
    wsig_hmac_verifier *v = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_hmac_verifier_new(&v, window, &opt, &err);
    for (Py_ssize_t i = 0; rc == WSIG_OK && i < PyList_GET_SIZE(list); i++) {
        PyObject *pair = PyList_GET_ITEM(list, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "secrets.items() must give (api_key, secret) pairs");
            goto fail;
        }
        const char *api_key = wsp_as_str(PyTuple_GET_ITEM(pair, 0), "api_key");
        if (!api_key)
            goto fail;
        secret sec;
        if (wsp_secret_get(&sec, PyTuple_GET_ITEM(pair, 1), "secret", 0, 1) < 0)
            goto fail;
        rc = wsig_hmac_verifier_add(v, api_key, sec.p, sec.len, &err);
        wsp_secret_release(&sec);
    }
    Py_DECREF(list);
    list = NULL;
    if (rc == WSIG_OK && replay_cache)
        rc = wsig_hmac_verifier_replay_cache(v, (size_t)cache_size, &err);
    if (rc != WSIG_OK) {
        wsig_hmac_verifier_free(v);
        return wsp_raise_wsig(st, rc, &err);
    }
    wsig_error_clear(&err);
    HmacVerifierObject *self = (HmacVerifierObject *)tp->tp_alloc(tp, 0);
    if (!self) {
        wsig_hmac_verifier_free(v);
        return NULL;
    }
    self->v = v;
    return (PyObject *)self;
fail:
    Py_XDECREF(list);
    wsig_hmac_verifier_free(v);
    wsig_error_clear(&err);
    return NULL;
}

PyDoc_STRVAR(HmacVerifier_verify_doc,
"verify($self, /, method, path, headers, body=b'', *, now=None)\n--\n\n"
"Verify an HMAC-signed request (server side) and return the caller's API key.\n\n"
"headers: a mapping or a list of (name, value) pairs (names match\n"
"case-insensitively), or a WSGI environ or ASGI scope whole (see\n"
"walletsign.wsgi_headers and asgi_headers). now: Unix ms (None: the clock). Raises SignatureError\n"
"(.reason bad_signature, stale_timestamp, missing_header, malformed_header,\n"
"replay); an unknown API key is bad_signature, like a wrong signature (the\n"
"message tells them apart for logs: answer callers with .reason only).\n"
"Constant-time comparison.");

static PyObject *HmacVerifier_verify(HmacVerifierObject *self, PyObject *const *args,
                                     Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"method", "path", "headers", "body", "now", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("verify", names, 4, 3, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *method = wsp_as_cstr(a[0], "method", NULL);
    const char *path = method ? wsp_as_cstr(a[1], "path", NULL) : NULL;
    int64_t now;
    if (!path || wsp_as_time(a[4], "now", &now) < 0)
        return NULL;
    header_list hl;
    if (wsp_verify_headers_get(st, &hl, a[2]) < 0) {
        wsp_header_list_release(&hl);
        return NULL;
    }
    inbuf body;
    if (wsp_inbuf_get(&body, a[3], "body") < 0) {
        wsp_header_list_release(&hl);
        return NULL;
    }
    char api_key[WSIG_HEADER_VALUE_MAX];
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_hmac_verify(self->v, api_key, method, path, hl.refs, hl.n, body.ptr, body.len, now,
                          &err);
    Py_END_ALLOW_THREADS
    wsp_inbuf_release(&body);
    wsp_header_list_release(&hl);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    return PyUnicode_DecodeUTF8(api_key, (Py_ssize_t)strlen(api_key), "replace");
}

static PyMethodDef HmacVerifier_methods[] = {
    {"verify", (PyCFunction)(void (*)(void))HmacVerifier_verify, METH_FASTCALL | METH_KEYWORDS,
     HmacVerifier_verify_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(HmacVerifier_doc,
"HmacVerifier(secrets, window_ms=30000, encoding='base64', separator='|', *,\n"
"             api_key_header='x-api-key', signature_header='x-signature',\n"
"             timestamp_header='x-timestamp', replay_cache=False, cache_size=100000)\n"
"--\n\n"
"Server side of HmacAuth. secrets maps API keys to their secrets (copied\n"
"into C memory; never shown). Timestamps more than window_ms away from now\n"
"are refused. replay_cache=True also refuses a request whose (api key,\n"
"timestamp, signature) was already accepted (reason replay): a client that\n"
"sends the same request twice in one millisecond is refused, and the cache\n"
"is this process's only. Shareable between threads.");

static PyType_Slot HmacVerifier_slots[] = {
    {Py_tp_new, HmacVerifier_new},
    {Py_tp_dealloc, HmacVerifier_dealloc},
    {Py_tp_methods, HmacVerifier_methods},
    {Py_tp_doc, (void *)HmacVerifier_doc},
    {0, NULL},
};

PyType_Spec wsp_HmacVerifier_spec = {
    .name = "walletsign.HmacVerifier",
    .basicsize = sizeof(HmacVerifierObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = HmacVerifier_slots,
};

/* ---- MessageVerifier */

static void MessageVerifier_dealloc(MessageVerifierObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    wsig_message_verifier_free(self->v);
    Py_XDECREF(self->store);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *MessageVerifier_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"trusted",      "window_ms",    "cache_size", "digest",
                             "replay_cache", "replay_store", NULL};
    PyObject *trusted_o, *win_o = NULL, *cache_o = NULL, *digest_o = NULL, *store_o = NULL;
    int replay_cache = 1;
    wsmod_state *st = wsp_state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOO$pO:MessageVerifier", kwlist,
                                            &trusted_o, &win_o, &cache_o, &digest_o,
                                            &replay_cache, &store_o))
        return NULL;
    if (PyUnicode_Check(trusted_o) || PyBytes_Check(trusted_o))
        return PyErr_Format(PyExc_TypeError, "trusted must be a list of addresses, not a string");
    wsig_message_verifier_options opt = {0};
    long window = 0, cache = 0; /* the core's defaults; the core checks the ranges */
    if ((win_o && wsp_as_long_in(win_o, "window_ms", LONG_MIN, LONG_MAX, &window) < 0) ||
        (cache_o && wsp_as_long_in(cache_o, "cache_size", 0, LONG_MAX, &cache) < 0))
        return NULL;
    if ((opt.digest = wsp_as_option(st, digest_o, "digest", WSIG_OPTION_DIGEST,
                                    WSIG_DIGEST_SHA256)) < 0)
        return NULL;
    opt.window_ms = window;
    opt.cache_size = (size_t)cache;
    opt.no_replay_cache = !replay_cache;
    /* The core keeps its own reference to the store; which combinations of
     * replay_cache and replay_store make sense is its rule. */
    if (store_o && store_o != Py_None && !(opt.replay_store = wsp_replay_store_arg(st, store_o)))
        return NULL;
    PyObject *list = PySequence_List(trusted_o);
    if (!list)
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(list);
    const char **addrs = PyMem_Malloc(sizeof *addrs * (size_t)(n ? n : 1));
    if (!addrs) {
        Py_DECREF(list);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        addrs[i] = wsp_as_str(PyList_GET_ITEM(list, i), "trusted address");
        if (!addrs[i]) {
            PyMem_Free(addrs);
            Py_DECREF(list);
            return NULL;
        }
    }
    wsig_message_verifier *v = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_message_verifier_new(&v, addrs, (size_t)n, &opt, &err);
    PyMem_Free(addrs);
    Py_DECREF(list);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    MessageVerifierObject *self = (MessageVerifierObject *)tp->tp_alloc(tp, 0);
    if (!self) {
        wsig_message_verifier_free(v);
        return NULL;
    }
    self->v = v;
    self->store = opt.replay_store ? Py_NewRef(store_o) : NULL;
    self->n_trusted = n;
    self->replay_cache = replay_cache;
    return (PyObject *)self;
}

static PyObject *MessageVerifier_repr(MessageVerifierObject *self)
{
    if (self->store)
        return PyUnicode_FromFormat("<walletsign.MessageVerifier trusted=%zd replay_store=%R>",
                                    self->n_trusted, self->store);
    return PyUnicode_FromFormat("<walletsign.MessageVerifier trusted=%zd replay=%s>",
                                self->n_trusted, self->replay_cache ? "memory" : "off");
}

static PyObject *MessageVerifier_get_replay_store(MessageVerifierObject *self, void *closure)
{
    return Py_NewRef(self->store ? self->store : Py_None);
}

static PyGetSetDef MessageVerifier_getset[] = {
    {"replay_store", (getter)MessageVerifier_get_replay_store, NULL,
     "The RedisReplayStore given, or None (the in-memory cache, or none).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(MessageVerifier_verify_doc,
"verify($self, /, headers, body=b'', *, now=None)\n--\n\n"
"Verify a signed message (a Wallet Manager callback, or a request to one) and\n"
"return a Message(address, session, sequence, timestamp).\n\n"
"headers: a mapping or a list of (name, value) pairs (names match\n"
"case-insensitively), or a WSGI environ or ASGI scope whole (see\n"
"walletsign.wsgi_headers and asgi_headers). now: Unix ms (None: the clock). Raises SignatureError\n"
"with .reason missing_header, malformed_header, stale_timestamp,\n"
"bad_signature, untrusted_address or replay. A verified message is recorded,\n"
"so delivering it again is refused as a replay.");

static PyObject *MessageVerifier_verify(MessageVerifierObject *self, PyObject *const *args,
                                        Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"headers", "body", "now", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("verify", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    int64_t now;
    if (wsp_as_time(a[2], "now", &now) < 0)
        return NULL;
    header_list hl;
    if (wsp_verify_headers_get(st, &hl, a[0]) < 0) {
        wsp_header_list_release(&hl);
        return NULL;
    }
    inbuf body;
    if (wsp_inbuf_get(&body, a[1], "body") < 0) {
        wsp_header_list_release(&hl);
        return NULL;
    }
    wsig_message m;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_message_verify(self->v, &m, hl.refs, hl.n, body.ptr, body.len, now, &err);
    Py_END_ALLOW_THREADS
    wsp_inbuf_release(&body);
    wsp_header_list_release(&hl);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    return PyObject_CallFunction(st->Message, "sssL", m.address, m.session, m.sequence,
                                 (long long)m.timestamp_ms);
}

/* Copy a str field of a Message into a fixed buffer of the core's record. */
static int copy_field(PyObject *o, const char *what, char *buf, size_t size)
{
    Py_ssize_t len;
    const char *text = wsp_as_cstr(o, what, &len);
    if (!text)
        return -1;
    if ((size_t)len >= size) {
        PyErr_Format(PyExc_ValueError, "%s is too long for a verified message", what);
        return -1;
    }
    memcpy(buf, text, (size_t)len + 1);
    return 0;
}

/* A Message returned by verify() back to the core's record. The core's
 * replay key reads the numbers (docs/protocols.md: "0915" and "915" are one
 * message), so session and sequence are also read as decimals. */
static int message_arg(wsmod_state *st, PyObject *o, wsig_message *m)
{
    memset(m, 0, sizeof *m);
    int is_message = PyObject_IsInstance(o, st->Message);
    if (is_message <= 0) {
        if (is_message == 0)
            PyErr_Format(PyExc_TypeError,
                         "message must be a walletsign.Message returned by verify(), not %.100s",
                         Py_TYPE(o)->tp_name);
        return -1;
    }
    PyObject *session = PyTuple_GET_ITEM(o, 1), *sequence = PyTuple_GET_ITEM(o, 2);
    long long ts = PyLong_AsLongLong(PyTuple_GET_ITEM(o, 3));
    if ((ts == -1 && PyErr_Occurred()) ||
        copy_field(PyTuple_GET_ITEM(o, 0), "message.address", m->address, sizeof m->address) < 0 ||
        copy_field(session, "message.session", m->session, sizeof m->session) < 0 ||
        copy_field(sequence, "message.sequence", m->sequence, sizeof m->sequence) < 0 ||
        wsp_as_u64(session, "message.session", &m->session_id) < 0 ||
        wsp_as_u64(sequence, "message.sequence", &m->sequence_no) < 0)
        return -1;
    m->timestamp_ms = ts;
    return 0;
}

PyDoc_STRVAR(MessageVerifier_release_doc,
"release($self, message, /)\n--\n\n"
"Free the reservation of a verified message whose handling failed (answer\n"
"the sender 5xx): its redelivery is then accepted, once. message: the\n"
"Message verify() returned. Works with the in-memory cache and with a\n"
"replay_store; raises ReplayStoreError when the store cannot be reached (the\n"
"redelivery is then refused as replay until the entry expires) and\n"
"ValueError for a verifier made with replay_cache=False.");

static PyObject *MessageVerifier_release(MessageVerifierObject *self, PyObject *message)
{
    wsmod_state *st = STATE_OF(self);
    wsig_message m;
    if (!st || message_arg(st, message, &m) < 0)
        return NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS /* a Redis round trip */
    rc = wsig_message_release(self->v, &m, &err);
    Py_END_ALLOW_THREADS
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(MessageVerifier_verified_doc,
"verified($self, /, headers, body=b'', *, now=None)\n--\n\n"
"A context manager: verify(headers, body, now=now) on entry, giving the\n"
"Message; when the block raises, release() the message (so the sender's\n"
"redelivery is accepted) and re-raise. A release that fails is added to the\n"
"exception as a note; the block's exception is the one raised.\n\n"
"    with verifier.verified(environ, body) as message:\n"
"        handle(message, body)        # raises: answer 5xx, redelivery accepted");

static PyObject *MessageVerifier_verified(MessageVerifierObject *self, PyObject *const *args,
                                          Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"headers", "body", "now", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("verified", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    return PyObject_CallFunctionObjArgs(st->Verified, (PyObject *)self, a[0],
                                        a[1] ? a[1] : Py_None, a[2] ? a[2] : Py_None, NULL);
}

static PyMethodDef MessageVerifier_methods[] = {
    {"verify", (PyCFunction)(void (*)(void))MessageVerifier_verify,
     METH_FASTCALL | METH_KEYWORDS, MessageVerifier_verify_doc},
    {"release", (PyCFunction)MessageVerifier_release, METH_O, MessageVerifier_release_doc},
    {"verified", (PyCFunction)(void (*)(void))MessageVerifier_verified,
     METH_FASTCALL | METH_KEYWORDS, MessageVerifier_verified_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(MessageVerifier_doc,
"MessageVerifier(trusted, window_ms=60000, cache_size=100000, digest='sha256', *,\n"
"                replay_cache=True, replay_store=None)\n--\n\n"
"Merchant side of MessageAuth: accepts messages signed by one of the trusted\n"
"addresses (any case), with a timestamp within window_ms of now, never seen\n"
"before (a bounded replay cache of cache_size entries, this process's only;\n"
"replay_cache=False leaves replay protection to the caller). replay_store: a\n"
"RedisReplayStore shared by several processes and machines instead of the\n"
"in-memory cache (a message outside the window is refused before Redis is\n"
"asked; Redis unreachable = ReplayStoreError, never an acceptance).\n"
"Shareable between threads.");

static PyType_Slot MessageVerifier_slots[] = {
    {Py_tp_new, MessageVerifier_new},
    {Py_tp_dealloc, MessageVerifier_dealloc},
    {Py_tp_methods, MessageVerifier_methods},
    {Py_tp_getset, MessageVerifier_getset},
    {Py_tp_repr, MessageVerifier_repr},
    {Py_tp_doc, (void *)MessageVerifier_doc},
    {0, NULL},
};

PyType_Spec wsp_MessageVerifier_spec = {
    .name = "walletsign.MessageVerifier",
    .basicsize = sizeof(MessageVerifierObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = MessageVerifier_slots,
};
