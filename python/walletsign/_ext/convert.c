/* Argument parsing and value conversion between Python objects and the
 * C strings, buffers, numbers and options the core takes. */
#include "shim.h"

/* ------------------------------------------------------------------ */
/* Argument parsing for METH_FASTCALL | METH_KEYWORDS                 */

/* names: NULL-terminated; the first npos may be positional, the first nreq
 * are required. out[] receives borrowed references (NULL when absent). */
int wsp_parse_args(const char *fname, const char *const *names, int npos, int nreq,
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

/* ------------------------------------------------------------------ */
/* Value conversion                                                   */

/* A NUL-terminated UTF-8 view of a str or bytes argument, borrowed from the
 * (immutable) object, so it stays valid while the GIL is released. */
const char *wsp_as_cstr(PyObject *o, const char *what, Py_ssize_t *len_out)
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
const char *wsp_as_str(PyObject *o, const char *what)
{
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(o)->tp_name);
        return NULL;
    }
    return wsp_as_cstr(o, what, NULL);
}

/* Optional str: NULL or None gives NULL with no error; check PyErr_Occurred. */
const char *wsp_as_opt_str(PyObject *o, const char *what, int *failed)
{
    *failed = 0;
    if (!o || o == Py_None)
        return NULL;
    const char *s = wsp_as_str(o, what);
    if (!s)
        *failed = 1;
    return s;
}

int wsp_inbuf_get(inbuf *b, PyObject *o, const char *what)
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

void wsp_inbuf_release(inbuf *b)
{
    if (b->has_view) {
        PyBuffer_Release(&b->view);
        b->has_view = 0;
    }
}

static void secret_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

int wsp_secret_get(secret *s, PyObject *o, const char *what, int allow_none, int allow_nul)
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

void wsp_secret_release(secret *s)
{
    if (s->p) {
        secret_wipe(s->p, s->len + 1);
        PyMem_RawFree(s->p);
    }
    s->p = NULL;
    s->len = 0;
}

/* int64 time argument: None -> 0 (the core reads the clock). */
int wsp_as_time(PyObject *o, const char *what, int64_t *out)
{
    *out = 0;
    if (!o || o == Py_None)
        return 0;
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int or None, not %.100s", what,
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    long long v = PyLong_AsLongLong(o); /* the core checks the range (0 = the clock) */
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

int wsp_as_long_in(PyObject *o, const char *what, long lo, long hi, long *out)
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
int wsp_as_u64(PyObject *o, const char *what, uint64_t *out)
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

/* An option given by name, through the core's table (wsig_option_value):
 * def when absent; -1 with ValueError (the core's message) if unknown. */
int wsp_as_option(wsmod_state *st, PyObject *o, const char *what, int option, int def)
{
    if (!o || o == Py_None)
        return def;
    const char *s = wsp_as_str(o, what);
    if (!s)
        return -1;
    int value;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_option_value(option, s, &value, &err);
    if (rc != WSIG_OK) {
        wsp_raise_wsig(st, rc, &err);
        return -1;
    }
    return value;
}

/* JSON helpers (walletsign._types): compact json.dumps -> bytes; json.loads. */
PyObject *wsp_to_json(wsmod_state *st, PyObject *obj)
{
    PyObject *res = PyObject_CallOneArg(st->json_dumps, obj);
    if (res && !PyBytes_Check(res)) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_TypeError, "internal: JSON encoder did not return bytes");
        return NULL;
    }
    return res;
}

/* The core passes a server's bytes through in JSON text; text that is not
 * UTF-8 is not JSON (RFC 8259) and cannot become a str: a ProtocolError,
 * like any other answer that is not JSON, never a UnicodeDecodeError. */
/* JSON text the core has judged (a result, an envelope's member) ->
 * Python: the json module only converts it. */
/* The whole of text through json's C scanner (_types.scan_once), or NULL
 * with no exception set when it does not take it whole: leading or trailing
 * whitespace, a BOM, bad UTF-8, an error of any kind (loads() then judges,
 * and raises what json.loads raises). Same result as json.loads otherwise:
 * loads(bytes) decodes UTF-8 with surrogatepass and calls this scanner. */
static PyObject *scan_whole(wsmod_state *st, const char *text, size_t len)
{
    PyObject *s = PyUnicode_DecodeUTF8(text, (Py_ssize_t)len, "surrogatepass");
    PyObject *zero = s ? PyLong_FromLong(0) : NULL;
    PyObject *args[2] = {s, zero};
    PyObject *pair = zero ? PyObject_Vectorcall(st->json_scan_once, args, 2, NULL) : NULL;
    PyObject *res = NULL;
    if (pair && PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
        Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 1));
        if (end == PyUnicode_GET_LENGTH(s))
            res = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
    }
    Py_XDECREF(pair);
    Py_XDECREF(zero);
    Py_XDECREF(s);
    if (!res)
        PyErr_Clear();
    return res;
}

