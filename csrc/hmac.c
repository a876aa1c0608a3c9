/* HMAC-SHA256 request signing: x-api-key / x-timestamp / x-signature. */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co., see the fast path below */
#include "internal.h"
#include "replay.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>


/* HMAC-SHA256 (RFC 2104) from the two SHA-256 states left after hashing the
 * ipad and opad key blocks, saved once per key. A signature resumes them and
 * hashes only its own data: no lock, and half the time of OpenSSL 3.0's
 * EVP_MAC, whose per-call provider dispatch and digest-context copies cost
 * more than the three compressions of a short request (bench/RESULTS.md).
 *
 * One switch picks how a state is held. By default, OpenSSL's low-level
 * SHA256_* (deprecated in 3.0 but present): a state is a plain struct, copied
 * by assignment, with no allocation; it bypasses providers, so this HMAC never
 * runs in a FIPS module. Where the deprecated API is hidden
 * (OPENSSL_NO_DEPRECATED with OPENSSL_API_COMPAT >= 30000, which defines
 * OPENSSL_NO_DEPRECATED_3_0), a state is an EVP_MD_CTX of the pre-fetched
 * SHA-256, resumed with EVP_MD_CTX_copy_ex: one context allocation per
 * signature, and the provider's SHA-256 (so a FIPS provider's, if loaded).
 * Everything above the five sha_* primitives is shared. */
#ifdef OPENSSL_NO_DEPRECATED_3_0
#define WSIG_HMAC_EVP 1
#else
#define WSIG_HMAC_EVP 0
#endif

#if WSIG_HMAC_EVP
typedef EVP_MD_CTX *sha_state;

static bool sha_init(sha_state *s)
{
    if (!*s && !(*s = EVP_MD_CTX_new()))
        return false;
    return EVP_DigestInit_ex2(*s, wsig__sha256(), NULL);
}

static bool sha_resume(sha_state *s, const sha_state *saved)
{
    if (!*s && !(*s = EVP_MD_CTX_new()))
        return false;
    return EVP_MD_CTX_copy_ex(*s, *saved);
}

static bool sha_update(sha_state *s, const void *data, size_t len)
{
    return EVP_DigestUpdate(*s, data, len);
}

static bool sha_final(sha_state *s, unsigned char out[32])
{
    return EVP_DigestFinal_ex(*s, out, NULL);
}

/* The default provider's SHA-256 context is freed with OPENSSL_clear_free. */
static void sha_wipe(sha_state *s)
{
    EVP_MD_CTX_free(*s);
    *s = NULL;
}
#else
typedef SHA256_CTX sha_state;

static bool sha_init(sha_state *s)
{
    return SHA256_Init(s);
}

static bool sha_resume(sha_state *s, const sha_state *saved)
{
    *s = *saved;
    return true;
}

static bool sha_update(sha_state *s, const void *data, size_t len)
{
    return SHA256_Update(s, data, len);
}

static bool sha_final(sha_state *s, unsigned char out[32])
{
    return SHA256_Final(out, s);
}

static void sha_wipe(sha_state *s)
{
    OPENSSL_cleanse(s, sizeof *s);
}
#endif

struct wsig_hmac_keyed {
    sha_state inner, outer;
};

static void keyed_free(struct wsig_hmac_keyed *k)
{
    if (!k)
        return;
    sha_wipe(&k->inner);
    sha_wipe(&k->outer);
    wsig_free_secret(k, sizeof *k); /* the states are as good as the key */
}

/* A state that has absorbed the key block XOR pad_byte. */
static bool absorb_pad(sha_state *s, const unsigned char block[64], unsigned char pad_byte)
{
    unsigned char pad[64];
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = block[i] ^ pad_byte;
    bool ok = sha_init(s) && sha_update(s, pad, sizeof pad);
    OPENSSL_cleanse(pad, sizeof pad);
    return ok;
}

/* Returns NULL on failure (out of memory, or a digest that failed). */
static struct wsig_hmac_keyed *key_states(const unsigned char *secret, size_t len)
{
    struct wsig_hmac_keyed *k = calloc(1, sizeof *k);
    unsigned char block[64] = {0};
    if (!k)
        return NULL;
    bool ok = true;
    if (len > sizeof block) /* longer keys are replaced by their hash */
        ok = sha_init(&k->inner) && sha_update(&k->inner, secret, len) &&
             sha_final(&k->inner, block);
    else
        memcpy(block, secret, len);
    ok = ok && absorb_pad(&k->inner, block, 0x36) && absorb_pad(&k->outer, block, 0x5c);
    OPENSSL_cleanse(block, sizeof block);
    if (!ok) {
        keyed_free(k);
        return NULL;
    }
    return k;
}

