/* hmac: every known answer of hmac.json signed and verified, the negative
 * cases, single-byte tampering of signature, body and path, and one signer
 * and one verifier shared by threads. */
#include "testlib.h"
#include "walletsign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char B64_ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char HEX_ALPHABET[] = "0123456789abcdef";

static int encoding_of(const char *name)
{
    return t_streq(name, "hex") ? WSIG_HMAC_HEX : WSIG_HMAC_BASE64;
}

/* The secret's bytes: secret_hex when present (it may hold NUL), else the string. */
static unsigned char *secret_of(const cJSON *c, size_t *len)
{
    const char *hex = t_str(c, "secret_hex");
    if (hex)
        return t_hex_alloc(hex, len);
    const char *s = t_str(c, "secret");
    *len = s ? strlen(s) : 0;
    unsigned char *b = malloc(*len + 1);
    if (b)
        memcpy(b, s ? s : "", *len + 1);
    return b;
}

static void upper_ascii(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = src[i] >= 'a' && src[i] <= 'z' ? (char)(src[i] - 32) : src[i];
    dst[i] = '\0';
}

typedef struct {
    const wsig_hmac_verifier *v;
    const char *name;
    const char *method, *path;
    const unsigned char *body;
    size_t body_len;
    int64_t now_ms;
} verify_ctx;

/* Verify with the three headers; returns the status and fills err. */
static int verify3(const verify_ctx *x, const char *key, const char *ts, const char *sig,
                   const char *path, const unsigned char *body, size_t body_len, bool upper,
                   char *api_key_out, wsig_error *err)
{
    char n0[32], n1[32], n2[32];
    if (upper) {
        upper_ascii(n0, "x-api-key", sizeof n0);
        upper_ascii(n1, "x-timestamp", sizeof n1);
        upper_ascii(n2, "x-signature", sizeof n2);
    } else {
        strcpy(n0, "x-api-key");
        strcpy(n1, "x-timestamp");
        strcpy(n2, "x-signature");
    }
    /* Order of the received headers is irrelevant: give them shuffled, with noise. */
    wsig_header_ref refs[] = {
        {"Content-Type", "application/json"}, {n2, sig}, {n0, key}, {"X-Other", "1"}, {n1, ts},
    };
    return wsig_hmac_verify(x->v, api_key_out, x->method, path, refs, sizeof refs / sizeof refs[0],
                            body, body_len, x->now_ms, err);
}

static void expect_bad(const verify_ctx *x, const char *key, const char *ts, const char *sig,
                       const char *path, const unsigned char *body, size_t body_len,
                       const char *what)
{
    wsig_error err = WSIG_ERROR_INIT;
    int rc = verify3(x, key, ts, sig, path, body, body_len, false, NULL, &err);
    CHECK(rc == WSIG_INVALID && strcmp(wsig_reason_name(err.reason), "bad_signature") == 0,
          "%s: %s: got %s/%s (%s)", x->name, what, wsig_status_name(rc),
          wsig_reason_name(err.reason), err.message);
    wsig_error_clear(&err);
}

/* Replace s[i] by the next character of its alphabet (the text still decodes). */
static char next_in(const char *alphabet, char c)
{
    const char *p = strchr(alphabet, c);
    if (!p || !*p)
        return alphabet[0];
    return p[1] ? p[1] : alphabet[0];
}

