/* Shared helpers for the libFuzzer targets in tests/fuzz/.
 *
 * Every target reads its input with the small reader below: fixed-size
 * integers first, then NUL-separated text fields, then "the rest" (usually a
 * body, kept verbatim, NULs included). tests/fuzz/make_corpus.py writes seeds
 * in exactly these layouts; the layout of each target is documented at the top
 * of its source file.
 *
 * Each field is copied into its own exactly sized heap block, so a read one
 * byte past a field is caught by ASan instead of landing in the next field.
 */
#ifndef WSIG_FUZZ_COMMON_H
#define WSIG_FUZZ_COMMON_H

#include "walletsign.h"

#include <cjson/cJSON.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t n;
} fz_t;

static inline fz_t fz_init(const uint8_t *data, size_t size)
{
    fz_t f = {data, size};
    return f;
}

static inline uint8_t fz_u8(fz_t *f)
{
    if (!f->n)
        return 0;
    f->n--;
    return *f->p++;
}

static inline uint16_t fz_u16(fz_t *f)
{
    uint16_t v = fz_u8(f);
    return (uint16_t)(v | (uint16_t)fz_u8(f) << 8);
}

static inline uint32_t fz_u32(fz_t *f)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)fz_u8(f) << (8 * i);
    return v;
}

static inline uint64_t fz_u64(fz_t *f)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)fz_u8(f) << (8 * i);
    return v;
}

/* The next field, up to a NUL (consumed) or the end of the input, as a fresh
 * NUL-terminated heap string (free it). len (if non-NULL) gets its length. */
static inline char *fz_str(fz_t *f, size_t *len)
{
    const uint8_t *z = f->n ? memchr(f->p, 0, f->n) : NULL;
    size_t n = z ? (size_t)(z - f->p) : f->n;
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, f->p, n);
    s[n] = '\0';
    f->p += n + (z ? 1 : 0);
    f->n -= n + (z ? 1 : 0);
    if (len)
        *len = n;
    return s;
}

/* The rest of the input as an exactly sized heap copy (malloc(0) when empty,
 * which ASan returns as a valid zero-byte block): not NUL-terminated. */
static inline uint8_t *fz_rest(fz_t *f, size_t *len)
{
    uint8_t *b = malloc(f->n);
    if (!b && f->n)
        abort();
    if (f->n)
        memcpy(b, f->p, f->n);
    *len = f->n;
    f->p += f->n;
    f->n = 0;
    return b;
}

/* A violated property: print it and abort, so libFuzzer records a crash. */
#define FZ_CHECK(cond, ...)                                                        \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "FUZZ CHECK FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                          \
            fputc('\n', stderr);                                                   \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* A record's status must be the return value, and a string field terminated. */
static inline void fz_check_err(const wsig_error *err, int rc)
{
    FZ_CHECK(err->status == rc, "err.status %d but returned %d", err->status, rc);
    FZ_CHECK(memchr(err->message, 0, sizeof err->message) != NULL, "message not terminated");
    FZ_CHECK(memchr(err->code, 0, sizeof err->code) != NULL, "code not terminated");
    FZ_CHECK(memchr(err->warning, 0, sizeof err->warning) != NULL, "warning not terminated");
    FZ_CHECK(rc != WSIG_INVALID || (err->reason > 0 && strcmp(wsig_reason_name(err->reason),
                                                              "unknown") != 0),
             "invalid without a reason (%d)", err->reason);
}

/* Known bugs, once reported, can be stepped around in long campaigns so the
 * fuzzer looks past them: WSIG_FUZZ_SKIP="tag,...". Tag lenient-json (rpc,
 * json_span, response): only plain JSON (fz_plain_json) is checked. Unset
 * (make fuzz, make fuzz-regress, CI) checks everything. */
static inline bool fz_skip(const char *tag)
{
    const char *env = getenv("WSIG_FUZZ_SKIP");
    return env && strstr(env, tag);
}

/* UTF-8 as RFC 3629 has it (no overlong forms, surrogates or code points
 * above U+10FFFF), by the table of well-formed byte sequences of Unicode
 * ch. 3 (written apart from the core's decoder on purpose). */
static inline bool fz_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!k || i + k > n)
            return false;
        unsigned char lo = 0x80, hi = 0xbf, d = k > 1 ? s[i + 1] : 0;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
        if (k > 1 && (d < lo || d > hi))
            return false;
        for (size_t j = 2; j < k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xbf)
                return false;
        i += k;
    }
    return true;
}

