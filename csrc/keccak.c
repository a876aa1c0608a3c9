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

/* Keccak-f[1600], unrolled: the lanes stay in registers and the pi
 * permutation is resolved at compile time (the looped form with % 5 index
 * arithmetic cost about 36k instructions per block, this one about 3k). */
#define ROL(a, n) (((a) << (n)) | ((a) >> (64 - (n))))

static void keccak_f(uint64_t s[25])
{
    uint64_t a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
             a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24;
    uint64_t b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12,
             b13, b14, b15, b16, b17, b18, b19, b20, b21, b22, b23, b24;
    uint64_t c0, c1, c2, c3, c4, d0, d1, d2, d3, d4;
    a0 = s[0];
    a1 = s[1];
    a2 = s[2];
    a3 = s[3];
    a4 = s[4];
    a5 = s[5];
    a6 = s[6];
    a7 = s[7];
    a8 = s[8];
    a9 = s[9];
    a10 = s[10];
    a11 = s[11];
    a12 = s[12];
    a13 = s[13];
    a14 = s[14];
    a15 = s[15];
    a16 = s[16];
    a17 = s[17];
    a18 = s[18];
    a19 = s[19];
    a20 = s[20];
    a21 = s[21];
    a22 = s[22];
    a23 = s[23];
    a24 = s[24];
    for (int round = 0; round < 24; round++) {
        c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20;
        c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21;
        c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22;
        c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23;
        c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24;
        d0 = c4 ^ ROL(c1, 1);
        d1 = c0 ^ ROL(c2, 1);
        d2 = c1 ^ ROL(c3, 1);
        d3 = c2 ^ ROL(c4, 1);
        d4 = c3 ^ ROL(c0, 1);
        b0 = a0 ^ d0;
        b16 = ROL(a5 ^ d0, 36);
        b7 = ROL(a10 ^ d0, 3);
        b23 = ROL(a15 ^ d0, 41);
        b14 = ROL(a20 ^ d0, 18);
        b10 = ROL(a1 ^ d1, 1);
        b1 = ROL(a6 ^ d1, 44);
        b17 = ROL(a11 ^ d1, 10);
        b8 = ROL(a16 ^ d1, 45);
        b24 = ROL(a21 ^ d1, 2);
        b20 = ROL(a2 ^ d2, 62);
        b11 = ROL(a7 ^ d2, 6);
        b2 = ROL(a12 ^ d2, 43);
        b18 = ROL(a17 ^ d2, 15);
        b9 = ROL(a22 ^ d2, 61);
        b5 = ROL(a3 ^ d3, 28);
        b21 = ROL(a8 ^ d3, 55);
        b12 = ROL(a13 ^ d3, 25);
        b3 = ROL(a18 ^ d3, 21);
        b19 = ROL(a23 ^ d3, 56);
        b15 = ROL(a4 ^ d4, 27);
        b6 = ROL(a9 ^ d4, 20);
        b22 = ROL(a14 ^ d4, 39);
        b13 = ROL(a19 ^ d4, 8);
        b4 = ROL(a24 ^ d4, 14);
        a0 = b0 ^ (~b1 & b2);
        a1 = b1 ^ (~b2 & b3);
        a2 = b2 ^ (~b3 & b4);
        a3 = b3 ^ (~b4 & b0);
        a4 = b4 ^ (~b0 & b1);
        a5 = b5 ^ (~b6 & b7);
        a6 = b6 ^ (~b7 & b8);
        a7 = b7 ^ (~b8 & b9);
        a8 = b8 ^ (~b9 & b5);
        a9 = b9 ^ (~b5 & b6);
        a10 = b10 ^ (~b11 & b12);
        a11 = b11 ^ (~b12 & b13);
        a12 = b12 ^ (~b13 & b14);
        a13 = b13 ^ (~b14 & b10);
        a14 = b14 ^ (~b10 & b11);
        a15 = b15 ^ (~b16 & b17);
        a16 = b16 ^ (~b17 & b18);
        a17 = b17 ^ (~b18 & b19);
        a18 = b18 ^ (~b19 & b15);
        a19 = b19 ^ (~b15 & b16);
        a20 = b20 ^ (~b21 & b22);
        a21 = b21 ^ (~b22 & b23);
        a22 = b22 ^ (~b23 & b24);
        a23 = b23 ^ (~b24 & b20);
        a24 = b24 ^ (~b20 & b21);
        a0 ^= RC[round];
    }
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
    s[4] = a4;
    s[5] = a5;
    s[6] = a6;
    s[7] = a7;
    s[8] = a8;
    s[9] = a9;
    s[10] = a10;
    s[11] = a11;
    s[12] = a12;
    s[13] = a13;
    s[14] = a14;
    s[15] = a15;
    s[16] = a16;
    s[17] = a17;
    s[18] = a18;
    s[19] = a19;
    s[20] = a20;
    s[21] = a21;
    s[22] = a22;
    s[23] = a23;
    s[24] = a24;
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
