/* jwt: RS256 known answers byte for byte, ES256 tokens of jwt.json, the
 * negative cases, and walletsign's own ES256/RS256 tokens checked by a bare
 * OpenSSL verification in this file. */
#include "testlib.h"
#include "walletsign.h"

#include <inttypes.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A few keys, loaded once per run of the group. */
typedef struct {
    char file[64];
    char password[64];
    wsig_key *key;
} key_slot;

static key_slot g_keys[16];

static wsig_key *key_file(const char *file, const char *password)
{
    if (!file)
        return NULL;
    const char *pw = password ? password : "";
    for (size_t i = 0; i < sizeof g_keys / sizeof g_keys[0]; i++) {
        if (g_keys[i].key && strcmp(g_keys[i].file, file) == 0 && strcmp(g_keys[i].password, pw) == 0)
            return g_keys[i].key;
        if (!g_keys[i].key) {
            wsig_error err = WSIG_ERROR_INIT;
            int rc = wsig_key_load_file(&g_keys[i].key, t_key_path(file), password, &err);
            CHECK(rc == WSIG_OK, "load %s: %s", file, err.message);
            if (rc != WSIG_OK)
                return NULL;
            snprintf(g_keys[i].file, sizeof g_keys[i].file, "%s", file);
            snprintf(g_keys[i].password, sizeof g_keys[i].password, "%s", pw);
            return g_keys[i].key;
        }
    }
    CHECK(0, "key cache full");
    return NULL;
}

static void free_keys(void)
{
    for (size_t i = 0; i < sizeof g_keys / sizeof g_keys[0]; i++) {
        wsig_key_free(g_keys[i].key);
        memset(&g_keys[i], 0, sizeof g_keys[i]);
    }
}

static bool reason_is(const wsig_error *err, const char *name)
{
    return strcmp(wsig_reason_name(err->reason), name) == 0;
}

static void check_claims(const wsig_jwt_claims *got, const cJSON *want, const char *alg,
                         const char *name)
{
    CHECK(strcmp(got->alg, alg) == 0, "%s: alg %s", name, got->alg);
    CHECK(t_streq(got->kid, t_str(want, "kid")), "%s: kid %s", name, got->kid);
    CHECK(t_streq(got->sub, t_str(want, "sub")) && strcmp(got->sub, "wallet") == 0, "%s: sub %s",
          name, got->sub);
    CHECK(got->iat == (int64_t)t_num(want, "iat"), "%s: iat %" PRId64, name, got->iat);
    CHECK(got->exp == (int64_t)t_num(want, "exp"), "%s: exp %" PRId64, name, got->exp);
    CHECK(t_streq(got->nonce, t_str(want, "nonce")), "%s: nonce %s", name, got->nonce);
    CHECK(t_streq(got->body_hash, t_str(want, "bodyHash")), "%s: bodyHash %s", name,
          got->body_hash);
    CHECK(t_streq(got->uri, t_str(want, "uri")), "%s: uri %s", name, got->uri);
}

/* ------------------------------------------------------------------ */