static void tamper_case(const verify_ctx *x, int encoding, const char *key, const char *ts,
                        const char *sig, bool big)
{
    char *s = strdup(sig);
    size_t n = strlen(s);
    const char *alphabet = encoding == WSIG_HMAC_HEX ? HEX_ALPHABET : B64_ALPHABET;
    char what[64];
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            continue; /* padding: covered by the truncation cases */
        char saved = s[i];
        s[i] = next_in(alphabet, saved);
        snprintf(what, sizeof what, "signature char %zu", i);
        expect_bad(x, key, ts, s, x->path, x->body, x->body_len, what);
        s[i] = saved;
    }
    free(s);
    /* Body: first, middle and last byte; an extra byte; a dropped body. */
    if (x->body_len) {
        unsigned char *b = malloc(x->body_len + 1);
        memcpy(b, x->body, x->body_len);
        size_t pos[3] = {0, x->body_len / 2, x->body_len - 1};
        for (int k = 0; k < 3; k++) {
            b[pos[k]] ^= 0x01;
            snprintf(what, sizeof what, "body byte %zu", pos[k]);
            expect_bad(x, key, ts, sig, x->path, b, x->body_len, what);
            b[pos[k]] ^= 0x01;
        }
        b[x->body_len] = ' ';
        expect_bad(x, key, ts, sig, x->path, b, x->body_len + 1, "body + 1 byte");
        expect_bad(x, key, ts, sig, x->path, b, x->body_len - 1, "body - 1 byte");
        expect_bad(x, key, ts, sig, x->path, NULL, 0, "body dropped");
        free(b);
    } else {
        static const unsigned char extra[] = "{}";
        expect_bad(x, key, ts, sig, x->path, extra, 2, "body added");
    }
    if (big)
        return;
    /* Path: every byte. */
    char *p = strdup(x->path);
    size_t pn = strlen(p);
    for (size_t i = 0; i < pn; i++) {
        char saved = p[i];
        p[i] = (char)(saved ^ 0x01);
        snprintf(what, sizeof what, "path byte %zu", i);
        expect_bad(x, key, ts, sig, p, x->body, x->body_len, what);
        p[i] = saved;
    }
    free(p);
    /* Timestamp changed within the window: the MAC covers it. */
    char ts2[32];
    snprintf(ts2, sizeof ts2, "%lld", (long long)(strtoll(ts, NULL, 10) + 1));
    expect_bad(x, key, ts2, sig, x->path, x->body, x->body_len, "timestamp + 1");
}

static void sign_case(const cJSON *c)
{
    const char *name = t_str(c, "name");
    const char *api_key = t_str(c, "api_key");
    const char *method = t_str(c, "method");
    const char *path = t_str(c, "path");
    const char *sep = t_str(c, "separator");
    const char *expected = t_str(c, "signature");
    const cJSON *headers = cJSON_GetObjectItem(c, "headers");
    int64_t ts = (int64_t)t_num(c, "timestamp_ms");
    int encoding = encoding_of(t_str(c, "encoding"));
    if (!name || !api_key || !method || !path || !sep || !expected || !headers) {
        CHECK(0, "hmac case %s lacks a field", name ? name : "?");
        return;
    }
    size_t secret_len = 0, body_len = 0;
    unsigned char *secret = secret_of(c, &secret_len);
    unsigned char *body = t_body(c, &body_len);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_hmac_options opt = {.encoding = encoding, .separator = sep};
    wsig_auth *auth = NULL;
    int rc = wsig_auth_hmac_new(&auth, api_key, (const char *)secret, secret_len, &opt, &err);
    CHECK(rc == WSIG_OK, "%s: hmac_new: %s", name, err.message);
    if (rc == WSIG_OK) {
        CHECK(wsig_auth_kind_of(auth) == WSIG_AUTH_HMAC, "%s: kind", name);
        wsig_headers h;
        memset(&h, 0x5a, sizeof h);
        rc = wsig_auth_sign(auth, &h, method, path, body, body_len, ts, &err);
        CHECK(rc == WSIG_OK && h.count == 3, "%s: sign: %s (count %zu)", name, err.message, h.count);
        if (rc == WSIG_OK && h.count == 3) {
            static const char *const names[3] = {"x-api-key", "x-timestamp", "x-signature"};
            for (int i = 0; i < 3; i++) {
                const char *want = t_str(headers, names[i]);
                CHECK(strcmp(h.h[i].name, names[i]) == 0, "%s: header %d is %s", name, i,
                      h.h[i].name);
                CHECK(t_streq(h.h[i].value, want), "%s: %s = \"%s\", want \"%s\"", name, names[i],
                      h.h[i].value, want);
            }
            CHECK(strcmp(h.h[2].value, expected) == 0, "%s: signature %s != %s", name,
                  h.h[2].value, expected);
        }
    }
    wsig_auth_free(auth);

    /* The server side accepts the vector's headers. */
    wsig_hmac_verifier *v = NULL;
    rc = wsig_hmac_verifier_new(&v, 0, &opt, &err);
    CHECK(rc == WSIG_OK, "%s: verifier_new: %s", name, err.message);
    if (rc == WSIG_OK) {
        rc = wsig_hmac_verifier_add(v, "another-key", "other", 5, &err);
        CHECK(rc == WSIG_OK, "%s: verifier_add: %s", name, err.message);
        rc = wsig_hmac_verifier_add(v, api_key, (const char *)secret, secret_len, &err);
        CHECK(rc == WSIG_OK, "%s: verifier_add: %s", name, err.message);
        verify_ctx x = {v, name, method, path, body, body_len, ts};
        const char *hk = t_str(headers, "x-api-key"), *ht = t_str(headers, "x-timestamp"),
                   *hs = t_str(headers, "x-signature");
        char api_out[WSIG_HEADER_VALUE_MAX] = "";
        rc = verify3(&x, hk, ht, hs, path, body, body_len, false, api_out, &err);
        CHECK(rc == WSIG_OK && strcmp(api_out, api_key) == 0, "%s: verify: %s/%s (%s)", name,
              wsig_status_name(rc), wsig_reason_name(err.reason), err.message);
        /* Header names are matched case-insensitively. */
        rc = verify3(&x, hk, ht, hs, path, body, body_len, true, NULL, &err);
        CHECK(rc == WSIG_OK, "%s: verify with upper-case names: %s/%s (%s)", name,
              wsig_status_name(rc), wsig_reason_name(err.reason), err.message);
        /* The method is upper-cased on both sides. */
        char lower_method[16];
        snprintf(lower_method, sizeof lower_method, "%s", method);
        for (char *m = lower_method; *m; m++)
            if (*m >= 'A' && *m <= 'Z')
                *m = (char)(*m + 32);
        verify_ctx xl = x;
        xl.method = lower_method;
        rc = verify3(&xl, hk, ht, hs, path, body, body_len, false, NULL, &err);
        CHECK(rc == WSIG_OK, "%s: verify with lower-case method: %s", name, wsig_status_name(rc));
        /* Unknown api key. */
        expect_bad(&x, "no-such-key", ht, hs, path, body, body_len, "unknown api key");
        tamper_case(&x, encoding, hk, ht, hs, body_len > 4096);
        wsig_hmac_verifier_free(v);
    }
    wsig_error_clear(&err);
    free(body);
    free(secret);
}

