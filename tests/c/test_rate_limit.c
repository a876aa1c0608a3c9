/* Rate limits shared by clients (csrc/rate_limit.c) against the mock
 * server's per-key bucket (10/s, burst 10, a 429 when it is empty):
 *
 * test_rate_limit  four clients with one key in four threads share one
 *                  bucket (the mock sees no 429); without a limiter the
 *                  same load draws 429s (the test can fail); clients of
 *                  different keys do not wait for each other.
 * test_rate_limit_redis  the same four clients, each with its own Redis
 *                  limiter (its own connection, as four processes would
 *                  have) on the redis-server of WSIG_TEST_REDIS_URL
 *                  (scripts/with-redis.sh; unset = a failure): no 429, one
 *                  key with a TTL; a Redis that cannot be reached fails
 *                  the call closed (WSIG_ERR_STORE, nothing sent).
 *
 * Upper time bounds are multiplied by WSIG_TEST_SCALE (valgrind runs). */
#include "mockctl.h"
#include "redisctl.h"
#include "testlib.h"
#include "walletsign.h"
#include "../../csrc/rate_limit.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define QUERIES_PER_THREAD 6

static t_mock M;
static wsig_key *g_key;

/* Register g_key with the mock under key_id; false (and a FAIL) if refused. */
static bool register_key(const char *key_id)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *pem = NULL, *out = NULL;
    size_t len = 0;
    char path[256];
    int rc = wsig_key_public_pem(g_key, &pem, &len, &err);
    CHECK(rc == WSIG_OK, "public pem: %s", err.message);
    if (rc != WSIG_OK)
        return false;
    snprintf(path, sizeof path, "/_mock/halogen/register_public?scope=all&key_id=%s", key_id);
    long st = t_mock_http(&M, "POST", path, pem, len, &out);
    wsig_free(pem);
    CHECK(st == 200, "register_public %s -> %ld %s", key_id, st, out ? out : "");
    free(out);
    return st == 200;
}

static int count_429(void)
{
    cJSON *log = t_mock_log(&M);
    cJSON *sel = log ? t_log_filter(log, "/query") : NULL;
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, sel)
    {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "status");
        n += cJSON_IsNumber(s) && s->valuedouble == 429;
    }
    CHECK(sel != NULL, "cannot read the mock log");
    cJSON_Delete(sel);
    cJSON_Delete(log);
    return n;
}

typedef struct {
    const char *key_id;
    const char *redis_url;      /* non-NULL: a Redis limiter of the worker's own */
    const char *redis_prefix;
    wsig_client_options opt;
    int ok;
    atomic_int *rate_waits;
    char error[WSIG_ERROR_MESSAGE_SIZE];
} worker;

static void count_rate_wait(void *ud, const wsig_client_event *e)
{
    if (e->kind == WSIG_EVENT_WAIT_RATE)
        atomic_fetch_add((atomic_int *)ud, 1);
}

/* One thread: its own auth and client (key_id), QUERIES_PER_THREAD queries. */
static void *run_worker(void *arg)
{
    worker *w = arg;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *auth = NULL;
    wsig_client *c = NULL;
    wsig_jwt_options jo = {0};
    wsig_rate_limit *limiter = NULL;
    wsig_redis_options ro = {.prefix = w->redis_prefix};
    w->opt.on_event = count_rate_wait;
    w->opt.event_ud = w->rate_waits;
    if (w->redis_url &&
        wsig_rate_limit_redis_new(&limiter, w->redis_url, 10, 10, &ro, &err) != WSIG_OK) {
        snprintf(w->error, sizeof w->error, "%s", err.message);
        wsig_error_clear(&err);
        return NULL;
    }
    w->opt.rate_limit = limiter;
    if (wsig_auth_jwt_new(&auth, g_key, w->key_id, &jo, &err) == WSIG_OK &&
        wsig_client_new(&c, M.url, auth, &w->opt, &err) == WSIG_OK) {
        for (int i = 0; i < QUERIES_PER_THREAD; i++) {
            char *json = NULL;
            w->ok += wsig_client_query(c, &json, "list_display_currencies", NULL, &err) == WSIG_OK;
            wsig_free(json);
        }
    }
    snprintf(w->error, sizeof w->error, "%s", err.message);
    wsig_client_free(c);
    wsig_auth_free(auth);
    wsig_rate_limit_free(limiter);
    wsig_error_clear(&err);
    return NULL;
}

