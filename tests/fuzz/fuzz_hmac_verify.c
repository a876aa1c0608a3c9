/* libFuzzer target: HMAC request verification (wsig_hmac_verify).
 *
 * Input layout:
 *   byte 0       flags: bit 0 hex encoding (else base64); bits 1-2 separator
 *                (0 "|", 1 ":", 2 "", 3 "|"); bit 3 custom header names
 *                (X-Key / X-Sig / X-Ts); bit 4 lower/upper-case the names
 *                as sent; bit 5 sign mode (below); bit 6 api_key_out NULL;
 *                bit 7 send the signature header twice (a bogus copy first).
 *   bytes 1-8    now_ms, little endian, masked to 42 bits (0 = clock)
 *   bytes 9-12   window_ms mod (WSIG_MAX_WINDOW_MS + 2) (0 = default 30000;
 *                0xffffffff = INT64_MAX; beyond the maximum must be refused)
 *   fields       secret, registered api key, method, path, then the three
 *                header values as received: api key, timestamp, signature
 *                (each NUL-terminated); the rest is the body.
 *
 * A fresh verifier per input knows one (api key, secret) from the input.
 * Properties: status OK, INVALID (a header reason) or ERR_ARG (bad method);
 * an accepted request came with the registered key, a decimal timestamp in
 * the window, a signature of the right length for the encoding, and no
 * duplicated header.
 * Sign mode: the request is signed by wsig_auth_sign with the same key,
 * secret and options at now_ms, and must then verify (round trip).
 */
#include "fuzz_common.h"

#include <strings.h>

static const char *const SEPARATORS[4] = {"|", ":", "", "|"};