static void rs256_exact(const cJSON *c)
{
    const char *name = t_str(c, "name");
    const char *token = t_str(c, "token");
    const char *kid = t_str(c, "kid");
    const char *uri = t_str(c, "uri");
    const char *nonce_hex = t_str(c, "nonce_hex");
    if (!name || !token || !kid || !uri || !nonce_hex) {
        CHECK(0, "rs256 case %s lacks a field", name ? name : "?");
        return;
    }
    wsig_key *key = key_file(t_str(c, "key_file"), NULL);
    wsig_key *pub = key_file(t_str(c, "public_key_file"), NULL);
    if (!key || !pub)
        return;
    size_t body_len = 0;
    unsigned char *body = t_body(c, &body_len);
    int64_t iat = (int64_t)t_num(c, "iat");
    wsig_error err = WSIG_ERROR_INIT;
    wsig_jwt_options opt = {.ttl_seconds = (int)t_num(c, "ttl")};
    wsig_auth *auth = NULL;
    int rc = wsig_auth_jwt_new(&auth, key, kid, &opt, &err);
    CHECK(rc == WSIG_OK, "%s: jwt_new: %s", name, err.message);
    if (rc == WSIG_OK) {
        CHECK((wsig_key_bits(key) < 4096) == (err.warning[0] != '\0'),
              "%s: RSA-%d warning \"%s\"", name, wsig_key_bits(key), err.warning);
        char *got = NULL;
        rc = wsig_jwt_token_fixed(auth, &got, uri, body, body_len, iat, nonce_hex, &err);
        CHECK(rc == WSIG_OK && t_streq(got, token), "%s: token differs:\n got %s\nwant %s", name,
              got ? got : "(null)", token);
        wsig_free(got);
        /* A nonce that is not 40 hex digits is refused, not read past. */
        static const char *const bad_nonces[] = {
            "", "abcd", "0123456789abcdef0123456789abcdef0123456",
            "0123456789abcdef0123456789abcdef01234567a", "0123456789abcdef0123456789abcdef0123456g"};
        for (size_t i = 0; i < sizeof bad_nonces / sizeof *bad_nonces; i++) {
            got = NULL;
            int r = wsig_jwt_token_fixed(auth, &got, uri, body, body_len, iat, bad_nonces[i], &err);
            CHECK(r == WSIG_ERR_ARG && !got, "%s: nonce \"%s\": %s", name, bad_nonces[i],
                  wsig_status_name(r));
            wsig_free(got);
        }
    }
    wsig_auth_free(auth);
    wsig_jwt_claims claims;
    rc = wsig_jwt_verify(pub, &claims, token, strlen(token), iat, 0, uri, body, body_len, &err);
    CHECK(rc == WSIG_OK, "%s: verify: %s/%s (%s)", name, wsig_status_name(rc),
          wsig_reason_name(err.reason), err.message);
    if (rc == WSIG_OK)
        check_claims(&claims, cJSON_GetObjectItem(c, "claims"), "RS256", name);
    /* The private key verifies too; exp is exclusive. */
    rc = wsig_jwt_verify(key, &claims, token, strlen(token), iat, 0, NULL, NULL, 0, &err);
    CHECK(rc == WSIG_OK, "%s: verify with the private key: %s", name, wsig_reason_name(err.reason));
    int64_t exp = iat + (int64_t)t_num(c, "ttl");
    rc = wsig_jwt_verify(pub, &claims, token, strlen(token), exp - 1, 0, NULL, NULL, 0, &err);
    CHECK(rc == WSIG_OK, "%s: at exp - 1: %s", name, wsig_reason_name(err.reason));
    rc = wsig_jwt_verify(pub, &claims, token, strlen(token), exp, 0, NULL, NULL, 0, &err);
    CHECK(rc == WSIG_INVALID && reason_is(&err, "expired"), "%s: at exp: %s/%s", name,
          wsig_status_name(rc), wsig_reason_name(err.reason));
    free(body);
    wsig_error_clear(&err);
}

