/* The sans-I/O call object (wsig_call_*): the rules of a call without a
 * transport, driven step by step with made-up answers and failures, and the
 * caller-kept rate bucket (wsig_rate_take). No network: what the rules do
 * with each answer is judged from the steps they hand out. */
#include "testlib.h"
#include "tests.h"

#include <string.h>
#include <walletsign.h>

static wsig_auth *hmac_auth(void)
{
    wsig_auth *a = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    if (wsig_auth_hmac_new(&a, "call-key", "call-secret", 11, NULL, &err) != WSIG_OK)
        CHECK(0, "hmac auth: %s", err.message);
    return a;
}

static wsig_client *client_with(wsig_auth *auth, const wsig_client_options *opt)
{
    wsig_client *c = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    if (wsig_client_new(&c, "https://api.example/v2", auth, opt, &err) != WSIG_OK)
        CHECK(0, "client: %s", err.message);
    return c;
}

static const char *header_of(const wsig_call_send *s, const char *name)
{
    for (size_t i = 0; i < s->n_headers; i++)
        if (strcasecmp(s->headers[i].name, name) == 0)
            return s->headers[i].value;
    return NULL;
}

/* Take the token (if asked) and return the SEND step. */
static int to_send(wsig_call *call, wsig_call_step *step)
{
    int kind = wsig_call_next(call, step);
    if (kind == WSIG_STEP_TOKEN) {
        wsig_call_token(call, 0, 1);
        kind = wsig_call_next(call, step);
    }
    return kind;
}

static const char JSON_HEAD[] = "Content-Type: application/json\r\n";

static void query_steps(wsig_client *c)
{
    wsig_call *call = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    CHECK(wsig_call_halogen(&call, c, 0, "get_profile", "{\"id\":1}", NULL, &err) == WSIG_OK,
          "query call: %s", err.message);
    if (!call)
        return;
    wsig_call_step step;
    CHECK(wsig_call_next(call, &step) == WSIG_STEP_TOKEN, "a limited client asks for a token");
    wsig_call_token(call, 0, 1);
    CHECK(wsig_call_next(call, &step) == WSIG_STEP_SEND, "then sends");
    const wsig_call_send *s = &step.send;
    const char body[] = "{\"name\":\"get_profile\",\"payload\":{\"id\":1}}";
    CHECK(strcmp(s->method, "POST") == 0 && strcmp(s->url, "https://api.example/v2/query") == 0 &&
              strcmp(s->target, "/v2/query") == 0 && s->host_len == 11 &&
              strncmp(s->host, "api.example", 11) == 0,
          "send: %s %s target %s", s->method, s->url, s->target);
    CHECK(s->body_len == strlen(body) && memcmp(s->body, body, s->body_len) == 0, "body sent");
    CHECK(header_of(s, "X-API-Key") && strcmp(header_of(s, "X-API-Key"), "call-key") == 0 &&
              header_of(s, "X-Signature") && header_of(s, "X-Timestamp"),
          "the auth's headers");
    CHECK(header_of(s, "Content-Type") && strcmp(header_of(s, "Content-Type"), "application/json") == 0 &&
              header_of(s, "Accept") && header_of(s, "User-Agent"),
          "the client's headers");
    CHECK(s->timeout > 9 && s->timeout <= 10, "attempt time %g", s->timeout);
    /* 429 with Retry-After: 2 -> a WAIT of 2 s, then the next attempt */
    wsig_call_answer(call, 429, "Retry-After: 2\r\n", 16, "{}", 2);
    CHECK(wsig_call_next(call, &step) == WSIG_STEP_WAIT && step.event.kind == WSIG_EVENT_WAIT_429 &&
              step.event.delay == 2 && step.event.attempt == 2 &&
              strcmp(step.event.cause, "HTTP 429") == 0,
          "429: wait %g (kind %d, attempt %d)", step.event.delay, step.event.kind,
          step.event.attempt);
    CHECK(to_send(call, &step) == WSIG_STEP_SEND, "the second attempt");
    /* 503 to a query (idempotent): a retry after the backoff */
    wsig_call_answer(call, 503, JSON_HEAD, strlen(JSON_HEAD), "{}", 2);
    CHECK(wsig_call_next(call, &step) == WSIG_STEP_WAIT && step.event.kind == WSIG_EVENT_RETRY &&
              strcmp(step.event.cause, "HTTP 503") == 0 && step.event.delay > 0,
          "503 to a query: retried");
    CHECK(to_send(call, &step) == WSIG_STEP_SEND, "the third attempt");
    const char answer[] = "{\"name\":\"Ann\"}";
    wsig_call_answer(call, 200, JSON_HEAD, strlen(JSON_HEAD), answer, strlen(answer));
    CHECK(wsig_call_next(call, &step) == WSIG_STEP_DONE, "done after a 200");
    char *json = NULL;
    wsig_response res;
    int rc = wsig_call_result(call, &json, &res, &err);
    CHECK(rc == WSIG_OK && json && strcmp(json, answer) == 0, "result %s (%s)", json ? json : "-",
          err.message);
    wsig_free(json);
    wsig_call_free(call);
}

