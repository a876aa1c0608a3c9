/* walletsign's query loop against a bare libcurl loop, both talking to the
 * same local server (scripts/bench.sh starts nginx answering POST /query).
 *
 *   http_loop BASE_URL [--keys DIR] [--requests N] [--rounds R] [--only hmac|bare|jwt]
 *
 * --only sends N requests with one loop, untimed, for a profiler
 * (valgrind --tool=callgrind, perf record).
 *
 *   http_loop BASE_URL --floor N [--sign]
 *
 * --floor times N bare libcurl requests (after a warm-up of ~N/4) and prints
 * one JSON line {"op":"bare_query","n":...,"ns_per_op":...,"cpu_ns_per_op":...}
 * (wall and process CPU time): the round-trip half of Client.query's CPU
 * floor in bench/python_bench.py (#14), interleaved with its rounds. With
 * --sign each request is preceded by a bare ES256 EVP_PKEY_sign of a digest
 * (KEYS/p256_pkcs8.pem), op "sign_bare_query": the same two halves done in
 * one loop, as a client does them, so each runs with the caches the other
 * left (the halves timed apart, each in its own hot loop, cost less).
 *
 * A round sends N requests with each of: wsig_client_query over an HMAC auth
 * (A), a bare libcurl loop (B), and wsig_client_query over an ES256 JWT auth
 * (C), as A,B,C in even rounds and C,B,A in odd ones. Ratios are per round
 * (A/B, C/B) and the medians are reported. Wall-clock time: the server runs on the same core and is part of
 * every request, so the ratio is "whole request with walletsign" over
 * "whole request without".
 *
 * The bare loop is the least a caller could do: one easy handle configured
 * once and reused (keep-alive), the same body, the same number of request
 * headers with values of the same length, the same User-Agent, POST.
 */
#define _GNU_SOURCE
#include <walletsign.h>
#include "stats.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROUNDS 64
_Static_assert(MAX_ROUNDS <= STATS_MAX_ROUNDS, "median() sorts at most STATS_MAX_ROUNDS");

static const char NAME[] = "list_client_accounts";
/* What wsig_client_query sends for NAME with payload NULL. */
static const char BODY[] = "{\"name\":\"list_client_accounts\",\"payload\":{}}";

