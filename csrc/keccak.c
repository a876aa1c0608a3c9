/* Keccak-256 as Ethereum uses it (pad byte 0x01, not SHA3's 0x06).
 * OpenSSL 3.0 exposes no Keccak with the original padding, so it lives here. */
#include "internal.h"

#include <openssl/crypto.h>
#include <string.h>

#define RATE 136 /* 1600 - 2*256 bits, in bytes */

static const uint64_t RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};
static const int ROT[25] = {0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43,
                            25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14};

static uint64_t rotl(uint64_t x, int n)
{
    return n ? (x << n) | (x >> (64 - n)) : x;
}

static void keccak_f(uint64_t a[25])
{
    for (int round = 0; round < 24; round++) {
        uint64_t c[5], b[25];
        for (int x = 0; x < 5; x++)
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        for (int x = 0; x < 5; x++) {
            uint64_t d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5)
                a[y + x] ^= d;
        }
        /* rho and pi: b[y, 2x+3y] = rot(a[x, y]) */
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 5; y++)
                b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(a[x + 5 * y], ROT[x + 5 * y]);
        for (int y = 0; y < 25; y += 5)
            for (int x = 0; x < 5; x++)
                a[y + x] = b[y + x] ^ (~b[y + (x + 1) % 5] & b[y + (x + 2) % 5]);
        a[0] ^= RC[round];
    }
}

static uint64_t load64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void absorb(uint64_t a[25], const unsigned char *block)
{
    for (int i = 0; i < RATE / 8; i++)
        a[i] ^= load64(block + 8 * i);
    keccak_f(a);
}

void wsig_keccak256(unsigned char out[32], const void *data, size_t len)
{
    uint64_t a[25] = {0};
    const unsigned char *p = data;
    for (; len >= RATE; p += RATE, len -= RATE)
        absorb(a, p);
    unsigned char last[RATE] = {0};
    if (len)
        memcpy(last, p, len);
    last[len] = 0x01;
    last[RATE - 1] |= 0x80;
    absorb(a, last);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            out[8 * i + j] = (unsigned char)(a[i] >> (8 * j));
    /* The input may be a secret-derived prehash; leave no copy on the stack. */
    OPENSSL_cleanse(last, sizeof last);
    OPENSSL_cleanse(a, sizeof a);
}
