/* libFuzzer target: response handling of the HTTP client, fed through a fake
 * transport: a tiny HTTP server thread inside this process, on 127.0.0.1,
 * answers every request with the fuzzed bytes, verbatim, then closes the
 * connection. wsig_client_request / _query / _command / _call run against it
 * unmodified (real libcurl, real sockets), with short timeouts and tiny
 * backoffs so each input stays bounded.
 *
 * Input layout:
 *   byte 0   bits 0-2 call: 0 request GET, 1 request POST (+ extra header),
 *            2 request HEAD, 3 query, 4 command (idempotency key), 5 call GET,
 *            6 call POST, 7 call POST with a response verifier;
 *            bits 3-4 max_429_attempts - 1; bit 5 max_response 256 bytes;
 *            bit 6 one retry of 5xx/transport failures (else none);
 *            bit 7 auth: jwt (P-256) instead of hmac
 *   field    query and command only: the payload JSON (NUL-terminated)
 *   rest     the raw HTTP response (status line, headers, body), sent as is
 *            on every connection of this input
 *
 * Properties: only the documented statuses; an OK response has a body that is
 * NUL-terminated at body_len, within max_response, and attempts within the
 * limits; an HTTP error record owns a copy of the body; results are JSON.
 * Query and command: a payload the client accepts goes out as a request body
 * that is exactly one JSON object {"name":..,"payload":..} holding that name
 * and that payload, nothing else (no member injected by the payload text).
 */
#include "fuzz_common.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NO_COVERAGE __attribute__((no_sanitize("coverage")))

static int g_listen = -1;
static char g_base_url[64];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *g_resp;
static size_t g_resp_len;
static char g_req_body[8192]; /* body of the last request, NUL-terminated */
static size_t g_req_body_len;
static wsig_auth *g_hmac, *g_jwt;
static wsig_message_verifier *g_verifier;

/* Read one request: headers up to CRLFCRLF, then Content-Length bytes. */
NO_COVERAGE static void read_request(int c)
{
    char buf[65536];
    size_t n = 0, need = 0;
    char *end = NULL;
    while (n < sizeof buf - 1) {
        ssize_t r = recv(c, buf + n, sizeof buf - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            for (char *p = buf; p < end; p++)
                if (strncasecmp(p, "\r\nContent-Length:", 17) == 0) {
                    need = strtoul(p + 17, NULL, 10);
                    break;
                }
            need += (size_t)(end + 4 - buf);
        }
        if (end && n >= need)
            break;
    }
    if (end) {
        size_t start = (size_t)(end + 4 - buf), len = n > start ? n - start : 0;
        pthread_mutex_lock(&g_lock);
        g_req_body_len = len < sizeof g_req_body ? len : sizeof g_req_body - 1;
        memcpy(g_req_body, buf + start, g_req_body_len);
        g_req_body[g_req_body_len] = '\0';
        pthread_mutex_unlock(&g_lock);
    }
}

