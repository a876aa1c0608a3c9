/* The signers: JwtAuth, HmacAuth and MessageAuth over their base Auth. */
#include "shim.h"

/* ------------------------------------------------------------------ */
/* Auth: JwtAuth, HmacAuth, MessageAuth share one layout and sign()   */

static void Auth_dealloc(AuthObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    wsig_auth_free(self->auth);
    self->auth = NULL;
    Py_CLEAR(self->label);
    for (int i = 0; i < WSIG_MAX_HEADERS; i++) {
        Py_CLEAR(self->last[i][0]);
        Py_CLEAR(self->last[i][1]);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* The str for a header name or value: the one made last time when the text
 * is the same (names, the api key, an address, a repeated millisecond), else
 * a new one that replaces it. Reuse also keeps the name's cached hash, so
 * HmacAuth.sign makes two new objects per call instead of six. The GIL guards
 * the slots. */
static PyObject *header_str(PyObject **slot, const char *s, size_t n)
{
    PyObject *o = *slot;
    if (o && PyUnicode_IS_COMPACT_ASCII(o) && (size_t)PyUnicode_GET_LENGTH(o) == n &&
        memcmp(PyUnicode_DATA(o), s, n) == 0)
        return Py_NewRef(o);
    o = PyUnicode_FromStringAndSize(s, (Py_ssize_t)n);
    if (o)
        Py_XSETREF(*slot, Py_NewRef(o));
    return o;
}

static PyObject *headers_to_dict(AuthObject *self, const wsig_headers *h)
{
    PyObject *d = PyDict_New();
    for (size_t i = 0; d && i < h->count; i++) {
        PyObject *k = header_str(&self->last[i][0], h->h[i].name, h->h[i].name_len);
        PyObject *v = k ? header_str(&self->last[i][1], h->h[i].value, h->h[i].value_len) : NULL;
        if (!v || PyDict_SetItem(d, k, v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    return d;
}

/* An HMAC over a small body takes well under a microsecond, less than handing
 * the GIL over and back; releasing it would also let another thread keep the
 * GIL for up to a switch interval (5 ms). So, like hashlib (which releases
 * it from 2 KiB up), keep it for those; every other signature releases it. */
#define HMAC_GIL_MINSIZE 2048

static int holds_gil_for(wsig_auth *auth, size_t body_len)
{
    return wsig_auth_kind_of(auth) == WSIG_AUTH_HMAC && body_len < HMAC_GIL_MINSIZE;
}

PyDoc_STRVAR(Auth_sign_doc,
"sign($self, /, method, path, body=b'', *, timestamp=None)\n--\n\n"
"Sign one request and return the headers to send, in order, as a dict.\n\n"
"method: the HTTP method; path: the path and query exactly as sent (for a\n"
"JwtAuth this is the \"uri\" claim); body: the exact bytes sent (a str is\n"
"UTF-8 encoded); timestamp: Unix time in milliseconds (None: now).");

static PyObject *Auth_sign(AuthObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    static const char *const names[] = {"method", "path", "body", "timestamp", NULL};
    PyObject *a[NARGS(names)];
    if (wsp_parse_args("sign", names, 3, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    if (!self->auth)
        return PyErr_Format(PyExc_TypeError, "uninitialised auth object");
    const char *method = wsp_as_cstr(a[0], "method", NULL);
    const char *path = method ? wsp_as_cstr(a[1], "path", NULL) : NULL;
    int64_t ts;
    if (!path || wsp_as_time(a[3], "timestamp", &ts) < 0)
        return NULL;
    inbuf body;
    if (wsp_inbuf_get(&body, a[2], "body") < 0)
        return NULL;
    wsig_headers h;
    wsig_error err;
    WSIG_ERROR_PREPARE(&err);
    int rc;
    if (holds_gil_for(self->auth, body.len)) {
        rc = wsig_auth_sign(self->auth, &h, method, path, body.ptr, body.len, ts, &err);
    } else {
        Py_BEGIN_ALLOW_THREADS
        rc = wsig_auth_sign(self->auth, &h, method, path, body.ptr, body.len, ts, &err);
        Py_END_ALLOW_THREADS
    }
    wsp_inbuf_release(&body);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(STATE_OF(self), rc, &err);
    return headers_to_dict(self, &h);
}

static PyMethodDef Auth_methods[] = {
    {"sign", (PyCFunction)(void (*)(void))Auth_sign, METH_FASTCALL | METH_KEYWORDS,
     Auth_sign_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(Auth_doc,
"Base class of JwtAuth, HmacAuth and MessageAuth: one credential that signs\n"
"requests with sign(method, path, body). Shareable between threads.");

static PyType_Slot Auth_slots[] = {
    {Py_tp_dealloc, Auth_dealloc},
    {Py_tp_methods, Auth_methods},
    {Py_tp_doc, (void *)Auth_doc},
    {0, NULL},
};

PyType_Spec wsp_Auth_spec = {
    .name = "walletsign.Auth",
    .basicsize = sizeof(AuthObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Auth_slots,
};

static PyObject *auth_wrap(PyTypeObject *tp, wsig_auth *auth, PyObject *label)
{
    AuthObject *self = (AuthObject *)tp->tp_alloc(tp, 0);
    if (!self) {
        wsig_auth_free(auth);
        return NULL;
    }
    self->auth = auth;
    self->label = Py_XNewRef(label);
    return (PyObject *)self;
}

/* ---- JwtAuth */

static PyObject *JwtAuth_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"key", "key_id", "ttl", "signature_format", NULL};
    PyObject *key_o, *kid_o, *ttl_o = NULL, *fmt_o = NULL;
    wsmod_state *st = wsp_state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OO:JwtAuth", kwlist, &key_o,
                                            &kid_o, &ttl_o, &fmt_o))
        return NULL;
    wsig_key *key = wsp_key_arg(st, key_o, "key");
    const char *kid = key ? wsp_as_str(kid_o, "key_id") : NULL;
    if (!kid)
        return NULL;
    long ttl = 0; /* the core's default; the core checks the range */
    if (ttl_o && wsp_as_long_in(ttl_o, "ttl", INT_MIN, INT_MAX, &ttl) < 0)
        return NULL;
    int fmt = wsp_as_option(st, fmt_o, "signature_format", WSIG_OPTION_JWT_FORMAT, WSIG_JWT_DER);
    if (fmt < 0)
        return NULL;
    wsig_jwt_options opt = {(int)ttl, fmt};
    wsig_auth *auth = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_auth_jwt_new(&auth, key, kid, &opt, &err);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    char warning[sizeof err.warning];
    memcpy(warning, err.warning, sizeof warning);
    warning[sizeof warning - 1] = '\0';
    wsig_error_clear(&err);
    PyObject *self = auth_wrap(tp, auth, kid_o);
    if (self && warning[0] && PyErr_WarnEx(st->WeakKeyWarning, warning, 1) < 0)
        Py_CLEAR(self);
    return self;
}

PyDoc_STRVAR(JwtAuth_token_doc,
"token($self, /, uri, body=b'', *, now=None)\n--\n\n"
"A bare Halogen JWT (no \"Bearer \") binding uri and SHA-256(body); now is\n"
"Unix seconds (None: the clock). A fresh nonce every call.");

static PyObject *JwtAuth_token(AuthObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    static const char *const names[] = {"uri", "body", "now", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("token", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *uri = wsp_as_cstr(a[0], "uri", NULL);
    int64_t now;
    if (!uri || wsp_as_time(a[2], "now", &now) < 0)
        return NULL;
    inbuf body;
    if (wsp_inbuf_get(&body, a[1], "body") < 0)
        return NULL;
    char *token = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_jwt_token(self->auth, &token, uri, body.ptr, body.len, now, &err);
    Py_END_ALLOW_THREADS
    wsp_inbuf_release(&body);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *res = PyUnicode_FromString(token);
    wsig_free(token);
    return res;
}

PyDoc_STRVAR(JwtAuth_token_fixed_doc,
"_token_fixed($self, /, uri, body, iat, nonce_hex)\n--\n\n"
"For known-answer tests only: a token with a fixed iat and a fixed 20-byte\n"
"nonce. Never use it to talk to a server (a fixed nonce is a replay).");

static PyObject *JwtAuth_token_fixed(AuthObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    static const char *const names[] = {"uri", "body", "iat", "nonce_hex", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("_token_fixed", names, 4, 4, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *uri = wsp_as_cstr(a[0], "uri", NULL);
    const char *nonce_hex = uri ? wsp_as_str(a[3], "nonce_hex") : NULL;
    if (!nonce_hex)
        return NULL;
    long long iat = PyLong_AsLongLong(a[2]);
    if (iat == -1 && PyErr_Occurred())
        return NULL;
    inbuf body;
    if (wsp_inbuf_get(&body, a[1], "body") < 0)
        return NULL;
    char *token = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_jwt_token_fixed(self->auth, &token, uri, body.ptr, body.len, iat, nonce_hex, &err);
    Py_END_ALLOW_THREADS
    wsp_inbuf_release(&body);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *res = PyUnicode_FromString(token);
    wsig_free(token);
    return res;
}

static PyObject *Auth_get_label(AuthObject *self, void *closure)
{
    return Py_NewRef(self->label ? self->label : Py_None);
}

static PyObject *JwtAuth_repr(AuthObject *self)
{
    return PyUnicode_FromFormat("<walletsign.JwtAuth key_id=%R>", self->label);
}

static PyMethodDef JwtAuth_methods[] = {
    {"token", (PyCFunction)(void (*)(void))JwtAuth_token, METH_FASTCALL | METH_KEYWORDS,
     JwtAuth_token_doc},
    {"_token_fixed", (PyCFunction)(void (*)(void))JwtAuth_token_fixed,
     METH_FASTCALL | METH_KEYWORDS, JwtAuth_token_fixed_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef JwtAuth_getset[] = {
    {"key_id", (getter)Auth_get_label, NULL, "The API key id (the \"kid\" claim).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(JwtAuth_doc,
"JwtAuth(key, key_id, ttl=10, signature_format='der')\n--\n\n"
"Halogen Wallet API auth: every request gets \"Authorization: Bearer <JWT>\"\n"
"with claims kid, sub, iat, exp (= iat + ttl), nonce, bodyHash and uri.\n\n"
"key: a P-256 (ES256) or RSA (RS256) private Key; RSA below 4096 bits works\n"
"with a WeakKeyWarning (Halogen accepts RSA-4096 only). signature_format:\n"
"\"der\" (ASN.1, what Halogen's SDKs send) or \"raw\" (RFC 7518 r||s), ES256 only.");

static PyType_Slot JwtAuth_slots[] = {
    {Py_tp_new, JwtAuth_new},
    {Py_tp_repr, JwtAuth_repr},
    {Py_tp_methods, JwtAuth_methods},
    {Py_tp_getset, JwtAuth_getset},
    {Py_tp_doc, (void *)JwtAuth_doc},
    {0, NULL},
};

PyType_Spec wsp_JwtAuth_spec = {
    .name = "walletsign.JwtAuth",
    .basicsize = sizeof(AuthObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = JwtAuth_slots,
};

/* ---- HmacAuth */

static PyObject *HmacAuth_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"api_key", "secret", "encoding", "separator", "api_key_header",
                             "signature_header", "timestamp_header", NULL};
    PyObject *ak_o, *secret_o, *enc = NULL, *sep = NULL, *akh = NULL, *sigh = NULL, *tsh = NULL;
    wsmod_state *st = wsp_state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OO$OOO:HmacAuth", kwlist, &ak_o,
                                            &secret_o, &enc, &sep, &akh, &sigh, &tsh))
        return NULL;
    const char *api_key = wsp_as_str(ak_o, "api_key");
    if (!api_key)
        return NULL;
    wsig_hmac_options opt;
    if (wsp_hmac_options(st, &opt, enc, sep, akh, sigh, tsh) < 0)
        return NULL;
    secret sec;
    if (wsp_secret_get(&sec, secret_o, "secret", 0, 1) < 0)
        return NULL;
    wsig_auth *auth = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_auth_hmac_new(&auth, api_key, sec.p, sec.len, &opt, &err);
    wsp_secret_release(&sec);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    return auth_wrap(tp, auth, ak_o);
}

static PyObject *HmacAuth_repr(AuthObject *self)
{
    return PyUnicode_FromFormat("<walletsign.HmacAuth api_key=%R>", self->label);
}

static PyGetSetDef HmacAuth_getset[] = {
    {"api_key", (getter)Auth_get_label, NULL, "The API key sent as x-api-key (not secret).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(HmacAuth_doc,
"HmacAuth(api_key, secret, encoding='base64', separator='|', *,\n"
"         api_key_header='x-api-key', signature_header='x-signature',\n"
"         timestamp_header='x-timestamp')\n--\n\n"
"API key + HMAC-SHA256 auth: the signature is HMAC(secret, TS|METHOD|PATH|BODY)\n"
"in base64 (or hex). The secret (str as UTF-8, or bytes) is copied into the C\n"
"core and wiped when the object is freed; it never appears in repr().");

static PyType_Slot HmacAuth_slots[] = {
    {Py_tp_new, HmacAuth_new},
    {Py_tp_repr, HmacAuth_repr},
    {Py_tp_getset, HmacAuth_getset},
    {Py_tp_doc, (void *)HmacAuth_doc},
    {0, NULL},
};

PyType_Spec wsp_HmacAuth_spec = {
    .name = "walletsign.HmacAuth",
    .basicsize = sizeof(AuthObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = HmacAuth_slots,
};

/* ---- MessageAuth */

static PyObject *MessageAuth_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"key", "encoding", "v_offset", "empty_body", "digest", "prefix",
                             NULL};
    PyObject *key_o, *enc_o = NULL, *voff_o = NULL, *empty_o = NULL, *digest_o = NULL;
    int prefix = 1;
    wsmod_state *st = wsp_state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOOOp:MessageAuth", kwlist, &key_o,
                                            &enc_o, &voff_o, &empty_o, &digest_o, &prefix))
        return NULL;
    wsig_key *key = wsp_key_arg(st, key_o, "key");
    if (!key)
        return NULL;
    wsig_message_options opt = WSIG_MESSAGE_OPTIONS_INIT;
    long voff = 27; /* the core checks it (0 or 27) */
    if ((opt.encoding = wsp_as_option(st, enc_o, "encoding", WSIG_OPTION_MESSAGE_ENCODING,
                                      WSIG_MESSAGE_RSV)) < 0 ||
        (opt.empty_body = wsp_as_option(st, empty_o, "empty_body", WSIG_OPTION_EMPTY_BODY,
                                        WSIG_EMPTY_OMIT)) < 0 ||
        (opt.digest = wsp_as_option(st, digest_o, "digest", WSIG_OPTION_DIGEST,
                                    WSIG_DIGEST_SHA256)) < 0)
        return NULL;
    if (voff_o && wsp_as_long_in(voff_o, "v_offset", INT_MIN, INT_MAX, &voff) < 0)
        return NULL;
    opt.v_offset = (int)voff;
    opt.no_prefix = !prefix;
    wsig_auth *auth = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_auth_message_new(&auth, key, &opt, &err);
    if (rc == WSIG_OK) {
        char addr[WSIG_ADDRESS_SIZE];
        rc = wsig_auth_message_address(auth, addr, &err);
        if (rc != WSIG_OK) {
            wsig_auth_free(auth);
        } else {
            wsig_error_clear(&err);
            AuthObject *self = (AuthObject *)auth_wrap(tp, auth, NULL);
            if (self)
                memcpy(self->address, addr, sizeof addr);
            return (PyObject *)self;
        }
    }
    return wsp_raise_wsig(st, rc, &err);
}

static PyObject *MessageAuth_get_session(AuthObject *self, void *closure)
{
    wsmod_state *st = STATE_OF(self);
    if (!st)
        return NULL;
    char session[WSIG_DECIMAL_SIZE];
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_auth_message_session(self->auth, session, &err);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    return PyUnicode_FromString(session);
}

static PyObject *MessageAuth_get_address(AuthObject *self, void *closure)
{
    return PyUnicode_FromString(self->address);
}

PyDoc_STRVAR(MessageAuth_sign_fixed_doc,
"_sign_fixed($self, /, session, sequence, body, timestamp)\n--\n\n"
"For known-answer tests only: sign with a given session and sequence (int or\n"
"decimal str). Reusing a (session, sequence) pair makes the receiver refuse it.");

static PyObject *MessageAuth_sign_fixed(AuthObject *self, PyObject *const *args,
                                        Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"session", "sequence", "body", "timestamp", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("_sign_fixed", names, 4, 4, args, nargs, kwnames, a) < 0)
        return NULL;
    uint64_t session, sequence;
    int64_t ts;
    if (wsp_as_u64(a[0], "session", &session) < 0 || wsp_as_u64(a[1], "sequence", &sequence) < 0 ||
        wsp_as_time(a[3], "timestamp", &ts) < 0)
        return NULL;
    inbuf body;
    if (wsp_inbuf_get(&body, a[2], "body") < 0)
        return NULL;
    wsig_headers h;
    wsig_error err;
    WSIG_ERROR_PREPARE(&err);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_message_sign_fixed(self->auth, &h, session, sequence, body.ptr, body.len, ts, &err);
    Py_END_ALLOW_THREADS
    wsp_inbuf_release(&body);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    return headers_to_dict(self, &h);
}

static PyObject *MessageAuth_repr(AuthObject *self)
{
    return PyUnicode_FromFormat("<walletsign.MessageAuth address=%s>", self->address);
}

static PyMethodDef MessageAuth_methods[] = {
    {"_sign_fixed", (PyCFunction)(void (*)(void))MessageAuth_sign_fixed,
     METH_FASTCALL | METH_KEYWORDS, MessageAuth_sign_fixed_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef MessageAuth_getset[] = {
    {"session", (getter)MessageAuth_get_session, NULL,
     "The current session id (a Snowflake, decimal str); new in a forked child.", NULL},
    {"address", (getter)MessageAuth_get_address, NULL, "The signer's EIP-55 address.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(MessageAuth_doc,
"MessageAuth(key, encoding='rsv', v_offset=27, empty_body='omit',\n"
"            digest='sha256', prefix=True)\n--\n\n"
"Ethereum-address signed messages (Wallet Manager): X-Message-Address,\n"
"-Timestamp, -Session, -Sequence and -Signature over TS#SESSION#SEQUENCE[#BODY].\n\n"
"key: a secp256k1 private Key. encoding: \"rsv\" (hex r||s||v), \"der_hex\" or\n"
"\"der_base64\"; v_offset 27 or 0; empty_body \"omit\" or \"separator\"; digest\n"
"\"sha256\", \"keccak256\" or \"eip191\"; prefix: \"0x\" before hex signatures.\n"
"One MessageAuth may sign from many threads: sequences never repeat, and a\n"
"forked child starts a new session.");

static PyType_Slot MessageAuth_slots[] = {
    {Py_tp_new, MessageAuth_new},
    {Py_tp_repr, MessageAuth_repr},
    {Py_tp_methods, MessageAuth_methods},
    {Py_tp_getset, MessageAuth_getset},
    {Py_tp_doc, (void *)MessageAuth_doc},
    {0, NULL},
};

PyType_Spec wsp_MessageAuth_spec = {
    .name = "walletsign.MessageAuth",
    .basicsize = sizeof(AuthObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = MessageAuth_slots,
};
