/* redis: the core's Redis connection and replay store (issue #13) against a
 * real redis-server. test_redis uses the one the test script started
 * (WSIG_TEST_REDIS_URL, scripts/with-redis.sh; unset = a failure, never a
 * silent skip); test_redis_outage starts, kills and restarts its own
 * (redisctl.c), and listens on a socket that never answers. */
#include "testlib.h"
#include "redisctl.h"
#include "walletsign.h"
#include "../../csrc/redis.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY_HEX "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *shared_url(void)
{
    const char *url = getenv("WSIG_TEST_REDIS_URL");
    CHECK(url && *url, "WSIG_TEST_REDIS_URL is not set: run the C suite through "
                       "scripts/with-redis.sh (make test / make test-c do), or exclude the "
                       "redis groups with a group filter");
    return url && *url ? url : NULL;
}

/* A prefix no other run or group shares (the shared server outlives a run). */
static void unique_prefix(char *out, size_t cap, const char *what)
{
    snprintf(out, cap, "wsig-test:%ld:%lld:%s:", (long)getpid(), (long long)wall_ms(), what);
}

/* ------------------------------------------------------------------ */
/* URLs                                                               */

static void url_good(const char *url, const char *host, int port, int db, const char *user,
                     const char *password)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_redis_url u;
    int rc = wsig__redis_parse_url(&u, url, &err);
    CHECK(rc == WSIG_OK, "%s refused: %s", url, err.message);
    if (rc != WSIG_OK)
        return;
    CHECK(strcmp(u.host, host) == 0 && u.port == port && u.db == db, "%s: host %s port %d db %d",
          url, u.host, u.port, u.db);
    CHECK(strcmp(u.username, user) == 0, "%s: username %s", url, u.username);
    CHECK(u.has_password == (password != NULL) && strcmp(u.password, password ? password : "") == 0,
          "%s: password not as given", url);
    wsig__redis_url_clear(&u);
    CHECK(u.password[0] == '\0' && !u.has_password, "url_clear left the password");
}

static void url_bad(const char *url, const char *secret, const char *expect)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_replay_store *s = (wsig_replay_store *)1;
    int rc = wsig_replay_store_redis_new(&s, url, NULL, &err);
    CHECK(rc == WSIG_ERR_ARG && !s && err.status == WSIG_ERR_ARG, "%s accepted (%s)", url,
          wsig_status_name(rc));
    CHECK(strstr(err.message, expect) != NULL, "%s: message \"%s\" lacks \"%s\"", url, err.message,
          expect);
    if (secret)
        CHECK(!strstr(err.message, secret), "%s: the message shows the password: %s", url,
              err.message);
    wsig_replay_store_free(rc == WSIG_OK ? s : NULL);
}

