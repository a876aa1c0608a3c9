/* walletsign's signing and verification against the bare primitive each one
 * wraps, measured in one process so only ratios are compared.
 *
 * Each comparison calibrates one iteration count n (about --round-ms of the
 * raw primitive), then runs rounds A (walletsign), B (raw), A, B, ... of n
 * operations each. A round's ratio is A's time per op over B's in that same
 * round; the median of the round ratios is reported against the target.
 * Before timing, each fixture is checked: tokens and messages verify, and the
 * raw side works on the very prehash walletsign builds (same HMAC output,
 * recovery of walletsign's own signature to its own key).
 *
 *   c_sign [--keys DIR] [--rounds N] [--round-ms MS] [--wall]
 *   c_sign --profile NAME [ITERS]   run one op ITERS times, untimed (for
 *                                   valgrind --tool=callgrind); NAME is
 *                                   es256|hmac|msg_sign|msg_verify|rs256,
 *                                   prefixed with raw_ for the primitive.
 *   c_sign --floor OP N [--url BASE_URL] [--wall]
 *                                   the "C floor" of the Python and Lua
 *                                   benchmarks: after a warm-up of ~N/4, time
 *                                   N walletsign calls made straight from C,
 *                                   exactly as a binding makes them (clock
 *                                   read inside the call, the caller's error
 *                                   record), and print one JSON line
 *                                   {"op":..., "n":..., "ns_per_op":...,
 *                                   "cpu_ns_per_op":..., "clock":...}.
 *                                   OP is es256|hmac|msg_sign|msg_verify,
 *                                   prefixed with raw_ for the bare
 *                                   primitive (thread CPU time, like the
 *                                   rounds above; raw_es256 is the sign half
 *                                   of Client.query's CPU floor)
 *                                   or query (wsig_client_query of
 *                                   "list_client_accounts" with the HMAC auth
 *                                   on one keep-alive client, no limiter, no
 *                                   retries, wall time; needs --url), or
 *                                   query_es256 (the same with the ES256 JWT
 *                                   auth: Client.query's C core alone).
 *                                   The calling script interleaves one such
 *                                   run with each of its own rounds.
 */
#define _GNU_SOURCE
#include <walletsign.h>
#include "stats.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROUNDS STATS_MAX_ROUNDS

static const char BODY[] = "{\"name\":\"list_client_accounts\",\"payload\":{}}";
static const char PATH[] = "/query";
static const char SECP_HEX[] = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
static const char HMAC_KEY[] = "bench-api-key";
static const char HMAC_SECRET[] = "bench-secret-of-32-bytes-length!";
static const int64_t FIXED_MS = 1730998051892LL;

static void die(const char *what, const wsig_error *err)
{
    fprintf(stderr, "c_sign: %s%s%s\n", what, err ? ": " : "", err ? err->message : "");
    ERR_print_errors_fp(stderr);
    exit(2);
}

/* This thread's CPU time by default: time spent descheduled (the other
 * tenants of a noisy 2-core VM) is not charged to either side, while system
 * calls and page faults made by the operation still are. --wall switches to
 * CLOCK_MONOTONIC. */
static clockid_t g_clock = CLOCK_THREAD_CPUTIME_ID;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* The operations. Each returns 0 on success.                         */

typedef int (*op_fn)(void *ctx);

/* walletsign side */
/* The error record is the caller's, made once: every call resets it, so a
 * fresh WSIG_ERROR_INIT per call would only time the harness. */
typedef struct {
    wsig_auth *auth;
    wsig_headers h;
    int64_t now_ms;
    wsig_error err;
} sign_ctx;

static int op_wsig_sign(void *p)
{
    sign_ctx *c = p;
    return wsig_auth_sign(c->auth, &c->h, "POST", PATH, BODY, sizeof BODY - 1, c->now_ms, &c->err);
}

typedef struct {
    wsig_message_verifier *v;
    wsig_header_ref refs[WSIG_MAX_HEADERS];
    size_t n;
    int64_t now_ms;
    wsig_error err;
    wsig_message m;
} verify_ctx;

static int op_wsig_verify(void *p)
{
    verify_ctx *c = p;
    return wsig_message_verify(c->v, &c->m, c->refs, c->n, BODY, sizeof BODY - 1, c->now_ms, &c->err);
}

