/* Halogen JWTs: ES256 (DER by default, raw r||s as an option) and RS256. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_BYTES 20
#define MAX_SIG 1024        /* RSA-8192 */
#define MAX_TOKEN 16384

/* Claim strings go into JSON unescaped, so they are limited to printable
 * ASCII without '"' and '\'. Returns false otherwise. */
static bool plain_ascii(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || s[n] < 0x20 || s[n] > 0x7e || s[n] == '"' || s[n] == '\\')
            return false;
    return n > 0;
}

/* A context ready to sign a SHA-256 digest with the key: the algorithm
 * fetches of EVP_PKEY_sign_init (and, for RSA, the padding and digest
 * parameters) are paid once per auth instead of once per token. */
static EVP_PKEY_CTX *sign_template(const wsig_key *key)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    if (!ctx || EVP_PKEY_sign_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx, wsig__sha256()) != 1 ||
        (key->kind == WSIG_KEY_RSA && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1)) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int sign_digest_input(const struct wsig_jwt_auth *a, bool raw, unsigned char *sig,
                             size_t *sig_len, const char *input, size_t input_len, wsig_error *err)
{
    const wsig_key *key = a->key;
    unsigned char der[MAX_SIG], digest[32];
    size_t der_len = sizeof der;
    wsig_piece piece = {input, input_len};
    /* A copy per call: one auth signs from many threads at once. */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_dup(a->sign_tmpl);
    int ok = ctx && wsig__sha256_pieces(digest, &piece, 1) &&
             EVP_PKEY_sign(ctx, der, &der_len, digest, sizeof digest) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "signing failed");
    if (key->kind == WSIG_KEY_RSA || !raw) {
        memcpy(sig, der, der_len);
        *sig_len = der_len;
        return WSIG_OK;
    }
    /* RFC 7518 form: fixed 32-byte r and s. */
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    const BIGNUM *r, *s;
    if (!es)
        return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "cannot decode ECDSA signature");
    ECDSA_SIG_get0(es, &r, &s);
    ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
    ECDSA_SIG_free(es);
    if (!ok)
        return wsig__fail(err, WSIG_ERR_CRYPTO, "ECDSA signature out of range");
    *sig_len = 64;
    return WSIG_OK;
}

static int make_token(struct wsig_jwt_auth *a, char **token, const char *uri, const void *body,
                      size_t body_len, int64_t iat, const unsigned char nonce[NONCE_BYTES],
                      wsig_error *err)
{
    if (!plain_ascii(uri, WSIG_JWT_URI_SIZE - 1))
        return wsig__fail(err, WSIG_ERR_ARG, "uri must be printable ASCII without quotes");
    unsigned char hash[32];
    char hash_hex[WSIG_JWT_BODY_HASH_SIZE], nonce_hex[2 * NONCE_BYTES + 1];
    wsig_piece piece = {body, body_len};
    if (!wsig__sha256_pieces(hash, &piece, 1))
        return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "SHA-256 failed");
    wsig__hex_encode(hash_hex, hash, 32);
    wsig__hex_encode(nonce_hex, nonce, NONCE_BYTES);

    char header[48], payload[1536];
    int hn = snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}",
                      wsig_key_algorithm(a->key));
    int pn = snprintf(payload, sizeof payload,
                      "{\"kid\":\"%s\",\"sub\":\"wallet\",\"iat\":%lld,\"exp\":%lld,"
                      "\"nonce\":\"%s\",\"bodyHash\":\"%s\",\"uri\":\"%s\"}",
                      a->key_id, (long long)iat, (long long)(iat + a->ttl), nonce_hex, hash_hex, uri);
    if (hn < 0 || pn < 0 || (size_t)pn >= sizeof payload)
        return wsig__fail(err, WSIG_ERR_ARG, "claims too long");

    size_t cap = wsig__b64_len((size_t)hn, true) + wsig__b64_len((size_t)pn, true) +
                 wsig__b64_len(MAX_SIG, true) + 3;
    char *out = malloc(cap);
    if (!out)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    size_t n = wsig__b64_encode(out, (const unsigned char *)header, (size_t)hn, true);
    out[n++] = '.';
    n += wsig__b64_encode(out + n, (const unsigned char *)payload, (size_t)pn, true);
    unsigned char sig[MAX_SIG];
    size_t sig_len = 0;
    int rc = sign_digest_input(a, a->raw, sig, &sig_len, out, n, err);
    if (rc != WSIG_OK) {
        free(out);
        return rc;
    }
    out[n++] = '.';
    wsig__b64_encode(out + n, sig, sig_len, true);
    *token = out;
    return WSIG_OK;
}