static void command_not_repeated(wsig_client *c)
{
    wsig_call *call = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_call_step step;
    /* a 503 to a command without Idempotency-Key is the answer */
    if (wsig_call_halogen(&call, c, 1, "move", NULL, NULL, &err) != WSIG_OK) {
        CHECK(0, "command: %s", err.message);
        return;
    }
    CHECK(to_send(call, &step) == WSIG_STEP_SEND && strcmp(step.send.target, "/v2/command") == 0,
          "command sent");
    const char busy[] = "{\"code\":\"ErrBusy\",\"message\":\"busy\"}";
    wsig_call_answer(call, 503, JSON_HEAD, strlen(JSON_HEAD), busy, strlen(busy));
    CHECK(wsig_call_next(call, &step) == WSIG_STEP_DONE, "503 to a command: no retry");
    char *json = NULL;
    int rc = wsig_call_result(call, &json, NULL, &err);
    CHECK(rc == WSIG_ERR_HTTP && err.http_status == 503 && strcmp(err.code, "ErrBusy") == 0 &&
              strstr(err.message, "busy (POST /command, 1 attempt, "),
          "http error: %s %ld %s", wsig_status_name(rc), err.http_status, err.message);
    wsig_error_clear(&err);
    wsig_call_free(call);

    /* never sent: retried even for a command; lost after sending: not */
    if (wsig_call_halogen(&call, c, 1, "move", NULL, NULL, &err) != WSIG_OK)
        return;
    to_send(call, &step);
    wsig_send_failure refused = {WSIG_ERR_TRANSPORT, WSIG_SEND_NOT_SENT, 0, 0, "refused",
                                 "connection refused"};
    wsig_call_failure(call, &refused);
    CHECK(wsig_call_next(call, &step) == WSIG_STEP_WAIT && step.event.kind == WSIG_EVENT_RETRY &&
              strcmp(step.event.cause, "refused") == 0,
          "not sent: retried");
    to_send(call, &step);
    wsig_send_failure lost = {WSIG_ERR_TIMEOUT, WSIG_SEND_TRANSIENT, 1, 28, "timed out",
                              "no answer in time"};
    wsig_call_failure(call, &lost);
    CHECK(wsig_call_next(call, &step) == WSIG_STEP_DONE, "lost command: not repeated");
    int rc2 = wsig_call_result(call, &json, NULL, &err);
    CHECK(rc2 == WSIG_ERR_TIMEOUT && err.curl_code == 28 &&
              strstr(err.message, "no answer in time (POST /command, 2 attempts, "),
          "timeout: %s %s", wsig_status_name(rc2), err.message);
    wsig_error_clear(&err);
    wsig_call_free(call);

    /* the same loss to a query is retried */
    if (wsig_call_halogen(&call, c, 0, "q", NULL, NULL, &err) != WSIG_OK)
        return;
    to_send(call, &step);
    wsig_call_failure(call, &lost);
    CHECK(wsig_call_next(call, &step) == WSIG_STEP_WAIT, "lost query: retried");
    wsig_call_free(call);
}