/* --floor query: one Halogen read on a keep-alive client, answer freed */
typedef struct {
    wsig_client *client;
    wsig_error err;
} query_ctx;

static int op_wsig_query(void *p)
{
    query_ctx *c = p;
    char *result = NULL;
    int rc = wsig_client_query(c->client, &result, "list_client_accounts", NULL, &c->err);
    wsig_free(result);
    return rc != WSIG_OK;
}

/* raw OpenSSL signature over a 32-byte digest, one EVP_PKEY_CTX reused */
typedef struct {
    EVP_PKEY_CTX *ctx;
    unsigned char digest[32];
    unsigned char sig[1024];
} pkey_sign_ctx;

static int op_raw_pkey_sign(void *p)
{
    pkey_sign_ctx *c = p;
    size_t len = sizeof c->sig;
    return EVP_PKEY_sign(c->ctx, c->sig, &len, c->digest, 32) == 1 ? 0 : 1;
}

/* raw HMAC-SHA256 (dup of a keyed template) + base64 of the same prehash */
typedef struct {
    EVP_MAC_CTX *tmpl;
    char prehash[256];
    size_t prehash_len;
    unsigned char b64[64];
} raw_hmac_ctx;

static int op_raw_hmac(void *p)
{
    raw_hmac_ctx *c = p;
    unsigned char mac[32];
    size_t len = 0;
    EVP_MAC_CTX *m = EVP_MAC_CTX_dup(c->tmpl);
    int ok = m && EVP_MAC_update(m, (const unsigned char *)c->prehash, c->prehash_len) &&
             EVP_MAC_final(m, mac, &len, sizeof mac) && len == 32;
    EVP_MAC_CTX_free(m);
    return ok && EVP_EncodeBlock(c->b64, mac, 32) == 44 ? 0 : 1;
}

/* raw libsecp256k1: SHA-256 of the prehash + recoverable signature */
typedef struct {
    secp256k1_context *secp;
    EVP_MD_CTX *md_ctx;
    const EVP_MD *md;
    unsigned char seckey[32];
    char prehash[256];
    size_t prehash_len;
    secp256k1_ecdsa_recoverable_signature rsig;
    unsigned char digest[32];
    secp256k1_pubkey pub;
} raw_secp_ctx;

static int op_raw_secp_sign(void *p)
{
    raw_secp_ctx *c = p;
    unsigned char digest[32];
    if (!EVP_DigestInit_ex2(c->md_ctx, c->md, NULL) ||
        !EVP_DigestUpdate(c->md_ctx, c->prehash, c->prehash_len) ||
        !EVP_DigestFinal_ex(c->md_ctx, digest, NULL))
        return 1;
    return secp256k1_ecdsa_sign_recoverable(c->secp, &c->rsig, digest, c->seckey, NULL, NULL) ? 0 : 1;
}

static int op_raw_secp_recover(void *p)
{
    raw_secp_ctx *c = p;
    return secp256k1_ecdsa_recover(c->secp, &c->pub, &c->rsig, c->digest) ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* Set-up                                                             */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 16);
    *len = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[*len] = '\0';
    return buf;
}

/* The same private key for walletsign and for OpenSSL. */
static void load_pair(const char *path, wsig_key **key, EVP_PKEY **pkey)
{
    wsig_error err = WSIG_ERROR_INIT;
    size_t len;
    char *pem = read_file(path, &len);
    if (!pem)
        die(path, NULL);
    if (wsig_key_load_pem(key, pem, len, NULL, &err) != WSIG_OK)
        die("wsig_key_load_pem", &err);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    free(pem);
    if (!*pkey)
        die("PEM_read_bio_PrivateKey", NULL);
}

static void setup_pkey_sign(pkey_sign_ctx *c, EVP_PKEY *pkey, int rsa)
{
    c->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!c->ctx || EVP_PKEY_sign_init(c->ctx) != 1)
        die("EVP_PKEY_sign_init", NULL);
    if (rsa && (EVP_PKEY_CTX_set_rsa_padding(c->ctx, RSA_PKCS1_PADDING) != 1 ||
                EVP_PKEY_CTX_set_signature_md(c->ctx, EVP_sha256()) != 1))
        die("RSA PKCS#1 v1.5 SHA-256 setup", NULL);
    if (RAND_bytes(c->digest, 32) != 1)
        die("RAND_bytes", NULL);
}

