/* The HTTP client: one libcurl easy handle per client, reused for keep-alive.
 * Every attempt is signed afresh; retries are bounded (docs/protocols.md, jwt). */
#include "internal.h"
#include "rate_limit.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER_BLOCK (64 * 1024)
#define MAX_URL 4096
#define MAX_HEADER_LINE (WSIG_HEADER_NAME_MAX + WSIG_HEADER_VALUE_MAX + 4)

struct wsig_client {
    CURL *curl;
    CURLM *multi;           /* drives curl so abort_check runs while it waits */
    char errbuf[CURL_ERROR_SIZE];
    int sends;              /* times libcurl was about to send this attempt */
    char *base_url;
    wsig_auth *auth;
    wsig_client_options opt;
    char user_agent[160];
    wsig_rate_limit *limiter; /* NULL: no limiter (rate < 0); else shared (rate_limit.h) */
    char limiter_id[WSIG_RATE_ID_SIZE]; /* the auth's rate identity, names a store's bucket */
    bool answer_told;       /* the limiter heard of this client's first answer */
    long pid;               /* a forked child makes its own curl handle */
    uint64_t rng;           /* jitter only */
    double deadline;        /* of the call in progress (monotonic_s) */
    bool reached;           /* an attempt of this call may have reached the server */
    double started;         /* when the call in progress began (monotonic_s) */
    int attempts;           /* attempts made by the call in progress */
};

typedef struct {
    char *data;
    size_t len, cap, limit;
    bool overflow;
} buffer;

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init;

static void curl_init_once(void)
{
    g_curl_init = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------------ */
/* Deadlines and the caller's abort_check                             */

#define ABORT_POLL_S 0.05 /* the promise in walletsign.h: every 50 ms at most */

static bool abort_requested(const wsig_client *c)
{
    return c->opt.abort_check && c->opt.abort_check(c->opt.abort_ud) != 0;
}

/* What an aborted call tells its caller: a command whose answer was lost may
 * have run, and only an Idempotency-Key makes sending it again safe. */
static int aborted_failure(const char *during, bool maybe_reached, wsig_error *err)
{
    return wsig__fail(err, WSIG_ERR_ABORTED, "aborted by the caller during %s: %s", during,
                      maybe_reached ? "the request may have reached the server and run (a "
                                      "command too: an Idempotency-Key makes repeating it safe)"
                                    : "the request was not sent, or only refused (429)");
}

/* The call's deadline (wsig_client_options.timeout) ends it before a wait
 * that could not finish in time: failing then, not after, is the promise. */
static int deadline_failure(const wsig_client *c, const char *during, double wait,
                            wsig_error *err)
{
    wsig__fail(err, WSIG_ERR_TIMEOUT, "the call's timeout of %g s runs out during %s (%.3g s)",
               c->opt.timeout, during, wait);
    if (err)
        err->curl_code = CURLE_OPERATION_TIMEDOUT;
    return WSIG_ERR_TIMEOUT;
}

/* Tell the caller's on_event (if any) about a wait that is about to begin. */
static void announce(const wsig_client *c, wsig_client_event *ev, double delay)
{
    ev->delay = delay;
    if (c->opt.on_event)
        c->opt.on_event(c->opt.event_ud, ev);
}

/* Sleep s seconds in slices of at most ABORT_POLL_S, asking abort_check
 * between them; a wait past the deadline is not begun (nor announced). */
static int pause_call(wsig_client *c, double s, const char *why, wsig_client_event *ev,
                      wsig_error *err)
{
    double end = monotonic_s() + s;
    if (end > c->deadline)
        return deadline_failure(c, why, s, err);
    announce(c, ev, s);
    for (double left = s; left > 0; left = end - monotonic_s()) {
        sleep_s(c->opt.abort_check && left > ABORT_POLL_S ? ABORT_POLL_S : left);
        if (abort_requested(c))
            return aborted_failure(why, c->reached, err);
    }
    return WSIG_OK;
}

static double jitter(wsig_client *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return (double)(c->rng >> 11) / 9007199254740992.0; /* [0, 1) */
}

static bool buffer_add(buffer *b, const void *p, size_t n)
{
    if (b->len + n > b->limit) {
        b->overflow = true;
        return false;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return false;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return buffer_add(ud, p, size * n) ? size * n : 0;
}

/* Keep only the final response's headers (drop 1xx and earlier hops). */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    buffer *b = ud;
    if (size * n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        b->len = 0;
    return buffer_add(b, p, size * n) ? size * n : 0;
}

/* libcurl silently sends a request again on a fresh connection when a reused
 * one dies before any answer, even after the server may have received it.
 * That would repeat a command, and a JWT nonce or message sequence. So a
 * second send within one attempt is aborted here, and send_request decides
 * (re-signed, and only for requests that are safe to repeat). */
static int on_prerequest(void *ud, char *ip, char *local_ip, int port, int local_port)
{
    wsig_client *c = ud;
    return ++c->sends > 1 ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

static bool header_safe(const char *s)
{
    return !strpbrk(s, "\r\n");
}

/* Printable ASCII without spaces, and without the '#' that ends a URL's
 * path and query: what is left is sent byte for byte (PATH_AS_IS). */
static bool url_chars_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '#')
            return false;
    return true;
}

/* A request target is sent exactly as signed (docs/protocols.md: the path
 * and query exactly as sent). A fragment never leaves the client, so a path
 * holding one could not be sent as signed. */
static bool path_safe(const char *s)
{
    return s[0] == '/' && url_chars_safe(s);
}

/* The method as it is signed, sent and judged for retries: a token
 * (RFC 9110; a space or CR LF would write its own request line), in upper
 * case, so "get" is GET everywhere (hmac signs the method upper-cased, and
 * servers match methods case-sensitively). */
static int normal_method(char out[MAX_METHOD], const char *method, wsig_error *err)
{
    size_t n = strlen(method);
    if (!wsig__http_token(method) || n >= MAX_METHOD)
        return wsig__fail(err, WSIG_ERR_ARG, "the HTTP method must be a token (RFC 9110) "
                          "of at most %d characters", MAX_METHOD - 1);
    for (size_t i = 0; i <= n; i++)
        out[i] = method[i] >= 'a' && method[i] <= 'z' ? (char)(method[i] - 32) : method[i];
    return WSIG_OK;
}

/* Retry-After: delta-seconds or an HTTP-date. Returns seconds, or -1. */
WSIG_LOCAL double wsig__parse_retry_after(const char *value, size_t len, time_t now);
double wsig__parse_retry_after(const char *value, size_t len, time_t now)
{
    char buf[64];
    while (len && (*value == ' ' || *value == '\t'))
        value++, len--;
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t' || value[len - 1] == '\r'))
        len--;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, value, len);
    buf[len] = '\0';
    uint64_t secs;
    if (wsig__parse_u64(buf, len, &secs))
        return secs > 86400 * 365 ? 86400.0 * 365 : (double)secs;
    time_t t = curl_getdate(buf, NULL);
    if (t == -1)
        return -1;
    return t > now ? (double)(t - now) : 0.0;
}

