#include "testlib.h"
#include <time.h>

#include <stdlib.h>
#include <string.h>

int t_passed, t_failed;
const char *t_current = "";

const char *t_path(const char *relative)
{
    static char buf[4096];
    /* __FILE__ is tests/c/testlib.c relative to the repository (make runs there). */
    const char *here = __FILE__;
    const char *cut = strstr(here, "tests/c/testlib.c");
    int prefix = cut ? (int)(cut - here) : 0;
    snprintf(buf, sizeof buf, "%.*stests/%s", prefix, here, relative);
    return buf;
}

char *t_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

cJSON *t_vectors(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "vectors/%s", name);
    char *text = t_read(t_path(rel), NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(j != NULL, "cannot load vectors/%s", name);
    return j;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool t_hex(unsigned char *out, size_t out_len, const char *hex)
{
    if (strlen(hex) != 2 * out_len)
        return false;
    for (size_t i = 0; i < out_len; i++) {
        int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
        if (a < 0 || b < 0)
            return false;
        out[i] = (unsigned char)(a << 4 | b);
    }
    return true;
}

unsigned char *t_body(const cJSON *c, size_t *len)
{
    const cJSON *hex = cJSON_GetObjectItem(c, "body_hex");
    const cJSON *rep = cJSON_GetObjectItem(c, "body_repeat");
    if (cJSON_IsString(hex)) {
        size_t n = strlen(hex->valuestring) / 2;
        unsigned char *b = malloc(n + 1);
        t_hex(b, n, hex->valuestring);
        *len = n;
        return b;
    }
    if (rep) {
        const char *ph = t_str(rep, "pattern_hex");
        size_t pn = strlen(ph) / 2, n = (size_t)t_num(rep, "length");
        unsigned char *pat = malloc(pn + 1), *b = malloc(n + 1);
        t_hex(pat, pn, ph);
        for (size_t i = 0; i < n; i++)
            b[i] = pat[i % pn];
        free(pat);
        *len = n;
        return b;
    }
    *len = 0;
    return malloc(1);
}

const char *t_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double t_num(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(obj, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* ------------------------------------------------------------------ */
/* Helpers shared by the protocol suites                              */

#include "walletsign.h"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

unsigned char *t_hex_alloc(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2)
        return NULL;
    unsigned char *b = malloc(n / 2 + 1);
    if (!b)
        return NULL;
    if (!t_hex(b, n / 2, hex)) {
        free(b);
        return NULL;
    }
    b[n / 2] = '\0';
    if (len)
        *len = n / 2;
    return b;
}

char *t_hex_str(const unsigned char *in, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(2 * len + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        s[2 * i] = digits[in[i] >> 4];
        s[2 * i + 1] = digits[in[i] & 15];
    }
    s[2 * len] = '\0';
    return s;
}

bool t_streq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

const char *t_header(const wsig_headers *h, const char *name)
{
    for (size_t i = 0; i < h->count && i < WSIG_MAX_HEADERS; i++)
        if (strcmp(h->h[i].name, name) == 0)
            return h->h[i].value;
    return NULL;
}

const char *t_key_path(const char *name)
{
    char rel[512];
    snprintf(rel, sizeof rel, "vectors/keys/%s", name);
    return t_path(rel);
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

unsigned char *t_b64url_decode(const char *s, size_t n, size_t *out_len)
{
    if (n % 4 == 1)
        return NULL;
    unsigned char *out = malloc(n * 3 / 4 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

char *t_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/wsig-test-XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    return dir ? strdup(dir) : NULL;
}

void t_rmdir_all(char *dir)
{
    if (!dir)
        return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[8192];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

int t_run(const char *cmd, char *out, size_t cap)
{
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = 0;
    if (out && cap) {
        size_t got;
        while (n + 1 < cap && (got = fread(out + n, 1, cap - 1 - n, p)) > 0)
            n += got;
        out[n] = '\0';
    }
    char sink[256];
    while (fread(sink, 1, sizeof sink, p) > 0)
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int t_scale(void)
{
    const char *s = getenv("WSIG_TEST_SCALE");
    int v = s ? atoi(s) : 1;
    return v >= 1 ? v : 1;
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double slack(void)
{
    const char *s = getenv("WSIG_TEST_SCALE");
    double v = s ? atof(s) : 1;
    return v > 1 ? v : 1;
}
