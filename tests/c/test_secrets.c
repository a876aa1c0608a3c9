/* Secrets are wiped before their memory is returned: every block freed by
 * walletsign (through libc, linked with --wrap=free) or by OpenSSL (through
 * CRYPTO_set_mem_functions) is scanned for the secret while a watch is armed. */
#define _GNU_SOURCE
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co., as csrc/hmac.c */
#include "testlib.h"
#include "walletsign.h"

#include <malloc.h>
#include <valgrind/memcheck.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
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
    SHA256_CTX inner;
    SHA256_Init(&inner);
    SHA256_Update(&inner, pad, sizeof pad);
    arm(inner.h, sizeof inner.h);
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
    error_messages_hold_no_secret();
}