PyObject *wsp_from_json(wsmod_state *st, const char *text, size_t len)
{
    PyObject *fast = scan_whole(st, text, len);
    if (fast)
        return fast;
    PyObject *b = PyBytes_FromStringAndSize(text, (Py_ssize_t)len);
    if (!b)
        return NULL;
    PyObject *res = PyObject_CallOneArg(st->json_loads, b);
    Py_DECREF(b);
    return res;
}

/* The header's UTF-8 text and its length; a NUL inside is passed on whole
 * for the core to judge (wsig_header_ref). */
static const char *header_text(header_list *h, PyObject *o, const char *what, size_t *len_out)
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
    *len_out = s ? (size_t)len : 0;
    return s;
}

int wsp_header_list_get(header_list *h, PyObject *headers)
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
        wsig_header_ref *r = &h->refs[i];
        if (!(r->name = header_text(h, PyTuple_GET_ITEM(pair, 0), "name", &r->name_len)) ||
            !(r->value = header_text(h, PyTuple_GET_ITEM(pair, 1), "value", &r->value_len)))
            return -1;
    }
    h->n = (size_t)n;
    return 0;
}

void wsp_header_list_release(header_list *h)
{
    PyMem_Free(h->refs);
    Py_XDECREF(h->items);
    Py_XDECREF(h->keep);
    memset(h, 0, sizeof *h);
}

/* 1 when dict d holds key (a str), 0 when not, -1 with an exception. */
static int dict_has(PyObject *d, const char *key)
{
    PyObject *k = PyUnicode_FromString(key);
    if (!k)
        return -1;
    int rc = PyDict_Contains(d, k);
    Py_DECREF(k);
    return rc;
}

/* Which converter of walletsign._web a verifier's headers argument needs:
 * a WSGI environ (PEP 3333 makes it a dict with wsgi.* keys; a hand-made one
 * has REQUEST_METHOD) or an ASGI scope (a dict with a "type" of "http" or
 * "websocket" and "headers"). NULL (no exception) for plain headers: a
 * mapping of header names holds none of these names. */
static PyObject *web_converter(wsmod_state *st, PyObject *headers, int *failed)
{
    static const char *const environ_keys[] = {"wsgi.input", "wsgi.version", "REQUEST_METHOD"};
    *failed = 0;
    if (!PyDict_Check(headers))
        return NULL;
    for (size_t i = 0; i < sizeof environ_keys / sizeof *environ_keys; i++) {
        int has = dict_has(headers, environ_keys[i]);
        if (has)
            return has < 0 ? (*failed = 1, NULL) : st->wsgi_headers;
    }
    PyObject *type = PyDict_GetItemString(headers, "type"); /* borrowed */
    if (type && PyUnicode_Check(type) &&
        (PyUnicode_CompareWithASCIIString(type, "http") == 0 ||
         PyUnicode_CompareWithASCIIString(type, "websocket") == 0)) {
        int has = dict_has(headers, "headers");
        if (has)
            return has < 0 ? (*failed = 1, NULL) : st->asgi_headers;
    }
    return NULL;
}

/* wsp_header_list_get for a verifier, which also takes a WSGI environ or an
 * ASGI scope whole (walletsign._web converts it): without this, an environ's
 * HTTP_X_MESSAGE_* keys name no header and verify() answered missing_header. */
int wsp_verify_headers_get(wsmod_state *st, header_list *h, PyObject *headers)
{
    int failed;
    PyObject *convert = web_converter(st, headers, &failed);
    if (failed) {
        memset(h, 0, sizeof *h);
        return -1;
    }
    if (!convert)
        return wsp_header_list_get(h, headers);
    PyObject *converted = PyObject_CallOneArg(convert, headers);
    if (!converted) {
        memset(h, 0, sizeof *h);
        return -1;
    }
    /* h->items holds the pairs (and so the strings) once built */
    int rc = wsp_header_list_get(h, converted);
    Py_DECREF(converted);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Options shared by the signers (auth.c) and verifiers (verify.c)    */

/* Fill options from Python values; strings are borrowed from the objects. */
int wsp_hmac_options(wsmod_state *st, wsig_hmac_options *o, PyObject *enc, PyObject *sep,
                     PyObject *akh, PyObject *sigh, PyObject *tsh)
{
    int failed;
    memset(o, 0, sizeof *o);
    o->encoding = wsp_as_option(st, enc, "encoding", WSIG_OPTION_HMAC_ENCODING, WSIG_HMAC_BASE64);
    if (o->encoding < 0)
        return -1;
    o->separator = wsp_as_opt_str(sep, "separator", &failed);
    if (failed)
        return -1;
    o->api_key_header = wsp_as_opt_str(akh, "api_key_header", &failed);
    if (failed)
        return -1;
    o->signature_header = wsp_as_opt_str(sigh, "signature_header", &failed);
    if (failed)
        return -1;
    o->timestamp_header = wsp_as_opt_str(tsh, "timestamp_header", &failed);
    return failed ? -1 : 0;
}

