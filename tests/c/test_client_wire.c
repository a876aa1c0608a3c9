/* What the client (csrc/client.c) puts on the wire, seen by a raw listener
 * on 127.0.0.1 that records each request head byte for byte and answers with
 * a canned response. No mock server: the request line and headers are read
 * exactly as libcurl wrote them.
 *
 * test_client_wire  methods are RFC 9110 tokens (no header injection); the
 *                   request target equals the signed path (dot segments,
 *                   fragments, empty queries); caller headers cannot duplicate
 *                   or override the signature headers; 3xx answers are errors
 *                   with their Location; a response_verifier checks every
 *                   answer of every call, exactly once; a header with an
 *                   embedded NUL is refused, never sent cut short. */
#define _GNU_SOURCE /* strcasestr */
#include "testlib.h"
#include "walletsign.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* The listener                                                       */

typedef struct {
    int fd, port;
    pthread_t thread;
    volatile int stop;
    pthread_mutex_t lock;
    int requests;        /* requests received */
    char head[8192];     /* the last request's head, up to and without the blank line */
    char answer[8192];   /* the whole response sent to the next requests */
} wire;

static wire W;

/* Read one request head and its Content-Length body; false on EOF/overflow. */
static bool read_request(int s, char *head, size_t cap)
{
    char buf[16384];
    size_t n = 0;
    char *end = NULL;
    while (!end && n + 1 < sizeof buf) {
        ssize_t got = recv(s, buf + n, sizeof buf - 1 - n, 0);
        if (got <= 0)
            return false;
        n += (size_t)got;
        buf[n] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end)
        return false;
    size_t head_len = (size_t)(end - buf);
    snprintf(head, cap, "%.*s", (int)head_len, buf);
    const char *cl = strcasestr(head, "\r\nContent-Length:");
    size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0, have = n - head_len - 4;
    while (have < want) {
        ssize_t got = recv(s, buf, sizeof buf, 0);
        if (got <= 0)
            return false;
        have += (size_t)got;
    }
    return true;
}

static void *wire_run(void *ud)
{
    wire *w = ud;
    while (!w->stop) {
        struct pollfd p = {w->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int s = accept(w->fd, NULL, NULL);
        if (s < 0)
            continue;
        char head[sizeof w->head], answer[sizeof w->answer];
        if (read_request(s, head, sizeof head)) {
            pthread_mutex_lock(&w->lock);
            memcpy(w->head, head, sizeof head);
            memcpy(answer, w->answer, sizeof answer);
            w->requests++;
            pthread_mutex_unlock(&w->lock);
            (void)!send(s, answer, strlen(answer), MSG_NOSIGNAL);
        }
        close(s);
    }
    return NULL;
}

static bool wire_start(wire *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    w->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(w->fd, 16) != 0 ||
        getsockname(w->fd, (struct sockaddr *)&a, &len) != 0 ||
        pthread_create(&w->thread, NULL, wire_run, w) != 0) {
        if (w->fd >= 0)
            close(w->fd);
        return false;
    }
    w->port = ntohs(a.sin_port);
    return true;
}

static void wire_stop(wire *w)
{
    w->stop = 1;
    pthread_join(w->thread, NULL);
    close(w->fd);
    pthread_mutex_destroy(&w->lock);
}