static void negative_case(const cJSON *c)
{
    const char *name = t_str(c, "name");
    const char *secret = t_str(c, "secret");
    const char *api_key = t_str(c, "api_key");
    const char *sig = t_str(c, "signature");
    const cJSON *reason = cJSON_GetObjectItem(c, "expect_reason");
    if (!name || !secret || !api_key || !sig || !reason) {
        CHECK(0, "hmac negative %s lacks a field", name ? name : "?");
        return;
    }
    wsig_hmac_options opt = {.encoding = encoding_of(t_str(c, "encoding")),
                             .separator = t_str(c, "separator")};
    wsig_error err = WSIG_ERROR_INIT;
    wsig_hmac_verifier *v = NULL;
    int rc = wsig_hmac_verifier_new(&v, (int64_t)t_num(c, "window_ms"), &opt, &err);
    CHECK(rc == WSIG_OK, "%s: verifier_new: %s", name, err.message);
    if (rc)
        return;
    rc = wsig_hmac_verifier_add(v, api_key, secret, strlen(secret), &err);
    CHECK(rc == WSIG_OK, "%s: add: %s", name, err.message);
    size_t body_len = 0;
    unsigned char *body = t_body(c, &body_len);
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)t_num(c, "timestamp_ms"));
    verify_ctx x = {v, name, t_str(c, "method"), t_str(c, "path"), body, body_len,
                    (int64_t)t_num(c, "now_ms")};
    for (int upper = 0; upper < 2; upper++) {
        rc = verify3(&x, api_key, ts, sig, x.path, body, body_len, upper, NULL, &err);
        if (cJSON_IsNull(reason))
            CHECK(rc == WSIG_OK, "%s: expected OK, got %s/%s (%s)", name, wsig_status_name(rc),
                  wsig_reason_name(err.reason), err.message);
        else
            CHECK(rc == WSIG_INVALID && t_streq(wsig_reason_name(err.reason), reason->valuestring),
                  "%s: expected %s, got %s/%s (%s)", name, reason->valuestring,
                  wsig_status_name(rc), wsig_reason_name(err.reason), err.message);
        CHECK(strstr(err.message, secret) == NULL, "%s: message leaks the secret", name);
    }
    free(body);
    wsig_hmac_verifier_free(v);
    wsig_error_clear(&err);
}

/* Headers missing or malformed, and option checks. */
/* A refused secret (refused_secrets[] of hmac.json) fails at set-up with
 * WSIG_ERR_ARG on both sides, and leaves a verifier's other keys working. */