/* ------------------------------------------------------------------ */
/* Construction                                                       */

static void set_fixed_options(wsig_client *c);

static const wsig_client_options DEFAULT_OPTIONS = WSIG_CLIENT_OPTIONS_INIT;

/* v is 0 (the default) or within [min, max]; NaN is neither. */
static bool zero_or_within(double v, double min, double max)
{
    return v == 0 || (v >= min && v <= max);
}

/* Every option's range, checked before any default is applied: a bad value is
 * an error, never silently a default. The bindings and the CLI pass values
 * straight through, so this is the one judge. */
static int check_options(const wsig_client_options *o, wsig_error *err)
{
    const double day = WSIG_CLIENT_MAX_SECONDS, ms = 0.001;
    const char *bad = NULL;
    if (!zero_or_within(o->timeout, ms, day))
        bad = "timeout must be 0 (the default, 10 s) or 0.001 to 86400 seconds";
    else if (!zero_or_within(o->attempt_timeout, ms, day))
        bad = "attempt_timeout must be 0 (the default: only the call's timeout) or 0.001 "
              "to 86400 seconds";
    else if (!zero_or_within(o->connect_timeout, ms, day))
        bad = "connect_timeout must be 0 (the default, 5 s) or 0.001 to 86400 seconds";
    else if (!zero_or_within(o->max_retry_after, ms, day))
        bad = "max_retry_after must be 0 (the default, 30 s) or 0.001 to 86400 seconds";
    else if (!zero_or_within(o->backoff, ms, day))
        bad = "backoff must be 0 (the default, 0.25 s) or 0.001 to 86400 seconds";
    else if (o->max_response > WSIG_CLIENT_MAX_RESPONSE)
        bad = "max_response must be 0 (the default, 16 MiB) or 1 to 1073741824 bytes";
    else if (o->max_429_attempts < 0 || o->max_429_attempts > 100)
        bad = "max_429_attempts must be 0 (the default, 5) or 1 to 100";
    else if (o->max_retries < 0 || o->max_retries > 100)
        bad = "max_retries must be 0 (none) to 100";
    else if (!(o->rate < 0) && !zero_or_within(o->rate, ms, 1e6))
        bad = "rate must be negative (no limiter), 0 (the default, 10) or 0.001 to 1000000 "
              "per second";
    else if (!zero_or_within(o->burst, 1, 1e6))
        bad = "burst must be 0 (the default, 10) or 1 to 1000000";
    return bad ? wsig__fail(err, WSIG_ERR_ARG, "%s", bad) : WSIG_OK;
}

/* 0 means the default (WSIG_CLIENT_OPTIONS_INIT) where 0 means nothing else;
 * max_retries 0 is none, and a negative rate stays: no limiter. */
static void apply_defaults(wsig_client_options *o)
{
    const wsig_client_options *d = &DEFAULT_OPTIONS;
    if (o->timeout == 0) o->timeout = d->timeout;
    if (o->connect_timeout == 0) o->connect_timeout = d->connect_timeout;
    if (o->max_response == 0) o->max_response = d->max_response;
    if (o->max_429_attempts == 0) o->max_429_attempts = d->max_429_attempts;
    if (o->max_retry_after == 0) o->max_retry_after = d->max_retry_after;
    if (o->backoff == 0) o->backoff = d->backoff;
    if (o->rate == 0) o->rate = d->rate;
    if (o->burst == 0) o->burst = d->burst;
}

