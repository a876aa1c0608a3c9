/* The HTTP client (csrc/client.c) against the independent mock server
 * (tests/mock_server): every call path of the three protocols and every fault
 * of the mock's §4, with the retry rules of docs/protocols.md, jwt.
 *
 * test_client      one plain-HTTP mock: Halogen (ES256 DER/raw, RS256), HTTP
 *                  error mapping, 429/Retry-After, 5xx and transport retries,
 *                  idempotency, nonces, the rate limiter, timeouts, size caps,
 *                  malformed bodies, HMAC, Wallet Manager and response
 *                  verification.
 * test_client_tls  three HTTPS mocks (valid, expired, wrong_host certificates).
 *
 * Upper time bounds are multiplied by WSIG_TEST_SCALE (valgrind runs). */
#include "mockctl.h"
#include "testlib.h"
#include "walletsign.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static t_mock M;            /* the plain mock of test_client */
static wsig_key *g_p256;    /* registered with the mock as g_kid */
static char g_kid[160];

static const char QUERY_BODY[] = "{\"name\":\"list_client_accounts\",\"payload\":{}}";

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static char *sha256_hex(const void *data, size_t len)
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    return t_hex_str(md, 32);
}

/* Register a public key with the mock; optional key_id and scope. */
static bool register_key(const t_mock *m, const wsig_key *k, const char *key_id,
                         const char *scope, char *kid_out, size_t cap)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *pem = NULL;
    size_t len = 0;
    int rc = wsig_key_public_pem(k, &pem, &len, &err);
    CHECK(rc == WSIG_OK, "public pem: %s", err.message);
    if (rc != WSIG_OK)
        return false;
    char path[512];
    snprintf(path, sizeof path, "/_mock/halogen/register_public?scope=%s%s%s",
             scope ? scope : "all", key_id ? "&key_id=" : "", key_id ? key_id : "");
    char *out = NULL;
    long st = t_mock_http(m, "POST", path, pem, len, &out);
    wsig_free(pem);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    const char *kid = t_str(j, "key_id");
    CHECK(st == 200 && kid, "register_public -> %ld %s", st, out ? out : "");
    bool ok = st == 200 && kid;
    if (ok)
        snprintf(kid_out, cap, "%s", kid);
    cJSON_Delete(j);
    free(out);
    return ok;
}

static void halogen_config(const t_mock *m, const char *json)
{
    cJSON *ans = t_mock_json(m, "POST", "/_mock/halogen/config", json);
    CHECK(ans != NULL, "halogen config %s", json);
    cJSON_Delete(ans);
}

static wsig_auth *jwt_auth(const wsig_key *k, const char *kid, int format)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *a = NULL;
    wsig_jwt_options o = {.signature_format = format};
    int rc = wsig_auth_jwt_new(&a, k, kid, &o, &err);
    CHECK(rc == WSIG_OK && a, "jwt_new: %s", err.message);
    wsig_error_clear(&err);
    return a;
}

static wsig_auth *hmac_auth(const char *api_key, const char *secret, int encoding)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *a = NULL;
    wsig_hmac_options o = {.encoding = encoding};
    int rc = wsig_auth_hmac_new(&a, api_key, secret, strlen(secret), &o, &err);
    CHECK(rc == WSIG_OK && a, "hmac_new: %s", err.message);
    wsig_error_clear(&err);
    return a;
}

static wsig_client *client_at(const char *url, wsig_auth *auth, const wsig_client_options *opt)
{
    if (!auth)
        return NULL;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_client *c = NULL;
    int rc = wsig_client_new(&c, url, auth, opt, &err);
    CHECK(rc == WSIG_OK && c, "client_new(%s): %s", url, err.message);
    wsig_error_clear(&err);
    return c;
}

/* The defaults (3 retries and all) with a short backoff, so retries are quick. */
static wsig_client_options fast_backoff(void)
{
    wsig_client_options o = WSIG_CLIENT_OPTIONS_INIT;
    o.backoff = 0.01;
    return o;
}

static wsig_client *client_for(wsig_auth *auth, const wsig_client_options *opt)
{
    return client_at(M.url, auth, opt);
}

/* The mock's request log, and the entries of it for one path. */
typedef struct {
    cJSON *log, *sel;
} logview;

static logview log_for(const char *path)
{
    logview v = {t_mock_log(&M), NULL};
    CHECK(v.log != NULL, "cannot read the mock log");
    v.sel = t_log_filter(v.log, path);
    return v;
}

static void log_free(logview *v)
{
    cJSON_Delete(v->sel);
    cJSON_Delete(v->log);
    v->sel = v->log = NULL;
}

static int log_count(const char *path)
{
    logview v = log_for(path);
    int n = cJSON_GetArraySize(v.sel);
    log_free(&v);
    return n;
}

static long entry_status(const cJSON *e)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "status");
    return cJSON_IsNumber(s) ? (long)s->valuedouble : -1; /* -1: dropped (null) */
}

/* Every entry's JWT is fresh: distinct 40-hex nonces, uri/sub/kid and a 10 s ttl. */
static void check_fresh_tokens(const cJSON *entries, const char *uri, const char *what)
{
    int n = cJSON_GetArraySize(entries);
    char nonces[64][41];
    int k = 0;
    for (int i = 0; i < n && i < 64; i++) {
        cJSON *claims = t_log_jwt_claims(cJSON_GetArrayItem(entries, i));
        const char *nonce = t_str(claims, "nonce");
        CHECK(nonce && strlen(nonce) == 40 && strspn(nonce, "0123456789abcdef") == 40,
              "%s: attempt %d nonce %s", what, i + 1, nonce ? nonce : "(none)");
        CHECK(t_streq(t_str(claims, "uri"), uri) && t_streq(t_str(claims, "sub"), "wallet"),
              "%s: attempt %d uri/sub", what, i + 1);
        CHECK(t_num(claims, "exp") - t_num(claims, "iat") == 10, "%s: ttl", what);
        if (nonce && strlen(nonce) == 40) {
            for (int j = 0; j < k; j++)
                CHECK(strcmp(nonces[j], nonce) != 0, "%s: attempt %d reuses nonce %s", what,
                      i + 1, nonce);
            memcpy(nonces[k++], nonce, 41);
        }
        cJSON_Delete(claims);
    }
}

/* The shape of every WSIG_ERR_HTTP from a Halogen call. */
static void check_http_error(int rc, const wsig_error *err, const char *result, long status,
                             const char *code, const char *what)
{
    CHECK(rc == WSIG_ERR_HTTP && err->status == WSIG_ERR_HTTP, "%s: rc %s (%s)", what,
          wsig_status_name(rc), err->message);
    CHECK(err->http_status == status, "%s: http_status %ld, want %ld", what, err->http_status,
          status);
    CHECK(strcmp(err->code, code) == 0, "%s: code '%s', want %s", what, err->code, code);
    CHECK(result == NULL, "%s: a result on failure", what);
    CHECK(err->body && err->body_len == strlen(err->body), "%s: body not kept", what);
    cJSON *body = err->body ? cJSON_Parse(err->body) : NULL;
    CHECK(t_streq(t_str(body, "code"), code) && t_num(body, "statusCode") == (double)status,
          "%s: body %s", what, err->body ? err->body : "(null)");
    CHECK(err->message[0] != '\0', "%s: empty message", what);
    if (status != 429)
        CHECK(err->retry_after == -1.0, "%s: retry_after %g without a 429", what,
              err->retry_after);
    cJSON_Delete(body);
}

/* A port on 127.0.0.1 where nothing listens. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = 0;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

/* POST /query through wsig_client_request (res.attempts is visible). */
static int raw_query(wsig_client *c, wsig_response *res, const char *fault, const char *idem,
                     wsig_error *err)
{
    wsig_header_ref h[3];
    size_t n = 0;
    h[n++] = (wsig_header_ref){"Content-Type", "application/json"};
    if (fault)
        h[n++] = (wsig_header_ref){"X-Mock-Fault", fault};
    if (idem)
        h[n++] = (wsig_header_ref){"Idempotency-Key", idem};
    return wsig_client_request(c, res, "POST", "/query", QUERY_BODY, strlen(QUERY_BODY), h, n,
                               err);
}

/* ------------------------------------------------------------------ */
/* A tiny HTTP responder (200 {} and close) for a port that comes back   */

typedef struct {
    int fd;
    volatile int stop;
    int served;
} responder;

static void *responder_run(void *ud)
{
    responder *r = ud;
    while (!r->stop) {
        struct pollfd p = {r->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int s = accept(r->fd, NULL, NULL);
        if (s < 0)
            continue;
        char buf[8192];
        size_t n = 0;
        while (n + 1 < sizeof buf) {
            ssize_t got = recv(s, buf + n, sizeof buf - 1 - n, 0);
            if (got <= 0)
                break;
            n += (size_t)got;
            buf[n] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
        if (send(s, answer, sizeof answer - 1, MSG_NOSIGNAL) > 0)
            r->served++;
        close(s);
    }
    return NULL;
}

static bool responder_start(responder *r, pthread_t *t, int port)
{
    memset(r, 0, sizeof *r);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (r->fd < 0 || setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(r->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(r->fd, 16) != 0 ||
        pthread_create(t, NULL, responder_run, r) != 0) {
        if (r->fd >= 0)
            close(r->fd);
        return false;
    }
    return true;
}

static void responder_stop(responder *r, pthread_t t)
{
    r->stop = 1;
    pthread_join(t, NULL);
    close(r->fd);
}

/* ------------------------------------------------------------------ */
/* Halogen: happy paths                                               */

static void halogen_query_and_command(void)
{
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    wsig_client *c = client_for(auth, NULL);
    if (!c)
        goto out;
    wsig_error err = WSIG_ERROR_INIT;
    char *json = NULL;
    t_mock_clean(&M);

    int rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_OK && json, "list_client_accounts: %s", err.message);
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "accounts")) == 3 &&
              t_streq(t_str(j, "asset"), "MYR"),
          "accounts answer %s", json ? json : "(null)");
    cJSON_Delete(j);
    wsig_free(json);

    rc = wsig_client_query(c, &json, "get_fund", "{\"fundId\":\"fund_abc\"}", &err);
    CHECK(rc == WSIG_OK && json, "get_fund: %s", err.message);
    j = json ? cJSON_Parse(json) : NULL;
    const cJSON *fund = cJSON_GetObjectItem(j, "fund");
    CHECK(t_streq(t_str(fund, "id"), "fund_abc") && t_streq(t_str(fund, "code"), "HSMMF"),
          "get_fund answer %s", json ? json : "(null)");
    cJSON_Delete(j);
    wsig_free(json);

    rc = wsig_client_command(c, &json, "create_investment_request",
                             "{\"accountId\":\"account_123\",\"fundId\":\"fund_abc\",\"amount\":1000}",
                             NULL, &err);
    CHECK(rc == WSIG_OK && json, "create_investment_request: %s", err.message);
    j = json ? cJSON_Parse(json) : NULL;
    const char *req = t_str(j, "requestId");
    CHECK(req && strncmp(req, "req_", 4) == 0, "command answer %s", json ? json : "(null)");
    cJSON_Delete(j);
    wsig_free(json);

    /* What the mock saw: the exact body hashed into the token, ES256 DER, headers. */
    logview v = log_for("/query");
    CHECK(cJSON_GetArraySize(v.sel) == 2, "2 queries logged, got %d", cJSON_GetArraySize(v.sel));
    const cJSON *e = cJSON_GetArrayItem(v.sel, 0);
    char want[256];
    snprintf(want, sizeof want, "jwt:ES256:der:%s", g_kid);
    CHECK(t_streq(t_str(e, "verified_by"), want), "verified_by %s", t_str(e, "verified_by"));
    CHECK(entry_status(e) == 200, "status %ld", entry_status(e));
    CHECK(t_streq(t_str(e, "method"), "POST"), "method");
    char *sha = sha256_hex(QUERY_BODY, strlen(QUERY_BODY));
    CHECK(t_streq(t_str(e, "body_sha256"), sha), "the body sent is {name, payload:{}}");
    cJSON *claims = t_log_jwt_claims(e);
    CHECK(t_streq(t_str(claims, "bodyHash"), sha) && t_streq(t_str(claims, "kid"), g_kid),
          "bodyHash/kid claims");
    cJSON_Delete(claims);
    free(sha);
    CHECK(t_streq(t_log_header(e, "User-Agent"), "walletsign/0.1.0 (c)"), "User-Agent %s",
          t_log_header(e, "User-Agent"));
    CHECK(t_streq(t_log_header(e, "Content-Type"), "application/json"), "Content-Type %s",
          t_log_header(e, "Content-Type"));
    CHECK(t_streq(t_log_header(e, "Accept"), "application/json"), "Accept");
    CHECK(t_log_header(e, "Idempotency-Key") == NULL, "no Idempotency-Key on a query");
    check_fresh_tokens(v.sel, "/query", "queries");
    log_free(&v);
    v = log_for("/command");
    e = cJSON_GetArrayItem(v.sel, 0);
    CHECK(cJSON_GetArraySize(v.sel) == 1 && t_streq(t_str(e, "verified_by"), want) &&
              entry_status(e) == 200,
          "command logged");
    check_fresh_tokens(v.sel, "/command", "command");
    log_free(&v);
    wsig_error_clear(&err);
