/* walletsign.RedisReplayStore: the core's wsig_replay_store over Redis, which
 * MessageVerifier(..., replay_store=) shares between processes and machines
 * (docs/scale-out.md). The URL may hold a password: it is copied to C memory,
 * wiped after the constructor, and never shown (repr masks it). */
#include "shim.h"

typedef struct {
    PyObject_HEAD
    wsig_replay_store *store;
    PyObject *shown;  /* the URL with any user:password replaced by ***, for repr */
    PyObject *prefix; /* str */
    double timeout;
} ReplayStoreObject;

wsig_replay_store *wsp_replay_store_arg(wsmod_state *st, PyObject *o)
{
    if (!PyObject_TypeCheck(o, st->RedisReplayStore_Type)) {
        PyErr_Format(PyExc_TypeError, "replay_store must be a walletsign.RedisReplayStore, not %.100s",
                     Py_TYPE(o)->tp_name);
        return NULL;
    }
    return ((ReplayStoreObject *)o)->store;
}

/* The URL for repr, its credentials (if any) replaced by three stars. The last
 * '@' ends them (a host, port or db never holds one; a password's '@' or
 * '/' left unencoded is then hidden too). Only shown, never parsed: the
 * core has already accepted the URL. */
static PyObject *shown_url(const char *url)
{
    const char *sep = strstr(url, "://");
    const char *at = strrchr(url, '@');
    if (!sep || !at || at < sep)
        return PyUnicode_DecodeUTF8(url, (Py_ssize_t)strlen(url), "replace");
    PyObject *scheme = PyUnicode_DecodeUTF8(url, sep + 3 - url, "replace");
    PyObject *shown = scheme ? PyUnicode_FromFormat("%U***%s", scheme, at) : NULL;
    Py_XDECREF(scheme);
    return shown;
}

static void RedisReplayStore_dealloc(ReplayStoreObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    wsig_replay_store_free(self->store);
    Py_XDECREF(self->shown);
    Py_XDECREF(self->prefix);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *RedisReplayStore_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"url", "prefix", "timeout", NULL};
    PyObject *url_o, *prefix_o = NULL;
    double timeout = 0.5;
    wsmod_state *st = wsp_state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "O|$Od:RedisReplayStore", kwlist,
                                            &url_o, &prefix_o, &timeout))
        return NULL;
    if (!PyUnicode_Check(url_o))
        return PyErr_Format(PyExc_TypeError, "url must be a str, not %.100s",
                            Py_TYPE(url_o)->tp_name);
    int failed;
    const char *prefix = wsp_as_opt_str(prefix_o, "prefix", &failed);
    if (failed)
        return NULL;
    secret url;
    if (wsp_secret_get(&url, url_o, "url", 0, 0) < 0)
        return NULL;
    /* The core checks the timeout's range and the URL (ValueError, with no
     * password in the message); it does not connect yet. */
    wsig_redis_options opt = {timeout, prefix};
    wsig_replay_store *store = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_replay_store_redis_new(&store, url.p, &opt, &err);
    PyObject *shown = rc == WSIG_OK ? shown_url(url.p) : NULL;
    wsp_secret_release(&url);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *prefix_shown = prefix_o && prefix_o != Py_None ? Py_NewRef(prefix_o)
                                                             : PyUnicode_FromString("walletsign:");
    ReplayStoreObject *self = shown && prefix_shown ? (ReplayStoreObject *)tp->tp_alloc(tp, 0)
                                                    : NULL;
    if (!self) {
        wsig_replay_store_free(store);
        Py_XDECREF(shown);
        Py_XDECREF(prefix_shown);
        return NULL;
    }
    self->store = store;
    self->shown = shown;
    self->prefix = prefix_shown;
    self->timeout = timeout;
    return (PyObject *)self;
}

static PyObject *RedisReplayStore_repr(ReplayStoreObject *self)
{
    PyObject *timeout = PyFloat_FromDouble(self->timeout);
    if (!timeout)
        return NULL;
    PyObject *r = PyUnicode_FromFormat("<walletsign.RedisReplayStore %U prefix=%R timeout=%R>",
                                       self->shown, self->prefix, timeout);
    Py_DECREF(timeout);
    return r;
}

static PyObject *RedisReplayStore_get_prefix(ReplayStoreObject *self, void *closure)
{
    return Py_NewRef(self->prefix);
}

static PyObject *RedisReplayStore_get_timeout(ReplayStoreObject *self, void *closure)
{
    return PyFloat_FromDouble(self->timeout);
}

static PyGetSetDef RedisReplayStore_getset[] = {
    {"prefix", (getter)RedisReplayStore_get_prefix, NULL, "The prefix of every key.", NULL},
    {"timeout", (getter)RedisReplayStore_get_timeout, NULL,
     "Seconds allowed for connecting and for each command, as given (0: the default).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(RedisReplayStore_doc,
"RedisReplayStore(url, *, prefix='walletsign:', timeout=0.5)\n--\n\n"
"A replay store in Redis, shared by every process and machine that uses the\n"
"same url and prefix: give it to MessageVerifier(..., replay_store=store).\n"
"One `SET prefix+key 1 NX PX ttl` per message (a single key: works unchanged\n"
"on Redis Cluster). url: redis://[[user]:password@]host[:port][/db] (no TLS:\n"
"rediss:// is refused); the password never appears in a message or repr.\n"
"timeout: seconds for connecting and for each command (0.001..60). Nothing\n"
"connects until the first verification; a failed command drops the\n"
"connection and the next use reconnects. While Redis cannot be reached,\n"
"verification fails closed with ReplayStoreError (reason store_unavailable).\n"
"Shareable between threads (the GIL is released while Redis is waited on).");

static PyType_Slot RedisReplayStore_slots[] = {
    {Py_tp_new, RedisReplayStore_new},
    {Py_tp_dealloc, RedisReplayStore_dealloc},
    {Py_tp_repr, RedisReplayStore_repr},
    {Py_tp_getset, RedisReplayStore_getset},
    {Py_tp_doc, (void *)RedisReplayStore_doc},
    {0, NULL},
};

PyType_Spec wsp_RedisReplayStore_spec = {
    .name = "walletsign.RedisReplayStore",
    .basicsize = sizeof(ReplayStoreObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = RedisReplayStore_slots,
};