static void test_urls(void)
{
    url_good("redis://127.0.0.1", "127.0.0.1", 6379, 0, "", NULL);
    url_good("redis://localhost:7000/", "localhost", 7000, 0, "", NULL);
    url_good("REDIS://cache-1.internal_x:6380/15", "cache-1.internal_x", 6380, 15, "", NULL);
    url_good("redis://:s3cret@10.0.0.2:6379/2", "10.0.0.2", 6379, 2, "", "s3cret");
    url_good("redis://app:p%40ss%3Aw%2Fd%25@h/1", "h", 6379, 1, "app", "p@ss:w/d%");
    url_good("redis://us%65r:a@b@h:1", "h", 1, 0, "user", "a@b"); /* the last @ ends userinfo */
    url_good("redis://[::1]:6390/3", "::1", 6390, 3, "", NULL);
    url_good("redis://[::1]", "::1", 6379, 0, "", NULL);

    url_bad("rediss://:pw-tls-9@h:6379", "pw-tls-9", "TLS");
    url_bad("http://h:6379", NULL, "scheme");
    url_bad("unix:///tmp/redis.sock", NULL, "scheme");
    url_bad("redis://", NULL, "host");
    url_bad("redis://:pw-nohost-7@", "pw-nohost-7", "host");
    url_bad("redis://:pw-port-1@h:0", "pw-port-1", "port");
    url_bad("redis://:pw-port-2@h:65536", "pw-port-2", "port");
    url_bad("redis://:pw-port-3@h:12ab", "pw-port-3", "port");
    url_bad("redis://:pw-port-4@h:", "pw-port-4", "port");
    url_bad("redis://:pw-db-5@h/x", "pw-db-5", "database");
    url_bad("redis://:pw-db-6@h/1/2", "pw-db-6", "database");
    url_bad("redis://:pw-db-7@h/99999999999", "pw-db-7", "database");
    url_bad("redis://user-only-8@h", "user-only-8", "[username]:password");
    url_bad("redis://:@h", NULL, "password is empty");
    url_bad("redis://:bad%zzescape@h", "bad%zzescape", "%-escape");
    url_bad("redis://:nul%00byte@h", "nul%00byte", "%-escape");
    url_bad("redis://:short%4@h", "short%4", "%-escape");
    url_bad("redis://:pw-query-9@h?timeout=1", "pw-query-9", "query");
    url_bad("redis://:pw-frag-10@h#x", "pw-frag-10", "fragment");
    url_bad("redis://:pw-host-11@h st", "pw-host-11", "host");
    url_bad("redis://:pw-v6-12@[::1", "pw-v6-12", "IPv6");
    url_bad("redis://:pw-v6-13@[::1]x", "pw-v6-13", "IPv6");
    url_bad("redis://:pw-v6-14@[zz::1]", "pw-v6-14", "IPv6");

    /* Options. */
    wsig_error err = WSIG_ERROR_INIT;
    wsig_replay_store *s = NULL;
    const double bad_timeouts[] = {-1, 0.0005, 61, 1.0 / 0.0};
    for (size_t i = 0; i < sizeof bad_timeouts / sizeof bad_timeouts[0]; i++) {
        wsig_redis_options o = {.timeout = bad_timeouts[i]};
        int rc = wsig_replay_store_redis_new(&s, "redis://h", &o, &err);
        CHECK(rc == WSIG_ERR_ARG && !s && strstr(err.message, "timeout"), "timeout %g: %s",
              bad_timeouts[i], wsig_status_name(rc));
        wsig_replay_store_free(s);
        s = NULL;
    }
    char long_prefix[WSIG_REDIS_PREFIX_MAX + 2];
    memset(long_prefix, 'p', sizeof long_prefix - 1);
    long_prefix[sizeof long_prefix - 1] = '\0';
    wsig_redis_options o = {.prefix = long_prefix};
    int rc = wsig_replay_store_redis_new(&s, "redis://h", &o, &err);
    CHECK(rc == WSIG_ERR_ARG && strstr(err.message, "prefix"), "long prefix: %s", wsig_status_name(rc));
    wsig_replay_store_free(s);
    s = NULL;
    long_prefix[WSIG_REDIS_PREFIX_MAX] = '\0';
    o = (wsig_redis_options){.prefix = long_prefix, .timeout = 60};
    rc = wsig_replay_store_redis_new(&s, "redis://h", &o, &err);
    CHECK(rc == WSIG_OK && s, "a prefix of WSIG_REDIS_PREFIX_MAX bytes: %s", err.message);
    wsig_replay_store_free(s);
    /* Not connected by the constructor: an unreachable host is fine here. */
    s = NULL;
    rc = wsig_replay_store_redis_new(&s, "redis://127.0.0.1:1", NULL, &err);
    CHECK(rc == WSIG_OK && s, "constructor connected? %s", err.message);
    wsig_replay_store_free(s);
    CHECK(t_streq(wsig_status_name(WSIG_ERR_STORE), "store_error") &&
              t_streq(wsig_reason_name(WSIG_REASON_STORE_UNAVAILABLE), "store_unavailable"),
          "names: %s / %s", wsig_status_name(WSIG_ERR_STORE),
          wsig_reason_name(WSIG_REASON_STORE_UNAVAILABLE));
}

/* ------------------------------------------------------------------ */
/* The store against the shared server                                */

static wsig_replay_store *store_for(const char *url, const char *prefix, double timeout)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_replay_store *s = NULL;
    wsig_redis_options o = {.prefix = prefix, .timeout = timeout};
    int rc = wsig_replay_store_redis_new(&s, url, &o, &err);
    CHECK(rc == WSIG_OK && s, "store for %s: %s", url, err.message);
    return s;
}

