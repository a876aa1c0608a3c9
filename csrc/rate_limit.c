/* Token buckets shared by clients (rate_limit.h). Two kinds:
 *  - memory: one bucket in this process, behind its own lock. The registry
 *    below hands one to every client that signs with the same key at the
 *    same rate and burst: four clients with one key share what the server
 *    gives that key (docs/protocols.md: 10 requests/s per key).
 *  - redis: one bucket in Redis for every process and machine (one atomic
 *    script per request; see the redis part below).
 * A token is taken before the wait for it (the bucket may go below zero):
 * waiters queue in the order they came, each waits outside the lock, and a
 * wait cut short (abort_check, deadline) gives its token back. */
#include "rate_limit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { LIMIT_MEMORY = 1 };

struct wsig_rate_limit {
    atomic_int refs;
    int kind;
    double rate, burst;
    pthread_mutex_t lock;     /* guards tokens and last_refill */
    double tokens;            /* below 1: the next taker waits; below 0: waits promised */
    double last_refill;       /* monotonic s; 0 = the refill clock has not started */
    /* A registry bucket (registry_lock guards these and the list) */
    bool registered;
    unsigned char identity[32];
    struct wsig_rate_limit *next;
};

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* The in-process bucket                                              */

static wsig_rate_limit *memory_new(double rate, double burst)
{
    wsig_rate_limit *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    atomic_init(&l->refs, 1);
    l->kind = LIMIT_MEMORY;
    l->rate = rate;
    l->burst = burst;
    l->tokens = burst;
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

static void memory_destroy(wsig_rate_limit *l)
{
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* Under l->lock: add what time has given since the last refill. */
static void refill(wsig_rate_limit *l, double now)
{
    if (l->last_refill == 0)
        return;
    l->tokens += (now - l->last_refill) * l->rate;
    if (l->tokens > l->burst)
        l->tokens = l->burst;
    l->last_refill = now;
}

static double memory_take(wsig_rate_limit *l, double max_wait)
{
    pthread_mutex_lock(&l->lock);
    double now = monotonic_s();
    refill(l, now);
    if (l->tokens < 1 && l->last_refill == 0)
        l->last_refill = now; /* a burst with no answer at all: start the clock */
    double wait = l->tokens >= 1 ? 0 : (1 - l->tokens) / l->rate;
    if (wait <= max_wait)
        l->tokens -= 1;
    pthread_mutex_unlock(&l->lock);
    return wait;
}

static void memory_refund(wsig_rate_limit *l)
{
    pthread_mutex_lock(&l->lock);
    refill(l, monotonic_s());
    l->tokens = l->tokens + 1 < l->burst ? l->tokens + 1 : l->burst;
    pthread_mutex_unlock(&l->lock);
}

static void memory_answer_seen(wsig_rate_limit *l)
{
    pthread_mutex_lock(&l->lock);
    if (l->last_refill == 0)
        l->last_refill = monotonic_s();
    pthread_mutex_unlock(&l->lock);
}

/* ------------------------------------------------------------------ */
/* The process-wide registry of per-key buckets                       */
/* A bucket lives while a client uses it; the next client of the key   */
/* after the last one is freed starts with a full bucket, as a single  */
/* client always did (keep clients for the process's life, one per     */
/* thread, not one per request). A handful of keys per process: a list. */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static wsig_rate_limit *registry; /* its members' refs change under registry_lock only */

static wsig_rate_limit *registry_get(const unsigned char identity[32], double rate, double burst)
{
    pthread_mutex_lock(&registry_lock);
    wsig_rate_limit *l = registry;
    while (l && !(l->rate == rate && l->burst == burst &&
                  memcmp(l->identity, identity, 32) == 0))
        l = l->next;
    if (l) {
        atomic_fetch_add(&l->refs, 1);
    } else if ((l = memory_new(rate, burst))) {
        l->registered = true;
        memcpy(l->identity, identity, 32);
        l->next = registry;
        registry = l;
    }
    pthread_mutex_unlock(&registry_lock);
    return l;
}

static void registry_release(wsig_rate_limit *l)
{
    pthread_mutex_lock(&registry_lock);
    if (atomic_fetch_sub(&l->refs, 1) == 1) {
        wsig_rate_limit **p = &registry;
        while (*p != l)
            p = &(*p)->next;
        *p = l->next;
        memory_destroy(l);
    }
    pthread_mutex_unlock(&registry_lock);
}

/* ------------------------------------------------------------------ */
/* What the client calls                                              */

int wsig__rate_limit_for_client(wsig_rate_limit **out, char *id, wsig_rate_limit *given,
                                const wsig_auth *auth, double rate, double burst,
                                wsig_error *err)
{
    unsigned char identity[32];
    *out = NULL;
    if (!wsig__auth_rate_identity(auth, identity))
        return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "hashing the rate limit's key identity");
    wsig__hex_encode(id, identity, sizeof identity);
    id[2 * sizeof identity] = '\0';
    if (given) {
        atomic_fetch_add(&given->refs, 1);
        *out = given;
        return WSIG_OK;
    }
    *out = registry_get(identity, rate, burst);
    return *out ? WSIG_OK : wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
}

int wsig__rate_limit_take(wsig_rate_limit *l, const char *id, double max_wait, double *wait,
                          wsig_error *err)
{
    *wait = memory_take(l, max_wait);
    return WSIG_OK;
}

void wsig__rate_limit_refund(wsig_rate_limit *l, const char *id)
{
    memory_refund(l);
}

void wsig__rate_limit_answer_seen(wsig_rate_limit *l, const char *id)
{
    memory_answer_seen(l);
}

void wsig_rate_limit_free(wsig_rate_limit *l)
{
    if (!l)
        return;
    if (l->registered) {
        registry_release(l);
        return;
    }
    if (atomic_fetch_sub(&l->refs, 1) == 1)
        memory_destroy(l);
}