out:
    wsig_client_free(c);
    wsig_auth_free(auth);
}

static void one_query(wsig_auth *auth, int want_rc, const char *want_code, const char *want_form,
                      const char *kid, const char *what)
{
    wsig_client *c = client_for(auth, NULL);
    if (!c)
        return;
    wsig_error err = WSIG_ERROR_INIT;
    char *json = NULL;
    t_mock_clean(&M);
    int rc = wsig_client_query(c, &json, "get_client_profile", NULL, &err);
    CHECK(rc == want_rc, "%s: rc %s (%s)", what, wsig_status_name(rc), err.message);
    if (want_code)
        check_http_error(rc, &err, json, 401, want_code, what);
    else {
        cJSON *j = json ? cJSON_Parse(json) : NULL;
        CHECK(t_streq(t_str(j, "name"), "Test Client"), "%s: answer %s", what,
              json ? json : "(null)");
        cJSON_Delete(j);
        logview v = log_for("/query");
        char want[256];
        snprintf(want, sizeof want, "jwt:%s:%s", want_form, kid);
        const char *got = t_str(cJSON_GetArrayItem(v.sel, 0), "verified_by");
        CHECK(t_streq(got, want), "%s: verified_by %s, want %s", what, got ? got : "(null)", want);
        log_free(&v);
    }
    wsig_free(json);
    wsig_error_clear(&err);
    wsig_client_free(c);
}

