/* walletsign._walletsign._Pool and _Job: the core's pools (wsig_pool_*),
 * under Client.query_many/command_many and AsyncClient (walletsign/_async.py).
 *
 * The core's worker threads run the calls without the GIL. They take it
 * only to hand a finished job to its Python callback (AsyncClient's: one
 * loop.call_soon_threadsafe) and to log an event, through PyGILState, as
 * threads Python did not start must. run_many waits with the GIL released,
 * taking it back every 50 ms to run signal handlers: Ctrl-C cancels every
 * job of the batch (each ends within 50 ms) and raises KeyboardInterrupt. */
#include "shim.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct CompletionsObject CompletionsObject;

typedef struct {
    PyObject_HEAD
    wsig_pool *pool;
    PyObject *client;          /* the Client it was made from */
    CompletionsObject *port;   /* where callbacks are delivered (deliver_to), or NULL */
    long pid;                  /* the process the pool's threads run in */
} PoolObject;

typedef struct JobObject {
    PyObject_HEAD
    wsig_job *job;
    int kind;           /* enum wsig_job_kind: how result() converts */
    int taken;          /* result() was called */
    PyObject *callback; /* called with this job, once, when it ends; or NULL */
    CompletionsObject *port;   /* its callback goes through this port, or NULL */
    struct JobObject *next_done; /* in the port's list, under its lock */
} JobObject;

/* A completion port for an event loop (AsyncClient): workers put finished
 * jobs on its list and make its eventfd readable, without the GIL; the
 * loop's reader (drain) calls their callbacks. A worker never waits for the
 * GIL, and the loop wakes once for any number of finished jobs. */
struct CompletionsObject {
    PyObject_HEAD
    int fd;
    PyThread_type_lock lock;
    JobObject *head;
};

#define WAIT_SLICE_S 0.05 /* how often a waiting batch looks at signals */

/* ------------------------------------------------------------------ */
/* Callbacks from the core's worker threads                           */

/* A core worker thread's own Python thread state, made when it starts and
 * deleted before it ends (the pool's on_thread): taking the GIL is then one
 * PyEval_RestoreThread, where PyGILState_Ensure would make and delete a
 * thread state for every finished job. NULL in every other thread. */
static __thread PyThreadState *worker_state;

static void worker_thread(void *ud, int started)
{
    if (started) {
        worker_state = PyThreadState_New((PyInterpreterState *)ud);
    } else if (worker_state) {
        PyEval_RestoreThread(worker_state);
        PyThreadState_Clear(worker_state);
        PyThreadState_DeleteCurrent();
        worker_state = NULL;
    }
}

/* Take the GIL from a worker (its own state) or any other thread. */
static int gil_take(PyGILState_STATE *g)
{
    if (worker_state) {
        PyEval_RestoreThread(worker_state);
        return 1;
    }
    *g = PyGILState_Ensure();
    return 0;
}

static void gil_give(int own, PyGILState_STATE g)
{
    if (own)
        PyEval_SaveThread();
    else
        PyGILState_Release(g);
}

/* The workers' on_event: the same log lines as a Client's (client.c). */
static void worker_event(void *ud, const wsig_client_event *e)
{
    PyGILState_STATE g = PyGILState_UNLOCKED;
    int own = gil_take(&g);
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    wsp_log_client_event(e);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    gil_give(own, g);
}

/* A job with a callback has ended: call it, and drop the reference the
 * submission took on the job object. */
static void job_done(void *ud, wsig_job *job)
{
    JobObject *self = ud;
    PyGILState_STATE g = PyGILState_UNLOCKED;
    int own = gil_take(&g);
    PyObject *r = PyObject_CallOneArg(self->callback, (PyObject *)self);
    if (r)
        Py_DECREF(r);
    else
        PyErr_WriteUnraisable(self->callback);
    Py_DECREF(self);
    gil_give(own, g);
}

