/* JSON helpers around cJSON.
 *
 * Values are passed on as their raw text (compacted), never re-printed by
 * cJSON, which would turn integers beyond 2^53 into doubles. Every scan here
 * must read the text as cJSON does, so that what cJSON validated is exactly
 * what is passed on. cJSON works on C strings and is lenient: it takes any
 * byte <= 0x20 as whitespace and cannot represent a NUL inside a string (a
 * key "result\u0000x" compares equal to "result"). So text with control
 * bytes outside the JSON whitespace, or with \u0000, is refused before cJSON
 * sees it; what remains is read the same way by cJSON and by the scans. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex_digit(char c);

/* Four hex digits, not all zero. */
static bool nonzero_hex4(const char *s, size_t left)
{
    if (left < 4)
        return false;
    int v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hex_digit(s[k]);
        if (h < 0)
            return false;
        v = v << 4 | h;
    }
    return v != 0;
}

/* No raw control bytes (in strings or between tokens, beyond JSON's four
 * whitespace characters outside strings), and no \u escape that cJSON
 * would read as NUL (\u0000, or one with a non-hex digit). */
static bool plain_text(const char *s, size_t n)
{
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && (in_string || !is_ws((char)c)))
            return false;
        if (!in_string) {
            in_string = c == '"';
        } else if (c == '"') {
            in_string = false;
        } else if (c == '\\' && i + 1 < n) {
            /* cJSON reads a \u escape with a non-hex digit as \u0000. */
            if (s[i + 1] == 'u' && !nonzero_hex4(s + i + 2, n - i - 2))
                return false;
            i++;
        }
    }
    return true;
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && is_ws(s[i]))
        i++;
    return i;
}

/* s[i] is '"': the index just past the closing quote (at most n). */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i < n ? i + 1 : n;
}

/* The index just past the value starting at s[i] (at most n). */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (i >= n)
        return n;
    if (s[i] == '"')
        return skip_string(s, i, n);
    if (s[i] != '{' && s[i] != '[') {
        while (i < n && !is_ws(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']')
            i++;
        return i;
    }
    size_t depth = 0;
    for (; i < n; i++) {
        if (s[i] == '"') {
            i = skip_string(s, i, n) - 1;
        } else if (s[i] == '{' || s[i] == '[') {
            depth++;
        } else if ((s[i] == '}' || s[i] == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return n;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Does the raw key text k[0..n) (between the quotes) unescape to the ASCII
 * name? Escapes that decode to non-ASCII never match an ASCII name. */
static bool key_equals(const char *k, size_t n, const char *name)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++, j++) {
        char c = k[i];
        if (c == '\\') {
            if (++i >= n)
                return false;
            switch (k[i]) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                int v = 0;
                for (int d = 1; d <= 4; d++) {
                    int h = i + (size_t)d < n ? hex_digit(k[i + (size_t)d]) : -1;
                    if (h < 0)
                        return false;
                    v = v << 4 | h;
                }
                if (v == 0 || v > 0x7f)
                    return false;
                c = (char)v;
                i += 4;
                break;
            }
            default: c = k[i]; /* \" \\ \/ */
            }
        }
        if (name[j] == '\0' || name[j] != c)
            return false;
    }
    return name[j] == '\0';
}