static int copy_name(char *dst, size_t *len, const char *src, const char *def, wsig_error *err)
{
    const char *s = src ? src : def;
    size_t n = strlen(s);
    if (n == 0 || n >= WSIG_HEADER_NAME_MAX || strpbrk(s, ": \r\n\t"))
        return wsig__fail(err, WSIG_ERR_ARG, "bad header name");
    memcpy(dst, s, n + 1);
    *len = n;
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
    a->separator_len = strlen(sep);
    int rc;
    if ((rc = copy_name(a->api_key_header, &a->api_key_header_len, opt->api_key_header,
                        "x-api-key", err)) ||
        (rc = copy_name(a->signature_header, &a->signature_header_len, opt->signature_header,
                        "x-signature", err)) ||
        (rc = copy_name(a->timestamp_header, &a->timestamp_header_len, opt->timestamp_header,
                        "x-timestamp", err)))
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
    /* An empty key is a valid HMAC key that everyone knows: refuse it here,
     * so signer and verifier alike (docs/security.md). */
    if (secret_len == 0)
        return wsig__fail(err, WSIG_ERR_ARG, "the HMAC secret is empty: anyone could sign with it");
    a->api_key = api_key ? strdup(api_key) : NULL;
    a->api_key_len = api_key ? strlen(api_key) : 0;
    if (api_key && !a->api_key)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    a->keyed = key_states((const unsigned char *)secret, secret_len);
    if (!a->keyed)
        return wsig__fail_ossl(err, WSIG_ERR_NOMEM, "out of memory keying HMAC-SHA256");
    return WSIG_OK;
}

void wsig__hmac_auth_clear(struct wsig_hmac_auth *a)
{
    free(a->api_key);
    keyed_free(a->keyed);
    memset(a, 0, sizeof *a);
}

/* Out: the method in upper case, and its length in *len. */
/* The method as the prehash holds it: any token the client sends
 * (RFC 9110), upper-cased (docs/protocols.md). */
static int upper_method(char out[MAX_METHOD], size_t *len, const char *method, wsig_error *err)
{
    size_t n = strnlen(method, MAX_METHOD);
    if (n >= MAX_METHOD || !wsig__http_token(method))
        return wsig__fail(err, WSIG_ERR_ARG, "the HTTP method must be a token (RFC 9110) of at "
                          "most %d characters", MAX_METHOD - 1);
    for (size_t i = 0; i <= n; i++)
        out[i] = method[i] >= 'a' && method[i] <= 'z' ? (char)(method[i] - 32) : method[i];
    *len = n;
    return WSIG_OK;
}

/* Decimal digits of v into out (at least 21 bytes); returns the length.
 * Two digits per division, written straight into place: the divisions are a
 * dependency chain that costs more than the rest of the header formatting
 * (snprintf costs more still). */
static size_t format_ms(char *out, int64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    uint64_t u = v < 0 ? 0 : (uint64_t)v;
    size_t n = 1;
    for (uint64_t p = 10; n < 20 && u >= p; p *= 10)
        n++;
    char *p = out + n;
    *p = '\0';
    for (; u >= 100; u /= 100) {
        unsigned d = (unsigned)(u % 100);
        *--p = pairs[2 * d + 1];
        *--p = pairs[2 * d];
    }
    if (u >= 10) {
        *--p = pairs[2 * u + 1];
        *--p = pairs[2 * u];
    } else {
        *--p = (char)('0' + u);
    }
    return n;
}

/* MAC of TS SEP METHOD SEP PATH SEP BODY. Small prehashes are assembled on
 * the stack and hashed in one update; larger ones are streamed without a copy.
 * Returns false only if the EVP build's digest fails (out of memory). */
static bool compute_mac(const struct wsig_hmac_auth *a, unsigned char mac[32], const char *ts,
                        size_t tl, const char *method, size_t ml, const char *path,
                        const void *body, size_t body_len)
{
    size_t pl = strlen(path), sl = a->separator_len;
    const char *sep = a->separator;
    unsigned char small[1024], inner_hash[32];
    size_t total = tl + ml + pl + 3 * sl + body_len;
    sha_state c = {0};
    bool ok = sha_resume(&c, &a->keyed->inner);
    if (total <= sizeof small) {
        unsigned char *p = small;
        memcpy(p, ts, tl), p += tl, memcpy(p, sep, sl), p += sl;
        memcpy(p, method, ml), p += ml, memcpy(p, sep, sl), p += sl;
        memcpy(p, path, pl), p += pl, memcpy(p, sep, sl), p += sl;
        if (body_len)
            memcpy(p, body, body_len);
        ok = ok && sha_update(&c, small, total);
    } else {
        ok = ok && sha_update(&c, ts, tl) && sha_update(&c, sep, sl) &&
             sha_update(&c, method, ml) && sha_update(&c, sep, sl) &&
             sha_update(&c, path, pl) && sha_update(&c, sep, sl) &&
             sha_update(&c, body, body_len);
    }
    ok = ok && sha_final(&c, inner_hash) && sha_resume(&c, &a->keyed->outer) &&
         sha_update(&c, inner_hash, sizeof inner_hash) && sha_final(&c, mac);
    sha_wipe(&c);
    return ok;
}