static void deadline_and_limiter(wsig_auth *auth)
{
    wsig_client_options o = WSIG_CLIENT_OPTIONS_INIT;
    o.timeout = 1;
    wsig_client *c = client_with(auth, &o);
    if (!c)
        return;
    wsig_call *call = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_call_step step;
    if (wsig_call_halogen(&call, c, 0, "q", NULL, NULL, &err) == WSIG_OK) {
        /* the limiter took a token for after 0.5 s: a WAIT, then the SEND */
        CHECK(wsig_call_next(call, &step) == WSIG_STEP_TOKEN && step.max_wait > 0.9 &&
                  step.max_wait <= 1,
              "token, with the call's time left (%g)", step.max_wait);
        wsig_call_token(call, 0.5, 1);
        CHECK(wsig_call_next(call, &step) == WSIG_STEP_WAIT &&
                  step.event.kind == WSIG_EVENT_WAIT_RATE && step.event.delay == 0.5,
              "the limiter's wait");
        CHECK(wsig_call_next(call, &step) == WSIG_STEP_SEND, "then the send, no second token");
        /* Retry-After 5 s does not fit in the 1 s deadline: a timeout now */
        wsig_call_answer(call, 429, "Retry-After: 5\r\n", 16, "{}", 2);
        CHECK(wsig_call_next(call, &step) == WSIG_STEP_DONE, "no wait past the deadline");
        char *json = NULL;
        int rc = wsig_call_result(call, &json, NULL, &err);
        CHECK(rc == WSIG_ERR_TIMEOUT && err.http_status == 429 && err.retry_after == 5,
              "deadline: %s %ld %g %s", wsig_status_name(rc), err.http_status, err.retry_after,
              err.message);
        wsig_error_clear(&err);
        wsig_call_free(call);
    }
    /* a limiter wait longer than the call has left: nothing taken, a timeout */
    if (wsig_call_halogen(&call, c, 0, "q", NULL, NULL, &err) == WSIG_OK) {
        wsig_call_next(call, &step);
        wsig_call_token(call, 0.1, 0); /* nothing taken: wait, then ask again */
        CHECK(wsig_call_next(call, &step) == WSIG_STEP_WAIT && wsig_call_next(call, &step) ==
              WSIG_STEP_TOKEN, "not taken: a wait, then a token again");
        wsig_call_token(call, 5, 0);
        CHECK(wsig_call_next(call, &step) == WSIG_STEP_DONE, "a limiter wait past the deadline");
        char *json = NULL;
        int rc = wsig_call_result(call, &json, NULL, &err);
        CHECK(rc == WSIG_ERR_TIMEOUT && strstr(err.message, "rate limiter"), "limiter timeout: %s",
              err.message);
        wsig_error_clear(&err);
        wsig_call_free(call);
    }
    /* a step skipped by the driver is an error, not a hang */
    if (wsig_call_halogen(&call, c, 0, "q", NULL, NULL, &err) == WSIG_OK) {
        to_send(call, &step);
        CHECK(wsig_call_next(call, &step) == WSIG_STEP_DONE, "unreported attempt ends the call");
        char *json = NULL;
        CHECK(wsig_call_result(call, &json, NULL, &err) == WSIG_ERR_ARG, "unreported: %s",
              err.message);
        wsig_error_clear(&err);
        wsig_call_free(call);
    }
    wsig_client_free(c);
}

static void requests_and_rpc(wsig_client *c)
{
    wsig_call *call = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_call_step step;
    wsig_header_ref host = {"Host", "evil.example", 0, 0};
    CHECK(wsig_call_request(&call, c, "GET", "/x", NULL, 0, &host, 1, 0, &err) == WSIG_ERR_ARG &&
              !call,
          "a Host of the caller's is refused");
    CHECK(wsig_call_request(&call, c, "POST", "/x", "{", 1, NULL, 0, 1, &err) == WSIG_ERR_ARG,
          "json that is not JSON is refused");
    CHECK(wsig_call_request(&call, c, "GET", "x", NULL, 0, NULL, 0, 0, &err) == WSIG_ERR_ARG,
          "a path without '/' is refused");
    wsig_header_ref extra = {"X-Trace", "t-1", 0, 0};
    if (wsig_call_request(&call, c, "get", "/a/./b?q=1", NULL, 0, &extra, 1, 0, &err) == WSIG_OK) {
        to_send(call, &step);
        CHECK(strcmp(step.send.method, "GET") == 0 &&
                  strcmp(step.send.target, "/v2/a/./b?q=1") == 0 &&
                  header_of(&step.send, "X-Trace") && !header_of(&step.send, "Content-Type"),
              "request: %s %s", step.send.method, step.send.target);
        wsig_call_answer(call, 302, "Location: /elsewhere\r\n", 22, "", 0);
        CHECK(wsig_call_next(call, &step) == WSIG_STEP_DONE, "a redirect is an answer");
        wsig_response res;
        int rc = wsig_call_result(call, NULL, &res, &err);
        size_t len;
        const char *loc = wsig_response_header(&res, "Location", &len);
        CHECK(rc == WSIG_OK && res.status == 302 && res.attempts == 1 && loc && len == 10,
              "request result %ld", res.status);
        wsig_response_clear(&res);
        wsig_call_free(call);
    }
    if (wsig_call_rpc(&call, c, "POST", "/access/x", "{\"a\":1}", &err) == WSIG_OK) {
        to_send(call, &step);
        const char env[] = "{\"error\":{\"code\":21,\"message\":\"Invalid request\"}}";
        wsig_call_answer(call, 200, JSON_HEAD, strlen(JSON_HEAD), env, strlen(env));
        wsig_call_next(call, &step);
        char *json = NULL;
        int rc = wsig_call_result(call, &json, NULL, &err);
        CHECK(rc == WSIG_ERR_RPC && err.rpc_code == 21 && !json, "rpc error: %s %lld",
              wsig_status_name(rc), err.rpc_code);
        wsig_error_clear(&err);
        wsig_call_free(call);
    }
}