static void halogen_formats(void)
{
    wsig_auth *der = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    wsig_auth *raw = jwt_auth(g_p256, g_kid, WSIG_JWT_RAW);
    if (der && raw) {
        one_query(der, WSIG_OK, NULL, "ES256:der", g_kid, "DER, server any");
        one_query(raw, WSIG_OK, NULL, "ES256:raw", g_kid, "raw, server any");
        halogen_config(&M, "{\"es256_format\":\"raw\"}");
        one_query(raw, WSIG_OK, NULL, "ES256:raw", g_kid, "raw, server raw");
        one_query(der, WSIG_ERR_HTTP, "ErrInvalidAuthSignature", NULL, NULL, "DER, server raw");
        halogen_config(&M, "{\"es256_format\":\"der\"}");
        one_query(der, WSIG_OK, NULL, "ES256:der", g_kid, "DER, server der");
        one_query(raw, WSIG_ERR_HTTP, "ErrInvalidAuthSignature", NULL, NULL, "raw, server der");
        halogen_config(&M, "{\"es256_format\":\"any\"}");
    }
    wsig_auth_free(der);
    wsig_auth_free(raw);

    /* RS256 with the 2048-bit vector key (accepted with a warning; 4096 is Halogen's). */
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *rsa = NULL;
    int rc = wsig_key_load_file(&rsa, t_key_path("rsa2048_pkcs1.pem"), NULL, &err);
    CHECK(rc == WSIG_OK, "load rsa2048: %s", err.message);
    char kid[160];
    if (rc == WSIG_OK && register_key(&M, rsa, NULL, NULL, kid, sizeof kid)) {
        wsig_auth *a = NULL;
        rc = wsig_auth_jwt_new(&a, rsa, kid, NULL, &err);
        CHECK(rc == WSIG_OK && err.warning[0], "RS256 auth: rc %d warning '%s'", rc, err.warning);
        if (rc == WSIG_OK) {
            one_query(a, WSIG_OK, NULL, "RS256:pkcs1", kid, "RS256");
            wsig_client *c = client_for(a, NULL);
            char *json = NULL;
            rc = c ? wsig_client_command(c, &json, "update_display_currency",
                                         "{\"displayCurrency\":\"USD\"}", NULL, &err)
                   : -1;
            CHECK(rc == WSIG_OK && t_streq(json, "{}"), "RS256 command: %s %s", err.message,
                  json ? json : "(null)");
            wsig_free(json);
            wsig_client_free(c);
        }
        wsig_auth_free(a);
    }
    wsig_key_free(rsa);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* Halogen: HTTP errors                                               */

static void halogen_http_errors(void)
{
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    wsig_client *c = client_for(auth, NULL);
    wsig_error err = WSIG_ERROR_INIT;
    char *json = NULL;
    if (!c)
        goto out;
    t_mock_clean(&M);

    int rc = wsig_client_query(c, &json, "list_client_account_balance", NULL, &err);
    check_http_error(rc, &err, json, 400, "ErrMissingParameter", "missing accountId");
    CHECK(strstr(err.message, "accountId is required.") != NULL, "message: %s", err.message);

    rc = wsig_client_query(c, &json, "list_client_account_balance",
                           "{\"accountId\":\"account_999\"}", &err);
    check_http_error(rc, &err, json, 404, "ErrMissingResource", "unknown account");

    rc = wsig_client_query(c, &json, "no_such_query", NULL, &err);
    check_http_error(rc, &err, json, 400, "ErrInvalidParameter", "unknown query");

    rc = wsig_client_command(c, &json, "create_investment_request",
                             "{\"accountId\":\"account_456\",\"amount\":10}", NULL, &err);
    check_http_error(rc, &err, json, 412, "ErrActionNotAllowedForAccountType", "joint account");

    rc = wsig_client_command(c, &json, "create_investment_request",
                             "{\"accountId\":\"account_123\",\"amount\":1e9}", NULL, &err);
    check_http_error(rc, &err, json, 400, "ErrInsufficientBalance", "too much");

    rc = wsig_client_command(c, &json, "create_request_cancellation",
                             "{\"accountId\":\"account_123\",\"requestId\":\"req_cancelled\"}", NULL,
                             &err);
    check_http_error(rc, &err, json, 410, "ErrCancelledRequest", "cancelled");

    /* A second call with the same record: the old body is released, not leaked. */
    rc = wsig_client_query(c, &json, "get_client_referral", NULL, &err);
    CHECK(rc == WSIG_OK && err.body == NULL && err.http_status == 0 && err.code[0] == '\0',
          "err reset on success: rc %d body %p", rc, (void *)err.body);
    wsig_free(json);
    json = NULL;

    /* No error record at all: still mapped, nothing leaks. */
    rc = wsig_client_query(c, &json, "list_client_account_balance", NULL, NULL);
    CHECK(rc == WSIG_ERR_HTTP && json == NULL, "NULL err: rc %d", rc);

    /* Every error was one request: 4xx is never retried. */
    CHECK(log_count("/query") == 5 && log_count("/command") == 3, "4xx retried: %d queries, %d commands",
          log_count("/query"), log_count("/command"));

    /* 401 with the wrong key for the key id, and with an unknown key id. */
    wsig_error kerr = WSIG_ERROR_INIT;
    wsig_key *other = NULL;
    rc = wsig_key_generate(&other, WSIG_KEY_P256, 0, &kerr);
    CHECK(rc == WSIG_OK, "generate: %s", kerr.message);
    if (rc == WSIG_OK) {
        wsig_auth *wrong = jwt_auth(other, g_kid, WSIG_JWT_DER);
        wsig_auth *unknown = jwt_auth(other, "no-such-key-id", WSIG_JWT_DER);
        one_query(wrong, WSIG_ERR_HTTP, "ErrInvalidAuthSignature", NULL, NULL, "wrong key");
        one_query(unknown, WSIG_ERR_HTTP, "ErrInvalidAuthToken", NULL, NULL, "unknown kid");
        wsig_auth_free(wrong);
        wsig_auth_free(unknown);
    }
    wsig_key_free(other);
    wsig_error_clear(&kerr);

    /* 403: a read-only key may query but not command. */
    char ro[160];
    if (register_key(&M, g_p256, "c-readonly", "query", ro, sizeof ro)) {
        wsig_auth *a = jwt_auth(g_p256, ro, WSIG_JWT_DER);
        wsig_client *rc_client = client_for(a, NULL);
        if (rc_client) {
            rc = wsig_client_query(rc_client, &json, "get_client_referral", NULL, &err);
            CHECK(rc == WSIG_OK, "read-only query: %s", err.message);
            wsig_free(json);
            json = NULL;
            rc = wsig_client_command(rc_client, &json, "update_display_currency",
                                     "{\"displayCurrency\":\"USD\"}", NULL, &err);
            check_http_error(rc, &err, json, 403, "ErrInsufficientAccess", "read-only command");
        }
        wsig_client_free(rc_client);
        wsig_auth_free(a);
    }

    /* wsig_client_request returns any HTTP status as WSIG_OK with the body. */
    wsig_response res;
    static const char bad[] = "{\"name\":\"list_client_account_balance\",\"payload\":{}}";
    rc = wsig_client_request(c, &res, "POST", "/query", bad, strlen(bad), NULL, 0, &err);
    CHECK(rc == WSIG_OK && res.status == 400 && res.attempts == 1 &&
              strstr(res.body, "ErrMissingParameter") && res.body_len == strlen(res.body),
          "request 400: rc %d status %ld", rc, res.status);
    size_t hl = 0;
    const char *ct = wsig_response_header(&res, "content-type", &hl);
    CHECK(ct && hl == 16 && strncmp(ct, "application/json", 16) == 0, "response header lookup");
    CHECK(wsig_response_header(&res, "X-Not-There", &hl) == NULL && hl == 0, "absent header");
    wsig_response_clear(&res);
    CHECK(res.body == NULL && res.headers == NULL, "response_clear zeroes");
out:
    wsig_error_clear(&err);
    wsig_client_free(c);
    wsig_auth_free(auth);
}

/* ------------------------------------------------------------------ */
/* 429 and Retry-After                                                */

static void rate_limited_answers(void)
{
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    wsig_client_options o = fast_backoff();
    wsig_client *c = client_for(auth, &o);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    char *json = NULL;
    if (!c)
        goto out;

    /* Retry-After: 1 (delta-seconds), then success. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:429:retry_after=1", 1);
    double t0 = now_s();
    int rc = raw_query(c, &res, NULL, NULL, &err);
    double dt = now_s() - t0;
    CHECK(rc == WSIG_OK && res.status == 200 && res.attempts == 2,
          "429 then 200: rc %s status %ld attempts %d (%s)", wsig_status_name(rc), res.status,
          res.attempts, err.message);
    CHECK(dt >= 0.95 && dt < 3 * slack(), "Retry-After 1 honoured: %.3f s", dt);
    wsig_response_clear(&res);
    logview v = log_for("/query");
    CHECK(cJSON_GetArraySize(v.sel) == 2 && entry_status(cJSON_GetArrayItem(v.sel, 0)) == 429 &&
              entry_status(cJSON_GetArrayItem(v.sel, 1)) == 200,
          "log: 429 then 200");
    if (cJSON_GetArraySize(v.sel) == 2) {
        double gap = t_num(cJSON_GetArrayItem(v.sel, 1), "t_ms") -
                     t_num(cJSON_GetArrayItem(v.sel, 0), "t_ms");
        CHECK(gap >= 950, "the mock saw the retry %.0f ms later", gap);
    }
    check_fresh_tokens(v.sel, "/query", "429 retry");
    log_free(&v);

    /* Retry-After as an HTTP-date two seconds ahead (whole seconds: waits 1-2 s). */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:429:retry_after_date=2", 1);
    t0 = now_s();
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    dt = now_s() - t0;
    CHECK(rc == WSIG_OK && json, "429 (HTTP-date) then 200: %s", err.message);
    CHECK(dt >= 0.95 && dt < 3.5 * slack(), "Retry-After HTTP-date honoured: %.3f s", dt);
    CHECK(log_count("/query") == 2, "HTTP-date: %d attempts", log_count("/query"));
    wsig_free(json);
    json = NULL;

    /* A 429 storm: at most max_429_attempts (default 5), then the 429 itself. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:429:retry_after=0", 12);
    t0 = now_s();
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    dt = now_s() - t0;
    check_http_error(rc, &err, json, 429, "ErrRateLimitExceeded", "429 storm");
    CHECK(err.retry_after == 0.0, "storm retry_after %g", err.retry_after);
    CHECK(log_count("/query") == 5, "storm: %d attempts, want 5", log_count("/query"));
    CHECK(dt < 2 * slack(), "storm took %.3f s", dt);

    /* max_429_attempts = 2 with Retry-After 1: two attempts, then the 429. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:429:retry_after=1", 6);
    wsig_client_options o2 = fast_backoff();
    o2.max_429_attempts = 2;
    wsig_client *c2 = client_for(auth, &o2);
    if (c2) {
        t0 = now_s();
        rc = raw_query(c2, &res, NULL, NULL, &err);
        dt = now_s() - t0;
        size_t len = 0;
        const char *ra = wsig_response_header(&res, "Retry-After", &len);
        CHECK(rc == WSIG_OK && res.status == 429 && res.attempts == 2 && ra && len == 1 &&
                  *ra == '1',
              "max_429_attempts 2: status %ld attempts %d", res.status, res.attempts);
        CHECK(dt >= 0.95 && dt < 3 * slack(), "one Retry-After wait: %.3f s", dt);
        wsig_response_clear(&res);
    }
    wsig_client_free(c2);
    /* max_429_attempts = 1: no retry; retry_after is reported. */
    wsig_client_options o1 = fast_backoff();
    o1.max_429_attempts = 1;
    c2 = client_for(auth, &o1);
    if (c2) {
        t_mock_clean(&M);
        t_mock_queue(&M, "/query", "status:429:retry_after=1", 1);
        t0 = now_s();
        rc = wsig_client_query(c2, &json, "list_client_accounts", NULL, &err);
        dt = now_s() - t0;
        check_http_error(rc, &err, json, 429, "ErrRateLimitExceeded", "max_429_attempts 1");
        CHECK(err.retry_after == 1.0 && dt < 0.9 * slack(), "retry_after %g after %.3f s",
              err.retry_after, dt);
        CHECK(log_count("/query") == 1, "max_429_attempts 1: %d attempts", log_count("/query"));
    }
    wsig_client_free(c2);

    /* Retry-After beyond max_retry_after (30 s): not waited for, reported at once. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:429:retry_after=120", 1);
    t0 = now_s();
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    dt = now_s() - t0;
    check_http_error(rc, &err, json, 429, "ErrRateLimitExceeded", "Retry-After 120");
    CHECK(err.retry_after == 120.0 && dt < 0.9 * slack(), "retry_after %g after %.3f s",
          err.retry_after, dt);
    CHECK(log_count("/query") == 1, "Retry-After 120: %d attempts", log_count("/query"));

    /* A 429 without Retry-After: retried after the (small) backoff. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:429", 1);
    t0 = now_s();
    rc = raw_query(c, &res, NULL, NULL, &err);
    dt = now_s() - t0;
    CHECK(rc == WSIG_OK && res.status == 200 && res.attempts == 2 && dt < 0.9 * slack(),
          "429 without Retry-After: status %ld attempts %d in %.3f s", res.status, res.attempts,
          dt);
    wsig_response_clear(&res);

    /* A 429 on /command (no idempotency key) is retried too: it was refused, not run. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/command", "status:429:retry_after=0", 1);
    rc = wsig_client_command(c, &json, "update_display_currency", "{\"displayCurrency\":\"MYR\"}",
                             NULL, &err);
    CHECK(rc == WSIG_OK && log_count("/command") == 2, "429 on /command: rc %d, %d attempts", rc,
          log_count("/command"));
    wsig_free(json);
    json = NULL;
    t_mock_clean(&M);
out:
    wsig_error_clear(&err);
    wsig_client_free(c);
    wsig_auth_free(auth);
}

/* ------------------------------------------------------------------ */
/* 5xx retries, idempotency                                           */

static void server_errors(void)
{
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    wsig_client_options o = fast_backoff();
    wsig_client *c = client_for(auth, &o);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    char *json = NULL;
    if (!c)
        goto out;

    /* 503 then success on /query: retried, a fresh token each time. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:503", 1);
    int rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_OK && json, "503 then 200 on /query: %s", err.message);
    wsig_free(json);
    json = NULL;
    logview v = log_for("/query");
    CHECK(cJSON_GetArraySize(v.sel) == 2 && entry_status(cJSON_GetArrayItem(v.sel, 0)) == 503 &&
              entry_status(cJSON_GetArrayItem(v.sel, 1)) == 200,
          "503 retried: %d attempts", cJSON_GetArraySize(v.sel));
    check_fresh_tokens(v.sel, "/query", "503 retry");
    log_free(&v);

    /* Idempotency-Key on POST /query through wsig_client_request: attempts visible. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:503", 1);
    rc = raw_query(c, &res, NULL, "idem-query-1", &err);
    CHECK(rc == WSIG_OK && res.status == 200 && res.attempts == 2,
          "request with Idempotency-Key, 503 then 200: status %ld attempts %d", res.status,
          res.attempts);
    wsig_response_clear(&res);
    /* A bare POST through wsig_client_request is not retried (documented). */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:503", 1);
    rc = raw_query(c, &res, NULL, NULL, &err);
    CHECK(rc == WSIG_OK && res.status == 503 && res.attempts == 1,
          "bare POST request 503: status %ld attempts %d", res.status, res.attempts);
    wsig_response_clear(&res);

    /* 500 on /command without an idempotency key: never retried. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/command", "status:500", 1);
    rc = wsig_client_command(c, &json, "update_display_currency", "{\"displayCurrency\":\"USD\"}",
                             NULL, &err);
    check_http_error(rc, &err, json, 500, "ErrInternal", "500 on /command");
    CHECK(log_count("/command") == 1, "/command 500 sent %d times", log_count("/command"));

    /* ... with one: retried, the same key both times, a fresh token each time. */
    char key[64];
    snprintf(key, sizeof key, "c-idem-%ld-%d", (long)time(NULL), (int)getpid());
    t_mock_clean(&M);
    t_mock_queue(&M, "/command", "status:500", 1);
    rc = wsig_client_command(c, &json, "create_investment_request",
                             "{\"accountId\":\"account_123\",\"amount\":50}", key, &err);
    CHECK(rc == WSIG_OK && json && strstr(json, "\"requestId\""), "500 then 200 with a key: %s",
          err.message);
    wsig_free(json);
    json = NULL;
    v = log_for("/command");
    CHECK(cJSON_GetArraySize(v.sel) == 2, "idempotent command: %d attempts",
          cJSON_GetArraySize(v.sel));
    for (int i = 0; i < cJSON_GetArraySize(v.sel); i++)
        CHECK(t_streq(t_log_header(cJSON_GetArrayItem(v.sel, i), "Idempotency-Key"), key),
              "attempt %d Idempotency-Key %s", i + 1,
              t_log_header(cJSON_GetArrayItem(v.sel, i), "Idempotency-Key"));
    if (cJSON_GetArraySize(v.sel) == 2)
        CHECK(t_streq(t_str(cJSON_GetArrayItem(v.sel, 0), "body_sha256"),
                      t_str(cJSON_GetArrayItem(v.sel, 1), "body_sha256")),
              "the same body both times");
    check_fresh_tokens(v.sel, "/command", "idempotent retry");
    log_free(&v);

    /* The same through wsig_client_request: the retry is answered as a replay. */
    static const char cmd[] =
        "{\"name\":\"create_investment_request\",\"payload\":{\"accountId\":\"account_123\",\"amount\":7}}";
    char key2[80];
    snprintf(key2, sizeof key2, "%s-raw", key);
    wsig_header_ref h[2] = {{"Content-Type", "application/json"}, {"Idempotency-Key", key2}};
    t_mock_clean(&M);
    t_mock_queue(&M, "/command", "status:502", 1);
    rc = wsig_client_request(c, &res, "POST", "/command", cmd, strlen(cmd), h, 2, &err);
    size_t len = 0;
    const char *replayed = rc == WSIG_OK ? wsig_response_header(&res, "Idempotent-Replayed", &len)
                                         : NULL;
    CHECK(rc == WSIG_OK && res.status == 200 && res.attempts == 2 && replayed && len == 4 &&
              strncmp(replayed, "true", 4) == 0,
          "request with Idempotency-Key: status %ld attempts %d replayed %s", res.status,
          res.attempts, replayed ? "yes" : "no");
    wsig_response_clear(&res);

    /* A storm of 10,000 consecutive 503s: 1 + max_retries attempts, bounded time. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:503", 10000);
    double t0 = now_s();
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    double dt = now_s() - t0;
    check_http_error(rc, &err, json, 503, "ErrServiceUnavailable", "503 storm");
    CHECK(log_count("/query") == 4, "503 storm: %d attempts, want 1 + 3", log_count("/query"));
    CHECK(dt < 1.5 * slack(), "503 storm took %.3f s", dt);
    t0 = now_s();
    rc = raw_query(c, &res, NULL, "idem-storm", &err);
    dt = now_s() - t0;
    CHECK(rc == WSIG_OK && res.status == 503 && res.attempts == 4,
          "503 storm (request): status %ld attempts %d", res.status, res.attempts);
    CHECK(dt < 1.5 * slack(), "503 storm (request) took %.3f s", dt);
    wsig_response_clear(&res);
    wsig_client_options o5 = fast_backoff();
    o5.max_retries = 5;
    wsig_client_options on = {.backoff = 0.01, .max_retries = 0};
    wsig_client *c5 = client_for(auth, &o5), *cn = client_for(auth, &on);
    if (c5 && cn) {
        rc = raw_query(c5, &res, NULL, "idem-storm-5", &err);
        CHECK(rc == WSIG_OK && res.status == 503 && res.attempts == 6,
              "max_retries 5: attempts %d", res.attempts);
        wsig_response_clear(&res);
        rc = raw_query(cn, &res, NULL, "idem-storm-none", &err);
        CHECK(rc == WSIG_OK && res.status == 503 && res.attempts == 1,
              "max_retries 0: attempts %d", res.attempts);
        wsig_response_clear(&res);
    }
    wsig_client_free(c5);
    wsig_client_free(cn);
    t_mock_clean(&M);
out:
    wsig_error_clear(&err);
    wsig_client_free(c);
    wsig_auth_free(auth);
}

/* ------------------------------------------------------------------ */
/* The client's token bucket against the mock's (10/s, burst 10)      */

static int count_status(const cJSON *entries, long status)
{
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, entries) n += entry_status(e) == status;
    return n;
}

static void rate_limiter(void)
{
    char on_kid[160], off_kid[160];
    if (!register_key(&M, g_p256, "c-limiter-on", NULL, on_kid, sizeof on_kid) ||
        !register_key(&M, g_p256, "c-limiter-off", NULL, off_kid, sizeof off_kid))
        return;
    halogen_config(&M, "{\"rate\":10,\"burst\":10}");
    wsig_error err = WSIG_ERROR_INIT;

    /* Limiter on (defaults 10/s, burst 10): 25 queries, no 429, >= 1.5 s. */
    wsig_auth *a = jwt_auth(g_p256, on_kid, WSIG_JWT_DER);
    wsig_client *c = client_for(a, NULL);
    t_mock_clean(&M);
    int ok = 0;
    double t0 = now_s();
    for (int i = 0; c && i < 25; i++) {
        char *json = NULL;
        ok += wsig_client_query(c, &json, "list_display_currencies", NULL, &err) == WSIG_OK;
        wsig_free(json);
    }
    double dt = now_s() - t0;
    logview v = log_for("/query");
    CHECK(ok == 25, "limiter on: %d/25 succeeded (%s)", ok, err.message);
    char where[256] = "";
    for (int i = 0, at = 0; i < cJSON_GetArraySize(v.sel) && at < 200; i++)
        if (entry_status(cJSON_GetArrayItem(v.sel, i)) == 429)
            at += snprintf(where + at, sizeof where - (size_t)at, " #%d(+%.0f ms)", i + 1,
                           t_num(cJSON_GetArrayItem(v.sel, i), "t_ms") -
                               t_num(cJSON_GetArrayItem(v.sel, 0), "t_ms"));
    CHECK(count_status(v.sel, 429) == 0 && cJSON_GetArraySize(v.sel) == 25,
          "limiter on: the mock answered %d x 429 in %d requests:%s", count_status(v.sel, 429),
          cJSON_GetArraySize(v.sel), where);
    CHECK(dt >= 1.4 && dt < 4 * slack(), "limiter on: 25 queries in %.3f s", dt);
    log_free(&v);
    wsig_client_free(c);
    wsig_auth_free(a);

    /* Limiter off: the mock answers 429 (Retry-After 1), the client waits and retries. */
    wsig_client_options o = {.rate = -1};
    a = jwt_auth(g_p256, off_kid, WSIG_JWT_DER);
    c = client_for(a, &o);
    t_mock_clean(&M);
    ok = 0;
    t0 = now_s();
    for (int i = 0; c && i < 25; i++) {
        char *json = NULL;
        ok += wsig_client_query(c, &json, "list_display_currencies", NULL, &err) == WSIG_OK;
        wsig_free(json);
    }
    dt = now_s() - t0;
    v = log_for("/query");
    int n429 = count_status(v.sel, 429);
    CHECK(ok == 25, "limiter off: %d/25 succeeded (%s)", ok, err.message);
    CHECK(n429 >= 1 && count_status(v.sel, 200) == 25, "limiter off: %d x 429, %d x 200", n429,
          count_status(v.sel, 200));
    CHECK(dt >= 0.95 && dt < 8 * slack(), "limiter off: %.3f s", dt);
    log_free(&v);
    wsig_client_free(c);
    wsig_auth_free(a);

    halogen_config(&M, "{\"rate\":0}");
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* Timeouts and transport failures                                    */

static void timeouts(void)
{
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    wsig_client_options o = {.timeout = 0.5, .backoff = 0.01, .max_retries = 1};
    wsig_client *c = client_for(auth, &o);
    wsig_error err = WSIG_ERROR_INIT;
    char *json = NULL;
    if (!c)
        goto out;

    t_mock_clean(&M);
    t_mock_queue(&M, "/command", "delay:3000", 1);
    double t0 = now_s();
    int rc = wsig_client_command(c, &json, "update_display_currency",
                                 "{\"displayCurrency\":\"USD\"}", NULL, &err);
    double dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_TIMEOUT && err.status == WSIG_ERR_TIMEOUT && err.curl_code == 28 &&
              json == NULL,
          "delay 3 s, timeout 0.5 s: rc %s curl %d (%s)", wsig_status_name(rc), err.curl_code,
          err.message);
    CHECK(dt >= 0.45 && dt < 1.5 * slack(), "timed out after %.3f s", dt);
    CHECK(log_count("/command") == 1, "/command timed out, sent %d times", log_count("/command"));

    /* On /query an attempt that times out is retried (max_retries 1 here),
     * within the call's timeout: attempt_timeout bounds each attempt. */
    wsig_client_options oa = o;
    oa.timeout = 5;
    oa.attempt_timeout = 0.5;
    wsig_client *ca = client_for(auth, &oa);
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "delay:3000", 2);
    t0 = now_s();
    rc = ca ? wsig_client_query(ca, &json, "list_client_accounts", NULL, &err) : -1;
    dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_TIMEOUT && err.curl_code == 28, "query timeout: rc %s curl %d",
          wsig_status_name(rc), err.curl_code);
    CHECK(log_count("/query") == 2 && dt >= 0.95 && dt < 2.5 * slack(),
          "query timeout: %d attempts in %.3f s", log_count("/query"), dt);
    /* One slow answer, then a fast one: the retry succeeds. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "delay:3000", 1);
    rc = ca ? wsig_client_query(ca, &json, "list_client_accounts", NULL, &err) : -1;
    CHECK(rc == WSIG_OK && json, "timeout then success: %s", err.message);
    wsig_client_free(ca);
    wsig_free(json);
    json = NULL;
    /* drip: the answer one byte at a time. Slow but complete within the timeout... */
    wsig_client_options od = fast_backoff();
    od.timeout = 5;
    wsig_client *cd = client_for(auth, &od);
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "drip:1", 1);
    rc = cd ? wsig_client_query(cd, &json, "list_display_currencies", NULL, &err) : -1;
    CHECK(rc == WSIG_OK && json && strstr(json, "MYR") && log_count("/query") == 1,
          "drip 1 ms: rc %s (%s)", wsig_status_name(rc), err.message);
    wsig_free(json);
    json = NULL;
    wsig_client_free(cd);
    /* ... and past it when the whole answer cannot arrive in time (no retry on /command). */
    t_mock_queue(&M, "/command", "drip:100", 1);
    t0 = now_s();
    rc = wsig_client_command(c, &json, "update_display_currency", "{\"displayCurrency\":\"USD\"}",
                             NULL, &err);
    dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_TIMEOUT && err.curl_code == 28 && json == NULL && dt < 1.5 * slack(),
          "drip 100 ms, timeout 0.5 s: rc %s curl %d after %.3f s", wsig_status_name(rc),
          err.curl_code, dt);
    CHECK(log_count("/command") == 1, "drip on /command sent %d times", log_count("/command"));
    /* A short delay within the timeout is just slow. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "delay:200", 1);
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_OK && log_count("/query") == 1, "delay 200 ms: %s", err.message);
    wsig_free(json);
    json = NULL;
    t_mock_clean(&M);
out:
    wsig_error_clear(&err);
    wsig_client_free(c);
    wsig_auth_free(auth);
}

/* timeout bounds the whole call: retries, Retry-After and limiter waits
 * included. A wait that would pass the deadline is not begun. */
