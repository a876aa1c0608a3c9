/* Pools (csrc/pool.c, wsig_pool_* in walletsign.h) against the mock server
 * (tests/mock_server): jobs on worker threads, results and errors per job,
 * cancellation of running and queued jobs, closing, spec checks, and the
 * rate-limit bucket the workers share with the model client. */
#include "mockctl.h"
#include "testlib.h"
#include "walletsign.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static t_mock M;
static wsig_auth *g_auth;

static bool setup_auth(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *k = NULL;
    char *pem = NULL, *out = NULL;
    size_t len = 0;
    bool ok = wsig_key_generate(&k, WSIG_KEY_P256, 0, &err) == WSIG_OK &&
              wsig_key_public_pem(k, &pem, &len, &err) == WSIG_OK;
    long st = ok ? t_mock_http(&M, "POST", "/_mock/halogen/register_public", pem, len, &out) : 0;
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    const char *kid = t_str(j, "key_id");
    ok = st == 200 && kid && wsig_auth_jwt_new(&g_auth, k, kid, NULL, &err) == WSIG_OK;
    CHECK(ok, "register a key with the mock: %ld %s", st, err.message);
    cJSON_Delete(j);
    free(out);
    wsig_free(pem);
    wsig_key_free(k);
    return ok;
}

static wsig_client *new_client(double rate)
{
    wsig_client_options o = WSIG_CLIENT_OPTIONS_INIT;
    o.rate = rate;
    o.timeout = 20;
    wsig_client *c = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_client_new(&c, M.url, g_auth, &o, &err);
    CHECK(rc == WSIG_OK, "client: %s", err.message);
    return c;
}

static wsig_pool *new_pool(wsig_client *c, int workers)
{
    wsig_pool *p = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_pool_new(&p, c, workers, NULL, &err);
    CHECK(rc == WSIG_OK, "pool: %s", err.message);
    return p;
}

static void count_done(void *ud, wsig_job *job)
{
    __atomic_add_fetch((int *)ud, 1, __ATOMIC_SEQ_CST);
}

static wsig_job *submit_fund(wsig_pool *p, const char *fund, wsig_job_done_fn done, void *ud)
{
    char payload[64];
    snprintf(payload, sizeof payload, "{\"fundId\":\"%s\"}", fund);
    wsig_job_spec s = {.kind = WSIG_JOB_QUERY, .name = "get_fund", .payload_json = payload};
    wsig_job *j = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_pool_submit(p, &j, &s, done, ud, &err);
    CHECK(rc == WSIG_OK, "submit: %s", err.message);
    return j;
}

/* Results per job, in any order of completion; one 404 among them. */
static void results_and_errors(void)
{
    wsig_client *c = new_client(-1);
    wsig_pool *p = c ? new_pool(c, 4) : NULL;
    if (!p) {
        wsig_client_free(c);
        return;
    }
    wsig_client_free(c); /* the pool does not need its model afterwards */
    static const char *funds[] = {"fund_abc", "fund_def", "nope"};
    enum { N = 12 };
    wsig_job *jobs[N];
    int done = 0;
    for (int i = 0; i < N; i++)
        jobs[i] = submit_fund(p, funds[i % 3], count_done, &done);
    for (int i = 0; i < N; i++) {
        if (!jobs[i])
            continue;
        CHECK(wsig_job_wait(jobs[i], 10 * slack()) == 1, "job %d finished", i);
        char *json = NULL;
        wsig_error err = WSIG_ERROR_INIT;
        int rc = wsig_job_result(jobs[i], &json, NULL, &err);
        if (i % 3 == 2) {
            CHECK(rc == WSIG_ERR_HTTP && err.http_status == 404 &&
                      strcmp(err.code, "ErrMissingResource") == 0,
                  "job %d: %d %ld %s", i, rc, err.http_status, err.message);
        } else {
            CHECK(rc == WSIG_OK && json && strstr(json, funds[i % 3]), "job %d: %d %s", i, rc,
                  err.message);
        }
        char *again = NULL;
        CHECK(wsig_job_result(jobs[i], &again, NULL, NULL) == rc && !again,
              "a result is handed over once");
        wsig_free(json);
        wsig_error_clear(&err);
        wsig_job_free(jobs[i]);
    }
    wsig_pool_free(p);
    CHECK(__atomic_load_n(&done, __ATOMIC_SEQ_CST) == N, "done called %d times", done);
}