static void refused_secret_case(const cJSON *c)
{
    const char *name = t_str(c, "name"), *api_key = t_str(c, "api_key");
    size_t secret_len = 0;
    unsigned char *secret = secret_of(c, &secret_len);
    CHECK(name && api_key && secret && t_streq(t_str(c, "expect_error"), "argument"),
          "refused secret %s lacks a field", name ? name : "?");
    if (!name || !api_key || !secret) {
        free(secret);
        return;
    }
    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *auth = NULL;
    int rc = wsig_auth_hmac_new(&auth, api_key, (const char *)secret, secret_len, NULL, &err);
    CHECK(rc == WSIG_ERR_ARG && !auth && err.status == WSIG_ERR_ARG && err.message[0],
          "%s: hmac_new gave %s (%s)", name, wsig_status_name(rc), err.message);
    wsig_auth_free(auth);
    wsig_hmac_verifier *v = NULL;
    rc = wsig_hmac_verifier_new(&v, 0, NULL, &err);
    CHECK(rc == WSIG_OK, "%s: verifier_new: %s", name, err.message);
    if (rc == WSIG_OK) {
        rc = wsig_hmac_verifier_add(v, "your-api-key", "your-secret-key", 15, &err);
        CHECK(rc == WSIG_OK, "%s: add: %s", name, err.message);
        rc = wsig_hmac_verifier_add(v, api_key, (const char *)secret, secret_len, &err);
        CHECK(rc == WSIG_ERR_ARG && err.status == WSIG_ERR_ARG && err.message[0],
              "%s: verifier_add gave %s (%s)", name, wsig_status_name(rc), err.message);
        /* Replacing a good secret with a refused one keeps the good one. */
        rc = wsig_hmac_verifier_add(v, "your-api-key", (const char *)secret, secret_len, &err);
        CHECK(rc == WSIG_ERR_ARG, "%s: replacing a secret gave %s", name, wsig_status_name(rc));
        wsig_header_ref h[] = {{"x-api-key", "your-api-key"},
                               {"x-timestamp", "1730998051892"},
                               {"x-signature", "PPBSJ4HyLVAjVwMXCKkFrYQ9RN7DfB8mBBNzbZkhIvs="}};
        rc = wsig_hmac_verify(v, NULL, "GET", "/v1/wallet/list?skip=0&take=25&orderBy=desc", h,
                              3, NULL, 0, 1730998051892LL, &err);
        CHECK(rc == WSIG_OK, "%s: the other key after a refusal: %s", name,
              wsig_status_name(rc));
        wsig_hmac_verifier_free(v);
    }
    free(secret);
    wsig_error_clear(&err);
}