/* Answer the next requests with status_line, extra header lines and body. */
static void wire_answer(const char *status_line, const char *headers, const char *body)
{
    pthread_mutex_lock(&W.lock);
    snprintf(W.answer, sizeof W.answer,
             "%s\r\n%sContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             status_line, headers ? headers : "", strlen(body), body);
    pthread_mutex_unlock(&W.lock);
}

static int wire_requests(void)
{
    pthread_mutex_lock(&W.lock);
    int n = W.requests;
    pthread_mutex_unlock(&W.lock);
    return n;
}

/* The last request head (a copy), its method and target from the request line. */
typedef struct {
    char head[sizeof W.head];
    char method[64], target[4096];
} seen;

static seen wire_seen(void)
{
    seen s = {{0}, {0}, {0}};
    pthread_mutex_lock(&W.lock);
    memcpy(s.head, W.head, sizeof s.head);
    pthread_mutex_unlock(&W.lock);
    const char *sp1 = strchr(s.head, ' ');
    const char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 && sp2 && (size_t)(sp1 - s.head) < sizeof s.method &&
        (size_t)(sp2 - sp1 - 1) < sizeof s.target) {
        memcpy(s.method, s.head, (size_t)(sp1 - s.head));
        memcpy(s.target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    }
    return s;
}

/* How many header lines named name (case-insensitive) the head holds. */
static int head_count(const seen *s, const char *name)
{
    int n = 0;
    size_t nl = strlen(name);
    for (const char *p = strstr(s->head, "\r\n"); p; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':')
            n++;
    return n;
}

/* The head's header lines as refs into buf (which it modifies). */
static size_t head_refs(char *buf, wsig_header_ref *refs, size_t cap)
{
    size_t n = 0;
    char *line = strstr(buf, "\r\n");
    while (line && n < cap) {
        line += 2;
        char *next = strstr(line, "\r\n");
        if (next)
            *next = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ')
                v++;
            refs[n++] = (wsig_header_ref){line, v};
        }
        line = next;
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* Credentials                                                        */

static const char SECRET[] = "wire-secret";
static const char SECP_HEX[] = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

typedef struct {
    wsig_key *p256, *secp;
    wsig_auth *jwt, *hmac, *msg;
} creds;

static bool creds_make(creds *k)
{
    wsig_error err = WSIG_ERROR_INIT;
    memset(k, 0, sizeof *k);
    bool ok = wsig_key_generate(&k->p256, WSIG_KEY_P256, 0, &err) == WSIG_OK &&
              wsig_key_from_hex(&k->secp, SECP_HEX, &err) == WSIG_OK &&
              wsig_auth_jwt_new(&k->jwt, k->p256, "kid-1", NULL, &err) == WSIG_OK &&
              wsig_auth_hmac_new(&k->hmac, "wire-key", SECRET, strlen(SECRET), NULL, &err) ==
                  WSIG_OK &&
              wsig_auth_message_new(&k->msg, k->secp, NULL, &err) == WSIG_OK;
    CHECK(ok, "credentials: %s", err.message);
    wsig_error_clear(&err);
    return ok;
}

static void creds_free(creds *k)
{
    wsig_auth_free(k->jwt);
    wsig_auth_free(k->hmac);
    wsig_auth_free(k->msg);
    wsig_key_free(k->p256);
    wsig_key_free(k->secp);
}

static wsig_client *wire_client(wsig_auth *auth, wsig_message_verifier *verifier)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", W.port);
    wsig_client_options o = {.max_retries = 0, .rate = -1, .response_verifier = verifier};
    wsig_error err = WSIG_ERROR_INIT;
    wsig_client *c = NULL;
    int rc = wsig_client_new(&c, url, auth, &o, &err);
    CHECK(rc == WSIG_OK && c, "client_new: %s", err.message);
    wsig_error_clear(&err);
    return c;
}

/* ------------------------------------------------------------------ */
/* 8. Methods are tokens                                              */

static const char INJECT[] = "GET /evil HTTP/1.1\r\nX-Injected: yes\r\nX-Pad:";

/* Does the HMAC of the request that arrived verify, as a server would? */
static bool hmac_verifies(const seen *arrived)
{
    seen s = *arrived;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_hmac_verifier *v = NULL;
    wsig_header_ref refs[32];
    size_t n = head_refs(s.head, refs, 32);
    int rc = wsig_hmac_verifier_new(&v, 0, NULL, &err);
    rc = rc ? rc : wsig_hmac_verifier_add(v, "wire-key", SECRET, strlen(SECRET), &err);
    rc = rc ? rc : wsig_hmac_verify(v, NULL, s.method, s.target, refs, n, NULL, 0, 0, &err);
    wsig_hmac_verifier_free(v);
    wsig_error_clear(&err);
    return rc == WSIG_OK;
}

static void methods(const creds *k)
{
    static const char *const not_tokens[] = {INJECT, "", "GET ", "G ET", "GET\t", "GE(T)",
                                             "GET\r\n", "G\"T", "GÉT"};
    wsig_auth *auths[3] = {k->jwt, k->hmac, k->msg};
    const char *names[3] = {"jwt", "hmac", "message"};
    wsig_error err = WSIG_ERROR_INIT;
    wsig_headers h;
    wsig_response res;
    char *json = NULL;
    wire_answer("HTTP/1.1 200 OK", NULL, "{\"result\":{}}");
    for (int a = 0; a < 3; a++) {
        for (size_t i = 0; i < sizeof not_tokens / sizeof not_tokens[0]; i++) {
            int rc = wsig_auth_sign(auths[a], &h, not_tokens[i], "/query", NULL, 0, 0, &err);
            CHECK(rc == WSIG_ERR_ARG && strstr(err.message, "method"),
                  "%s: auth_sign(method #%zu) rc %s (%s)", names[a], i, wsig_status_name(rc),
                  err.message);
        }
        int rc = wsig_auth_sign(auths[a], &h, "GET", "/query", NULL, 0, 0, &err);
        CHECK(rc == WSIG_OK, "%s: auth_sign(GET) rc %s (%s)", names[a], wsig_status_name(rc),
              err.message);
        wsig_client *c = wire_client(auths[a], NULL);
        if (!c)
            continue;
        int before = wire_requests();
        rc = wsig_client_request(c, &res, INJECT, "/query", NULL, 0, NULL, 0, &err);
        CHECK(rc == WSIG_ERR_ARG, "%s: request(injected method) rc %s status %ld", names[a],
              wsig_status_name(rc), res.status);
        wsig_response_clear(&res);
        rc = wsig_client_call(c, &json, INJECT, "/query", NULL, &err);
        CHECK(rc == WSIG_ERR_ARG && !json, "%s: call(injected method) rc %s", names[a],
              wsig_status_name(rc));
        wsig_free(json);
        json = NULL;
        CHECK(wire_requests() == before, "%s: a refused method was sent (%d requests)", names[a],
              wire_requests() - before);
        /* A method is signed, sent and judged for retries in upper case. */
        rc = wsig_client_request(c, &res, "get", "/lower", NULL, 0, NULL, 0, &err);
        {
            seen s = wire_seen();
            CHECK(rc == WSIG_OK && strcmp(s.method, "GET") == 0 && strcmp(s.target, "/lower") == 0,
                  "%s: lower-case method sent as '%s %s' (rc %s: %s)", names[a], s.method,
                  s.target, wsig_status_name(rc), err.message);
            if (auths[a] == k->hmac && rc == WSIG_OK)
                CHECK(hmac_verifies(&s), "hmac: 'get' sent as GET does not verify");
        }
        wsig_response_clear(&res);
        rc = wsig_client_request(c, &res, "PATCH", "/ok", "{}", 2, NULL, 0, &err);
        seen s = wire_seen();
        CHECK(rc == WSIG_OK && strcmp(s.method, "PATCH") == 0, "%s: PATCH sent as '%s' (rc %s)",
              names[a], s.method, wsig_status_name(rc));
        wsig_response_clear(&res);
        wsig_client_free(c);
    }
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* 9. The request target is the signed path                           */

static void paths(const creds *k)
{
    static const char *const faithful[] = {
        "/v1/./wallet/list", "/x/../y",      "/..",           "/a//b/",       "/x?",
        "/%2e%2e/x",         "/x?a=/../b",   "/q?skip=0&take=25&orderBy=desc", "/x/.",
        "/~u/!$&'()*+,;=:@", "/x?a=%20&b=%2F", "/x/%7E/..%2F"};
    static const char *const unfaithful[] = {"/x#top", "/x#", "/x?a#b", "/x y", "/x\t",
                                             "/x\x7f", "/x\x01", "/\xc3\xa9", "x", ""};
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    wsig_hmac_verifier *v = NULL;
    int rc = wsig_hmac_verifier_new(&v, 0, NULL, &err);
    rc = rc == WSIG_OK ? wsig_hmac_verifier_add(v, "wire-key", SECRET, strlen(SECRET), &err) : rc;
    CHECK(rc == WSIG_OK, "hmac verifier: %s", err.message);
    wsig_client *c = rc == WSIG_OK ? wire_client(k->hmac, NULL) : NULL;
    wire_answer("HTTP/1.1 200 OK", NULL, "{}");
    for (size_t i = 0; c && i < sizeof faithful / sizeof faithful[0]; i++) {
        rc = wsig_client_request(c, &res, "GET", faithful[i], NULL, 0, NULL, 0, &err);
        seen s = wire_seen();
        CHECK(rc == WSIG_OK && strcmp(s.target, faithful[i]) == 0,
              "path %s: sent as %s (rc %s: %s)", faithful[i], s.target, wsig_status_name(rc),
              err.message);
        wsig_response_clear(&res);
        /* What a server verifies is what arrived: the MAC must match it. */
        wsig_header_ref refs[32];
        size_t n = head_refs(s.head, refs, 32);
        rc = wsig_hmac_verify(v, NULL, s.method, s.target, refs, n, NULL, 0, 0, &err);
        CHECK(rc == WSIG_OK, "path %s: the signature does not cover the target sent (%s)",
              faithful[i], err.message);
    }
    int before = wire_requests();
    for (size_t i = 0; c && i < sizeof unfaithful / sizeof unfaithful[0]; i++) {
        rc = wsig_client_request(c, &res, "GET", unfaithful[i], NULL, 0, NULL, 0, &err);
        CHECK(rc == WSIG_ERR_ARG, "path #%zu (%s): rc %s", i, unfaithful[i],
              wsig_status_name(rc));
        wsig_response_clear(&res);
    }
    CHECK(wire_requests() == before, "%d unfaithful paths were sent", wire_requests() - before);
    wsig_client_free(c);

    /* A base URL with a query or fragment would move the path out of the target. */
    static const char *const bad_bases[] = {"http://127.0.0.1:1/#", "http://127.0.0.1:1/api#x",
                                            "http://127.0.0.1:1/?a=1", "http://127.0.0.1:1 /"};
    for (size_t i = 0; i < sizeof bad_bases / sizeof bad_bases[0]; i++) {
        wsig_client *b = NULL;
        rc = wsig_client_new(&b, bad_bases[i], k->hmac, NULL, &err);
        CHECK(rc == WSIG_ERR_ARG && !b, "base url %s: rc %s", bad_bases[i], wsig_status_name(rc));
        wsig_client_free(b);
    }
    wsig_hmac_verifier_free(v);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* 11. Caller headers cannot shadow the signature                     */

static void headers(const creds *k)
{
    static const struct {
        int auth; /* 0 jwt, 1 hmac, 2 message, -1 all */
        const char *name;
    } refused[] = {
        {0, "Authorization"}, {0, "authorization"},   {1, "X-API-KEY"},
        {1, "x-signature"},   {1, "X-Timestamp"},     {2, "X-Message-Signature"},
        {2, "x-message-sequence"}, {2, "X-Message-Extra"}, {-1, "Host"},
        {-1, "content-length"}, {-1, "Transfer-Encoding"},
    };
    wsig_auth *auths[3] = {k->jwt, k->hmac, k->msg};
    const char *signed_name[3] = {"Authorization", "x-signature", "X-Message-Signature"};
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    wire_answer("HTTP/1.1 200 OK", NULL, "{}");
    for (int a = 0; a < 3; a++) {
        wsig_client *c = wire_client(auths[a], NULL);
        if (!c)
            continue;
        int before = wire_requests();
        for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
            if (refused[i].auth != -1 && refused[i].auth != a)
                continue;
            wsig_header_ref h[2] = {{"X-Request-Id", "r-1"}, {refused[i].name, "7"}};
            int rc = wsig_client_request(c, &res, "POST", "/h", "{}", 2, h, 2, &err);
            CHECK(rc == WSIG_ERR_ARG && strstr(err.message, refused[i].name),
                  "auth %d: extra header %s: rc %s (%s)", a, refused[i].name,
                  wsig_status_name(rc), err.message);
            wsig_response_clear(&res);
        }
        CHECK(wire_requests() == before, "auth %d: refused headers were sent", a);
        /* Headers the auth does not set still go out, once each. */
        wsig_header_ref ok[3] = {{"X-Request-Id", "r-2"},
                                 {"Content-Type", "application/json"},
                                 {a == 0 ? "x-api-key" : "X-Authorization", "not-ours"}};
        int rc = wsig_client_request(c, &res, "POST", "/h", "{}", 2, ok, 3, &err);
        seen s = wire_seen();
        CHECK(rc == WSIG_OK && head_count(&s, "X-Request-Id") == 1 &&
                  head_count(&s, signed_name[a]) == 1 && head_count(&s, "Content-Type") == 1 &&
                  head_count(&s, "Host") == 1 && head_count(&s, "Content-Length") == 1,
              "auth %d: allowed headers (rc %s: %s)\n%s", a, wsig_status_name(rc), err.message,
              s.head);
        wsig_response_clear(&res);
        wsig_client_free(c);
    }
    /* Configured hmac header names are the ones reserved. */
    wsig_auth *custom = NULL;
    wsig_hmac_options o = {.api_key_header = "X-Key", .signature_header = "X-Sig",
                           .timestamp_header = "X-Ts"};
    int rc = wsig_auth_hmac_new(&custom, "k", SECRET, strlen(SECRET), &o, &err);
    wsig_client *c = rc == WSIG_OK ? wire_client(custom, NULL) : NULL;
    if (c) {
        const char *names[3] = {"x-key", "X-SIG", "x-ts"};
        for (int i = 0; i < 3; i++) {
            wsig_header_ref h = {names[i], "1"};
            rc = wsig_client_request(c, &res, "GET", "/h", NULL, 0, &h, 1, &err);
            CHECK(rc == WSIG_ERR_ARG, "custom hmac name %s: rc %s", names[i],
                  wsig_status_name(rc));
            wsig_response_clear(&res);
        }
        wsig_header_ref h = {"x-signature", "1"}; /* not this auth's name */
        rc = wsig_client_request(c, &res, "GET", "/h", NULL, 0, &h, 1, &err);
        CHECK(rc == WSIG_OK, "custom hmac: x-signature is free: rc %s (%s)", wsig_status_name(rc),
              err.message);
        wsig_response_clear(&res);
    }
    wsig_client_free(c);
    wsig_auth_free(custom);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* 10. Redirects are errors                                           */

static void redirects(const creds *k)
{
    static const char *const lines[] = {"HTTP/1.1 302 Found", "HTTP/1.1 301 Moved Permanently",
                                        "HTTP/1.1 303 See Other", "HTTP/1.1 307 Temporary Redirect",
                                        "HTTP/1.1 308 Permanent Redirect"};
    static const char LOC[] = "https://elsewhere.example/query?x=1";
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    char *json = NULL;
    wsig_client *cj = wire_client(k->jwt, NULL), *cm = wire_client(k->msg, NULL);
    for (size_t i = 0; cj && cm && i < sizeof lines / sizeof lines[0]; i++) {
        long want = atol(lines[i] + 9);
        wire_answer(lines[i], "Location: https://elsewhere.example/query?x=1\r\n",
                    "{\"status\":\"COMPLETED\",\"result\":{\"status\":\"COMPLETED\"}}");
        for (int which = 0; which < 3; which++) {
            int rc = which == 0   ? wsig_client_query(cj, &json, "get_balance", NULL, &err)
                     : which == 1 ? wsig_client_command(cj, &json, "withdraw", "{}", NULL, &err)
                                  : wsig_client_call(cm, &json, "POST", "/access/get_address",
                                                     "{}", &err);
            CHECK(rc == WSIG_ERR_HTTP && err.status == WSIG_ERR_HTTP && err.http_status == want &&
                      json == NULL,
                  "%ld to %s: rc %s http %ld", want, which == 0 ? "query" : which == 1 ? "command" : "call",
                  wsig_status_name(rc), err.http_status);
            CHECK(err.location && strcmp(err.location, LOC) == 0 && strstr(err.message, LOC),
                  "%ld: location %s, message %s", want, err.location ? err.location : "(none)",
                  err.message);
            wsig_free(json);
            json = NULL;
        }
        /* The raw call still hands back any status. */
        int rc = wsig_client_request(cj, &res, "GET", "/r", NULL, 0, NULL, 0, &err);
        size_t len = 0;
        const char *loc = rc == WSIG_OK ? wsig_response_header(&res, "Location", &len) : NULL;
        CHECK(rc == WSIG_OK && res.status == want && loc && len == strlen(LOC) &&
                  memcmp(loc, LOC, len) == 0,
              "request: %ld answered rc %s status %ld", want, wsig_status_name(rc), res.status);
        wsig_response_clear(&res);
    }
    /* A redirect without a Location is still an error; the field stays NULL. */
    wire_answer("HTTP/1.1 302 Found", NULL, "{}");
    int rc = cj ? wsig_client_query(cj, &json, "get_balance", NULL, &err) : -1;
    CHECK(rc == WSIG_ERR_HTTP && err.http_status == 302 && err.location == NULL && !json,
          "302 without Location: rc %s", wsig_status_name(rc));
    wsig_client_free(cj);
    wsig_client_free(cm);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* 12. A response_verifier checks every answer, once                  */

/* The canned answer, signed now by the listener's own key (a fresh sequence). */
static void answer_signed_plus(wsig_auth *server, const char *status_line, const char *body,
                               const char *more_headers)
{
    wsig_headers h;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_auth_sign(server, &h, "POST", "/", body, strlen(body), 0, &err);
    CHECK(rc == WSIG_OK, "sign the answer: %s", err.message);
    char lines[2048] = "";
    size_t used = 0;
    for (size_t i = 0; rc == WSIG_OK && i < h.count; i++)
        used += (size_t)snprintf(lines + used, sizeof lines - used, "%s: %s\r\n", h.h[i].name,
                                 h.h[i].value);
    snprintf(lines + used, sizeof lines - used, "%s", more_headers);
    wire_answer(status_line, lines, body);
    wsig_error_clear(&err);
}

static void answer_signed(wsig_auth *server, const char *status_line, const char *body)
{
    answer_signed_plus(server, status_line, body, "");
}

static void verifier(const creds *k)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *sk = NULL;
    wsig_auth *server = NULL;
    wsig_message_verifier *v = NULL;
    char addr[WSIG_ADDRESS_SIZE];
    int rc = wsig_key_generate(&sk, WSIG_KEY_SECP256K1, 0, &err);
    rc = rc ? rc : wsig_auth_message_new(&server, sk, NULL, &err);
    rc = rc ? rc : wsig_key_address(sk, addr, &err);
    const char *trusted[1] = {addr};
    rc = rc ? rc : wsig_message_verifier_new(&v, trusted, 1, NULL, &err);
    CHECK(rc == WSIG_OK, "server key and verifier: %s", err.message);
    wsig_client *cj = rc == WSIG_OK ? wire_client(k->jwt, v) : NULL;
    wsig_client *cm = rc == WSIG_OK ? wire_client(k->msg, v) : NULL;
    wsig_response res;
    char *json = NULL;
    static const char *const what[4] = {"request", "query", "command", "call"};
    for (int which = 0; cj && cm && which < 4; which++) {
        for (int sign = 0; sign < 2; sign++) {
            const char *body = which == 3 ? "{\"result\":{\"ok\":true}}" : "{\"ok\":true}";
            if (sign)
                answer_signed(server, "HTTP/1.1 200 OK", body);
            else
                wire_answer("HTTP/1.1 200 OK", NULL, body);
            memset(&res, 0, sizeof res);
            rc = which == 0   ? wsig_client_request(cj, &res, "GET", "/v", NULL, 0, NULL, 0, &err)
                 : which == 1 ? wsig_client_query(cj, &json, "get_balance", NULL, &err)
                 : which == 2 ? wsig_client_command(cj, &json, "withdraw", NULL, NULL, &err)
                              : wsig_client_call(cm, &json, "POST", "/access/x", NULL, &err);
            if (sign) /* verified once: a second check would see a replay */
                CHECK(rc == WSIG_OK && (which == 0 ? res.status == 200 : json != NULL),
                      "%s: signed answer rc %s (%s: %s)", what[which], wsig_status_name(rc),
                      wsig_reason_name(err.reason), err.message);
            else
                CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_MISSING_HEADER &&
                          err.http_status == 200 && json == NULL && res.body == NULL,
                      "%s: unsigned answer rc %s reason %s", what[which], wsig_status_name(rc),
                      wsig_reason_name(err.reason));
            wsig_response_clear(&res);
            wsig_free(json);
            json = NULL;
        }
    }
    /* A signed answer with a second X-Message-Sequence: judged as a request's
     * headers are (malformed_header), not read by its first copy. */
    answer_signed_plus(server, "HTTP/1.1 200 OK", "{\"ok\":true}", "X-Message-Sequence: 99\r\n");
    memset(&res, 0, sizeof res);
    rc = cj ? wsig_client_request(cj, &res, "GET", "/v", NULL, 0, NULL, 0, &err) : -1;
    CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_MALFORMED_HEADER,
          "repeated X-Message-Sequence in an answer: %s/%s", wsig_status_name(rc),
          wsig_reason_name(err.reason));
    wsig_response_clear(&res);
    /* An unsigned redirect: refused by the verifier before anything else. */
    wire_answer("HTTP/1.1 302 Found", "Location: /x\r\n", "{}");
    rc = cj ? wsig_client_query(cj, &json, "get_balance", NULL, &err) : -1;
    CHECK(rc == WSIG_INVALID && err.http_status == 302 && !json, "unsigned 302: rc %s",
          wsig_status_name(rc));
    wsig_client_free(cj);
    wsig_client_free(cm);
    wsig_message_verifier_free(v);
    wsig_auth_free(server);
    wsig_key_free(sk);
    wsig_error_clear(&err);
}

/* A client keeps its own references: the caller may free the auth and the
 * response verifier right after wsig_client_new (ASan and valgrind would
 * report a use after free otherwise). */
static void owned_references(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *sk = NULL;
    wsig_auth *auth = NULL, *server = NULL;
    wsig_message_verifier *v = NULL;
    char addr[WSIG_ADDRESS_SIZE];
    int rc = wsig_key_generate(&sk, WSIG_KEY_SECP256K1, 0, &err);
    rc = rc ? rc : wsig_auth_message_new(&server, sk, NULL, &err);
    rc = rc ? rc : wsig_key_address(sk, addr, &err);
    const char *trusted[1] = {addr};
    rc = rc ? rc : wsig_message_verifier_new(&v, trusted, 1, NULL, &err);
    rc = rc ? rc : wsig_auth_hmac_new(&auth, "owned-key", SECRET, strlen(SECRET), NULL, &err);
    CHECK(rc == WSIG_OK, "owned: set-up: %s", err.message);
    /* A client that fails to be made takes no reference and frees nothing
     * of the caller's (a bad user_agent fails after the options are copied). */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", W.port);
    wsig_client_options bad = WSIG_CLIENT_OPTIONS_INIT;
    bad.user_agent = "a\r\nb";
    bad.response_verifier = v;
    wsig_client *failed = NULL;
    int bad_rc = rc == WSIG_OK ? wsig_client_new(&failed, url, auth, &bad, &err) : -1;
    CHECK(bad_rc == WSIG_ERR_ARG && !failed, "owned: bad user_agent: %s", wsig_status_name(bad_rc));
    CHECK(!v || wsig_message_verifier_window_ms(v) == 60000, "owned: the verifier survives");
    wsig_client *c = rc == WSIG_OK ? wire_client(auth, v) : NULL;
    wsig_auth_free(auth);
    wsig_message_verifier_free(v);
    if (c) {
        wsig_response res;
        answer_signed(server, "HTTP/1.1 200 OK", "{}");
        rc = wsig_client_request(c, &res, "GET", "/owned", NULL, 0, NULL, 0, &err);
        seen s = wire_seen();
        CHECK(rc == WSIG_OK && res.status == 200 && strstr(s.head, "x-api-key: owned-key"),
              "owned: request after the caller freed auth and verifier: %s (%s)",
              wsig_status_name(rc), err.message);
        wsig_response_clear(&res);
    }
    wsig_client_free(c);
    wsig_auth_free(server);
    wsig_key_free(sk);
    wsig_error_clear(&err);
}

/* The header walk every binding reads: in order, repeats kept, values
 * trimmed, the status line and the blank end skipped; the lookup agrees. */
static void header_walk(const creds *k)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_client *c = wire_client(k->hmac, NULL);
    wsig_response res;
    wire_answer("HTTP/1.1 200 OK", "X-A: 1\r\nx-b:  two words \t\r\nX-A: 3\r\nX-Empty:\r\n", "{}");
    int rc = c ? wsig_client_request(c, &res, "GET", "/walk", NULL, 0, NULL, 0, &err) : -1;
    CHECK(rc == WSIG_OK, "walk: request %s", err.message);
    if (rc == WSIG_OK) {
        char got[512] = "";
        size_t pos = 0, nl, vl, used = 0;
        const char *n, *v;
        while (wsig_response_header_next(&res, &pos, &n, &nl, &v, &vl) && used < sizeof got)
            used += (size_t)snprintf(got + used, sizeof got - used, "[%.*s=%.*s]", (int)nl, n,
                                     (int)vl, v);
        CHECK(strncmp(got, "[X-A=1][x-b=two words][X-A=3][X-Empty=]", 39) == 0 &&
                  strstr(got, "[Content-Length=2]"),
              "walk: %s", got);
        CHECK(!wsig_response_header_next(&res, &pos, &n, &nl, &v, &vl), "walk: past the end");
        const char *b = wsig_response_header(&res, "X-B", &vl);
        CHECK(b && vl == 9 && memcmp(b, "two words", 9) == 0, "lookup X-B");
        CHECK(!wsig_response_header(&res, "HTTP/1.1 200 OK", &vl), "the status line is no header");
    }
    wsig_response_clear(&res);
    wsig_client_free(c);
    wsig_error_clear(&err);
}