/* A job delivered through a port has ended (any thread, GIL or not). */
static void job_done_port(void *ud, wsig_job *job)
{
    JobObject *self = ud;
    CompletionsObject *q = self->port;
    PyThread_acquire_lock(q->lock, WAIT_LOCK);
    int was_empty = q->head == NULL;
    self->next_done = q->head;
    q->head = self;
    PyThread_release_lock(q->lock);
    if (was_empty) {
        uint64_t one = 1;
        while (write(q->fd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
}

/* ------------------------------------------------------------------ */
/* _Completions                                                       */

static PyObject *Completions_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    if (!PyArg_ParseTuple(args, ":_Completions"))
        return NULL;
    CompletionsObject *self = (CompletionsObject *)tp->tp_alloc(tp, 0);
    if (!self)
        return NULL;
    self->fd = -1;
    if (!(self->lock = PyThread_allocate_lock())) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    if ((self->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        Py_DECREF(self);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return (PyObject *)self;
}

/* Take the finished jobs, oldest first. */
static JobObject *completions_take(CompletionsObject *self)
{
    uint64_t n;
    if (self->fd >= 0)
        while (read(self->fd, &n, sizeof n) < 0 && errno == EINTR)
            ;
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    JobObject *list = self->head, *fifo = NULL;
    self->head = NULL;
    PyThread_release_lock(self->lock);
    while (list) {
        JobObject *next = list->next_done;
        list->next_done = fifo;
        fifo = list;
        list = next;
    }
    return fifo;
}

/* Each finished job: its callback (unless discarding), then the references
 * its submission took (on the job and on this port) are dropped. */
static void completions_run(CompletionsObject *self, int call)
{
    for (JobObject *j = completions_take(self); j;) {
        JobObject *next = j->next_done;
        j->next_done = NULL;
        if (call) {
            PyObject *r = PyObject_CallOneArg(j->callback, (PyObject *)j);
            if (r)
                Py_DECREF(r);
            else
                PyErr_WriteUnraisable(j->callback);
        }
        Py_CLEAR(j->port);
        Py_DECREF(j);
        j = next;
    }
}

static void Completions_dealloc(CompletionsObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    /* Every job on the list holds a reference to this port: none is left. */
    if (self->fd >= 0)
        close(self->fd);
    if (self->lock)
        PyThread_free_lock(self->lock);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *Completions_drain(CompletionsObject *self, PyObject *Py_UNUSED(ignored))
{
    completions_run(self, 1);
    Py_RETURN_NONE;
}

static PyObject *Completions_discard(CompletionsObject *self, PyObject *Py_UNUSED(ignored))
{
    completions_run(self, 0);
    Py_RETURN_NONE;
}

static PyObject *Completions_fileno(CompletionsObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(self->fd);
}

static PyMethodDef Completions_methods[] = {
    {"drain", (PyCFunction)Completions_drain, METH_NOARGS,
     "Call the callbacks of the jobs finished since the last drain (the loop's reader)."},
    {"discard", (PyCFunction)Completions_discard, METH_NOARGS,
     "Drop the finished jobs without calling their callbacks (the loop is gone)."},
    {"fileno", (PyCFunction)Completions_fileno, METH_NOARGS,
     "The eventfd that is readable while finished jobs wait."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Completions_slots[] = {
    {Py_tp_new, Completions_new},
    {Py_tp_dealloc, Completions_dealloc},
    {Py_tp_methods, Completions_methods},
    {Py_tp_doc, (void *)"_Completions(): finished jobs for an event loop (an eventfd)."},
    {0, NULL},
};

PyType_Spec wsp_Completions_spec = {
    .name = "walletsign._walletsign._Completions",
    .basicsize = sizeof(CompletionsObject),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = Completions_slots,
};

/* ------------------------------------------------------------------ */
/* _Job                                                               */

static void Job_dealloc(JobObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    wsig_job_free(self->job); /* a running job goes on; the pool lets go of it */
    Py_CLEAR(self->callback);
    Py_CLEAR(self->port);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int Job_traverse(JobObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->callback);
    return 0;
}

static int Job_clear(JobObject *self)
{
    Py_CLEAR(self->callback);
    return 0;
}

static PyObject *Job_cancel(JobObject *self, PyObject *Py_UNUSED(ignored))
{
    /* A queued job's callback runs here, in this thread (the GIL is ours). */
    wsig_job_cancel(self->job);
    Py_RETURN_NONE;
}

static PyObject *Job_done(JobObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(wsig_job_wait(self->job, 0));
}

static int is_request(int kind)
{
    return kind == WSIG_JOB_REQUEST || kind == WSIG_JOB_REQUEST_JSON;
}

/* The job's outcome as a Python value (or a raised exception). */
static PyObject *job_result(wsmod_state *st, JobObject *self)
{
    if (!wsig_job_wait(self->job, 0))
        return PyErr_Format(PyExc_RuntimeError, "the job has not finished");
    if (self->taken)
        return PyErr_Format(PyExc_RuntimeError, "the job's result was already taken");
    self->taken = 1;
    char *json = NULL;
    wsig_response res;
    wsig_error err = WSIG_ERROR_INIT;
    int request = is_request(self->kind);
    int rc = wsig_job_result(self->job, request ? NULL : &json, request ? &res : NULL, &err);
    if (rc != WSIG_OK) {
        if (request)
            wsig_response_clear(&res);
        wsig_free(json);
        return wsp_raise_wsig(st, rc, &err);
    }
    wsig_error_clear(&err);
    if (request)
        return wsp_response_object(st, &res);
    PyObject *out = wsp_from_json(st, json, strlen(json));
    wsig_free(json);
    return out;
}

static PyObject *Job_result(JobObject *self, PyObject *Py_UNUSED(ignored))
{
    wsmod_state *st = STATE_OF(self);
    return st ? job_result(st, self) : NULL;
}

static PyMethodDef Job_methods[] = {
    {"cancel", (PyCFunction)Job_cancel, METH_NOARGS,
     "Abort the job (WSIG_ERR_ABORTED): at once if queued, within 50 ms if running."},
    {"done", (PyCFunction)Job_done, METH_NOARGS, "True once the job has ended."},
    {"result", (PyCFunction)Job_result, METH_NOARGS,
     "The job's answer (once), or raise its error."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Job_slots[] = {
    {Py_tp_dealloc, Job_dealloc},
    {Py_tp_traverse, Job_traverse},
    {Py_tp_clear, Job_clear},
    {Py_tp_methods, Job_methods},
    {Py_tp_doc, (void *)"One call queued on a _Pool (made by _Pool.submit_*)."},
    {0, NULL},
};

PyType_Spec wsp_Job_spec = {
    .name = "walletsign._walletsign._Job",
    .basicsize = sizeof(JobObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Job_slots,
};

/* ------------------------------------------------------------------ */
/* _Pool                                                              */

static void pool_close(PoolObject *self)
{
    wsig_pool *p = self->pool;
    self->pool = NULL;
    if (!p)
        return;
    /* Without the GIL: workers finishing a job need it for its callback. */
    Py_BEGIN_ALLOW_THREADS
    wsig_pool_free(p);
    Py_END_ALLOW_THREADS
}

static void Pool_dealloc(PoolObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    pool_close(self);
    Py_CLEAR(self->client);
    Py_CLEAR(self->port);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int Pool_traverse(PoolObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->client);
    Py_VISIT(self->port);
    return 0;
}

static int Pool_clear(PoolObject *self)
{
    Py_CLEAR(self->client);
    Py_CLEAR(self->port);
    return 0;
}

static PyObject *Pool_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    wsmod_state *st = wsp_state_of_type(tp);
    PyObject *client_o;
    int workers;
    if (!st || !PyArg_ParseTuple(args, "Oi:_Pool", &client_o, &workers))
        return NULL;
    if (!PyObject_TypeCheck(client_o, st->Client_Type))
        return PyErr_Format(PyExc_TypeError, "_Pool needs a Client");
    ClientObject *c = (ClientObject *)client_o;
    PoolObject *self = (PoolObject *)tp->tp_alloc(tp, 0);
    if (!self)
        return NULL;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_pool_hooks hooks = {worker_event, worker_thread, PyInterpreterState_Get()};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(c->lock, WAIT_LOCK); /* no call of the client meanwhile */
    rc = c->client ? wsig_pool_new(&self->pool, c->client, workers, &hooks, &err) : -1;
    PyThread_release_lock(c->lock);
    Py_END_ALLOW_THREADS
    if (rc != WSIG_OK) {
        Py_DECREF(self);
        if (rc < 0)
            return PyErr_Format(PyExc_ValueError, "the client is closed");
        return wsp_raise_wsig(st, rc, &err);
    }
    self->client = Py_NewRef(client_o);
    self->pid = (long)getpid();
    return (PyObject *)self;
}

/* A pool made before fork() has no workers in the child (Client._pool
 * makes a new one there). */
int wsp_pool_is_inherited(PyObject *pool)
{
    return ((PoolObject *)pool)->pid != (long)getpid();
}

static int pool_open(PoolObject *self)
{
    if (self->pool)
        return 0;
    PyErr_SetString(PyExc_ValueError, "the client is closed");
    return -1;
}

static PyObject *Pool_deliver_to(PoolObject *self, PyObject *port)
{
    wsmod_state *st = STATE_OF(self);
    if (!st)
        return NULL;
    if (port != Py_None && !PyObject_TypeCheck(port, st->Completions_Type))
        return PyErr_Format(PyExc_TypeError, "deliver_to takes a _Completions or None");
    Py_XSETREF(self->port, port == Py_None ? NULL : (CompletionsObject *)Py_NewRef(port));
    Py_RETURN_NONE;
}

static PyObject *Pool_close(PoolObject *self, PyObject *Py_UNUSED(ignored))
{
    pool_close(self);
    Py_RETURN_NONE;
}

static PyObject *Pool_set_workers(PoolObject *self, PyObject *n_o)
{
    wsmod_state *st = STATE_OF(self);
    long n;
    if (!st || pool_open(self) < 0 || wsp_as_long_in(n_o, "concurrency", INT_MIN, INT_MAX, &n) < 0)
        return NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_pool_set_workers(self->pool, (int)n, &err);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    Py_RETURN_NONE;
}

/* Queue spec; callback (or NULL) is called with the job when it ends. */
static PyObject *submit(wsmod_state *st, PoolObject *self, const wsig_job_spec *spec,
                        PyObject *callback)
{
    if (pool_open(self) < 0)
        return NULL;
    if (callback && !PyCallable_Check(callback))
        return PyErr_Format(PyExc_TypeError, "callback must be callable");
    JobObject *job = PyObject_GC_New(JobObject, st->Job_Type);
    if (!job)
        return NULL;
    job->job = NULL;
    job->kind = spec->kind;
    job->taken = 0;
    job->callback = callback ? Py_NewRef(callback) : NULL;
    job->port = callback && self->port ? (CompletionsObject *)Py_NewRef(self->port) : NULL;
    job->next_done = NULL;
    PyObject_GC_Track(job);
    /* Until the callback has run: job_done (which waits for the GIL we
     * hold) or the port's drain drops it. */
    if (callback)
        Py_INCREF(job);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_job_done_fn done = !callback ? NULL : job->port ? job_done_port : job_done;
    int rc = wsig_pool_submit(self->pool, &job->job, spec, done, job, &err);
    if (rc != WSIG_OK) {
        if (callback)
            Py_DECREF(job);
        Py_DECREF(job);
        return wsp_raise_wsig(st, rc, &err);
    }
    return (PyObject *)job;
}

/* The spec of a query or command from its Python arguments; *keep holds
 * the payload's JSON bytes while the spec is in use. */
static int halogen_spec(wsmod_state *st, wsig_job_spec *spec, int kind, PyObject *name_o,
                        PyObject *payload_o, PyObject *key_o, PyObject **keep)
{
    memset(spec, 0, sizeof *spec);
    spec->kind = kind;
    int failed = 0;
    if (!(spec->name = wsp_as_str(name_o, "name")))
        return -1;
    if (key_o)
        spec->idempotency_key = wsp_as_opt_str(key_o, "idempotency_key", &failed);
    if (failed || wsp_payload_json(st, payload_o, keep) < 0)
        return -1;
    spec->payload_json = *keep ? PyBytes_AS_STRING(*keep) : NULL;
    return 0;
}

static PyObject *Pool_submit_query(PoolObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    static const char *const names[] = {"name", "payload", "callback", NULL};
    PyObject *a[NARGS(names)], *keep = NULL;
    wsmod_state *st = STATE_OF(self);
    wsig_job_spec spec;
    if (!st || wsp_parse_args("submit_query", names, 2, 1, args, nargs, kwnames, a) < 0 ||
        halogen_spec(st, &spec, WSIG_JOB_QUERY, a[0], a[1], NULL, &keep) < 0)
        return NULL;
    PyObject *job = submit(st, self, &spec, a[2] == Py_None ? NULL : a[2]);
    Py_XDECREF(keep);
    return job;
}

static PyObject *Pool_submit_command(PoolObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    static const char *const names[] = {"name", "payload", "idempotency_key", "callback", NULL};
    PyObject *a[NARGS(names)], *keep = NULL;
    wsmod_state *st = STATE_OF(self);
    wsig_job_spec spec;
    if (!st || wsp_parse_args("submit_command", names, 3, 1, args, nargs, kwnames, a) < 0 ||
        halogen_spec(st, &spec, WSIG_JOB_COMMAND, a[0], a[1], a[2], &keep) < 0)
        return NULL;
    PyObject *job = submit(st, self, &spec, a[3] == Py_None ? NULL : a[3]);
    Py_XDECREF(keep);
    return job;
}

static PyObject *Pool_submit_call(PoolObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
    static const char *const names[] = {"method", "path", "params", "callback", NULL};
    PyObject *a[NARGS(names)], *keep = NULL;
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("submit_call", names, 3, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    wsig_job_spec spec = {.kind = WSIG_JOB_CALL};
    if (!(spec.method = wsp_as_str(a[0], "method")) || !(spec.path = wsp_as_str(a[1], "path")) ||
        wsp_payload_json(st, a[2], &keep) < 0)
        return NULL;
    spec.payload_json = keep ? PyBytes_AS_STRING(keep) : NULL;
    PyObject *job = submit(st, self, &spec, a[3] == Py_None ? NULL : a[3]);
    Py_XDECREF(keep);
    return job;
}

static PyObject *Pool_submit_request(PoolObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    static const char *const names[] = {"method", "path", "json", "body", "headers", "callback",
                                        NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("submit_request", names, 2, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    wsig_job_spec spec = {.kind = WSIG_JOB_REQUEST};
    if (!(spec.method = wsp_as_str(a[0], "method")) || !(spec.path = wsp_as_str(a[1], "path")))
        return NULL;
    int has_json = a[2] && a[2] != Py_None, has_body = a[3] && a[3] != Py_None;
    if (has_json && has_body)
        return PyErr_Format(PyExc_TypeError, "request() takes json or body, not both");
    PyObject *json = NULL, *job = NULL;
    inbuf body = {0};
    header_list hl;
    memset(&hl, 0, sizeof hl);
    if (has_json && !(json = wsp_to_json(st, a[2])))
        return NULL;
    if (json) {
        spec.kind = WSIG_JOB_REQUEST_JSON;
        spec.body = PyBytes_AS_STRING(json);
        spec.body_len = (size_t)PyBytes_GET_SIZE(json);
    } else if (has_body) {
        if (wsp_inbuf_get(&body, a[3], "body") < 0)
            goto done;
        spec.body = body.ptr;
        spec.body_len = body.len;
    }
    if (a[4] && a[4] != Py_None && wsp_header_list_get(&hl, a[4]) < 0)
        goto done;
    spec.extra = hl.refs;
    spec.n_extra = hl.n;
    job = submit(st, self, &spec, a[5] == Py_None ? NULL : a[5]); /* the spec is copied */
done:
    wsp_header_list_release(&hl);
    wsp_inbuf_release(&body);
    Py_XDECREF(json);
    return job;
}

/* ------------------------------------------------------------------ */
/* run_many: a whole batch, waited for here                           */

typedef struct {
    Py_ssize_t n;
    wsig_job_spec *specs;
    PyObject *keep; /* a list holding the payloads' JSON bytes */
    wsig_job **jobs;
} batch;

static void batch_release(batch *b)
{
    if (b->jobs)
        for (Py_ssize_t i = 0; i < b->n; i++)
            wsig_job_free(b->jobs[i]);
    PyMem_Free(b->jobs);
    PyMem_Free(b->specs);
    Py_XDECREF(b->keep);
}

/* Items (name, payload) for queries, (name, payload, idempotency_key) for
 * commands, converted and judged by the core before any is sent. */
static int batch_specs(wsmod_state *st, batch *b, int kind, PyObject *seq)
{
    b->specs = PyMem_Calloc((size_t)b->n + 1, sizeof *b->specs);
    if (!b->specs || !(b->keep = PyList_New(0))) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t want = kind == WSIG_JOB_COMMAND ? 3 : 2;
    for (Py_ssize_t i = 0; i < b->n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i), *keep = NULL;
        if (!PyTuple_Check(item) && !PyList_Check(item)) {
            PyErr_Format(PyExc_TypeError, "item %zd: expected a tuple (%s), not %.100s", i,
                         want == 3 ? "name, payload, idempotency_key" : "name, payload",
                         Py_TYPE(item)->tp_name);
            return -1;
        }
        if (PySequence_Size(item) != want) {
            PyErr_Format(PyExc_ValueError, "item %zd: expected %zd values (%s)", i, want,
                         want == 3 ? "name, payload, idempotency_key" : "name, payload");
            return -1;
        }
        PyObject *name = PySequence_GetItem(item, 0), *payload = PySequence_GetItem(item, 1);
        PyObject *key = want == 3 ? PySequence_GetItem(item, 2) : NULL;
        /* The strings live as long as the items, which seq holds. */
        int rc = name && payload && (want == 2 || key)
                     ? halogen_spec(st, &b->specs[i], kind, name, payload, key, &keep)
                     : -1;
        Py_XDECREF(name);
        Py_XDECREF(payload);
        Py_XDECREF(key);
        if (rc == 0 && keep && PyList_Append(b->keep, keep) < 0)
            rc = -1;
        Py_XDECREF(keep);
        if (rc < 0)
            return -1;
        b->specs[i].require_idempotency_key = 1;
        wsig_error err = WSIG_ERROR_INIT;
        if (wsig_job_spec_check(&b->specs[i], &err) != WSIG_OK) {
            PyErr_Format(PyExc_ValueError, "item %zd: %s", i, err.message);
            wsig_error_clear(&err);
            return -1;
        }
    }
    return 0;
}

/* Cancel the batch's jobs from `from` on and wait (without the GIL) until
 * they have ended: an interrupted batch leaves nothing running. */
static void batch_cancel(batch *b, Py_ssize_t from)
{
    for (Py_ssize_t i = from; i < b->n; i++)
        if (b->jobs[i])
            wsig_job_cancel(b->jobs[i]);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = from; i < b->n; i++)
        if (b->jobs[i])
            while (!wsig_job_wait(b->jobs[i], 1.0))
                ;
    Py_END_ALLOW_THREADS
}

static Py_ssize_t batch_done_count(const batch *b, Py_ssize_t from)
{
    Py_ssize_t done = from;
    for (Py_ssize_t i = from; i < b->n; i++)
        done += wsig_job_wait(b->jobs[i], 0);
    return done;
}

/* The raised exception, taken as an object for the results list. */
static PyObject *take_exception(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

static int report_progress(PyObject *report, Py_ssize_t done, Py_ssize_t total,
                           Py_ssize_t *reported)
{
    if (!report || done == *reported)
        return 0;
    *reported = done;
    PyObject *r = PyObject_CallFunction(report, "nn", done, total);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* Wait for every job in input order, reporting progress and looking at
 * signals every WAIT_SLICE_S. Fills results; -1 with an exception set. */
static int batch_wait(wsmod_state *st, batch *b, int kind, PyObject *results, PyObject *report,
                      int return_exceptions)
{
    Py_ssize_t reported = -1;
    if (report_progress(report, 0, b->n, &reported) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < b->n;) {
        /* A job that has finished already is taken without handing the GIL
         * over and back (the workers run ahead of this loop in a batch). */
        int done = wsig_job_wait(b->jobs[i], 0);
        if (!done) {
            Py_BEGIN_ALLOW_THREADS
            done = wsig_job_wait(b->jobs[i], WAIT_SLICE_S);
            Py_END_ALLOW_THREADS
        }
        if (PyErr_CheckSignals() < 0 ||
            (report && report_progress(report, batch_done_count(b, i), b->n, &reported) < 0)) {
            batch_cancel(b, i);
            return -1;
        }
        if (!done)
            continue;
        JobObject one = {.job = b->jobs[i], .kind = kind};
        PyObject *value = job_result(st, &one);
        if (!value) {
            if (!return_exceptions) {
                batch_cancel(b, i + 1);
                return -1;
            }
            value = take_exception();
            if (!value)
                return -1;
        }
        PyList_SET_ITEM(results, i, value);
        i++;
    }
    return report_progress(report, b->n, b->n, &reported);
}

static PyObject *Pool_run_many(PoolObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    static const char *const names[] = {"kind", "items", "concurrency", "report",
                                        "return_exceptions", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = STATE_OF(self);
    if (!st || wsp_parse_args("run_many", names, 5, 5, args, nargs, kwnames, a) < 0 ||
        pool_open(self) < 0)
        return NULL;
    const char *kind_s = wsp_as_str(a[0], "kind");
    if (!kind_s)
        return NULL;
    int kind = strcmp(kind_s, "command") == 0 ? WSIG_JOB_COMMAND : WSIG_JOB_QUERY;
    int return_exceptions = PyObject_IsTrue(a[4]);
    PyObject *report = a[3] == Py_None ? NULL : a[3];
    PyObject *seq = return_exceptions < 0 ? NULL : PySequence_Fast(a[1], "items must be iterable");
    if (!seq)
        return NULL;
    batch b = {.n = PySequence_Fast_GET_SIZE(seq)};
    PyObject *results = NULL, *r = Pool_set_workers(self, a[2]);
    if (!r || batch_specs(st, &b, kind, seq) < 0)
        goto fail;
    Py_DECREF(r);
    r = NULL;
    if (!(results = PyList_New(b.n)) || !(b.jobs = PyMem_Calloc((size_t)b.n + 1, sizeof *b.jobs)))
        goto fail;
    for (Py_ssize_t i = 0; i < b.n; i++) {
        wsig_error err = WSIG_ERROR_INIT;
        int rc = wsig_pool_submit(self->pool, &b.jobs[i], &b.specs[i], NULL, NULL, &err);
        if (rc != WSIG_OK) {
            batch_cancel(&b, 0);
            wsp_raise_wsig(st, rc, &err);
            goto fail;
        }
    }
    if (batch_wait(st, &b, kind, results, report, return_exceptions) < 0)
        goto fail;
    batch_release(&b);
    Py_DECREF(seq);
    return results;
fail:
    Py_XDECREF(r);
    Py_XDECREF(results);
    batch_release(&b);
    Py_DECREF(seq);
    return NULL;
}

static PyObject *Pool_check_items(PoolObject *self, PyObject *args)
{
    wsmod_state *st = STATE_OF(self);
    const char *kind_s;
    PyObject *items;
    if (!st || !PyArg_ParseTuple(args, "sO:check_items", &kind_s, &items))
        return NULL;
    PyObject *seq = PySequence_Fast(items, "items must be iterable");
    if (!seq)
        return NULL;
    batch b = {.n = PySequence_Fast_GET_SIZE(seq)};
    int rc = batch_specs(st, &b, strcmp(kind_s, "command") == 0 ? WSIG_JOB_COMMAND
                                                                : WSIG_JOB_QUERY, seq);
    batch_release(&b);
    Py_DECREF(seq);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Pool_repr(PoolObject *self)
{
    return PyUnicode_FromFormat("<walletsign._Pool of %R%s>", self->client ? self->client : Py_None,
                                self->pool ? "" : " closed");
}

static PyMethodDef Pool_methods[] = {
    {"submit_query", (PyCFunction)(void (*)(void))Pool_submit_query,
     METH_FASTCALL | METH_KEYWORDS, "Queue a query; callback(job) when it ends."},
    {"submit_command", (PyCFunction)(void (*)(void))Pool_submit_command,
     METH_FASTCALL | METH_KEYWORDS, "Queue a command; callback(job) when it ends."},
    {"submit_call", (PyCFunction)(void (*)(void))Pool_submit_call,
     METH_FASTCALL | METH_KEYWORDS, "Queue a call; callback(job) when it ends."},
    {"submit_request", (PyCFunction)(void (*)(void))Pool_submit_request,
     METH_FASTCALL | METH_KEYWORDS, "Queue a request; callback(job) when it ends."},
    {"run_many", (PyCFunction)(void (*)(void))Pool_run_many, METH_FASTCALL | METH_KEYWORDS,
     "run_many(kind, items, concurrency, report, return_exceptions): a batch, in input order."},
    {"check_items", (PyCFunction)Pool_check_items, METH_VARARGS,
     "check_items(kind, items): refuse a batch as run_many would, sending nothing."},
    {"set_workers", (PyCFunction)Pool_set_workers, METH_O, "How many calls may run at once."},
    {"deliver_to", (PyCFunction)Pool_deliver_to, METH_O,
     "Deliver the callbacks of jobs submitted from now on through a _Completions (or None)."},
    {"close", (PyCFunction)Pool_close, METH_NOARGS, "Abort what runs and stop the workers."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Pool_slots[] = {
    {Py_tp_new, Pool_new},
    {Py_tp_dealloc, Pool_dealloc},
    {Py_tp_traverse, Pool_traverse},
    {Py_tp_clear, Pool_clear},
    {Py_tp_repr, Pool_repr},
    {Py_tp_methods, Pool_methods},
    {Py_tp_doc, (void *)"_Pool(client, workers): worker threads running calls made like "
                        "client's (the core's wsig_pool)."},
    {0, NULL},
};

PyType_Spec wsp_Pool_spec = {
    .name = "walletsign._walletsign._Pool",
    .basicsize = sizeof(PoolObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = Pool_slots,
};