static void edge_cases(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_hmac_verifier *v = NULL;
    int rc = wsig_hmac_verifier_new(&v, 0, NULL, &err);
    CHECK(rc == WSIG_OK, "verifier_new: %s", err.message);
    if (rc)
        return;
    rc = wsig_hmac_verifier_add(v, "your-api-key", "your-secret-key", 15, &err);
    CHECK(rc == WSIG_OK, "add: %s", err.message);
    static const char path[] = "/v1/wallet/list?skip=0&take=25&orderBy=desc";
    static const char sig[] = "PPBSJ4HyLVAjVwMXCKkFrYQ9RN7DfB8mBBNzbZkhIvs=";
    const int64_t ts = 1730998051892LL;
    wsig_header_ref full[] = {
        {"x-api-key", "your-api-key"}, {"x-timestamp", "1730998051892"}, {"x-signature", sig}};
    rc = wsig_hmac_verify(v, NULL, "GET", path, full, 3, NULL, 0, ts, &err);
    CHECK(rc == WSIG_OK, "known answer: %s/%s", wsig_status_name(rc), wsig_reason_name(err.reason));
    /* Default window is +-30 s, inclusive. */
    rc = wsig_hmac_verify(v, NULL, "GET", path, full, 3, NULL, 0, ts + 30000, &err);
    CHECK(rc == WSIG_OK, "default window edge: %s", wsig_reason_name(err.reason));
    rc = wsig_hmac_verify(v, NULL, "GET", path, full, 3, NULL, 0, ts + 30001, &err);
    CHECK(rc == WSIG_INVALID && strcmp(wsig_reason_name(err.reason), "stale_timestamp") == 0,
          "default window + 1: %s", wsig_reason_name(err.reason));
    rc = wsig_hmac_verify(v, NULL, "GET", path, full, 3, NULL, 0, ts - 30001, &err);
    CHECK(rc == WSIG_INVALID && strcmp(wsig_reason_name(err.reason), "stale_timestamp") == 0,
          "default window - 1: %s", wsig_reason_name(err.reason));
    for (int drop = 0; drop < 3; drop++) {
        wsig_header_ref two[2];
        for (int i = 0, o = 0; i < 3; i++)
            if (i != drop)
                two[o++] = full[i];
        rc = wsig_hmac_verify(v, NULL, "GET", path, two, 2, NULL, 0, ts, &err);
        CHECK(rc == WSIG_INVALID && strcmp(wsig_reason_name(err.reason), "missing_header") == 0,
              "missing %s: %s/%s", full[drop].name, wsig_status_name(rc),
              wsig_reason_name(err.reason));
    }
    static const char *const bad_ts[] = {"", "-1730998051892", "+1730998051892", "1730998051892.0",
                                         "1.730998051892e12", "0x193", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad_ts / sizeof bad_ts[0]; i++) {
        wsig_header_ref h[] = {{"x-api-key", "your-api-key"}, {"x-timestamp", bad_ts[i]},
                               {"x-signature", sig}};
        rc = wsig_hmac_verify(v, NULL, "GET", path, h, 3, NULL, 0, ts, &err);
        CHECK(rc == WSIG_INVALID && strcmp(wsig_reason_name(err.reason), "malformed_header") == 0,
              "timestamp \"%s\": %s/%s", bad_ts[i], wsig_status_name(rc),
              wsig_reason_name(err.reason));
    }
    /* A NUL inside a header's given length is malformed_header, never read
     * cut short (cut at the NUL, each of these would verify). */
    static const char ts_nul[] = "1730998051892\0" "999";
    static const char sig_nul[] = "PPBSJ4HyLVAjVwMXCKkFrYQ9RN7DfB8mBBNzbZkhIvs=\0junk";
    static const char key_nul[] = "your-api-key\0other";
    static const char name_nul[] = "x-signature\0-2";
    const wsig_header_ref nul[][4] = {
        {full[0], {"x-timestamp", ts_nul, 0, sizeof ts_nul - 1}, full[2], {"X-Other", "1"}},
        {full[0], full[1], {"x-signature", sig_nul, 0, sizeof sig_nul - 1}, {"X-Other", "1"}},
        {{"x-api-key", key_nul, 0, sizeof key_nul - 1}, full[1], full[2], {"X-Other", "1"}},
        {full[0], full[1], {name_nul, sig, sizeof name_nul - 1, 0}, {"X-Other", "1"}},
        {full[0], full[1], full[2], {"X-Other", "1\0" "2", 0, 3}},
    };
    for (size_t i = 0; i < sizeof nul / sizeof nul[0]; i++) {
        rc = wsig_hmac_verify(v, NULL, "GET", path, nul[i], 4, NULL, 0, ts, &err);
        CHECK(rc == WSIG_INVALID && strcmp(wsig_reason_name(err.reason), "malformed_header") == 0,
              "NUL in header set #%zu: %s/%s", i, wsig_status_name(rc),
              wsig_reason_name(err.reason));
    }
    /* True lengths without a NUL are read as given. */
    wsig_header_ref sized[] = {{"x-api-key", "your-api-key", 9, 12},
                               {"x-timestamp", "1730998051892", 11, 13},
                               {"x-signature", sig, 11, sizeof sig - 1}};
    rc = wsig_hmac_verify(v, NULL, "GET", path, sized, 3, NULL, 0, ts, &err);
    CHECK(rc == WSIG_OK, "lengths given: %s/%s", wsig_status_name(rc), wsig_reason_name(err.reason));
    wsig_hmac_verifier_free(v);
    /* Bad options. */
    wsig_hmac_options bad_enc = {.encoding = 7};
    wsig_auth *auth = NULL;
    rc = wsig_auth_hmac_new(&auth, "k", "s", 1, &bad_enc, &err);
    CHECK(rc == WSIG_ERR_ARG && !auth, "encoding 7: %s", wsig_status_name(rc));
    wsig_auth_free(auth);
    auth = NULL;
    rc = wsig_auth_hmac_new(&auth, "", "s", 1, NULL, &err);
    CHECK(rc == WSIG_ERR_ARG && !auth, "empty api key: %s", wsig_status_name(rc));
    wsig_auth_free(auth);
    auth = NULL;
    rc = wsig_auth_hmac_new(&auth, "k\r\nX-Injected: 1", "s", 1, NULL, &err);
    CHECK(rc == WSIG_ERR_ARG && !auth, "api key with CRLF: %s", wsig_status_name(rc));
    wsig_auth_free(auth);
    /* Custom header names are used by signer and verifier alike. */
    wsig_hmac_options names = {.encoding = WSIG_HMAC_HEX, .api_key_header = "X-Key",
                               .signature_header = "X-Sig", .timestamp_header = "X-Ts"};
    auth = NULL;
    rc = wsig_auth_hmac_new(&auth, "your-api-key", "your-secret-key", 15, &names, &err);
    CHECK(rc == WSIG_OK, "custom names: %s", err.message);
    if (rc == WSIG_OK) {
        wsig_headers h;
        rc = wsig_auth_sign(auth, &h, "GET", path, NULL, 0, ts, &err);
        CHECK(rc == WSIG_OK && h.count == 3 && strcmp(h.h[0].name, "X-Key") == 0 &&
                  strcmp(h.h[1].name, "X-Ts") == 0 && strcmp(h.h[2].name, "X-Sig") == 0 &&
                  strcmp(h.h[2].value,
                         "3cf0522781f22d502357031708a905ad843d44dec37c1f260413736d992122fb") == 0,
              "custom names sign: %s", err.message);
        v = NULL;
        rc = wsig_hmac_verifier_new(&v, 0, &names, &err);
        if (rc == WSIG_OK && wsig_hmac_verifier_add(v, "your-api-key", "your-secret-key", 15,
                                                    &err) == WSIG_OK) {
            wsig_header_ref refs[3] = {{"x-key", h.h[0].value}, {"X-TS", h.h[1].value},
                                       {"x-sig", h.h[2].value}};
            rc = wsig_hmac_verify(v, NULL, "GET", path, refs, 3, NULL, 0, ts, &err);
            CHECK(rc == WSIG_OK, "custom names verify: %s/%s", wsig_status_name(rc),
                  wsig_reason_name(err.reason));
            /* The default names are not the configured ones. */
            rc = wsig_hmac_verify(v, NULL, "GET", path, full, 3, NULL, 0, ts, &err);
            CHECK(rc == WSIG_INVALID &&
                      strcmp(wsig_reason_name(err.reason), "missing_header") == 0,
                  "default names on a custom verifier: %s", wsig_reason_name(err.reason));
        }
        wsig_hmac_verifier_free(v);
    }
    wsig_auth_free(auth);
    wsig_error_clear(&err);
}