/* THREADS workers at once; key_ids[i] is worker i's; returns the seconds taken. */
static double run_workers(worker *w, const char *const *key_ids, const wsig_client_options *opt,
                          atomic_int *rate_waits)
{
    pthread_t t[THREADS];
    double t0 = now_s();
    for (int i = 0; i < THREADS; i++) {
        const char *url = w[i].redis_url, *prefix = w[i].redis_prefix;
        w[i] = (worker){.key_id = key_ids[i], .redis_url = url, .redis_prefix = prefix,
                        .opt = *opt, .rate_waits = rate_waits};
        CHECK(pthread_create(&t[i], NULL, run_worker, &w[i]) == 0, "pthread_create");
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    return now_s() - t0;
}

static int total_ok(const worker *w)
{
    int n = 0;
    for (int i = 0; i < THREADS; i++)
        n += w[i].ok;
    return n;
}

/* The default: one bucket for the key, so 24 queries of four clients keep
 * within 10/s, burst 10 (>= 1.4 s) and the mock refuses none. */
static void shared_by_default(void)
{
    const char *const ids[THREADS] = {"c-shared", "c-shared", "c-shared", "c-shared"};
    wsig_client_options opt = WSIG_CLIENT_OPTIONS_INIT;
    worker w[THREADS] = {{0}};
    atomic_int waits = 0;
    t_mock_clean(&M);
    double dt = run_workers(w, ids, &opt, &waits);
    int n429 = count_429();
    CHECK(total_ok(w) == THREADS * QUERIES_PER_THREAD, "shared: %d/%d succeeded (%s)",
          total_ok(w), THREADS * QUERIES_PER_THREAD, w[0].error);
    CHECK(n429 == 0, "shared: the mock answered %d x 429: the clients overran the key's limit",
          n429);
    CHECK(dt >= 1.35 && dt < 6 * slack(), "shared: %d queries in %.3f s (>= 1.4 s at 10/s)",
          THREADS * QUERIES_PER_THREAD, dt);
    CHECK(atomic_load(&waits) >= THREADS * QUERIES_PER_THREAD - 10,
          "shared: %d rate-limit waits, want at least %d", atomic_load(&waits),
          THREADS * QUERIES_PER_THREAD - 10);
}

/* The control: no limiter, the same load, and the mock does refuse (one
 * attempt per 429: the client hands it back at once). */
static void without_limiter(void)
{
    const char *const ids[THREADS] = {"c-unlimited", "c-unlimited", "c-unlimited",
                                      "c-unlimited"};
    wsig_client_options opt = WSIG_CLIENT_OPTIONS_INIT;
    opt.rate = -1;
    opt.max_429_attempts = 1;
    worker w[THREADS] = {{0}};
    atomic_int waits = 0;
    t_mock_clean(&M);
    run_workers(w, ids, &opt, &waits);
    int n429 = count_429();
    CHECK(n429 >= 1 && total_ok(w) + n429 == THREADS * QUERIES_PER_THREAD,
          "control: %d x 429 and %d answers without a limiter", n429, total_ok(w));
    CHECK(atomic_load(&waits) == 0, "control: %d rate-limit waits", atomic_load(&waits));
}

/* Different keys, different buckets: 6 queries each fit in each burst. */
static void separate_keys(void)
{
    const char *const ids[THREADS] = {"c-key-a", "c-key-b", "c-key-c", "c-key-d"};
    wsig_client_options opt = WSIG_CLIENT_OPTIONS_INIT;
    worker w[THREADS] = {{0}};
    atomic_int waits = 0;
    t_mock_clean(&M);
    run_workers(w, ids, &opt, &waits);
    CHECK(total_ok(w) == THREADS * QUERIES_PER_THREAD && count_429() == 0,
          "separate keys: %d answers", total_ok(w));
    CHECK(atomic_load(&waits) == 0, "separate keys: %d rate-limit waits (buckets shared?)",
          atomic_load(&waits));
}

/* Another rate or burst is another bucket (a client that asks for 1000/s
 * does not drain the default clients' bucket), and a freed bucket's next
 * client starts full. */
static void buckets_by_rate(void)
{
    wsig_auth *auth = NULL;
    wsig_client *fast = NULL, *slow = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_jwt_options jo = {0};
    atomic_int waits = 0;
    wsig_client_options fo = WSIG_CLIENT_OPTIONS_INIT, so = WSIG_CLIENT_OPTIONS_INIT;
    fo.rate = 1000, fo.burst = 1000;
    so.rate = 1, so.burst = 1;
    so.on_event = count_rate_wait;
    so.event_ud = &waits;
    int rc = wsig_auth_jwt_new(&auth, g_key, "c-by-rate", &jo, &err);
    for (int round = 0; rc == WSIG_OK && round < 2; round++) {
        rc = wsig_client_new(&fast, M.url, auth, &fo, &err);
        if (rc == WSIG_OK)
            rc = wsig_client_new(&slow, M.url, auth, &so, &err);
        for (int i = 0; rc == WSIG_OK && i < 3; i++) {
            char *json = NULL;
            rc = wsig_client_query(fast, &json, "list_display_currencies", NULL, &err);
            wsig_free(json);
        }
        char *json = NULL;
        if (rc == WSIG_OK)
            rc = wsig_client_query(slow, &json, "list_display_currencies", NULL, &err);
        wsig_free(json);
        wsig_client_free(fast);
        wsig_client_free(slow);
        fast = slow = NULL;
    }
    CHECK(rc == WSIG_OK && atomic_load(&waits) == 0,
          "by rate: rc %d, %d waits of the 1/s client (%s)", rc, atomic_load(&waits),
          err.message);
    wsig_auth_free(auth);
    wsig_error_clear(&err);
}

/* Two clients of two auths made apart: one request each, the second
 * client's announced rate-limit waits (rate 5, burst 1: a shared bucket
 * makes the second wait). Any answer will do (the mock's 404 too). */
static int second_client_waits(wsig_auth *a, wsig_auth *b)
{
    atomic_int waits = 0;
    wsig_client_options o = WSIG_CLIENT_OPTIONS_INIT;
    o.rate = 5, o.burst = 1;
    wsig_client *ca = NULL, *cb = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    int rc = a && b ? wsig_client_new(&ca, M.url, a, &o, &err) : WSIG_ERR_ARG;
    o.on_event = count_rate_wait;
    o.event_ud = &waits;
    if (rc == WSIG_OK)
        rc = wsig_client_new(&cb, M.url, b, &o, &err);
    if (rc == WSIG_OK && (rc = wsig_client_request(ca, &res, "GET", "/rate-probe", NULL, 0, NULL,
                                                   0, &err)) == WSIG_OK)
        wsig_response_clear(&res);
    if (rc == WSIG_OK && (rc = wsig_client_request(cb, &res, "GET", "/rate-probe", NULL, 0, NULL,
                                                   0, &err)) == WSIG_OK)
        wsig_response_clear(&res);
    CHECK(rc == WSIG_OK, "identities: %s", err.message);
    wsig_client_free(ca);
    wsig_client_free(cb);
    wsig_auth_free(a);
    wsig_auth_free(b);
    wsig_error_clear(&err);
    return rc == WSIG_OK ? atomic_load(&waits) : -1;
}

static wsig_auth *jwt(const char *kid)
{
    wsig_auth *a = NULL;
    wsig_jwt_options jo = {0};
    return wsig_auth_jwt_new(&a, g_key, kid, &jo, NULL) == WSIG_OK ? a : NULL;
}

static wsig_auth *hmac(const char *api_key, const char *secret)
{
    wsig_auth *a = NULL;
    return wsig_auth_hmac_new(&a, api_key, secret, strlen(secret), NULL, NULL) == WSIG_OK ? a
                                                                                      : NULL;
}

static wsig_auth *message(const wsig_key *k)
{
    wsig_auth *a = NULL;
    return k && wsig_auth_message_new(&a, k, NULL, NULL) == WSIG_OK ? a : NULL;
}

/* The identity is what the server counts by: the key id, the api key (not
 * the secret), the address; each protocol's apart from the others'. */
static void identities(void)
{
    wsig_key *k1 = NULL, *k2 = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    CHECK(wsig_key_generate(&k1, WSIG_KEY_SECP256K1, 0, &err) == WSIG_OK &&
              wsig_key_generate(&k2, WSIG_KEY_SECP256K1, 0, &err) == WSIG_OK,
          "secp256k1: %s", err.message);
    CHECK(second_client_waits(jwt("id-a"), jwt("id-a")) == 1, "jwt: one key id, one bucket");
    CHECK(second_client_waits(jwt("id-a"), jwt("id-b")) == 0, "jwt: two key ids, two buckets");
    CHECK(second_client_waits(hmac("api-a", "s1"), hmac("api-a", "s2")) == 1,
          "hmac: one api key, one bucket");
    CHECK(second_client_waits(hmac("api-a", "s1"), hmac("api-b", "s1")) == 0,
          "hmac: two api keys, two buckets");
    CHECK(second_client_waits(message(k1), message(k1)) == 1, "message: one address, one bucket");
    CHECK(second_client_waits(message(k1), message(k2)) == 0,
          "message: two addresses, two buckets");
    CHECK(second_client_waits(jwt("api-a"), hmac("api-a", "s1")) == 0,
          "a key id and an api key of the same text are not one identity");
    wsig_key_free(k1);
    wsig_key_free(k2);
    wsig_error_clear(&err);
}

/* fork() while another thread takes and drops the bucket of one key (the
 * registry's lock taken and released all the time): each child takes that
 * bucket at once and must not hang on a lock the other thread held at the
 * fork. Through the registry's own calls (rate_limit.h), as a client does:
 * wsig_client_new would also take OpenSSL's and libcurl's locks, whose
 * state after a fork is theirs to answer for. */
static atomic_int churn_stop;

static bool take_and_drop(const wsig_auth *auth)
{
    wsig_rate_limit *l = NULL;
    char id[WSIG_RATE_ID_SIZE];
    bool ok = wsig__rate_limit_for_client(&l, id, NULL, auth, 10, 10, NULL) == WSIG_OK;
    wsig_rate_limit_free(l);
    return ok;
}

static void *churn(void *arg)
{
    while (!atomic_load(&churn_stop))
        take_and_drop(arg);
    return NULL;
}

/* ASan's allocator (gcc 12's libasan) is not fork-safe while another
 * thread allocates: a child can hang in malloc on a lock of the runtime's,
 * not ours (seen once in 100 forks). glibc's malloc takes its locks across
 * fork(). */
#if defined(__SANITIZE_ADDRESS__)
#define ALLOCATOR_FORK_SAFE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOCATOR_FORK_SAFE 0
#endif
#endif
#ifndef ALLOCATOR_FORK_SAFE
#define ALLOCATOR_FORK_SAFE 1
#endif

/* The child's answer comes through a pipe, not its exit status: under
 * valgrind a child's exit reports the other thread's memory, copied by the
 * fork and never freed, as lost. The fork part is skipped there and under
 * ASan (it tests our locks, not memory; the plain and no-deprecated builds
 * run it). */
static void fork_while_registering(void)
{
    if (slack() > 1 || !ALLOCATOR_FORK_SAFE)
        return;
    wsig_auth *auth = hmac("fork-key", "s");
    pthread_t t;
    int forks = 100, hung = 0, failed = 0;
    atomic_store(&churn_stop, 0);
    if (!auth || pthread_create(&t, NULL, churn, auth) != 0) {
        CHECK(0, "fork: set-up");
        wsig_auth_free(auth);
        return;
    }
    for (int i = 0; i < forks && !hung; i++) { /* one hang is enough */
        int fds[2];
        if (pipe(fds) != 0) {
            failed++;
            break;
        }
        pid_t pid = fork();
        if (pid == 0) {
            char ok = take_and_drop(auth) ? '1' : '0';
            _exit(write(fds[1], &ok, 1) == 1 ? 0 : 1);
        }
        close(fds[1]);
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        char answer = 0;
        if (pid < 0 || poll(&pfd, 1, 5000) != 1 || read(fds[0], &answer, 1) != 1)
            hung += pid > 0;
        failed += answer != '1';
        close(fds[0]);
        if (pid > 0) {
            kill(pid, SIGKILL); /* a hung child; a finished one is reaped as well */
            waitpid(pid, NULL, 0);
        }
    }
    atomic_store(&churn_stop, 1);
    pthread_join(t, NULL);
    CHECK(hung == 0 && failed == 0, "fork: a child hung (%d), %d of %d failed", hung, failed,
          forks);
    wsig_auth_free(auth);
}

static int abort_if_set(void *ud)
{
    return atomic_load((atomic_int *)ud);
}

/* A call that ends before its request left (abort_check already true once
 * the token is taken) gives the token back: the next call of the key does
 * not wait for a token that cost the server nothing (rate 0.2, burst 1: a
 * lost token is a 5 s wait, past the 2 s call). */
static void refund_when_nothing_sent(void)
{
    wsig_auth *a = jwt("c-refund");
    wsig_client *c = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    atomic_int waits = 0, abort_now = 1;
    wsig_client_options o = WSIG_CLIENT_OPTIONS_INIT;
    o.rate = 0.2, o.burst = 1, o.timeout = 2;
    o.on_event = count_rate_wait;
    o.event_ud = &waits;
    o.abort_check = abort_if_set;
    o.abort_ud = &abort_now;
    int rc = a ? wsig_client_new(&c, M.url, a, &o, &err) : WSIG_ERR_ARG;
    CHECK(rc == WSIG_OK, "refund: client: %s", err.message);
    if (rc == WSIG_OK) {
        char *json = NULL;
        t_mock_clean(&M);
        rc = wsig_client_query(c, &json, "list_display_currencies", NULL, &err);
        wsig_free(json);
        json = NULL;
        CHECK(rc == WSIG_ERR_ABORTED, "refund: the aborted call: %s", wsig_status_name(rc));
        atomic_store(&abort_now, 0);
        rc = wsig_client_query(c, &json, "list_display_currencies", NULL, &err);
        wsig_free(json);
        CHECK(rc == WSIG_OK && atomic_load(&waits) == 0,
              "refund: the call after an aborted one: %s, %d rate-limit waits (%s)",
              wsig_status_name(rc), atomic_load(&waits), err.message);
    }
    wsig_client_free(c);
    wsig_auth_free(a);
    wsig_error_clear(&err);
}

void test_rate_limit(void)
{
    if (!t_mock_start(&M, NULL)) {
        CHECK(0, "cannot start the mock server (/usr/bin/python3 -m tests.mock_server)");
        return;
    }
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_key_generate(&g_key, WSIG_KEY_P256, 0, &err);
    CHECK(rc == WSIG_OK, "generate P-256: %s", err.message);
    const char *const ids[] = {"c-shared", "c-unlimited", "c-key-a", "c-key-b", "c-key-c",
                               "c-key-d", "c-by-rate", "c-refund"};
    bool ok = rc == WSIG_OK;
    for (size_t i = 0; ok && i < sizeof ids / sizeof ids[0]; i++)
        ok = register_key(ids[i]);
    if (ok) {
        cJSON *ans = t_mock_json(&M, "POST", "/_mock/halogen/config",
                                 "{\"rate\":10,\"burst\":10}");
        CHECK(ans != NULL, "halogen config");
        cJSON_Delete(ans);
        shared_by_default();
        without_limiter();
        separate_keys();
        buckets_by_rate();
        identities();
        fork_while_registering();
        refund_when_nothing_sent();
    }
    wsig_key_free(g_key);
    g_key = NULL;
    wsig_error_clear(&err);
    t_mock_stop(&M);
}

/* ------------------------------------------------------------------ */
/* The Redis bucket                                                   */

/* The number of keys under prefix, and the PTTL of one of them. */
static int keys_under(const char *url, const char *prefix, long *pttl)
{
    char out[64], pattern[128];
    snprintf(pattern, sizeof pattern, "%s*", prefix);
    *pttl = -3;
    if (!t_redis_raw(url, NULL, 0, out, sizeof out, "EVAL %s 0 %s",
                     "return #redis.call('KEYS', ARGV[1])", pattern))
        return -1;
    int n = atoi(out);
    if (t_redis_raw(url, NULL, 0, out, sizeof out, "EVAL %s 0 %s",
                    "local k = redis.call('KEYS', ARGV[1]) return redis.call('PTTL', k[1])",
                    pattern))
        *pttl = atol(out);
    return n;
}

/* Four clients, four limiters (four connections), one Redis bucket. */
static void redis_shared(const char *url, const char *prefix)
{
    const char *const ids[THREADS] = {"c-redis", "c-redis", "c-redis", "c-redis"};
    wsig_client_options opt = WSIG_CLIENT_OPTIONS_INIT;
    worker w[THREADS] = {{0}};
    atomic_int waits = 0;
    for (int i = 0; i < THREADS; i++)
        w[i].redis_url = url, w[i].redis_prefix = prefix;
    t_mock_clean(&M);
    double dt = run_workers(w, ids, &opt, &waits);
    int n429 = count_429();
    CHECK(total_ok(w) == THREADS * QUERIES_PER_THREAD, "redis: %d/%d succeeded (%s)",
          total_ok(w), THREADS * QUERIES_PER_THREAD, w[0].error);
    CHECK(n429 == 0, "redis: the mock answered %d x 429", n429);
    CHECK(dt >= 1.35 && dt < 6 * slack(), "redis: %d queries in %.3f s",
          THREADS * QUERIES_PER_THREAD, dt);
    long pttl;
    int n = keys_under(url, prefix, &pttl);
    CHECK(n == 1 && pttl > 0 && pttl <= 2100, "redis: %d keys under %s, PTTL %ld ms", n,
          prefix, pttl);
}

/* A Redis that cannot be reached: the call fails closed, nothing is sent. */
static void redis_unreachable(void)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", t_free_port());
    wsig_error err = WSIG_ERROR_INIT;
    wsig_rate_limit *l = NULL;
    wsig_auth *auth = NULL;
    wsig_client *c = NULL;
    wsig_jwt_options jo = {0};
    wsig_redis_options ro = {.timeout = 0.2};
    int rc = wsig_rate_limit_redis_new(&l, url, 0, 0, &ro, &err);
    CHECK(rc == WSIG_OK, "redis_new does not connect: %s", err.message);
    wsig_client_options opt = WSIG_CLIENT_OPTIONS_INIT;
    opt.rate_limit = l;
    if (rc == WSIG_OK && wsig_auth_jwt_new(&auth, g_key, "c-redis", &jo, &err) == WSIG_OK &&
        wsig_client_new(&c, M.url, auth, &opt, &err) == WSIG_OK) {
        wsig_rate_limit_free(l); /* the client keeps its own reference */
        l = NULL;
        t_mock_clean(&M);
        char *json = NULL;
        rc = wsig_client_query(c, &json, "list_display_currencies", NULL, &err);
        wsig_free(json);
        cJSON *log = t_mock_log(&M);
        CHECK(rc == WSIG_ERR_STORE && err.reason == WSIG_REASON_STORE_UNAVAILABLE &&
                  strstr(err.message, "redis"),
              "unreachable: rc %s reason %s: %s", wsig_status_name(rc),
              wsig_reason_name(err.reason), err.message);
        CHECK(log && cJSON_GetArraySize(log) == 0, "unreachable: the mock saw %d requests",
              log ? cJSON_GetArraySize(log) : -1);
        cJSON_Delete(log);
        /* rate < 0 still means no limiter, the given one included. */
        wsig_client *unlimited = NULL;
        opt.rate = -1;
        opt.rate_limit = NULL;
        if (wsig_rate_limit_redis_new(&opt.rate_limit, url, 0, 0, &ro, &err) == WSIG_OK &&
            wsig_client_new(&unlimited, M.url, auth, &opt, &err) == WSIG_OK) {
            json = NULL;
            rc = wsig_client_query(unlimited, &json, "list_display_currencies", NULL, &err);
            wsig_free(json);
            CHECK(rc == WSIG_OK, "rate -1 with a rate_limit: %s", err.message);
        }
        wsig_client_free(unlimited);
        wsig_rate_limit_free(opt.rate_limit);
    }
    wsig_error_clear(&err);
    CHECK(wsig_rate_limit_redis_new(&l, url, -1, 0, NULL, &err) == WSIG_ERR_ARG && !l,
          "a negative rate is refused: %s", err.message);
    CHECK(wsig_rate_limit_redis_new(&l, url, 0, 0.5, NULL, &err) == WSIG_ERR_ARG && !l,
          "a burst below 1 is refused: %s", err.message);
    CHECK(wsig_rate_limit_redis_new(&l, "http://127.0.0.1", 0, 0, NULL, &err) == WSIG_ERR_ARG,
          "not a redis URL: %s", err.message);
    wsig_client_free(c);
    wsig_auth_free(auth);
    wsig_rate_limit_free(l);
    wsig_error_clear(&err);
}

void test_rate_limit_redis(void)
{
    const char *url = getenv("WSIG_TEST_REDIS_URL");
    CHECK(url && *url, "WSIG_TEST_REDIS_URL is not set: run the C suite through "
                       "scripts/with-redis.sh (make test-c does)");
    if (!url || !*url)
        return;
    if (!t_mock_start(&M, NULL)) {
        CHECK(0, "cannot start the mock server (/usr/bin/python3 -m tests.mock_server)");
        return;
    }
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_key_generate(&g_key, WSIG_KEY_P256, 0, &err);
    CHECK(rc == WSIG_OK, "generate P-256: %s", err.message);
    if (rc == WSIG_OK && register_key("c-redis")) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "wsig-test-rate-%ld:", (long)getpid());
        redis_shared(url, prefix);
        redis_unreachable();
    }
    wsig_key_free(g_key);
    g_key = NULL;
    wsig_error_clear(&err);
    t_mock_stop(&M);
}