static void deadlines(void)
{
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    wsig_client_options o = WSIG_CLIENT_OPTIONS_INIT;
    o.timeout = 1;
    o.backoff = 0.05;
    o.max_retry_after = 0.2; /* each wait short, ten of them longer than the call's second */
    o.max_retries = 10;
    wsig_client *c = client_for(auth, &o);
    wsig_error err = WSIG_ERROR_INIT;
    char *json = NULL;
    if (!c)
        goto out;
    /* 503s with backoff: a timeout at about 1 s, never later, with the last status. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:503", 30);
    double t0 = now_s();
    int rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    double dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_TIMEOUT && err.curl_code == 28 && err.http_status == 503 && !json,
          "503s under timeout 1 s: rc %s http %ld (%s)", wsig_status_name(rc), err.http_status,
          err.message);
    CHECK(dt >= 0.4 && dt <= 1.0 + 0.1 * slack(), "503s under timeout 1 s: ended after %.3f s",
          dt);
    CHECK(log_count("/query") >= 3, "503s: %d attempts in the second", log_count("/query"));
    /* A Retry-After longer than the time left: a timeout at once, with the 429's fields. */
    wsig_client_options o2 = o;
    o2.timeout = 0.5;
    o2.max_retry_after = 5;
    wsig_client *c2 = client_for(auth, &o2);
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:429:retry_after=1", 1);
    t0 = now_s();
    rc = c2 ? wsig_client_query(c2, &json, "list_client_accounts", NULL, &err) : -1;
    dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_TIMEOUT && err.http_status == 429 && err.retry_after == 1 &&
              strstr(err.message, "Retry-After") && dt < 0.4 * slack(),
          "429 Retry-After 1 s under timeout 0.5 s: rc %s http %ld after %.3f s (%s)",
          wsig_status_name(rc), err.http_status, dt, err.message);
    wsig_free(json);
    json = NULL;
    wsig_client_free(c2);
    /* The rate limiter's wait counts too: 1 per second, the second call cannot fit. */
    wsig_client_options o3 = WSIG_CLIENT_OPTIONS_INIT;
    o3.timeout = 0.3;
    o3.rate = 1;
    o3.burst = 1;
    wsig_client *c3 = client_for(auth, &o3);
    t_mock_clean(&M);
    rc = c3 ? wsig_client_query(c3, &json, "list_client_accounts", NULL, &err) : -1;
    CHECK(rc == WSIG_OK, "limiter, first call: %s", err.message);
    wsig_free(json);
    json = NULL;
    t0 = now_s();
    rc = c3 ? wsig_client_query(c3, &json, "list_client_accounts", NULL, &err) : -1;
    dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_TIMEOUT && strstr(err.message, "rate limiter") && dt < 0.2 * slack() &&
              log_count("/query") == 1,
          "limiter wait past the deadline: rc %s after %.3f s, %d sent (%s)",
          wsig_status_name(rc), dt, log_count("/query"), err.message);
    wsig_free(json);
    json = NULL;
    wsig_client_free(c3);
    /* attempt_timeout out of range is refused like every option. */
    wsig_client_options bad = WSIG_CLIENT_OPTIONS_INIT;
    bad.attempt_timeout = -1;
    wsig_client *none = NULL;
    rc = wsig_client_new(&none, M.url, auth, &bad, &err);
    CHECK(rc == WSIG_ERR_ARG && !none && strncmp(err.message, "attempt_timeout", 15) == 0,
          "attempt_timeout -1: %s (%s)", wsig_status_name(rc), err.message);
    t_mock_clean(&M);
out:
    wsig_error_clear(&err);
    wsig_client_free(c);
    wsig_auth_free(auth);
}

/* An abort_check that says stop at its n-th call (abort_at) or once
 * abort_after seconds have passed since start, and records how it was asked. */
typedef struct {
    int calls, abort_at;
    double start, abort_after, last, max_gap;
} abort_state;

static abort_state abort_when(int at_call, double after_s)
{
    return (abort_state){.abort_at = at_call, .start = now_s(), .abort_after = after_s};
}

static int abort_at_call(void *ud)
{
    abort_state *a = ud;
    double t = now_s();
    if (a->calls++ > 0 && t - a->last > a->max_gap)
        a->max_gap = t - a->last;
    a->last = t;
    return (a->abort_at > 0 && a->calls >= a->abort_at) ||
           (a->abort_after > 0 && t - a->start >= a->abort_after);
}

static wsig_client *aborting_client(wsig_auth *auth, abort_state *a)
{
    wsig_client_options o = fast_backoff();
    o.abort_check = abort_at_call;
    o.abort_ud = a;
    return client_for(auth, &o);
}

/* abort_check: asked at least every 50 ms while a call transfers or waits;
 * non-zero ends the call at once (WSIG_ERR_ABORTED) and the client goes on. */
static void abort_checks(void)
{
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    abort_state a = abort_when(0, 0);
    wsig_client *c = aborting_client(auth, &a);
    wsig_error err = WSIG_ERROR_INIT;
    char *json = NULL;
    CHECK(t_streq(wsig_status_name(WSIG_ERR_ABORTED), "aborted"), "status name %s",
          wsig_status_name(WSIG_ERR_ABORTED));
    if (!c)
        goto out;
    /* Never aborting: asked all along a 600 ms wait for the answer. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "delay:600", 1);
    int rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_OK && a.calls >= 8 && a.max_gap < 0.05 + 0.1 * slack(),
          "a 600 ms answer: rc %s, asked %d times, largest gap %.3f s (%s)", wsig_status_name(rc),
          a.calls, a.max_gap, err.message);
    wsig_free(json);
    json = NULL;
    /* Stopped while awaiting a command's answer: it may have run, and says so. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/command", "delay:1000", 1);
    a = abort_when(0, 0.2);
    double t0 = now_s();
    rc = wsig_client_command(c, &json, "update_display_currency", "{\"displayCurrency\":\"USD\"}",
                             NULL, &err);
    double dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_ABORTED && err.status == WSIG_ERR_ABORTED && !json &&
              strstr(err.message, "may have reached the server") && dt < 0.6 * slack(),
          "aborted during a 1 s answer: rc %s after %.3f s (%s)", wsig_status_name(rc), dt,
          err.message);
    CHECK(wsig_error_fields(&err) == 0, "aborted: fields %#x", wsig_error_fields(&err));
    CHECK(log_count("/command") == 1, "aborted command sent %d times", log_count("/command"));
    /* Stopped during a Retry-After wait: not run (only refused), the 429 kept. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:429:retry_after=2", 1);
    a = abort_when(0, 0.2);
    t0 = now_s();
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_ABORTED && err.http_status == 429 && strstr(err.message, "Retry-After") &&
              strstr(err.message, "only refused") && dt < 0.6 * slack(),
          "aborted during Retry-After 2 s: rc %s after %.3f s (%s)", wsig_status_name(rc), dt,
          err.message);
    CHECK(log_count("/query") == 1, "aborted 429 wait: sent %d times", log_count("/query"));
    /* Stopped during the backoff after a 503. */
    wsig_client_options ob = WSIG_CLIENT_OPTIONS_INIT;
    ob.backoff = 2;
    ob.abort_check = abort_at_call;
    ob.abort_ud = &a;
    wsig_client *cb = client_for(auth, &ob);
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:503", 1);
    a = abort_when(0, 0.2);
    t0 = now_s();
    rc = cb ? wsig_client_query(cb, &json, "list_client_accounts", NULL, &err) : -1;
    dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_ABORTED && err.http_status == 503 && strstr(err.message, "backoff") &&
              dt < 0.6 * slack(),
          "aborted during a 1-3 s backoff: rc %s after %.3f s (%s)", wsig_status_name(rc), dt,
          err.message);
    wsig_client_free(cb);
    /* Stopped before anything is sent. */
    t_mock_clean(&M);
    a = abort_when(1, 0);
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_ERR_ABORTED && strstr(err.message, "not sent") && log_count("/query") == 0,
          "aborted at once: rc %s, %d sent (%s)", wsig_status_name(rc), log_count("/query"),
          err.message);
    /* The client goes on after an abort. */
    a = abort_when(0, 0);
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_OK && json && strstr(json, "account_123"), "after an abort: rc %s (%s)",
          wsig_status_name(rc), err.message);
    wsig_free(json);
    json = NULL;
    t_mock_clean(&M);
out:
    wsig_error_clear(&err);
    wsig_client_free(c);
    wsig_auth_free(auth);
}