static void es256_verify_case(const cJSON *c)
{
    const char *name = t_str(c, "name");
    const char *token = t_str(c, "token");
    const char *uri = t_str(c, "uri");
    const char *format = t_str(c, "format");
    if (!name || !token || !uri || !format) {
        CHECK(0, "es256 case %s lacks a field", name ? name : "?");
        return;
    }
    wsig_key *pub = key_file(t_str(c, "public_key_file"), NULL);
    wsig_key *priv = key_file(t_str(c, "key_file"), t_str(c, "password"));
    if (!pub || !priv)
        return;
    size_t body_len = 0;
    unsigned char *body = t_body(c, &body_len);
    int64_t now = (int64_t)t_num(c, "now");
    wsig_error err = WSIG_ERROR_INIT;
    wsig_jwt_claims claims;
    const wsig_key *keys[2] = {pub, priv};
    for (int k = 0; k < 2; k++) {
        int rc = wsig_jwt_verify(keys[k], &claims, token, strlen(token), now, 0, uri, body,
                                 body_len, &err);
        CHECK(rc == WSIG_OK, "%s: verify (%s key): %s/%s (%s)", name, k ? "private" : "public",
              wsig_status_name(rc), wsig_reason_name(err.reason), err.message);
        if (rc == WSIG_OK)
            check_claims(&claims, cJSON_GetObjectItem(c, "claims"), "ES256", name);
    }
    /* The signature part has the announced format. */
    const char *dot = strrchr(token, '.');
    size_t sig_len = 0;
    unsigned char *sig = dot ? t_b64url_decode(dot + 1, strlen(dot + 1), &sig_len) : NULL;
    if (strcmp(format, "raw") == 0)
        CHECK(sig && sig_len == 64, "%s: raw signature of %zu bytes", name, sig_len);
    else
        CHECK(sig && sig_len >= 8 && sig[0] == 0x30 && sig[1] == sig_len - 2,
              "%s: DER signature expected (%zu bytes)", name, sig_len);
    free(sig);
    /* The body binding and the uri binding. */
    int rc = wsig_jwt_verify(pub, &claims, token, strlen(token), now, 0,
                             strcmp(uri, "/query") == 0 ? "/command" : "/query", NULL, 0, &err);
    CHECK(rc == WSIG_INVALID && reason_is(&err, "request_mismatch"), "%s: other uri: %s/%s", name,
          wsig_status_name(rc), wsig_reason_name(err.reason));
    rc = wsig_jwt_verify(pub, &claims, token, strlen(token), now, 0, NULL, "{\"x\":1}", 7, &err);
    CHECK(rc == WSIG_INVALID && reason_is(&err, "request_mismatch"), "%s: other body: %s/%s", name,
          wsig_status_name(rc), wsig_reason_name(err.reason));
    free(body);
    wsig_error_clear(&err);
}

static void negative_case(const cJSON *c)
{
    const char *name = t_str(c, "name");
    const char *token = t_str(c, "token");
    const cJSON *reason = cJSON_GetObjectItem(c, "expect_reason");
    if (!name || !token || !reason) {
        CHECK(0, "jwt negative %s lacks a field", name ? name : "?");
        return;
    }
    wsig_key *pub = key_file(t_str(c, "public_key_file"), NULL);
    if (!pub)
        return;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_jwt_claims claims;
    wsig_jwt_verify_options opt = {(int)t_num(c, "leeway"), (int)t_num(c, "max_ttl")};
    int rc = wsig_jwt_verify(pub, &claims, token, strlen(token), (int64_t)t_num(c, "now"), &opt,
                             NULL, NULL, 0, &err);
    if (cJSON_IsNull(reason))
        CHECK(rc == WSIG_OK, "%s: expected OK, got %s/%s (%s)", name, wsig_status_name(rc),
              wsig_reason_name(err.reason), err.message);
    else
        CHECK(rc == WSIG_INVALID && t_streq(wsig_reason_name(err.reason), reason->valuestring),
              "%s: expected %s, got %s/%s (%s)", name, reason->valuestring, wsig_status_name(rc),
              wsig_reason_name(err.reason), err.message);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* Our own tokens, checked without walletsign                         */

static EVP_PKEY *bare_public_key(const char *file)
{
    FILE *f = fopen(t_key_path(file), "r");
    EVP_PKEY *pkey = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    CHECK(pkey != NULL, "OpenSSL cannot read %s", file);
    return pkey;
}

static int bare_verify(EVP_PKEY *pkey, const unsigned char *sig, size_t sig_len, const char *input,
                       size_t input_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int v = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1
                ? EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)input, input_len)
                : -1;
    EVP_MD_CTX_free(md);
    return v;
}

static void sha256_hex(char out[WSIG_JWT_BODY_HASH_SIZE], const void *data, size_t len)
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
    char *hex = t_hex_str(d, 32);
    snprintf(out, 65, "%s", hex ? hex : "");
    free(hex);
}

/* Decode a token made by walletsign and check everything by hand. Returns the
 * nonce claim (caller frees) for the uniqueness check. */