static void test_store_basics(const char *url)
{
    char prefix[96], full[256], out[64];
    unique_prefix(prefix, sizeof prefix, "basics");
    wsig_replay_store *s = store_for(url, prefix, 0);
    if (!s)
        return;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_replay_store_reserve(s, "k1", 5000, &err);
    CHECK(rc == WSIG_OK, "first reserve: %s %s", wsig_status_name(rc), err.message);
    rc = wsig_replay_store_reserve(s, "k1", 5000, &err);
    CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_REPLAY &&
              (wsig_error_fields(&err) & WSIG_FIELD_REASON),
          "second reserve: %s/%s", wsig_status_name(rc), wsig_reason_name(err.reason));
    /* The key is prefix + key, its value 1, its TTL the one asked for. */
    snprintf(full, sizeof full, "%sk1", prefix);
    CHECK(t_redis_raw(url, NULL, 0, out, sizeof out, "GET %s", full) && strcmp(out, "1") == 0,
          "GET %s: %s", full, out);
    CHECK(t_redis_raw(url, NULL, 0, out, sizeof out, "PTTL %s", full) && atoi(out) > 4000 &&
              atoi(out) <= 5000,
          "PTTL %s: %s", full, out);
    rc = wsig_replay_store_release(s, "k1", &err);
    CHECK(rc == WSIG_OK, "release: %s", err.message);
    CHECK(t_redis_raw(url, NULL, 0, out, sizeof out, "EXISTS %s", full) && strcmp(out, "0") == 0,
          "after release EXISTS: %s", out);
    rc = wsig_replay_store_release(s, "k1", &err);
    CHECK(rc == WSIG_OK, "release of an absent key: %s", err.message);
    rc = wsig_replay_store_reserve(s, "k1", 5000, &err);
    CHECK(rc == WSIG_OK, "reserve after release: %s", wsig_status_name(rc));
    /* A short TTL runs out: the key is new again. */
    rc = wsig_replay_store_reserve(s, "short", 30, &err);
    CHECK(rc == WSIG_OK, "short reserve: %s", err.message);
    nanosleep(&(struct timespec){0, 120 * 1000000}, NULL);
    rc = wsig_replay_store_reserve(s, "short", 30, &err);
    CHECK(rc == WSIG_OK, "reserve after the TTL ran out: %s", wsig_status_name(rc));
    /* Bad arguments. */
    rc = wsig_replay_store_reserve(s, "", 5000, &err);
    CHECK(rc == WSIG_ERR_ARG, "empty key: %s", wsig_status_name(rc));
    rc = wsig_replay_store_reserve(s, "k2", 0, &err);
    CHECK(rc == WSIG_ERR_ARG, "ttl 0: %s", wsig_status_name(rc));
    char long_key[WSIG_REPLAY_KEY_SIZE + 1];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    rc = wsig_replay_store_release(s, long_key, &err);
    CHECK(rc == WSIG_ERR_ARG, "long key: %s", wsig_status_name(rc));

    /* Another prefix is another namespace; the same prefix is the same one. */
    char other[128];
    snprintf(other, sizeof other, "%sother:", prefix);
    wsig_replay_store *s2 = store_for(url, other, 0), *s3 = store_for(url, prefix, 0);
    if (s2 && s3) {
        rc = wsig_replay_store_reserve(s2, "k1", 5000, &err);
        CHECK(rc == WSIG_OK, "k1 under another prefix: %s", wsig_status_name(rc));
        rc = wsig_replay_store_reserve(s3, "k1", 5000, &err);
        CHECK(rc == WSIG_INVALID, "k1 from a second store, same prefix: %s", wsig_status_name(rc));
    }
    wsig_replay_store_free(s2);
    wsig_replay_store_free(s3);
    /* The default prefix. */
    wsig_replay_store *d = store_for(url, NULL, 0);
    char key[WSIG_REPLAY_KEY_SIZE];
    snprintf(key, sizeof key, "%.60s-default", prefix);
    if (d && wsig_replay_store_reserve(d, key, 5000, &err) == WSIG_OK) {
        snprintf(full, sizeof full, "walletsign:%s", key);
        CHECK(t_redis_raw(url, NULL, 0, out, sizeof out, "EXISTS %s", full) && strcmp(out, "1") == 0,
              "default prefix: EXISTS %s = %s", full, out);
        CHECK(wsig_replay_store_release(d, key, &err) == WSIG_OK, "release: %s", err.message);
    } else {
        CHECK(false, "reserve with the default prefix: %s", err.message);
    }
    wsig_replay_store_free(d);
    wsig_replay_store_free(s);
    wsig_error_clear(&err);
}

/* SELECT: a /db in the URL puts the keys there. */
static void test_store_db(const char *url)
{
    char url3[256], prefix[96], full[256], out[64];
    snprintf(url3, sizeof url3, "%.*s/3", (int)(strrchr(url, '/') - url), url);
    unique_prefix(prefix, sizeof prefix, "db");
    wsig_replay_store *s = store_for(url3, prefix, 0);
    wsig_error err = WSIG_ERROR_INIT;
    if (s) {
        int rc = wsig_replay_store_reserve(s, "k", 5000, &err);
        CHECK(rc == WSIG_OK, "reserve in db 3: %s", err.message);
        snprintf(full, sizeof full, "%sk", prefix);
        CHECK(t_redis_raw(url, NULL, 3, out, sizeof out, "EXISTS %s", full) && strcmp(out, "1") == 0,
              "key in db 3: %s", out);
        CHECK(t_redis_raw(url, NULL, 0, out, sizeof out, "EXISTS %s", full) && strcmp(out, "0") == 0,
              "key not in db 0: %s", out);
    }
    wsig_replay_store_free(s);
}

/* Eight threads, one store, the same 50 keys: each key is new exactly once. */
typedef struct {
    wsig_replay_store *s;
    int news, seen, other;
} race_job;

static void *race_thread(void *arg)
{
    race_job *job = arg;
    wsig_error err = WSIG_ERROR_INIT;
    for (int i = 0; i < 50; i++) {
        char key[24];
        snprintf(key, sizeof key, "race-%d", i);
        int rc = wsig_replay_store_reserve(job->s, key, 10000, &err);
        if (rc == WSIG_OK)
            job->news++;
        else if (rc == WSIG_INVALID)
            job->seen++;
        else
            job->other++;
    }
    return NULL;
}

static void test_store_threads(const char *url)
{
    char prefix[96];
    unique_prefix(prefix, sizeof prefix, "race");
    wsig_replay_store *s = store_for(url, prefix, 2);
    if (!s)
        return;
    race_job jobs[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (race_job){s, 0, 0, 0};
        pthread_create(&th[i], NULL, race_thread, &jobs[i]);
    }
    int news = 0, seen = 0, other = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        news += jobs[i].news, seen += jobs[i].seen, other += jobs[i].other;
    }
    CHECK(news == 50 && seen == 350 && other == 0, "threads: %d new, %d seen, %d failed", news, seen,
          other);
    wsig_replay_store_free(s);
}