static void connection_refused(void)
{
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    int port = closed_port();
    CHECK(port > 0, "no free port");
    if (!auth || port <= 0) {
        wsig_auth_free(auth);
        return;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    char *json = NULL;

    /* Defaults: nothing was sent, so even a POST is retried (3 times, 0.25 s doubling). */
    wsig_client *c = client_at(url, auth, NULL);
    double t0 = now_s();
    int rc = c ? wsig_client_request(c, &res, "POST", "/command", QUERY_BODY, strlen(QUERY_BODY),
                                     NULL, 0, &err)
               : -1;
    double dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_TRANSPORT && err.curl_code == 7 && res.attempts == 4,
          "refused: rc %s curl %d attempts %d (%s)", wsig_status_name(rc), err.curl_code,
          res.attempts, err.message);
    CHECK(dt < 4 * slack(), "refused with default backoff took %.3f s", dt);
    wsig_response_clear(&res);
    wsig_client_free(c);

    wsig_client_options o = fast_backoff();
    c = client_at(url, auth, &o);
    t0 = now_s();
    rc = c ? wsig_client_command(c, &json, "update_display_currency", "{}", NULL, &err) : -1;
    dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_TRANSPORT && err.curl_code == 7 && json == NULL && dt < 0.5 * slack(),
          "refused command: rc %s curl %d in %.3f s", wsig_status_name(rc), err.curl_code, dt);
    rc = c ? wsig_client_query(c, &json, "list_client_accounts", NULL, &err) : -1;
    CHECK(rc == WSIG_ERR_TRANSPORT && err.curl_code == 7 && err.http_status == 0,
          "refused query: rc %s curl %d", wsig_status_name(rc), err.curl_code);
    wsig_client_free(c);

    /* The limiter must not turn an outage into a debt: 25 refused attempts
     * (none reached a server), then the server is back: the next requests are
     * not held back for seconds. */
    wsig_client_options lim = {.max_retries = 0};
    c = client_at(url, auth, &lim);
    t0 = now_s();
    for (int i = 0; c && i < 25; i++) {
        rc = wsig_client_request(c, &res, "GET", "/x", NULL, 0, NULL, 0, &err);
        CHECK(rc == WSIG_ERR_TRANSPORT && err.curl_code == 7, "refused %d: rc %s", i,
              wsig_status_name(rc));
        wsig_response_clear(&res);
    }
    dt = now_s() - t0;
    CHECK(dt < 4 * slack(), "25 refused attempts took %.3f s", dt);
    responder r;
    pthread_t th;
    if (c && responder_start(&r, &th, port)) {
        t0 = now_s();
        int ok = 0;
        for (int i = 0; i < 3; i++) {
            rc = wsig_client_request(c, &res, "GET", "/x", NULL, 0, NULL, 0, &err);
            ok += rc == WSIG_OK && res.status == 200;
            wsig_response_clear(&res);
        }
        dt = now_s() - t0;
        CHECK(ok == 3, "server back: %d/3 answered (%s)", ok, err.message);
        CHECK(dt < 0.8 * slack(),
              "server back after 25 refused attempts: 3 requests took %.3f s (limiter debt)", dt);
        responder_stop(&r, th);
    } else
        CHECK(0, "cannot listen on port %d again", port);
    wsig_client_free(c);

    wsig_client_options on = {.max_retries = 0};
    c = client_at(url, auth, &on);
    t0 = now_s();
    rc = c ? wsig_client_request(c, &res, "GET", "/x", NULL, 0, NULL, 0, &err) : -1;
    dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_TRANSPORT && res.attempts == 1 && dt < 0.5 * slack(),
          "refused, no retries: attempts %d in %.3f s", res.attempts, dt);
    wsig_response_clear(&res);
    wsig_client_free(c);
    wsig_error_clear(&err);
    wsig_auth_free(auth);
}

static void transport_faults(void)
{
    static const struct {
        const char *spec;
        int curl_code;
    } faults[] = {{"drop", 52}, {"reset_mid_body", 56}, {"truncate", 18}};
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    wsig_client_options o = fast_backoff();
    wsig_client *c = client_for(auth, &o);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    char *json = NULL;
    if (!c)
        goto out;
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        const char *spec = faults[i].spec;
        /* Warm the connection so the fault hits a reused (keep-alive) connection. */
        t_mock_clean(&M);
        int rc = wsig_client_query(c, &json, "list_display_currencies", NULL, &err);
        CHECK(rc == WSIG_OK, "%s: warm-up %s", spec, err.message);
        wsig_free(json);
        json = NULL;

        /* /command without a key: one attempt, a transport error. */
        t_mock_clean(&M);
        t_mock_queue(&M, "/command", spec, 1);
        rc = wsig_client_command(c, &json, "update_display_currency",
                                 "{\"displayCurrency\":\"USD\"}", NULL, &err);
        CHECK(rc == WSIG_ERR_TRANSPORT && err.curl_code == faults[i].curl_code && json == NULL,
              "%s on /command: rc %s curl %d, want transport_error curl %d (%s)", spec,
              wsig_status_name(rc), err.curl_code, faults[i].curl_code, err.message);
        logview v = log_for("/command");
        CHECK(cJSON_GetArraySize(v.sel) == 1, "%s on /command: sent %d times", spec,
              cJSON_GetArraySize(v.sel));
        log_free(&v);

        /* /query: retried, succeeds. */
        t_mock_clean(&M);
        t_mock_queue(&M, "/query", spec, 1);
        rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
        CHECK(rc == WSIG_OK && json, "%s then 200 on /query: rc %s (%s)", spec,
              wsig_status_name(rc), err.message);
        wsig_free(json);
        json = NULL;
        v = log_for("/query");
        CHECK(cJSON_GetArraySize(v.sel) == 2, "%s on /query: %d attempts, want 2", spec,
              cJSON_GetArraySize(v.sel));
        check_fresh_tokens(v.sel, "/query", spec);
        log_free(&v);

        /* /query always failing: 1 + max_retries attempts, then the transport error. */
        t_mock_clean(&M);
        t_mock_queue(&M, "/query", spec, 10);
        rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
        CHECK(rc == WSIG_ERR_TRANSPORT && err.curl_code == faults[i].curl_code,
              "%s always on /query: rc %s curl %d", spec, wsig_status_name(rc), err.curl_code);
        CHECK(log_count("/query") == 4, "%s always on /query: %d attempts", spec,
              log_count("/query"));

        /* Per request through X-Mock-Fault: a bare POST is not retried. */
        t_mock_clean(&M);
        rc = raw_query(c, &res, spec, NULL, &err);
        CHECK(rc == WSIG_ERR_TRANSPORT && err.curl_code == faults[i].curl_code &&
                  res.attempts == 1 && res.body == NULL,
              "%s via header: rc %s curl %d attempts %d", spec, wsig_status_name(rc),
              err.curl_code, res.attempts);
        wsig_response_clear(&res);
        CHECK(log_count("/query") == 1, "%s via header: sent %d times", spec, log_count("/query"));
    }
    t_mock_clean(&M);
out:
    wsig_error_clear(&err);
    wsig_client_free(c);
    wsig_auth_free(auth);
}

/* A connection dropped after the request arrived, on a reused connection, for
 * the other two protocols: a POST without an idempotency key must reach the
 * server once; a GET is retried re-signed (a new message sequence). */
static void transport_faults_other(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    char *json = NULL;
    wsig_auth *hauth = hmac_auth(M.hmac_api_key, M.hmac_secret, WSIG_HMAC_BASE64);
    wsig_client_options o = fast_backoff();
    wsig_client *c = client_for(hauth, &o);
    static const char body[] = "{\"name\":\"dropped wallet\"}";
    wsig_header_ref ct = {"Content-Type", "application/json"};
    if (c) {
        t_mock_clean(&M);
        int rc = wsig_client_request(c, &res, "GET", "/v1/wallet/list?skip=0&take=1", NULL, 0,
                                     NULL, 0, &err); /* warm the connection */
        wsig_response_clear(&res);
        t_mock_queue(&M, "/v1/wallet/create", "drop", 1);
        rc = wsig_client_request(c, &res, "POST", "/v1/wallet/create", body, strlen(body), &ct,
                                 1, &err);
        CHECK(rc == WSIG_ERR_TRANSPORT && err.curl_code == 52,
              "hmac POST dropped: rc %s curl %d status %ld", wsig_status_name(rc), err.curl_code,
              res.status);
        CHECK(log_count("/v1/wallet/create") == 1,
              "hmac POST dropped after it arrived was sent %d times (wallet created twice)",
              log_count("/v1/wallet/create"));
        wsig_response_clear(&res);
    }
    wsig_client_free(c);
    wsig_auth_free(hauth);

    wsig_key *mk = NULL;
    wsig_auth *mauth = NULL;
    c = NULL;
    if (wsig_key_from_hex(&mk, M.merchant_key_hex, &err) == WSIG_OK &&
        wsig_auth_message_new(&mauth, mk, NULL, &err) == WSIG_OK)
        c = client_for(mauth, &o);
    if (c) {
        char path[160];
        snprintf(path, sizeof path, "/access/ethereum/1/transfer/hash/0x%064d/deposit", 7);
        t_mock_clean(&M);
        int rc = wsig_client_call(c, &json, "GET", path, NULL, &err); /* warm */
        wsig_free(json);
        json = NULL;
        t_mock_clean(&M);
        t_mock_queue(&M, path, "drop", 1);
        rc = wsig_client_call(c, &json, "GET", path, NULL, &err);
        CHECK(rc == WSIG_OK && json, "WM GET dropped then 200: rc %s (%s)", wsig_status_name(rc),
              err.message);
        wsig_free(json);
        json = NULL;
        logview v = log_for(path);
        int n = cJSON_GetArraySize(v.sel);
        CHECK(n == 2, "WM GET dropped: %d attempts", n);
        if (n == 2)
            CHECK(!t_streq(t_log_header(cJSON_GetArrayItem(v.sel, 0), "X-Message-Sequence"),
                           t_log_header(cJSON_GetArrayItem(v.sel, 1), "X-Message-Sequence")),
                  "WM retry re-sent the same message sequence %s",
                  t_log_header(cJSON_GetArrayItem(v.sel, 0), "X-Message-Sequence"));
        log_free(&v);
        t_mock_clean(&M);
    }
    wsig_client_free(c);
    wsig_auth_free(mauth);
    wsig_key_free(mk);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* Malformed and oversized bodies                                     */

static void body_faults(void)
{
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    wsig_client_options o = fast_backoff();
    wsig_client *c = client_for(auth, &o);
    wsig_client_options small = fast_backoff();
    small.max_response = 4096;
    wsig_client *cs = client_for(auth, &small);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    char *json = NULL;
    if (!c || !cs)
        goto out;
    t_mock_clean(&M);

    t_mock_queue(&M, "/query", "nonjson", 1);
    int rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_ERR_PROTOCOL && json == NULL, "nonjson: rc %s (%s)", wsig_status_name(rc),
          err.message);
    t_mock_queue(&M, "/command", "nonjson", 1);
    rc = wsig_client_command(c, &json, "update_display_currency", "{\"displayCurrency\":\"USD\"}",
                             NULL, &err);
    CHECK(rc == WSIG_ERR_PROTOCOL && json == NULL, "nonjson command: rc %s",
          wsig_status_name(rc));
    CHECK(log_count("/query") == 1, "nonjson is not retried");

    /* 20 MB against the default 16 MiB cap, streamed. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "huge:20000000", 1);
    double t0 = now_s();
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    double dt = now_s() - t0;
    CHECK(rc == WSIG_ERR_PROTOCOL && json == NULL, "huge 20 MB: rc %s (%s)",
          wsig_status_name(rc), err.message);
    CHECK(dt < 3 * slack(), "huge 20 MB took %.3f s", dt);
    /* Just under the default cap is fine. */
    t_mock_queue(&M, "/query", "huge:1000000", 1);
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_OK && json && strlen(json) == 1000000, "huge 1 MB: rc %s (%s)",
          wsig_status_name(rc), err.message);
    wsig_free(json);
    json = NULL;

    /* A small cap: exactly the cap passes, one byte more does not. */
    t_mock_queue(&M, "/query", "huge:4096", 1);
    rc = wsig_client_query(cs, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_OK && json && strlen(json) == 4096, "4096 bytes, cap 4096: rc %s (%s)",
          wsig_status_name(rc), err.message);
    wsig_free(json);
    json = NULL;
    t_mock_queue(&M, "/query", "huge:4097", 1);
    rc = wsig_client_query(cs, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_ERR_PROTOCOL && json == NULL, "4097 bytes, cap 4096: rc %s (%s)",
          wsig_status_name(rc), err.message);
    rc = raw_query(cs, &res, "huge:100000", NULL, &err);
    CHECK(rc == WSIG_ERR_PROTOCOL && res.body == NULL, "request, 100 kB, cap 4096: rc %s",
          wsig_status_name(rc));
    wsig_response_clear(&res);
    /* A normal answer under a small cap still works (the accounts list is ~1 kB). */
    rc = wsig_client_query(cs, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_OK, "normal answer under a 4 KiB cap: %s", err.message);
    wsig_free(json);
    json = NULL;

    /* 5000 levels of [: refused (cJSON's nesting limit), no crash. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "deep_json:5000", 1);
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_ERR_PROTOCOL && json == NULL, "deep_json 5000: rc %s",
          wsig_status_name(rc));
    t_mock_queue(&M, "/query", "deep_json:50", 1);
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_OK && json && json[0] == '[' && strlen(json) == 100, "deep_json 50: rc %s",
          wsig_status_name(rc));
    wsig_free(json);
    json = NULL;
    t_mock_queue(&M, "/access/get_address", "deep_json:5000", 1);
    wsig_client *cw = client_for(auth, &o);
    rc = cw ? wsig_client_call(cw, &json, "POST", "/access/get_address", "{}", &err) : -1;
    CHECK(rc == WSIG_ERR_PROTOCOL && json == NULL, "deep_json via call: rc %s",
          wsig_status_name(rc));
    wsig_client_free(cw);

    /* Invalid UTF-8 inside a JSON string ({"name":"caf\xc3\x28 \xff\xfe",...}):
     * JSON is UTF-8 (RFC 8259), so it is a protocol error, as for call(). */
    t_mock_queue(&M, "/query", "invalid_utf8", 1);
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_ERR_PROTOCOL && json == NULL, "invalid_utf8: rc %s (%s)",
          wsig_status_name(rc), err.message);
    wsig_free(json);
    json = NULL;
    t_mock_clean(&M);