static void recase(char *s, bool upper)
{
    for (; *s; s++)
        if (upper && *s >= 'a' && *s <= 'z')
            *s = (char)(*s - 32);
        else if (!upper && *s >= 'A' && *s <= 'Z')
            *s = (char)(*s + 32);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t f = fz_init(data, size);
    uint8_t flags = fz_u8(&f);
    int64_t now_ms = (int64_t)(fz_u64(&f) & ((1ULL << 42) - 1));
    uint32_t wraw = fz_u32(&f);
    int64_t window = wraw == 0xffffffffu ? INT64_MAX : (int64_t)(wraw % (WSIG_MAX_WINDOW_MS + 2));
    size_t secret_len, body_len;
    char *secret = fz_str(&f, &secret_len);
    char *reg_key = fz_str(&f, NULL);
    char *method = fz_str(&f, NULL);
    char *path = fz_str(&f, NULL);
    char *hk = fz_str(&f, NULL), *hts = fz_str(&f, NULL), *hsig = fz_str(&f, NULL);
    uint8_t *body = fz_rest(&f, &body_len);

    wsig_hmac_options o = {(flags & 1) ? WSIG_HMAC_HEX : WSIG_HMAC_BASE64, SEPARATORS[(flags >> 1) & 3],
                           (flags & 8) ? "X-Key" : NULL, (flags & 8) ? "X-Sig" : NULL,
                           (flags & 8) ? "X-Ts" : NULL};
    char names[3][32];
    snprintf(names[0], sizeof names[0], "%s", (flags & 8) ? "X-Key" : "x-api-key");
    snprintf(names[1], sizeof names[1], "%s", (flags & 8) ? "X-Ts" : "x-timestamp");
    snprintf(names[2], sizeof names[2], "%s", (flags & 8) ? "X-Sig" : "x-signature");
    if (flags & 16)
        for (int i = 0; i < 3; i++)
            recase(names[i], (flags & 8) == 0);

    wsig_hmac_verifier *v = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_hmac_verifier_new(&v, window, &o, &err);
    if (window > WSIG_MAX_WINDOW_MS) {
        FZ_CHECK(rc == WSIG_ERR_ARG && !v, "window %lld accepted", (long long)window);
        goto out;
    }
    FZ_CHECK(rc == WSIG_OK, "verifier: %s", err.message);
    bool registered = wsig_hmac_verifier_add(v, reg_key, secret, secret_len, &err) == WSIG_OK;

    const char *vk = hk, *vts = hts, *vsig = hsig;
    wsig_headers signed_h;
    if ((flags & 32) && now_ms == 0)
        now_ms = 1730998051892; /* one clock for signer and verifier */
    if ((flags & 32) && registered) {
        wsig_auth *a = NULL;
        FZ_CHECK(wsig_auth_hmac_new(&a, reg_key, secret, secret_len, &o, &err) == WSIG_OK,
                 "signer refused what the verifier took: %s", err.message);
        rc = wsig_auth_sign(a, &signed_h, method, path, body, body_len, now_ms, &err);
        fz_check_err(&err, rc);
        FZ_CHECK(rc == WSIG_OK || rc == WSIG_ERR_ARG, "sign: %s", wsig_status_name(rc));
        if (rc == WSIG_OK) {
            FZ_CHECK(signed_h.count == 3, "%zu signed headers", signed_h.count);
            vk = vts = vsig = NULL;
            for (size_t i = 0; i < signed_h.count; i++) {
                const char *nm = signed_h.h[i].name, *val = signed_h.h[i].value;
                if (strcasecmp(nm, names[0]) == 0) vk = val;
                else if (strcasecmp(nm, names[1]) == 0) vts = val;
                else if (strcasecmp(nm, names[2]) == 0) vsig = val;
            }
            FZ_CHECK(vk && vts && vsig, "signer used other header names");
        } else {
            flags &= (uint8_t)~32; /* nothing signed: verify the raw headers */
        }
        wsig_auth_free(a);
    } else {
        flags &= (uint8_t)~32;
    }

    /* bit 7: the signature header twice (a second, different copy first). */
    bool dup = flags & 128;
    wsig_header_ref h[4] = {{names[2], "AAAA"}, {names[0], vk}, {names[1], vts}, {names[2], vsig}};
    if (dup)
        flags &= (uint8_t)~32; /* a duplicate must not verify, signed or not */
    char key_out[WSIG_HEADER_VALUE_MAX];
    key_out[0] = '\0';
    rc = wsig_hmac_verify(v, (flags & 64) ? NULL : key_out, method, path, dup ? h : h + 1, dup ? 4 : 3,
                          body, body_len, now_ms, &err);
    fz_check_err(&err, rc);
    FZ_CHECK(rc == WSIG_OK || rc == WSIG_INVALID || rc == WSIG_ERR_ARG, "unexpected status %s: %s",
             wsig_status_name(rc), err.message);
    if (rc == WSIG_INVALID)
        FZ_CHECK(err.reason == WSIG_REASON_BAD_SIGNATURE || err.reason == WSIG_REASON_STALE_TIMESTAMP ||
                     err.reason == WSIG_REASON_MALFORMED_HEADER || err.reason == WSIG_REASON_MISSING_HEADER,
                 "reason %s", wsig_reason_name(err.reason));
    if (flags & 32)
        FZ_CHECK(rc == WSIG_OK, "round trip: a request signed with the registered key does not verify: "
                 "%s %s (%s)", wsig_status_name(rc), wsig_reason_name(err.reason), err.message);
    if (rc == WSIG_OK) {
        FZ_CHECK(!dup, "accepted with the signature header twice");
        FZ_CHECK(registered && strcmp(vk, reg_key) == 0, "accepted api key %s", vk);
        if (!(flags & 64))
            FZ_CHECK(strcmp(key_out, reg_key) == 0, "api_key_out %s", key_out);
        size_t sl = strlen(vsig);
        FZ_CHECK((flags & 1) ? sl == 64 : sl == 44, "signature of length %zu accepted", sl);
        size_t tl = strlen(vts);
        FZ_CHECK(tl > 0 && strspn(vts, "0123456789") == tl, "timestamp %s accepted", vts);
    }
    wsig_hmac_verifier_free(v);
out:
    wsig_error_clear(&err);
    free(secret);
    free(reg_key);
    free(method);
    free(path);
    free(hk);
    free(hts);
    free(hsig);
    free(body);
    return 0;
}