/* A child after fork() uses its own connection, not the parent's stream. */
static void test_store_fork(const char *url)
{
    char prefix[96];
    unique_prefix(prefix, sizeof prefix, "fork");
    wsig_replay_store *s = store_for(url, prefix, 2);
    if (!s)
        return;
    wsig_error err = WSIG_ERROR_INIT;
    CHECK(wsig_replay_store_reserve(s, "parent", 10000, &err) == WSIG_OK, "parent: %s", err.message);
    pid_t pid = fork();
    if (pid == 0) {
        int ok = 0;
        for (int i = 0; i < 20; i++)
            ok += wsig_replay_store_reserve(s, "parent", 10000, NULL) == WSIG_INVALID;
        char key[16];
        snprintf(key, sizeof key, "child");
        ok += wsig_replay_store_reserve(s, key, 10000, NULL) == WSIG_OK;
        _exit(ok == 21 ? 0 : 1);
    }
    for (int i = 0; i < 20; i++)
        CHECK(wsig_replay_store_reserve(s, "parent", 10000, &err) == WSIG_INVALID,
              "parent after fork: %s", err.message);
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child's reserves (status %d)", status);
    CHECK(wsig_replay_store_reserve(s, "child", 10000, &err) == WSIG_INVALID,
          "the child's key seen by the parent: %s", wsig_status_name(err.status));
    wsig_replay_store_free(s);
}

/* The internal connection the rate limit builds on (csrc/redis.h): each
 * reply type copied, an error reply a store failure with the reply kept,
 * and the next command on a fresh connection. */
static int command(wsig_redis *r, wsig_redis_reply *reply, wsig_error *err, int argc, ...)
{
    const char *argv[8];
    size_t lens[8];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++) {
        argv[i] = va_arg(ap, const char *);
        lens[i] = strlen(argv[i]);
    }
    va_end(ap);
    return wsig__redis_command(r, reply, argc, argv, lens, err);
}

static void test_redis_command(const char *url)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_redis *r = NULL;
    char prefix[96], key[160];
    unique_prefix(prefix, sizeof prefix, "cmd");
    wsig_redis_options o = {.prefix = prefix};
    int rc = wsig__redis_new(&r, url, &o, &err);
    CHECK(rc == WSIG_OK && r && strcmp(wsig__redis_prefix(r), prefix) == 0 &&
              wsig__redis_prefix_len(r) == strlen(prefix),
          "redis_new: %s", err.message);
    if (rc != WSIG_OK)
        return;
    snprintf(key, sizeof key, "%scounter", prefix);
    wsig_redis_reply reply;
    rc = command(r, &reply, &err, 1, "PING");
    CHECK(rc == WSIG_OK && reply.type == WSIG_REDIS_STATUS && strcmp(reply.str, "PONG") == 0 &&
              reply.len == 4,
          "PING: %s type %d %s", wsig_status_name(rc), reply.type, reply.str);
    rc = command(r, &reply, &err, 2, "INCR", key);
    CHECK(rc == WSIG_OK && reply.type == WSIG_REDIS_INTEGER && reply.integer == 1, "INCR: %d %lld",
          reply.type, reply.integer);
    rc = command(r, &reply, &err, 2, "GET", key);
    CHECK(rc == WSIG_OK && reply.type == WSIG_REDIS_STRING && strcmp(reply.str, "1") == 0, "GET: %d %s",
          reply.type, reply.str);
    char long_value[301];
    memset(long_value, 'v', 300);
    long_value[300] = '\0';
    rc = command(r, &reply, &err, 3, "SET", key, long_value);
    rc |= command(r, &reply, &err, 2, "GET", key);
    CHECK(rc == WSIG_OK && reply.type == WSIG_REDIS_STRING && reply.len == 300 &&
              strlen(reply.str) == sizeof reply.str - 1,
          "a long string: len %zu, copied %zu", reply.len, strlen(reply.str));
    rc = command(r, &reply, &err, 3, "SET", key, "1");
    rc = command(r, &reply, &err, 2, "GET", "wsig-test:no-such-key");
    CHECK(rc == WSIG_OK && reply.type == WSIG_REDIS_NIL, "GET missing: %d", reply.type);
    rc = command(r, &reply, &err, 3, "EVAL", "return {7, -2, 0, 9, 11}", "0");
    CHECK(rc == WSIG_OK && reply.type == WSIG_REDIS_ARRAY && reply.n_elements == 5 &&
              reply.elements[0] == 7 && reply.elements[1] == -2 && reply.elements[2] == 0 &&
              reply.elements[3] == 9,
          "EVAL array: %d n %zu", reply.type, reply.n_elements);
    /* An error reply: a store failure, the reply kept (NOSCRIPT is how a
     * caller knows to EVAL), and the next command works on a new connection. */
    rc = command(r, &reply, &err, 3, "EVALSHA", "0000000000000000000000000000000000000000", "0");
    CHECK(rc == WSIG_ERR_STORE && err.reason == WSIG_REASON_STORE_UNAVAILABLE &&
              reply.type == WSIG_REDIS_ERROR && strncmp(reply.str, "NOSCRIPT", 8) == 0 &&
              strstr(err.message, "NOSCRIPT"),
          "EVALSHA unknown: %s %d %s / %s", wsig_status_name(rc), reply.type, reply.str, err.message);
    rc = command(r, &reply, &err, 2, "INCR", key);
    CHECK(rc == WSIG_OK && reply.type == WSIG_REDIS_INTEGER && reply.integer == 2,
          "INCR after an error reply: %s %lld", err.message, reply.integer);
    wsig__redis_free(r);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* The verifier with a store                                          */