/* x-timestamp is the decimal millisecond count at every length, and each
 * header carries its own length; a negative time is refused. */
static void timestamp_digits(void)
{
    static const int64_t stamps[] = {1, 9, 10, 11, 99, 100, 101, 999, 1000, 1234567,
                                     99999999999, 100000000000, 1795453287511,
                                     1000000000000000000, INT64_MAX};
    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *auth = NULL;
    int rc = wsig_auth_hmac_new(&auth, "k", "s", 1, NULL, &err);
    CHECK(rc == WSIG_OK, "hmac_new: %s", err.message);
    static const int64_t refused[] = {-1, INT64_MIN};
    for (size_t i = 0; rc == WSIG_OK && i < sizeof refused / sizeof *refused; i++) {
        wsig_headers h;
        int r = wsig_auth_sign(auth, &h, "GET", "/p", NULL, 0, refused[i], &err);
        CHECK(r == WSIG_ERR_ARG, "time %lld: %s", (long long)refused[i], wsig_status_name(r));
    }
    for (size_t i = 0; rc == WSIG_OK && i < sizeof stamps / sizeof *stamps; i++) {
        char want[WSIG_DECIMAL_SIZE];
        snprintf(want, sizeof want, "%lld", (long long)stamps[i]);
        wsig_headers h;
        memset(&h, 0x5a, sizeof h);
        int r = wsig_auth_sign(auth, &h, "get", "/p", NULL, 0, stamps[i], &err);
        CHECK(r == WSIG_OK && h.count == 3 && strcmp(h.h[1].value, want) == 0,
              "timestamp %s: got \"%s\"", want, r == WSIG_OK ? h.h[1].value : err.message);
        for (size_t j = 0; r == WSIG_OK && j < h.count; j++)
            CHECK(h.h[j].name_len == strlen(h.h[j].name) &&
                      h.h[j].value_len == strlen(h.h[j].value),
                  "timestamp %s: header %zu lengths %zu/%zu", want, j, h.h[j].name_len,
                  h.h[j].value_len);
    }
    wsig_auth_free(auth);
    wsig_error_clear(&err);
}

