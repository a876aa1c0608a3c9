/* Pools: client calls run on worker threads (wsig_pool_*, walletsign.h),
 * for batches and for bindings with an event loop (Python's AsyncClient).
 *
 * Each worker owns a wsig_client made like the pool's model, so a job is an
 * ordinary call: signed afresh per attempt, retried, rate limited, bounded
 * by its deadline, all by exchange() in client.c, the one place those rules
 * live (docs/protocols.md, jwt). Each worker's transfer runs on its own
 * libcurl multi handle (client.c, perform), polling abort_check: here that
 * is "this job was cancelled, or the pool is closing". The alternative, one
 * multi handle for every transfer with its sockets driven by the binding's
 * event loop, would need the retry and wait logic rewritten as a state
 * machine, and puts every byte through the loop thread; docs/c-api.md says
 * what was measured. The workers take their tokens from the model client's
 * rate limiter (rate_limit.h: its key's process-wide bucket, or a store's),
 * so a batch keeps the key's rate.
 *
 * Locking: pool->lock guards the queue, the workers' table, and every job's
 * state and refs. A job's cancelled flag and the pool's closing flag are
 * also read without it, atomically, by abort_check in the worker threads. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

typedef struct worker {
    pthread_t thread;
    wsig_pool *pool;
    wsig_client *client;
    int index;
    wsig_job *current; /* set and read by the worker's own thread only */
    bool orphan;       /* the pool was freed from this very thread (a done
                          callback): it frees itself when it ends */
} worker;

struct wsig_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;     /* a job queued, the limit raised, or closing */
    pthread_cond_t finished; /* some job finished */
    int refs;                /* the caller's, and one per job alive */
    wsig_client *model;      /* the workers are made like it */
    wsig_pool_hooks hooks;
    wsig_job *head, *tail;
    int queued, busy;
    worker *workers[WSIG_POOL_MAX_WORKERS];
    int n_workers, limit;
    int closing; /* atomic */
    long pid;    /* its threads exist only in this process (fork) */
};

struct wsig_job {
    wsig_pool *pool;
    wsig_job *next;
    int refs;      /* the caller's, and the pool's until the job ends */
    int state;     /* JOB_* */
    int cancelled; /* atomic */
    int waiters;   /* threads in wsig_job_wait on it (under the pool's lock) */
    int kind;
    char *name, *payload, *idempotency_key, *method, *path;
    void *body;
    size_t body_len;
    wsig_header_ref *extra;
    size_t n_extra;
    wsig_job_done_fn done;
    void *done_ud;
    int rc;
    char *result_json;
    wsig_response res;
    wsig_error err;
};

/* ------------------------------------------------------------------ */
/* Lifetimes                                                          */

static void pool_unref(wsig_pool *p)
{
    pthread_mutex_lock(&p->lock);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (!last)
        return;
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->finished);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static void job_destroy(wsig_job *j)
{
    free(j->name);
    free(j->payload);
    free(j->idempotency_key);
    free(j->method);
    free(j->path);
    free(j->body);
    for (size_t i = 0; i < j->n_extra; i++) {
        free((char *)j->extra[i].name);
        free((char *)j->extra[i].value);
    }
    free(j->extra);
    wsig_free(j->result_json);
    wsig_response_clear(&j->res);
    wsig_error_clear(&j->err);
    free(j);
}

static void job_unref(wsig_job *j)
{
    wsig_pool *p = j->pool;
    pthread_mutex_lock(&p->lock);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (last) {
        job_destroy(j);
        pool_unref(p);
    }
}

void wsig_job_free(wsig_job *job)
{
    if (job)
        job_unref(job);
}

/* The job has ended: wake its waiters, tell its done callback, and let go. */
static void finish(wsig_job *j)
{
    wsig_pool *p = j->pool;
    pthread_mutex_lock(&p->lock);
    j->state = JOB_DONE;
    /* Only when someone waits for this job: a batch's one waiter would
     * otherwise wake (a futex call and a thread switch each way) at every
     * job that ends before the one it waits for (#14, bench/RESULTS.md). */
    if (j->waiters)
        pthread_cond_broadcast(&p->finished);
    pthread_mutex_unlock(&p->lock);
    if (j->done)
        j->done(j->done_ud, j);
    job_unref(j);
}

static void finish_unsent(wsig_job *j, const char *why)
{
    j->rc = wsig__fail(&j->err, WSIG_ERR_ABORTED, "%s: the request was not sent", why);
    finish(j);
}

/* ------------------------------------------------------------------ */
/* Workers                                                            */