/* A JSON body: checked before anything is sent, labelled unless the caller
 * labels it. */
static void json_request(const creds *k)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_client *c = wire_client(k->hmac, NULL);
    wsig_response res;
    wire_answer("HTTP/1.1 200 OK", NULL, "{}");
    int before = wire_requests();
    static const char *const bad[] = {"{\"a\":1,\"a\":2}", "{\"a\":", "\"\xff\"", "1 2", ""};
    for (size_t i = 0; c && i < sizeof bad / sizeof bad[0]; i++) {
        int rc = wsig_client_request_json(c, &res, "POST", "/j", bad[i], strlen(bad[i]), NULL, 0,
                                          &err);
        CHECK(rc == WSIG_ERR_ARG, "json body #%zu: %s", i, wsig_status_name(rc));
    }
    CHECK(wire_requests() == before, "a refused JSON body was sent");
    /* A HEAD goes without a body, so one cannot be signed into it. */
    int head_rc = c ? wsig_client_request(c, &res, "HEAD", "/j", "x", 1, NULL, 0, &err) : -1;
    CHECK(head_rc == WSIG_ERR_ARG && wire_requests() == before, "HEAD with a body: %s",
          wsig_status_name(head_rc));
    /* Any token is a method hmac signs and verifies, not only letters. */
    int ms_rc = c ? wsig_client_request(c, &res, "m-search", "/j", NULL, 0, NULL, 0, &err) : -1;
    seen ms = wire_seen();
    CHECK(ms_rc == WSIG_OK && strcmp(ms.method, "M-SEARCH") == 0 && hmac_verifies(&ms),
          "M-SEARCH: %s (%s)", wsig_status_name(ms_rc), err.message);
    wsig_response_clear(&res);
    int rc = c ? wsig_client_request_json(c, &res, "POST", "/j", "{\"a\":1}", 7, NULL, 0, &err) : -1;
    seen s = wire_seen();
    CHECK(rc == WSIG_OK && head_count(&s, "Content-Type") == 1 &&
              strstr(s.head, "Content-Type: application/json\r\n"),
          "json body: %s %s", wsig_status_name(rc), s.head);
    wsig_response_clear(&res);
    wsig_header_ref own = {"content-type", "application/json; charset=utf-8"};
    rc = c ? wsig_client_request_json(c, &res, "POST", "/j", "[]", 2, &own, 1, &err) : -1;
    s = wire_seen();
    CHECK(rc == WSIG_OK && head_count(&s, "Content-Type") == 1 && strstr(s.head, "charset=utf-8"),
          "json body, own type: %s", s.head);
    wsig_response_clear(&res);
    wsig_client_free(c);
    wsig_error_clear(&err);
}