/* One auth and one verifier shared by 8 threads (neither takes a lock: the
 * keyed states are read-only); every signature made must verify. */
typedef struct {
    wsig_auth *auth;
    const wsig_hmac_verifier *verifier;
    int index, count, failures;
} hmac_job;

static void *hmac_thread(void *arg)
{
    hmac_job *job = arg;
    wsig_error err = WSIG_ERROR_INIT;
    for (int i = 0; i < job->count; i++) {
        char body[48], key_out[WSIG_HEADER_VALUE_MAX];
        int len = snprintf(body, sizeof body, "{\"thread\":%d,\"i\":%d}", job->index, i);
        wsig_headers h;
        int rc = wsig_auth_sign(job->auth, &h, "POST", "/t", body, (size_t)len, 0, &err);
        wsig_header_ref refs[3];
        for (size_t j = 0; rc == WSIG_OK && j < 3; j++)
            refs[j] = (wsig_header_ref){h.h[j].name, h.h[j].value};
        if (rc == WSIG_OK)
            rc = wsig_hmac_verify(job->verifier, key_out, "POST", "/t", refs, 3, body, (size_t)len,
                                  0, &err);
        if (rc != WSIG_OK || strcmp(key_out, "k") != 0)
            job->failures++;
    }
    wsig_error_clear(&err);
    return NULL;
}

static void threads_share_auth_and_verifier(void)
{
    enum { N_THREADS = 8 };
    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *auth = NULL;
    wsig_hmac_verifier *v = NULL;
    int rc = wsig_auth_hmac_new(&auth, "k", "shared-secret", 13, NULL, &err);
    if (rc == WSIG_OK)
        rc = wsig_hmac_verifier_new(&v, 0, NULL, &err);
    if (rc == WSIG_OK)
        rc = wsig_hmac_verifier_add(v, "k", "shared-secret", 13, &err);
    CHECK(rc == WSIG_OK, "hmac threads set-up: %s", err.message);
    /* 8 x 20,000 sign + verify (divided by WSIG_TEST_SCALE under valgrind). */
    int per_thread = 20000 / t_scale() < 200 ? 200 : 20000 / t_scale();
    hmac_job jobs[N_THREADS];
    pthread_t tids[N_THREADS];
    int started = 0, failures = 0;
    for (int t = 0; rc == WSIG_OK && t < N_THREADS; t++, started++) {
        jobs[t] = (hmac_job){auth, v, t, per_thread, 0};
        if (pthread_create(&tids[t], NULL, hmac_thread, &jobs[t]) != 0)
            break;
    }
    for (int t = 0; t < started; t++) {
        pthread_join(tids[t], NULL);
        failures += jobs[t].failures;
    }
    CHECK(rc != WSIG_OK || started == N_THREADS, "only %d threads started", started);
    CHECK(failures == 0, "%d of %d shared-auth signatures did not verify", failures,
          started * per_thread);
    wsig_hmac_verifier_free(v);
    wsig_auth_free(auth);
    wsig_error_clear(&err);
}

/* The MAC of a prehash by OpenSSL alone, Base64: the oracle for the
 * separator ambiguity below. */
static void openssl_mac_b64(char out[45], const char *secret, const char *prehash)
{
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)prehash,
         strlen(prehash), mac, &len);
    EVP_EncodeBlock((unsigned char *)out, mac, 32);
}

static int verify_post(wsig_hmac_verifier *v, const char *key, const char *path, const char *body,
                       const char *ts, const char *sig, wsig_error *err)
{
    wsig_header_ref h[] = {{"x-api-key", key}, {"x-timestamp", ts}, {"x-signature", sig}};
    return wsig_hmac_verify(v, NULL, "POST", path, h, 3, body, strlen(body),
                            strtoll(ts, NULL, 10), err);
}

static bool is_reason(const wsig_error *err, const char *name)
{
    return strcmp(wsig_reason_name(err->reason), name) == 0;
}

/* docs/protocols.md: "/a|b" with an empty body and "/a" with body "b|" have
 * the same prehash, so one signature fits both. Without the replay cache a
 * verifier accepts both (each within the window, as it would accept a plain
 * replay); with it, the second is the same (api key, timestamp, MAC) and
 * refused as replay. Also: an unknown api key and a wrong signature give the
 * same reason. */
