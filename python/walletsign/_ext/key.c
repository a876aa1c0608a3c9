/* walletsign.Key: a P-256, RSA or secp256k1 key held by the core. */
#include "shim.h"

/* ------------------------------------------------------------------ */
/* Key                                                                */

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
    const char *name = wsig_option_name(WSIG_OPTION_KEY_KIND, kind);
    return name ? name : "unknown";
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
    wsmod_state *st = wsp_state_of_type(cls);
    if (!st || wsp_parse_args("generate", names, 1, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *s = wsp_as_str(a[0], "kind");
    if (!s)
        return NULL;
    /* "RSA-<bits>" is Python's spelling of (RSA, bits); the names and the
     * range of bits are the core's. */
    int kind = 0, bits = 0;
    wsig_error err = WSIG_ERROR_INIT;
    if (strncasecmp(s, "RSA-", 4) == 0 && s[4] >= '1' && s[4] <= '9' &&
        strspn(s + 4, "0123456789") == strlen(s + 4) && strlen(s + 4) <= 5)
        kind = WSIG_KEY_RSA, bits = atoi(s + 4);
    else if (wsig_option_value(WSIG_OPTION_KEY_KIND, s, &kind, &err) != WSIG_OK)
        return wsp_raise_wsig(st, WSIG_ERR_ARG, &err);
    wsig_key *k = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_key_generate(&k, kind, bits, &err);
    Py_END_ALLOW_THREADS
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    return key_wrap(cls, k);
}

PyDoc_STRVAR(Key_load_doc,
"load($type, /, source, password=None)\n--\n\n"
"Load a private or public key.\n\n"
"source is bytes (key data), an os.PathLike (a key file) or a str: key text\n"
"when it holds a PEM \"-----BEGIN\" line, else a path. The core detects the\n"
"form of the data or the file: PEM, DER, or a secp256k1 key as 64 hex digits\n"
"(optional 0x and line end; a str of hex digits is refused as ambiguous: use\n"
"from_hex). Accepted PEM/DER: SEC1 \"EC PRIVATE KEY\" (P-256, secp256k1),\n"
"PKCS#1 \"RSA PRIVATE KEY\", PKCS#8 \"PRIVATE KEY\", \"ENCRYPTED PRIVATE KEY\"\n"
"(needs password) and \"PUBLIC KEY\".\n"
"Raises KeyFormatError (malformed, unsupported, RSA below 2048 bits; not PEM,\n"
"DER or 64 hex digits), PasswordError (missing or wrong password), FileError,\n"
"or ValueError (a str of hex digits).");

/* Which loader takes the source is decided by its Python type alone; what
 * the bytes hold is the core's to detect (wsig_key_load*). */
static PyObject *Key_load(PyTypeObject *cls, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    static const char *const names[] = {"source", "password", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = wsp_state_of_type(cls);
    if (!st || wsp_parse_args("load", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    PyObject *src = a[0];
    enum { FROM_SOURCE, FROM_FILE, FROM_DATA } how;
    if (PyUnicode_Check(src))
        how = FROM_SOURCE;
    else if (PyObject_CheckBuffer(src))
        how = FROM_DATA;
    else if (PyObject_HasAttrString(src, "__fspath__"))
        how = FROM_FILE;
    else
        return PyErr_Format(PyExc_TypeError,
                            "source must be a path, PEM text or bytes, not %.100s",
                            Py_TYPE(src)->tp_name);
    PyObject *path = NULL; /* str and os.PathLike: bytes in the file system's encoding */
    inbuf data = {0};
    if (how == FROM_DATA ? wsp_inbuf_get(&data, src, "source") < 0
                         : !PyUnicode_FSConverter(src, &path))
        return NULL;
    secret pw;
    if (wsp_secret_get(&pw, a[1], "password", 1, 0) < 0) {
        Py_XDECREF(path);
        wsp_inbuf_release(&data);
        return NULL;
    }
    wsig_key *k = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    const char *text = path ? PyBytes_AS_STRING(path) : data.ptr ? data.ptr : "";
    size_t len = path ? (size_t)PyBytes_GET_SIZE(path) : data.len;
    Py_BEGIN_ALLOW_THREADS
    if (how == FROM_FILE)
        rc = wsig_key_load_file(&k, text, pw.p, &err);
    else if (how == FROM_SOURCE)
        rc = wsig_key_load_source(&k, text, len, pw.p, &err);
    else
        rc = wsig_key_load(&k, text, len, pw.p, &err);
    Py_END_ALLOW_THREADS
    wsp_secret_release(&pw);
    wsp_inbuf_release(&data);
    Py_XDECREF(path);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
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
    wsmod_state *st = wsp_state_of_type(cls);
    if (!st || wsp_parse_args("from_hex", names, 1, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    secret hex;
    if (wsp_secret_get(&hex, a[0], "hex", 0, 0) < 0)
        return NULL;
    wsig_key *k = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_key_from_hex(&k, hex.p, &err);
    Py_END_ALLOW_THREADS
    wsp_secret_release(&hex);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
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
        return wsp_raise_wsig(st, rc, &err);
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
    if (!st || wsp_parse_args("private_pem", names, 1, 0, args, nargs, kwnames, a) < 0)
        return NULL;
    secret pw;
    if (wsp_secret_get(&pw, a[0], "password", 1, 0) < 0)
        return NULL;
    char *out = NULL;
    size_t len = 0;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_key_private_pem(self->key, &out, &len, pw.p, &err);
    Py_END_ALLOW_THREADS
    wsp_secret_release(&pw);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
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
    if (!st || wsp_parse_args("save", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    PyObject *path = NULL;
    if (!PyUnicode_FSConverter(a[0], &path))
        return NULL;
    if ((size_t)PyBytes_GET_SIZE(path) != strlen(PyBytes_AS_STRING(path))) {
        Py_DECREF(path);
        return PyErr_Format(PyExc_ValueError, "path must not contain NUL characters");
    }
    secret pw;
    if (wsp_secret_get(&pw, a[1], "password", 1, 0) < 0) {
        Py_DECREF(path);
        return NULL;
    }
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    rc = wsig_key_save(self->key, p, pw.p, &err);
    Py_END_ALLOW_THREADS
    wsp_secret_release(&pw);
    Py_DECREF(path);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
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
    if (!st || wsp_parse_args("csr", names, 1, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    const char *subject = wsp_as_str(a[0], "subject");
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
        return wsp_raise_wsig(st, rc, &err);
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
    char addr[WSIG_ADDRESS_SIZE];
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_key_address(self->key, addr, &err);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
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

PyType_Spec wsp_Key_spec = {
    .name = "walletsign.Key",
    .basicsize = sizeof(KeyObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Key_slots,
};

wsig_key *wsp_key_arg(wsmod_state *st, PyObject *o, const char *what)
{
    if (!PyObject_TypeCheck(o, st->Key_Type)) {
        PyErr_Format(PyExc_TypeError, "%s must be a walletsign.Key, not %.100s", what,
                     Py_TYPE(o)->tp_name);
        return NULL;
    }
    return ((KeyObject *)o)->key;
}