typedef struct {
    wsig_auth *auth;
    char address[WSIG_ADDRESS_SIZE];
} signer;

static bool signer_init(signer *sg)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    sg->auth = NULL;
    int rc = wsig_key_from_hex(&key, KEY_HEX, &err);
    if (rc == WSIG_OK)
        rc = wsig_auth_message_new(&sg->auth, key, NULL, &err);
    wsig_key_free(key);
    if (rc == WSIG_OK)
        rc = wsig_auth_message_address(sg->auth, sg->address, &err);
    CHECK(rc == WSIG_OK, "signer: %s", err.message);
    return rc == WSIG_OK;
}

static const char BODY[] = "{\"type\":\"deposit_status\",\"id\":7}";

typedef struct {
    wsig_headers h;
    wsig_header_ref refs[8];
    size_t n;
} signed_msg;

static bool sign_at(signer *sg, signed_msg *m, int64_t ts)
{
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_auth_sign(sg->auth, &m->h, "POST", "/cb", BODY, strlen(BODY), ts, &err);
    CHECK(rc == WSIG_OK, "sign: %s", err.message);
    m->n = m->h.count;
    for (size_t i = 0; i < m->h.count; i++)
        m->refs[i] = (wsig_header_ref){m->h.h[i].name, m->h.h[i].value};
    return rc == WSIG_OK;
}

static int verify(wsig_message_verifier *v, signed_msg *m, wsig_message *out, int64_t now,
                  wsig_error *err)
{
    return wsig_message_verify(v, out, m->refs, m->n, BODY, strlen(BODY), now, err);
}

static wsig_message_verifier *verifier_with(const char *address, wsig_replay_store *s, int no_cache)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_message_verifier *v = NULL;
    wsig_message_verifier_options o = {.window_ms = 60000, .replay_store = s,
                                       .no_replay_cache = no_cache};
    const char *list[1] = {address};
    int rc = wsig_message_verifier_new(&v, list, 1, &o, &err);
    CHECK(rc == WSIG_OK && v, "verifier: %s", err.message);
    return v;
}

static void test_verifier_store(const char *url)
{
    signer sg;
    if (!signer_init(&sg))
        return;
    char prefix[96], full[256], out[64];
    unique_prefix(prefix, sizeof prefix, "verify");
    wsig_replay_store *s = store_for(url, prefix, 0);
    wsig_message_verifier *v1 = s ? verifier_with(sg.address, s, 0) : NULL;
    wsig_message_verifier *v2 = s ? verifier_with(sg.address, s, 0) : NULL;
    /* The verifiers keep their own references: the caller's can go now. */
    wsig_replay_store_free(s);
    wsig_error err = WSIG_ERROR_INIT;
    signed_msg a;
    wsig_message m;
    int64_t t = wall_ms();
    if (!v1 || !v2 || !sign_at(&sg, &a, t))
        goto out;
    wsig_message ok;
    int rc = verify(v1, &a, &ok, t, &err);
    CHECK(rc == WSIG_OK, "first delivery: %s %s", wsig_status_name(rc), err.message);
    /* Another verifier (another worker) on the same store refuses the replay. */
    rc = verify(v2, &a, &m, t + 10, &err);
    CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_REPLAY, "replay to another verifier: %s/%s",
          wsig_status_name(rc), wsig_reason_name(err.reason));
    rc = verify(v1, &a, &m, t + 10, &err);
    CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_REPLAY, "replay to the same verifier: %s/%s",
          wsig_status_name(rc), wsig_reason_name(err.reason));
    /* The key is wsig_message_replay_key's, with its TTL. */
    char key[WSIG_REPLAY_KEY_SIZE];
    int64_t ttl = 0;
    CHECK(wsig_message_replay_key(v1, &ok, key, &ttl) == WSIG_OK && ttl == 121000, "ttl %lld",
          (long long)ttl);
    snprintf(full, sizeof full, "%s%s", prefix, key);
    CHECK(t_redis_raw(url, NULL, 0, out, sizeof out, "PTTL %s", full) && atoi(out) > 110000 &&
              atoi(out) <= 121000,
          "PTTL of %s: %s", full, out);
    /* Release (the handler failed): the redelivery is accepted once, by any worker. */
    rc = wsig_message_release(v1, &ok, &err);
    CHECK(rc == WSIG_OK, "release: %s", err.message);
    rc = verify(v2, &a, &m, t + 20, &err);
    CHECK(rc == WSIG_OK, "redelivery after release: %s/%s", wsig_status_name(rc),
          wsig_reason_name(err.reason));
    rc = verify(v1, &a, &m, t + 30, &err);
    CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_REPLAY, "second redelivery: %s/%s",
          wsig_status_name(rc), wsig_reason_name(err.reason));