NO_COVERAGE static void *serve(void *arg)
{
    for (;;) {
        int c = accept(g_listen, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        struct timeval tv = {1, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        read_request(c);
        pthread_mutex_lock(&g_lock);
        size_t len = g_resp_len, off = 0;
        uint8_t *copy = malloc(len ? len : 1);
        if (len)
            memcpy(copy, g_resp, len);
        pthread_mutex_unlock(&g_lock);
        while (off < len) {
            ssize_t w = send(c, copy + off, len - off, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        free(copy);
        shutdown(c, SHUT_WR);
        close(c);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    signal(SIGPIPE, SIG_IGN);
    g_listen = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(g_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (g_listen < 0 || bind(g_listen, (struct sockaddr *)&a, sizeof a) != 0 || listen(g_listen, 64) != 0 ||
        getsockname(g_listen, (struct sockaddr *)&a, &al) != 0) {
        perror("fuzz_response: listen");
        abort();
    }
    snprintf(g_base_url, sizeof g_base_url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    pthread_t t;
    if (pthread_create(&t, NULL, serve, NULL) != 0)
        abort();
    pthread_detach(t);

    wsig_error err = WSIG_ERROR_INIT;
    if (wsig_auth_hmac_new(&g_hmac, "fuzz-api-key", "fuzz-secret", 11, NULL, &err) != WSIG_OK)
        abort();
    wsig_key *k = fz_load_key(FZ_P256_PRIVATE_PEM);
    if (wsig_auth_jwt_new(&g_jwt, k, "fuzz-kid", NULL, &err) != WSIG_OK)
        abort();
    wsig_key_free(k);
    if (wsig_message_verifier_new(&g_verifier, FZ_TRUSTED_ADDRESSES, FZ_N_TRUSTED, NULL, &err) != WSIG_OK)
        abort();
    return 0;
}

static void check_http_error(const wsig_error *err)
{
    /* Any final status outside 2xx is an error (a final 1xx too); a 3xx is
     * never followed. */
    FZ_CHECK(err->http_status >= 100 && err->http_status <= 599 &&
                 (err->http_status < 200 || err->http_status > 299),
             "http_status %ld", err->http_status);
    FZ_CHECK(err->http_status < 400 || !err->location, "location on a %ld", err->http_status);
    FZ_CHECK(err->body && err->body[err->body_len] == '\0', "error body not owned/terminated");
    FZ_CHECK(err->retry_after == -1.0 || err->retry_after >= 0, "retry_after %g", err->retry_after);
}

/* A result handed out as a C string must be JSON as a C string. */
static void check_json_result(const char *r)
{
    FZ_CHECK(r, "OK without a result");
    if (fz_skip("lenient-json"))
        return;
    cJSON *j = cJSON_Parse(r);
    FZ_CHECK(j, "result is not JSON: %s", r);
    cJSON_Delete(j);
}

/* The request a query/command sent: {"name":NAME,"payload":PAYLOAD}, one
 * complete object with exactly those two members. */
static void check_request_body(const char *name, const char *payload)
{
    pthread_mutex_lock(&g_lock);
    char body[sizeof g_req_body];
    size_t n = g_req_body_len;
    memcpy(body, g_req_body, n + 1);
    pthread_mutex_unlock(&g_lock);
    if (n == 0)
        return; /* nothing reached the server (e.g. a refused payload) */
    if (fz_skip("lenient-json") && !fz_plain_json(payload, strlen(payload)))
        return; /* the known lenient payload check, skipped on request */
    /* Whole body (body[n] is its NUL): nothing may follow the object. */
    cJSON *j = cJSON_ParseWithLengthOpts(body, n + 1, NULL, 1);
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(j, "name");
    FZ_CHECK(cJSON_IsObject(j) && cJSON_GetArraySize(j) == 2 && cJSON_IsString(nm) &&
                 strcmp(nm->valuestring, name) == 0 &&
                 cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "payload")),
             "request body is not {\"name\":\"%s\",\"payload\":{..}}: [%s]", name, body);
    cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t f = fz_init(data, size);
    uint8_t flags = fz_u8(&f);
    int call = flags & 7, max429 = ((flags >> 3) & 3) + 1;
    char *payload = (call == 3 || call == 4) ? fz_str(&f, NULL) : NULL;
    size_t len;
    uint8_t *resp = fz_rest(&f, &len);
    pthread_mutex_lock(&g_lock);
    g_resp = resp;
    g_resp_len = len;
    g_req_body_len = 0;
    g_req_body[0] = '\0';
    pthread_mutex_unlock(&g_lock);

    wsig_client_options o = {0};
    o.timeout = 2;
    o.connect_timeout = 1;
    o.max_response = (flags & 32) ? 256 : 0;
    o.max_429_attempts = max429;
    o.max_retry_after = 0.05;
    o.max_retries = (flags & 64) ? 1 : 0;
    o.backoff = 0.001;
    o.rate = -1;
    o.response_verifier = call == 7 ? g_verifier : NULL;
    size_t max_body = o.max_response ? o.max_response : 16u << 20;
    int max_attempts = max429 + ((flags & 64) ? 1 : 0);

    wsig_client *c = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_client_new(&c, g_base_url, (flags & 128) ? g_jwt : g_hmac, &o, &err);
    FZ_CHECK(rc == WSIG_OK, "client: %s", err.message);

    if (call <= 2) {
        static const char *const methods[3] = {"GET", "POST", "HEAD"};
        wsig_header_ref extra[1] = {{"X-Request-Id", "fuzz-1"}};
        wsig_response res;
        rc = wsig_client_request(c, &res, methods[call], "/v1/wallet/list?skip=0&take=25",
                                 call == 1 ? "{\"a\":1}" : NULL, call == 1 ? 7 : 0,
                                 call == 1 ? extra : NULL, call == 1 ? 1 : 0, &err);
        fz_check_err(&err, rc);
        FZ_CHECK(rc == WSIG_OK || rc == WSIG_ERR_TRANSPORT || rc == WSIG_ERR_TIMEOUT ||
                     rc == WSIG_ERR_PROTOCOL,
                 "request: %s (%s)", wsig_status_name(rc), err.message);
        if (rc == WSIG_OK) {
            /* libcurl passes odd status lines through: "HTTP/29 x" is status 9,
             * "HTTP/1.1 15033 x" is 15033. */
            FZ_CHECK(res.status >= 0, "status %ld", res.status);
            FZ_CHECK(res.body && res.body[res.body_len] == '\0', "body not terminated");
            FZ_CHECK(res.body_len <= max_body, "body of %zu bytes over the cap", res.body_len);
            FZ_CHECK(res.attempts >= 1 && res.attempts <= max_attempts, "%d attempts", res.attempts);
            size_t hl;
            const char *ct = wsig_response_header(&res, "Content-Type", &hl);
            FZ_CHECK(!ct || (ct >= res.headers && ct + hl <= res.headers + res.headers_len),
                     "header value outside the header block");
        }
        wsig_response_clear(&res);
    } else {
        char *result = NULL;
        const char *name = call == 3 ? "list_client_accounts" : "create_transfer";
        if (call == 3)
            rc = wsig_client_query(c, &result, name, payload, &err);
        else if (call == 4)
            rc = wsig_client_command(c, &result, name, payload, "idem-fuzz-1", &err);
        else if (call == 5)
            rc = wsig_client_call(c, &result, "GET", "/v1/wallet/balance?id=7", NULL, &err);
        else
            rc = wsig_client_call(c, &result, "POST", "/v1/wallet/withdraw", "{\"amount\":\"1.5\"}", &err);
        fz_check_err(&err, rc);
        if (call <= 4 && rc != WSIG_ERR_ARG)
            check_request_body(name, payload);
        FZ_CHECK(rc == WSIG_OK || rc == WSIG_ERR_HTTP || rc == WSIG_ERR_TRANSPORT ||
                     rc == WSIG_ERR_TIMEOUT || rc == WSIG_ERR_PROTOCOL ||
                     (call >= 5 && (rc == WSIG_ERR_RPC || rc == WSIG_INVALID)) ||
                     (call <= 4 && rc == WSIG_ERR_ARG), /* a payload that is not an object */
                 "call %d: %s (%s)", call, wsig_status_name(rc), err.message);
        if ((call == 3 || call == 4) && fz_plain_json(payload, strlen(payload))) {
            cJSON *p = cJSON_Parse(payload);
            FZ_CHECK(rc != WSIG_ERR_ARG || !cJSON_IsObject(p), "payload object refused (%s): %s", err.message,
                     payload);
            cJSON_Delete(p);
        }
        FZ_CHECK((rc == WSIG_OK) == (result != NULL), "result pointer and status disagree");
        if (rc == WSIG_OK)
            check_json_result(result);
        if (rc == WSIG_ERR_HTTP)
            check_http_error(&err);
        if (rc == WSIG_ERR_RPC && err.data_json)
            check_json_result(err.data_json);
        wsig_free(result);
    }
    wsig_error_clear(&err);
    wsig_client_free(c);
    free(payload);
    pthread_mutex_lock(&g_lock);
    g_resp = NULL;
    g_resp_len = 0;
    pthread_mutex_unlock(&g_lock);
    free(resp);
    return 0;
}
