/* The HTTP client: one libcurl easy handle per client, reused for keep-alive.
 * Every attempt is signed afresh; retries are bounded (docs/protocols.md, jwt). */
#include "internal.h"
#include "rate_limit.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stddef.h>
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

/* The step's headers as libcurl's list, with what only libcurl needs. */
static int build_headers(struct curl_slist **list, const wsig_call_send *send, wsig_error *err)
{
    char line[MAX_HEADER_LINE];
    struct curl_slist *l = NULL, *t;
    bool ok = true, has_type = false;
    for (size_t i = 0; ok && i < send->n_headers; i++) { /* checked by check_request */
        const wsig_header_ref *h = &send->headers[i];
        has_type = has_type || wsig__ascii_casecmp(h->name, "Content-Type") == 0;
        int n = snprintf(line, sizeof line, "%s: %s", h->name, h->value);
        ok = n > 0 && (size_t)n < sizeof line && (t = curl_slist_append(l, line)) && (l = t);
    }
    /* "Expect:" stops curl waiting for 100-continue, so headers and body leave together. */
    ok = ok && (t = curl_slist_append(l, "Expect:")) && (l = t);
    /* Without one, libcurl would label a body application/x-www-form-urlencoded. */
    if (ok && !has_type)
        ok = (t = curl_slist_append(l, "Content-Type:")) && (l = t);
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

static void set_options(wsig_client *c, const wsig_call_send *rq, struct curl_slist *headers,
                        buffer *hdr, buffer *body, long timeout_ms)
{
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_URL, rq->url);
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

/* An attempt's time in ms, at least 1 (0 would mean no timeout to libcurl). */
static long timeout_ms(double s)
{
    double ms = s * 1000;
    return ms < 1 ? 1 : (long)ms + (ms > (double)(long)ms); /* rounded up */
}

/* Returns WSIG_OK (an HTTP answer in res) or a transport/timeout/protocol
 * error, or WSIG_ERR_ABORTED. */
static int attempt(wsig_client *c, wsig_response *res, const wsig_call_send *rq, bool reached,
                   CURLcode *code, wsig_error *err)
{
    struct curl_slist *headers = NULL;
    int rc = build_headers(&headers, rq, err);
    if (rc != WSIG_OK)
        return rc;
    buffer hdr = {.limit = MAX_HEADER_BLOCK}, body = {.limit = c->opt.max_response};
    set_options(c, rq, headers, &hdr, &body, timeout_ms(rq->timeout));
    c->errbuf[0] = '\0';
    bool aborted;
    *code = perform(c, &aborted);
    curl_slist_free_all(headers);
    if (aborted) {
        free(hdr.data);
        free(body.data);
        return aborted_failure("the request", reached || c->sends > 0, err);
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

/* ------------------------------------------------------------------ */
/* One call, without a transport (sans-I/O): the rules of every call  */

enum call_kind { CALL_REQUEST, CALL_HALOGEN, CALL_RPC };

enum call_phase {
    PHASE_TOKEN,   /* next: ask for a limiter token */
    PHASE_SEND,    /* next: sign and send an attempt */
    PHASE_ANSWER,  /* waiting for wsig_call_answer / wsig_call_failure */
    PHASE_WAIT,    /* next: hand out the planned wait */
    PHASE_WAITING, /* a WAIT was handed out; next: the wait is over */
    PHASE_DONE
};

struct wsig_call {
    wsig_client *c;
    int kind, phase;
    char method[MAX_METHOD];
    char *path, *body;           /* owned copies */
    size_t body_len;
    wsig_header_ref *extra;      /* owned copies (names and values too) */
    size_t n_extra;
    bool json_body, idempotent;
    size_t target_at, host_at, host_len;
    int attempts, retries, rate_limited;
    double started, deadline;    /* monotonic_s; 0 until the first step */
    bool reached;                /* an attempt may have reached the server */
    bool token_taken;            /* the WAIT handed out is the limiter's: SEND after it */
    double wait;                 /* of the WAIT handed out */
    const char *wait_why;
    long wait_status;            /* the answer a wait follows (0: none) */
    double wait_retry_after;
    wsig_client_event ev;
    char cause[128];
    wsig_header_ref *send_h;
    size_t n_send_h;
    wsig_response res;           /* the final answer */
    int rc;                      /* the call's status once DONE */
    wsig_error err;
    /* Not zeroed by call_new (written before they are read): */
    char url[MAX_URL];
    wsig_headers signed_h;       /* the attempt in flight: 12 KiB */
};

/* A signed header may be a bearer token (a JWT): wiped once sent, only the
 * bytes in use (the whole struct is 12 KiB, a cost on every call). */
static void wipe_signed(wsig_call *call)
{
    for (size_t i = 0; i < call->signed_h.count && i < WSIG_MAX_HEADERS; i++)
        OPENSSL_cleanse(call->signed_h.h[i].value, call->signed_h.h[i].value_len);
    call->signed_h.count = 0;
}

void wsig_call_free(wsig_call *call)
{
    if (!call)
        return;
    for (size_t i = 0; i < call->n_extra; i++) {
        free((char *)call->extra[i].name);
        free((char *)call->extra[i].value);
    }
    free(call->extra);
    free(call->send_h);
    free(call->path);
    free(call->body);
    wsig_response_clear(&call->res);
    wsig_error_clear(&call->err);
    wipe_signed(call);
    free(call);
}

static int call_finish(wsig_call *call, int rc)
{
    call->rc = rc;
    call->phase = PHASE_DONE;
    if (rc != WSIG_OK)
        wsig_response_clear(&call->res);
    return rc;
}

/* A copy of everything the caller handed in: the call outlives the
 * caller's stack (a binding keeps it across yields). */
static int call_copy_request(wsig_call *call, const request_spec *rq)
{
    call->path = strdup(rq->path);
    call->body = malloc(rq->body_len + 1);
    call->extra = calloc(rq->n_extra + 1, sizeof *call->extra);
    call->send_h = calloc(rq->n_extra + WSIG_MAX_HEADERS + 3, sizeof *call->send_h);
    if (!call->path || !call->body || !call->extra || !call->send_h)
        return WSIG_ERR_NOMEM;
    if (rq->body_len)
        memcpy(call->body, rq->body, rq->body_len);
    call->body[rq->body_len] = '\0';
    call->body_len = rq->body_len;
    for (size_t i = 0; i < rq->n_extra; i++, call->n_extra++) {
        char *n = strdup(rq->extra[i].name), *v = strdup(rq->extra[i].value);
        call->extra[i] = (wsig_header_ref){n, v, 0, 0};
        if (!n || !v) {
            call->n_extra++;
            return WSIG_ERR_NOMEM;
        }
    }
    return WSIG_OK;
}

/* Where the request target and the authority begin in the URL. */
static void call_locate_target(wsig_call *call)
{
    const char *u = call->url, *host = strstr(u, "://") + 3;
    const char *slash = strchr(host, '/');
    call->host_at = (size_t)(host - u);
    call->target_at = slash ? (size_t)(slash - u) : strlen(u);
    call->host_len = call->target_at - call->host_at;
}

/* Every call starts here: the request is checked (check_request) and
 * copied; nothing is signed or sent. */
static int call_new(wsig_call **out, wsig_client *c, int kind, const request_spec *rq,
                    bool idempotent, wsig_error *err)
{
    *out = NULL;
    int rc = check_request(c, rq, err);
    if (rc != WSIG_OK)
        return rc;
    wsig_call *call = malloc(sizeof *call);
    if (!call)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    memset(call, 0, offsetof(wsig_call, url));
    call->signed_h.count = 0;
    call->c = c;
    call->kind = kind;
    call->idempotent = idempotent;
    call->json_body = rq->json_body;
    call->phase = PHASE_TOKEN;
    call->err.retry_after = -1;
    memcpy(call->method, rq->method, strlen(rq->method) + 1); /* < MAX_METHOD: normal_method */
    if ((size_t)snprintf(call->url, sizeof call->url, "%s%s", c->base_url, rq->path) >=
        sizeof call->url) {
        wsig_call_free(call);
        return wsig__fail(err, WSIG_ERR_ARG, "path too long for a URL");
    }
    call_locate_target(call);
    if (call_copy_request(call, rq) != WSIG_OK) {
        wsig_call_free(call);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    call->ev = (wsig_client_event){.method = call->method, .path = call->path,
                                   .path_len = strcspn(call->path, "?")};
    *out = call;
    return WSIG_OK;
}

/* A wait before the next attempt, unless it would end past the deadline:
 * then the call ends now (wsig_client_options.timeout), keeping the status
 * (and Retry-After) of the answer it followed. */
static void call_plan_wait(wsig_call *call, double wait, const char *why, long status,
                           double retry_after)
{
    wsig_response_clear(&call->res);
    if (monotonic_s() + wait > call->deadline) {
        int rc = deadline_failure(call->c, why, wait, &call->err);
        if (status) {
            call->err.http_status = status;
            call->err.retry_after = retry_after;
        }
        call_finish(call, rc);
        return;
    }
    call->wait = wait;
    call->wait_why = why;
    call->wait_status = status;
    call->wait_retry_after = retry_after;
    call->ev.delay = wait;
    call->ev.attempt = call->attempts + 1; /* the attempt the wait leads to */
    call->phase = PHASE_WAIT;
}

/* The attempt's headers, in the order sent: the auth's (signed afresh for
 * every attempt), the caller's, then the client's own. */
static int call_sign(wsig_call *call)
{
    wsig_client *c = call->c;
    int rc = wsig_auth_sign(c->auth, &call->signed_h, call->method, call->path, call->body,
                            call->body_len, 0, &call->err);
    if (rc != WSIG_OK)
        return rc;
    size_t n = 0;
    for (size_t i = 0; i < call->signed_h.count; i++)
        call->send_h[n++] = (wsig_header_ref){call->signed_h.h[i].name, call->signed_h.h[i].value,
                                              call->signed_h.h[i].name_len,
                                              call->signed_h.h[i].value_len};
    for (size_t i = 0; i < call->n_extra; i++)
        call->send_h[n++] = call->extra[i];
    bool has_type = wsig__find_header(call->extra, call->n_extra, "Content-Type") != NULL;
    if (call->json_body && !has_type)
        call->send_h[n++] = (wsig_header_ref){"Content-Type", "application/json", 0, 0};
    call->send_h[n++] = (wsig_header_ref){"Accept", "application/json", 0, 0};
    call->send_h[n++] = (wsig_header_ref){"User-Agent", c->user_agent, 0, 0};
    call->n_send_h = n;
    return WSIG_OK;
}

static void call_send_step(wsig_call *call, wsig_call_send *send)
{
    double left = call->deadline - monotonic_s();
    if (call->c->opt.attempt_timeout > 0 && call->c->opt.attempt_timeout < left)
        left = call->c->opt.attempt_timeout;
    *send = (wsig_call_send){.method = call->method, .url = call->url,
                             .target = call->url + call->target_at,
                             .host = call->url + call->host_at, .host_len = call->host_len,
                             .body = call->body, .body_len = call->body_len,
                             .headers = call->send_h, .n_headers = call->n_send_h,
                             .timeout = left > 0.001 ? left : 0.001};
}

int wsig_call_next(wsig_call *call, wsig_call_step *step)
{
    memset(step, 0, sizeof *step);
    if (call->started == 0) {
        call->started = monotonic_s();
        call->deadline = call->started + call->c->opt.timeout;
    }
    if (call->phase == PHASE_WAITING) {
        call->phase = call->token_taken ? PHASE_SEND : PHASE_TOKEN;
        call->token_taken = false;
    }
    if (call->phase == PHASE_TOKEN && call->c->opt.rate < 0)
        call->phase = PHASE_SEND;
    if (call->phase == PHASE_ANSWER) /* a driver that skipped its report */
        call_finish(call, wsig__fail(&call->err, WSIG_ERR_ARG, "an attempt was not reported "
                                     "(wsig_call_answer or wsig_call_failure)"));
    if (call->phase == PHASE_SEND) {
        int rc = call_sign(call);
        if (rc != WSIG_OK)
            call_finish(call, rc);
        else {
            call->attempts++;
            call->phase = PHASE_ANSWER;
            call_send_step(call, &step->send);
        }
    }
    switch (call->phase) {
    case PHASE_TOKEN:
        step->kind = WSIG_STEP_TOKEN;
        step->max_wait = call->deadline - monotonic_s();
        break;
    case PHASE_ANSWER: step->kind = WSIG_STEP_SEND; break;
    case PHASE_WAIT:
        call->phase = PHASE_WAITING;
        step->kind = WSIG_STEP_WAIT;
        step->event = call->ev;
        break;
    default: step->kind = WSIG_STEP_DONE; break;
    }
    step->event.attempt = step->kind == WSIG_STEP_WAIT ? step->event.attempt : call->attempts;
    return step->kind;
}

void wsig_call_token(wsig_call *call, double wait, int taken)
{
    if (call->phase != PHASE_TOKEN)
        return;
    if (taken && !(wait > 0)) {
        call->phase = PHASE_SEND;
        return;
    }
    call->ev.kind = WSIG_EVENT_WAIT_RATE;
    call->ev.cause = "the rate limit";
    call_plan_wait(call, wait, "the rate limiter's wait", 0, -1);
    call->token_taken = taken && call->phase == PHASE_WAIT;
}

/* The final answer: verified when the client has a response_verifier,
 * once and only here (a second check would find it in the replay cache).
 * An answer that fails is not handed back (err->http_status keeps its
 * status: e.g. an unsigned 503 from a proxy). */
static void call_final_answer(wsig_call *call)
{
    if (!call->c->opt.response_verifier) {
        call_finish(call, WSIG_OK);
        return;
    }
    int rc = verify_response(call->c, &call->res, &call->err);
    if (rc != WSIG_OK)
        call->err.http_status = call->res.status;
    call_finish(call, rc);
}

/* An answer (res owned by the call now): retried, waited for, or final
 * (docs/protocols.md, jwt: retries and 429). */
static void call_take_answer(wsig_call *call)
{
    wsig_client *c = call->c;
    wsig_response *res = &call->res;
    res->attempts = call->attempts;
    /* A 429 is the server's refusal to process; any other answer may have run. */
    if (res->status != 429)
        call->reached = true;
    if (res->status == 429 && ++call->rate_limited < c->opt.max_429_attempts) {
        double retry_after, wait = wait_for_429(c, res, call->rate_limited, &retry_after);
        if (wait > c->opt.max_retry_after) {
            call_final_answer(call); /* longer than we may wait: the caller sees the 429 */
            return;
        }
        call->ev.kind = WSIG_EVENT_WAIT_429;
        call->ev.cause = "HTTP 429";
        call_plan_wait(call, wait, "the wait Retry-After asks for", 429, retry_after);
        return;
    }
    if (res->status >= 500 && call->idempotent && call->retries < c->opt.max_retries) {
        call->ev.kind = WSIG_EVENT_RETRY;
        snprintf(call->cause, sizeof call->cause, "HTTP %ld", res->status);
        call->ev.cause = call->cause;
        call_plan_wait(call, backoff_s(c, call->retries++), "the backoff before a retry",
                       res->status, -1);
        return;
    }
    call_final_answer(call);
}

void wsig_call_answer(wsig_call *call, long status, const char *headers, size_t headers_len,
                      const void *body, size_t body_len)
{
    if (call->phase != PHASE_ANSWER)
        return;
    wipe_signed(call);
    wsig_response *res = &call->res;
    wsig_response_clear(res);
    if (status < 100 || status > 599) {
        call_finish(call, wsig__fail(&call->err, WSIG_ERR_PROTOCOL,
                                     "HTTP status %ld is not a status", status));
        return;
    }
    if (body_len > call->c->opt.max_response || headers_len > MAX_HEADER_BLOCK) {
        call_finish(call, wsig__fail(&call->err, WSIG_ERR_PROTOCOL, "response larger than %zu "
                                     "bytes", call->c->opt.max_response));
        return;
    }
    res->status = status;
    res->headers = malloc(headers_len + 1);
    res->body = malloc(body_len + 1);
    if (!res->headers || !res->body) {
        call_finish(call, wsig__fail(&call->err, WSIG_ERR_NOMEM, "out of memory"));
        return;
    }
    if (headers_len)
        memcpy(res->headers, headers, headers_len);
    res->headers[headers_len] = '\0';
    res->headers_len = headers_len;
    if (body_len)
        memcpy(res->body, body, body_len);
    res->body[body_len] = '\0';
    res->body_len = body_len;
    call_take_answer(call);
}

/* An attempt without an answer (call->err holds its failure): retried
 * only when it never left, or when it may have and repeating is safe. */
static void call_take_failure(wsig_call *call, int rc, int outcome, bool maybe_reached,
                              const char *cause)
{
    if (maybe_reached)
        call->reached = true;
    bool retry = (rc == WSIG_ERR_TRANSPORT || rc == WSIG_ERR_TIMEOUT) &&
                 (outcome == WSIG_SEND_NOT_SENT ||
                  (call->idempotent && outcome == WSIG_SEND_TRANSIENT)) &&
                 call->retries < call->c->opt.max_retries && monotonic_s() < call->deadline;
    if (!retry) {
        call_finish(call, rc);
        return;
    }
    call->ev.kind = WSIG_EVENT_RETRY;
    snprintf(call->cause, sizeof call->cause, "%s", cause ? cause : "no answer");
    call->ev.cause = call->cause;
    wsig_error_clear(&call->err);
    call_plan_wait(call, backoff_s(call->c, call->retries++), "the backoff before a retry", 0, -1);
}

void wsig_call_failure(wsig_call *call, const wsig_send_failure *f)
{
    if (call->phase != PHASE_ANSWER)
        return;
    wipe_signed(call);
    int status = f->status == WSIG_ERR_TIMEOUT || f->status == WSIG_ERR_PROTOCOL
                     ? f->status : WSIG_ERR_TRANSPORT;
    wsig__fail(&call->err, status, "%s", f->message ? f->message : "no answer");
    call->err.curl_code = f->curl_code;
    call_take_failure(call, status, f->outcome, f->maybe_reached != 0, f->cause);
}

/* ------------------------------------------------------------------ */
/* What a finished call becomes                                       */

#define CONTEXT_PATH_MAX 200 /* of a path in an error message; the rest is cut */

/* A failure of a call that began sending says where it went and what it
 * cost, in the core's message so every binding shows it:
 * " (POST /query, 3 attempts, 1.2 s)". The query is left out (it may carry
 * ids), as in events. An RPC error keeps the server's own message. */
static int with_context(const wsig_call *call, int rc, wsig_error *err)
{
    if (rc == WSIG_OK || rc == WSIG_ERR_RPC || !err || call->started == 0)
        return rc;
    size_t path_len = strcspn(call->path, "?"), used = strlen(err->message);
    snprintf(err->message + used, sizeof err->message - used, " (%s %.*s%s, %d attempt%s, %.2g s)",
             call->method, (int)(path_len < CONTEXT_PATH_MAX ? path_len : CONTEXT_PATH_MAX),
             call->path, path_len > CONTEXT_PATH_MAX ? "..." : "", call->attempts,
             call->attempts == 1 ? "" : "s", monotonic_s() - call->started);
    return rc;
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


/* Halogen's answer: its JSON body, or an HTTP error. */
static int halogen_result(wsig_response *res, char **result_json, wsig_error *err)
{
    return is_success(res->status) ? take_json_body(res, result_json, err)
                                   : http_failure(res, err);
}

/* The Wallet Manager's answer: the envelope's result, an RPC error, or an
 * HTTP error. An error envelope under a 4xx/5xx is still the server's
 * answer (an RPC error); anything else that is not a 2xx is not an answer
 * at all. */
static int rpc_result(wsig_response *res, char **result_json, wsig_error *err)
{
    if (!is_success(res->status) && res->status < 400)
        return http_failure(res, err);
    int rc = wsig_rpc_parse(result_json, res->body, res->body_len, err);
    if (err && rc != WSIG_OK)
        err->http_status = res->status;
    if (rc == WSIG_ERR_PROTOCOL && res->status >= 400)
        return http_failure(res, err);
    if (rc == WSIG_OK && res->status >= 400) {
        wsig_free(*result_json);
        *result_json = NULL;
        return http_failure(res, err);
    }
    return rc;
}

/* Move the call's error into the caller's (who may have passed NULL). */
static void move_error(wsig_call *call, wsig_error *err)
{
    if (err) {
        wsig_error_clear(err);
        *err = call->err;
    } else {
        wsig_error_clear(&call->err);
    }
    memset(&call->err, 0, sizeof call->err);
    call->err.retry_after = -1;
}

int wsig_call_result(wsig_call *call, char **result_json, wsig_response *res, wsig_error *err)
{
    wsig__reset(err);
    if (result_json)
        *result_json = NULL;
    if (res)
        memset(res, 0, sizeof *res);
    if (call->phase != PHASE_DONE)
        return wsig__fail(err, WSIG_ERR_ARG, "the call is not done");
    int rc = call->rc;
    if (rc != WSIG_OK) {
        if (res && call->kind == CALL_REQUEST)
            res->attempts = call->attempts;
        move_error(call, err);
        return with_context(call, rc, err);
    }
    char *json = NULL;
    if (call->kind == CALL_HALOGEN)
        rc = halogen_result(&call->res, &json, err);
    else if (call->kind == CALL_RPC)
        rc = rpc_result(&call->res, &json, err);
    if (call->kind == CALL_REQUEST && res) {
        *res = call->res;
        memset(&call->res, 0, sizeof call->res);
    }
    if (result_json)
        *result_json = json;
    else
        wsig_free(json);
    wsig_response_clear(&call->res);
    call->rc = rc == WSIG_OK ? call->rc : rc;
    return with_context(call, rc, err);
}

/* ------------------------------------------------------------------ */
/* Starting calls                                                     */

static bool is_idempotent_method(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0;
}

int wsig_call_request(wsig_call **out, wsig_client *c, const char *method,
                      const char *path_and_query, const void *body, size_t body_len,
                      const wsig_header_ref *extra, size_t n_extra, int json, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    if ((!body && body_len) || (!extra && n_extra))
        return wsig__fail(err, WSIG_ERR_ARG, "NULL body or headers with a length");
    if (json) {
        cJSON *v = wsig__json_parse_exact(body, body_len);
        cJSON_Delete(v);
        if (!v)
            return wsig__fail(err, WSIG_ERR_ARG, "the body is not one UTF-8 JSON value with "
                              "unique member names");
    }
    char m[MAX_METHOD];
    int rc = normal_method(m, method, err);
    if (rc != WSIG_OK)
        return rc;
    bool idempotent = is_idempotent_method(m) ||
                      (extra && wsig__find_header(extra, n_extra, "Idempotency-Key"));
    request_spec rq = {m, path_and_query, body, body_len, extra, n_extra, json != 0};
    return call_new(out, c, CALL_REQUEST, &rq, idempotent, err);
}

/* {"name":NAME,"payload":PAYLOAD}, serialised once: these exact bytes are
 * hashed into the JWT and sent. */
static int halogen_body(char **out, int *len, const char *name, const char *payload,
                        wsig_error *err)
{
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
    *len = snprintf(body, cap, "{\"name\":%s,\"payload\":%s}", quoted, payload);
    free(quoted);
    *out = body;
    return WSIG_OK;
}

int wsig_call_halogen(wsig_call **out, wsig_client *c, int command, const char *name,
                      const char *payload_json, const char *idempotency_key, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    if (idempotency_key && (!*idempotency_key || !header_safe(idempotency_key)))
        return wsig__fail(err, WSIG_ERR_ARG, "bad idempotency key");
    char *body = NULL;
    int len = 0, rc = halogen_body(&body, &len, name, payload_json ? payload_json : "{}", err);
    if (rc != WSIG_OK)
        return rc;
    wsig_header_ref idem = {.name = "Idempotency-Key", .value = idempotency_key};
    request_spec rq = {"POST", command ? "/command" : "/query", body, (size_t)len,
                       idempotency_key ? &idem : NULL, idempotency_key ? 1 : 0, true};
    rc = call_new(out, c, CALL_HALOGEN, &rq, !command || idempotency_key, err);
    free(body);
    return rc;
}

int wsig_call_rpc(wsig_call **out, wsig_client *c, const char *method, const char *path,
                  const char *params_json, wsig_error *err)
{
    *out = NULL;
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
    return call_new(out, c, CALL_RPC, &rq, is_idempotent_method(m), err);
}

/* ------------------------------------------------------------------ */
/* The client's own transport: libcurl drives the call                */

/* One SEND step through libcurl, reported to the call. */
static void curl_send(wsig_client *c, wsig_call *call, const wsig_call_send *send)
{
    CURLcode code = CURLE_OK;
    wsig_response res = {0};
    wsig_error *err = &call->err;
    c->sends = 0; /* attempt() may fail before set_options() resets it */
    int rc = attempt(c, &res, send, call->reached, &code, err);
    if (rc == WSIG_OK) {
        limiter_answer_seen(c);
        wipe_signed(call);
        wsig_response_clear(&call->res);
        call->res = res;
        call_take_answer(call);
        return;
    }
    wipe_signed(call);
    /* Nothing left (no connection, aborted before sending): the token cost
     * the server nothing. */
    if (never_sent(code) || c->sends == 0)
        limiter_refund(c);
    if (rc != WSIG_ERR_TRANSPORT && rc != WSIG_ERR_TIMEOUT) { /* aborted, protocol, memory */
        if (c->sends > 0)
            call->reached = true;
        call_finish(call, rc);
        return;
    }
    int outcome = never_sent(code) ? WSIG_SEND_NOT_SENT
                  : transient(code) ? WSIG_SEND_TRANSIENT : WSIG_SEND_FAILED;
    call_take_failure(call, rc, outcome, c->sends > 0, curl_easy_strerror(code));
}

/* Sleep s seconds in slices of at most ABORT_POLL_S, asking abort_check
 * between them, after announcing the wait (its deadline is the call's to check). */
static int sleep_call(wsig_client *c, double s, wsig_client_event *ev)
{
    double end = monotonic_s() + s;
    announce(c, ev, s);
    for (double left = s; left > 0; left = end - monotonic_s()) {
        sleep_s(c->opt.abort_check && left > ABORT_POLL_S ? ABORT_POLL_S : left);
        if (abort_requested(c))
            return WSIG_ERR_ABORTED;
    }
    return WSIG_OK;
}

/* An abort_check that stopped a wait keeps the answer the wait followed. */
static void call_aborted_wait(wsig_call *call)
{
    int rc = aborted_failure(call->wait_why, call->reached, &call->err);
    if (call->wait_status) {
        call->err.http_status = call->wait_status;
        call->err.retry_after = call->wait_retry_after;
    }
    call_finish(call, rc);
}

/* The attempts of one call with libcurl, the limiter and blocking waits. */
static int run_call(wsig_client *c, wsig_call *call)
{
    int rc = ensure_own_handle(c, &call->err);
    if (rc != WSIG_OK)
        return call_finish(call, rc);
    wsig_call_step step;
    bool token_held = false;
    for (;;) {
        switch (wsig_call_next(call, &step)) {
        case WSIG_STEP_TOKEN:
            /* The limiter's own wait (pause_call) reads the call's deadline here. */
            c->deadline = call->deadline;
            c->reached = call->reached;
            call->ev.attempt = call->attempts + 1;
            if ((rc = limiter_wait(c, &call->ev, &call->err)) != WSIG_OK)
                return call_finish(call, rc);
            if (abort_requested(c)) {
                limiter_refund(c); /* taken, never sent */
                return call_finish(call, aborted_failure("the wait before sending",
                                                         call->reached, &call->err));
            }
            wsig_call_token(call, 0, 1);
            token_held = true;
            break;
        case WSIG_STEP_SEND:
            token_held = false; /* curl_send decides */
            curl_send(c, call, &step.send);
            break;
        case WSIG_STEP_WAIT:
            if (sleep_call(c, step.event.delay, &step.event) != WSIG_OK)
                call_aborted_wait(call);
            break;
        default:
            if (token_held) /* taken, then nothing left (signing failed) */
                limiter_refund(c);
            return call->rc;
        }
    }
}

/* A call started by one of the constructors above, run to its end. */
static int run_to_result(wsig_client *c, wsig_call *call, int rc, char **result_json,
                         wsig_response *res, wsig_error *err)
{
    if (rc != WSIG_OK)
        return rc;
    run_call(c, call);
    rc = wsig_call_result(call, result_json, res, err);
    wsig_call_free(call);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Public calls                                                       */

int wsig_client_request(wsig_client *c, wsig_response *res, const char *method,
                        const char *path_and_query, const void *body, size_t body_len,
                        const wsig_header_ref *extra, size_t n_extra, wsig_error *err)
{
    memset(res, 0, sizeof *res);
    wsig_call *call;
    int rc = wsig_call_request(&call, c, method, path_and_query, body, body_len, extra, n_extra,
                               0, err);
    return run_to_result(c, call, rc, NULL, res, err);
}

int wsig_client_request_json(wsig_client *c, wsig_response *res, const char *method,
                             const char *path_and_query, const char *json, size_t json_len,
                             const wsig_header_ref *extra, size_t n_extra, wsig_error *err)
{
    memset(res, 0, sizeof *res);
    wsig_call *call;
    int rc = wsig_call_request(&call, c, method, path_and_query, json, json_len, extra, n_extra,
                               1, err);
    return run_to_result(c, call, rc, NULL, res, err);
}

int wsig_client_query(wsig_client *c, char **result_json, const char *name,
                      const char *payload_json, wsig_error *err)
{
    *result_json = NULL;
    wsig_call *call;
    int rc = wsig_call_halogen(&call, c, 0, name, payload_json, NULL, err);
    return run_to_result(c, call, rc, result_json, NULL, err);
}

int wsig_client_command(wsig_client *c, char **result_json, const char *name,
                        const char *payload_json, const char *idempotency_key, wsig_error *err)
{
    *result_json = NULL;
    wsig_call *call;
    int rc = wsig_call_halogen(&call, c, 1, name, payload_json, idempotency_key, err);
    return run_to_result(c, call, rc, result_json, NULL, err);
}

int wsig_client_call(wsig_client *c, char **result_json, const char *method, const char *path,
                     const char *params_json, wsig_error *err)
{
    *result_json = NULL;
    wsig_call *call;
    int rc = wsig_call_rpc(&call, c, method, path, params_json, err);
    return run_to_result(c, call, rc, result_json, NULL, err);
}

/* ------------------------------------------------------------------ */
/* The limiter's settings, for a bucket the caller keeps (wsig_rate_take) */

int wsig_client_rate(const wsig_client *c, double *rate, double *burst)
{
    *rate = c->opt.rate;
    *burst = c->opt.burst;
    return c->opt.rate >= 0;
}

