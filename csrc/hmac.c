/* HMAC-SHA256 request signing: x-api-key / x-timestamp / x-signature. */
#include "internal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_METHOD 16
#define POOL_SIZE 8

/* Contexts that have already MACed once. EVP_MAC_init(ctx, NULL, 0, NULL)
 * rewinds one to the keyed state without re-keying or allocating, half the
 * cost of EVP_MAC_CTX_dup + EVP_MAC_CTX_free (OpenSSL 3.0: five allocations
 * and three digest-context copies). The lock keeps one auth usable from many
 * threads; a thread that finds the pool empty dups the template as before. */
struct wsig_mac_pool {
    pthread_mutex_t lock;
    int n;
    EVP_MAC_CTX *ctx[POOL_SIZE];
};

static EVP_MAC_CTX *mac_take(const struct wsig_hmac_auth *a)
{
    EVP_MAC_CTX *ctx = NULL;
    struct wsig_mac_pool *p = a->pool;
    pthread_mutex_lock(&p->lock);
    if (p->n)
        ctx = p->ctx[--p->n];
    pthread_mutex_unlock(&p->lock);
    if (ctx && !EVP_MAC_init(ctx, NULL, 0, NULL)) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx ? ctx : EVP_MAC_CTX_dup(a->mac_template);
}

static void mac_give_back(const struct wsig_hmac_auth *a, EVP_MAC_CTX *ctx)
{
    struct wsig_mac_pool *p = a->pool;
    pthread_mutex_lock(&p->lock);
    if (ctx && p->n < POOL_SIZE) {
        p->ctx[p->n++] = ctx;
        ctx = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    EVP_MAC_CTX_free(ctx);
}

static EVP_MAC_CTX *keyed_template(const unsigned char *secret, size_t len, wsig_error *err)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context keeps its own reference */
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    /* An empty secret is legal HMAC; OpenSSL wants a non-NULL pointer. */
    static const unsigned char none[1];
    if (!ctx || !EVP_MAC_init(ctx, len ? secret : none, len, params)) {
        EVP_MAC_CTX_free(ctx);
        wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "cannot set up HMAC-SHA256");
        return NULL;
    }
    return ctx;
}

static int copy_name(char *dst, const char *src, const char *def, wsig_error *err)
{
    const char *s = src ? src : def;
    size_t n = strlen(s);
    if (n == 0 || n >= WSIG_HEADER_NAME_MAX || strpbrk(s, ": \r\n\t"))
        return wsig__fail(err, WSIG_ERR_ARG, "bad header name");
    memcpy(dst, s, n + 1);
    return WSIG_OK;
}

/* Options shared by signer and verifier. */
static int apply_options(struct wsig_hmac_auth *a, const wsig_hmac_options *opt, wsig_error *err)
{
    wsig_hmac_options none = {0};
    if (!opt)
        opt = &none;
    if (opt->encoding != WSIG_HMAC_BASE64 && opt->encoding != WSIG_HMAC_HEX)
        return wsig__fail(err, WSIG_ERR_ARG, "encoding must be base64 or hex");
    a->encoding = opt->encoding;
    const char *sep = opt->separator ? opt->separator : "|";
    if (strlen(sep) >= sizeof a->separator)
        return wsig__fail(err, WSIG_ERR_ARG, "separator too long");
    strcpy(a->separator, sep);
    int rc;
    if ((rc = copy_name(a->api_key_header, opt->api_key_header, "x-api-key", err)) ||
        (rc = copy_name(a->signature_header, opt->signature_header, "x-signature", err)) ||
        (rc = copy_name(a->timestamp_header, opt->timestamp_header, "x-timestamp", err)))
        return rc;
    return WSIG_OK;
}

static bool header_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n' || *s == '\0')
            return false;
    return true;
}

int wsig__hmac_auth_init(struct wsig_hmac_auth *a, const char *api_key, const char *secret,
                         size_t secret_len, const wsig_hmac_options *opt, wsig_error *err)
{
    int rc = apply_options(a, opt, err);
    if (rc != WSIG_OK)
        return rc;
    if (api_key && (!*api_key || strlen(api_key) >= WSIG_HEADER_VALUE_MAX || !header_safe(api_key)))
        return wsig__fail(err, WSIG_ERR_ARG, "api_key must be a non-empty single-line header value");
    a->api_key = api_key ? strdup(api_key) : NULL;
    a->secret = malloc(secret_len ? secret_len : 1);
    if ((api_key && !a->api_key) || !a->secret)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    memcpy(a->secret, secret, secret_len);
    a->secret_len = secret_len;
    if (!(a->pool = calloc(1, sizeof *a->pool)))
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&a->pool->lock, NULL);
    a->mac_template = keyed_template(a->secret, secret_len, err);
    return a->mac_template ? WSIG_OK : WSIG_ERR_CRYPTO;
}

