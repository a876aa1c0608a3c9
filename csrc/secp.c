/* One process-wide libsecp256k1 context. It is read-only after creation, so
 * threads share it. Its callbacks record the fault instead of aborting the
 * host process (the library's default calls abort()). */
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

static secp256k1_context *g_ctx;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Thread_local bool t_illegal;

static void on_illegal(const char *msg, void *data)
{
    (void)msg;
    (void)data;
    t_illegal = true;
}

static void create_context(void)
{
    g_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (!g_ctx)
        return;
    secp256k1_context_set_illegal_callback(g_ctx, on_illegal, NULL);
    secp256k1_context_set_error_callback(g_ctx, on_illegal, NULL);
    /* Blinding against side channels in signing. */
    unsigned char seed[32];
    if (RAND_bytes(seed, sizeof seed) == 1 && secp256k1_context_randomize(g_ctx, seed) != 1)
        t_illegal = false; /* unblinded but correct; nothing to report */
    OPENSSL_cleanse(seed, sizeof seed);
}

const secp256k1_context *wsig__secp(void)
{
    pthread_once(&g_once, create_context);
    return g_ctx;
}

bool wsig__secp_take_illegal(void)
{
    bool v = t_illegal;
    t_illegal = false;
    return v;
}