out:
    wsig_error_clear(&err);
    wsig_client_free(c);
    wsig_client_free(cs);
    wsig_auth_free(auth);
}

/* ------------------------------------------------------------------ */
/* HMAC API                                                           */

static void hmac_api(void)
{
    wsig_auth *auth = hmac_auth(M.hmac_api_key, M.hmac_secret, WSIG_HMAC_BASE64);
    wsig_client *c = client_for(auth, NULL);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    if (!c)
        goto out;
    CHECK(t_streq(M.hmac_api_key, "test-api-key") && t_streq(M.hmac_secret, "your-secret-key"),
          "mock hmac credentials %s/%s", M.hmac_api_key, M.hmac_secret);
    t_mock_clean(&M);

    const char *list = "/v1/wallet/list?skip=0&take=25&orderBy=desc";
    int rc = wsig_client_request(c, &res, "GET", list, NULL, 0, NULL, 0, &err);
    CHECK(rc == WSIG_OK && res.status == 200 && res.attempts == 1, "wallet list: rc %s status %ld (%s)",
          wsig_status_name(rc), res.status, err.message);
    cJSON *j = rc == WSIG_OK ? cJSON_ParseWithLength(res.body, res.body_len) : NULL;
    const cJSON *data = cJSON_GetObjectItem(j, "data");
    CHECK(cJSON_GetArraySize(data) == 25 && t_num(j, "total") >= 30 && t_num(j, "skip") == 0 &&
              t_num(j, "take") == 25,
          "wallet list answer");
    if (cJSON_GetArraySize(data) >= 2)
        CHECK(t_num(cJSON_GetArrayItem(data, 0), "createdAt") >=
                  t_num(cJSON_GetArrayItem(data, 1), "createdAt"),
              "orderBy=desc");
    cJSON_Delete(j);
    wsig_response_clear(&res);

    static const char body[] = "{\"name\":\"C client wallet\"}";
    wsig_header_ref ct = {"Content-Type", "application/json"};
    rc = wsig_client_request(c, &res, "POST", "/v1/wallet/create", body, strlen(body), &ct, 1,
                             &err);
    CHECK(rc == WSIG_OK && res.status == 200, "wallet create: rc %s status %ld",
          wsig_status_name(rc), res.status);
    j = rc == WSIG_OK ? cJSON_ParseWithLength(res.body, res.body_len) : NULL;
    CHECK(t_streq(t_str(j, "name"), "C client wallet") && t_str(j, "address"),
          "create answer %s", res.body ? res.body : "(null)");
    cJSON_Delete(j);
    wsig_response_clear(&res);

    logview v = log_for(NULL);
    CHECK(cJSON_GetArraySize(v.sel) == 2, "hmac: %d requests logged", cJSON_GetArraySize(v.sel));
    const cJSON *e;
    cJSON_ArrayForEach(e, v.sel)
    {
        CHECK(t_streq(t_str(e, "verified_by"), "hmac:test-api-key:base64") &&
                  entry_status(e) == 200,
              "hmac verified_by %s", t_str(e, "verified_by"));
        CHECK(t_streq(t_log_header(e, "x-api-key"), "test-api-key") &&
                  t_log_header(e, "x-timestamp") && t_log_header(e, "x-signature"),
              "hmac headers");
        CHECK(t_streq(t_log_header(e, "User-Agent"), "walletsign/0.1.0 (c)"), "UA %s",
              t_log_header(e, "User-Agent"));
    }
    CHECK(t_streq(t_str(cJSON_GetArrayItem(v.sel, 0), "target"), list), "target sent as signed");
    log_free(&v);

    /* GET is idempotent: a 503 is retried. */
    wsig_client_options o = fast_backoff();
    wsig_client *cr = client_for(auth, &o);
    t_mock_queue(&M, "/v1/wallet/list", "status:503", 1);
    rc = cr ? wsig_client_request(cr, &res, "GET", list, NULL, 0, NULL, 0, &err) : -1;
    CHECK(rc == WSIG_OK && res.status == 200 && res.attempts == 2, "GET 503 retried: attempts %d",
          res.attempts);
    wsig_response_clear(&res);
    /* ... and a POST is not. */
    t_mock_queue(&M, "/v1/wallet/create", "status:503", 1);
    rc = cr ? wsig_client_request(cr, &res, "POST", "/v1/wallet/create", body, strlen(body), &ct,
                                  1, &err)
            : -1;
    CHECK(rc == WSIG_OK && res.status == 503 && res.attempts == 1, "POST 503: attempts %d",
          res.attempts);
    wsig_response_clear(&res);
    wsig_client_free(cr);

    /* Bad parameters: 400 passed back. */
    rc = wsig_client_request(c, &res, "GET", "/v1/wallet/list?skip=0&take=0", NULL, 0, NULL, 0,
                             &err);
    CHECK(rc == WSIG_OK && res.status == 400 && strstr(res.body, "invalid_parameter"),
          "take=0: status %ld", res.status);
    wsig_response_clear(&res);

    /* Hex-encoded signatures for a key registered as hex. */
    cJSON *ans = t_mock_json(&M, "POST", "/_mock/hmac/register",
                             "{\"api_key\":\"c-hex-key\",\"secret\":\"c-hex-secret\",\"encoding\":\"hex\"}");
    CHECK(ans != NULL, "register hex key");
    cJSON_Delete(ans);
    wsig_auth *hex = hmac_auth("c-hex-key", "c-hex-secret", WSIG_HMAC_HEX);
    wsig_client *ch = client_for(hex, NULL);
    t_mock_clean(&M);
    rc = ch ? wsig_client_request(ch, &res, "GET", list, NULL, 0, NULL, 0, &err) : -1;
    CHECK(rc == WSIG_OK && res.status == 200, "hex hmac: status %ld", res.status);
    wsig_response_clear(&res);
    v = log_for(NULL);
    CHECK(t_streq(t_str(cJSON_GetArrayItem(v.sel, 0), "verified_by"), "hmac:c-hex-key:hex"),
          "hex verified_by");
    log_free(&v);
    wsig_client_free(ch);
    wsig_auth_free(hex);

    /* A wrong secret: 401 bad_signature. */
    wsig_auth *bad = hmac_auth("test-api-key", "not-the-secret", WSIG_HMAC_BASE64);
    wsig_client *cb = client_for(bad, NULL);
    rc = cb ? wsig_client_request(cb, &res, "GET", list, NULL, 0, NULL, 0, &err) : -1;
    CHECK(rc == WSIG_OK && res.status == 401 && res.body && strstr(res.body, "bad_signature"),
          "wrong secret: status %ld %s", res.status, res.body ? res.body : "");
    wsig_response_clear(&res);
    wsig_client_free(cb);
    wsig_auth_free(bad);
    t_mock_clean(&M);
out:
    wsig_error_clear(&err);
    wsig_client_free(c);
    wsig_auth_free(auth);
}

/* ------------------------------------------------------------------ */
/* Wallet Manager (message protocol)                                  */

