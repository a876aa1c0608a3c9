/*
 * walletsign._walletsign — the CPython shim over the walletsign C core.
 *
 * It converts values and errors and nothing else: every protocol decision is
 * made by the core through the public header. Rules kept throughout:
 *  - the GIL is released around every signature, verification, key
 *    generation/load and HTTP call; inside, no Python object is touched (the
 *    inputs are C strings borrowed from immutable objects we hold a reference
 *    to, or Py_buffer views held across the call);
 *  - secrets passed in (HMAC secrets, passwords, hex private keys) are copied
 *    to C memory and wiped after use, and never appear in a message or repr;
 *  - every wsig_error is cleared, and C memory freed, before raising.
 *
 * Multi-phase init, heap types (PyType_FromModuleAndSpec); the module state
 * holds the types, the exception classes (defined in walletsign/_errors.py)
 * and the few Python helpers (JSON, Message, Response) from walletsign/_types.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <walletsign.h>

/* ------------------------------------------------------------------ */
/* Module state                                                       */

typedef struct {
    PyTypeObject *Key_Type;
    PyTypeObject *Auth_Type;
    PyTypeObject *JwtAuth_Type;
    PyTypeObject *HmacAuth_Type;
    PyTypeObject *MessageAuth_Type;
    PyTypeObject *HmacVerifier_Type;
    PyTypeObject *MessageVerifier_Type;
    PyTypeObject *Client_Type;
    /* exceptions (walletsign._errors) */
    PyObject *Error, *KeyFormatError, *PasswordError, *CryptoError, *FileError;
    PyObject *SignatureError, *TransportError, *Timeout, *ProtocolError;
    PyObject *ApiError, *BadRequest, *Unauthorized, *Forbidden, *NotFound, *Gone;
    PyObject *PreconditionFailed, *RateLimited, *ServerError, *RpcError;
    PyObject *Redirect;
    PyObject *WeakKeyWarning;
    /* helpers (walletsign._types) */
    PyObject *Message, *Response, *json_dumps, *json_loads, *client_from_env;
} wsmod_state;

static struct PyModuleDef wsmod_def;

static inline wsmod_state *state_of_module(PyObject *module)
{
    return (wsmod_state *)PyModule_GetState(module);
}

/* For methods: works for subclasses too (walks the MRO). */
static wsmod_state *state_of_type(PyTypeObject *tp)
{
    PyObject *m = PyType_GetModuleByDef(tp, &wsmod_def);
    return m ? state_of_module(m) : NULL;
}

#define STATE_OF(self) state_of_type(Py_TYPE(self))

/* ------------------------------------------------------------------ */
/* Argument parsing for METH_FASTCALL | METH_KEYWORDS                 */

/* names: NULL-terminated; the first npos may be positional, the first nreq
 * are required. out[] receives borrowed references (NULL when absent). */
static int parse_args(const char *fname, const char *const *names, int npos, int nreq,
                      PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **out)
{
    int n = 0;
    while (names[n])
        n++;
    for (int i = 0; i < n; i++)
        out[i] = NULL;
    if (nargs > npos) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d positional argument%s (%zd given)",
                     fname, npos, npos == 1 ? "" : "s", nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        out[i] = args[i];
    if (kwnames) {
        Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t k = 0; k < nk; k++) {
            PyObject *kw = PyTuple_GET_ITEM(kwnames, k);
            int found = -1;
            for (int i = 0; i < n; i++) {
                if (PyUnicode_CompareWithASCIIString(kw, names[i]) == 0) {
                    found = i;
                    break;
                }
            }
            if (found < 0) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'",
                             fname, kw);
                return -1;
            }
            if (out[found]) {
                PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                             fname, names[found]);
                return -1;
            }
            out[found] = args[nargs + k];
        }
    }
    for (int i = 0; i < nreq; i++) {
        if (!out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname,
                         names[i]);
            return -1;
        }
    }
    return 0;
}

#define NARGS(names) (sizeof(names) / sizeof((names)[0]) - 1)

/* ------------------------------------------------------------------ */
/* Value conversion                                                   */

/* A NUL-terminated UTF-8 view of a str or bytes argument, borrowed from the
 * (immutable) object, so it stays valid while the GIL is released. */
static const char *as_cstr(PyObject *o, const char *what, Py_ssize_t *len_out)
{
    const char *s;
    Py_ssize_t len;
    if (PyUnicode_Check(o)) {
        s = PyUnicode_AsUTF8AndSize(o, &len);
        if (!s)
            return NULL;
    } else if (PyBytes_Check(o)) {
        s = PyBytes_AS_STRING(o);
        len = PyBytes_GET_SIZE(o);
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be str or bytes, not %.100s", what,
                     Py_TYPE(o)->tp_name);
        return NULL;
    }
    if ((size_t)len != strlen(s)) {
        PyErr_Format(PyExc_ValueError, "%s must not contain NUL characters", what);
        return NULL;
    }
    if (len_out)
        *len_out = len;
    return s;
}

/* Same, for str only (names, options, identifiers). */
static const char *as_str(PyObject *o, const char *what)
{
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(o)->tp_name);
        return NULL;
    }
    return as_cstr(o, what, NULL);
}

/* Optional str: NULL or None gives NULL with no error; check PyErr_Occurred. */
static const char *as_opt_str(PyObject *o, const char *what, int *failed)
{
    *failed = 0;
    if (!o || o == Py_None)
        return NULL;
    const char *s = as_str(o, what);
    if (!s)
        *failed = 1;
    return s;
}

/* Bytes in: str (UTF-8), bytes-like (a held Py_buffer) or None (empty). */
typedef struct {
    Py_buffer view;
    int has_view;
    const char *ptr;
    size_t len;
} inbuf;

static int inbuf_get(inbuf *b, PyObject *o, const char *what)
{
    b->has_view = 0;
    b->ptr = NULL;
    b->len = 0;
    if (!o || o == Py_None)
        return 0;
    if (PyUnicode_Check(o)) {
        Py_ssize_t len;
        b->ptr = PyUnicode_AsUTF8AndSize(o, &len);
        if (!b->ptr)
            return -1;
        b->len = (size_t)len;
        return 0;
    }
    if (PyBytes_CheckExact(o)) { /* immutable, and the caller holds it: no view needed */
        b->ptr = PyBytes_AS_STRING(o);
        b->len = (size_t)PyBytes_GET_SIZE(o);
        return 0;
    }
    if (!PyObject_CheckBuffer(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be bytes, a bytes-like object or str, not %.100s",
                     what, Py_TYPE(o)->tp_name);
        return -1;
    }
    if (PyObject_GetBuffer(o, &b->view, PyBUF_SIMPLE) < 0)
        return -1;
    b->has_view = 1;
    b->ptr = b->view.buf;
    b->len = (size_t)b->view.len;
    return 0;
}

static void inbuf_release(inbuf *b)
{
    if (b->has_view) {
        PyBuffer_Release(&b->view);
        b->has_view = 0;
    }
}

/* A secret copied to C memory (NUL-terminated), wiped when released. */
typedef struct {
    char *p;
    size_t len;
} secret;

static void secret_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static int secret_get(secret *s, PyObject *o, const char *what, int allow_none, int allow_nul)
{
    s->p = NULL;
    s->len = 0;
    if (!o || o == Py_None) {
        if (allow_none)
            return 0;
        PyErr_Format(PyExc_TypeError, "%s must be str or bytes, not None", what);
        return -1;
    }
    const char *src;
    Py_ssize_t len;
    Py_buffer view;
    int has_view = 0;
    if (PyUnicode_Check(o)) {
        src = PyUnicode_AsUTF8AndSize(o, &len);
        if (!src)
            return -1;
    } else if (PyBytes_Check(o) || PyByteArray_Check(o) || PyMemoryView_Check(o)) {
        if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) < 0)
            return -1;
        has_view = 1;
        src = view.buf;
        len = view.len;
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be str or bytes, not %.100s", what,
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    if (!allow_nul && memchr(src, 0, (size_t)len)) {
        if (has_view)
            PyBuffer_Release(&view);
        PyErr_Format(PyExc_ValueError, "%s must not contain NUL characters", what);
        return -1;
    }
    s->p = PyMem_RawMalloc((size_t)len + 1);
    if (!s->p) {
        if (has_view)
            PyBuffer_Release(&view);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(s->p, src, (size_t)len);
    s->p[len] = '\0';
    s->len = (size_t)len;
    if (has_view)
        PyBuffer_Release(&view);
    return 0;
}

static void secret_release(secret *s)
{
    if (s->p) {
        secret_wipe(s->p, s->len + 1);
        PyMem_RawFree(s->p);
    }
    s->p = NULL;
    s->len = 0;
}

/* int64 time argument: None -> 0 (the core reads the clock). */
static int as_time(PyObject *o, const char *what, int64_t *out)
{
    *out = 0;
    if (!o || o == Py_None)
        return 0;
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int or None, not %.100s", what,
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v <= 0) {
        PyErr_Format(PyExc_ValueError, "%s must be positive", what);
        return -1;
    }
    *out = v;
    return 0;
}

