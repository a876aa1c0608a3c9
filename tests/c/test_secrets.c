/* Secrets are wiped before their memory is returned: every block freed by
 * walletsign (through libc, linked with --wrap=free) or by OpenSSL (through
 * CRYPTO_set_mem_functions) is scanned for the secret while a watch is armed. */
#define _GNU_SOURCE
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co., to check sha256_block() */
#include "redisctl.h"
#include "testlib.h"
#include "walletsign.h"

#include <malloc.h>
#include <valgrind/memcheck.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char *watch;
static size_t watch_len;
static int leaked_blocks, leaked_by_openssl;

static bool holds_secret(void *p)
{
    if (!watch || !p)
        return false;
    size_t size = malloc_usable_size(p);
    /* The slack past the requested size was never written: tell memcheck
     * that reading it here is intended. */
    VALGRIND_MAKE_MEM_DEFINED(p, size);
    return memmem(p, size, watch, watch_len) != NULL;
}

void __real_free(void *p);
void __wrap_free(void *p);
void __wrap_free(void *p)
{
    if (holds_secret(p))
        leaked_blocks++;
    __real_free(p);
}

static void scan(void *p)
{
    if (holds_secret(p))
        leaked_by_openssl++;
}

static void *ossl_malloc(size_t n, const char *file, int line) { return malloc(n); }
static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    /* realloc may free the old block: scan it first (a moved secret stays behind). */
    scan(p);
    return realloc(p, n);
}
static void ossl_free(void *p, const char *file, int line)
{
    scan(p);
    __real_free(p); /* not the wrapped free: this block is OpenSSL's */
}

/* Must run before OpenSSL allocates anything. */
__attribute__((constructor)) static void hook_openssl(void)
{
    CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
}

static void arm(const void *secret, size_t len)
{
    watch = secret;
    watch_len = len;
    leaked_blocks = leaked_by_openssl = 0;
}

/* Blocks that held the secret when freed: walletsign's own, plus OpenSSL's
 * when with_openssl is true. */
static int disarm(bool with_openssl)
{
    watch = NULL;
    return leaked_blocks + (with_openssl ? leaked_by_openssl : 0);
}

static void secp256k1_key_lifecycle(void)
{
    static const char hex[] = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    unsigned char scalar[32];
    t_hex(scalar, 32, hex);
    wsig_error err = WSIG_ERROR_INIT;
    arm(scalar, sizeof scalar);
    wsig_key *key = NULL;
    wsig_auth *auth = NULL;
    wsig_headers h;
    int rc = wsig_key_from_hex(&key, hex, &err);
    if (rc == WSIG_OK)
        rc = wsig_auth_message_new(&auth, key, NULL, &err);
    if (rc == WSIG_OK)
        rc = wsig_auth_sign(auth, &h, "POST", "/x", "{}", 2, 0, &err);
    int leaks = disarm(true);
    CHECK(rc == WSIG_OK, "secp256k1 signing: %s", err.message);
    CHECK(leaks == 0, "%d freed blocks still held the secp256k1 private scalar", leaks);

    /* Export: OpenSSL 3.0's i2d_ECPrivateKey frees a temporary DER copy of
     * the scalar without wiping it (docs/security.md); only walletsign's own
     * buffers are held to the promise here. */
    arm(scalar, sizeof scalar);
    char *pem = NULL;
    size_t pem_len = 0;
    if (rc == WSIG_OK)
        rc = wsig_key_private_pem(key, &pem, &pem_len, NULL, &err);
    wsig_free_secret(pem, pem_len);
    wsig_auth_free(auth);
    wsig_key_free(key);
    leaks = disarm(false);
    CHECK(rc == WSIG_OK, "secp256k1 export: %s", err.message);
    CHECK(leaks == 0, "%d walletsign blocks still held the secp256k1 private scalar", leaks);
}

/* One signer and a verifier holding five keys (its table is reallocated). */
static int hmac_lifecycle(const char *secret, wsig_error *err)
{
    wsig_auth *auth = NULL;
    wsig_hmac_verifier *v = NULL;
    wsig_headers h;
    int rc = wsig_auth_hmac_new(&auth, "k", secret, strlen(secret), NULL, err);
    if (rc == WSIG_OK)
        rc = wsig_auth_sign(auth, &h, "GET", "/", NULL, 0, 0, err);
    if (rc == WSIG_OK)
        rc = wsig_hmac_verifier_new(&v, 0, NULL, err);
    for (int i = 0; rc == WSIG_OK && i < 5; i++) {
        char api_key[16];
        snprintf(api_key, sizeof api_key, "k%d", i);
        rc = wsig_hmac_verifier_add(v, api_key, secret, strlen(secret), err);
    }
    wsig_hmac_verifier_free(v);
    wsig_auth_free(auth);
    return rc;
}

/* h = the SHA-256 state after one 64-byte block from the initial state
 * (FIPS 180-4, 6.2.2), as native-endian words: how OpenSSL keeps it both in
 * the low-level SHA256_CTX and in its providers' SHA-256 context, so one
 * computation names the inner state of both builds of csrc/hmac.c. */