static int fresh_token(struct wsig_jwt_auth *a, char **token, const char *uri, const void *body,
                       size_t body_len, int64_t now_s, wsig_error *err)
{
    unsigned char nonce[NONCE_BYTES];
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "random generator failed");
    if (now_s <= 0)
        now_s = wsig__now_ms() / 1000;
    /* Verifiers take times up to 2^53 s; beyond, iat + ttl could overflow too. */
    if (now_s > 9007199254740992LL)
        return wsig__fail(err, WSIG_ERR_ARG, "a JWT's iat is at most 2^53 s");
    return make_token(a, token, uri, body, body_len, now_s, nonce, err);
}

int wsig__jwt_sign_headers(struct wsig_jwt_auth *a, wsig_headers *out, const char *uri,
                           const void *body, size_t body_len, int64_t now_ms, wsig_error *err)
{
    char *token;
    int rc = fresh_token(a, &token, uri, body, body_len, now_ms > 0 ? now_ms / 1000 : 0, err);
    if (rc != WSIG_OK)
        return rc;
    char value[WSIG_HEADER_VALUE_MAX];
    int n = snprintf(value, sizeof value, "Bearer %s", token);
    free(token);
    if (n < 0 || (size_t)n >= sizeof value || !wsig__set_header(out, "Authorization", value))
        return wsig__fail(err, WSIG_ERR_ARG, "token too long for a header");
    return WSIG_OK;
}

static struct wsig_jwt_auth *jwt_of(wsig_auth *auth, wsig_error *err)
{
    if (auth->kind != WSIG_AUTH_JWT) {
        wsig__fail(err, WSIG_ERR_ARG, "not a jwt auth");
        return NULL;
    }
    return &auth->u.jwt;
}

int wsig_jwt_token(wsig_auth *auth, char **token, const char *uri, const void *body,
                   size_t body_len, int64_t now_s, wsig_error *err)
{
    *token = NULL;
    wsig__reset(err);
    struct wsig_jwt_auth *a = jwt_of(auth, err);
    if (a && wsig__check_time(now_s, "now_s", err) != WSIG_OK)
        return WSIG_ERR_ARG;
    return a ? fresh_token(a, token, uri, body, body_len, now_s, err) : WSIG_ERR_ARG;
}

int wsig_jwt_token_fixed(wsig_auth *auth, char **token, const char *uri, const void *body,
                         size_t body_len, int64_t iat, const char *nonce_hex, wsig_error *err)
{
    *token = NULL;
    wsig__reset(err);
    struct wsig_jwt_auth *a = jwt_of(auth, err);
    unsigned char nonce[20];
    if (!a)
        return WSIG_ERR_ARG;
    if (!wsig__hex_decode(nonce, sizeof nonce, nonce_hex, strlen(nonce_hex)))
        return wsig__fail(err, WSIG_ERR_ARG, "nonce must be 40 hex digits");
    return make_token(a, token, uri, body, body_len, iat, nonce, err);
}