static char *inspect_token(const char *token, const char *alg, int format, EVP_PKEY *pkey,
                           int ttl, int64_t iat_min, int64_t iat_max, const char *kid,
                           const char *uri, const void *body, size_t body_len, const char *what,
                           int64_t *iat_out)
{
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    CHECK(d1 && d2 && !strchr(d2 + 1, '.'), "%s: not three parts: %s", what, token);
    if (!d1 || !d2)
        return NULL;
    size_t hl = 0, pl = 0, sl = 0;
    unsigned char *hdr = t_b64url_decode(token, (size_t)(d1 - token), &hl);
    unsigned char *pay = t_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &pl);
    unsigned char *sig = t_b64url_decode(d2 + 1, strlen(d2 + 1), &sl);
    CHECK(hdr && pay && sig, "%s: a part is not base64url", what);
    CHECK(!strchr(token, '=') && !strchr(token, '+') && !strchr(token, '/'),
          "%s: padding or standard alphabet in %s", what, token);
    char *nonce = NULL;
    if (hdr && pay && sig) {
        char want_hdr[64];
        snprintf(want_hdr, sizeof want_hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
        CHECK(hl == strlen(want_hdr) && memcmp(hdr, want_hdr, hl) == 0, "%s: header %.*s", what,
              (int)hl, (const char *)hdr);
        /* The seven claims, in order, compact. */
        CHECK(!memchr(pay, ' ', pl) && !memchr(pay, '\n', pl), "%s: payload not compact", what);
        cJSON *p = cJSON_ParseWithLength((const char *)pay, pl);
        static const char *const order[7] = {"kid", "sub", "iat", "exp", "nonce", "bodyHash", "uri"};
        int i = 0;
        bool in_order = cJSON_IsObject(p);
        const cJSON *it;
        cJSON_ArrayForEach(it, p)
        {
            if (i >= 7 || strcmp(it->string, order[i]) != 0)
                in_order = false;
            i++;
        }
        CHECK(in_order && i == 7, "%s: payload claims %.*s", what, (int)pl, (const char *)pay);
        int64_t iat = (int64_t)t_num(p, "iat"), exp = (int64_t)t_num(p, "exp");
        *iat_out = iat;
        CHECK(t_streq(t_str(p, "kid"), kid) && t_streq(t_str(p, "sub"), "wallet") &&
                  t_streq(t_str(p, "uri"), uri),
              "%s: kid/sub/uri %.*s", what, (int)pl, (const char *)pay);
        CHECK(iat >= iat_min && iat <= iat_max && exp == iat + ttl,
              "%s: iat %" PRId64 " exp %" PRId64 " (ttl %d)", what, iat, exp, ttl);
        const char *n = t_str(p, "nonce");
        bool hex40 = n && strlen(n) == 40 && strspn(n, "0123456789abcdef") == 40;
        CHECK(hex40, "%s: nonce %s", what, n ? n : "(none)");
        if (hex40)
            nonce = strdup(n);
        char bh[WSIG_JWT_BODY_HASH_SIZE];
        sha256_hex(bh, body, body_len);
        CHECK(t_streq(t_str(p, "bodyHash"), bh), "%s: bodyHash %s != %s", what,
              t_str(p, "bodyHash"), bh);
        cJSON_Delete(p);
        /* The signature, by OpenSSL alone. */
        size_t input_len = (size_t)(d2 - token);
        if (strcmp(alg, "ES256") == 0 && format == WSIG_JWT_RAW) {
            CHECK(sl == 64, "%s: raw signature of %zu bytes", what, sl);
            ECDSA_SIG *es = ECDSA_SIG_new();
            BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
            unsigned char *der = NULL;
            int dl = -1;
            if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
                r = s = NULL;
                dl = i2d_ECDSA_SIG(es, &der);
            }
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            CHECK(dl > 0 && bare_verify(pkey, der, (size_t)dl, token, input_len) == 1,
                  "%s: OpenSSL rejects the raw signature", what);
            OPENSSL_free(der);
        } else if (strcmp(alg, "ES256") == 0) {
            /* Strict DER: parses and re-encodes to the same bytes. */
            const unsigned char *q = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)sl);
            unsigned char *der = NULL;
            int dl = es ? i2d_ECDSA_SIG(es, &der) : -1;
            CHECK(es && q == sig + sl && dl == (int)sl && memcmp(der, sig, sl) == 0,
                  "%s: signature is not DER (%zu bytes)", what, sl);
            ECDSA_SIG_free(es);
            OPENSSL_free(der);
            CHECK(bare_verify(pkey, sig, sl, token, input_len) == 1,
                  "%s: OpenSSL rejects the DER signature", what);
        } else {
            CHECK(sl == (size_t)EVP_PKEY_get_size(pkey) &&
                      bare_verify(pkey, sig, sl, token, input_len) == 1,
                  "%s: OpenSSL rejects the RS256 signature", what);
        }
        /* And a flipped bit anywhere in the signed input fails. */
        char *copy = strdup(token);
        copy[input_len / 2] ^= 0x01;
        unsigned char *der_sig = sig;
        size_t der_len = sl;
        if (strcmp(alg, "ES256") != 0 || format != WSIG_JWT_RAW)
            CHECK(bare_verify(pkey, der_sig, der_len, copy, input_len) != 1,
                  "%s: OpenSSL accepts a tampered input", what);
        free(copy);
    }
    free(hdr);
    free(pay);
    free(sig);
    return nonce;
}