static void replay_cache_and_separator(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    static const char ts[] = "1730998051892";
    char sig[45];
    openssl_mac_b64(sig, "s3cret", "1730998051892|POST|/a|b|");
    wsig_hmac_verifier *plain = NULL, *guarded = NULL;
    int rc = wsig_hmac_verifier_new(&plain, 0, NULL, &err) |
             wsig_hmac_verifier_new(&guarded, 0, NULL, &err);
    if (rc == WSIG_OK)
        rc = wsig_hmac_verifier_add(plain, "ak", "s3cret", 6, &err) |
             wsig_hmac_verifier_add(guarded, "ak", "s3cret", 6, &err) |
             wsig_hmac_verifier_add(guarded, "ak2", "s3cret", 6, &err) |
             wsig_hmac_verifier_replay_cache(guarded, 0, &err);
    CHECK(rc == WSIG_OK, "verifiers: %s", err.message);
    if (rc != WSIG_OK)
        goto out;
    for (int i = 0; i < 2; i++) {
        CHECK(verify_post(plain, "ak", "/a|b", "", ts, sig, &err) == WSIG_OK,
              "plain verifier, /a|b + empty body, try %d: %s", i, err.message);
        CHECK(verify_post(plain, "ak", "/a", "b|", ts, sig, &err) == WSIG_OK,
              "plain verifier, /a + body b|, try %d: %s", i, err.message);
    }
    CHECK(verify_post(guarded, "ak", "/a", "b|", ts, sig, &err) == WSIG_OK,
          "replay cache, first: %s", err.message);
    rc = verify_post(guarded, "ak", "/a", "b|", ts, sig, &err);
    CHECK(rc == WSIG_INVALID && is_reason(&err, "replay"), "replay cache, same request: %s/%s",
          wsig_status_name(rc), wsig_reason_name(err.reason));
    rc = verify_post(guarded, "ak", "/a|b", "", ts, sig, &err);
    CHECK(rc == WSIG_INVALID && is_reason(&err, "replay"), "replay cache, re-framed: %s/%s",
          wsig_status_name(rc), wsig_reason_name(err.reason));
    /* Another api key with the same secret is another identity. */
    CHECK(verify_post(guarded, "ak2", "/a", "b|", ts, sig, &err) == WSIG_OK,
          "replay cache, other api key: %s", err.message);
    /* The next millisecond is a new request. */
    openssl_mac_b64(sig, "s3cret", "1730998051893|POST|/a|b|");
    CHECK(verify_post(guarded, "ak", "/a", "b|", "1730998051893", sig, &err) == WSIG_OK,
          "replay cache, next ms: %s", err.message);
    /* Unknown api key and wrong signature: one reason, details for logs only. */
    rc = verify_post(plain, "no-such-key", "/a", "b|", ts, sig, &err);
    CHECK(rc == WSIG_INVALID && is_reason(&err, "bad_signature"), "unknown key: %s/%s",
          wsig_status_name(rc), wsig_reason_name(err.reason));
    rc = verify_post(plain, "ak", "/a", "b|", ts, sig, &err); /* sig is for ...893 */
    CHECK(rc == WSIG_INVALID && is_reason(&err, "bad_signature"), "wrong signature: %s/%s",
          wsig_status_name(rc), wsig_reason_name(err.reason));
    rc = wsig_hmac_verifier_replay_cache(plain, (size_t)1 << 31, &err);
    CHECK(rc == WSIG_ERR_ARG, "cache of 2^31 entries: %s", wsig_status_name(rc));
out:
    wsig_hmac_verifier_free(plain);
    wsig_hmac_verifier_free(guarded);
    wsig_error_clear(&err);
}

void test_hmac(void)
{
    cJSON *v = t_vectors("hmac.json");
    if (!v)
        return;
    int n = 0, neg = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "cases"))
    {
        sign_case(c);
        n++;
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "verify_negative"))
    {
        negative_case(c);
        neg++;
    }
    CHECK(n >= 74 && neg >= 24, "hmac.json: %d cases, %d negative", n, neg);
    int refused = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "refused_secrets"))
    {
        refused_secret_case(c);
        refused++;
    }
    CHECK(refused >= 1, "hmac.json: no refused_secrets");
    cJSON_Delete(v);
    edge_cases();
    timestamp_digits();
    threads_share_auth_and_verifier();
    replay_cache_and_separator();
}