static void unsigned_answer_refused(wsig_auth *auth)
{
    const char *trusted[] = {"0x4004aBbF0DdA0000000000000000000000000001"};
    wsig_message_verifier *v = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    if (wsig_message_verifier_new(&v, trusted, 1, NULL, &err) != WSIG_OK) {
        CHECK(0, "verifier: %s", err.message);
        return;
    }
    wsig_client_options o = WSIG_CLIENT_OPTIONS_INIT;
    o.response_verifier = v;
    wsig_client *c = client_with(auth, &o);
    wsig_message_verifier_free(v);
    wsig_call *call = NULL;
    wsig_call_step step;
    if (c && wsig_call_rpc(&call, c, "POST", "/access/x", NULL, &err) == WSIG_OK) {
        to_send(call, &step);
        wsig_call_answer(call, 200, JSON_HEAD, strlen(JSON_HEAD), "{\"result\":1}", 12);
        wsig_call_next(call, &step);
        char *json = NULL;
        int rc = wsig_call_result(call, &json, NULL, &err);
        CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_MISSING_HEADER &&
                  err.http_status == 200 && !json,
              "unsigned answer: %s %s", wsig_status_name(rc), err.message);
        wsig_error_clear(&err);
        wsig_call_free(call);
    }
    wsig_client_free(c);
}

static void rate_bucket(void)
{
    wsig_rate_state s = {2, 0}; /* burst 2, rate 10/s */
    int taken = 0;
    CHECK(wsig_rate_take(&s, 100, 10, 2, 1, &taken) == 0 && taken &&
              wsig_rate_take(&s, 100, 10, 2, 1, &taken) == 0 && taken,
          "the burst");
    double w = wsig_rate_take(&s, 100, 10, 2, 1, &taken);
    CHECK(w > 0.099 && w < 0.101 && !taken && s.tokens < 0.001 && s.last == 0,
          "spent before any answer: nothing taken, ask again in %g s; the clock waits", w);
    wsig_rate_answer_seen(&s, 100.05);
    CHECK(s.last == 100.05, "the first answer starts the clock");
    w = wsig_rate_take(&s, 100.05, 10, 2, 1, &taken);
    CHECK(w > 0.099 && w < 0.101 && taken && s.tokens < -0.999,
          "a token taken for after %g s (waiters queue)", w);
    w = wsig_rate_take(&s, 100.05, 10, 2, 0.15, &taken);
    CHECK(w > 0.199 && w < 0.201 && !taken && s.tokens < -0.999,
          "a wait longer than max_wait takes nothing (%g, tokens %g)", w, s.tokens);
    wsig_rate_refund(&s, 100.05, 10, 2);
    CHECK(s.tokens > -0.001 && s.tokens < 0.001, "a refund gives the token back (%g)", s.tokens);
    wsig_rate_answer_seen(&s, 300);
    CHECK(s.last == 100.05, "a later answer does not move a started clock");
    CHECK(wsig_rate_take(&s, 200, 10, 2, 0, &taken) == 0 && taken && s.tokens > 0.999 &&
              s.tokens < 1.001,
          "refill stops at the burst");
    CHECK(wsig_rate_take(&s, 1, -1, 2, 0, &taken) == 0 && taken, "no limiter: never waits");
}

void test_call(void)
{
    wsig_auth *auth = hmac_auth();
    wsig_client *c = auth ? client_with(auth, NULL) : NULL;
    if (c) {
        query_steps(c);
        command_not_repeated(c);
        requests_and_rpc(c);
        double rate, burst;
        CHECK(wsig_client_rate(c, &rate, &burst) == 1 && rate == 10 && burst == 10,
              "the client's limiter: %g/%g", rate, burst);
    }
    if (auth) {
        deadline_and_limiter(auth);
        unsigned_answer_refused(auth);
    }
    rate_bucket();
    wsig_client_free(c);
    wsig_auth_free(auth);
}