/* The clock the core reads (time() may use a coarse clock that lags it by a
 * tick, which at a second boundary puts a token's iat after "after"). */
static int64_t realtime_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/* Our signer allows lifetimes up to an hour; the verifier's cap defaults to 300 s. */
static const wsig_jwt_verify_options any_ttl = {0, 3600};
static const wsig_jwt_verify_options leeway_60 = {60, 3600};

static void own_tokens(const char *key_file_name, const char *pub_file, const char *alg,
                       int format, int ttl)
{
    char what[128];
    snprintf(what, sizeof what, "%s %s ttl %d", key_file_name,
             format == WSIG_JWT_RAW ? "raw" : "default", ttl);
    wsig_key *key = key_file(key_file_name, NULL);
    wsig_key *pub = key_file(pub_file, NULL);
    EVP_PKEY *pkey = bare_public_key(pub_file);
    if (!key || !pub || !pkey) {
        EVP_PKEY_free(pkey);
        return;
    }
    wsig_error err = WSIG_ERROR_INIT;
    wsig_jwt_options opt = {.ttl_seconds = ttl, .signature_format = format};
    wsig_auth *auth = NULL;
    int rc = wsig_auth_jwt_new(&auth, key, "ak_test-Key.1", format < 0 ? NULL : &opt, &err);
    CHECK(rc == WSIG_OK, "%s: jwt_new: %s", what, err.message);
    if (format < 0)
        format = WSIG_JWT_DER;
    if (ttl == 0)
        ttl = 10;
    if (rc) {
        EVP_PKEY_free(pkey);
        return;
    }
    CHECK(wsig_auth_kind_of(auth) == WSIG_AUTH_JWT, "%s: kind", what);
    static const char body[] = "{\"name\":\"list_client_accounts\",\"payload\":{\"n\":1.50}}";
    char *nonces[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        int64_t before = realtime_s();
        char *token = NULL;
        rc = wsig_jwt_token(auth, &token, "/query", body, strlen(body), 0, &err);
        int64_t after = realtime_s();
        CHECK(rc == WSIG_OK && token, "%s: token: %s", what, err.message);
        if (rc)
            continue;
        int64_t iat = before;
        nonces[i] = inspect_token(token, alg, format, pkey, ttl, before, after, "ak_test-Key.1",
                                  "/query", body, strlen(body), what, &iat);
        /* Verified at its iat: a slow run (valgrind) must not see a 1 s token expire. */
        wsig_jwt_claims c;
        rc = wsig_jwt_verify(pub, &c, token, strlen(token), iat, &any_ttl, "/query", body, strlen(body),
                             &err);
        CHECK(rc == WSIG_OK && strcmp(c.alg, alg) == 0 && c.exp == c.iat + ttl,
              "%s: wsig_jwt_verify: %s/%s (%s)", what, wsig_status_name(rc),
              wsig_reason_name(err.reason), err.message);
        /* Bindings. */
        rc = wsig_jwt_verify(pub, &c, token, strlen(token), iat, &any_ttl, "/command", NULL, 0, &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "request_mismatch"), "%s: uri mismatch: %s/%s",
              what, wsig_status_name(rc), wsig_reason_name(err.reason));
        rc = wsig_jwt_verify(pub, &c, token, strlen(token), iat, &any_ttl, "/query", body,
                             strlen(body) - 1, &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "request_mismatch"), "%s: body mismatch: %s/%s",
              what, wsig_status_name(rc), wsig_reason_name(err.reason));
        rc = wsig_jwt_verify(pub, &c, token, strlen(token), iat, &any_ttl, "/query", "", 0, &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "request_mismatch"), "%s: empty body: %s/%s",
              what, wsig_status_name(rc), wsig_reason_name(err.reason));
        /* Expiry around now. */
        rc = wsig_jwt_verify(pub, &c, token, strlen(token), iat + ttl, &any_ttl, NULL, NULL, 0, &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "expired"), "%s: at exp: %s", what,
              wsig_reason_name(err.reason));
        /* A single changed character in the signature. */
        size_t tl = strlen(token);
        char saved = token[tl - 3];
        token[tl - 3] = saved == 'A' ? 'B' : 'A';
        rc = wsig_jwt_verify(pub, &c, token, tl, iat, &any_ttl, NULL, NULL, 0, &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "bad_signature"),
              "%s: tampered signature: %s/%s", what, wsig_status_name(rc),
              wsig_reason_name(err.reason));
        token[tl - 3] = saved;
        wsig_free(token);
    }
    CHECK(nonces[0] && nonces[1] && strcmp(nonces[0], nonces[1]) != 0,
          "%s: two tokens share a nonce", what);
    free(nonces[0]);
    free(nonces[1]);

    /* wsig_auth_sign gives one Authorization: Bearer header; empty body hashes to e3b0... */
    wsig_headers h;
    rc = wsig_auth_sign(auth, &h, "POST", "/command", NULL, 0, 0, &err);
    CHECK(rc == WSIG_OK && h.count == 1 && strcmp(h.h[0].name, "Authorization") == 0 &&
              strncmp(h.h[0].value, "Bearer ", 7) == 0,
          "%s: auth_sign headers", what);
    if (rc == WSIG_OK && h.count == 1) {
        const char *tok = h.h[0].value + 7;
        wsig_jwt_claims c;
        rc = wsig_jwt_verify(pub, &c, tok, strlen(tok), 0, &leeway_60, "/command", "", 0, &err);
        CHECK(rc == WSIG_OK &&
                  strcmp(c.body_hash,
                         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0,
              "%s: bearer token: %s/%s", what, wsig_status_name(rc), wsig_reason_name(err.reason));
    }
    wsig_auth_free(auth);
    EVP_PKEY_free(pkey);
    wsig_error_clear(&err);
}