int wsig_client_new(wsig_client **out, const char *base_url, wsig_auth *auth,
                    const wsig_client_options *opt, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    size_t n = strlen(base_url);
    /* A query or fragment in the base would push the signed path out of the
     * request target ("http://h/#" + "/query" is a request for "/"). */
    if ((strncmp(base_url, "https://", 8) != 0 && strncmp(base_url, "http://", 7) != 0) ||
        n >= MAX_URL / 2 || !url_chars_safe(base_url) || strchr(base_url, '?'))
        return wsig__fail(err, WSIG_ERR_ARG, "base_url must be an http:// or https:// URL "
                          "without spaces, query or fragment");
    if (!opt)
        opt = &DEFAULT_OPTIONS;
    int rc = check_options(opt, err);
    if (rc != WSIG_OK)
        return rc;
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init != CURLE_OK)
        return wsig__fail(err, WSIG_ERR_TRANSPORT, "curl_global_init failed");
    wsig_client *c = calloc(1, sizeof *c);
    if (!c || !(c->base_url = strdup(base_url)) || !(c->curl = curl_easy_init()) ||
        !(c->multi = curl_multi_init())) {
        wsig_client_free(c);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    while (n && c->base_url[n - 1] == '/')
        c->base_url[--n] = '\0';
    c->opt = *opt;
    /* No reference of ours yet: a failure below must not free the caller's. */
    c->opt.response_verifier = NULL;
    c->opt.rate_limit = NULL;
    apply_defaults(&c->opt);
    /* The caller's strings are not retained: the client owns copies. */
    const char *ca_file = c->opt.ca_file, *ca_path = c->opt.ca_path;
    const char *user_agent = c->opt.user_agent, *binding = c->opt.binding;
    c->opt.ca_file = c->opt.ca_path = c->opt.user_agent = c->opt.binding = NULL;
    if (user_agent && !header_safe(user_agent)) {
        wsig_client_free(c);
        return wsig__fail(err, WSIG_ERR_ARG, "bad user_agent");
    }
    if (user_agent)
        snprintf(c->user_agent, sizeof c->user_agent, "%s", user_agent);
    else
        snprintf(c->user_agent, sizeof c->user_agent, "walletsign/%s (%s)", WSIG_VERSION,
                 binding ? binding : "c");
    c->opt.ca_file = ca_file ? strdup(ca_file) : NULL;
    c->opt.ca_path = ca_path ? strdup(ca_path) : NULL;
    /* A failed copy must not silently fall back to the system's CAs. */
    if ((ca_file && !c->opt.ca_file) || (ca_path && !c->opt.ca_path)) {
        wsig_client_free(c);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    /* Our own references: the caller may free its handles while we live. */
    c->auth = wsig__auth_ref(auth);
    if (opt->response_verifier)
        c->opt.response_verifier = wsig__message_verifier_ref(opt->response_verifier);
    if (c->opt.rate >= 0 &&
        (rc = wsig__rate_limit_for_client(&c->limiter, c->limiter_id, opt->rate_limit, c->auth,
                                          c->opt.rate, c->opt.burst, err)) != WSIG_OK) {
        wsig_client_free(c);
        return rc;
    }
    c->pid = (long)getpid();
    set_fixed_options(c);
    if (RAND_bytes((unsigned char *)&c->rng, sizeof c->rng) != 1 || !c->rng)
        c->rng = 0x9e3779b97f4a7c15ULL;
    *out = c;
    return WSIG_OK;
}

void wsig_client_get_options(const wsig_client *c, wsig_client_options *out)
{
    *out = c->opt;
    out->user_agent = c->user_agent;
    out->rate_limit = c->limiter; /* NULL with no limiter (rate < 0) */
}

void wsig_client_free(wsig_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    if (c->multi)
        curl_multi_cleanup(c->multi); /* closes the connections it keeps alive */
    free((char *)c->opt.ca_file);
    free((char *)c->opt.ca_path);
    free(c->base_url);
    wsig_rate_limit_free(c->limiter);
    wsig_auth_free(c->auth);
    wsig_message_verifier_free(c->opt.response_verifier);
    free(c);
}

void wsig_response_clear(wsig_response *res)
{
    if (!res)
        return;
    free(res->headers);
    free(res->body);
    memset(res, 0, sizeof *res);
}

/* The one reader of a header block: lines "Name: value" (RFC 9112); the
 * status line, the blank end and anything without a colon are skipped, and
 * the value loses the white space around it. */
int wsig_response_header_next(const wsig_response *res, size_t *pos, const char **name,
                              size_t *name_len, const char **value, size_t *value_len)
{
    const char *end = res->headers ? res->headers + res->headers_len : NULL;
    const char *p = res->headers ? res->headers + *pos : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        const char *line = p;
        p = eol ? eol + 1 : end;
        if (!colon || colon == line || *line == ' ' || *line == '\t' ||
            (line_end - line >= 5 && memcmp(line, "HTTP/", 5) == 0))
            continue;
        const char *v = colon + 1, *ve = line_end;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        *name = line;
        *name_len = (size_t)(colon - line);
        *value = v;
        *value_len = (size_t)(ve - v);
        *pos = (size_t)(p - res->headers);
        return 1;
    }
    if (res->headers)
        *pos = res->headers_len;
    return 0;
}

