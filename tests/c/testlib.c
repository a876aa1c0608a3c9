#include "testlib.h"

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
