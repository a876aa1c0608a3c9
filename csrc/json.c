/* Locating a member's raw text in JSON that cJSON has already validated, so
 * values pass through byte for byte (cJSON would reprint 2^53+ integers as
 * doubles and lose digits). */
#include "internal.h"

#include <string.h>

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* s[i] is '"': return the index just past the closing quote. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i + 1;
}

/* Return the index just past the value starting at s[i]. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (s[i] == '"')
        return skip_string(s, i, n);
    if (s[i] != '{' && s[i] != '[') {
        while (i < n && !strchr(",}] \t\r\n", s[i]))
            i++;
        return i;
    }
    size_t depth = 0;
    for (; i < n; i++) {
        if (s[i] == '"') {
            i = skip_string(s, i, n) - 1;
        } else if (s[i] == '{' || s[i] == '[') {
            depth++;
        } else if (s[i] == '}' || s[i] == ']') {
            if (--depth == 0)
                return i + 1;
        }
    }
    return n;
}

bool wsig__json_member_span(const char *json, size_t len, const char *name, size_t *start,
                            size_t *span_len)
{
    size_t name_len = strlen(name);
    size_t i = skip_ws(json, 0, len);
    if (i >= len || json[i] != '{')
        return false;
    i = skip_ws(json, i + 1, len);
    while (i < len && json[i] == '"') {
        size_t key_end = skip_string(json, i, len);
        bool match = key_end - i - 2 == name_len && memcmp(json + i + 1, name, name_len) == 0;
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