typedef struct {
    sign_ctx es256, rs256, hmac, msg;
    verify_ctx verify;
    pkey_sign_ctx raw_es256, raw_rs256;
    raw_hmac_ctx raw_hmac;
    raw_secp_ctx raw_secp;
} bench;

static void setup(bench *b, const char *keys)
{
    wsig_error err = WSIG_ERROR_INIT;
    char path[1024];
    wsig_key *key;
    EVP_PKEY *pkey;

    /* ES256 */
    snprintf(path, sizeof path, "%s/p256_pkcs8.pem", keys);
    load_pair(path, &key, &pkey);
    if (wsig_auth_jwt_new(&b->es256.auth, key, "bench-key-id-0123456789", NULL, &err) != WSIG_OK)
        die("wsig_auth_jwt_new", &err);
    /* The token must verify, or we would be timing a failure path. */
    if (op_wsig_sign(&b->es256))
        die("ES256 sign", NULL);
    wsig_jwt_claims claims;
    const char *tok = b->es256.h.h[0].value + strlen("Bearer ");
    if (wsig_jwt_verify(key, &claims, tok, strlen(tok), 0, 0, PATH, BODY, sizeof BODY - 1, &err) !=
        WSIG_OK)
        die("ES256 token does not verify", &err);
    wsig_key_free(key);
    setup_pkey_sign(&b->raw_es256, pkey, 0);
    EVP_PKEY_free(pkey);

    /* RS256-4096 */
    snprintf(path, sizeof path, "%s/rsa4096_pkcs8.pem", keys);
    load_pair(path, &key, &pkey);
    if (wsig_key_bits(key) != 4096)
        die("rsa4096_pkcs8.pem is not RSA-4096", NULL);
    if (wsig_auth_jwt_new(&b->rs256.auth, key, "bench-key-id-0123456789", NULL, &err) != WSIG_OK)
        die("wsig_auth_jwt_new (RSA)", &err);
    if (op_wsig_sign(&b->rs256))
        die("RS256 sign", NULL);
    tok = b->rs256.h.h[0].value + strlen("Bearer ");
    if (wsig_jwt_verify(key, &claims, tok, strlen(tok), 0, 0, PATH, BODY, sizeof BODY - 1, &err) !=
        WSIG_OK)
        die("RS256 token does not verify", &err);
    wsig_key_free(key);
    setup_pkey_sign(&b->raw_rs256, pkey, 1);
    EVP_PKEY_free(pkey);

    /* HMAC: the raw side MACs the exact prehash walletsign builds. */
    if (wsig_auth_hmac_new(&b->hmac.auth, HMAC_KEY, HMAC_SECRET, sizeof HMAC_SECRET - 1, NULL,
                           &err) != WSIG_OK)
        die("wsig_auth_hmac_new", &err);
    raw_hmac_ctx *rh = &b->raw_hmac;
    rh->prehash_len = (size_t)snprintf(rh->prehash, sizeof rh->prehash, "%lld|POST|%s|%s",
                                       (long long)FIXED_MS, PATH, BODY);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    rh->tmpl = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (!rh->tmpl ||
        !EVP_MAC_init(rh->tmpl, (const unsigned char *)HMAC_SECRET, sizeof HMAC_SECRET - 1, params))
        die("HMAC template", NULL);
    b->hmac.now_ms = FIXED_MS;
    if (op_wsig_sign(&b->hmac) || op_raw_hmac(rh) ||
        strcmp(b->hmac.h.h[2].value, (const char *)rh->b64) != 0)
        die("walletsign's x-signature differs from the raw HMAC of the same prehash", NULL);
    b->hmac.now_ms = 0; /* timed with the clock read, as in real use */

    /* message: same scalar on both sides */
    if (wsig_key_from_hex(&key, SECP_HEX, &err) != WSIG_OK ||
        wsig_auth_message_new(&b->msg.auth, key, NULL, &err) != WSIG_OK)
        die("message auth", &err);
    wsig_key_free(key);
    raw_secp_ctx *rs = &b->raw_secp;
    rs->secp = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    unsigned char seed[32];
    for (int i = 0; i < 32; i++)
        sscanf(SECP_HEX + 2 * i, "%2hhx", &rs->seckey[i]);
    rs->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    rs->md_ctx = EVP_MD_CTX_new();
    if (!rs->secp || !rs->md || !rs->md_ctx || RAND_bytes(seed, 32) != 1 ||
        !secp256k1_context_randomize(rs->secp, seed)) /* walletsign blinds too */
        die("secp256k1 set-up", NULL);

    /* A signed message, verified as a receiver would (no replay cache, so
     * the same message verifies every time and nothing grows). */
    /* A fixed session and sequence: with RFC 6979 the signature, and so the
     * work of recovering it, is then the same in every run. */
    if (wsig_message_sign_fixed(b->msg.auth, &b->msg.h, 7186542334561280001ULL, 1, BODY,
                                sizeof BODY - 1, FIXED_MS, &err) != WSIG_OK)
        die("message sign", &err);
    verify_ctx *vc = &b->verify;
    char address[WSIG_ADDRESS_SIZE];
    if (wsig_auth_message_address(b->msg.auth, address, &err) != WSIG_OK)
        die("address", &err);
    const char *trusted[] = {address};
    wsig_message_verifier_options vo = {.no_replay_cache = 1};
    if (wsig_message_verifier_new(&vc->v, trusted, 1, &vo, &err) != WSIG_OK)
        die("wsig_message_verifier_new", &err);
    static wsig_headers signed_h; /* the refs point into it */
    signed_h = b->msg.h;
    vc->n = signed_h.count;
    for (size_t i = 0; i < vc->n; i++)
        vc->refs[i] = (wsig_header_ref){signed_h.h[i].name, signed_h.h[i].value,
                                        signed_h.h[i].name_len, signed_h.h[i].value_len};
    vc->now_ms = FIXED_MS;
    if (op_wsig_verify(vc))
        die("message does not verify", &vc->err);

    /* The raw side signs and recovers over the same prehash shape:
     * TS#SESSION#SEQUENCE#BODY. */
    const char *ts = signed_h.h[1].value, *ses = signed_h.h[2].value, *seq = signed_h.h[3].value;
    rs->prehash_len = (size_t)snprintf(rs->prehash, sizeof rs->prehash, "%s#%s#%s#%s", ts, ses,
                                       seq, BODY);
    if (op_raw_secp_sign(rs))
        die("raw secp256k1 sign", NULL);
    if (!EVP_Digest(rs->prehash, rs->prehash_len, rs->digest, NULL, rs->md, NULL))
        die("SHA-256", NULL);
    /* The raw recovery must use walletsign's own signature and land on its key. */
    unsigned char rsv[65];
    const char *sig_hex = signed_h.h[4].value + 2;
    for (int i = 0; i < 65; i++)
        sscanf(sig_hex + 2 * i, "%2hhx", &rsv[i]);
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(rs->secp, &rs->rsig, rsv, rsv[64] - 27) ||
        op_raw_secp_recover(rs))
        die("raw recovery of walletsign's signature", NULL);
    secp256k1_pubkey expect;
    unsigned char a[65], e[65];
    size_t al = 65, el = 65;
    if (!secp256k1_ec_pubkey_create(rs->secp, &expect, rs->seckey) ||
        !secp256k1_ec_pubkey_serialize(rs->secp, a, &al, &rs->pub, SECP256K1_EC_UNCOMPRESSED) ||
        !secp256k1_ec_pubkey_serialize(rs->secp, e, &el, &expect, SECP256K1_EC_UNCOMPRESSED) ||
        memcmp(a, e, 65) != 0)
        die("raw recovery gives another key: prehashes differ", NULL);
}