/* A running job is aborted within 50 ms; a queued one at once, unsent. */
static void cancellation(void)
{
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "delay:5000", 1);
    wsig_client *c = new_client(-1);
    wsig_pool *p = c ? new_pool(c, 1) : NULL;
    wsig_client_free(c);
    if (!p)
        return;
    wsig_job *slow = submit_fund(p, "fund_abc", NULL, NULL);
    wsig_job *queued = submit_fund(p, "fund_def", NULL, NULL);
    usleep(300 * 1000);
    CHECK(wsig_job_wait(queued, 0) == 0, "the second job waits for the one worker");
    wsig_job_cancel(queued);
    CHECK(wsig_job_wait(queued, 0) == 1, "a queued job ends when cancelled");
    wsig_error err = WSIG_ERROR_INIT;
    char *json = NULL;
    int rc = wsig_job_result(queued, &json, NULL, &err);
    CHECK(rc == WSIG_ERR_ABORTED && strstr(err.message, "not sent"), "queued: %d %s", rc,
          err.message);
    double t0 = now_s();
    wsig_job_cancel(slow);
    CHECK(wsig_job_wait(slow, 2) == 1, "the running job ends");
    double took = now_s() - t0;
    CHECK(took < 0.2 * slack(), "cancelled in %.3f s", took);
    rc = wsig_job_result(slow, &json, NULL, &err);
    CHECK(rc == WSIG_ERR_ABORTED, "running: %d %s", rc, err.message);
    wsig_error_clear(&err);
    wsig_job_cancel(slow); /* a finished job is left as it is */
    /* The worker goes on with the next job. */
    wsig_job *next = submit_fund(p, "fund_abc", NULL, NULL);
    CHECK(next && wsig_job_wait(next, 5 * slack()) == 1 &&
              wsig_job_result(next, &json, NULL, NULL) == WSIG_OK,
          "the pool goes on after a cancel");
    wsig_free(json);
    wsig_job_free(next);
    wsig_job_free(slow);
    wsig_job_free(queued);
    wsig_pool_free(p);
}

/* Closing aborts what runs and ends what waits; the caller's jobs stay valid. */
static void closing(void)
{
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "delay:5000", 2);
    wsig_client *c = new_client(-1);
    wsig_pool *p = c ? new_pool(c, 2) : NULL;
    wsig_client_free(c);
    if (!p)
        return;
    wsig_job *jobs[3];
    int done = 0;
    for (int i = 0; i < 3; i++)
        jobs[i] = submit_fund(p, "fund_abc", count_done, &done);
    usleep(300 * 1000);
    double t0 = now_s();
    wsig_pool_free(p);
    double took = now_s() - t0;
    CHECK(took < 0.3 * slack(), "closed in %.3f s", took);
    CHECK(done == 3, "every job ended (%d)", done);
    for (int i = 0; i < 3; i++) {
        wsig_error err = WSIG_ERROR_INIT;
        int rc = jobs[i] ? wsig_job_result(jobs[i], NULL, NULL, &err) : -1;
        CHECK(rc == WSIG_ERR_ABORTED, "job %d after close: %d %s", i, rc, err.message);
        wsig_error_clear(&err);
        wsig_job_free(jobs[i]);
    }
}

typedef struct {
    wsig_pool *pool;
    int frees;
} freer;

static void free_the_pool(void *ud, wsig_job *job)
{
    freer *f = ud;
    if (f->frees++ == 0)
        wsig_pool_free(f->pool); /* from the worker that ran this job */
}

/* A binding's garbage collector may free a pool inside a done callback. */
static void freed_from_a_callback(void)
{
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "delay:3000", 1);
    wsig_client *c = new_client(-1);
    freer f = {c ? new_pool(c, 2) : NULL, 0};
    wsig_client_free(c);
    if (!f.pool)
        return;
    wsig_job *slow = submit_fund(f.pool, "fund_abc", NULL, NULL);
    usleep(100 * 1000);
    wsig_job *quick = submit_fund(f.pool, "fund_def", free_the_pool, &f);
    double t0 = now_s();
    CHECK(quick && wsig_job_wait(quick, 5 * slack()) == 1, "the quick job ends");
    CHECK(slow && wsig_job_wait(slow, 2 * slack()) == 1, "the slow one is aborted");
    CHECK(now_s() - t0 < 1.5 * slack(), "not after the 3 s answer");
    CHECK(wsig_job_result(quick, NULL, NULL, NULL) == WSIG_OK, "the quick job's answer");
    CHECK(wsig_job_result(slow, NULL, NULL, NULL) == WSIG_ERR_ABORTED, "the slow job aborted");
    usleep(100 * 1000); /* the detached worker ends by itself */
    CHECK(f.frees == 1, "the callback ran once (%d)", f.frees);
    wsig_job_free(quick);
    wsig_job_free(slow);
}