/* The workers' abort_check: this job was cancelled, or the pool closes. */
static int worker_aborted(void *ud)
{
    worker *w = ud;
    return __atomic_load_n(&w->pool->closing, __ATOMIC_ACQUIRE) ||
           (w->current && __atomic_load_n(&w->current->cancelled, __ATOMIC_ACQUIRE));
}

static void run_job(wsig_client *c, wsig_job *j)
{
    switch (j->kind) {
    case WSIG_JOB_QUERY:
        j->rc = wsig_client_query(c, &j->result_json, j->name, j->payload, &j->err);
        break;
    case WSIG_JOB_COMMAND:
        j->rc = wsig_client_command(c, &j->result_json, j->name, j->payload, j->idempotency_key,
                                    &j->err);
        break;
    case WSIG_JOB_CALL:
        j->rc = wsig_client_call(c, &j->result_json, j->method, j->path, j->payload, &j->err);
        break;
    case WSIG_JOB_REQUEST:
        j->rc = wsig_client_request(c, &j->res, j->method, j->path, j->body, j->body_len,
                                    j->extra, j->n_extra, &j->err);
        break;
    default: /* WSIG_JOB_REQUEST_JSON; kinds are checked at submission */
        j->rc = wsig_client_request_json(c, &j->res, j->method, j->path, j->body, j->body_len,
                                         j->extra, j->n_extra, &j->err);
        break;
    }
}

static wsig_job *dequeue(wsig_pool *p)
{
    wsig_job *j = p->head;
    p->head = j->next;
    if (!p->head)
        p->tail = NULL;
    j->next = NULL;
    p->queued--;
    return j;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    wsig_pool *p = w->pool;
    if (p->hooks.on_thread)
        p->hooks.on_thread(p->hooks.ud, 1);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->closing && (!p->head || w->index >= p->limit))
            pthread_cond_wait(&p->work, &p->lock);
        if (p->closing)
            break; /* wsig_pool_free ends what is still queued */
        wsig_job *j = dequeue(p);
        j->state = JOB_RUNNING;
        p->busy++;
        pthread_mutex_unlock(&p->lock);
        w->current = j;
        /* A job cancelled between dequeue and here is aborted by the core's
         * first abort_check, before anything is sent. */
        run_job(w->client, j);
        w->current = NULL;
        pthread_mutex_lock(&p->lock);
        p->busy--;
        pthread_mutex_unlock(&p->lock);
        finish(j);
        pthread_mutex_lock(&p->lock);
    }
    bool orphan = w->orphan;
    pthread_mutex_unlock(&p->lock);
    if (p->hooks.on_thread)
        p->hooks.on_thread(p->hooks.ud, 0);
    if (orphan) {
        wsig_client_free(w->client);
        free(w);
    }
    pool_unref(p); /* the worker's own reference */
    return NULL;
}

/* Start one more worker; under p->lock. */
static int spawn_worker(wsig_pool *p, wsig_error *err)
{
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    w->pool = p;
    w->index = p->n_workers;
    int rc = wsig__client_clone(&w->client, p->model, worker_aborted, w, p->hooks.on_event,
                                p->hooks.ud, err);
    if (rc != WSIG_OK) {
        free(w);
        return rc;
    }
    p->refs++; /* the worker's, until it ends: it may outlive wsig_pool_free */
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        p->refs--;
        wsig_client_free(w->client);
        free(w);
        return wsig__fail(err, WSIG_ERR_TRANSPORT, "could not start a worker thread");
    }
    p->workers[p->n_workers++] = w;
    return WSIG_OK;
}

/* ------------------------------------------------------------------ */
/* Public calls                                                       */

static bool workers_in_range(int n)
{
    return n >= 1 && n <= WSIG_POOL_MAX_WORKERS;
}

int wsig_pool_new(wsig_pool **out, wsig_client *client, int max_workers,
                  const wsig_pool_hooks *hooks, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    if (!workers_in_range(max_workers))
        return wsig__fail(err, WSIG_ERR_ARG, "a pool has 1 to %d workers",
                          WSIG_POOL_MAX_WORKERS);
    wsig_pool *p = calloc(1, sizeof *p);
    if (!p)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* wsig_job_wait's clock */
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, &ca);
    pthread_cond_init(&p->finished, &ca);
    pthread_condattr_destroy(&ca);
    p->refs = 1;
    p->limit = max_workers;
    p->pid = (long)getpid();
    if (hooks)
        p->hooks = *hooks;
    int rc = wsig__client_clone(&p->model, client, NULL, NULL, NULL, NULL, err);
    if (rc != WSIG_OK) {
        pool_unref(p);
        return rc;
    }
    *out = p;
    return WSIG_OK;
}