/* A NUL inside an extra header's given length is refused whole, never
 * cut short on the wire (wsig_header_ref: 0 means strlen). */
static void nul_in_headers(const creds *k)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_client *c = wire_client(k->hmac, NULL);
    wsig_response res;
    wire_answer("HTTP/1.1 200 OK", NULL, "{}");
    int before = wire_requests();
    const wsig_header_ref bad[] = {{"X-Request-Id", "abc\0def", 0, 7},
                                   {"X-Request\0-Id", "abc", 14, 0},
                                   {"X-Request-Id", "abc", 0, 2}};
    for (size_t i = 0; c && i < sizeof bad / sizeof bad[0]; i++) {
        int rc = wsig_client_request(c, &res, "GET", "/n", NULL, 0, &bad[i], 1, &err);
        CHECK(rc == WSIG_ERR_ARG, "NUL header #%zu: %s", i, wsig_status_name(rc));
        wsig_response_clear(&res);
        rc = wsig_client_request_json(c, &res, "POST", "/n", "{}", 2, &bad[i], 1, &err);
        CHECK(rc == WSIG_ERR_ARG, "NUL header #%zu (json): %s", i, wsig_status_name(rc));
        wsig_response_clear(&res);
    }
    CHECK(wire_requests() == before, "a header with a NUL was sent");
    /* True lengths without a NUL go out as given. */
    wsig_header_ref whole = {"X-Request-Id", "abc", 12, 3};
    int rc = c ? wsig_client_request(c, &res, "GET", "/n", NULL, 0, &whole, 1, &err) : -1;
    seen s = wire_seen();
    CHECK(rc == WSIG_OK && strstr(s.head, "\r\nX-Request-Id: abc\r\n"), "lengths given: %s %s",
          wsig_status_name(rc), s.head);
    wsig_response_clear(&res);
    wsig_client_free(c);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */

void test_client_wire(void)
{
    creds k;
    if (!wire_start(&W)) {
        CHECK(0, "cannot listen on 127.0.0.1");
        return;
    }
    if (creds_make(&k)) {
        methods(&k);
        paths(&k);
        headers(&k);
        redirects(&k);
        verifier(&k);
        owned_references();
        header_walk(&k);
        json_request(&k);
        nul_in_headers(&k);
    }
    creds_free(&k);
    wire_stop(&W);
}