static void spec_checks(void)
{
    wsig_client *c = new_client(-1);
    if (!c)
        return;
    wsig_pool *p = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    CHECK(wsig_pool_new(&p, c, 0, NULL, &err) == WSIG_ERR_ARG && !p, "0 workers");
    CHECK(wsig_pool_new(&p, c, WSIG_POOL_MAX_WORKERS + 1, NULL, &err) == WSIG_ERR_ARG,
          "too many workers");
    p = new_pool(c, 2);
    wsig_client_free(c);
    if (!p)
        return;
    CHECK(wsig_pool_set_workers(p, 0, &err) == WSIG_ERR_ARG, "set_workers 0");
    const struct {
        wsig_job_spec spec;
        const char *why;
    } bad[] = {
        {{.kind = 99}, "unknown job kind"},
        {{.kind = WSIG_JOB_QUERY}, "needs a name"},
        {{.kind = WSIG_JOB_CALL, .method = "GET"}, "needs a method and a path"},
        {{.kind = WSIG_JOB_REQUEST, .method = "POST", .path = "/x", .body_len = 3},
         "NULL body"},
        {{.kind = WSIG_JOB_COMMAND, .name = "create_deposit_request",
          .require_idempotency_key = 1},
         "needs an idempotency key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wsig_job *j = NULL;
        int rc = wsig_pool_submit(p, &j, &bad[i].spec, NULL, NULL, &err);
        CHECK(rc == WSIG_ERR_ARG && !j && strstr(err.message, bad[i].why), "%s: %d %s",
              bad[i].why, rc, err.message);
        CHECK(wsig_job_spec_check(&bad[i].spec, &err) == WSIG_ERR_ARG, "check: %s",
              bad[i].why);
    }
    wsig_job_spec keyed = {.kind = WSIG_JOB_COMMAND, .name = "x", .idempotency_key = "k",
                           .require_idempotency_key = 1};
    CHECK(wsig_job_spec_check(&keyed, &err) == WSIG_OK, "a keyed command: %s", err.message);
    wsig_error_clear(&err);
    wsig_pool_free(p);
}

/* 8 workers, one bucket (10/s, burst 10, as the mock's): no 429 of ours,
 * and the model client's own calls take from the same bucket. */
static void shared_bucket(void)
{
    t_mock_clean(&M);
    cJSON *ans = t_mock_json(&M, "POST", "/_mock/halogen/config", "{\"rate\":10,\"burst\":10}");
    cJSON_Delete(ans);
    t_mock_http(&M, "POST", "/_mock/reset", "", 0, NULL);
    wsig_client *c = new_client(0); /* the default: 10/s, burst 10 */
    wsig_pool *p = c ? new_pool(c, 8) : NULL;
    if (!p) {
        wsig_client_free(c);
        return;
    }
    enum { N = 20 };
    wsig_job *jobs[N];
    double t0 = now_s();
    for (int i = 0; i < N; i++)
        jobs[i] = submit_fund(p, "fund_abc", NULL, NULL);
    for (int i = 0; i < N; i++) {
        if (!jobs[i])
            continue;
        wsig_job_wait(jobs[i], 30);
        CHECK(wsig_job_result(jobs[i], NULL, NULL, NULL) == WSIG_OK, "job %d", i);
        wsig_job_free(jobs[i]);
    }
    double took = now_s() - t0;
    CHECK(took >= 0.9, "20 at 10/s after a burst of 10: %.2f s", took);
    char *json = NULL;
    t0 = now_s();
    int rc = wsig_client_query(c, &json, "get_fund", "{\"fundId\":\"fund_abc\"}", NULL);
    CHECK(rc == WSIG_OK && now_s() - t0 >= 0.05, "the model waits for the shared bucket");
    wsig_free(json);
    cJSON *log = t_mock_log(&M);
    cJSON *q = log ? t_log_filter(log, "/query") : NULL;
    int n = 0, ok = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, q)
    {
        n++;
        ok += t_num(e, "status") == 200;
    }
    CHECK(n == N + 1 && ok == n, "%d sent, %d answered 200", n, ok);
    cJSON_Delete(q);
    cJSON_Delete(log);
    wsig_pool_free(p);
    wsig_client_free(c);
    ans = t_mock_json(&M, "POST", "/_mock/halogen/config", "{\"rate\":0}");
    cJSON_Delete(ans);
}

void test_pool(void)
{
    if (!t_mock_start(&M, NULL)) {
        CHECK(0, "cannot start the mock server (/usr/bin/python3 -m tests.mock_server)");
        return;
    }
    cJSON *ans = t_mock_json(&M, "POST", "/_mock/halogen/config", "{\"rate\":0}");
    cJSON_Delete(ans);
    if (setup_auth()) {
        results_and_errors();
        cancellation();
        closing();
        freed_from_a_callback();
        spec_checks();
        shared_bucket();
    }
    wsig_auth_free(g_auth);
    g_auth = NULL;
    t_mock_stop(&M);
}