/* ------------------------------------------------------------------ */
/* Timing                                                             */

static double run(op_fn f, void *c, long n)
{
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        if (f(c))
            die("operation failed while timed", NULL);
    return now_s() - t0;
}

/* Iterations that take about target seconds; warms caches on the way. The
 * fastest of three estimates is used, so one disturbed estimate cannot
 * shrink every round to a handful of operations. */
static long calibrate(op_fn f, void *c, double target)
{
    double best = 0;
    for (int k = 0; k < 3; k++) {
        long n = 1;
        double t;
        while ((t = run(f, c, n)) < target / 8)
            n *= 2;
        if (k == 0 || t / (double)n < best)
            best = t / (double)n;
    }
    long m = (long)(target / best);
    return m > 0 ? m : 1;
}

static int misses;

static void compare(const char *label, op_fn wsig, void *wc, op_fn raw, void *rc, double target,
                    int rounds, double round_s)
{
    double ta[MAX_ROUNDS], tb[MAX_ROUNDS], ratio[MAX_ROUNDS];
    calibrate(wsig, wc, round_s / 4); /* warm-up */
    long n = calibrate(raw, rc, round_s);
    for (int r = 0; r < rounds; r++) {
        ta[r] = run(wsig, wc, n) / (double)n;
        tb[r] = run(raw, rc, n) / (double)n;
        ratio[r] = ta[r] / tb[r];
    }
    double m = median(ratio, rounds), lo = ratio[0], hi = ratio[0];
    for (int r = 1; r < rounds; r++) {
        lo = ratio[r] < lo ? ratio[r] : lo;
        hi = ratio[r] > hi ? ratio[r] : hi;
    }
    printf("%-26s walletsign %9.2f us  raw %9.2f us  ratio %5.3f  [%5.3f..%5.3f]  %2d x %ld ops  ",
           label, median(ta, rounds) * 1e6, median(tb, rounds) * 1e6, m, lo, hi, rounds, n);
    if (target > 0) {
        printf("target <= %.2f  %s\n", target, m <= target ? "PASS" : "MISS");
        misses += m > target;
    } else {
        printf("(informational)\n");
    }
    fflush(stdout);
}