const char *wsig_response_header(const wsig_response *res, const char *name, size_t *len)
{
    size_t pos = 0, nl = strlen(name), n;
    const char *k, *v;
    while (wsig_response_header_next(res, &pos, &k, &n, &v, len))
        if (n == nl && strncasecmp(k, name, nl) == 0)
            return v;
    *len = 0;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* One attempt                                                        */

/* Take a token from the client's bucket (rate_limit.h: shared with the
 * other clients of the key), waiting for it within the call's deadline. A
 * wait cut short gives its token back: the bucket is left as time fills it. */
static int limiter_wait(wsig_client *c, wsig_client_event *ev, wsig_error *err)
{
    if (!c->limiter)
        return WSIG_OK;
    double wait, max_wait = c->deadline - monotonic_s();
    int rc = wsig__rate_limit_take(c->limiter, c->limiter_id, max_wait, &wait, err);
    if (rc != WSIG_OK || wait <= 0)
        return rc;
    ev->kind = WSIG_EVENT_WAIT_RATE;
    ev->cause = "the rate limit";
    rc = pause_call(c, wait, "the rate limiter's wait", ev, err);
    if (rc != WSIG_OK && wait <= max_wait)
        wsig__rate_limit_refund(c->limiter, c->limiter_id);
    return rc;
}

/* The bucket's refill starts at the first answer (rate_limit.h). */
static void limiter_answer_seen(wsig_client *c)
{
    if (c->limiter && !c->answer_told) {
        wsig__rate_limit_answer_seen(c->limiter, c->limiter_id);
        c->answer_told = true;
    }
}

/* A request that never left (no connection) costs the server nothing. */
static void limiter_refund(wsig_client *c)
{
    if (c->limiter)
        wsig__rate_limit_refund(c->limiter, c->limiter_id);
}

/* A pool's worker (pool.c): the model's base URL, auth and options, its
 * limiter too (one more reference: the same bucket, process-wide or a
 * store's, so N workers keep one key's rate), and the worker's own hooks. */
int wsig__client_clone(wsig_client **out, wsig_client *like, int (*abort_check)(void *),
                       void *abort_ud, void (*on_event)(void *, const wsig_client_event *),
                       void *event_ud, wsig_error *err)
{
    wsig_client_options opt = like->opt;
    opt.user_agent = like->user_agent; /* the final one: copied again */
    opt.binding = NULL;
    opt.rate_limit = like->limiter;
    opt.abort_check = abort_check;
    opt.abort_ud = abort_ud;
    opt.on_event = on_event;
    opt.event_ud = event_ud;
    return wsig_client_new(out, like->base_url, like->auth, &opt, err);
}

/* After fork() the child must not touch the parent's connections (a TLS
 * close_notify from the child would corrupt the parent's stream): it leaves
 * the inherited handle alone and starts its own. */
static int ensure_own_handle(wsig_client *c, wsig_error *err)
{
    if (c->pid == (long)getpid())
        return WSIG_OK;
    CURL *fresh = curl_easy_init();
    CURLM *fresh_multi = fresh ? curl_multi_init() : NULL;
    if (!fresh_multi) {
        if (fresh)
            curl_easy_cleanup(fresh);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    /* The inherited handles (and the multi's pool of the parent's
     * connections) are deliberately not cleaned up. */
    c->curl = fresh;
    c->multi = fresh_multi;
    c->pid = (long)getpid();
    set_fixed_options(c);
    return WSIG_OK;
}

typedef struct {
    const char *method, *path;
    const void *body;
    size_t body_len;
    const wsig_header_ref *extra;
    size_t n_extra;
    bool json_body;
} request_spec;

static int build_headers(wsig_client *c, struct curl_slist **list, const request_spec *rq,
                         wsig_error *err)
{
    wsig_headers signed_h;
    int rc = wsig_auth_sign(c->auth, &signed_h, rq->method, rq->path, rq->body, rq->body_len, 0, err);
    if (rc != WSIG_OK)
        return rc;
    char line[MAX_HEADER_LINE];
    struct curl_slist *l = NULL, *t;
    bool ok = true;
    for (size_t i = 0; ok && i < signed_h.count; i++) {
        int n = snprintf(line, sizeof line, "%s: %s", signed_h.h[i].name, signed_h.h[i].value);
        ok = n > 0 && (size_t)n < sizeof line && (t = curl_slist_append(l, line)) && (l = t);
    }
    for (size_t i = 0; ok && i < rq->n_extra; i++) { /* checked by check_request */
        const wsig_header_ref *h = &rq->extra[i];
        int n = snprintf(line, sizeof line, "%s: %s", h->name, h->value);
        ok = n > 0 && (size_t)n < sizeof line && (t = curl_slist_append(l, line)) && (l = t);
    }
    /* "Expect:" stops curl waiting for 100-continue, so headers and body leave together. */
    ok = ok && (t = curl_slist_append(l, "Expect:")) && (l = t);
    /* Without one, libcurl would label a body application/x-www-form-urlencoded. */
    bool has_type = rq->extra && wsig__find_header(rq->extra, rq->n_extra, "Content-Type");
    if (ok && !has_type)
        ok = (t = curl_slist_append(l, rq->json_body ? "Content-Type: application/json"
                                                     : "Content-Type:")) && (l = t);
    ok = ok && (t = curl_slist_append(l, "Accept: application/json")) && (l = t);
    if (!ok) {
        curl_slist_free_all(l);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    *list = l;
    return WSIG_OK;
}

/* What never changes for a handle, set when it is made (wsig_client_new,
 * and ensure_own_handle after fork). Per attempt only the URL, headers,
 * buffers and method are set: a curl_easy_reset and twenty-odd setopts on
 * every request cost a few thousand instructions, and each reset frees the
 * string options that the next request copies again. */
static void set_fixed_options(wsig_client *c)
{
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    /* The signed path goes out as given: libcurl would otherwise remove dot
     * segments ("/v1/./x" -> "/v1/x") and every signature would fail. */
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->opt.connect_timeout * 1000));
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->opt.insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->opt.insecure ? 0L : 2L);
    if (c->opt.ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->opt.ca_file);
    if (c->opt.ca_path)
        curl_easy_setopt(h, CURLOPT_CAPATH, c->opt.ca_path);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->opt.max_response);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prerequest);
    curl_easy_setopt(h, CURLOPT_PREREQDATA, c);
}

static void set_options(wsig_client *c, const char *url, const request_spec *rq,
                        struct curl_slist *headers, buffer *hdr, buffer *body, long timeout_ms)
{
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, hdr);
    c->sends = 0;
    /* HTTPGET undoes what an earlier request left behind (a body, NOBODY). */
    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (rq->body_len || strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body_len ? rq->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    }
}

/* curl_easy_perform, driven through the client's multi handle so that
 * abort_check runs at least every ABORT_POLL_S even while nothing arrives
 * (libcurl's progress callback may wait a second between calls when idle).
 * Returns the transfer's CURLcode; *aborted when abort_check stopped it,
 * which closes the connection (the next attempt opens a new one). */