bool wsig__json_member_span(const char *json, size_t len, const char *name, size_t *start,
                            size_t *span_len)
{
    size_t i = skip_ws(json, 0, len);
    if (i >= len || json[i] != '{')
        return false;
    i = skip_ws(json, i + 1, len);
    while (i < len && json[i] == '"') {
        size_t key_end = skip_string(json, i, len);
        if (key_end < i + 2)
            return false;
        bool match = key_equals(json + i + 1, key_end - i - 2, name);
        i = skip_ws(json, key_end, len);
        if (i >= len || json[i] != ':')
            return false;
        i = skip_ws(json, i + 1, len);
        size_t end = skip_value(json, i, len);
        if (match) {
            *start = i;
            *span_len = end - i;
            return true;
        }
        i = skip_ws(json, end, len);
        if (i < len && json[i] == ',')
            i = skip_ws(json, i + 1, len);
    }
    return false;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* No object below node names a member twice. cJSON keeps every duplicate and
 * finds the first, while most parsers (Python's json, Go's encoding/json)
 * keep the last: a verifier reading {"uri":"/query","uri":"/command"} would
 * see another claim than the backend behind it. Names hold no NUL (refused
 * before parsing), so strcmp compares them whole. */
static bool unique_member_names(const cJSON *node)
{
    size_t n = 0;
    for (const cJSON *c = node->child; c; c = c->next) {
        if (!unique_member_names(c))
            return false;
        n++;
    }
    if (!cJSON_IsObject(node) || n < 2)
        return true;
    const char **names = malloc(n * sizeof *names);
    if (!names)
        return false;
    n = 0;
    for (const cJSON *c = node->child; c; c = c->next)
        names[n++] = c->string;
    qsort(names, n, sizeof *names, compare_names);
    bool unique = true;
    for (size_t i = 1; i < n && unique; i++)
        unique = strcmp(names[i - 1], names[i]) != 0;
    free(names);
    return unique;
}

/* Every number in the text in RFC 8259 form (defined below). */
static bool numbers_valid(const char *text, size_t len);

cJSON *wsig__json_parse_exact(const char *text, size_t len)
{
    /* RFC 8259 §8.1: JSON between systems is UTF-8. cJSON does not check,
     * and bindings would fail later, each its own way. */
    if (!wsig__utf8_valid((const unsigned char *)text, len) || !plain_text(text, len))
        return NULL;
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!v)
        return NULL;
    bool trailing = false;
    for (const char *p = end; p && p < text + len; p++)
        trailing = trailing || !is_ws(*p);
    if (trailing || !unique_member_names(v) || !numbers_valid(text, len)) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

char *wsig__json_compact(const char *json, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = json[i];
        if (in_string) {
            out[o++] = c;
            if (c == '\\' && i + 1 < len)
                out[o++] = json[++i];
            else if (c == '"')
                in_string = false;
        } else if (!is_ws(c)) {
            out[o++] = c;
            in_string = c == '"';
        }
    }
    out[o] = '\0';
    return out;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t skip_digits(const char *s, size_t i, size_t n)
{
    while (i < n && is_digit(s[i]))
        i++;
    return i;
}

/* RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and nothing else.
 * cJSON is laxer (it takes 01, 1. and -.5 through strtod). */
bool wsig__json_number_valid(const char *s, size_t n)
{
    size_t i = n > 0 && s[0] == '-' ? 1 : 0, d;
    if (i >= n || !is_digit(s[i]))
        return false;
    i = s[i] == '0' ? i + 1 : skip_digits(s, i, n);
    if (i < n && s[i] == '.') {
        d = skip_digits(s, ++i, n);
        if (d == i)
            return false;
        i = d;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        d = skip_digits(s, i, n);
        if (d == i)
            return false;
        i = d;
    }
    return i == n;
}

/* Numbers are the only tokens that start with '-' or a digit outside strings
 * (true/false/null hold neither), and cJSON reads one over the same bytes
 * [0-9+-.eE] it copies for strtod. */
bool wsig__json_next_number(const char *json, size_t len, size_t *pos, size_t *start,
                            size_t *span_len)
{
    for (size_t i = *pos; i < len; i++) {
        if (json[i] == '"') {
            i = skip_string(json, i, len) - 1;
        } else if (json[i] == '-' || is_digit(json[i])) {
            size_t j = i;
            while (j < len && (is_digit(json[j]) || json[j] == '+' || json[j] == '-' ||
                               json[j] == '.' || json[j] == 'e' || json[j] == 'E'))
                j++;
            *start = i;
            *span_len = j - i;
            *pos = j;
            return true;
        }
    }
    *pos = len;
    return false;
}

static bool numbers_valid(const char *text, size_t len)
{
    size_t pos = 0, start, n;
    while (wsig__json_next_number(text, len, &pos, &start, &n))
        if (!wsig__json_number_valid(text + start, n))
            return false;
    return true;
}
