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
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { LIMIT_MEMORY = 1, LIMIT_REDIS = 2 };

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
    /* A Redis bucket */
    wsig_redis *redis;
};

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* The in-process bucket                                              */

/* A new limiter of either kind, one reference (its maker's); a Redis
 * bucket's state is in Redis, the fields below unused. */
static wsig_rate_limit *limit_new(int kind, double rate, double burst)
{
    wsig_rate_limit *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    atomic_init(&l->refs, 1);
    l->kind = kind;
    l->rate = rate;
    l->burst = burst;
    l->tokens = burst;
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

static void limit_destroy(wsig_rate_limit *l)
{
    wsig__redis_free(l->redis);
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
    } else if ((l = limit_new(LIMIT_MEMORY, rate, burst))) {
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
        limit_destroy(l);
    }
    pthread_mutex_unlock(&registry_lock);
}

/* ------------------------------------------------------------------ */
/* The Redis bucket                                                   */
/* One hash per key identity, {t = tokens, ts = last refill in µs of   */
/* Redis's clock, 0 = the refill clock has not started}: the rules of  */
/* the in-process bucket above, run atomically inside Redis. ARGV: the */
/* operation (take, refund, seen), rate per second, burst, and for a   */
/* take the longest wait the caller can afford (µs): a longer wait     */
/* takes nothing. Returns the wait in µs (0 = send now). The key lives */
/* until the bucket would be full again (+1 s). TIME before a write    */
/* needs effects replication: the default since Redis 5, asked for on  */
/* older ones. docs/scale-out.md ("Rate limits") shows it, exactly.  */

static const char RATE_SCRIPT[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local now = redis.call('TIME')\n"
    "now = tonumber(now[1]) * 1000000 + tonumber(now[2])\n"
    "local rate, burst = tonumber(ARGV[2]) / 1000000, tonumber(ARGV[3])\n"
    "local b = redis.call('HMGET', KEYS[1], 't', 'ts')\n"
    "local tokens, ts = tonumber(b[1]) or burst, tonumber(b[2]) or 0\n"
    "if ts > 0 then\n"
    "  tokens = math.min(burst, tokens + (now - ts) * rate)\n"
    "  ts = now\n"
    "end\n"
    "local wait = 0\n"
    "if ARGV[1] == 'take' then\n"
    "  if tokens < 1 then\n"
    "    if ts == 0 then ts = now end\n"
    "    wait = math.ceil((1 - tokens) / rate)\n"
    "  end\n"
    "  if wait <= tonumber(ARGV[4]) then tokens = tokens - 1 end\n"
    "elseif ARGV[1] == 'refund' then\n"
    "  tokens = math.min(burst, tokens + 1)\n"
    "elseif ts == 0 then\n"
    "  ts = now\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'ts', string.format('%.0f', ts))\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate / 1000) + 1000)\n"
    "return wait\n";

static char g_script_sha[41];
static pthread_once_t g_script_once = PTHREAD_ONCE_INIT;

static void hash_script(void)
{
    unsigned char md[20]; /* SHA-1: what EVALSHA names a script by */
    unsigned int n = 0;
    if (!EVP_Digest(RATE_SCRIPT, sizeof RATE_SCRIPT - 1, md, &n, EVP_sha1(), NULL) || n != 20)
        memset(md, 0, sizeof md); /* no such script: every call takes the EVAL path */
    wsig__hex_encode(g_script_sha, md, sizeof md);
    g_script_sha[40] = '\0';
}

/* prefix + "rate:" + id (the prefix is at most WSIG_REDIS_PREFIX_MAX bytes). */
#define RATE_KEY_SIZE (WSIG_REDIS_PREFIX_MAX + 5 + WSIG_RATE_ID_SIZE)

/* Run the script for op on id's bucket: EVALSHA, then EVAL when Redis does
 * not know it yet (a new or restarted server). *out is the reply's integer. */
static int redis_script(wsig_rate_limit *l, const char *id, const char *op, double max_wait,
                        long long *out, wsig_error *err)
{
    char key[RATE_KEY_SIZE], rate[32], burst[32], max_us[32];
    pthread_once(&g_script_once, hash_script);
    snprintf(key, sizeof key, "%srate:%s", wsig__redis_prefix(l->redis), id);
    snprintf(rate, sizeof rate, "%.17g", l->rate);
    snprintf(burst, sizeof burst, "%.17g", l->burst);
    snprintf(max_us, sizeof max_us, "%.0f", max_wait > 0 ? max_wait * 1e6 : 0);
    const char *argv[] = {"EVALSHA", g_script_sha, "1", key, op, rate, burst, max_us};
    wsig_redis_reply reply;
    int rc = wsig__redis_command(l->redis, &reply, 8, argv, NULL, err);
    if (rc != WSIG_OK && reply.type == WSIG_REDIS_ERROR && strncmp(reply.str, "NOSCRIPT", 8) == 0) {
        argv[0] = "EVAL";
        argv[1] = RATE_SCRIPT;
        wsig__reset(err);
        rc = wsig__redis_command(l->redis, &reply, 8, argv, NULL, err);
    }
    if (rc != WSIG_OK)
        return rc;
    if (reply.type != WSIG_REDIS_INTEGER || reply.integer < 0)
        return wsig__fail_store(err, "redis: the rate limit's script answered something other "
                                     "than a wait");
    *out = reply.integer;
    return WSIG_OK;
}

int wsig_rate_limit_redis_new(wsig_rate_limit **out, const char *url, double rate, double burst,
                              const wsig_redis_options *opt, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    if (rate == 0)
        rate = 10;
    if (burst == 0)
        burst = 10;
    if (!(rate >= 0.001 && rate <= 1e6))
        return wsig__fail(err, WSIG_ERR_ARG, "rate must be 0 (the default, 10) or 0.001 to "
                          "1000000 per second");
    if (!(burst >= 1 && burst <= 1e6))
        return wsig__fail(err, WSIG_ERR_ARG, "burst must be 0 (the default, 10) or 1 to 1000000");
    wsig_rate_limit *l = limit_new(LIMIT_REDIS, rate, burst);
    if (!l)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    int rc = wsig__redis_new(&l->redis, url, opt, err);
    if (rc != WSIG_OK) {
        limit_destroy(l);
        return rc;
    }
    *out = l;
    return WSIG_OK;
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
    if (l->kind == LIMIT_MEMORY) {
        *wait = memory_take(l, max_wait);
        return WSIG_OK;
    }
    long long us;
    int rc = redis_script(l, id, "take", max_wait, &us, err);
    *wait = rc == WSIG_OK ? (double)us / 1e6 : 0;
    return rc;
}

/* A store's refund and clock start are best effort: a lost refund leaves
 * the bucket a token short, a lost start starts the clock later (when the
 * bucket runs dry). Both err on the side of fewer requests. */
void wsig__rate_limit_refund(wsig_rate_limit *l, const char *id)
{
    long long ignored;
    if (l->kind == LIMIT_MEMORY)
        memory_refund(l);
    else
        (void)redis_script(l, id, "refund", 0, &ignored, NULL);
}

void wsig__rate_limit_answer_seen(wsig_rate_limit *l, const char *id)
{
    long long ignored;
    if (l->kind == LIMIT_MEMORY)
        memory_answer_seen(l);
    else
        (void)redis_script(l, id, "seen", 0, &ignored, NULL);
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
        limit_destroy(l);
}