int wsig__hmac_sign_headers(struct wsig_hmac_auth *a, wsig_headers *out, const char *method,
                            const char *path, const void *body, size_t body_len, int64_t now_ms,
                            wsig_error *err)
{
    char m[MAX_METHOD], ts[WSIG_DECIMAL_SIZE], sig[65];
    unsigned char mac[32];
    size_t ml, tl, sl;
    int rc = upper_method(m, &ml, method, err);
    if (rc != WSIG_OK)
        return rc;
    tl = format_ms(ts, now_ms > 0 ? now_ms : wsig__now_ms());
    if (!compute_mac(a, mac, ts, tl, m, ml, path, body, body_len))
        return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "HMAC-SHA256 failed");
    sl = a->encoding == WSIG_HMAC_HEX ? wsig__hex_encode(sig, mac, 32)
                                      : wsig__b64_encode(sig, mac, 32, false);
    if (!wsig__set_header_n(out, a->api_key_header, a->api_key_header_len, a->api_key,
                            a->api_key_len) ||
        !wsig__set_header_n(out, a->timestamp_header, a->timestamp_header_len, ts, tl) ||
        !wsig__set_header_n(out, a->signature_header, a->signature_header_len, sig, sl))
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
    wsig_replay *replay;            /* NULL unless the caller opted in */
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

int wsig_hmac_verifier_replay_cache(wsig_hmac_verifier *v, size_t capacity, wsig_error *err)
{
    wsig__reset(err);
    if (capacity > WSIG_MAX_CACHE_SIZE)
        return wsig__fail(err, WSIG_ERR_ARG, "cache_size must be 1..%zu (0 = 100000)",
                          (size_t)WSIG_MAX_CACHE_SIZE);
    wsig_replay *r = wsig__replay_new(capacity ? capacity : 100000, v->window_ms);
    if (!r)
        return wsig__fail(err, WSIG_ERR_NOMEM, "cannot allocate the replay cache");
    wsig__replay_free(v->replay);
    v->replay = r;
    return WSIG_OK;
}

/* The replay identity of an accepted request: (api key, timestamp, MAC).
 * The MAC stands for the prehash, so a request re-framed across the
 * separator (docs/protocols.md) is the same request. */
static bool replay_key(wsig_replay_key *key, const char *api_key, uint64_t ts,
                       const unsigned char mac[32])
{
    unsigned char digest[32];
    wsig_piece pieces[2] = {{api_key, strlen(api_key) + 1}, {mac, 32}};
    if (!wsig__sha256_pieces(digest, pieces, 2))
        return false;
    memset(key, 0, sizeof *key); /* padding too: keys are hashed and compared whole */
    memcpy(key->address, digest, sizeof key->address);
    memcpy(&key->sequence, digest + sizeof key->address, sizeof key->sequence);
    key->session = ts;
    return true;
}

static int check_replay(const wsig_hmac_verifier *v, const char *api_key, uint64_t ts,
                        const unsigned char mac[32], int64_t now, wsig_error *err)
{
    wsig_replay_key key;
    if (!replay_key(&key, api_key, ts, mac))
        return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "SHA-256 failed");
    int reason = wsig__replay_add(v->replay, &key, (int64_t)ts, now);
    if (reason == WSIG_REASON_REPLAY)
        return wsig__reject(err, reason, "request (api key, timestamp, signature) already accepted");
    if (reason != WSIG_OK)
        return wsig__reject(err, reason, "request older than the replay cache can vouch for");
    return WSIG_OK;
}

void wsig_hmac_verifier_free(wsig_hmac_verifier *v)
{
    if (!v)
        return;
    wsig__replay_free(v->replay);
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
    if (wsig__check_time(now_ms, "now_ms", err) != WSIG_OK)
        return WSIG_ERR_ARG;
    if (!wsig__header_refs_whole(headers, n_headers))
        return wsig__reject(err, WSIG_REASON_MALFORMED_HEADER, "a header holds a NUL byte");
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
    size_t ml;
    int rc = upper_method(m, &ml, method, err);
    if (rc != WSIG_OK)
        return rc;
    if (!compute_mac(k, expected, ts, strlen(ts), m, ml, path, body, body_len))
        return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "HMAC-SHA256 failed");
    if (!wsig__ct_equal(given, expected, 32))
        return wsig__reject(err, WSIG_REASON_BAD_SIGNATURE, "signature does not match");
    if (v->replay && (rc = check_replay(v, k->api_key, t, expected, now, err)) != WSIG_OK)
        return rc;
    if (api_key_out)
        strcpy(api_key_out, k->api_key);
    return WSIG_OK;
}
