/* Hex, base64, constant-time compare, strict number parsing, header lookup. */
#include "internal.h"

#include <string.h>
#include <time.h>

static const char HEX[] = "0123456789abcdef";

size_t wsig__hex_encode(char *out, const unsigned char *in, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = HEX[in[i] >> 4];
        out[2 * i + 1] = HEX[in[i] & 15];
    }
    out[2 * len] = '\0';
    return 2 * len;
}

int wsig__hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool wsig__hex_decode(unsigned char *out, size_t out_len, const char *hex, size_t hex_len)
{
    if (hex_len != 2 * out_len)
        return false;
    for (size_t i = 0; i < out_len; i++) {
        int hi = wsig__hex_value(hex[2 * i]), lo = wsig__hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t wsig__b64_len(size_t n, bool url)
{
    return url ? (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0) : (n + 2) / 3 * 4;
}

size_t wsig__b64_encode(char *restrict out, const unsigned char *restrict in, size_t len, bool url)
{
    const char *a = url ? B64URL : B64;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);
        out[o++] = a[v >> 18];
        out[o++] = a[v >> 12 & 63];
        if (i + 1 < len)
            out[o++] = a[v >> 6 & 63];
        else if (!url)
            out[o++] = '=';
        if (!url)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_value(char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

bool wsig__b64_decode(unsigned char *out, size_t *out_len, const char *in, size_t len, bool url)
{
    if (!url) {
        /* Standard alphabet: padded to a multiple of 4, at most two '='. */
        if (len % 4)
            return false;
        if (len && in[len - 1] == '=')
            len--;
        if (len && in[len - 1] == '=')
            len--;
    }
    if (len % 4 == 1)
        return false;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(in[i], url);
        if (v < 0)
            return false;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Canonical encodings leave the unused low bits zero. */
    if (acc != 0)
        return false;
    *out_len = o;
    return true;
}

bool wsig__ct_equal(const void *a, const void *b, size_t len)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < len; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

bool wsig__parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Well-formed UTF-8 (RFC 3629): no overlong forms, surrogates or code
 * points above U+10FFFF. */
bool wsig__utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t more;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            more = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            more = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            more = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= more)
            return false;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += more + 1;
    }
    return true;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

int wsig__ascii_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = lower(*a), y = lower(*b);
        if (x != y || !x)
            return (unsigned char)x - (unsigned char)y;
    }
}

/* tchar of RFC 9110 §5.6.2: what a method may hold. */
static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool wsig__http_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!tchar((unsigned char)*s))
            return false;
    return true;
}

/* s holds len bytes and a NUL (len 0: strlen's, by the header's contract). */
static bool whole_text(const char *s, size_t len)
{
    return !s || !len || (strnlen(s, len) == len && s[len] == '\0');
}

bool wsig__header_refs_whole(const wsig_header_ref *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!whole_text(h[i].name, h[i].name_len) || !whole_text(h[i].value, h[i].value_len))
            return false;
    return true;
}

const char *wsig__find_header(const wsig_header_ref *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].name && h[i].value && wsig__ascii_casecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

const char *wsig__find_unique_header(const wsig_header_ref *h, size_t n, const char *name,
                                     bool *duplicate)
{
    const char *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (h[i].name && h[i].value && wsig__ascii_casecmp(h[i].name, name) == 0) {
            if (found)
                *duplicate = true;
            found = h[i].value;
        }
    return found;
}

int wsig__check_time(int64_t t, const char *what, wsig_error *err)
{
    if (t < 0)
        return wsig__fail(err, WSIG_ERR_ARG, "%s must be 0 (the clock) or a time, not %lld", what,
                          (long long)t);
    return WSIG_OK;
}

int64_t wsig__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool wsig__set_header_n(wsig_headers *out, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    if (out->count >= WSIG_MAX_HEADERS || name_len >= WSIG_HEADER_NAME_MAX ||
        value_len >= WSIG_HEADER_VALUE_MAX)
        return false;
    size_t i = out->count++;
    memcpy(out->h[i].name, name, name_len);
    out->h[i].name[name_len] = '\0';
    out->h[i].name_len = name_len;
    memcpy(out->h[i].value, value, value_len);
    out->h[i].value[value_len] = '\0';
    out->h[i].value_len = value_len;
    return true;
}

bool wsig__set_header(wsig_headers *out, const char *name, const char *value)
{
    return wsig__set_header_n(out, name, strlen(name), value, strlen(value));
}