static int as_long_in(PyObject *o, const char *what, long lo, long hi, long *out)
{
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < lo || v > hi) {
        PyErr_Format(PyExc_ValueError, "%s must be in %ld..%ld", what, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* uint64 from an int or a decimal str (64-bit ids travel as strings). */
static int as_u64(PyObject *o, const char *what, uint64_t *out)
{
    PyObject *num;
    if (PyLong_Check(o)) {
        num = Py_NewRef(o);
    } else if (PyUnicode_Check(o)) {
        num = PyLong_FromUnicodeObject(o, 10);
        if (!num)
            return -1;
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be an int or a decimal str", what);
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(num);
    Py_DECREF(num);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Format(PyExc_ValueError, "%s must be in 0..2**64-1", what);
        return -1;
    }
    *out = v;
    return 0;
}

/* Match a str option against a table; -1 with ValueError if absent. */
typedef struct {
    const char *name;
    int value;
} choice;

static int as_choice(PyObject *o, const char *what, const choice *table, int def)
{
    if (!o || o == Py_None)
        return def;
    const char *s = as_str(o, what);
    if (!s)
        return -1;
    for (const choice *c = table; c->name; c++)
        if (strcasecmp(s, c->name) == 0)
            return c->value;
    PyObject *names = PyList_New(0);
    if (names) {
        for (const choice *c = table; c->name; c++) {
            PyObject *n = PyUnicode_FromString(c->name);
            if (!n || PyList_Append(names, n) < 0) {
                Py_XDECREF(n);
                Py_CLEAR(names);
                break;
            }
            Py_DECREF(n);
        }
    }
    if (names) {
        PyErr_Format(PyExc_ValueError, "%s must be one of %R, not %R", what, names, o);
        Py_DECREF(names);
    }
    return -1;
}

/* JSON helpers (walletsign._types): compact json.dumps -> bytes; json.loads. */
static PyObject *to_json(wsmod_state *st, PyObject *obj)
{
    PyObject *res = PyObject_CallOneArg(st->json_dumps, obj);
    if (res && !PyBytes_Check(res)) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_TypeError, "internal: JSON encoder did not return bytes");
        return NULL;
    }
    return res;
}

static PyObject *raise_wsig(wsmod_state *st, int rc, wsig_error *err);

/* Raise a failure as the core would have reported it (same exception, same
 * attributes): for text from the network that cannot become a str. */
static PyObject *raise_status(wsmod_state *st, int status, int reason, const char *message)
{
    wsig_error err = WSIG_ERROR_INIT;
    err.status = status;
    err.reason = reason;
    snprintf(err.message, sizeof err.message, "%s", message);
    return raise_wsig(st, status, &err);
}

/* The core passes a server's bytes through in JSON text; text that is not
 * UTF-8 is not JSON (RFC 8259) and cannot become a str: a ProtocolError,
 * like any other answer that is not JSON, never a UnicodeDecodeError. */
static PyObject *from_json(wsmod_state *st, const char *text, size_t len)
{
    PyObject *b = PyBytes_FromStringAndSize(text, (Py_ssize_t)len);
    if (!b)
        return NULL;
    PyObject *res = PyObject_CallOneArg(st->json_loads, b);
    Py_DECREF(b);
    if (!res && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        return raise_status(st, WSIG_ERR_PROTOCOL, WSIG_REASON_NONE,
                            "the answer is not JSON: its text is not UTF-8");
    }
    return res;
}

/* Headers given to a verifier: a mapping or an iterable of (name, value)
 * pairs; names and values str (or bytes, read as Latin-1 like HTTP). */
typedef struct {
    PyObject *items; /* list of pairs (keeps the strings alive) */
    PyObject *keep;  /* list of converted strings */
    wsig_header_ref *refs;
    size_t n;
    int has_nul;     /* a header contained NUL: it cannot be passed intact */
} header_list;

static const char *header_text(header_list *h, PyObject *o, const char *what)
{
    if (PyBytes_Check(o)) {
        PyObject *s = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o), NULL);
        if (!s || PyList_Append(h->keep, s) < 0) {
            Py_XDECREF(s);
            return NULL;
        }
        Py_DECREF(s);
        o = s;
    } else if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "header %s must be str or bytes, not %.100s", what,
                     Py_TYPE(o)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(o, &len);
    if (s && (size_t)len != strlen(s))
        h->has_nul = 1;
    return s;
}

static int header_list_get(header_list *h, PyObject *headers)
{
    memset(h, 0, sizeof *h);
    if (PyDict_Check(headers) || (!PyList_Check(headers) && !PyTuple_Check(headers) &&
                                  PyObject_HasAttrString(headers, "items"))) {
        PyObject *items = PyObject_CallMethod(headers, "items", NULL);
        if (!items)
            return -1;
        h->items = PySequence_List(items);
        Py_DECREF(items);
    } else {
        h->items = PySequence_List(headers);
    }
    if (!h->items) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError,
                            "headers must be a mapping or a list of (name, value) pairs");
        }
        return -1;
    }
    h->keep = PyList_New(0);
    if (!h->keep)
        return -1;
    Py_ssize_t n = PyList_GET_SIZE(h->items);
    h->refs = PyMem_Malloc(sizeof *h->refs * (size_t)(n ? n : 1));
    if (!h->refs) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(h->items, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyObject *t = PySequence_Tuple(pair);
            if (!t || PyTuple_GET_SIZE(t) != 2) {
                Py_XDECREF(t);
                PyErr_Clear();
                PyErr_SetString(PyExc_TypeError, "each header must be a (name, value) pair");
                return -1;
            }
            PyList_SET_ITEM(h->items, i, t); /* steals t, drops the old pair */
            Py_DECREF(pair);
            pair = t;
        }
        const char *name = header_text(h, PyTuple_GET_ITEM(pair, 0), "name");
        if (!name)
            return -1;
        const char *value = header_text(h, PyTuple_GET_ITEM(pair, 1), "value");
        if (!value)
            return -1;
        h->refs[i].name = name;
        h->refs[i].value = value;
    }
    h->n = (size_t)n;
    return 0;
}

static void header_list_release(header_list *h)
{
    PyMem_Free(h->refs);
    Py_XDECREF(h->items);
    Py_XDECREF(h->keep);
    memset(h, 0, sizeof *h);
}

/* ------------------------------------------------------------------ */
/* Errors                                                             */

static PyObject *api_error_class(wsmod_state *st, long status)
{
    switch (status) {
    case 400: return st->BadRequest;
    case 401: return st->Unauthorized;
    case 403: return st->Forbidden;
    case 404: return st->NotFound;
    case 410: return st->Gone;
    case 412: return st->PreconditionFailed;
    case 429: return st->RateLimited;
    default:
        return status >= 500 ? st->ServerError
               : status >= 300 && status <= 399 ? st->Redirect
                                                : st->ApiError;
    }
}

static int set_kw(PyObject *kw, const char *name, PyObject *value)
{
    if (!value)
        return -1;
    int rc = PyDict_SetItemString(kw, name, value);
    Py_DECREF(value);
    return rc;
}

static PyObject *opt_text(const char *s)
{
    return *s ? PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace") : Py_NewRef(Py_None);
}

/* Turn a failed status into the matching Python exception. The record is
 * copied, then cleared (freeing body/data_json) before anything is raised.
 * Always returns NULL. */
