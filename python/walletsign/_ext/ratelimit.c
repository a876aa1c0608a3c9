/* walletsign.RedisRateLimit: a token bucket in Redis shared by processes and
 * machines (wsig_rate_limit_redis_new), given to Client(rate_limit=...). */
#include "shim.h"

static void RateLimit_dealloc(RateLimitObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    wsig_rate_limit_free(self->limit); /* clients using it keep their own references */
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *RateLimit_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"url", "rate", "burst", "prefix", "timeout", NULL};
    PyObject *url_o, *prefix_o = Py_None;
    double rate = 10, burst = 10;
    wsig_redis_options opt = {.timeout = 0.5};
    wsmod_state *st = wsp_state_of_type(tp);
    if (!st || !PyArg_ParseTupleAndKeywords(args, kwargs, "O|$ddOd:RedisRateLimit", kwlist,
                                            &url_o, &rate, &burst, &prefix_o, &opt.timeout))
        return NULL;
    int failed;
    const char *url = wsp_as_str(url_o, "url");
    opt.prefix = url ? wsp_as_opt_str(prefix_o, "prefix", &failed) : NULL;
    if (!url || failed)
        return NULL;
    RateLimitObject *self = (RateLimitObject *)tp->tp_alloc(tp, 0);
    if (!self)
        return NULL;
    self->rate = rate;
    self->burst = burst;
    wsig_error err = WSIG_ERROR_INIT;
    /* No connection is made here (the first request connects): no I/O to
     * release the GIL for. */
    int rc = wsig_rate_limit_redis_new(&self->limit, url, rate, burst, &opt, &err);
    if (rc != WSIG_OK) {
        self->limit = NULL;
        Py_DECREF(self);
        return wsp_raise_wsig(st, rc, &err);
    }
    wsig_error_clear(&err);
    return (PyObject *)self;
}

/* The URL may hold a password: it is never shown. */
static PyObject *RateLimit_repr(RateLimitObject *self)
{
    char text[96];
    snprintf(text, sizeof text, "<walletsign.RedisRateLimit rate=%g burst=%g>", self->rate,
             self->burst);
    return PyUnicode_FromString(text);
}

PyDoc_STRVAR(RateLimit_doc,
"RedisRateLimit(url, *, rate=10, burst=10, prefix=\"walletsign:\", timeout=0.5)\n--\n\n"
"A token bucket in Redis, shared by every process and machine that uses it\n"
"with the same url and prefix: give it to Client(..., rate_limit=limiter).\n"
"Each request takes a token (one atomic script on one key per request:\n"
"prefix + \"rate:\" + a hash of the client's key id, api key or address, so\n"
"clients of one key share a bucket; Redis's clock; works on Redis Cluster).\n"
"url: redis://[[username]:password@]host[:port][/db] (no TLS); rate: tokens\n"
"per second (0.001 to 1e6); burst: the bucket's size (1 to 1e6); timeout:\n"
"seconds for the connect and for each command (0.001 to 60). Nothing is\n"
"connected until the first request. When Redis cannot answer, the call\n"
"raises StoreError (reason \"store_unavailable\") and nothing is sent. The\n"
"GIL is released while Redis is asked and while the client waits.");

static PyType_Slot RateLimit_slots[] = {
    {Py_tp_new, RateLimit_new},
    {Py_tp_dealloc, RateLimit_dealloc},
    {Py_tp_repr, RateLimit_repr},
    {Py_tp_doc, (void *)RateLimit_doc},
    {0, NULL},
};

PyType_Spec wsp_RedisRateLimit_spec = {
    .name = "walletsign.RedisRateLimit",
    .basicsize = sizeof(RateLimitObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = RateLimit_slots,
};