void wsig__hmac_auth_clear(struct wsig_hmac_auth *a)
{
    free(a->api_key);
    wsig_free_secret(a->secret, a->secret_len ? a->secret_len : 1);
    EVP_MAC_CTX_free(a->mac_template); /* OpenSSL cleanses the keyed state */
    if (a->pool) {
        for (int i = 0; i < a->pool->n; i++)
            EVP_MAC_CTX_free(a->pool->ctx[i]);
        pthread_mutex_destroy(&a->pool->lock);
        free(a->pool);
    }
    memset(a, 0, sizeof *a);
}

static int upper_method(char out[MAX_METHOD], const char *method, wsig_error *err)
{
    size_t n = strlen(method);
    if (n == 0 || n >= MAX_METHOD)
        return wsig__fail(err, WSIG_ERR_ARG, "bad HTTP method");
    for (size_t i = 0; i <= n; i++) {
        char c = method[i];
        if (c && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z'))
            return wsig__fail(err, WSIG_ERR_ARG, "bad HTTP method");
        out[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
    }
    return WSIG_OK;
}

/* Decimal digits of v into out (at least 21 bytes); returns the length.
 * snprintf("%lld") costs more than the rest of the header formatting. */
static size_t format_ms(char *out, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 : (uint64_t)v;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

/* MAC of TS SEP METHOD SEP PATH SEP BODY. Small prehashes are assembled on
 * the stack and MACed in one update (each EVP_MAC_update is four calls deep
 * through the provider); larger ones are streamed without a copy. */
static int compute_mac(const struct wsig_hmac_auth *a, unsigned char mac[32], const char *ts,
                       const char *method, const char *path, const void *body, size_t body_len,
                       wsig_error *err)
{
    size_t tl = strlen(ts), ml = strlen(method), pl = strlen(path), sl = strlen(a->separator);
    size_t out_len = 0;
    const unsigned char *sep = (const unsigned char *)a->separator;
    unsigned char small[1024];
    size_t total = tl + ml + pl + 3 * sl + body_len;
    EVP_MAC_CTX *ctx = mac_take(a);
    bool ok = ctx != NULL;
    if (ok && total <= sizeof small) {
        unsigned char *p = small;
        memcpy(p, ts, tl), p += tl, memcpy(p, sep, sl), p += sl;
        memcpy(p, method, ml), p += ml, memcpy(p, sep, sl), p += sl;
        memcpy(p, path, pl), p += pl, memcpy(p, sep, sl), p += sl;
        if (body_len)
            memcpy(p, body, body_len);
        ok = EVP_MAC_update(ctx, small, total);
    } else if (ok) {
        ok = EVP_MAC_update(ctx, (const unsigned char *)ts, tl) && EVP_MAC_update(ctx, sep, sl) &&
             EVP_MAC_update(ctx, (const unsigned char *)method, ml) &&
             EVP_MAC_update(ctx, sep, sl) &&
             EVP_MAC_update(ctx, (const unsigned char *)path, pl) &&
             EVP_MAC_update(ctx, sep, sl) && (body_len == 0 || EVP_MAC_update(ctx, body, body_len));
    }
    ok = ok && EVP_MAC_final(ctx, mac, &out_len, 32) && out_len == 32;
    if (ok)
        mac_give_back(a, ctx);
    else
        EVP_MAC_CTX_free(ctx);
    return ok ? WSIG_OK : wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "HMAC-SHA256 failed");
}

int wsig__hmac_sign_headers(struct wsig_hmac_auth *a, wsig_headers *out, const char *method,
                            const char *path, const void *body, size_t body_len, int64_t now_ms,
                            wsig_error *err)
{
    char m[MAX_METHOD], ts[24], sig[65];
    unsigned char mac[32];
    int rc = upper_method(m, method, err);
    if (rc != WSIG_OK)
        return rc;
    format_ms(ts, now_ms > 0 ? now_ms : wsig__now_ms());
    if ((rc = compute_mac(a, mac, ts, m, path, body, body_len, err)) != WSIG_OK)
        return rc;
    if (a->encoding == WSIG_HMAC_HEX)
        wsig__hex_encode(sig, mac, 32);
    else
        wsig__b64_encode(sig, mac, 32, false);
    if (!wsig__set_header(out, a->api_key_header, a->api_key) ||
        !wsig__set_header(out, a->timestamp_header, ts) ||
        !wsig__set_header(out, a->signature_header, sig))
        return wsig__fail(err, WSIG_ERR_ARG, "header too long");
    return WSIG_OK;
}

/* ------------------------------------------------------------------ */
/* Verifier: api key -> secret, a time window, a constant-time compare */

struct wsig_hmac_verifier {
    struct wsig_hmac_auth opts;     /* names, encoding, separator (no key) */
    int64_t window_ms;
    struct wsig_hmac_auth *keys;
    size_t n_keys, cap;
};

int wsig_hmac_verifier_new(wsig_hmac_verifier **out, int64_t window_ms,
                           const wsig_hmac_options *opt, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    if (window_ms < 0 || window_ms > WSIG_MAX_WINDOW_MS)
        return wsig__fail(err, WSIG_ERR_ARG, "window_ms must be 1..86400000 (0 = 30000)");
    wsig_hmac_verifier *v = calloc(1, sizeof *v);
    if (!v)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    int rc = apply_options(&v->opts, opt, err);
    if (rc != WSIG_OK) {
        free(v);
        return rc;
    }
    v->window_ms = window_ms ? window_ms : 30000;
    *out = v;
    return WSIG_OK;
}

int wsig_hmac_verifier_add(wsig_hmac_verifier *v, const char *api_key, const char *secret,
                           size_t secret_len, wsig_error *err)
{
    wsig__reset(err);
    wsig_hmac_options o = {v->opts.encoding, v->opts.separator, v->opts.api_key_header,
                           v->opts.signature_header, v->opts.timestamp_header};
    struct wsig_hmac_auth fresh = {0};
    int rc = wsig__hmac_auth_init(&fresh, api_key, secret, secret_len, &o, err);
    if (rc != WSIG_OK) {
        wsig__hmac_auth_clear(&fresh);
        return rc;
    }
    for (size_t i = 0; i < v->n_keys; i++)
        if (strcmp(v->keys[i].api_key, api_key) == 0) {
            wsig__hmac_auth_clear(&v->keys[i]);
            v->keys[i] = fresh;
            return WSIG_OK;
        }
    if (v->n_keys == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 4;
        struct wsig_hmac_auth *k = realloc(v->keys, cap * sizeof *k);
        if (!k) {
            wsig__hmac_auth_clear(&fresh);
            return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
        }
        v->keys = k;
        v->cap = cap;
    }
    v->keys[v->n_keys++] = fresh;
    return WSIG_OK;
}

void wsig_hmac_verifier_free(wsig_hmac_verifier *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_keys; i++)
        wsig__hmac_auth_clear(&v->keys[i]);
    free(v->keys);
    free(v);
}

static bool decode_signature(unsigned char mac[32], const char *sig, int encoding)
{
    size_t n = strlen(sig), len = 0;
    if (encoding == WSIG_HMAC_HEX)
        return wsig__hex_decode(mac, 32, sig, n);
    unsigned char buf[48];
    return n == 44 && wsig__b64_decode(buf, &len, sig, n, false) && len == 32 &&
           memcpy(mac, buf, 32);
}

int wsig_hmac_verify(const wsig_hmac_verifier *v, char *api_key_out, const char *method,
                     const char *path, const wsig_header_ref *headers, size_t n_headers,
                     const void *body, size_t body_len, int64_t now_ms, wsig_error *err)
{
    wsig__reset(err);
    const struct wsig_hmac_auth *o = &v->opts;
    bool dup = false;
    const char *key = wsig__find_unique_header(headers, n_headers, o->api_key_header, &dup);
    const char *ts = wsig__find_unique_header(headers, n_headers, o->timestamp_header, &dup);
    const char *sig = wsig__find_unique_header(headers, n_headers, o->signature_header, &dup);
    if (!key || !ts || !sig)
        return wsig__reject(err, WSIG_REASON_MISSING_HEADER, "missing %s header",
                            !key ? o->api_key_header : !ts ? o->timestamp_header : o->signature_header);
    if (dup)
        return wsig__reject(err, WSIG_REASON_MALFORMED_HEADER, "a signature header appears twice");
    uint64_t t;
    unsigned char given[32], expected[32];
    if (!wsig__parse_u64(ts, strlen(ts), &t) || t > INT64_MAX)
        return wsig__reject(err, WSIG_REASON_MALFORMED_HEADER, "timestamp is not decimal milliseconds");
    int64_t now = now_ms > 0 ? now_ms : wsig__now_ms();
    int64_t skew = (int64_t)t - now;
    if (skew > v->window_ms || skew < -v->window_ms)
        return wsig__reject(err, WSIG_REASON_STALE_TIMESTAMP, "timestamp outside the %lld ms window",
                            (long long)v->window_ms);
    const struct wsig_hmac_auth *k = NULL;
    for (size_t i = 0; i < v->n_keys && !k; i++)
        if (strcmp(v->keys[i].api_key, key) == 0)
            k = &v->keys[i];
    if (!k)
        return wsig__reject(err, WSIG_REASON_BAD_SIGNATURE, "unknown api key");
    /* An undecodable signature is simply not the right one. */
    if (!decode_signature(given, sig, o->encoding))
        return wsig__reject(err, WSIG_REASON_BAD_SIGNATURE, "signature is not %s of 32 bytes",
                            o->encoding == WSIG_HMAC_HEX ? "hex" : "base64");
    char m[MAX_METHOD];
    int rc = upper_method(m, method, err);
    if (rc == WSIG_OK)
        rc = compute_mac(k, expected, ts, m, path, body, body_len, err);
    if (rc != WSIG_OK)
        return rc;
    if (!wsig__ct_equal(given, expected, 32))
        return wsig__reject(err, WSIG_REASON_BAD_SIGNATURE, "signature does not match");
    if (api_key_out)
        strcpy(api_key_out, k->api_key);
    return WSIG_OK;
}