int wsig_pool_set_workers(wsig_pool *p, int n, wsig_error *err)
{
    wsig__reset(err);
    if (!workers_in_range(n))
        return wsig__fail(err, WSIG_ERR_ARG, "a pool has 1 to %d workers",
                          WSIG_POOL_MAX_WORKERS);
    pthread_mutex_lock(&p->lock);
    p->limit = n;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    return WSIG_OK;
}

static int check_spec(const wsig_job_spec *s, wsig_error *err)
{
    bool halogen = s->kind == WSIG_JOB_QUERY || s->kind == WSIG_JOB_COMMAND;
    bool request = s->kind == WSIG_JOB_REQUEST || s->kind == WSIG_JOB_REQUEST_JSON;
    if (!halogen && !request && s->kind != WSIG_JOB_CALL)
        return wsig__fail(err, WSIG_ERR_ARG, "unknown job kind %d", s->kind);
    if (halogen && !s->name)
        return wsig__fail(err, WSIG_ERR_ARG, "a query or command job needs a name");
    if (!halogen && (!s->method || !s->path))
        return wsig__fail(err, WSIG_ERR_ARG, "a call or request job needs a method and a path");
    if ((s->body_len && !s->body) || (s->n_extra && !s->extra))
        return wsig__fail(err, WSIG_ERR_ARG, "NULL body or headers with a length");
    /* A batch may be run again after an interruption or a failure; only an
     * Idempotency-Key keeps a command from running twice (docs/protocols.md). */
    if (s->kind == WSIG_JOB_COMMAND && s->require_idempotency_key &&
        (!s->idempotency_key || !*s->idempotency_key))
        return wsig__fail(err, WSIG_ERR_ARG, "every command of a batch needs an idempotency "
                          "key (running the batch again must not run a command twice)");
    return WSIG_OK;
}

int wsig_job_spec_check(const wsig_job_spec *spec, wsig_error *err)
{
    wsig__reset(err);
    return check_spec(spec, err);
}

static bool copy_str(char **out, const char *s)
{
    *out = s ? strdup(s) : NULL;
    return !s || *out;
}