int wsig__jwt_auth_init(struct wsig_jwt_auth *a, const wsig_key *key, const char *key_id,
                        const wsig_jwt_options *opt, wsig_error *err)
{
    if (!key->is_private || (key->kind != WSIG_KEY_P256 && key->kind != WSIG_KEY_RSA))
        return wsig__fail(err, WSIG_ERR_KEY, "jwt needs an EC P-256 or RSA private key");
    if (!plain_ascii(key_id, WSIG_JWT_KID_SIZE - 1))
        return wsig__fail(err, WSIG_ERR_ARG,
                          "key_id must be 1-256 printable ASCII characters without quotes");
    int ttl = opt && opt->ttl_seconds ? opt->ttl_seconds : 10;
    int format = opt ? opt->signature_format : WSIG_JWT_DER;
    if (ttl < 1 || ttl > 3600)
        return wsig__fail(err, WSIG_ERR_ARG, "ttl must be 1..3600 seconds");
    if (format != WSIG_JWT_DER && format != WSIG_JWT_RAW)
        return wsig__fail(err, WSIG_ERR_ARG, "signature_format must be der or raw");
    a->key = wsig__key_ref(key);
    strcpy(a->key_id, key_id);
    a->ttl = ttl;
    a->raw = format == WSIG_JWT_RAW;
    if (!(a->sign_tmpl = sign_template(key)))
        return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "cannot set up signing with the key");
    if (key->kind == WSIG_KEY_RSA && key->bits < 4096 && err)
        snprintf(err->warning, sizeof err->warning,
                 "RSA-%d key: Halogen accepts RSA-4096 (or EC P-256) keys only", key->bits);
    return WSIG_OK;
}

void wsig__jwt_auth_clear(struct wsig_jwt_auth *a)
{
    EVP_PKEY_CTX_free(a->sign_tmpl);
    wsig_key_free(a->key);
    a->sign_tmpl = NULL;
    a->key = NULL;
}

/* ------------------------------------------------------------------ */
/* Verification                                                       */

static bool b64url_part(unsigned char **out, size_t *out_len, const char *s, size_t n)
{
    *out = malloc(n * 3 / 4 + 4);
    if (!*out)
        return false;
    if (!wsig__b64_decode(*out, out_len, s, n, true)) {
        free(*out);
        *out = NULL;
        return false;
    }
    return true;
}

/* Header and payload are UTF-8 JSON objects (RFC 7519 §7.2) with no member
 * named twice (see wsig__json_parse_exact). */
static cJSON *parse_part(const unsigned char *json, size_t len)
{
    if (!wsig__utf8_valid(json, len))
        return NULL;
    cJSON *obj = wsig__json_parse_exact((const char *)json, len);
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

static bool copy_claim_str(char *dst, size_t cap, const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return false;
    strcpy(dst, v->valuestring);
    return true;
}

/* A NumericDate claim (RFC 7519 §2: may be fractional): its floor, and
 * whether it had a fraction; times beyond 2^53 s are refused before any
 * conversion. */
typedef struct {
    int64_t floor;
    bool fraction;
} numeric_date;

static bool claim_time(numeric_date *d, const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v) ||
        !(v->valuedouble >= -9007199254740992.0 && v->valuedouble <= 9007199254740992.0))
        return false;
    int64_t t = (int64_t)v->valuedouble; /* toward zero */
    if ((double)t > v->valuedouble)
        t--;
    d->floor = t;
    d->fraction = (double)t < v->valuedouble;
    return true;
}

/* Out: the claims, iat rounded up and exp down (the stricter way for the
 * time checks), and the lifetime exp - iat rounded the other way (the
 * stricter way for the cap). */
static int parse_claims(wsig_jwt_claims *c, int64_t *lifetime, const unsigned char *json,
                        size_t len, wsig_error *err)
{
    numeric_date iat = {0, false}, exp = {0, false};
    cJSON *obj = parse_part(json, len);
    if (!obj)
        return wsig__reject(err, WSIG_REASON_MALFORMED,
                            "payload is not a UTF-8 JSON object with unique member names");
    const char *bad = !copy_claim_str(c->kid, sizeof c->kid, obj, "kid")     ? "kid"
                      : !copy_claim_str(c->sub, sizeof c->sub, obj, "sub")   ? "sub"
                      : !claim_time(&iat, obj, "iat")                        ? "iat"
                      : !claim_time(&exp, obj, "exp")                        ? "exp"
                      : !copy_claim_str(c->nonce, sizeof c->nonce, obj, "nonce") ? "nonce"
                      : !copy_claim_str(c->body_hash, sizeof c->body_hash, obj, "bodyHash")
                          ? "bodyHash"
                      : !copy_claim_str(c->uri, sizeof c->uri, obj, "uri") ? "uri"
                                                                           : NULL;
    cJSON_Delete(obj);
    c->iat = iat.floor + iat.fraction;
    c->exp = exp.floor;
    *lifetime = exp.floor + exp.fraction - iat.floor;
    return bad ? wsig__reject(err, WSIG_REASON_MALFORMED,
                              "claim %s is missing, of the wrong type or too long", bad)
               : WSIG_OK;
}