out:
    wsig_message_verifier_free(v1);
    wsig_message_verifier_free(v2);
    wsig_auth_free(sg.auth);
    wsig_error_clear(&err);
}

/* Release with the in-memory cache, and with no cache at all. */
static void test_release_memory(void)
{
    signer sg;
    if (!signer_init(&sg))
        return;
    wsig_message_verifier *v = verifier_with(sg.address, NULL, 0);
    wsig_message_verifier *none = verifier_with(sg.address, NULL, 1);
    wsig_error err = WSIG_ERROR_INIT;
    signed_msg a, b;
    wsig_message m, mb, ok;
    int64_t t = wall_ms();
    if (v && none && sign_at(&sg, &a, t) && sign_at(&sg, &b, t + 1)) {
        CHECK(verify(v, &a, &ok, t, &err) == WSIG_OK, "a: %s", err.message);
        CHECK(verify(v, &b, &mb, t, &err) == WSIG_OK, "b: %s", err.message);
        CHECK(verify(v, &a, &m, t, &err) == WSIG_INVALID && err.reason == WSIG_REASON_REPLAY,
              "a again: %s", wsig_reason_name(err.reason));
        CHECK(wsig_message_release(v, &ok, &err) == WSIG_OK, "release: %s", err.message);
        CHECK(wsig_message_release(v, &ok, &err) == WSIG_OK, "second release: %s", err.message);
        CHECK(verify(v, &a, &m, t, &err) == WSIG_OK, "a after release: %s",
              wsig_reason_name(err.reason));
        CHECK(verify(v, &a, &m, t, &err) == WSIG_INVALID && err.reason == WSIG_REASON_REPLAY,
              "a a third time: %s", wsig_reason_name(err.reason));
        CHECK(verify(v, &b, &mb, t, &err) == WSIG_INVALID && err.reason == WSIG_REASON_REPLAY,
              "b untouched by a's release: %s", wsig_reason_name(err.reason));
        int rc = wsig_message_release(none, &ok, &err);
        CHECK(rc == WSIG_ERR_ARG && strstr(err.message, "no_replay_cache"),
              "release without a cache: %s", wsig_status_name(rc));
        wsig_message bad = ok;
        snprintf(bad.address, sizeof bad.address, "0xnothex");
        rc = wsig_message_release(v, &bad, &err);
        CHECK(rc == WSIG_ERR_ARG, "release of a bad address: %s", wsig_status_name(rc));
    }
    wsig_message_verifier_free(v);
    wsig_message_verifier_free(none);
    wsig_auth_free(sg.auth);
    wsig_error_clear(&err);
}

/* The ring keeps a released entry until it expires: a key released, added
 * again and then aged out of its first place must still be seen. */
static void test_release_memory_ring(void)
{
    signer sg;
    if (!signer_init(&sg))
        return;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_message_verifier *v = NULL;
    wsig_message_verifier_options o = {.window_ms = 60000, .cache_size = 3};
    const char *list[1] = {sg.address};
    if (wsig_message_verifier_new(&v, list, 1, &o, &err) != WSIG_OK) {
        CHECK(false, "verifier: %s", err.message);
        wsig_auth_free(sg.auth);
        return;
    }
    signed_msg a, f, g;
    wsig_message m;
    int64_t t = wall_ms();
    if (sign_at(&sg, &a, t) && sign_at(&sg, &f, t + 5) && sign_at(&sg, &g, t + 6)) {
        CHECK(verify(v, &a, &m, t, &err) == WSIG_OK, "a: %s", err.message);
        CHECK(wsig_message_release(v, &m, &err) == WSIG_OK, "release: %s", err.message);
        CHECK(verify(v, &a, &m, t, &err) == WSIG_OK, "a again: %s", wsig_reason_name(err.reason));
        /* a's first place leaves the ring (3 places: a, a, f, then g evicts
         * the first): its second must stay seen, as a replay (not merely
         * refused as older than the evicted entry). */
        CHECK(verify(v, &f, &m, t + 5, &err) == WSIG_OK, "f: %s", wsig_reason_name(err.reason));
        CHECK(verify(v, &g, &m, t + 6, &err) == WSIG_OK, "g: %s", wsig_reason_name(err.reason));
        int rc = verify(v, &a, &m, t + 6, &err);
        CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_REPLAY, "a after its old place left: %s/%s",
              wsig_status_name(rc), wsig_reason_name(err.reason));
    }
    wsig_message_verifier_free(v);
    wsig_auth_free(sg.auth);
    wsig_error_clear(&err);
}