static CURLcode perform(wsig_client *c, bool *aborted)
{
    *aborted = false;
    CURLMcode mc = curl_multi_add_handle(c->multi, c->curl);
    CURLcode result = CURLE_FAILED_INIT;
    int poll_ms = c->opt.abort_check ? (int)(ABORT_POLL_S * 1000) : 1000;
    for (bool done = false; mc == CURLM_OK && !done;) {
        int running = 0, left = 0;
        mc = curl_multi_perform(c->multi, &running);
        for (CURLMsg *m; mc == CURLM_OK && (m = curl_multi_info_read(c->multi, &left));)
            if (m->msg == CURLMSG_DONE && m->easy_handle == c->curl) {
                result = m->data.result;
                done = true;
            }
        if (mc != CURLM_OK || done)
            break;
        if (abort_requested(c)) {
            *aborted = true;
            result = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        mc = curl_multi_poll(c->multi, NULL, 0, poll_ms, NULL);
    }
    if (mc != CURLM_OK)
        snprintf(c->errbuf, sizeof c->errbuf, "%s", curl_multi_strerror(mc));
    curl_multi_remove_handle(c->multi, c->curl);
    return result;
}

/* This attempt's time: attempt_timeout (if set), never past the deadline;
 * at least 1 ms, since 0 would mean no timeout to libcurl. */
static long attempt_timeout_ms(const wsig_client *c)
{
    double left = c->deadline - monotonic_s();
    if (c->opt.attempt_timeout > 0 && c->opt.attempt_timeout < left)
        left = c->opt.attempt_timeout;
    double ms = left * 1000;
    return ms < 1 ? 1 : (long)ms + (ms > (double)(long)ms); /* rounded up */
}

/* Returns WSIG_OK (an HTTP answer in res) or a transport/timeout/protocol
 * error, or WSIG_ERR_ABORTED. */
static int attempt(wsig_client *c, wsig_response *res, const char *url, const request_spec *rq,
                   CURLcode *code, wsig_error *err)
{
    struct curl_slist *headers = NULL;
    int rc = build_headers(c, &headers, rq, err);
    if (rc != WSIG_OK)
        return rc;
    buffer hdr = {.limit = MAX_HEADER_BLOCK}, body = {.limit = c->opt.max_response};
    set_options(c, url, rq, headers, &hdr, &body, attempt_timeout_ms(c));
    c->errbuf[0] = '\0';
    bool aborted;
    *code = perform(c, &aborted);
    curl_slist_free_all(headers);
    if (aborted) {
        free(hdr.data);
        free(body.data);
        return aborted_failure("the request", c->reached || c->sends > 0, err);
    }
    if (*code == CURLE_OK) {
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &res->status);
        if (res->status < 100 || res->status > 599) {
            long status = res->status;
            res->status = 0;
            free(hdr.data);
            free(body.data);
            return wsig__fail(err, WSIG_ERR_PROTOCOL, "HTTP status %ld is not a status", status);
        }
        res->headers = hdr.data;
        res->headers_len = hdr.len;
        res->body = body.data ? body.data : calloc(1, 1);
        res->body_len = body.len;
        return res->body ? WSIG_OK : wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    free(hdr.data);
    free(body.data);
    if (body.overflow || *code == CURLE_FILESIZE_EXCEEDED)
        return wsig__fail(err, WSIG_ERR_PROTOCOL, "response larger than %zu bytes",
                          c->opt.max_response);
    if (*code == CURLE_ABORTED_BY_CALLBACK && c->sends > 1) {
        /* Reported like an empty reply: the request may have been delivered. */
        *code = CURLE_GOT_NOTHING;
        snprintf(c->errbuf, sizeof c->errbuf,
                 "the connection closed after the request was sent, before any answer");
    }
    int status = *code == CURLE_OPERATION_TIMEDOUT ? WSIG_ERR_TIMEOUT : WSIG_ERR_TRANSPORT;
    wsig__fail(err, status, "%s: %s", curl_easy_strerror(*code),
               c->errbuf[0] ? c->errbuf : "no detail");
    if (err)
        err->curl_code = (int)*code;
    return status;
}

/* Failures after which the request cannot have reached the server. */
static bool never_sent(CURLcode code)
{
    return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
           code == CURLE_COULDNT_RESOLVE_PROXY;
}

/* Failures worth another try when the request is safe to repeat. */
static bool transient(CURLcode code)
{
    return never_sent(code) || code == CURLE_OPERATION_TIMEDOUT || code == CURLE_GOT_NOTHING ||
           code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR || code == CURLE_PARTIAL_FILE;
}

static double backoff_s(wsig_client *c, int retry)
{
    double d = c->opt.backoff * (double)(1u << (retry < 10 ? retry : 10));
    d *= 0.5 + jitter(c); /* jitter spreads clients that failed together */
    return d < c->opt.max_retry_after ? d : c->opt.max_retry_after;
}

/* Headers a caller may not add: the ones the auth sets (a second
 * Authorization would go out beside the signed one), and the framing
 * libcurl derives from the body and base_url (a Content-Length or
 * Transfer-Encoding of the caller's would desync the connection, a Host
 * would address another server than the one base_url names and TLS checks). */
static int check_extra_header(const wsig_client *c, const wsig_header_ref *h, wsig_error *err)
{
    static const char *const framing[] = {"Host", "Content-Length", "Transfer-Encoding"};
    if (h->name && h->value && !wsig__header_refs_whole(h, 1))
        return wsig__fail(err, WSIG_ERR_ARG, "bad extra header: a NUL byte in its name or value");
    if (!h->name || !h->value || !wsig__http_token(h->name) || !header_safe(h->value) ||
        strlen(h->name) + strlen(h->value) + 3 > MAX_HEADER_LINE)
        return wsig__fail(err, WSIG_ERR_ARG, "bad extra header: the name must be a token "
                          "and the value one line");
    if (wsig__auth_sets_header(c->auth, h->name))
        return wsig__fail(err, WSIG_ERR_ARG, "extra header %s: the auth sets it", h->name);
    for (size_t i = 0; i < sizeof framing / sizeof framing[0]; i++)
        if (wsig__ascii_casecmp(h->name, framing[i]) == 0)
            return wsig__fail(err, WSIG_ERR_ARG, "extra header %s: the client sets it",
                              h->name);
    return WSIG_OK;
}

/* Everything refused about a request is refused here, before a limiter
 * token is spent or anything is signed: what is signed must be what is sent. */
static int check_request(const wsig_client *c, const request_spec *rq, wsig_error *err)
{
    /* libcurl sends a HEAD without a body: one that was signed would not be sent. */
    if (strcmp(rq->method, "HEAD") == 0 && rq->body_len)
        return wsig__fail(err, WSIG_ERR_ARG, "a HEAD request carries no body");
    if (!path_safe(rq->path))
        return wsig__fail(err, WSIG_ERR_ARG, "path must start with '/' and be printable ASCII "
                          "without spaces or '#' (percent-encode the rest; a fragment is "
                          "never sent)");
    for (size_t i = 0; i < rq->n_extra; i++) {
        int rc = check_extra_header(c, &rq->extra[i], err);
        if (rc != WSIG_OK)
            return rc;
    }
    return WSIG_OK;
}

#define MAX_SIGNED_RESPONSE_HEADERS 8

/* Verify a signed response with the client's verifier (message protocol).
 * Every X-Message-* header goes to the verifier with its length, repeats
 * too, so it judges them as it judges a request's (a repeat or a NUL is
 * malformed_header). */
static int verify_response(wsig_client *c, const wsig_response *res, wsig_error *err)
{
    wsig_header_ref refs[MAX_SIGNED_RESPONSE_HEADERS];
    char names[MAX_SIGNED_RESPONSE_HEADERS][WSIG_HEADER_NAME_MAX];
    char values[MAX_SIGNED_RESPONSE_HEADERS][WSIG_HEADER_VALUE_MAX];
    size_t n = 0, pos = 0, nl, vl;
    const char *name, *value;
    while (wsig_response_header_next(res, &pos, &name, &nl, &value, &vl)) {
        if (nl < 10 || strncasecmp(name, "X-Message-", 10) != 0)
            continue;
        if (n == MAX_SIGNED_RESPONSE_HEADERS || nl >= WSIG_HEADER_NAME_MAX ||
            vl >= WSIG_HEADER_VALUE_MAX)
            return wsig__reject(err, WSIG_REASON_MALFORMED_HEADER,
                                "the answer's X-Message-* headers are too many or too long");
        memcpy(names[n], name, nl);
        names[n][nl] = '\0';
        memcpy(values[n], value, vl);
        values[n][vl] = '\0';
        refs[n] = (wsig_header_ref){names[n], values[n], nl, vl};
        n++;
    }
    wsig_message m;
    return wsig_message_verify(c->opt.response_verifier, &m, refs, n, res->body, res->body_len, 0,
                               err);
}

static int exchange(wsig_client *c, wsig_response *res, const request_spec *rq, const char *url,
                    bool idempotent, wsig_error *err);

/* Every public call sends through here. With a response_verifier, the final
 * answer, whatever its status, is verified here and only here: once, since a
 * second check would find the message in the replay cache. An answer that
 * fails is not handed back (err->http_status keeps its status). */
static int send_request(wsig_client *c, wsig_response *res, const request_spec *rq,
                        bool idempotent, wsig_error *err)
{
    memset(res, 0, sizeof *res);
    c->started = 0;
    c->attempts = 0;
    char url[MAX_URL];
    int rc = check_request(c, rq, err);
    if (rc != WSIG_OK)
        return rc;
    if ((size_t)snprintf(url, sizeof url, "%s%s", c->base_url, rq->path) >= sizeof url)
        return wsig__fail(err, WSIG_ERR_ARG, "path too long for a URL");
    rc = exchange(c, res, rq, url, idempotent, err);
    if (rc != WSIG_OK || !c->opt.response_verifier)
        return rc;
    rc = verify_response(c, res, err);
    if (rc != WSIG_OK) {
        if (err)
            err->http_status = res->status; /* e.g. an unsigned 503 from a proxy */
        wsig_response_clear(res);
    }
    return rc;
}

/* Wait before sending again after an answer (429, 5xx), which is dropped.
 * A wait cut short by the deadline or abort_check keeps that answer's
 * status (and Retry-After) in err. */
static int wait_after_answer(wsig_client *c, wsig_response *res, double wait, double retry_after,
                             const char *why, wsig_client_event *ev, wsig_error *err)
{
    long status = res->status;
    wsig_response_clear(res);
    int rc = pause_call(c, wait, why, ev, err);
    if (rc != WSIG_OK && err) {
        err->http_status = status;
        err->retry_after = retry_after;
    }
    return rc;
}

/* How long a 429 asks us to wait: its Retry-After (*retry_after, -1 if
 * none or unreadable), else our backoff. */
static double wait_for_429(wsig_client *c, const wsig_response *res, int rate_limited,
                           double *retry_after)
{
    size_t len;
    const char *v = wsig_response_header(res, "Retry-After", &len);
    *retry_after = v ? wsig__parse_retry_after(v, len, time(NULL)) : -1;
    return *retry_after >= 0 ? *retry_after : backoff_s(c, rate_limited - 1);
}

/* An event about this request; the query is left out (it may carry ids). */
static wsig_client_event request_event(const request_spec *rq)
{
    return (wsig_client_event){.method = rq->method, .path = rq->path,
                               .path_len = strcspn(rq->path, "?")};
}

/* The attempts of one request: retries and rate limits (docs/protocols.md,
 * jwt), all within the call's deadline (wsig_client_options.timeout). */
static int exchange(wsig_client *c, wsig_response *res, const request_spec *rq, const char *url,
                    bool idempotent, wsig_error *err)
{
    int rc = ensure_own_handle(c, err);
    if (rc != WSIG_OK)
        return rc;
    c->started = monotonic_s();
    c->deadline = c->started + c->opt.timeout;
    c->reached = false;
    int retries = 0, rate_limited = 0;
    wsig_client_event ev = request_event(rq);
    char cause[64];
    for (int attempts = 1;; attempts++) {
        wsig_error_clear(err);
        ev.attempt = attempts;
        if ((rc = limiter_wait(c, &ev, err)) != WSIG_OK)
            return rc;
        if (abort_requested(c))
            return aborted_failure("the wait before sending", c->reached, err);
        CURLcode code = CURLE_OK;
        rc = attempt(c, res, url, rq, &code, err);
        res->attempts = c->attempts = attempts;
        ev.attempt = attempts + 1; /* what any wait below leads to */
        if (rc == WSIG_OK)
            limiter_answer_seen(c);
        /* A 429 is the server's refusal to process; any other sent request may have run. */
        if (c->sends > 0 && !(rc == WSIG_OK && res->status == 429))
            c->reached = true;
        if (rc != WSIG_OK) {
            if (never_sent(code))
                limiter_refund(c);
            bool retry = (rc == WSIG_ERR_TRANSPORT || rc == WSIG_ERR_TIMEOUT) &&
                         (never_sent(code) || (idempotent && transient(code))) &&
                         retries < c->opt.max_retries && monotonic_s() < c->deadline;
            if (!retry)
                return rc;
            ev.kind = WSIG_EVENT_RETRY;
            ev.cause = curl_easy_strerror(code);
            if ((rc = pause_call(c, backoff_s(c, retries++), "the backoff before a retry", &ev,
                                 err)) != WSIG_OK)
                return rc;
            continue;
        }
        if (res->status == 429 && ++rate_limited < c->opt.max_429_attempts) {
            double retry_after, wait = wait_for_429(c, res, rate_limited, &retry_after);
            if (wait > c->opt.max_retry_after)
                return WSIG_OK; /* longer than we may wait: the caller sees the 429 */
            ev.kind = WSIG_EVENT_WAIT_429;
            ev.cause = "HTTP 429";
            if ((rc = wait_after_answer(c, res, wait, retry_after,
                                        "the wait Retry-After asks for", &ev, err)) != WSIG_OK)
                return rc;
            continue;
        }
        if (res->status >= 500 && idempotent && retries < c->opt.max_retries) {
            ev.kind = WSIG_EVENT_RETRY;
            snprintf(cause, sizeof cause, "HTTP %ld", res->status);
            ev.cause = cause;
            if ((rc = wait_after_answer(c, res, backoff_s(c, retries++), -1,
                                        "the backoff before a retry", &ev, err)) != WSIG_OK)
                return rc;
            continue;
        }
        return WSIG_OK;
    }
}

/* ------------------------------------------------------------------ */
/* Public calls                                                       */

#define CONTEXT_PATH_MAX 200 /* of a path in an error message; the rest is cut */

/* A failure of a call that began sending says where it went and what it
 * cost, in the core's message so every binding shows it:
 * " (POST /query, 3 attempts, 1.2 s)". The query is left out (it may carry
 * ids), as in events. An RPC error keeps the server's own message. */
static int with_context(const wsig_client *c, const request_spec *rq, int rc, wsig_error *err)
{
    if (rc == WSIG_OK || rc == WSIG_ERR_RPC || !err || c->started == 0)
        return rc;
    size_t path_len = strcspn(rq->path, "?"), used = strlen(err->message);
    snprintf(err->message + used, sizeof err->message - used, " (%s %.*s%s, %d attempt%s, %.2g s)",
             rq->method, (int)(path_len < CONTEXT_PATH_MAX ? path_len : CONTEXT_PATH_MAX),
             rq->path, path_len > CONTEXT_PATH_MAX ? "..." : "", c->attempts,
             c->attempts == 1 ? "" : "s", monotonic_s() - c->started);
    return rc;
}

static bool is_idempotent_method(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0;
}

static int request(wsig_client *c, wsig_response *res, const char *method,
                   const char *path_and_query, const void *body, size_t body_len,
                   const wsig_header_ref *extra, size_t n_extra, bool json, wsig_error *err)
{
    memset(res, 0, sizeof *res);
    if ((!body && body_len) || (!extra && n_extra))
        return wsig__fail(err, WSIG_ERR_ARG, "NULL body or headers with a length");
    char m[MAX_METHOD];
    int rc = normal_method(m, method, err);
    if (rc != WSIG_OK)
        return rc;
    bool idempotent = is_idempotent_method(m) ||
                      (extra && wsig__find_header(extra, n_extra, "Idempotency-Key"));
    request_spec rq = {m, path_and_query, body, body_len, extra, n_extra, json};
    return with_context(c, &rq, send_request(c, res, &rq, idempotent, err), err);
}

int wsig_client_request(wsig_client *c, wsig_response *res, const char *method,
                        const char *path_and_query, const void *body, size_t body_len,
                        const wsig_header_ref *extra, size_t n_extra, wsig_error *err)
{
    wsig__reset(err);
    return request(c, res, method, path_and_query, body, body_len, extra, n_extra, false, err);
}

int wsig_client_request_json(wsig_client *c, wsig_response *res, const char *method,
                             const char *path_and_query, const char *json, size_t json_len,
                             const wsig_header_ref *extra, size_t n_extra, wsig_error *err)
{
    wsig__reset(err);
    memset(res, 0, sizeof *res);
    cJSON *v = wsig__json_parse_exact(json, json_len);
    cJSON_Delete(v);
    if (!v)
        return wsig__fail(err, WSIG_ERR_ARG, "the body is not one UTF-8 JSON value with unique "
                          "member names");
    return request(c, res, method, path_and_query, json, json_len, extra, n_extra, true, err);
}

static bool is_success(long status)
{
    return status >= 200 && status <= 299;
}

static bool is_redirect(long status)
{
    return status >= 300 && status <= 399;
}

/* A redirect is never followed (the signature binds this server and path)
 * nor taken for an answer: it is an error that says where it pointed. */
static void redirect_failure(const wsig_response *res, wsig_error *err)
{
    size_t len = 0;
    const char *loc = wsig_response_header(res, "Location", &len);
    if (loc)
        wsig__fail(err, WSIG_ERR_HTTP, "HTTP %ld: a redirect to %.*s (not followed)",
                   res->status, (int)len, loc);
    else
        wsig__fail(err, WSIG_ERR_HTTP, "HTTP %ld: a redirect without a Location (not followed)",
                   res->status);
    if (err && loc)
        err->location = strndup(loc, len);
}

#define CLOCK_SKEW_NOTE_S 3 /* Date has whole seconds; less than this is not worth a word */

/* A 401 for an expired token, an iat in the future (docs/protocols.md, jwt)
 * or a stale timestamp (hmac, message) is most often our clock, not the
 * key: the message says how far ours is from the server's Date. */
static void note_clock_skew(const wsig_response *res, wsig_error *err)
{
    size_t len;
    const char *v = wsig_response_header(res, "Date", &len);
    char date[64];
    if (!err || !v || len == 0 || len >= sizeof date)
        return;
    memcpy(date, v, len);
    date[len] = '\0';
    time_t server = curl_getdate(date, NULL);
    if (server == -1)
        return;
    double skew = difftime(time(NULL), server);
    if (skew > -CLOCK_SKEW_NOTE_S && skew < CLOCK_SKEW_NOTE_S)
        return;
    size_t used = strlen(err->message);
    snprintf(err->message + used, sizeof err->message - used,
             "; your clock is %.0f s %s the server's (its Date: %s)", skew > 0 ? skew : -skew,
             skew > 0 ? "ahead of" : "behind", date);
}

/* Map an answer that is not a success to WSIG_ERR_HTTP, with Halogen's
 * {code, message} or a redirect's Location. */
static int http_failure(const wsig_response *res, wsig_error *err)
{
    cJSON *j = wsig__json_parse_exact(res->body, res->body_len);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (is_redirect(res->status))
        redirect_failure(res, err);
    else
        wsig__fail(err, WSIG_ERR_HTTP, "HTTP %ld%s%s", res->status,
                   cJSON_IsString(msg) ? ": " : "", cJSON_IsString(msg) ? msg->valuestring : "");
    if (res->status == 401)
        note_clock_skew(res, err);
    if (err) {
        err->http_status = res->status;
        if (cJSON_IsString(code))
            snprintf(err->code, sizeof err->code, "%s", code->valuestring);
        size_t len;
        const char *ra = wsig_response_header(res, "Retry-After", &len);
        err->retry_after = ra ? wsig__parse_retry_after(ra, len, time(NULL)) : -1;
        if ((err->body = malloc(res->body_len + 1))) {
            memcpy(err->body, res->body, res->body_len + 1);
            err->body_len = res->body_len;
        }
    }
    cJSON_Delete(j);
    return WSIG_ERR_HTTP;
}

static int take_json_body(wsig_response *res, char **result_json, wsig_error *err)
{
    cJSON *j = wsig__json_parse_exact(res->body, res->body_len);
    cJSON_Delete(j);
    if (!j)
        return wsig__fail(err, WSIG_ERR_PROTOCOL, "HTTP %ld with a body that is not JSON",
                          res->status);
    *result_json = wsig__json_compact(res->body, res->body_len);
    return *result_json ? WSIG_OK : wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
}

static int halogen(wsig_client *c, char **result_json, const char *path, const char *name,
                   const char *payload_json, const char *idempotency_key, wsig_error *err)
{
    *result_json = NULL;
    wsig__reset(err);
    const char *payload = payload_json ? payload_json : "{}";
    /* Exactly one JSON object: trailing text could smuggle in other members. */
    cJSON *p = wsig__json_parse_exact(payload, strlen(payload));
    bool object = cJSON_IsObject(p);
    cJSON_Delete(p);
    if (!object)
        return wsig__fail(err, WSIG_ERR_ARG, "payload must be a JSON object");
    cJSON *n = cJSON_CreateString(name);
    char *quoted = n ? cJSON_PrintUnformatted(n) : NULL;
    cJSON_Delete(n);
    size_t cap = (quoted ? strlen(quoted) : 0) + strlen(payload) + 32;
    char *body = quoted ? malloc(cap) : NULL;
    if (!body) {
        free(quoted);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    /* Serialised once: these exact bytes are hashed into the JWT and sent. */
    int len = snprintf(body, cap, "{\"name\":%s,\"payload\":%s}", quoted, payload);
    free(quoted);
    wsig_header_ref idem = {.name = "Idempotency-Key", .value = idempotency_key};
    if (idempotency_key && (!*idempotency_key || !header_safe(idempotency_key))) {
        free(body);
        return wsig__fail(err, WSIG_ERR_ARG, "bad idempotency key");
    }
    request_spec rq = {"POST", path, body, (size_t)len, idempotency_key ? &idem : NULL,
                       idempotency_key ? 1 : 0, true};
    wsig_response res;
    bool idempotent = strcmp(path, "/query") == 0 || idempotency_key;
    int rc = send_request(c, &res, &rq, idempotent, err);
    free(body);
    if (rc == WSIG_OK)
        rc = is_success(res.status) ? take_json_body(&res, result_json, err)
                                    : http_failure(&res, err);
    wsig_response_clear(&res);
    return with_context(c, &rq, rc, err);
}

int wsig_client_query(wsig_client *c, char **result_json, const char *name,
                      const char *payload_json, wsig_error *err)
{
    return halogen(c, result_json, "/query", name, payload_json, NULL, err);
}

int wsig_client_command(wsig_client *c, char **result_json, const char *name,
                        const char *payload_json, const char *idempotency_key, wsig_error *err)
{
    return halogen(c, result_json, "/command", name, payload_json, idempotency_key, err);
}

int wsig_client_call(wsig_client *c, char **result_json, const char *method, const char *path,
                     const char *params_json, wsig_error *err)
{
    *result_json = NULL;
    wsig__reset(err);
    char m[MAX_METHOD];
    int rc = normal_method(m, method, err);
    if (rc != WSIG_OK)
        return rc;
    bool get = strcmp(m, "GET") == 0;
    const char *body = get ? NULL : (params_json ? params_json : "{}");
    if (body) {
        cJSON *p = wsig__json_parse_exact(body, strlen(body));
        cJSON_Delete(p);
        if (!p)
            return wsig__fail(err, WSIG_ERR_ARG, "params must be JSON");
    }
    request_spec rq = {m, path, body, body ? strlen(body) : 0, NULL, 0, body != NULL};
    wsig_response res;
    rc = send_request(c, &res, &rq, is_idempotent_method(m), err);
    /* An error envelope under a 4xx/5xx is still the server's answer (an RPC
     * error); anything else that is not a 2xx is not an answer at all. */
    if (rc == WSIG_OK && !is_success(res.status) && res.status < 400)
        rc = http_failure(&res, err);
    else if (rc == WSIG_OK) {
        rc = wsig_rpc_parse(result_json, res.body, res.body_len, err);
        if (err && rc != WSIG_OK)
            err->http_status = res.status;
        if (rc == WSIG_ERR_PROTOCOL && res.status >= 400)
            rc = http_failure(&res, err);
        else if (rc == WSIG_OK && res.status >= 400) {
            wsig_free(*result_json);
            *result_json = NULL;
            rc = http_failure(&res, err);
        }
    }
    wsig_response_clear(&res);
    return with_context(c, &rq, rc, err);
}
