/* libFuzzer target: JWT parsing and verification (wsig_jwt_verify).
 *
 * Input layout:
 *   byte 0      flags: bit 0 key (0 P-256 public, 1 RSA-2048 public);
 *               bit 1 sign mode (see below); bit 2 sign mode: raw r||s
 *               instead of DER; bit 3 pass expected_uri; bit 4 pass body;
 *               bit 5 now_s = 0 (system clock) instead of bytes 1-8.
 *   bytes 1-8   now_s, little endian, masked to 40 bits
 *   bytes 9-10  leeway_s, little endian (0..65535)
 *   field       expected_uri, NUL-terminated
 *   field       body, NUL-terminated
 *   rest        verify mode: the token bytes (exact length, no NUL)
 *               sign mode: HEADER-JSON NUL PAYLOAD-JSON
 *
 * Verify mode feeds arbitrary token bytes to the fixed public keys of
 * tests/vectors/keys (p256_public.pem, rsa2048_public.pem): only the seeds can
 * get past the signature. Sign mode reaches the claim checks too: the fuzzer's
 * header and payload JSON are encoded and signed here with the P-256 private
 * key (p256_sec1.pem), then verified against the public key.
 *
 * Properties: status is OK or INVALID with reason bad_signature / expired /
 * malformed; an accepted token has alg matching the key, claims within the
 * time window (checked here without overflow) and matching uri/bodyHash.
 */
#include "fuzz_common.h"
#include "internal.h"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

static wsig_key *g_p256, *g_rsa, *g_p256_priv;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_p256 = fz_load_key(FZ_P256_PUBLIC_PEM);
    g_rsa = fz_load_key(FZ_RSA2048_PUBLIC_PEM);
    g_p256_priv = fz_load_key(FZ_P256_PRIVATE_PEM);
    return 0;
}

static size_t b64url(char *out, const uint8_t *in, size_t len)
{
    return wsig__b64_encode(out, in, len, true);
}

/* HEADER "." PAYLOAD "." SIG, signed with the fixed P-256 private key. */
static char *sign_token(const uint8_t *hdr, size_t hn, const uint8_t *pay, size_t pn, bool raw,
                        size_t *token_len)
{
    size_t cap = wsig__b64_len(hn, true) + wsig__b64_len(pn, true) + wsig__b64_len(80, true) + 4;
    char *tok = malloc(cap);
    size_t n = b64url(tok, hdr, hn);
    tok[n++] = '.';
    n += b64url(tok + n, pay, pn);
    unsigned char der[80], sig[80];
    size_t der_len = sizeof der, sig_len;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    FZ_CHECK(md && EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, g_p256_priv->pkey, NULL) == 1 &&
                 EVP_DigestSign(md, der, &der_len, (const unsigned char *)tok, n) == 1,
             "harness: signing failed");
    EVP_MD_CTX_free(md);
    if (raw) {
        const unsigned char *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
        const BIGNUM *r, *s;
        FZ_CHECK(es, "harness: DER");
        ECDSA_SIG_get0(es, &r, &s);
        BN_bn2binpad(r, sig, 32);
        BN_bn2binpad(s, sig + 32, 32);
        ECDSA_SIG_free(es);
        sig_len = 64;
    } else {
        memcpy(sig, der, der_len);
        sig_len = der_len;
    }
    tok[n++] = '.';
    n += b64url(tok + n, sig, sig_len);
    *token_len = n;
    /* Exact-size copy so reads past the token are caught. */
    char *exact = malloc(n);
    memcpy(exact, tok, n);
    free(tok);
    return exact;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t f = fz_init(data, size);
    uint8_t flags = fz_u8(&f);
    int64_t now_s = (int64_t)(fz_u64(&f) & ((1ULL << 40) - 1));
    int leeway = fz_u16(&f);
    if (flags & 32)
        now_s = 0;
    size_t body_len;
    char *uri = fz_str(&f, NULL);
    char *body = fz_str(&f, &body_len);
    bool sign = flags & 2;
    const wsig_key *key = sign ? g_p256 : (flags & 1) ? g_rsa : g_p256;

    char *token;
    size_t token_len;
    if (sign) {
        size_t hn, pn;
        char *hdr = fz_str(&f, &hn);
        uint8_t *pay = fz_rest(&f, &pn);
        token = sign_token((const uint8_t *)hdr, hn, pay, pn, flags & 4, &token_len);
        free(hdr);
        free(pay);
    } else {
        token = (char *)fz_rest(&f, &token_len);
    }

    wsig_jwt_claims claims;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_jwt_verify_options opt = {leeway, (flags & 64) ? 86400 : 0};
    int rc = wsig_jwt_verify(key, &claims, token, token_len, now_s, &opt,
                             (flags & 8) ? uri : NULL, (flags & 16) ? body : NULL, body_len, &err);
    fz_check_err(&err, rc);
    FZ_CHECK(rc == WSIG_OK || rc == WSIG_INVALID, "unexpected status %s: %s", wsig_status_name(rc),
             err.message);
    if (rc == WSIG_INVALID)
        FZ_CHECK(err.reason == WSIG_REASON_BAD_SIGNATURE || err.reason == WSIG_REASON_EXPIRED ||
                     err.reason == WSIG_REASON_MALFORMED ||
                     err.reason == WSIG_REASON_LIFETIME_TOO_LONG ||
                     err.reason == WSIG_REASON_REQUEST_MISMATCH,
                 "reason %s", wsig_reason_name(err.reason));
    if (rc == WSIG_OK) {
        FZ_CHECK(strcmp(claims.alg, wsig_key_algorithm(key)) == 0, "alg %s accepted", claims.alg);
        FZ_CHECK(memchr(claims.kid, 0, sizeof claims.kid) && memchr(claims.sub, 0, sizeof claims.sub) &&
                     memchr(claims.nonce, 0, sizeof claims.nonce) &&
                     memchr(claims.body_hash, 0, sizeof claims.body_hash) &&
                     memchr(claims.uri, 0, sizeof claims.uri),
                 "claim not terminated");
        FZ_CHECK(claims.exp - claims.iat <= ((flags & 64) ? 86400 : WSIG_JWT_MAX_TTL_DEFAULT),
                 "accepted a lifetime of %lld s", (long long)(claims.exp - claims.iat));
        if (now_s > 0) {
            /* Exact arithmetic: an accepted token is inside its window. */
            __int128 now = now_s, exp = claims.exp, iat = claims.iat, lw = leeway;
            FZ_CHECK(now < exp + lw, "accepted at %lld although exp %lld + leeway %d has passed",
                     (long long)now_s, (long long)claims.exp, leeway);
            FZ_CHECK(iat - lw <= now, "accepted at %lld although iat %lld is in the future",
                     (long long)now_s, (long long)claims.iat);
        }
        if (flags & 8)
            FZ_CHECK(strcmp(uri, claims.uri) == 0, "uri %s accepted for %s", claims.uri, uri);
    }
    wsig_error_clear(&err);
    free(token);
    free(uri);
    free(body);
    return 0;
}