/* A replay_store beside no_replay_cache asks for two opposite things: an
 * error, not a verifier that silently keeps no replay record at all. No
 * connection is made (nothing is verified). */
static void test_store_without_cache(void)
{
    wsig_replay_store *s = NULL;
    wsig_message_verifier *v = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    const char *list[1] = {"0x00000000000000000000000000000000000000aa"};
    int rc = wsig_replay_store_redis_new(&s, "redis://127.0.0.1:1", NULL, &err);
    CHECK(rc == WSIG_OK, "store: %s", err.message);
    wsig_message_verifier_options o = {.replay_store = s, .no_replay_cache = 1};
    rc = s ? wsig_message_verifier_new(&v, list, 1, &o, &err) : WSIG_ERR_ARG;
    CHECK(rc == WSIG_ERR_ARG && !v && strstr(err.message, "replay_store"),
          "replay_store with no_replay_cache: %s (%s)", wsig_status_name(rc), err.message);
    wsig_message_verifier_free(v);
    wsig_replay_store_free(s);
    wsig_error_clear(&err);
}

void test_redis(void)
{
    test_urls();
    test_store_without_cache();
    test_release_memory();
    test_release_memory_ring();
    const char *url = shared_url();
    if (!url)
        return;
    test_redis_command(url);
    test_store_basics(url);
    test_store_db(url);
    test_store_threads(url);
    test_store_fork(url);
    test_verifier_store(url);
}

/* ------------------------------------------------------------------ */
/* Outages: a server of our own, killed and started again              */

static bool store_failed(int rc, const wsig_error *err)
{
    return rc == WSIG_ERR_STORE && err->status == WSIG_ERR_STORE &&
           err->reason == WSIG_REASON_STORE_UNAVAILABLE &&
           (wsig_error_fields(err) & WSIG_FIELD_REASON) && strstr(err->message, "redis");
}

static void test_outage(void)
{
    t_redis srv = {0};
    if (!t_redis_start(&srv, 0, NULL)) {
        CHECK(false, "could not start redis-server");
        return;
    }
    signer sg;
    if (!signer_init(&sg)) {
        t_redis_stop(&srv, false);
        return;
    }
    wsig_replay_store *s = store_for(srv.url, "outage:", 0.5);
    wsig_message_verifier *v = s ? verifier_with(sg.address, s, 0) : NULL;
    wsig_error err = WSIG_ERROR_INIT;
    signed_msg a, b, c, d, stale;
    wsig_message m;
    int64_t t = wall_ms();
    if (v && sign_at(&sg, &a, t) && sign_at(&sg, &b, t + 1) && sign_at(&sg, &c, t + 2) &&
        sign_at(&sg, &d, t + 3) && sign_at(&sg, &stale, t - 120000)) {
        CHECK(verify(v, &a, &m, t, &err) == WSIG_OK, "a with Redis up: %s", err.message);
        int port = srv.port;
        t_redis_stop(&srv, true);
        /* Down: nothing is accepted, neither new nor replayed; each call bounded. */
        for (int i = 0; i < 3; i++) {
            double t0 = now_s();
            int rc = verify(v, &b, &m, t + 1, &err);
            double dt = now_s() - t0;
            CHECK(store_failed(rc, &err), "b with Redis down: %s/%s %s", wsig_status_name(rc),
                  wsig_reason_name(err.reason), err.message);
            CHECK(dt < 2.0, "b with Redis down took %.2f s", dt);
            rc = verify(v, &a, &m, t + 1, &err);
            CHECK(store_failed(rc, &err), "a replayed with Redis down: %s", wsig_status_name(rc));
        }
        int rc = wsig_replay_store_reserve(s, "x", 1000, &err);
        CHECK(store_failed(rc, &err), "reserve with Redis down: %s", wsig_status_name(rc));
        rc = wsig_replay_store_release(s, "x", &err);
        CHECK(store_failed(rc, &err), "release with Redis down: %s", wsig_status_name(rc));
        wsig_message ma;
        memset(&ma, 0, sizeof ma);
        snprintf(ma.address, sizeof ma.address, "%s", sg.address);
        rc = wsig_message_release(v, &ma, &err);
        CHECK(store_failed(rc, &err), "wsig_message_release with Redis down: %s", wsig_status_name(rc));
        /* A message outside the window is refused without asking the store. */
        rc = verify(v, &stale, &m, t, &err);
        CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_STALE_TIMESTAMP,
              "stale message with Redis down: %s/%s", wsig_status_name(rc),
              wsig_reason_name(err.reason));
        /* Back on the same port: the same store and verifier work again. */
        if (t_redis_start(&srv, port, NULL)) {
            rc = verify(v, &b, &m, t + 2, &err);
            CHECK(rc == WSIG_OK, "b after Redis came back: %s %s", wsig_status_name(rc), err.message);
            rc = verify(v, &b, &m, t + 2, &err);
            CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_REPLAY, "b again: %s",
                  wsig_status_name(rc));
            /* Killed hard mid-run (no goodbye on the socket), then back again. */
            kill(srv.pid, SIGKILL);
            waitpid(srv.pid, NULL, 0);
            srv.pid = 0;
            rc = verify(v, &c, &m, t + 3, &err);
            CHECK(store_failed(rc, &err), "c after SIGKILL: %s", wsig_status_name(rc));
            if (t_redis_start(&srv, port, NULL)) {
                rc = verify(v, &c, &m, t + 3, &err);
                CHECK(rc == WSIG_OK, "c after the second comeback: %s", err.message);
                /* Restarted while the store's connection sat idle (a worker that
                 * saw no callback meanwhile): the first verification after the
                 * comeback must not fail on the connection the old server
                 * closed. */
                t_redis_stop(&srv, true);
                if (t_redis_start(&srv, port, NULL)) {
                    rc = verify(v, &d, &m, t + 4, &err);
                    CHECK(rc == WSIG_OK, "d, first call after a restart while idle: %s %s",
                          wsig_status_name(rc), err.message);
                } else {
                    CHECK(false, "redis-server did not come back on port %d", port);
                }
            } else {
                CHECK(false, "redis-server did not come back on port %d", port);
            }
        } else {
            CHECK(false, "redis-server did not come back on port %d", port);
        }
    }
    wsig_message_verifier_free(v);
    wsig_replay_store_free(s);
    wsig_auth_free(sg.auth);
    t_redis_stop(&srv, false);
    wsig_error_clear(&err);
}