static PyObject *raise_wsig(wsmod_state *st, int rc, wsig_error *err)
{
    if (!st) { /* the module's state is gone: its exception is already set */
        wsig_error_clear(err);
        return NULL;
    }
    char message[sizeof err->message], code[sizeof err->code];
    memcpy(message, err->message, sizeof message);
    message[sizeof message - 1] = '\0';
    memcpy(code, err->code, sizeof code);
    code[sizeof code - 1] = '\0';
    const char *reason = wsig_reason_name(err->reason);
    long http_status = err->http_status;
    int curl_code = err->curl_code;
    long long rpc_code = err->rpc_code;
    double retry_after = err->retry_after;
    PyObject *body = NULL, *data_json = NULL, *location = NULL;
    if (err->body)
        body = PyBytes_FromStringAndSize(err->body, (Py_ssize_t)err->body_len);
    if (err->data_json)
        data_json = PyBytes_FromString(err->data_json);
    if (err->location)
        location = PyUnicode_DecodeLatin1(err->location, (Py_ssize_t)strlen(err->location), NULL);
    int copy_failed = (err->body && !body) || (err->data_json && !data_json) ||
                      (err->location && !location);
    wsig_error_clear(err);
    if (copy_failed) {
        Py_XDECREF(body);
        Py_XDECREF(data_json);
        Py_XDECREF(location);
        return NULL;
    }
    if (!message[0])
        snprintf(message, sizeof message, "%s", wsig_status_name(rc));

    if (rc == WSIG_ERR_NOMEM) {
        Py_XDECREF(body);
        Py_XDECREF(data_json);
        Py_XDECREF(location);
        return PyErr_NoMemory();
    }
    if (rc == WSIG_ERR_ARG) {
        Py_XDECREF(body);
        Py_XDECREF(data_json);
        Py_XDECREF(location);
        PyErr_SetString(PyExc_ValueError, message);
        return NULL;
    }

    PyObject *cls;
    switch (rc) {
    case WSIG_INVALID: cls = st->SignatureError; break;
    case WSIG_ERR_KEY: cls = st->KeyFormatError; break;
    case WSIG_ERR_PASSWORD: cls = st->PasswordError; break;
    case WSIG_ERR_CRYPTO: cls = st->CryptoError; break;
    case WSIG_ERR_IO: cls = st->FileError; break;
    case WSIG_ERR_PROTOCOL: cls = st->ProtocolError; break;
    case WSIG_ERR_TRANSPORT: cls = st->TransportError; break;
    case WSIG_ERR_TIMEOUT: cls = st->Timeout; break;
    case WSIG_ERR_HTTP: cls = api_error_class(st, http_status); break;
    case WSIG_ERR_RPC: cls = st->RpcError; break;
    default: cls = st->Error; break;
    }

    PyObject *data = NULL;
    if (data_json) {
        data = PyObject_CallOneArg(st->json_loads, data_json);
        if (!data) /* keep the raw text rather than lose the error */
            PyErr_Clear(), data = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(data_json),
                                                       PyBytes_GET_SIZE(data_json), "replace");
    }
    PyObject *kw = PyDict_New();
    PyObject *args = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
    int bad = !kw || !args || (data_json && !data);
    if (!bad) {
        PyObject *t = PyTuple_Pack(1, args);
        Py_DECREF(args);
        args = t;
        bad = !args;
    }
    if (!bad) {
        switch (rc) {
        case WSIG_INVALID: /* status: a signed HTTP answer that failed verification */
            bad = set_kw(kw, "reason", PyUnicode_FromString(reason)) ||
                  set_kw(kw, "status", http_status > 0 ? PyLong_FromLong(http_status)
                                                       : Py_NewRef(Py_None));
            break;
        case WSIG_ERR_TRANSPORT:
        case WSIG_ERR_TIMEOUT:
            bad = set_kw(kw, "curl_code", PyLong_FromLong(curl_code));
            break;
        case WSIG_ERR_PROTOCOL:
            bad = set_kw(kw, "status", http_status > 0 ? PyLong_FromLong(http_status)
                                                       : Py_NewRef(Py_None)) ||
                  set_kw(kw, "body", body ? Py_NewRef(body) : Py_NewRef(Py_None));
            break;
        case WSIG_ERR_HTTP:
            bad = set_kw(kw, "status", PyLong_FromLong(http_status)) ||
                  set_kw(kw, "code", opt_text(code)) ||
                  set_kw(kw, "data", data ? Py_NewRef(data) : Py_NewRef(Py_None)) ||
                  set_kw(kw, "body", body ? Py_NewRef(body) : PyBytes_FromStringAndSize("", 0));
            if (!bad && http_status == 429)
                bad = set_kw(kw, "retry_after", retry_after >= 0 ? PyFloat_FromDouble(retry_after)
                                                                 : Py_NewRef(Py_None));
            if (!bad && cls == st->Redirect)
                bad = set_kw(kw, "location", location ? Py_NewRef(location) : Py_NewRef(Py_None));
            break;
        case WSIG_ERR_RPC:
            bad = set_kw(kw, "code", PyLong_FromLongLong(rpc_code)) ||
                  set_kw(kw, "data", data ? Py_NewRef(data) : Py_NewRef(Py_None)) ||
                  set_kw(kw, "status", http_status > 0 ? PyLong_FromLong(http_status)
                                                       : Py_NewRef(Py_None)) ||
                  set_kw(kw, "body", body ? Py_NewRef(body) : Py_NewRef(Py_None));
            break;
        default:
            break;
        }
    }
    if (!bad) {
        PyObject *exc = PyObject_Call(cls, args, kw);
        if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
    }
    Py_XDECREF(kw);
    Py_XDECREF(args);
    Py_XDECREF(data);
    Py_XDECREF(body);
    Py_XDECREF(data_json);
    Py_XDECREF(location);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Key                                                                */

typedef struct {
    PyObject_HEAD
    wsig_key *key;
} KeyObject;

static PyObject *key_wrap(PyTypeObject *tp, wsig_key *k)
{
    KeyObject *self = (KeyObject *)tp->tp_alloc(tp, 0);
    if (!self) {
        wsig_key_free(k);
        return NULL;
    }
    self->key = k;
    return (PyObject *)self;
}

static void Key_dealloc(KeyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    wsig_key_free(self->key);
    self->key = NULL;
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case WSIG_KEY_P256: return "P-256";
    case WSIG_KEY_RSA: return "RSA";
    case WSIG_KEY_SECP256K1: return "secp256k1";
    default: return "unknown";
    }
}

PyDoc_STRVAR(Key_generate_doc,
"generate($type, /, kind)\n--\n\n"
"Generate a new private key.\n\n"
"kind is \"P-256\" (ES256), \"secp256k1\" (message protocol), \"RSA-4096\"\n"
"(RS256; \"RSA\" alone means 4096) or \"RSA-<bits>\" with 2048..16384 bits.\n"
"Runs without the GIL (RSA-4096 takes a second or more).");