static int check_header(const wsig_key *key, wsig_jwt_claims *c, const unsigned char *json,
                        size_t len, wsig_error *err)
{
    cJSON *obj = parse_part(json, len);
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(obj, "alg");
    int rc;
    if (!cJSON_IsString(alg))
        rc = wsig__reject(err, WSIG_REASON_MALFORMED,
                          "header is not a UTF-8 JSON object with unique member names and an alg");
    else if (cJSON_GetObjectItemCaseSensitive(obj, "crit"))
        /* RFC 7515 §4.1.11: extensions named in crit must be understood; we
         * understand none. */
        rc = wsig__reject(err, WSIG_REASON_MALFORMED, "header has crit: no extension is supported");
    else if (strcmp(alg->valuestring, wsig_key_algorithm(key)) != 0)
        rc = wsig__reject(err, WSIG_REASON_BAD_SIGNATURE, "alg %.16s does not match the %s key",
                          alg->valuestring, wsig_key_algorithm(key));
    else {
        snprintf(c->alg, sizeof c->alg, "%s", alg->valuestring);
        rc = WSIG_OK;
    }
    cJSON_Delete(obj);
    return rc;
}

static int verify_der(const wsig_key *key, const unsigned char *sig, size_t sig_len,
                      const char *input, size_t input_len, wsig_error *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int v = md && EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, key->pkey, NULL) == 1
                ? EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)input, input_len)
                : -2;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    if (v == -2)
        return wsig__fail(err, WSIG_ERR_CRYPTO, "cannot start verification");
    return v == 1 ? WSIG_OK : wsig__reject(err, WSIG_REASON_BAD_SIGNATURE, "signature does not verify");
}

/* Verify the signature over input; ES256 may be raw (64 bytes) or DER. */
static int check_signature(const wsig_key *key, const unsigned char *sig, size_t sig_len,
                           const char *input, size_t input_len, wsig_error *err)
{
    unsigned char der[80];
    const unsigned char *use = sig;
    size_t use_len = sig_len;
    if (key->kind == WSIG_KEY_P256 && sig_len == 64) {
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
        unsigned char *p = der;
        int n = -1;
        if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
            r = s = NULL;
            n = i2d_ECDSA_SIG(es, &p);
        }
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        if (n <= 0)
            return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "cannot encode ECDSA signature");
        use = der;
        use_len = (size_t)n;
        /* A 64-byte DER signature is possible (short r and s): try both. */
        if (verify_der(key, use, use_len, input, input_len, err) == WSIG_OK)
            return WSIG_OK;
        use = sig;
        use_len = sig_len;
    }
    return verify_der(key, use, use_len, input, input_len, err);
}

static int check_times(const wsig_jwt_claims *c, int64_t lifetime, int64_t now_s,
                       const wsig_jwt_verify_options *o, wsig_error *err)
{
    if (lifetime > o->max_ttl_s)
        return wsig__reject(err, WSIG_REASON_LIFETIME_TOO_LONG,
                            "token lives %lld s, more than the %d s accepted",
                            (long long)lifetime, o->max_ttl_s);
    if (now_s <= 0)
        now_s = wsig__now_ms() / 1000;
    /* RFC 7519: expired on or after exp. */
    if (now_s >= c->exp + o->leeway_s)
        return wsig__reject(err, WSIG_REASON_EXPIRED, "token expired at %lld", (long long)c->exp);
    if (c->iat - o->leeway_s > now_s)
        return wsig__reject(err, WSIG_REASON_EXPIRED, "token issued in the future (iat %lld)",
                            (long long)c->iat);
    return WSIG_OK;
}