/* No object below j names a member twice (names compared whole). */
static inline bool fz_unique_names(const cJSON *j)
{
    for (const cJSON *a = j->child; a; a = a->next) {
        if (!fz_unique_names(a))
            return false;
        if (cJSON_IsObject(j))
            for (const cJSON *b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    return false;
    }
    return true;
}

/* Every number token, outside strings, in RFC 8259 form:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static inline bool fz_numbers_rfc8259(const char *s, size_t n)
{
#define FZ_DIGIT(c) ((c) >= '0' && (c) <= '9')
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        if (in_string) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = false;
            continue;
        }
        if (s[i] == '"') {
            in_string = true;
            continue;
        }
        if (s[i] != '-' && !FZ_DIGIT(s[i]))
            continue;
        size_t j = i + (s[i] == '-');
        if (j >= n || !FZ_DIGIT(s[j]))
            return false;
        if (s[j] == '0')
            j++;
        else
            while (j < n && FZ_DIGIT(s[j]))
                j++;
        if (j < n && s[j] == '.') {
            size_t f = ++j;
            while (j < n && FZ_DIGIT(s[j]))
                j++;
            if (j == f)
                return false;
        }
        if (j < n && (s[j] == 'e' || s[j] == 'E')) {
            if (++j < n && (s[j] == '+' || s[j] == '-'))
                j++;
            size_t e = j;
            while (j < n && FZ_DIGIT(s[j]))
                j++;
            if (j == e)
                return false;
        }
        if (j < n && (FZ_DIGIT(s[j]) || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
                      s[j] == '+' || s[j] == '-'))
            return false;
        i = j - 1;
    }
    return true;
#undef FZ_DIGIT
}

/* Plain JSON (RFC 8259 as far as bytes go, and walletsign's rules): UTF-8,
 * cJSON accepts the whole text (nothing after the value), no control byte
 * appears inside a string, only SP, TAB, LF and CR between tokens, every
 * escape is valid and none is \u0000, every number is in RFC 8259 form, and
 * no object names a member twice. cJSON itself is laxer: it takes any byte
 * up to 0x20, NUL included, as whitespace, copies raw control bytes inside
 * strings, reads a \u escape with non-hex digits as U+0000, cuts keys at
 * U+0000, takes 01 and 1. as numbers and keeps duplicate names. */
static inline bool fz_plain_json(const char *s, size_t len)
{
    if (!fz_utf8((const unsigned char *)s, len) || !fz_numbers_rfc8259(s, len))
        return false;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && (in_string || (c != ' ' && c != '\t' && c != '\n' && c != '\r')))
            return false;
        if (!in_string) {
            in_string = c == '"';
        } else if (c == '"') {
            in_string = false;
        } else if (c == '\\') {
            /* A valid escape: one of "\\/bfnrt, or u and four hex digits, not 0000. */
            if (i + 1 >= len || !strchr("\"\\/bfnrtu", s[i + 1]) || s[i + 1] == '\0')
                return false;
            if (s[++i] == 'u') {
                if (i + 4 >= len || memcmp(s + i + 1, "0000", 4) == 0)
                    return false;
                for (int d = 1; d <= 4; d++)
                    if (!strchr("0123456789abcdefABCDEF", s[i + d]) || s[i + d] == '\0')
                        return false;
                i += 4;
            }
        }
    }
    char *z = malloc(len + 1);
    if (!z)
        abort();
    memcpy(z, s, len);
    z[len] = '\0';
    cJSON *j = cJSON_ParseWithLengthOpts(z, len + 1, NULL, 1);
    free(z);
    bool ok = j && fz_unique_names(j);
    cJSON_Delete(j);
    return ok;
}

/* ---- fixed test keys (public test material from tests/vectors/keys) ---- */

