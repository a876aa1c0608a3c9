/* SHA-256 through one pre-fetched EVP_MD: OpenSSL 3 otherwise fetches the
 * algorithm (a locked table look-up) on every EVP_DigestInit. */
#include "internal.h"

#include <pthread.h>

static EVP_MD *g_sha256;
static pthread_once_t g_sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *wsig__sha256(void)
{
    pthread_once(&g_sha256_once, fetch_sha256);
    return g_sha256 ? g_sha256 : EVP_sha256();
}

bool wsig__sha256_pieces(unsigned char out[32], const wsig_piece *pieces, size_t n)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex2(ctx, wsig__sha256(), NULL);
    for (size_t i = 0; ok && i < n; i++)
        if (pieces[i].n)
            ok = EVP_DigestUpdate(ctx, pieces[i].p, pieces[i].n);
    ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
    return ok;
}