static int check_binding(const wsig_jwt_claims *c, const char *expected_uri, const void *body,
                         size_t body_len, wsig_error *err)
{
    if (expected_uri && strcmp(expected_uri, c->uri) != 0)
        return wsig__reject(err, WSIG_REASON_REQUEST_MISMATCH, "uri claim does not match the request");
    if (body) {
        unsigned char hash[32];
        char hex[WSIG_JWT_BODY_HASH_SIZE];
        wsig_piece piece = {body, body_len};
        if (!wsig__sha256_pieces(hash, &piece, 1))
            return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "SHA-256 failed");
        wsig__hex_encode(hex, hash, 32);
        if (wsig__ascii_casecmp(hex, c->body_hash) != 0)
            return wsig__reject(err, WSIG_REASON_REQUEST_MISMATCH, "bodyHash does not match the body");
    }
    return WSIG_OK;
}

static int verify_options(wsig_jwt_verify_options *o, const wsig_jwt_verify_options *given,
                          wsig_error *err)
{
    const int max = (int)(WSIG_MAX_WINDOW_MS / 1000);
    *o = given ? *given : (wsig_jwt_verify_options){0, 0};
    if (!o->max_ttl_s)
        o->max_ttl_s = WSIG_JWT_MAX_TTL_DEFAULT;
    if (o->leeway_s < 0 || o->leeway_s > max)
        return wsig__fail(err, WSIG_ERR_ARG, "leeway must be 0..%d seconds", max);
    if (o->max_ttl_s < 1 || o->max_ttl_s > max)
        return wsig__fail(err, WSIG_ERR_ARG, "max_ttl must be 1..%d seconds", max);
    return WSIG_OK;
}

int wsig_jwt_verify(const wsig_key *key, wsig_jwt_claims *claims, const char *token,
                    size_t token_len, int64_t now_s, const wsig_jwt_verify_options *opt,
                    const char *expected_uri, const void *body, size_t body_len, wsig_error *err)
{
    wsig__reset(err);
    memset(claims, 0, sizeof *claims);
    wsig_jwt_verify_options o;
    int64_t lifetime = 0;
    int rc;
    if (key->kind != WSIG_KEY_P256 && key->kind != WSIG_KEY_RSA)
        return wsig__fail(err, WSIG_ERR_KEY, "jwt verification needs a P-256 or RSA key");
    if ((rc = wsig__check_time(now_s, "now_s", err)) != WSIG_OK ||
        (rc = verify_options(&o, opt, err)) != WSIG_OK)
        return rc;
    if (token_len > MAX_TOKEN)
        return wsig__reject(err, WSIG_REASON_MALFORMED, "token too long");
    const char *dot1 = memchr(token, '.', token_len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', token_len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', token_len - (size_t)(dot2 + 1 - token)))
        return wsig__reject(err, WSIG_REASON_MALFORMED, "a JWT has three dot-separated parts");
    unsigned char *hdr = NULL, *pay = NULL, *sig = NULL;
    size_t hdr_len, pay_len, sig_len;
    if (!b64url_part(&hdr, &hdr_len, token, (size_t)(dot1 - token)) ||
        !b64url_part(&pay, &pay_len, dot1 + 1, (size_t)(dot2 - dot1 - 1)) ||
        !b64url_part(&sig, &sig_len, dot2 + 1, token_len - (size_t)(dot2 + 1 - token))) {
        rc = wsig__reject(err, WSIG_REASON_MALFORMED, "a part is not base64url");
        goto done;
    }
    /* The signature is checked before the claims are read, so a tampered
     * payload is reported as bad_signature whatever it decodes to. */
    if ((rc = check_header(key, claims, hdr, hdr_len, err)) != WSIG_OK ||
        (rc = check_signature(key, sig, sig_len, token, (size_t)(dot2 - token), err)) != WSIG_OK ||
        (rc = parse_claims(claims, &lifetime, pay, pay_len, err)) != WSIG_OK ||
        (rc = check_times(claims, lifetime, now_s, &o, err)) != WSIG_OK)
        goto done;
    rc = check_binding(claims, expected_uri, body, body_len, err);
done:
    free(hdr);
    free(pay);
    free(sig);
    return rc;
}