static PyObject *Key_generate(PyTypeObject *cls, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    static const char *const names[] = {"kind", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = state_of_type(cls);
    if (!st || parse_args("generate", names, 1, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *s = as_str(a[0], "kind");
    if (!s)
        return NULL;
    int kind = 0, bits = 0;
    if (strcasecmp(s, "P-256") == 0 || strcasecmp(s, "P256") == 0)
        kind = WSIG_KEY_P256;
    else if (strcasecmp(s, "secp256k1") == 0)
        kind = WSIG_KEY_SECP256K1;
    else if (strcasecmp(s, "RSA") == 0)
        kind = WSIG_KEY_RSA, bits = 4096;
    else if (strncasecmp(s, "RSA-", 4) == 0 && s[4] >= '1' && s[4] <= '9' &&
             strspn(s + 4, "0123456789") == strlen(s + 4) && strlen(s + 4) <= 5)
        kind = WSIG_KEY_RSA, bits = atoi(s + 4);
    if (!kind)
        return PyErr_Format(PyExc_ValueError,
                            "kind must be \"P-256\", \"secp256k1\", \"RSA-4096\" or "
                            "\"RSA-<bits>\", not %R", a[0]);
    if (kind == WSIG_KEY_RSA && (bits < 2048 || bits > 16384))
        return PyErr_Format(PyExc_ValueError, "RSA keys must have 2048..16384 bits, not %d", bits);
    wsig_key *k = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_key_generate(&k, kind, bits, &err);
    Py_END_ALLOW_THREADS
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    return key_wrap(cls, k);
}

PyDoc_STRVAR(Key_load_doc,
"load($type, /, source, password=None)\n--\n\n"
"Load a private or public key.\n\n"
"source is a path (str or os.PathLike) to a PEM or DER file, PEM text (a str\n"
"starting with \"-----BEGIN\"), or bytes holding PEM or DER. Accepted: SEC1\n"
"\"EC PRIVATE KEY\" (P-256, secp256k1), PKCS#1 \"RSA PRIVATE KEY\", PKCS#8\n"
"\"PRIVATE KEY\", \"ENCRYPTED PRIVATE KEY\" (needs password) and \"PUBLIC KEY\".\n"
"Raises KeyFormatError (malformed, unsupported, RSA below 2048 bits),\n"
"PasswordError (missing or wrong password) or FileError.");

static PyObject *Key_load(PyTypeObject *cls, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    static const char *const names[] = {"source", "password", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = state_of_type(cls);
    if (!st || parse_args("load", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    PyObject *src = a[0];
    enum { FROM_FILE, FROM_PEM, FROM_DER } how;
    PyObject *path = NULL;
    inbuf data = {0};
    if (PyUnicode_Check(src)) {
        PyObject *stripped = PyObject_CallMethod(src, "lstrip", NULL);
        if (!stripped)
            return NULL;
        PyObject *prefix = PyUnicode_FromString("-----BEGIN");
        int is_pem = prefix ? PyUnicode_Tailmatch(stripped, prefix, 0, PY_SSIZE_T_MAX, -1) : -1;
        Py_DECREF(stripped);
        Py_XDECREF(prefix);
        if (is_pem < 0)
            return NULL;
        how = is_pem ? FROM_PEM : FROM_FILE;
    } else if (PyObject_CheckBuffer(src)) {
        how = FROM_DER;
    } else if (PyObject_HasAttrString(src, "__fspath__")) {
        how = FROM_FILE;
    } else {
        return PyErr_Format(PyExc_TypeError,
                            "source must be a path, PEM text or bytes, not %.100s",
                            Py_TYPE(src)->tp_name);
    }
    if (how == FROM_FILE) {
        if (!PyUnicode_FSConverter(src, &path))
            return NULL;
        if ((size_t)PyBytes_GET_SIZE(path) != strlen(PyBytes_AS_STRING(path))) {
            Py_DECREF(path);
            return PyErr_Format(PyExc_ValueError, "path must not contain NUL characters");
        }
    } else {
        if (inbuf_get(&data, src, "source") < 0)
            return NULL;
        if (how == FROM_DER && memmem(data.ptr, data.len, "-----BEGIN", 10))
            how = FROM_PEM;
    }
    secret pw;
    if (secret_get(&pw, a[1], "password", 1, 0) < 0) {
        Py_XDECREF(path);
        inbuf_release(&data);
        return NULL;
    }
    wsig_key *k = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    const char *path_c = path ? PyBytes_AS_STRING(path) : NULL;
    Py_BEGIN_ALLOW_THREADS
    if (how == FROM_FILE)
        rc = wsig_key_load_file(&k, path_c, pw.p, &err);
    else if (how == FROM_PEM)
        rc = wsig_key_load_pem(&k, data.ptr ? data.ptr : "", data.len, pw.p, &err);
    else
        rc = wsig_key_load_der(&k, (const unsigned char *)(data.ptr ? data.ptr : ""), data.len,
                               pw.p, &err);
    Py_END_ALLOW_THREADS
    secret_release(&pw);
    inbuf_release(&data);
    Py_XDECREF(path);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    return key_wrap(cls, k);
}

PyDoc_STRVAR(Key_from_hex_doc,
"from_hex($type, /, hex)\n--\n\n"
"A secp256k1 private key from 64 hex digits (optional \"0x\" prefix).\n"
"Raises KeyFormatError for bad hex or an out-of-range scalar.");

static PyObject *Key_from_hex(PyTypeObject *cls, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    static const char *const names[] = {"hex", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = state_of_type(cls);
    if (!st || parse_args("from_hex", names, 1, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    secret hex;
    if (secret_get(&hex, a[0], "hex", 0, 0) < 0)
        return NULL;
    wsig_key *k = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_key_from_hex(&k, hex.p, &err);
    Py_END_ALLOW_THREADS
    secret_release(&hex);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    return key_wrap(cls, k);
}

PyDoc_STRVAR(Key_public_pem_doc,
"public_pem($self, /)\n--\n\nThe public key as SubjectPublicKeyInfo PEM (\"PUBLIC KEY\").");

static PyObject *Key_public_pem(KeyObject *self, PyObject *Py_UNUSED(ignored))
{
    wsmod_state *st = STATE_OF(self);
    if (!st)
        return NULL;
    char *out = NULL;
    size_t len = 0;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_key_public_pem(self->key, &out, &len, &err);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *res = PyUnicode_DecodeASCII(out, (Py_ssize_t)len, "strict");
    wsig_free(out);
    return res;
}

PyDoc_STRVAR(Key_private_pem_doc,
"private_pem($self, /, password=None)\n--\n\n"
"The private key as PKCS#8 PEM; with a password, \"ENCRYPTED PRIVATE KEY\"\n"
"(PBES2, AES-256-CBC, PBKDF2). Raises KeyFormatError for a public key.");

static PyObject *Key_private_pem(KeyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    static const char *const names[] = {"password", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || parse_args("private_pem", names, 1, 0, args, nargs, kwnames, a) < 0)
        return NULL;
    secret pw;
    if (secret_get(&pw, a[0], "password", 1, 0) < 0)
        return NULL;
    char *out = NULL;
    size_t len = 0;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_key_private_pem(self->key, &out, &len, pw.p, &err);
    Py_END_ALLOW_THREADS
    secret_release(&pw);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *res = PyUnicode_DecodeASCII(out, (Py_ssize_t)len, "strict");
    wsig_free_secret(out, len);
    return res;
}

PyDoc_STRVAR(Key_save_doc,
"save($self, /, path, password=None)\n--\n\n"
"Write the private key as PKCS#8 PEM (encrypted when a password is given) to\n"
"path with mode 0600, replacing it atomically.");

static PyObject *Key_save(KeyObject *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    static const char *const names[] = {"path", "password", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || parse_args("save", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    PyObject *path = NULL;
    if (!PyUnicode_FSConverter(a[0], &path))
        return NULL;
    if ((size_t)PyBytes_GET_SIZE(path) != strlen(PyBytes_AS_STRING(path))) {
        Py_DECREF(path);
        return PyErr_Format(PyExc_ValueError, "path must not contain NUL characters");
    }
    secret pw;
    if (secret_get(&pw, a[1], "password", 1, 0) < 0) {
        Py_DECREF(path);
        return NULL;
    }
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_key_save(self->key, p, pw.p, &err);
    Py_END_ALLOW_THREADS
    secret_release(&pw);
    Py_DECREF(path);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Key_csr_doc,
"csr($self, /, subject)\n--\n\n"
"A PKCS#10 certificate signing request (PEM, SHA-256) for a P-256 or RSA\n"
"private key, e.g. csr(\"/C=MY/O=Example/CN=example.com\") (openssl's form;\n"
"'\\' escapes '/', '=' and '\\'). This is what Halogen's Settings -> API Keys\n"
"page asks for.");

static PyObject *Key_csr(KeyObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    static const char *const names[] = {"subject", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || parse_args("csr", names, 1, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *subject = as_str(a[0], "subject");
    if (!subject)
        return NULL;
    char *out = NULL;
    size_t len = 0;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_key_csr(self->key, &out, &len, subject, &err);
    Py_END_ALLOW_THREADS
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *res = PyUnicode_DecodeASCII(out, (Py_ssize_t)len, "strict");
    wsig_free(out);
    return res;
}

static PyObject *Key_get_kind(KeyObject *self, void *closure)
{
    return PyUnicode_FromString(kind_name(wsig_key_kind_of(self->key)));
}

static PyObject *Key_get_algorithm(KeyObject *self, void *closure)
{
    return PyUnicode_FromString(wsig_key_algorithm(self->key));
}

static PyObject *Key_get_bits(KeyObject *self, void *closure)
{
    return PyLong_FromLong(wsig_key_bits(self->key));
}

static PyObject *Key_get_is_private(KeyObject *self, void *closure)
{
    return PyBool_FromLong(wsig_key_is_private(self->key));
}

static PyObject *Key_get_address(KeyObject *self, void *closure)
{
    if (wsig_key_kind_of(self->key) != WSIG_KEY_SECP256K1)
        Py_RETURN_NONE;
    wsmod_state *st = STATE_OF(self);
    if (!st)
        return NULL;
    char addr[43];
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_key_address(self->key, addr, &err);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    return PyUnicode_FromString(addr);
}

static PyObject *Key_repr(KeyObject *self)
{
    int kind = wsig_key_kind_of(self->key);
    const char *vis = wsig_key_is_private(self->key) ? "private" : "public";
    if (kind == WSIG_KEY_RSA)
        return PyUnicode_FromFormat("<walletsign.Key RSA-%d %s>", wsig_key_bits(self->key), vis);
    if (kind == WSIG_KEY_SECP256K1) {
        PyObject *addr = Key_get_address(self, NULL);
        if (!addr)
            return NULL;
        PyObject *r = PyUnicode_FromFormat("<walletsign.Key secp256k1 %s address=%U>", vis, addr);
        Py_DECREF(addr);
        return r;
    }
    return PyUnicode_FromFormat("<walletsign.Key %s %s>", kind_name(kind), vis);
}

static PyObject *Key_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyErr_Format(PyExc_TypeError,
                        "walletsign.Key cannot be pickled (it may hold a private key); "
                        "use private_pem() or save() explicitly");
}

static PyMethodDef Key_methods[] = {
    {"generate", (PyCFunction)(void (*)(void))Key_generate,
     METH_FASTCALL | METH_KEYWORDS | METH_CLASS, Key_generate_doc},
    {"load", (PyCFunction)(void (*)(void))Key_load, METH_FASTCALL | METH_KEYWORDS | METH_CLASS,
     Key_load_doc},
    {"from_hex", (PyCFunction)(void (*)(void))Key_from_hex,
     METH_FASTCALL | METH_KEYWORDS | METH_CLASS, Key_from_hex_doc},
    {"public_pem", (PyCFunction)Key_public_pem, METH_NOARGS, Key_public_pem_doc},
    {"private_pem", (PyCFunction)(void (*)(void))Key_private_pem, METH_FASTCALL | METH_KEYWORDS,
     Key_private_pem_doc},
    {"save", (PyCFunction)(void (*)(void))Key_save, METH_FASTCALL | METH_KEYWORDS, Key_save_doc},
    {"csr", (PyCFunction)(void (*)(void))Key_csr, METH_FASTCALL | METH_KEYWORDS, Key_csr_doc},
    {"__reduce__", Key_reduce, METH_NOARGS, "Keys refuse to be pickled."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Key_getset[] = {
    {"kind", (getter)Key_get_kind, NULL, "\"P-256\", \"RSA\" or \"secp256k1\".", NULL},
    {"algorithm", (getter)Key_get_algorithm, NULL, "\"ES256\", \"RS256\" or \"ES256K\".", NULL},
    {"bits", (getter)Key_get_bits, NULL, "Key size in bits (256 for the curves).", NULL},
    {"is_private", (getter)Key_get_is_private, NULL, "True when the key holds private material.",
     NULL},
    {"address", (getter)Key_get_address, NULL,
     "EIP-55 Ethereum address (\"0x\" + 40 hex) of a secp256k1 key; None for other kinds.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(Key_doc,
"A P-256, RSA or secp256k1 key held by the C core.\n\n"
"Make one with Key.generate(), Key.load() or Key.from_hex(). Key material\n"
"never appears in repr() and is wiped when the key is freed.");

static PyType_Slot Key_slots[] = {
    {Py_tp_dealloc, Key_dealloc},
    {Py_tp_repr, Key_repr},
    {Py_tp_methods, Key_methods},
    {Py_tp_getset, Key_getset},
    {Py_tp_doc, (void *)Key_doc},
    {0, NULL},
};

static PyType_Spec Key_spec = {
    .name = "walletsign.Key",
    .basicsize = sizeof(KeyObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Key_slots,
};

static wsig_key *key_arg(wsmod_state *st, PyObject *o, const char *what)
{
    if (!PyObject_TypeCheck(o, st->Key_Type)) {
        PyErr_Format(PyExc_TypeError, "%s must be a walletsign.Key, not %.100s", what,
                     Py_TYPE(o)->tp_name);
        return NULL;
    }
    return ((KeyObject *)o)->key;
}

/* ------------------------------------------------------------------ */
/* Auth: JwtAuth, HmacAuth, MessageAuth share one layout and sign()   */

typedef struct {
    PyObject_HEAD
    wsig_auth *auth;
    PyObject *label;   /* key id / api key (not secret), for repr */
    char address[43];  /* MessageAuth only */
    PyObject *last[WSIG_MAX_HEADERS][2]; /* str objects of the last headers made */
} AuthObject;

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
    if (parse_args("sign", names, 3, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    if (!self->auth)
        return PyErr_Format(PyExc_TypeError, "uninitialised auth object");
    const char *method = as_cstr(a[0], "method", NULL);
    const char *path = method ? as_cstr(a[1], "path", NULL) : NULL;
    int64_t ts;
    if (!path || as_time(a[3], "timestamp", &ts) < 0)
        return NULL;
    inbuf body;
    if (inbuf_get(&body, a[2], "body") < 0)
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
    inbuf_release(&body);
    if (rc != WSIG_OK)
        return raise_wsig(STATE_OF(self), rc, &err);
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

static PyType_Spec Auth_spec = {
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
    wsmod_state *st = state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OO:JwtAuth", kwlist, &key_o,
                                            &kid_o, &ttl_o, &fmt_o))
        return NULL;
    wsig_key *key = key_arg(st, key_o, "key");
    const char *kid = key ? as_str(kid_o, "key_id") : NULL;
    if (!kid)
        return NULL;
    long ttl = 10;
    if (ttl_o && as_long_in(ttl_o, "ttl", 1, 3600, &ttl) < 0)
        return NULL;
    static const choice formats[] = {{"der", WSIG_JWT_DER}, {"raw", WSIG_JWT_RAW}, {NULL, 0}};
    int fmt = as_choice(fmt_o, "signature_format", formats, WSIG_JWT_DER);
    if (fmt < 0)
        return NULL;
    wsig_jwt_options opt = {(int)ttl, fmt};
    wsig_auth *auth = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_auth_jwt_new(&auth, key, kid, &opt, &err);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
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
    if (!st || parse_args("token", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *uri = as_cstr(a[0], "uri", NULL);
    int64_t now;
    if (!uri || as_time(a[2], "now", &now) < 0)
        return NULL;
    inbuf body;
    if (inbuf_get(&body, a[1], "body") < 0)
        return NULL;
    char *token = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_jwt_token(self->auth, &token, uri, body.ptr, body.len, now, &err);
    Py_END_ALLOW_THREADS
    inbuf_release(&body);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
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
    if (!st || parse_args("_token_fixed", names, 4, 4, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *uri = as_cstr(a[0], "uri", NULL);
    const char *nonce_hex = uri ? as_str(a[3], "nonce_hex") : NULL;
    if (!nonce_hex)
        return NULL;
    long long iat = PyLong_AsLongLong(a[2]);
    if (iat == -1 && PyErr_Occurred())
        return NULL;
    inbuf body;
    if (inbuf_get(&body, a[1], "body") < 0)
        return NULL;
    char *token = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_jwt_token_fixed(self->auth, &token, uri, body.ptr, body.len, iat, nonce_hex, &err);
    Py_END_ALLOW_THREADS
    inbuf_release(&body);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
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

static PyType_Spec JwtAuth_spec = {
    .name = "walletsign.JwtAuth",
    .basicsize = sizeof(AuthObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = JwtAuth_slots,
};

/* ---- HmacAuth */

static const choice hmac_encodings[] = {
    {"base64", WSIG_HMAC_BASE64}, {"hex", WSIG_HMAC_HEX}, {NULL, 0}};

/* Fill options from Python values; strings are borrowed from the objects. */
static int hmac_options(wsig_hmac_options *o, PyObject *enc, PyObject *sep, PyObject *akh,
                        PyObject *sigh, PyObject *tsh)
{
    int failed;
    memset(o, 0, sizeof *o);
    o->encoding = as_choice(enc, "encoding", hmac_encodings, WSIG_HMAC_BASE64);
    if (o->encoding < 0)
        return -1;
    o->separator = as_opt_str(sep, "separator", &failed);
    if (failed)
        return -1;
    o->api_key_header = as_opt_str(akh, "api_key_header", &failed);
    if (failed)
        return -1;
    o->signature_header = as_opt_str(sigh, "signature_header", &failed);
    if (failed)
        return -1;
    o->timestamp_header = as_opt_str(tsh, "timestamp_header", &failed);
    return failed ? -1 : 0;
}

static PyObject *HmacAuth_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"api_key", "secret", "encoding", "separator", "api_key_header",
                             "signature_header", "timestamp_header", NULL};
    PyObject *ak_o, *secret_o, *enc = NULL, *sep = NULL, *akh = NULL, *sigh = NULL, *tsh = NULL;
    wsmod_state *st = state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OO$OOO:HmacAuth", kwlist, &ak_o,
                                            &secret_o, &enc, &sep, &akh, &sigh, &tsh))
        return NULL;
    const char *api_key = as_str(ak_o, "api_key");
    if (!api_key)
        return NULL;
    wsig_hmac_options opt;
    if (hmac_options(&opt, enc, sep, akh, sigh, tsh) < 0)
        return NULL;
    secret sec;
    if (secret_get(&sec, secret_o, "secret", 0, 1) < 0)
        return NULL;
    wsig_auth *auth = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_auth_hmac_new(&auth, api_key, sec.p, sec.len, &opt, &err);
    secret_release(&sec);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
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

static PyType_Spec HmacAuth_spec = {
    .name = "walletsign.HmacAuth",
    .basicsize = sizeof(AuthObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = HmacAuth_slots,
};

/* ---- MessageAuth */

static const choice digests[] = {{"sha256", WSIG_DIGEST_SHA256},
                                 {"keccak256", WSIG_DIGEST_KECCAK256},
                                 {"eip191", WSIG_DIGEST_EIP191},
                                 {NULL, 0}};

static PyObject *MessageAuth_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"key", "encoding", "v_offset", "empty_body", "digest", "prefix",
                             NULL};
    PyObject *key_o, *enc_o = NULL, *voff_o = NULL, *empty_o = NULL, *digest_o = NULL;
    int prefix = 1;
    wsmod_state *st = state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOOOp:MessageAuth", kwlist, &key_o,
                                            &enc_o, &voff_o, &empty_o, &digest_o, &prefix))
        return NULL;
    wsig_key *key = key_arg(st, key_o, "key");
    if (!key)
        return NULL;
    static const choice encodings[] = {{"rsv", WSIG_MSG_RSV},
                                       {"der_hex", WSIG_MSG_DER_HEX},
                                       {"der_base64", WSIG_MSG_DER_BASE64},
                                       {NULL, 0}};
    static const choice empties[] = {
        {"omit", WSIG_EMPTY_OMIT}, {"separator", WSIG_EMPTY_SEPARATOR}, {NULL, 0}};
    wsig_message_options opt = WSIG_MESSAGE_OPTIONS_INIT;
    long voff = 27;
    if ((opt.encoding = as_choice(enc_o, "encoding", encodings, WSIG_MSG_RSV)) < 0 ||
        (opt.empty_body = as_choice(empty_o, "empty_body", empties, WSIG_EMPTY_OMIT)) < 0 ||
        (opt.digest = as_choice(digest_o, "digest", digests, WSIG_DIGEST_SHA256)) < 0)
        return NULL;
    if (voff_o && as_long_in(voff_o, "v_offset", 0, 27, &voff) < 0)
        return NULL;
    if (voff != 0 && voff != 27)
        return PyErr_Format(PyExc_ValueError, "v_offset must be 27 or 0, not %ld", voff);
    opt.v_offset = (int)voff;
    opt.no_prefix = !prefix;
    wsig_auth *auth = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_auth_message_new(&auth, key, &opt, &err);
    if (rc == WSIG_OK) {
        char addr[43];
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
    return raise_wsig(st, rc, &err);
}

static PyObject *MessageAuth_get_session(AuthObject *self, void *closure)
{
    wsmod_state *st = STATE_OF(self);
    if (!st)
        return NULL;
    char session[24];
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_auth_message_session(self->auth, session, &err);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
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
    if (!st || parse_args("_sign_fixed", names, 4, 4, args, nargs, kwnames, a) < 0)
        return NULL;
    uint64_t session, sequence;
    int64_t ts;
    if (as_u64(a[0], "session", &session) < 0 || as_u64(a[1], "sequence", &sequence) < 0 ||
        as_time(a[3], "timestamp", &ts) < 0)
        return NULL;
    inbuf body;
    if (inbuf_get(&body, a[2], "body") < 0)
        return NULL;
    wsig_headers h;
    wsig_error err;
    WSIG_ERROR_PREPARE(&err);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_message_sign_fixed(self->auth, &h, session, sequence, body.ptr, body.len, ts, &err);
    Py_END_ALLOW_THREADS
    inbuf_release(&body);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
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

static PyType_Spec MessageAuth_spec = {
    .name = "walletsign.MessageAuth",
    .basicsize = sizeof(AuthObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = MessageAuth_slots,
};

/* ------------------------------------------------------------------ */
/* Verification                                                       */

PyDoc_STRVAR(verify_jwt_doc,
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

static PyObject *verify_jwt(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    static const char *const names[] = {"token", "key", "leeway", "now", "uri", "body", "max_ttl",
                                        NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = state_of_module(module);
    if (parse_args("verify_jwt", names, 2, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    Py_ssize_t token_len;
    const char *token = as_cstr(a[0], "token", &token_len);
    if (!token)
        return NULL;
    long leeway = 0, max_ttl = 0;
    int64_t now;
    int failed;
    /* The core checks the ranges; INT_MAX only keeps the conversion exact. */
    if ((a[2] && as_long_in(a[2], "leeway", INT_MIN, INT_MAX, &leeway) < 0) ||
        (a[6] && as_long_in(a[6], "max_ttl", INT_MIN, INT_MAX, &max_ttl) < 0) ||
        as_time(a[3], "now", &now) < 0)
        return NULL;
    wsig_jwt_verify_options opt = {(int)leeway, (int)max_ttl};
    const char *uri = as_opt_str(a[4], "uri", &failed);
    if (failed)
        return NULL;
    wsig_key *key = NULL;
    inbuf pem = {0};
    if (PyObject_TypeCheck(a[1], st->Key_Type)) {
        key = ((KeyObject *)a[1])->key;
    } else if (PyUnicode_Check(a[1]) || PyBytes_Check(a[1])) {
        if (inbuf_get(&pem, a[1], "key") < 0)
            return NULL;
    } else {
        return PyErr_Format(PyExc_TypeError,
                            "key must be a walletsign.Key or public-key PEM, not %.100s",
                            Py_TYPE(a[1])->tp_name);
    }
    inbuf body = {0};
    if (a[5] && a[5] != Py_None && inbuf_get(&body, a[5], "body") < 0) {
        inbuf_release(&pem);
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
    inbuf_release(&pem);
    inbuf_release(&body);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *claims = Py_BuildValue("{s:s,s:s,s:L,s:L,s:s,s:s,s:s}", "kid", c.kid, "sub", c.sub,
                                     "iat", (long long)c.iat, "exp", (long long)c.exp, "nonce",
                                     c.nonce, "bodyHash", c.body_hash, "uri", c.uri);
    if (!claims && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        /* The core refuses such tokens as malformed; should one get through,
         * it is refused the same way here, not with a UnicodeDecodeError. */
        PyErr_Clear();
        return raise_status(st, WSIG_INVALID, WSIG_REASON_MALFORMED, "JWT claims are not UTF-8");
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
    wsmod_state *st = state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOO$OOOpO:HmacVerifier", kwlist,
                                            &secrets_o, &win_o, &enc, &sep, &akh, &sigh, &tsh,
                                            &replay_cache, &cache_o))
        return NULL;
    long cache_size = 0;
    /* size_t needs >= 0; the core checks the range. */
    if (cache_o && as_long_in(cache_o, "cache_size", 0, LONG_MAX, &cache_size) < 0)
        return NULL;
    if (!PyDict_Check(secrets_o) && !PyObject_HasAttrString(secrets_o, "items"))
        return PyErr_Format(PyExc_TypeError, "secrets must be a mapping of api_key -> secret");
    long window = 30000;
    if (win_o && as_long_in(win_o, "window_ms", 1, 86400000L, &window) < 0)
        return NULL;
    wsig_hmac_options opt;
    if (hmac_options(&opt, enc, sep, akh, sigh, tsh) < 0)
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
        const char *api_key = as_str(PyTuple_GET_ITEM(pair, 0), "api_key");
        if (!api_key)
            goto fail;
        secret sec;
        if (secret_get(&sec, PyTuple_GET_ITEM(pair, 1), "secret", 0, 1) < 0)
            goto fail;
        rc = wsig_hmac_verifier_add(v, api_key, sec.p, sec.len, &err);
        secret_release(&sec);
    }
    Py_DECREF(list);
    list = NULL;
    if (rc == WSIG_OK && replay_cache)
        rc = wsig_hmac_verifier_replay_cache(v, (size_t)cache_size, &err);
    if (rc != WSIG_OK) {
        wsig_hmac_verifier_free(v);
        return raise_wsig(st, rc, &err);
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
"headers: a mapping or a list of (name, value) pairs; names match\n"
"case-insensitively. now: Unix ms (None: the clock). Raises SignatureError\n"
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
    if (!st || parse_args("verify", names, 4, 3, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *method = as_cstr(a[0], "method", NULL);
    const char *path = method ? as_cstr(a[1], "path", NULL) : NULL;
    int64_t now;
    if (!path || as_time(a[4], "now", &now) < 0)
        return NULL;
    header_list hl;
    if (header_list_get(&hl, a[2]) < 0) {
        header_list_release(&hl);
        return NULL;
    }
    inbuf body;
    if (inbuf_get(&body, a[3], "body") < 0) {
        header_list_release(&hl);
        return NULL;
    }
    char api_key[WSIG_HEADER_VALUE_MAX];
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    int has_nul = hl.has_nul;
    if (!has_nul) {
        Py_BEGIN_ALLOW_THREADS
        rc = wsig_hmac_verify(self->v, api_key, method, path, hl.refs, hl.n, body.ptr, body.len,
                              now, &err);
        Py_END_ALLOW_THREADS
    }
    inbuf_release(&body);
    header_list_release(&hl);
    if (has_nul) {
        err.status = WSIG_INVALID;
        err.reason = WSIG_REASON_MALFORMED_HEADER;
        snprintf(err.message, sizeof err.message, "a header contains a NUL character");
        rc = WSIG_INVALID;
    }
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
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

static PyType_Spec HmacVerifier_spec = {
    .name = "walletsign.HmacVerifier",
    .basicsize = sizeof(HmacVerifierObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = HmacVerifier_slots,
};

/* ---- MessageVerifier */

typedef struct {
    PyObject_HEAD
    wsig_msg_verifier *v;
} MessageVerifierObject;

static void MessageVerifier_dealloc(MessageVerifierObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    wsig_msg_verifier_free(self->v);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *MessageVerifier_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"trusted", "window_ms", "cache_size", "digest", "replay_cache",
                             NULL};
    PyObject *trusted_o, *win_o = NULL, *cache_o = NULL, *digest_o = NULL;
    int replay_cache = 1;
    wsmod_state *st = state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOO$p:MessageVerifier", kwlist,
                                            &trusted_o, &win_o, &cache_o, &digest_o,
                                            &replay_cache))
        return NULL;
    if (PyUnicode_Check(trusted_o) || PyBytes_Check(trusted_o))
        return PyErr_Format(PyExc_TypeError, "trusted must be a list of addresses, not a string");
    wsig_msg_verifier_options opt = {0};
    long window = 60000, cache = 100000;
    if ((win_o && as_long_in(win_o, "window_ms", 1, 86400000L, &window) < 0) ||
        (cache_o && as_long_in(cache_o, "cache_size", 1, 100000000L, &cache) < 0))
        return NULL;
    if ((opt.digest = as_choice(digest_o, "digest", digests, WSIG_DIGEST_SHA256)) < 0)
        return NULL;
    opt.window_ms = window;
    opt.cache_size = (size_t)cache;
    opt.no_replay_cache = !replay_cache;
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
        addrs[i] = as_str(PyList_GET_ITEM(list, i), "trusted address");
        if (!addrs[i]) {
            PyMem_Free(addrs);
            Py_DECREF(list);
            return NULL;
        }
    }
    wsig_msg_verifier *v = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_msg_verifier_new(&v, addrs, (size_t)n, &opt, &err);
    PyMem_Free(addrs);
    Py_DECREF(list);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    MessageVerifierObject *self = (MessageVerifierObject *)tp->tp_alloc(tp, 0);
    if (!self) {
        wsig_msg_verifier_free(v);
        return NULL;
    }
    self->v = v;
    return (PyObject *)self;
}

PyDoc_STRVAR(MessageVerifier_verify_doc,
"verify($self, /, headers, body=b'', *, now=None)\n--\n\n"
"Verify a signed message (a Wallet Manager callback, or a request to one) and\n"
"return a Message(address, session, sequence, timestamp).\n\n"
"headers: a mapping or a list of (name, value) pairs; names match\n"
"case-insensitively. now: Unix ms (None: the clock). Raises SignatureError\n"
"with .reason missing_header, malformed_header, stale_timestamp,\n"
"bad_signature, untrusted_address or replay. A verified message is recorded,\n"
"so delivering it again is refused as a replay.");

static PyObject *MessageVerifier_verify(MessageVerifierObject *self, PyObject *const *args,
                                        Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"headers", "body", "now", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || parse_args("verify", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    int64_t now;
    if (as_time(a[2], "now", &now) < 0)
        return NULL;
    header_list hl;
    if (header_list_get(&hl, a[0]) < 0) {
        header_list_release(&hl);
        return NULL;
    }
    inbuf body;
    if (inbuf_get(&body, a[1], "body") < 0) {
        header_list_release(&hl);
        return NULL;
    }
    wsig_message m;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    int has_nul = hl.has_nul;
    if (!has_nul) {
        Py_BEGIN_ALLOW_THREADS
        rc = wsig_msg_verify(self->v, &m, hl.refs, hl.n, body.ptr, body.len, now, &err);
        Py_END_ALLOW_THREADS
    }
    inbuf_release(&body);
    header_list_release(&hl);
    if (has_nul) {
        err.status = WSIG_INVALID;
        err.reason = WSIG_REASON_MALFORMED_HEADER;
        snprintf(err.message, sizeof err.message, "a header contains a NUL character");
        rc = WSIG_INVALID;
    }
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    return PyObject_CallFunction(st->Message, "sssL", m.address, m.session, m.sequence,
                                 (long long)m.timestamp_ms);
}

static PyMethodDef MessageVerifier_methods[] = {
    {"verify", (PyCFunction)(void (*)(void))MessageVerifier_verify,
     METH_FASTCALL | METH_KEYWORDS, MessageVerifier_verify_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(MessageVerifier_doc,
"MessageVerifier(trusted, window_ms=60000, cache_size=100000, digest='sha256', *,\n"
"                replay_cache=True)\n--\n\n"
"Merchant side of MessageAuth: accepts messages signed by one of the trusted\n"
"addresses (any case), with a timestamp within window_ms of now, never seen\n"
"before (a bounded replay cache of cache_size entries; replay_cache=False\n"
"leaves replay protection to the caller). Shareable between threads.");

static PyType_Slot MessageVerifier_slots[] = {
    {Py_tp_new, MessageVerifier_new},
    {Py_tp_dealloc, MessageVerifier_dealloc},
    {Py_tp_methods, MessageVerifier_methods},
    {Py_tp_doc, (void *)MessageVerifier_doc},
    {0, NULL},
};

static PyType_Spec MessageVerifier_spec = {
    .name = "walletsign.MessageVerifier",
    .basicsize = sizeof(MessageVerifierObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = MessageVerifier_slots,
};

/* ------------------------------------------------------------------ */
/* JSON-RPC envelope                                                  */

PyDoc_STRVAR(rpc_result_doc,
"rpc_result($module, /, result)\n--\n\n"
"The Wallet Manager success body {\"result\": result} as bytes (result is any\n"
"JSON-serialisable value).");

static PyObject *rpc_result(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    static const char *const names[] = {"result", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = state_of_module(module);
    if (parse_args("rpc_result", names, 1, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    PyObject *json = to_json(st, a[0]);
    if (!json)
        return NULL;
    char *out = NULL;
    size_t len = 0;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_rpc_result(&out, &len, PyBytes_AS_STRING(json), (size_t)PyBytes_GET_SIZE(json),
                             &err);
    Py_DECREF(json);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *res = PyBytes_FromStringAndSize(out, (Py_ssize_t)len);
    wsig_free(out);
    return res;
}

PyDoc_STRVAR(rpc_error_doc,
"rpc_error($module, /, code, message, data=None)\n--\n\n"
"The Wallet Manager failure body {\"error\": {\"code\", \"message\"[, \"data\"]}} as bytes.");

static PyObject *rpc_error(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    static const char *const names[] = {"code", "message", "data", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = state_of_module(module);
    if (parse_args("rpc_error", names, 3, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    if (!PyLong_Check(a[0]) || PyBool_Check(a[0]))
        return PyErr_Format(PyExc_TypeError, "code must be an int");
    long long code = PyLong_AsLongLong(a[0]);
    if (code == -1 && PyErr_Occurred())
        return NULL;
    const char *message = as_str(a[1], "message");
    if (!message)
        return NULL;
    PyObject *json = NULL;
    if (a[2] && a[2] != Py_None && !(json = to_json(st, a[2])))
        return NULL;
    char *out = NULL;
    size_t len = 0;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_rpc_error(&out, &len, code, message, json ? PyBytes_AS_STRING(json) : NULL,
                            &err);
    Py_XDECREF(json);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *res = PyBytes_FromStringAndSize(out, (Py_ssize_t)len);
    wsig_free(out);
    return res;
}

PyDoc_STRVAR(rpc_parse_doc,
"rpc_parse($module, /, body)\n--\n\n"
"Parse a Wallet Manager response body and return its result (decoded JSON).\n"
"An error object raises RpcError(code, message, data); anything else\n"
"ProtocolError.");

static PyObject *rpc_parse(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    static const char *const names[] = {"body", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = state_of_module(module);
    if (parse_args("rpc_parse", names, 1, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    inbuf body;
    if (a[0] == Py_None)
        return PyErr_Format(PyExc_TypeError, "body must be bytes or str, not None");
    if (inbuf_get(&body, a[0], "body") < 0)
        return NULL;
    char *out = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_rpc_parse(&out, body.ptr ? body.ptr : "", body.len, &err);
    inbuf_release(&body);
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *res = from_json(st, out, strlen(out));
    wsig_free(out);
    return res;
}

/* ------------------------------------------------------------------ */
/* Client                                                             */

typedef struct {
    PyObject_HEAD
    wsig_client *client;
    PyObject *auth;     /* borrowed by the C client: kept alive here */
    PyObject *verifier; /* idem */
    PyObject *base_url;
    PyThread_type_lock lock; /* a wsig_client is one-thread-at-a-time */
} ClientObject;

static int Client_traverse(ClientObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->auth);
    Py_VISIT(self->verifier);
    return 0;
}

/* Free the C client before dropping the objects it borrows. */
static void client_close(ClientObject *self)
{
    if (self->client) {
        wsig_client_free(self->client);
        self->client = NULL;
    }
}

static int Client_clear(ClientObject *self)
{
    client_close(self);
    Py_CLEAR(self->auth);
    Py_CLEAR(self->verifier);
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

static PyObject *Client_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"base_url", "auth", "timeout", "connect_timeout", "retries",
                             "rate_limit", "verify", "user_agent", "response_verifier", NULL};
    PyObject *url_o, *auth_o, *retries_o = Py_None, *rate_o = NULL, *verify_o = Py_True,
                              *ua_o = Py_None, *rv_o = Py_None;
    double timeout = 10.0, connect_timeout = 5.0;
    wsmod_state *st = state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "OO|$ddOOOOO:Client", kwlist, &url_o,
                                            &auth_o, &timeout, &connect_timeout, &retries_o,
                                            &rate_o, &verify_o, &ua_o, &rv_o))
        return NULL;
    const char *url = as_str(url_o, "base_url");
    if (!url)
        return NULL;
    if (!PyObject_TypeCheck(auth_o, st->Auth_Type))
        return PyErr_Format(PyExc_TypeError,
                            "auth must be a JwtAuth, HmacAuth or MessageAuth, not %.100s",
                            Py_TYPE(auth_o)->tp_name);
    if (!(timeout > 0) || !(connect_timeout > 0))
        return PyErr_Format(PyExc_ValueError, "timeouts must be positive numbers of seconds");
    wsig_client_options opt;
    memset(&opt, 0, sizeof opt);
    opt.timeout = timeout;
    opt.connect_timeout = connect_timeout;
    opt.binding = "python";
    if (retries_o != Py_None) {
        long r;
        if (as_long_in(retries_o, "retries", 0, 100, &r) < 0)
            return NULL;
        opt.max_retries = r == 0 ? -1 : (int)r;
    }
    if (rate_o == Py_None) {
        opt.rate = -1;
    } else if (rate_o) {
        double rate, burst;
        PyObject *pair = PyTuple_Check(rate_o) || PyList_Check(rate_o) ? PySequence_Tuple(rate_o)
                                                                      : NULL;
        int ok = pair && PyArg_ParseTuple(pair, "dd", &rate, &burst);
        Py_XDECREF(pair);
        if (!ok) {
            if (!pair || PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyErr_SetString(PyExc_TypeError,
                                "rate_limit must be (requests_per_second, burst) or None");
            }
            return NULL;
        }
        if (!(rate > 0) || !(burst >= 1))
            return PyErr_Format(PyExc_ValueError,
                                "rate_limit must have a positive rate and a burst >= 1");
        opt.rate = rate;
        opt.burst = burst;
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
    opt.user_agent = as_opt_str(ua_o, "user_agent", &failed);
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
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_client_new(&self->client, url, ((AuthObject *)auth_o)->auth, &opt, &err);
    Py_XDECREF(ca);
    if (rc != WSIG_OK) {
        self->client = NULL;
        Py_DECREF(self);
        return raise_wsig(st, rc, &err);
    }
    wsig_error_clear(&err);
    self->auth = Py_NewRef(auth_o);
    self->verifier = rv_o != Py_None ? Py_NewRef(rv_o) : NULL;
    self->base_url = Py_NewRef(url_o);
    return (PyObject *)self;
}

/* Run one client call without the GIL, serialised on the client's lock. */
#define CLIENT_CALL(self, rc, call)                                                     \
    do {                                                                                \
        Py_BEGIN_ALLOW_THREADS                                                          \
        PyThread_acquire_lock((self)->lock, WAIT_LOCK);                                 \
        (rc) = (self)->client ? (call) : -1;                                            \
        PyThread_release_lock((self)->lock);                                            \
        Py_END_ALLOW_THREADS                                                            \
    } while (0)

static PyObject *closed_error(void)
{
    PyErr_SetString(PyExc_ValueError, "the client is closed");
    return NULL;
}

/* payload -> JSON bytes: None -> NULL (the core sends {}), bytes-like taken
 * verbatim as JSON text, anything else through json.dumps. */
static int payload_json(wsmod_state *st, PyObject *o, PyObject **out)
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
    *out = to_json(st, o);
    return *out ? 0 : -1;
}

/* The end of a client call that returns JSON text: the closed-client case,
 * the error, or the text converted (and freed). */
static PyObject *json_call_result(wsmod_state *st, int rc, char *out, wsig_error *err)
{
    if (rc < 0)
        return closed_error();
    if (rc != WSIG_OK)
        return raise_wsig(st, rc, err);
    wsig_error_clear(err);
    PyObject *res = from_json(st, out, strlen(out));
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
    if (!st || parse_args("query", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *name = as_str(a[0], "name");
    PyObject *payload;
    if (!name || payload_json(st, a[1], &payload) < 0)
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
    if (!st || parse_args("command", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    int failed;
    const char *name = as_str(a[0], "name");
    if (!name)
        return NULL;
    const char *idem = as_opt_str(a[2], "idempotency_key", &failed);
    PyObject *payload;
    if (failed || payload_json(st, a[1], &payload) < 0)
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
    if (!st || parse_args("call", names, 3, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *method = as_str(a[0], "method");
    const char *path = method ? as_str(a[1], "path") : NULL;
    PyObject *params;
    if (!path || payload_json(st, a[2], &params) < 0)
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

static PyObject *Client_request(ClientObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    static const char *const names[] = {"method", "path", "json", "body", "headers", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || parse_args("request", names, 2, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *method = as_str(a[0], "method");
    const char *path = method ? as_str(a[1], "path") : NULL;
    if (!path)
        return NULL;
    int has_json = a[2] && a[2] != Py_None, has_body = a[3] && a[3] != Py_None;
    if (has_json && has_body)
        return PyErr_Format(PyExc_TypeError, "request() takes json or body, not both");
    PyObject *json = NULL;
    if (has_json && !(json = to_json(st, a[2])))
        return NULL;
    inbuf body = {0};
    if (json) {
        body.ptr = PyBytes_AS_STRING(json);
        body.len = (size_t)PyBytes_GET_SIZE(json);
    } else if (has_body && inbuf_get(&body, a[3], "body") < 0) {
        return NULL;
    }
    header_list hl;
    memset(&hl, 0, sizeof hl);
    int have_ct = 0;
    if (a[4] && a[4] != Py_None) {
        if (header_list_get(&hl, a[4]) < 0)
            goto fail;
        if (hl.has_nul) {
            PyErr_SetString(PyExc_ValueError, "header names and values must not contain NUL");
            goto fail;
        }
        for (size_t i = 0; i < hl.n; i++)
            if (strcasecmp(hl.refs[i].name, "Content-Type") == 0)
                have_ct = 1;
    }
    if (json && !have_ct) {
        wsig_header_ref *refs = PyMem_Realloc(hl.refs, sizeof *refs * (hl.n + 1));
        if (!refs) {
            PyErr_NoMemory();
            goto fail;
        }
        hl.refs = refs;
        hl.refs[hl.n].name = "Content-Type";
        hl.refs[hl.n].value = "application/json";
        hl.n++;
    }
    wsig_response res;
    memset(&res, 0, sizeof res);
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    CLIENT_CALL(self, rc,
                wsig_client_request(self->client, &res, method, path, body.ptr, body.len,
                                    hl.refs, hl.n, &err));
    header_list_release(&hl);
    inbuf_release(&body);
    Py_XDECREF(json);
    if (rc < 0)
        return closed_error();
    if (rc != WSIG_OK) {
        wsig_response_clear(&res);
        return raise_wsig(st, rc, &err);
    }
    wsig_error_clear(&err);
    PyObject *hdr = PyUnicode_DecodeLatin1(res.headers ? res.headers : "",
                                           (Py_ssize_t)res.headers_len, NULL);
    PyObject *bdy = PyBytes_FromStringAndSize(res.body ? res.body : "", (Py_ssize_t)res.body_len);
    long status = res.status;
    int attempts = res.attempts;
    wsig_response_clear(&res);
    if (!hdr || !bdy) {
        Py_XDECREF(hdr);
        Py_XDECREF(bdy);
        return NULL;
    }
    PyObject *out = PyObject_CallFunction(st->Response, "lNNi", status, hdr, bdy, attempts);
    return out;
fail:
    header_list_release(&hl);
    inbuf_release(&body);
    Py_XDECREF(json);
    return NULL;
}

PyDoc_STRVAR(Client_close_doc,
"close($self, /)\n--\n\nClose the connection and free the client. Idempotent.");

static PyObject *Client_close(ClientObject *self, PyObject *Py_UNUSED(ignored))
{
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
"(default https://external-api.wallet.halogen.my). Keyword options are\n"
"passed to Client().");

static PyObject *Client_from_env(PyObject *cls, PyObject *args, PyObject *kwargs)
{
    wsmod_state *st = state_of_type((PyTypeObject *)cls);
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

static PyObject *Client_repr(ClientObject *self)
{
    return PyUnicode_FromFormat("<walletsign.Client %R%s>", self->base_url ? self->base_url : Py_None,
                                self->client ? "" : " closed");
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
"       rate_limit=(10, 10), verify=True, user_agent=None, response_verifier=None)\n--\n\n"
"An HTTP client (libcurl, keep-alive) that signs every attempt with auth.\n\n"
"timeout: whole request, seconds; connect_timeout: seconds; retries: retries\n"
"of 5xx/transport failures (None: 3; 0: none); rate_limit: (requests per\n"
"second, burst) of the client-side token bucket, or None to disable; verify:\n"
"True (system CAs), False (no TLS verification) or a CA file path;\n"
"response_verifier: a MessageVerifier that every response must satisfy.\n"
"Calls release the GIL; one client serialises its own calls (use one per\n"
"thread for parallelism). Use as a context manager or call close().");

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

static PyType_Spec Client_spec = {
    .name = "walletsign.Client",
    .basicsize = sizeof(ClientObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Client_slots,
};

/* ------------------------------------------------------------------ */
/* Module                                                             */

static PyMethodDef wsmod_methods[] = {
    {"verify_jwt", (PyCFunction)(void (*)(void))verify_jwt, METH_FASTCALL | METH_KEYWORDS,
     verify_jwt_doc},
    {"rpc_result", (PyCFunction)(void (*)(void))rpc_result, METH_FASTCALL | METH_KEYWORDS,
     rpc_result_doc},
    {"rpc_error", (PyCFunction)(void (*)(void))rpc_error, METH_FASTCALL | METH_KEYWORDS,
     rpc_error_doc},
    {"rpc_parse", (PyCFunction)(void (*)(void))rpc_parse, METH_FASTCALL | METH_KEYWORDS,
     rpc_parse_doc},
    {NULL, NULL, 0, NULL},
};

static int add_type(PyObject *m, PyTypeObject **slot, PyType_Spec *spec, PyObject *base)
{
    *slot = (PyTypeObject *)PyType_FromModuleAndSpec(m, spec, base);
    if (!*slot)
        return -1;
    return PyModule_AddType(m, *slot);
}

static int import_attrs(PyObject *mod, const char *const *names, PyObject **const *slots)
{
    for (int i = 0; names[i]; i++) {
        *slots[i] = PyObject_GetAttrString(mod, names[i]);
        if (!*slots[i])
            return -1;
    }
    return 0;
}

static int wsmod_exec(PyObject *m)
{
    wsmod_state *st = state_of_module(m);

    PyObject *errors = PyImport_ImportModule("walletsign._errors");
    if (!errors)
        return -1;
    static const char *const error_names[] = {
        "Error", "KeyFormatError", "PasswordError", "CryptoError", "FileError",
        "SignatureError", "TransportError", "Timeout", "ProtocolError", "ApiError",
        "BadRequest", "Unauthorized", "Forbidden", "NotFound", "Gone",
        "PreconditionFailed", "RateLimited", "ServerError", "RpcError", "WeakKeyWarning",
        "Redirect", NULL};
    PyObject **const error_slots[] = {
        &st->Error, &st->KeyFormatError, &st->PasswordError, &st->CryptoError, &st->FileError,
        &st->SignatureError, &st->TransportError, &st->Timeout, &st->ProtocolError,
        &st->ApiError, &st->BadRequest, &st->Unauthorized, &st->Forbidden, &st->NotFound,
        &st->Gone, &st->PreconditionFailed, &st->RateLimited, &st->ServerError, &st->RpcError,
        &st->WeakKeyWarning, &st->Redirect};
    int rc = import_attrs(errors, error_names, error_slots);
    Py_DECREF(errors);
    if (rc < 0)
        return -1;

    PyObject *types = PyImport_ImportModule("walletsign._types");
    if (!types)
        return -1;
    static const char *const type_names[] = {"Message", "Response", "dumps", "loads",
                                             "client_from_env", NULL};
    PyObject **const type_slots[] = {&st->Message, &st->Response, &st->json_dumps,
                                     &st->json_loads, &st->client_from_env};
    rc = import_attrs(types, type_names, type_slots);
    Py_DECREF(types);
    if (rc < 0)
        return -1;

    if (add_type(m, &st->Key_Type, &Key_spec, NULL) < 0 ||
        add_type(m, &st->Auth_Type, &Auth_spec, NULL) < 0 ||
        add_type(m, &st->JwtAuth_Type, &JwtAuth_spec, (PyObject *)st->Auth_Type) < 0 ||
        add_type(m, &st->HmacAuth_Type, &HmacAuth_spec, (PyObject *)st->Auth_Type) < 0 ||
        add_type(m, &st->MessageAuth_Type, &MessageAuth_spec, (PyObject *)st->Auth_Type) < 0 ||
        add_type(m, &st->HmacVerifier_Type, &HmacVerifier_spec, NULL) < 0 ||
        add_type(m, &st->MessageVerifier_Type, &MessageVerifier_spec, NULL) < 0 ||
        add_type(m, &st->Client_Type, &Client_spec, NULL) < 0)
        return -1;
    if (PyModule_AddStringConstant(m, "__version__", wsig_version()) < 0 ||
        PyModule_AddStringConstant(m, "WSIG_VERSION", WSIG_VERSION) < 0)
        return -1;
    return 0;
}

static int wsmod_traverse(PyObject *m, visitproc visit, void *arg)
{
    wsmod_state *st = state_of_module(m);
    if (!st)
        return 0;
    PyObject **objs = (PyObject **)st;
    for (size_t i = 0; i < sizeof *st / sizeof(PyObject *); i++)
        Py_VISIT(objs[i]);
    return 0;
}

static int wsmod_clear(PyObject *m)
{
    wsmod_state *st = state_of_module(m);
    if (!st)
        return 0;
    PyObject **objs = (PyObject **)st;
    for (size_t i = 0; i < sizeof *st / sizeof(PyObject *); i++)
        Py_CLEAR(objs[i]);
    return 0;
}

static void wsmod_free(void *m)
{
    wsmod_clear((PyObject *)m);
}

static PyModuleDef_Slot wsmod_slots[] = {
    {Py_mod_exec, wsmod_exec},
    {0, NULL},
};

PyDoc_STRVAR(wsmod_doc,
"Native core of walletsign: sign, send and verify wallet-API requests.\n"
"Use the walletsign package, which re-exports everything here.");

static struct PyModuleDef wsmod_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "walletsign._walletsign",
    .m_doc = wsmod_doc,
    .m_size = sizeof(wsmod_state),
    .m_methods = wsmod_methods,
    .m_slots = wsmod_slots,
    .m_traverse = wsmod_traverse,
    .m_clear = wsmod_clear,
    .m_free = wsmod_free,
};

PyMODINIT_FUNC PyInit__walletsign(void)
{
    return PyModuleDef_Init(&wsmod_def);
}