static const struct {
    const char *name;
    op_fn fn;
    size_t off;
} PROFILES[] = {
    {"es256", op_wsig_sign, offsetof(bench, es256)},
    {"raw_es256", op_raw_pkey_sign, offsetof(bench, raw_es256)},
    {"rs256", op_wsig_sign, offsetof(bench, rs256)},
    {"raw_rs256", op_raw_pkey_sign, offsetof(bench, raw_rs256)},
    {"hmac", op_wsig_sign, offsetof(bench, hmac)},
    {"raw_hmac", op_raw_hmac, offsetof(bench, raw_hmac)},
    {"msg_sign", op_wsig_sign, offsetof(bench, msg)},
    {"raw_msg_sign", op_raw_secp_sign, offsetof(bench, raw_secp)},
    {"msg_verify", op_wsig_verify, offsetof(bench, verify)},
    {"raw_msg_verify", op_raw_secp_recover, offsetof(bench, raw_secp)},
};

/* --floor OP N: warm-up, then N timed calls; one JSON line on stdout. */
static int floor_run(bench *b, const char *op, long n, const char *url)
{
    static const struct {
        const char *name;
        op_fn fn;
        size_t off;
    } FLOORS[] = {
        {"es256", op_wsig_sign, offsetof(bench, es256)},
        {"hmac", op_wsig_sign, offsetof(bench, hmac)},
        {"msg_sign", op_wsig_sign, offsetof(bench, msg)},
        {"msg_verify", op_wsig_verify, offsetof(bench, verify)},
        /* the bare primitive alone (the raw side of the rounds above) */
        {"raw_es256", op_raw_pkey_sign, offsetof(bench, raw_es256)},
        {"raw_hmac", op_raw_hmac, offsetof(bench, raw_hmac)},
        {"raw_msg_sign", op_raw_secp_sign, offsetof(bench, raw_secp)},
        {"raw_msg_verify", op_raw_secp_recover, offsetof(bench, raw_secp)},
    };
    op_fn fn = NULL;
    void *ctx = NULL;
    static query_ctx q = {.err = WSIG_ERROR_INIT};
    if (n < 1)
        die("--floor: N must be at least 1", NULL);
    for (size_t i = 0; i < sizeof FLOORS / sizeof FLOORS[0]; i++)
        if (strcmp(op, FLOORS[i].name) == 0) {
            fn = FLOORS[i].fn;
            ctx = (char *)b + FLOORS[i].off;
        }
    int es256_query = strcmp(op, "query_es256") == 0;
    if (strcmp(op, "query") == 0 || es256_query) {
        if (!url)
            die("--floor query needs --url BASE_URL", NULL);
        /* As the bindings' Client(rate_limit=None, retries=0) and http_loop. */
        wsig_client_options opt = {.rate = -1, .max_retries = 0};
        wsig_error err = WSIG_ERROR_INIT;
        wsig_auth *auth = es256_query ? b->es256.auth : b->hmac.auth;
        if (wsig_client_new(&q.client, url, auth, &opt, &err) != WSIG_OK)
            die("wsig_client_new", &err);
        fn = op_wsig_query;
        ctx = &q;
        g_clock = CLOCK_MONOTONIC; /* the server's share of a request is part of it */
    }
    if (!fn)
        die("--floor: OP is es256, hmac, msg_sign, msg_verify (raw_ for the bare primitive), "
            "query or query_es256", NULL);
    run(fn, ctx, n / 4 + 1); /* warm-up: caches, connection, allocator */
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    double t = run(fn, ctx, n);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    /* cpu_ns_per_op: this thread's CPU time, whatever the clock (for query,
     * the client's own share of a request). */
    printf("{\"op\":\"%s\",\"n\":%ld,\"ns_per_op\":%.1f,\"cpu_ns_per_op\":%.1f,\"clock\":\"%s\"}\n",
           op, n, t / (double)n * 1e9, cpu / (double)n * 1e9,
           g_clock == CLOCK_MONOTONIC ? "wall" : "thread_cpu");
    if (q.client)
        wsig_client_free(q.client);
    return 0;
}