static void die(const char *what, const wsig_error *err)
{
    fprintf(stderr, "http_loop: %s%s%s\n", what, err ? ": " : "", err ? err->message : "");
    exit(2);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* The client's own CPU time (user + system): the part of a request's wall
 * time that is not the server's nor waiting. Printed as a diagnostic. */
static double cpu_s(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

typedef struct {
    wsig_client *client;
    wsig_error err;
} wsig_side;

static void wsig_requests(wsig_side *s, long n)
{
    for (long i = 0; i < n; i++) {
        char *result = NULL;
        if (wsig_client_query(s->client, &result, NAME, NULL, &s->err) != WSIG_OK)
            die("wsig_client_query", &s->err);
        wsig_free(result);
    }
}

typedef struct {
    CURL *h;
    struct curl_slist *headers;
    char *buf;
    size_t len, cap;
} bare_side;

static size_t bare_write(char *p, size_t size, size_t n, void *ud)
{
    bare_side *b = ud;
    size_t k = size * n;
    if (b->len + k > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + k)
            cap *= 2;
        char *d = realloc(b->buf, cap);
        if (!d)
            return 0;
        b->buf = d;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, p, k);
    b->len += k;
    return k;
}

static void bare_requests(bare_side *b, long n)
{
    for (long i = 0; i < n; i++) {
        long status = 0;
        b->len = 0;
        CURLcode rc = curl_easy_perform(b->h);
        if (rc != CURLE_OK)
            die(curl_easy_strerror(rc), NULL);
        curl_easy_getinfo(b->h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 || b->len == 0)
            die("bare request: not a 200 with a body", NULL);
    }
}

static void bare_setup(bare_side *b, const char *base_url)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/query", base_url);
    /* Same header count and value lengths as walletsign's hmac request. */
    static const char *const lines[] = {
        "x-api-key: bench-api-key",
        "x-timestamp: 1730998051892",
        "x-signature: 0123456789abcdefghijklmnopqrstuvwxyzABCDEFG=",
        "Expect:",
        "Content-Type: application/json",
        "Accept: application/json",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct curl_slist *t = curl_slist_append(b->headers, lines[i]);
        if (!t)
            die("curl_slist_append", NULL);
        b->headers = t;
    }
    if (!(b->h = curl_easy_init()))
        die("curl_easy_init", NULL);
    curl_easy_setopt(b->h, CURLOPT_URL, url);
    curl_easy_setopt(b->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(b->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(b->h, CURLOPT_USERAGENT, "walletsign/" WSIG_VERSION " (c)");
    curl_easy_setopt(b->h, CURLOPT_HTTPHEADER, b->headers);
    curl_easy_setopt(b->h, CURLOPT_POSTFIELDS, BODY);
    curl_easy_setopt(b->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(sizeof BODY - 1));
    curl_easy_setopt(b->h, CURLOPT_WRITEFUNCTION, bare_write);
    curl_easy_setopt(b->h, CURLOPT_WRITEDATA, b);
}

/* The bare ES256 signature of --floor --sign: c_sign's raw_es256. */
typedef struct {
    EVP_PKEY_CTX *ctx;
    unsigned char digest[32], sig[128];
} bare_signer;

static void bare_signer_setup(bare_signer *s, const char *keys)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/p256_pkcs8.pem", keys);
    FILE *f = fopen(path, "r");
    EVP_PKEY *pkey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    s->ctx = pkey ? EVP_PKEY_CTX_new(pkey, NULL) : NULL;
    EVP_PKEY_free(pkey);
    if (!s->ctx || EVP_PKEY_sign_init(s->ctx) != 1)
        die("bare ES256 signer set-up", NULL);
    memset(s->digest, 0x5a, sizeof s->digest);
}

static void bare_sign_requests(bare_side *b, bare_signer *s, long n)
{
    for (long i = 0; i < n; i++) {
        size_t len = sizeof s->sig;
        if (s->ctx && EVP_PKEY_sign(s->ctx, s->sig, &len, s->digest, sizeof s->digest) != 1)
            die("EVP_PKEY_sign", NULL);
        bare_requests(b, 1);
    }
}

/* --floor N [--sign]: the bare loop alone, one JSON line (see the top comment). */
static int bare_floor(const char *base, const char *keys, long n, int sign)
{
    bare_side b = {0};
    bare_signer s = {0};
    bare_setup(&b, base);
    if (sign)
        bare_signer_setup(&s, keys);
    bare_sign_requests(&b, &s, n / 4 + 1);
    double c0 = cpu_s(), t0 = now_s();
    bare_sign_requests(&b, &s, n);
    double c1 = cpu_s(), t1 = now_s();
    printf("{\"op\":\"%s\",\"n\":%ld,\"ns_per_op\":%.1f,\"cpu_ns_per_op\":%.1f,"
           "\"clock\":\"wall\"}\n",
           sign ? "sign_bare_query" : "bare_query", n, (t1 - t0) / (double)n * 1e9,
           (c1 - c0) / (double)n * 1e9);
    EVP_PKEY_CTX_free(s.ctx);
    curl_easy_cleanup(b.h);
    curl_slist_free_all(b.headers);
    free(b.buf);
    curl_global_cleanup();
    return 0;
}

static void range(const double *v, int n, double *lo, double *hi)
{
    *lo = *hi = v[0];
    for (int i = 1; i < n; i++) {
        *lo = v[i] < *lo ? v[i] : *lo;
        *hi = v[i] > *hi ? v[i] : *hi;
    }
}

static void report(const char *label, const double *tw, const double *tb, const double *ratio,
                   const double *cw, const double *cb, int rounds, long n, double target,
                   int *misses)
{
    double lo, hi, m = median(ratio, rounds);
    range(ratio, rounds, &lo, &hi);
    printf("%-26s walletsign %7.1f us/req  bare curl %7.1f us/req  ratio %5.3f  [%5.3f..%5.3f]  "
           "%2d x %ld req  client CPU %5.1f vs %5.1f us/req  ",
           label, median(tw, rounds) * 1e6, median(tb, rounds) * 1e6, m, lo, hi, rounds, n,
           median(cw, rounds) * 1e6, median(cb, rounds) * 1e6);
    if (target > 0) {
        printf("target <= %.2f  %s\n", target, m <= target ? "PASS" : "MISS");
        *misses += m > target;
    } else {
        printf("(informational)\n");
    }
}

int main(int argc, char **argv)
{
    const char *base = NULL, *keys = "tests/vectors/keys", *only = NULL;
    long n = 500, floor_n = 0;
    int floor_sign = 0;
    int rounds = 21;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc)
            keys = argv[++i];
        else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc)
            n = atol(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--floor") == 0 && i + 1 < argc)
            floor_n = atol(argv[++i]);
        else if (strcmp(argv[i], "--sign") == 0)
            floor_sign = 1;
        else if (!base && argv[i][0] != '-')
            base = argv[i];
        else
            base = NULL, i = argc;
    }
    if (!base || n < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: http_loop BASE_URL [--keys DIR] [--requests N] [--rounds 1..64] "
                        "[--only hmac|bare|jwt] [--floor N [--sign]]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (floor_n > 0)
        return bare_floor(base, keys, floor_n, floor_sign);

    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *hmac, *jwt;
    wsig_key *key;
    char path[1024];
    snprintf(path, sizeof path, "%s/p256_pkcs8.pem", keys);
    if (wsig_auth_hmac_new(&hmac, "bench-api-key", "bench-secret-of-32-bytes-length!", 32, NULL,
                           &err) != WSIG_OK ||
        wsig_key_load_file(&key, path, NULL, &err) != WSIG_OK ||
        wsig_auth_jwt_new(&jwt, key, "bench-key-id-0123456789", NULL, &err) != WSIG_OK)
        die("auth set-up", &err);
    wsig_key_free(key);

    /* No limiter (rate < 0) and no retries: only the request path is timed. */
    wsig_client_options opt = {.rate = -1, .max_retries = 0};
    wsig_side a = {.err = WSIG_ERROR_INIT}, c = {.err = WSIG_ERROR_INIT};
    if (wsig_client_new(&a.client, base, hmac, &opt, &err) != WSIG_OK ||
        wsig_client_new(&c.client, base, jwt, &opt, &err) != WSIG_OK)
        die("wsig_client_new", &err);
    bare_side b = {0};
    bare_setup(&b, base);

    if (only) {
        if (strcmp(only, "hmac") == 0)
            wsig_requests(&a, n);
        else if (strcmp(only, "bare") == 0)
            bare_requests(&b, n);
        else if (strcmp(only, "jwt") == 0)
            wsig_requests(&c, n);
        else
            die("--only takes hmac, bare or jwt", NULL);
        return 0;
    }

    /* Warm-up: connections opened, caches and allocator settled. */
    long warm = n / 10 > 50 ? n / 10 : 50;
    wsig_requests(&a, warm);
    bare_requests(&b, warm);
    wsig_requests(&c, warm);

    double ta[MAX_ROUNDS], tb[MAX_ROUNDS], tc[MAX_ROUNDS], ra[MAX_ROUNDS], rc[MAX_ROUNDS];
    double ca[MAX_ROUNDS], cb[MAX_ROUNDS], cc[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        /* A,B,C then C,B,A: the bare loop always sits between the two
         * walletsign loops, so neither inherits a fixed position. */
        wsig_side *first = r % 2 ? &c : &a, *last = r % 2 ? &a : &c;
        double c0 = cpu_s(), t0 = now_s();
        wsig_requests(first, n);
        double c1 = cpu_s(), t1 = now_s();
        bare_requests(&b, n);
        double c2 = cpu_s(), t2 = now_s();
        wsig_requests(last, n);
        double c3 = cpu_s(), t3 = now_s();
        double tf = (t1 - t0) / (double)n, tl = (t3 - t2) / (double)n;
        double cf = (c1 - c0) / (double)n, cl = (c3 - c2) / (double)n;
        ta[r] = r % 2 ? tl : tf;
        tc[r] = r % 2 ? tf : tl;
        ca[r] = r % 2 ? cl : cf;
        cc[r] = r % 2 ? cf : cl;
        tb[r] = (t2 - t1) / (double)n;
        cb[r] = (c2 - c1) / (double)n;
        ra[r] = ta[r] / tb[r];
        rc[r] = tc[r] / tb[r];
    }
    int misses = 0;
    printf("# http_loop: POST /query to %s, median of %d interleaved rounds (hmac,bare,jwt / jwt,bare,hmac) of "
           "%ld requests each, wall time\n",
           base, rounds, n);
    report("http_query_hmac", ta, tb, ra, ca, cb, rounds, n, 1.30, &misses);
    report("http_query_jwt_es256", tc, tb, rc, cc, cb, rounds, n, 0, &misses);
    printf("# http_loop: %d target(s) missed\n", misses);

    wsig_client_free(a.client);
    wsig_client_free(c.client);
    wsig_auth_free(hmac);
    wsig_auth_free(jwt);
    curl_easy_cleanup(b.h);
    curl_slist_free_all(b.headers);
    free(b.buf);
    curl_global_cleanup();
    return 0;
}