/* keys/p256_public.pem */
static const char FZ_P256_PUBLIC_PEM[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEy4NJjXdSc71/VOYSiizVwv0v1vTJ\n"
    "SfiULGWAy9ivL7foG+LbVuPH/6KqaC4FgRnF+PMlQZD/9zU3dr3vu7myzw==\n"
    "-----END PUBLIC KEY-----\n";

/* keys/p256_sec1.pem: the private half of FZ_P256_PUBLIC_PEM. */
static const char FZ_P256_PRIVATE_PEM[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIEFG+7fvv63NTGTuurDGEjibeOATiHSOn3VxObELRLHvoAoGCCqGSM49\n"
    "AwEHoUQDQgAEy4NJjXdSc71/VOYSiizVwv0v1vTJSfiULGWAy9ivL7foG+LbVuPH\n"
    "/6KqaC4FgRnF+PMlQZD/9zU3dr3vu7myzw==\n"
    "-----END EC PRIVATE KEY-----\n";

/* keys/rsa2048_public.pem */
static const char FZ_RSA2048_PUBLIC_PEM[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuENlOXuutlgFY8BobY2P\n"
    "huQ37bU/DufEIFUaryCBQa0B6B24Z/+nUHYWs27WQMYVJk72rV6N6sEYTS9nYL8a\n"
    "en24d/TUpnBJCuSd5sd46R/ceXJugJlqdrF8ql0cEEBOP4QswmHduqZQmun56h8c\n"
    "XE/WGPR6dMfiO9Ihguq+8aeGreGqKghsHMh81YUOuqA5YrFx/QqvDSCkDJ+Cm8xU\n"
    "5HPbndiEcFdN3hrsShKbPKs96XVdUW6qO+Fgej4rYQjgva9wvCxYbdbVKfvv2rEV\n"
    "HdQOI8lxL4MYKLy6mcuruE23iH4KBvwE1JYhxtMYd8DsuRIwxTuNPsTfzi1uECjr\n"
    "jwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

/* The docs/protocols.md secp256k1 key (message.json addresses[0]) and its address. */
static const char FZ_SECP_PRIVATE_HEX[] =
    "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
static const char FZ_SECP_ADDRESS[] = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";

/* Every signer address in tests/vectors/message.json (addresses[], cases[],
 * verify_negative[].trusted), so the vectors' messages reach the signature
 * check instead of stopping at untrusted_address. */
static const char *const FZ_TRUSTED_ADDRESSES[] = {
    "0x075A5182AeAB184143A2cCd2f6E7b9392BDadfE9", "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF",
    "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23", "0x3B3c67F57f74CE72a02978b0492620b1a661DA43",
    "0x421f1b91C81671467e6579AA1AaEfFee2133D1DB", "0x4612A5453A92c26981BD07847cf361C2EeFbAa73",
    "0x4a15E203f45A729b6256fc0B15d8aB78d4890481", "0x562CD143575192245a2eb26a77DB69494d25B8b5",
    "0x57A56225cda1bd9b8f9dACe18daccBbEB6217031", "0x67252c34763754AC4885664eF5F903A641dF02C0",
    "0x6Db6e40340153F018a20AEa700fC46aB2a90E1fe", "0x6b61fe40724502864b6b5712fE4289eAadB95953",
    "0x71224009529657196bC7f6e5D19c632EfE3Cbf4b", "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf",
    "0x7d142D40CAA8E1fA2355E8364E8a1d91d8553E77", "0x80C0dbf239224071c59dD8970ab9d542E3414aB2",
    "0x94c44641cB7705b81eeA59C082cA3d5594288B6d", "0x954aB477A98BCCd8926294F006c5c7478111c17d",
    "0x97dD4adC24ECb539FFD7e49aeF56D6fE7aA8faa1", "0xF4552C24dA42e73d7A1bB4FC61901752d5a74192",
    "0xF45e7E10eec9Af40952C051E66424AbCb6a1C5Cb", "0xFAD3598926e4B79Bd13ad9dd8B343E7B41743B2A",
    "0xd7505e197EC24d8A2d431C4676cdd6D4D03B5415", "0xee2603e77a24e86026F21f3F49a3706571711d46",
    "0xf7242B78366fBb1e40C5b9cf8207d89F26C4C977",
};
#define FZ_N_TRUSTED (sizeof FZ_TRUSTED_ADDRESSES / sizeof FZ_TRUSTED_ADDRESSES[0])

static inline wsig_key *fz_load_key(const char *pem)
{
    wsig_key *k = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    if (wsig_key_load_pem(&k, pem, strlen(pem), NULL, &err) != WSIG_OK) {
        fprintf(stderr, "fuzz init: cannot load a fixed key: %s\n", err.message);
        abort();
    }
    return k;
}

#endif