int main(int argc, char **argv)
{
    const char *keys = "tests/vectors/keys", *profile = NULL, *floor_op = NULL, *url = NULL;
    int rounds = 41;
    double round_s = 0.01;
    long iters = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc)
            keys = argv[++i];
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--round-ms") == 0 && i + 1 < argc)
            round_s = atof(argv[++i]) / 1000;
        else if (strcmp(argv[i], "--wall") == 0)
            g_clock = CLOCK_MONOTONIC;
        else if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc) {
            profile = argv[++i];
            if (i + 1 < argc)
                iters = atol(argv[++i]);
        } else if (strcmp(argv[i], "--floor") == 0 && i + 2 < argc) {
            floor_op = argv[++i];
            iters = atol(argv[++i]);
        } else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else {
            fprintf(stderr, "usage: c_sign [--keys DIR] [--rounds N] [--round-ms MS] [--wall] "
                            "[--profile NAME [ITERS]] [--floor OP N [--url BASE_URL]]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || round_s <= 0)
        die("--rounds must be 1..256 and --round-ms positive", NULL);

    static bench b;
    setup(&b, keys);

    if (floor_op)
        return floor_run(&b, floor_op, iters, url);

    if (profile) {
        for (size_t i = 0; i < sizeof PROFILES / sizeof PROFILES[0]; i++)
            if (strcmp(profile, PROFILES[i].name) == 0) {
                void *ctx = (char *)&b + PROFILES[i].off;
                for (long k = 0; k < iters; k++)
                    if (PROFILES[i].fn(ctx))
                        die("operation failed", NULL);
                printf("%s x %ld done\n", profile, iters);
                return 0;
            }
        die("unknown profile name", NULL);
    }

    printf("# c_sign: walletsign / raw primitive, median of %d interleaved rounds (A,B,A,B,...) "
           "of ~%.0f ms, %s time\n",
           rounds, round_s * 1e3, g_clock == CLOCK_MONOTONIC ? "wall" : "thread CPU");
    compare("es256_jwt_sign", op_wsig_sign, &b.es256, op_raw_pkey_sign, &b.raw_es256, 1.25, rounds,
            round_s);
    compare("hmac_headers_sign", op_wsig_sign, &b.hmac, op_raw_hmac, &b.raw_hmac, 1.20, rounds,
            round_s);
    compare("message_headers_sign", op_wsig_sign, &b.msg, op_raw_secp_sign, &b.raw_secp, 1.15,
            rounds, round_s);
    compare("message_verify", op_wsig_verify, &b.verify, op_raw_secp_recover, &b.raw_secp, 1.15,
            rounds, round_s);
    compare("rs256_4096_jwt_sign", op_wsig_sign, &b.rs256, op_raw_pkey_sign, &b.raw_rs256, 0,
            rounds < 11 ? rounds : 11, round_s < 0.06 ? 0.06 : round_s);
    printf("# c_sign: %d target(s) missed\n", misses);
    return 0;
}