static void wallet_manager(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *mk = NULL;
    wsig_auth *auth = NULL;
    wsig_client *c = NULL;
    wsig_message_verifier *trust_wm = NULL, *trust_other = NULL;
    char *json = NULL;
    int rc = wsig_key_from_hex(&mk, M.merchant_key_hex, &err);
    CHECK(rc == WSIG_OK, "merchant key: %s", err.message);
    if (rc != WSIG_OK)
        goto out;
    rc = wsig_auth_message_new(&auth, mk, NULL, &err);
    CHECK(rc == WSIG_OK, "message auth: %s", err.message);
    if (rc != WSIG_OK)
        goto out;
    c = client_for(auth, NULL);
    if (!c)
        goto out;
    t_mock_clean(&M);

    rc = wsig_client_call(c, &json, "POST", "/access/get_address",
                          "{\"chain_type\":\"ethereum\",\"chain_id\":1,\"user_id\":\"u-42\"}", &err);
    CHECK(rc == WSIG_OK && json, "get_address: rc %s (%s)", wsig_status_name(rc), err.message);
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    const char *addr = t_str(j, "address");
    CHECK(t_streq(t_str(j, "chain_type"), "ethereum") && t_num(j, "chain_id") == 1 &&
              t_streq(t_str(j, "user_id"), "u-42") && addr && strlen(addr) == 42 &&
              strncmp(addr, "0x", 2) == 0,
          "get_address result %s", json ? json : "(null)");
    CHECK(cJSON_GetObjectItem(j, "error") == NULL && cJSON_GetObjectItem(j, "result") == NULL,
          "the result, not the envelope");
    cJSON_Delete(j);
    wsig_free(json);
    json = NULL;

    const char *hash = "0x1111111111111111111111111111111111111111111111111111111111111111";
    char path[256];
    snprintf(path, sizeof path, "/access/ethereum/1/transfer/hash/%s/deposit", hash);
    rc = wsig_client_call(c, &json, "GET", path, NULL, &err);
    CHECK(rc == WSIG_OK && json, "deposit: rc %s (%s)", wsig_status_name(rc), err.message);
    j = json ? cJSON_Parse(json) : NULL;
    CHECK(t_streq(t_str(j, "status"), "confirmed") && t_streq(t_str(j, "tx_hash"), hash) &&
              cJSON_GetArraySize(cJSON_GetObjectItem(j, "deposits")) == 1,
          "deposit result %s", json ? json : "(null)");
    cJSON_Delete(j);
    wsig_free(json);
    json = NULL;

    logview v = log_for(NULL);
    char want[80];
    snprintf(want, sizeof want, "message:%s", M.merchant_address);
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, v.sel)
    {
        n++;
        CHECK(t_streq(t_str(e, "verified_by"), want) && entry_status(e) == 200,
              "WM verified_by %s", t_str(e, "verified_by"));
        CHECK(t_streq(t_log_header(e, "X-Message-Address"), M.merchant_address) &&
                  t_log_header(e, "X-Message-Signature"),
              "X-Message headers");
    }
    CHECK(n == 2, "WM: %d requests", n);
    if (n == 2) {
        const cJSON *get = cJSON_GetArrayItem(v.sel, 1);
        char *empty = sha256_hex("", 0);
        CHECK(t_streq(t_str(get, "method"), "GET") && t_streq(t_str(get, "body_sha256"), empty),
              "GET without a body");
        free(empty);
        long long s1 = atoll(t_log_header(cJSON_GetArrayItem(v.sel, 0), "X-Message-Sequence")
                                 ? t_log_header(cJSON_GetArrayItem(v.sel, 0), "X-Message-Sequence")
                                 : "0");
        long long s2 = atoll(t_log_header(get, "X-Message-Sequence")
                                 ? t_log_header(get, "X-Message-Sequence")
                                 : "0");
        CHECK(s2 == s1 + 1, "sequence %lld then %lld", s1, s2);
    }
    log_free(&v);

    /* RPC errors (HTTP 200): code, message, data. */
    rc = wsig_client_call(c, &json, "POST", "/access/get_address", "{}", &err);
    CHECK(rc == WSIG_ERR_RPC && err.status == WSIG_ERR_RPC && err.rpc_code == 21 && json == NULL,
          "code 21: rc %s rpc %lld", wsig_status_name(rc), err.rpc_code);
    CHECK(strstr(err.message, "Invalid request") != NULL, "21 message %s", err.message);
    j = err.data_json ? cJSON_Parse(err.data_json) : NULL;
    CHECK(t_streq(t_str(j, "field"), "chain_type"), "21 data %s",
          err.data_json ? err.data_json : "(null)");
    cJSON_Delete(j);

    snprintf(path, sizeof path, "/access/ethereum/1/transfer/hash/0x%064d/deposit", 0);
    rc = wsig_client_call(c, &json, "GET", path, NULL, &err);
    CHECK(rc == WSIG_ERR_RPC && err.rpc_code == 24 && strstr(err.message, "Not found") &&
              err.data_json && strstr(err.data_json, "tx_hash"),
          "code 24: rc %s rpc %lld", wsig_status_name(rc), err.rpc_code);

    rc = wsig_client_call(c, &json, "POST", "/access/batch_withdraw",
                          "{\"chain_type\":\"ethereum\",\"chain_id\":1,\"withdraws\":[{\"to\":"
                          "\"0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\",\"amount\":\"2000000\"}]}",
                          &err);
    CHECK(rc == WSIG_ERR_RPC && err.rpc_code == 31 && err.data_json &&
              strstr(err.data_json, "2000000"),
          "code 31: rc %s rpc %lld data %s", wsig_status_name(rc), err.rpc_code,
          err.data_json ? err.data_json : "(null)");

    rc = wsig_client_call(c, &json, "POST", "/access/batch_withdraw",
                          "{\"chain_type\":\"ethereum\",\"chain_id\":1,\"withdraws\":[{\"to\":"
                          "\"0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\",\"amount\":\"1.5\","
                          "\"request_id\":\"r1\"}]}",
                          &err);
    j = json ? cJSON_Parse(json) : NULL;
    CHECK(rc == WSIG_OK && t_str(j, "batch_id") &&
              cJSON_GetArraySize(cJSON_GetObjectItem(j, "withdraws")) == 1,
          "batch_withdraw: rc %s %s", wsig_status_name(rc), json ? json : err.message);
    cJSON_Delete(j);
    wsig_free(json);
    json = NULL;

    /* Method not found: HTTP 404 with an RPC error body. */
    rc = wsig_client_call(c, &json, "POST", "/access/no_such_method", "{}", &err);
    CHECK((rc == WSIG_ERR_RPC && err.rpc_code == 22) || rc == WSIG_ERR_HTTP,
          "unknown method: rc %s rpc %lld", wsig_status_name(rc), err.rpc_code);
    CHECK(err.http_status == 404, "unknown method: http_status %ld", err.http_status);
    CHECK(json == NULL, "no result on failure");

    /* An untrusted signer: HTTP 401, {"code":401,"data":{"reason":"untrusted_address"}}. */
    {
        wsig_key *rk = NULL;
        wsig_auth *ra = NULL;
        wsig_error e2 = WSIG_ERROR_INIT;
        if (wsig_key_generate(&rk, WSIG_KEY_SECP256K1, 0, &e2) == WSIG_OK &&
            wsig_auth_message_new(&ra, rk, NULL, &e2) == WSIG_OK) {
            wsig_client *cu = client_for(ra, NULL);
            rc = cu ? wsig_client_call(cu, &json, "POST", "/access/get_address",
                                       "{\"chain_type\":\"ethereum\",\"chain_id\":1}", &e2)
                    : -1;
            CHECK(((rc == WSIG_ERR_RPC && e2.rpc_code == 401) || rc == WSIG_ERR_HTTP) &&
                      e2.http_status == 401 && json == NULL,
                  "untrusted signer: rc %s rpc %lld http %ld", wsig_status_name(rc), e2.rpc_code,
                  e2.http_status);
            CHECK(rc != WSIG_ERR_RPC || (e2.data_json && strstr(e2.data_json, "untrusted_address")),
                  "untrusted signer data %s", e2.data_json ? e2.data_json : "(null)");
            wsig_client_free(cu);
        } else
            CHECK(0, "random secp256k1 signer: %s", e2.message);
        wsig_auth_free(ra);
        wsig_key_free(rk);
        wsig_error_clear(&e2);
    }

    /* Signed responses verified against the Wallet Manager's address. */
    const char *wm[1] = {M.wm_address};
    const char *other[1] = {M.merchant_address};
    rc = wsig_message_verifier_new(&trust_wm, wm, 1, NULL, &err);
    CHECK(rc == WSIG_OK, "verifier: %s", err.message);
    rc = wsig_message_verifier_new(&trust_other, other, 1, NULL, &err);
    CHECK(rc == WSIG_OK, "verifier: %s", err.message);
    if (!trust_wm || !trust_other)
        goto out;
    wsig_client_options ov = {.response_verifier = trust_wm};
    wsig_client *cv = client_for(auth, &ov);
    if (cv) {
        rc = wsig_client_call(cv, &json, "POST", "/access/get_address",
                              "{\"chain_type\":\"tron\",\"chain_id\":\"728126428\"}", &err);
        CHECK(rc == WSIG_OK && json && strstr(json, "\"tron\""), "verified get_address: rc %s (%s)",
              wsig_status_name(rc), err.message);
        wsig_free(json);
        json = NULL;
        snprintf(path, sizeof path, "/access/ethereum/1/transfer/hash/%s/deposit", hash);
        rc = wsig_client_call(cv, &json, "GET", path, NULL, &err);
        CHECK(rc == WSIG_OK && json, "verified deposit: rc %s (%s)", wsig_status_name(rc),
              err.message);
        wsig_free(json);
        json = NULL;
        /* Error answers are signed too: verified, then mapped. */
        rc = wsig_client_call(cv, &json, "POST", "/access/get_address", "{}", &err);
        CHECK(rc == WSIG_ERR_RPC && err.rpc_code == 21, "verified RPC error: rc %s",
              wsig_status_name(rc));
    }
    wsig_client_free(cv);

    wsig_client_options oo = {.response_verifier = trust_other};
    cv = client_for(auth, &oo);
    if (cv) {
        rc = wsig_client_call(cv, &json, "POST", "/access/get_address",
                              "{\"chain_type\":\"ethereum\",\"chain_id\":1}", &err);
        CHECK(rc == WSIG_INVALID && err.status == WSIG_INVALID &&
                  err.reason == WSIG_REASON_UNTRUSTED_ADDRESS && json == NULL,
              "response from an untrusted address: rc %s reason %s", wsig_status_name(rc),
              wsig_reason_name(err.reason));
        /* An unsigned answer (an injected 503 carries no X-Message-* headers). */
        t_mock_queue(&M, "/access/get_address", "status:503", 1);
        rc = wsig_client_call(cv, &json, "POST", "/access/get_address",
                              "{\"chain_type\":\"ethereum\",\"chain_id\":1}", &err);
        CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_MISSING_HEADER && json == NULL,
              "unsigned 503 with a verifier: rc %s reason %s", wsig_status_name(rc),
              wsig_reason_name(err.reason));
    }
    wsig_client_free(cv);

    /* Without a verifier an injected 503 (body {"error":{"code":503,..}}) is not retried (POST). */
    t_mock_clean(&M);
    t_mock_queue(&M, "/access/get_address", "status:503", 1);
    rc = wsig_client_call(c, &json, "POST", "/access/get_address",
                          "{\"chain_type\":\"ethereum\",\"chain_id\":1}", &err);
    CHECK((rc == WSIG_ERR_RPC || rc == WSIG_ERR_HTTP) && err.http_status == 503 && json == NULL,
          "WM 503: rc %s http %ld", wsig_status_name(rc), err.http_status);
    CHECK(log_count("/access/get_address") == 1, "WM POST 503 sent %d times",
          log_count("/access/get_address"));
    /* A GET is retried. */
    t_mock_clean(&M);
    snprintf(path, sizeof path, "/access/ethereum/1/transfer/hash/%s/deposit", hash);
    t_mock_queue(&M, path, "status:503", 1);
    wsig_client_options ob = fast_backoff();
    wsig_client *cb = client_for(auth, &ob);
    rc = cb ? wsig_client_call(cb, &json, "GET", path, NULL, &err) : -1;
    CHECK(rc == WSIG_OK && log_count(path) == 2, "WM GET 503 then 200: rc %s, %d attempts",
          wsig_status_name(rc), log_count(path));
    wsig_free(json);
    json = NULL;
    wsig_client_free(cb);
    /* nonjson / invalid_utf8 on a call: not an envelope. */
    t_mock_queue(&M, "/access/get_address", "nonjson", 1);
    rc = wsig_client_call(c, &json, "POST", "/access/get_address", "{}", &err);
    CHECK(rc == WSIG_ERR_PROTOCOL && json == NULL, "WM nonjson: rc %s", wsig_status_name(rc));
    t_mock_queue(&M, "/access/get_address", "invalid_utf8", 1);
    rc = wsig_client_call(c, &json, "POST", "/access/get_address", "{}", &err);
    CHECK(rc == WSIG_ERR_PROTOCOL && json == NULL, "WM invalid_utf8: rc %s",
          wsig_status_name(rc));
    t_mock_clean(&M);
out:
    wsig_free(json);
    wsig_client_free(c);
    wsig_message_verifier_free(trust_wm);
    wsig_message_verifier_free(trust_other);
    wsig_auth_free(auth);
    wsig_key_free(mk);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* Arguments and options                                              */

/* Options out of range are refused and named, never replaced by a default
 * (a negative timeout was 10 s, a NaN one unbounded, -1 retries none). */
static void bad_options(wsig_auth *auth)
{
    static const struct {
        const char *field;
        wsig_client_options o;
    } cases[] = {
        {"timeout", {.timeout = -1}},
        {"timeout", {.timeout = NAN}},
        {"timeout", {.timeout = 0.0001}}, /* 0 ms to libcurl: no timeout at all */
        {"connect_timeout", {.connect_timeout = INFINITY}},
        {"max_retries", {.max_retries = -1}},
        {"max_retries", {.max_retries = 101}},
        {"max_429_attempts", {.max_429_attempts = -1}},
        {"max_retry_after", {.max_retry_after = -1}},
        {"backoff", {.backoff = -0.5}},
        {"rate", {.rate = NAN}},
        {"burst", {.burst = 0.5}},
        {"max_response", {.max_response = ((size_t)1 << 30) + 1}},
    };
    wsig_error err = WSIG_ERROR_INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wsig_client *c = NULL;
        int rc = wsig_client_new(&c, "http://127.0.0.1:1", auth, &cases[i].o, &err);
        CHECK(rc == WSIG_ERR_ARG && c == NULL && strncmp(err.message, cases[i].field,
                                                         strlen(cases[i].field)) == 0,
              "bad %s (case %zu): rc %s (%s)", cases[i].field, i, wsig_status_name(rc), err.message);
        wsig_client_free(c);
    }
    /* The defaults, spelt out or as NULL, and zeros: all taken. */
    wsig_client_options init = WSIG_CLIENT_OPTIONS_INIT, zeros = {0};
    const wsig_client_options *ok[] = {&init, &zeros, NULL};
    for (size_t i = 0; i < 3; i++) {
        wsig_client *c = NULL;
        int rc = wsig_client_new(&c, "http://127.0.0.1:1", auth, ok[i], &err);
        CHECK(rc == WSIG_OK && c, "options %zu: %s (%s)", i, wsig_status_name(rc), err.message);
        wsig_client_free(c);
    }
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* on_event, and the context of a failure's message                   */

typedef struct {
    int n;
    struct {
        int kind, attempt;
        double delay;
        char method[16], path[64], cause[64];
    } e[8];
} event_log;

static void record_event(void *ud, const wsig_client_event *ev)
{
    event_log *l = ud;
    if (l->n >= 8)
        return;
    l->e[l->n].kind = ev->kind;
    l->e[l->n].attempt = ev->attempt;
    l->e[l->n].delay = ev->delay;
    snprintf(l->e[l->n].method, sizeof l->e[0].method, "%s", ev->method);
    snprintf(l->e[l->n].path, sizeof l->e[0].path, "%.*s", (int)ev->path_len, ev->path);
    snprintf(l->e[l->n].cause, sizeof l->e[0].cause, "%s", ev->cause);
    l->n++;
}