static void test_passwords(void)
{
    static const char good[] = "Good-Pass-4711", wrong[] = "Wrong-Pass-0815";
    t_redis srv = {0};
    if (!t_redis_start(&srv, 0, good)) {
        CHECK(false, "could not start redis-server with a password");
        return;
    }
    char url[256];
    wsig_error err = WSIG_ERROR_INIT;
    const struct {
        const char *userinfo, *secret;
        int expect;
    } cases[] = {
        {":Good-Pass-4711@", NULL, WSIG_OK},
        {"default:Good-Pass-4711@", NULL, WSIG_OK},      /* AUTH user pass (Redis 6+ ACL) */
        {":Good%2DPass%2D4711@", NULL, WSIG_OK},         /* percent-decoded */
        {":Wrong-Pass-0815@", wrong, WSIG_ERR_STORE},
        {"nobody:Good-Pass-4711@", good, WSIG_ERR_STORE}, /* no such user */
        {"", NULL, WSIG_ERR_STORE},                      /* none given: NOAUTH */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(url, sizeof url, "redis://%s127.0.0.1:%d/0", cases[i].userinfo, srv.port);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "pw%zu:", i);
        wsig_replay_store *s = store_for(url, prefix, 1);
        if (!s)
            continue;
        int rc = wsig_replay_store_reserve(s, "k", 5000, &err);
        CHECK(rc == cases[i].expect, "case %zu: %s %s", i, wsig_status_name(rc), err.message);
        if (cases[i].expect == WSIG_ERR_STORE)
            CHECK(store_failed(rc, &err), "case %zu: not a store failure: %s", i, err.message);
        CHECK(!strstr(err.message, good) && !strstr(err.message, wrong),
              "case %zu: a password in the message: %s", i, err.message);
        wsig_replay_store_free(s);
    }
    t_redis_stop(&srv, false);
    wsig_error_clear(&err);
}

/* A listener that takes connections (the kernel's backlog does) and never
 * answers: a call returns within its timeout, plus slack. */
static void test_timeouts(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        CHECK(false, "cannot listen");
        if (fd >= 0)
            close(fd);
        return;
    }
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", ntohs(a.sin_port));
    wsig_error err = WSIG_ERROR_INIT;
    const double timeouts[] = {0.2, 0.6};
    for (size_t i = 0; i < 2; i++) {
        wsig_replay_store *s = store_for(url, NULL, timeouts[i]);
        if (!s)
            continue;
        for (int k = 0; k < 2; k++) {
            double t0 = now_s();
            int rc = wsig_replay_store_reserve(s, "k", 5000, &err);
            double dt = now_s() - t0;
            CHECK(store_failed(rc, &err) && strstr(err.message, "timeout"),
                  "silent server, timeout %g: %s %s", timeouts[i], wsig_status_name(rc), err.message);
            CHECK(dt >= timeouts[i] * 0.9 && dt < timeouts[i] + 0.5,
                  "silent server, timeout %g: returned after %.3f s", timeouts[i], dt);
        }
        wsig_replay_store_free(s);
    }
    close(fd);
    /* Nothing listening: refused at once. */
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", t_free_port());
    wsig_replay_store *s = store_for(url, NULL, 5);
    if (s) {
        double t0 = now_s();
        int rc = wsig_replay_store_reserve(s, "k", 5000, &err);
        CHECK(store_failed(rc, &err) && now_s() - t0 < 1.0, "closed port: %s %s",
              wsig_status_name(rc), err.message);
    }
    wsig_replay_store_free(s);
    wsig_error_clear(&err);
}

void test_redis_outage(void)
{
    test_outage();
    test_passwords();
    test_timeouts();
}