static void jwt_key_rules(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *auth = NULL;
    /* RSA-2048: accepted with a warning; RSA-4096 and P-256: no warning. */
    static const struct {
        const char *file;
        bool warn;
    } ok[] = {{"rsa2048_pkcs1.pem", true}, {"rsa4096_pkcs8.pem", false}, {"p256_sec1.pem", false}};
    for (size_t i = 0; i < 3; i++) {
        wsig_key *k = key_file(ok[i].file, NULL);
        if (!k)
            continue;
        auth = NULL;
        int rc = wsig_auth_jwt_new(&auth, k, "kid", NULL, &err);
        CHECK(rc == WSIG_OK && (err.warning[0] != '\0') == ok[i].warn,
              "%s: jwt_new %s, warning \"%s\"", ok[i].file, wsig_status_name(rc), err.warning);
        wsig_auth_free(auth);
    }
    /* secp256k1 (private or public) and public keys are refused. */
    static const char *const refused[] = {"secp256k1_sec1.pem", "secp256k1_public.pem",
                                          "p256_public.pem", "rsa2048_public.pem"};
    for (size_t i = 0; i < 4; i++) {
        wsig_key *k = key_file(refused[i], NULL);
        if (!k)
            continue;
        auth = NULL;
        int rc = wsig_auth_jwt_new(&auth, k, "kid", NULL, &err);
        CHECK(rc == WSIG_ERR_KEY && !auth, "%s: jwt_new gave %s", refused[i],
              wsig_status_name(rc));
        wsig_auth_free(auth);
    }
    wsig_key *hexkey = NULL;
    int rc = wsig_key_from_hex(&hexkey, "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
                               &err);
    if (rc == WSIG_OK) {
        auth = NULL;
        rc = wsig_auth_jwt_new(&auth, hexkey, "kid", NULL, &err);
        CHECK(rc == WSIG_ERR_KEY && !auth, "secp256k1 hex key for jwt: %s", wsig_status_name(rc));
        wsig_auth_free(auth);
    }
    wsig_key_free(hexkey);
    /* Bad key ids and options. */
    wsig_key *p256 = key_file("p256_sec1.pem", NULL);
    if (p256) {
        char long_kid[300];
        memset(long_kid, 'k', sizeof long_kid - 1);
        long_kid[sizeof long_kid - 1] = '\0';
        static const char *const bad_kids[] = {"", "a\"b", "a\\b", "a\nb", "caf\xc3\xa9"};
        for (size_t i = 0; i < sizeof bad_kids / sizeof bad_kids[0] + 1; i++) {
            const char *kid = i < sizeof bad_kids / sizeof bad_kids[0] ? bad_kids[i] : long_kid;
            auth = NULL;
            rc = wsig_auth_jwt_new(&auth, p256, kid, NULL, &err);
            CHECK(rc == WSIG_ERR_ARG && !auth, "kid \"%s\": %s", kid, wsig_status_name(rc));
            wsig_auth_free(auth);
        }
        static const wsig_jwt_options bad_opts[] = {{-1, 0}, {3601, 0}, {10, 2}, {10, -1}};
        for (size_t i = 0; i < sizeof bad_opts / sizeof bad_opts[0]; i++) {
            auth = NULL;
            rc = wsig_auth_jwt_new(&auth, p256, "kid", &bad_opts[i], &err);
            CHECK(rc == WSIG_ERR_ARG && !auth, "jwt option %zu: %s", i, wsig_status_name(rc));
            wsig_auth_free(auth);
        }
        /* An ES256 token does not verify under an RSA key and vice versa. */
        auth = NULL;
        rc = wsig_auth_jwt_new(&auth, p256, "kid", NULL, &err);
        wsig_key *rsa_pub = key_file("rsa2048_public.pem", NULL);
        if (rc == WSIG_OK && rsa_pub) {
            char *token = NULL;
            rc = wsig_jwt_token(auth, &token, "/query", "{}", 2, 0, &err);
            wsig_jwt_claims c;
            if (rc == WSIG_OK)
                rc = wsig_jwt_verify(rsa_pub, &c, token, strlen(token), 0, 0, NULL, NULL, 0, &err);
            CHECK(rc == WSIG_INVALID && reason_is(&err, "bad_signature"),
                  "ES256 token under an RSA key: %s/%s", wsig_status_name(rc),
                  wsig_reason_name(err.reason));
            wsig_free(token);
        }
        wsig_auth_free(auth);
    }
    wsig_error_clear(&err);
}