static void sha256_block(uint32_t h[8], const unsigned char block[64])
{
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
#define ROR(x, n) ((x) >> (n) | (x) << (32 - (n)))
    uint32_t w[64], v[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
               (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ w[i - 15] >> 3;
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ w[i - 2] >> 10;
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, iv, sizeof v);
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = v[7] + (ROR(v[4], 6) ^ ROR(v[4], 11) ^ ROR(v[4], 25)) +
                      ((v[4] & v[5]) ^ (~v[4] & v[6])) + k[i] + w[i];
        uint32_t t2 = (ROR(v[0], 2) ^ ROR(v[0], 13) ^ ROR(v[0], 22)) +
                      ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        memmove(v + 1, v, 7 * sizeof *v);
        v[4] += t1;
        v[0] = t1 + t2;
    }
#undef ROR
    for (int i = 0; i < 8; i++)
        h[i] = iv[i] + v[i];
}

/* The HMAC secret, and the SHA-256 state after its ipad block (kept per key
 * instead of the secret, and as good as the secret for forging). */
static void hmac_secret_lifecycle(void)
{
    static const char secret[] = "s3cr3t-that-must-not-linger-0123456789";
    wsig_error err = WSIG_ERROR_INIT;
    arm(secret, strlen(secret));
    int rc = hmac_lifecycle(secret, &err);
    int leaks = disarm(true);
    CHECK(rc == WSIG_OK, "hmac lifecycle: %s", err.message);
    CHECK(leaks == 0, "%d freed blocks still held the HMAC secret", leaks);

    unsigned char pad[64] = {0};
    memcpy(pad, secret, strlen(secret));
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] ^= 0x36;
    uint32_t inner[8];
    sha256_block(inner, pad);
#ifndef OPENSSL_NO_DEPRECATED_3_0
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, pad, sizeof pad);
    CHECK(sizeof ctx.h == sizeof inner && memcmp(ctx.h, inner, sizeof inner) == 0,
          "sha256_block disagrees with OpenSSL's SHA256_CTX");
#endif
    arm(inner, sizeof inner);
    rc = hmac_lifecycle(secret, &err);
    leaks = disarm(true);
    CHECK(rc == WSIG_OK, "hmac lifecycle: %s", err.message);
    CHECK(leaks == 0, "%d freed blocks still held the HMAC inner state", leaks);
}

static void key_file_lifecycle(void)
{
    /* The file's bytes pass through a read buffer: it must be wiped too. */
    size_t len;
    char *pem = t_read(t_path("vectors/keys/p256_sec1.pem"), &len);
    CHECK(pem != NULL, "cannot read p256_sec1.pem");
    if (!pem)
        return;
    /* Watch one line of the base64 body, which carries the private scalar. */
    char *line = strchr(pem, '\n');
    wsig_error err = WSIG_ERROR_INIT;
    arm(line + 1, 40);
    wsig_key *key = NULL;
    int rc = wsig_key_load_file(&key, t_path("vectors/keys/p256_sec1.pem"), NULL, &err);
    wsig_key_free(key);
    int leaks = disarm(true);
    free(pem);
    CHECK(rc == WSIG_OK, "load: %s", err.message);
    CHECK(leaks == 0, "%d freed blocks still held the key file's text", leaks);
}

/* A Redis password goes from the URL to AUTH and is wiped on the way (the
 * AUTH command is written by the core, not formatted inside hiredis). */
static void redis_password_lifecycle(void)
{
    static const char password[] = "redis-pass-that-must-not-linger-42";
    t_redis srv = {0};
    if (!t_redis_start(&srv, 0, password)) {
        CHECK(false, "could not start redis-server with a password");
        return;
    }
    wsig_error err = WSIG_ERROR_INIT;
    arm(password, strlen(password));
    wsig_replay_store *s = NULL;
    int rc = wsig_replay_store_redis_new(&s, srv.url, NULL, &err);
    if (rc == WSIG_OK)
        rc = wsig_replay_store_reserve(s, "secrets-test", 1000, &err);
    wsig_replay_store_free(s);
    int leaks = disarm(true);
    t_redis_stop(&srv, false);
    CHECK(rc == WSIG_OK, "store with a password: %s", err.message);
    CHECK(leaks == 0, "%d freed blocks still held the Redis password", leaks);
}

static void error_messages_hold_no_secret(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    const char *bad_hex = "ffffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    int rc = wsig_key_from_hex(&key, bad_hex, &err);
    CHECK(rc == WSIG_ERR_KEY && !strstr(err.message, "ffffffff"), "message: %s", err.message);
    rc = wsig_key_load_file(&key, t_path("vectors/keys/p256_pkcs8_encrypted.pem"),
                            "not-the-password-xyz", &err);
    CHECK(rc == WSIG_ERR_PASSWORD && !strstr(err.message, "not-the-password-xyz"),
          "message: %s", err.message);
}

void test_secrets(void)
{
    secp256k1_key_lifecycle();
    hmac_secret_lifecycle();
    key_file_lifecycle();
    redis_password_lifecycle();
    error_messages_hold_no_secret();
}