static char *copy_bytes(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static bool copy_headers(wsig_job *j, const wsig_header_ref *extra, size_t n)
{
    if (!n)
        return true;
    if (!(j->extra = calloc(n, sizeof *j->extra)))
        return false;
    for (; j->n_extra < n; j->n_extra++) {
        const wsig_header_ref *h = &extra[j->n_extra];
        wsig_header_ref *d = &j->extra[j->n_extra];
        size_t nl = h->name_len ? h->name_len : (h->name ? strlen(h->name) : 0);
        size_t vl = h->value_len ? h->value_len : (h->value ? strlen(h->value) : 0);
        /* A missing name or value stays missing: the core refuses it. */
        d->name = h->name ? copy_bytes(h->name, nl) : NULL;
        d->value = h->value ? copy_bytes(h->value, vl) : NULL;
        d->name_len = h->name_len;
        d->value_len = h->value_len;
        if ((h->name && !d->name) || (h->value && !d->value)) {
            j->n_extra++;
            return false;
        }
    }
    return true;
}

static wsig_job *job_from_spec(const wsig_job_spec *s)
{
    wsig_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->err = (wsig_error)WSIG_ERROR_INIT;
    j->kind = s->kind;
    bool ok = copy_str(&j->name, s->name) && copy_str(&j->payload, s->payload_json) &&
              copy_str(&j->idempotency_key, s->idempotency_key) &&
              copy_str(&j->method, s->method) && copy_str(&j->path, s->path) &&
              copy_headers(j, s->extra, s->n_extra);
    if (ok && s->body_len && !(j->body = copy_bytes(s->body, s->body_len)))
        ok = false;
    j->body_len = s->body_len;
    if (!ok) {
        job_destroy(j);
        return NULL;
    }
    return j;
}

int wsig_pool_submit(wsig_pool *p, wsig_job **out, const wsig_job_spec *spec,
                     wsig_job_done_fn done, void *done_ud, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    int rc = check_spec(spec, err);
    if (rc != WSIG_OK)
        return rc;
    /* A forked child has none of the pool's threads: its jobs would wait forever. */
    if (p->pid != (long)getpid())
        return wsig__fail(err, WSIG_ERR_ARG, "the pool was made in another process (before "
                          "fork()): make a new one");
    wsig_job *j = job_from_spec(spec);
    if (!j)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    j->pool = p;
    j->done = done;
    j->done_ud = done_ud;
    j->refs = 2; /* the caller's and the pool's */
    pthread_mutex_lock(&p->lock);
    if (p->closing) {
        pthread_mutex_unlock(&p->lock);
        job_destroy(j);
        return wsig__fail(err, WSIG_ERR_ARG, "the pool is closed");
    }
    /* Another worker when every one there is will be busy with what waits. */
    if (p->n_workers < p->limit && p->busy + p->queued + 1 > p->n_workers &&
        (rc = spawn_worker(p, err)) != WSIG_OK && p->n_workers == 0) {
        pthread_mutex_unlock(&p->lock);
        job_destroy(j);
        return rc;
    }
    wsig__reset(err); /* a failed extra worker is not the job's failure */
    p->refs++;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
    *out = j;
    return WSIG_OK;
}

void wsig_job_cancel(wsig_job *j)
{
    wsig_pool *p = j->pool;
    __atomic_store_n(&j->cancelled, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&p->lock);
    bool queued = j->state == JOB_QUEUED;
    if (queued) {
        wsig_job **link = &p->head, *prev = NULL;
        while (*link != j)
            prev = *link, link = &(*link)->next;
        *link = j->next;
        if (p->tail == j)
            p->tail = prev;
        j->next = NULL;
        p->queued--;
        j->state = JOB_RUNNING; /* ending here, not in a worker */
    }
    pthread_mutex_unlock(&p->lock);
    if (queued)
        finish_unsent(j, "cancelled before a worker took it");
}

int wsig_job_wait(wsig_job *j, double timeout_s)
{
    wsig_pool *p = j->pool;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (timeout_s > 0) {
        double whole = (double)(time_t)timeout_s;
        until.tv_sec += (time_t)whole;
        until.tv_nsec += (long)((timeout_s - whole) * 1e9);
        if (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    j->waiters++;
    while (j->state != JOB_DONE && timeout_s > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&p->finished, &p->lock, &until);
    j->waiters--;
    bool done = j->state == JOB_DONE;
    pthread_mutex_unlock(&p->lock);
    return done;
}

int wsig_job_result(wsig_job *j, char **result_json, wsig_response *res, wsig_error *err)
{
    if (result_json)
        *result_json = NULL;
    if (res)
        memset(res, 0, sizeof *res);
    wsig__reset(err);
    pthread_mutex_lock(&j->pool->lock);
    bool done = j->state == JOB_DONE;
    pthread_mutex_unlock(&j->pool->lock);
    if (!done)
        return wsig__fail(err, WSIG_ERR_ARG, "the job has not finished");
    if (result_json) {
        *result_json = j->result_json;
        j->result_json = NULL;
    }
    if (res) {
        *res = j->res;
        memset(&j->res, 0, sizeof j->res);
    }
    if (err) {
        wsig_error_clear(err);
        *err = j->err;
        j->err = (wsig_error)WSIG_ERROR_INIT;
    }
    return j->rc;
}

void wsig_pool_free(wsig_pool *p)
{
    if (!p)
        return;
    /* In a forked child the workers do not exist (nothing to join) and
     * their connections are the parent's (not to be closed from here, as
     * client.c's ensure_own_handle says): the pool is abandoned, not freed. */
    if (p->pid != (long)getpid())
        return;
    pthread_mutex_lock(&p->lock);
    __atomic_store_n(&p->closing, 1, __ATOMIC_RELEASE);
    wsig_job *queued = p->head;
    p->head = p->tail = NULL;
    p->queued = 0;
    for (wsig_job *j = queued; j; j = j->next)
        j->state = JOB_RUNNING; /* ending here: a cancel must not unlink it */
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    while (queued) {
        wsig_job *next = queued->next;
        queued->next = NULL;
        finish_unsent(queued, "the pool was closed");
        queued = next;
    }
    /* Running jobs see closing in their abort_check and end within 50 ms.
     * Called from a worker's own done callback (a binding's garbage
     * collector may do that), the pool cannot join that worker: it is
     * detached and frees itself once its callback returns. */
    for (int i = 0; i < p->n_workers; i++) {
        worker *w = p->workers[i];
        if (pthread_equal(w->thread, pthread_self())) {
            pthread_mutex_lock(&p->lock);
            w->orphan = true;
            pthread_mutex_unlock(&p->lock);
            pthread_detach(w->thread);
            continue;
        }
        pthread_join(w->thread, NULL);
        wsig_client_free(w->client);
        free(w);
    }
    wsig_client_free(p->model);
    pool_unref(p);
}