static void client_events(void)
{
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    event_log events = {0};
    wsig_client_options o = fast_backoff();
    o.max_retries = 1;
    o.on_event = record_event;
    o.event_ud = &events;
    wsig_client *c = client_for(auth, &o);
    wsig_error err = WSIG_ERROR_INIT;
    char *json = NULL;
    if (!c)
        goto out;

    /* A 503, then a 429 without delay: one retry, one wait, each announced once. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:503", 1);
    t_mock_queue(&M, "/query", "status:429:retry_after=0", 1);
    int rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_OK, "events: query: %s", err.message);
    wsig_free(json);
    json = NULL;
    CHECK(events.n == 2, "events: %d events, want 2", events.n);
    if (events.n == 2) {
        CHECK(events.e[0].kind == WSIG_EVENT_RETRY && events.e[0].attempt == 2 &&
                  strcmp(events.e[0].method, "POST") == 0 &&
                  strcmp(events.e[0].path, "/query") == 0 &&
                  strcmp(events.e[0].cause, "HTTP 503") == 0 && events.e[0].delay > 0,
              "events: retry: kind %d attempt %d %s %s (%s) %g s", events.e[0].kind,
              events.e[0].attempt, events.e[0].method, events.e[0].path, events.e[0].cause,
              events.e[0].delay);
        CHECK(events.e[1].kind == WSIG_EVENT_WAIT_429 && events.e[1].attempt == 3 &&
                  strcmp(events.e[1].cause, "HTTP 429") == 0 && events.e[1].delay == 0,
              "events: 429: kind %d attempt %d (%s) %g s", events.e[1].kind, events.e[1].attempt,
              events.e[1].cause, events.e[1].delay);
    }

    /* The query string is never part of an event nor of a message. */
    events.n = 0;
    wsig_response res;
    wsig_header_ref fault = {"X-Mock-Fault", "status:503"};
    rc = wsig_client_request(c, &res, "get", "/v1/items?account=acc-secret-id", NULL, 0, &fault,
                             1, &err);
    CHECK(rc == WSIG_OK && res.status == 503 && res.attempts == 2, "events: GET: rc %d %ld %d",
          rc, res.status, res.attempts);
    wsig_response_clear(&res);
    CHECK(events.n == 1 && strcmp(events.e[0].path, "/v1/items") == 0 &&
              strcmp(events.e[0].method, "GET") == 0,
          "events: GET: %d events, path %s", events.n, events.n ? events.e[0].path : "-");

    /* A failure says where it went and what it cost, without the query. */
    t_mock_clean(&M);
    t_mock_queue(&M, "/query", "status:502", 2);
    rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
    CHECK(rc == WSIG_ERR_HTTP && strstr(err.message, " (POST /query, 2 attempts, ") &&
              strcmp(err.message + strlen(err.message) - 3, " s)") == 0,
          "context: %s", err.message);
    CHECK(strncmp(err.message, "HTTP 502", 8) == 0, "context: the cause first: %s", err.message);
    rc = wsig_client_request(c, &res, "POST", "/command?token=abc", NULL, 0, NULL, 0, &err);
    CHECK(rc == WSIG_OK, "context: POST: %s", err.message);
    wsig_response_clear(&res);
    fault.value = "drop";
    rc = wsig_client_request(c, &res, "POST", "/command?token=abc", NULL, 0, &fault, 1, &err);
    CHECK(rc == WSIG_ERR_TRANSPORT && strstr(err.message, " (POST /command, 1 attempt, ") &&
              !strstr(err.message, "token"),
          "context: transport: %s", err.message);
    /* Refused before sending: nothing to add. */
    rc = wsig_client_request(c, &res, "POST", "no-slash", NULL, 0, NULL, 0, &err);
    CHECK(rc == WSIG_ERR_ARG && !strstr(err.message, "attempt"), "context: arg: %s",
          err.message);

    /* The client's own limiter announces its wait (burst 1, 20 per second). */
    wsig_client_free(c);
    o = fast_backoff();
    o.rate = 20;
    o.burst = 1;
    o.on_event = record_event;
    o.event_ud = &events;
    events.n = 0;
    c = client_for(auth, &o);
    for (int i = 0; c && i < 2; i++) {
        rc = wsig_client_query(c, &json, "list_client_accounts", NULL, &err);
        CHECK(rc == WSIG_OK, "events: limiter: %s", err.message);
        wsig_free(json);
        json = NULL;
    }
    CHECK(events.n == 1 && events.e[0].kind == WSIG_EVENT_WAIT_RATE &&
              events.e[0].attempt == 1 && events.e[0].delay > 0 && events.e[0].delay <= 0.05,
          "events: limiter: %d events, kind %d, %g s", events.n, events.n ? events.e[0].kind : 0,
          events.n ? events.e[0].delay : 0);
    t_mock_clean(&M);
out:
    wsig_error_clear(&err);
    wsig_client_free(c);
    wsig_auth_free(auth);
}

static void arguments(void)
{
    wsig_auth *auth = jwt_auth(g_p256, g_kid, WSIG_JWT_DER);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_client *c = NULL;
    wsig_response res;
    char *json = NULL;
    if (!auth)
        return;
    int rc = wsig_client_new(&c, "ftp://127.0.0.1/", auth, NULL, &err);
    CHECK(rc == WSIG_ERR_ARG && c == NULL, "ftp base url: rc %s", wsig_status_name(rc));
    rc = wsig_client_new(&c, "http://127.0.0.1/\r\nX: y", auth, NULL, &err);
    CHECK(rc == WSIG_ERR_ARG && c == NULL, "CRLF base url: rc %s", wsig_status_name(rc));
    wsig_client_options bad_ua = {.user_agent = "a\r\nX-Injected: 1"};
    rc = wsig_client_new(&c, M.url, auth, &bad_ua, &err);
    CHECK(rc == WSIG_ERR_ARG && c == NULL, "CRLF user agent: rc %s", wsig_status_name(rc));
    bad_options(auth);

    /* A trailing slash on the base URL is dropped. */
    char url[160];
    snprintf(url, sizeof url, "%s//", M.url);
    c = client_at(url, auth, NULL);
    if (c) {
        t_mock_clean(&M);
        rc = wsig_client_query(c, &json, "list_payment_methods", NULL, &err);
        CHECK(rc == WSIG_OK && log_count("/query") == 1, "base url with //: %s", err.message);
        wsig_free(json);
        json = NULL;
        rc = wsig_client_request(c, &res, "GET", "no-slash", NULL, 0, NULL, 0, &err);
        CHECK(rc == WSIG_ERR_ARG, "path without '/': rc %s", wsig_status_name(rc));
        wsig_response_clear(&res);
        wsig_header_ref evil = {"X-Evil", "a\r\nInjected: 1"};
        rc = wsig_client_request(c, &res, "GET", "/x", NULL, 0, &evil, 1, &err);
        CHECK(rc == WSIG_ERR_ARG, "CRLF in an extra header: rc %s", wsig_status_name(rc));
        wsig_response_clear(&res);
        rc = wsig_client_query(c, &json, "list_payment_methods", "[1,2]", &err);
        CHECK(rc == WSIG_ERR_ARG && json == NULL, "payload not an object: rc %s",
              wsig_status_name(rc));
        rc = wsig_client_command(c, &json, "update_display_currency", "{}", "bad\nkey", &err);
        CHECK(rc == WSIG_ERR_ARG && json == NULL, "idempotency key with LF: rc %s",
              wsig_status_name(rc));
        rc = wsig_client_call(c, &json, "POST", "/access/get_address", "{not json", &err);
        CHECK(rc == WSIG_ERR_ARG && json == NULL, "call params not JSON: rc %s",
              wsig_status_name(rc));
        /* A name needing JSON escapes is quoted, and the body hash still matches. */
        rc = wsig_client_query(c, &json, "we\"ird\\name\n", NULL, &err);
        check_http_error(rc, &err, json, 400, "ErrInvalidParameter", "escaped name");
        CHECK(log_count("/query") == 2, "bad arguments sent nothing: %d", log_count("/query"));
    }
    wsig_client_free(c);

    /* User-Agent: custom, and named after the binding. */
    wsig_client_options ua = {.user_agent = "my-app/1.0"};
    wsig_client_options py = {.binding = "python"};
    wsig_client *c1 = client_for(auth, &ua), *c2 = client_for(auth, &py);
    t_mock_clean(&M);
    if (c1 && c2) {
        rc = wsig_client_query(c1, &json, "list_payment_methods", NULL, &err);
        wsig_free(json);
        json = NULL;
        rc |= wsig_client_query(c2, &json, "list_payment_methods", NULL, &err);
        wsig_free(json);
        json = NULL;
        logview v = log_for("/query");
        CHECK(rc == WSIG_OK &&
                  t_streq(t_log_header(cJSON_GetArrayItem(v.sel, 0), "User-Agent"), "my-app/1.0") &&
                  t_streq(t_log_header(cJSON_GetArrayItem(v.sel, 1), "User-Agent"),
                          "walletsign/0.1.0 (python)"),
              "User-Agent options");
        log_free(&v);
    }
    wsig_client_free(c1);
    wsig_client_free(c2);
    wsig_error_clear(&err);
    wsig_auth_free(auth);
}

/* ------------------------------------------------------------------ */
/* Groups                                                             */

void test_client(void)
{
    if (!t_mock_start(&M, NULL)) {
        CHECK(0, "cannot start the mock server (/usr/bin/python3 -m tests.mock_server)");
        return;
    }
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_key_generate(&g_p256, WSIG_KEY_P256, 0, &err);
    CHECK(rc == WSIG_OK, "generate P-256: %s", err.message);
    /* The mock's own rate limit is off except in rate_limiter(): separate
     * clients each start with a full bucket, and every test here counts attempts. */
    if (rc == WSIG_OK && register_key(&M, g_p256, NULL, NULL, g_kid, sizeof g_kid)) {
        halogen_config(&M, "{\"rate\":0}");
        double t0 = now_s();
        halogen_query_and_command();
        halogen_formats();
        halogen_http_errors();
        rate_limited_answers();
        server_errors();
        rate_limiter();
        timeouts();
        deadlines();
        abort_checks();
        connection_refused();
        transport_faults();
        transport_faults_other();
        body_faults();
        hmac_api();
        wallet_manager();
        arguments();
        client_events();
        if (getenv("WSIG_TEST_VERBOSE"))
            fprintf(stderr, "test_client: %.2f s against the mock\n", now_s() - t0);
    }
    wsig_key_free(g_p256);
    g_p256 = NULL;
    wsig_error_clear(&err);
    t_mock_stop(&M);
}

/* --- TLS --- */

static void tls_get(const t_mock *m, const char *ca_file, int insecure, int want_rc,
                    int want_curl, const char *what)
{
    wsig_auth *auth = hmac_auth("test-api-key", "your-secret-key", WSIG_HMAC_BASE64);
    wsig_client_options o = fast_backoff();
    o.ca_file = ca_file;
    o.insecure = insecure;
    wsig_client *c = client_at(m->url, auth, &o);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_response res;
    if (c) {
        int rc = wsig_client_request(c, &res, "GET", "/v1/wallet/list?skip=0&take=1&orderBy=asc",
                                     NULL, 0, NULL, 0, &err);
        CHECK(rc == want_rc, "%s: rc %s, want %s (%s)", what, wsig_status_name(rc),
              wsig_status_name(want_rc), err.message);
        if (want_rc == WSIG_OK)
            CHECK(rc == WSIG_OK && res.status == 200 && strstr(res.body, "\"data\""),
                  "%s: status %ld", what, res.status);
        else
            CHECK((want_curl < 0 ? err.curl_code == 35 || err.curl_code == 60
                                 : err.curl_code == want_curl) &&
                      res.attempts == 1,
                  "%s: curl %d attempts %d, want curl %d once (%s)", what, err.curl_code,
                  res.attempts, want_curl, err.message);
        wsig_response_clear(&res);
    }
    wsig_error_clear(&err);
    wsig_client_free(c);
    wsig_auth_free(auth);
}

void test_client_tls(void)
{
    static const char *const valid[] = {"--tls", NULL};
    static const char *const expired[] = {"--tls", "--cert-mode", "expired", NULL};
    static const char *const wrong[] = {"--tls", "--cert-mode", "wrong_host", NULL};
    t_mock v, e, w;
    /* Start the three together: each takes about a second. */
    bool ok = t_mock_spawn(&v, valid) & t_mock_spawn(&e, expired) & t_mock_spawn(&w, wrong);
    ok = t_mock_wait_ready(&v, 20) & t_mock_wait_ready(&e, 20) & t_mock_wait_ready(&w, 20) && ok;
    CHECK(ok, "cannot start the TLS mock servers");
    if (ok) {
        CHECK(strncmp(v.url, "https://", 8) == 0 && v.ca_file[0] && e.ca_file[0] && w.ca_file[0],
              "TLS mock info");
        tls_get(&v, v.ca_file, 0, WSIG_OK, 0, "valid cert, its CA");
        tls_get(&v, NULL, 0, WSIG_ERR_TRANSPORT, 60, "valid cert, system CAs");
        /* Both test CAs have the same name: OpenSSL fails the signature check
         * inside the handshake (curl 35 "EVP lib") or reports 60. */
        tls_get(&v, e.ca_file, 0, WSIG_ERR_TRANSPORT, -1, "valid cert, another CA");
        tls_get(&v, NULL, 1, WSIG_OK, 0, "valid cert, insecure");
        tls_get(&e, e.ca_file, 0, WSIG_ERR_TRANSPORT, 60, "expired cert, its CA");
        tls_get(&e, NULL, 1, WSIG_OK, 0, "expired cert, insecure");
        tls_get(&w, w.ca_file, 0, WSIG_ERR_TRANSPORT, 60, "wrong host, its CA");
        tls_get(&w, NULL, 1, WSIG_OK, 0, "wrong host, insecure");

        /* Halogen over TLS with the CA. */
        wsig_error err = WSIG_ERROR_INIT;
        wsig_key *k = NULL;
        char kid[160];
        if (wsig_key_generate(&k, WSIG_KEY_P256, 0, &err) == WSIG_OK &&
            register_key(&v, k, NULL, NULL, kid, sizeof kid)) {
            wsig_auth *a = jwt_auth(k, kid, WSIG_JWT_DER);
            wsig_client_options o = {.ca_file = v.ca_file};
            wsig_client *c = client_at(v.url, a, &o);
            char *json = NULL;
            int rc = c ? wsig_client_query(c, &json, "list_client_accounts", NULL, &err) : -1;
            CHECK(rc == WSIG_OK && json && strstr(json, "account_123"), "query over TLS: %s",
                  err.message);
            wsig_free(json);
            json = NULL;
            rc = c ? wsig_client_command(c, &json, "update_display_currency",
                                         "{\"displayCurrency\":\"USD\"}", NULL, &err)
                   : -1;
            CHECK(rc == WSIG_OK, "command over TLS: %s", err.message);
            wsig_free(json);
            wsig_client_free(c);
            wsig_auth_free(a);
        }
        wsig_key_free(k);
        wsig_error_clear(&err);
    }
    t_mock_stop(&v);
    t_mock_stop(&e);
    t_mock_stop(&w);
}