void test_jwt(void)
{
    cJSON *v = t_vectors("jwt.json");
    if (!v)
        return;
    int n_rs = 0, n_es = 0, n_neg = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "rs256_exact"))
    {
        rs256_exact(c);
        n_rs++;
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "es256_verify"))
    {
        es256_verify_case(c);
        n_es++;
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "verify_negative"))
    {
        negative_case(c);
        n_neg++;
    }
    CHECK(n_rs >= 28 && n_es >= 28 && n_neg >= 53, "jwt.json: %d rs256, %d es256, %d negative",
          n_rs, n_es, n_neg);
    cJSON_Delete(v);
    own_tokens("p256_sec1.pem", "p256_public.pem", "ES256", -1, 0); /* defaults: DER, 10 s */
    own_tokens("p256_pkcs8.pem", "p256_public.pem", "ES256", WSIG_JWT_DER, 30);
    own_tokens("p256_sec1.pem", "p256_public.pem", "ES256", WSIG_JWT_RAW, 0);
    own_tokens("p256.der", "p256_public.pem", "ES256", WSIG_JWT_RAW, 3600);
    own_tokens("rsa2048_pkcs1.pem", "rsa2048_public.pem", "RS256", WSIG_JWT_DER, 1);
    own_tokens("rsa4096_pkcs8.pem", "rsa4096_public.pem", "RS256", -1, 0);
    jwt_key_rules();
    free_keys();
}
