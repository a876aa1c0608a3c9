/* JSON for bindings (walletsign.h, "JSON for bindings"): a read-only walk
 * over a parsed document and a writer of compact JSON, so that no binding
 * carries a JSON rule of its own.
 *
 * Reading: wsig__json_parse_exact (json.c) validates the text and cJSON
 * builds the tree; a mirror of that tree adds to every number its exact
 * source text, found by scanning the validated text (numbers appear in
 * document order, as cJSON's number nodes do in a depth-first walk), because
 * cJSON keeps numbers only as doubles and 2^53 + 1 would come out rounded.
 * cJSON stays private to the core: the mirror is what callers see. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wsig_json_value {
    const cJSON *item;
    const char *number;         /* numbers: the source text, inside doc->text */
    size_t number_len;
    size_t count;
    struct wsig_json_value *first, *next;
};

struct wsig_json_doc {
    cJSON *tree;
    char *text;                 /* a copy of the source */
    size_t len;
    struct wsig_json_value *values; /* root first, then depth-first */
};

/* ------------------------------------------------------------------ */
/* Reading                                                            */

static size_t count_items(const cJSON *item)
{
    size_t n = 1;
    for (const cJSON *c = item->child; c; c = c->next)
        n += count_items(c); /* depth is bounded by cJSON's nesting limit */
    return n;
}

typedef struct {
    wsig_json_doc *doc;
    size_t used;                /* values filled */
    size_t pos;                 /* where the number scan goes on */
    bool ok;
} mirror;

static struct wsig_json_value *mirror_item(mirror *m, const cJSON *item)
{
    struct wsig_json_value *v = &m->doc->values[m->used++];
    v->item = item;
    if (cJSON_IsNumber(item)) {
        size_t start = 0, n = 0;
        if (wsig__json_next_number(m->doc->text, m->doc->len, &m->pos, &start, &n) &&
            wsig__json_number_valid(m->doc->text + start, n)) {
            v->number = m->doc->text + start;
            v->number_len = n;
        } else {
            m->ok = false;
        }
    }
    struct wsig_json_value **link = &v->first;
    for (const cJSON *c = item->child; c; c = c->next) {
        *link = mirror_item(m, c);
        link = &(*link)->next;
        v->count++;
    }
    return v;
}

void wsig_json_free(wsig_json_doc *doc)
{
    if (!doc)
        return;
    cJSON_Delete(doc->tree);
    free(doc->text);
    free(doc->values);
    free(doc);
}

int wsig_json_parse(wsig_json_doc **out, const char *text, size_t len, wsig_error *err)
{
    wsig__reset(err);
    *out = NULL;
    if (!wsig__utf8_valid((const unsigned char *)text, len))
        return wsig__fail(err, WSIG_ERR_ARG, "JSON text is not UTF-8");
    wsig_json_doc *doc = calloc(1, sizeof *doc);
    if (!doc || !(doc->text = malloc(len + 1))) {
        free(doc);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    memcpy(doc->text, text, len);
    doc->text[len] = '\0';
    doc->len = len;
    doc->tree = wsig__json_parse_exact(doc->text, len);
    if (!doc->tree) {
        wsig_json_free(doc);
        return wsig__fail(err, WSIG_ERR_ARG,
                          "not valid JSON: one value (RFC 8259), no control bytes or \\u0000 in "
                          "strings, no member named twice, at most %d levels deep",
                          WSIG_JSON_MAX_DEPTH);
    }
    doc->values = calloc(count_items(doc->tree), sizeof *doc->values);
    if (!doc->values) {
        wsig_json_free(doc);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    mirror m = {doc, 0, 0, true};
    mirror_item(&m, doc->tree);
    size_t start, n;
    if (!m.ok || wsig__json_next_number(doc->text, len, &m.pos, &start, &n)) {
        wsig_json_free(doc);
        return wsig__fail(err, WSIG_ERR_ARG, "not valid JSON: a number not in RFC 8259 form");
    }
    *out = doc;
    return WSIG_OK;
}

const wsig_json_value *wsig_json_root(const wsig_json_doc *doc)
{
    return doc->values;
}

int wsig_json_type(const wsig_json_value *v)
{
    switch (v->item->type & 0xff) {
    case cJSON_False: return WSIG_JSON_FALSE;
    case cJSON_True: return WSIG_JSON_TRUE;
    case cJSON_Number: return WSIG_JSON_NUMBER;
    case cJSON_String: return WSIG_JSON_STRING;
    case cJSON_Array: return WSIG_JSON_ARRAY;
    case cJSON_Object: return WSIG_JSON_OBJECT;
    default: return WSIG_JSON_NULL;
    }
}

size_t wsig_json_count(const wsig_json_value *v)
{
    return v->count;
}

const wsig_json_value *wsig_json_first(const wsig_json_value *v)
{
    return v->first;
}

const wsig_json_value *wsig_json_next(const wsig_json_value *v)
{
    return v->next;
}

/* Names and strings hold no NUL (\u0000 is refused before cJSON), so strlen
 * is their whole length. */
static const char *text_of(const char *s, size_t *len)
{
    *len = s ? strlen(s) : 0;
    return s;
}

const char *wsig_json_key(const wsig_json_value *v, size_t *len)
{
    return text_of(v->item->string, len);
}

const char *wsig_json_string(const wsig_json_value *v, size_t *len)
{
    return text_of(cJSON_IsString(v->item) ? v->item->valuestring : NULL, len);
}

const char *wsig_json_number_text(const wsig_json_value *v, size_t *len)
{
    *len = v->number_len;
    return v->number;
}

int wsig_json_number_int64(const wsig_json_value *v, int64_t *out)
{
    const char *s = v->number;
    size_t n = v->number_len;
    if (!s || memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n))
        return 0;
    bool negative = s[0] == '-';
    uint64_t mag;
    if (!wsig__parse_u64(s + negative, n - negative, &mag))
        return -1; /* digits only (RFC 8259 form), so it overflowed */
    if (negative ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
        return -1;
    *out = negative ? (int64_t)(0 - mag) : (int64_t)mag;
    return 1;
}

double wsig_json_number_double(const wsig_json_value *v)
{
    return cJSON_IsNumber(v->item) ? v->item->valuedouble : 0;
}

/* ------------------------------------------------------------------ */
/* Writing                                                            */

enum { LEVEL_OBJECT = 1, LEVEL_HAS_ITEMS = 2 };

struct wsig_json_writer {
    char *buf;                  /* always NUL-terminated once allocated */
    size_t len, cap;
    int status;                 /* the first failure, sticky */
    size_t depth;               /* open containers */
    bool key_pending;           /* a name was written in the innermost object */
    bool done;                  /* the top-level value is complete */
    unsigned char level[WSIG_JSON_MAX_DEPTH];
};

int wsig_json_writer_new(wsig_json_writer **out, wsig_error *err)
{
    wsig__reset(err);
    *out = calloc(1, sizeof **out);
    return *out ? WSIG_OK : wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
}

void wsig_json_writer_free(wsig_json_writer *w)
{
    if (!w)
        return;
    free(w->buf);
    free(w);
}

/* Record the writer's first failure; later calls repeat its status. */
static int writer_fail(wsig_json_writer *w, wsig_error *err, int status, const char *why)
{
    w->status = status;
    return wsig__fail(err, status, "JSON writer: %s", why);
}

static int put(wsig_json_writer *w, wsig_error *err, const char *p, size_t n)
{
    if (n >= SIZE_MAX / 2 - w->len)
        return writer_fail(w, err, WSIG_ERR_NOMEM, "out of memory");
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n + 1)
            cap *= 2;
        char *b = realloc(w->buf, cap);
        if (!b)
            return writer_fail(w, err, WSIG_ERR_NOMEM, "out of memory");
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    w->buf[w->len] = '\0';
    return WSIG_OK;
}

/* Where a value may go: at the top (once), after a name in an object, or
 * anywhere in an array (after a comma if it is not the first). */
static int begin_value(wsig_json_writer *w, wsig_error *err)
{
    wsig__reset(err);
    if (w->status)
        return wsig__fail(err, w->status, "JSON writer: an earlier write failed");
    if (w->depth == 0)
        return w->done ? writer_fail(w, err, WSIG_ERR_ARG, "a second top-level value") : WSIG_OK;
    unsigned char *level = &w->level[w->depth - 1];
    if (*level & LEVEL_OBJECT) {
        if (!w->key_pending)
            return writer_fail(w, err, WSIG_ERR_ARG, "a value where a member name is due");
        w->key_pending = false;
        return WSIG_OK;
    }
    bool comma = *level & LEVEL_HAS_ITEMS;
    *level |= LEVEL_HAS_ITEMS;
    return comma ? put(w, err, ",", 1) : WSIG_OK;
}

static int end_value(wsig_json_writer *w)
{
    if (w->depth == 0)
        w->done = true;
    return WSIG_OK;
}

static int put_value(wsig_json_writer *w, wsig_error *err, const char *p, size_t n)
{
    int rc = begin_value(w, err);
    if (rc == WSIG_OK)
        rc = put(w, err, p, n);
    return rc == WSIG_OK ? end_value(w) : rc;
}

static int begin_container(wsig_json_writer *w, wsig_error *err, bool object)
{
    int rc = begin_value(w, err);
    if (rc != WSIG_OK)
        return rc;
    if (w->depth == WSIG_JSON_MAX_DEPTH)
        return writer_fail(w, err, WSIG_ERR_ARG, "nested deeper than 1000 levels");
    w->level[w->depth++] = object ? LEVEL_OBJECT : 0;
    return put(w, err, object ? "{" : "[", 1);
}

static int end_container(wsig_json_writer *w, wsig_error *err, bool object)
{
    wsig__reset(err);
    if (w->status)
        return wsig__fail(err, w->status, "JSON writer: an earlier write failed");
    if (w->depth == 0 || (bool)(w->level[w->depth - 1] & LEVEL_OBJECT) != object)
        return writer_fail(w, err, WSIG_ERR_ARG,
                           object ? "end of an object that is not open" : "end of an array that is not open");
    if (w->key_pending)
        return writer_fail(w, err, WSIG_ERR_ARG, "a member name without a value");
    w->depth--;
    int rc = put(w, err, object ? "}" : "]", 1);
    return rc == WSIG_OK ? end_value(w) : rc;
}

int wsig_json_write_begin_object(wsig_json_writer *w, wsig_error *err)
{
    return begin_container(w, err, true);
}

int wsig_json_write_end_object(wsig_json_writer *w, wsig_error *err)
{
    return end_container(w, err, true);
}

int wsig_json_write_begin_array(wsig_json_writer *w, wsig_error *err)
{
    return begin_container(w, err, false);
}

int wsig_json_write_end_array(wsig_json_writer *w, wsig_error *err)
{
    return end_container(w, err, false);
}

/* A quoted string per RFC 8259 §7: ", \ and bytes below 0x20 escaped, the
 * rest (UTF-8 included) as is. */
static int put_string(wsig_json_writer *w, wsig_error *err, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!wsig__utf8_valid((const unsigned char *)s, n))
        return writer_fail(w, err, WSIG_ERR_ARG, "string is not UTF-8");
    int rc = put(w, err, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n && rc == WSIG_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': case '\\': break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        rc = put(w, err, s + run, i - run);
        if (rc == WSIG_OK)
            rc = put(w, err, esc, el);
        run = i + 1;
    }
    if (rc == WSIG_OK)
        rc = put(w, err, s + run, n - run);
    return rc == WSIG_OK ? put(w, err, "\"", 1) : rc;
}

int wsig_json_write_key(wsig_json_writer *w, const char *key, size_t len, wsig_error *err)
{
    wsig__reset(err);
    if (w->status)
        return wsig__fail(err, w->status, "JSON writer: an earlier write failed");
    if (w->depth == 0 || !(w->level[w->depth - 1] & LEVEL_OBJECT))
        return writer_fail(w, err, WSIG_ERR_ARG, "a member name outside an object");
    if (w->key_pending)
        return writer_fail(w, err, WSIG_ERR_ARG, "a member name where a value is due");
    unsigned char *level = &w->level[w->depth - 1];
    int rc = *level & LEVEL_HAS_ITEMS ? put(w, err, ",", 1) : WSIG_OK;
    *level |= LEVEL_HAS_ITEMS;
    if (rc == WSIG_OK)
        rc = put_string(w, err, key, len);
    if (rc == WSIG_OK)
        rc = put(w, err, ":", 1);
    w->key_pending = rc == WSIG_OK;
    return rc;
}

int wsig_json_write_string(wsig_json_writer *w, const char *s, size_t len, wsig_error *err)
{
    int rc = begin_value(w, err);
    if (rc == WSIG_OK)
        rc = put_string(w, err, s, len);
    return rc == WSIG_OK ? end_value(w) : rc;
}

int wsig_json_write_int64(wsig_json_writer *w, int64_t v, wsig_error *err)
{
    char buf[WSIG_DECIMAL_SIZE];
    int n = snprintf(buf, sizeof buf, "%" PRId64, v);
    return put_value(w, err, buf, (size_t)n);
}

int wsig_json_write_number(wsig_json_writer *w, const char *text, size_t len, wsig_error *err)
{
    wsig__reset(err);
    if (!w->status && !wsig__json_number_valid(text, len))
        return writer_fail(w, err, WSIG_ERR_ARG, "number text is not in RFC 8259 form");
    return put_value(w, err, text, len);
}

int wsig_json_write_double(wsig_json_writer *w, double v, wsig_error *err)
{
    wsig__reset(err);
    if (!w->status && !isfinite(v))
        return writer_fail(w, err, WSIG_ERR_ARG, "NaN or infinity has no JSON form");
    char buf[40];
    snprintf(buf, sizeof buf, "%.14g", v);
    if (strtod(buf, NULL) != v) /* both in the same locale */
        snprintf(buf, sizeof buf, "%.17g", v);
    for (char *c = buf; *c; c++) /* a locale's decimal comma */
        if (*c == ',')
            *c = '.';
    return put_value(w, err, buf, strlen(buf));
}

int wsig_json_write_bool(wsig_json_writer *w, int v, wsig_error *err)
{
    return v ? put_value(w, err, "true", 4) : put_value(w, err, "false", 5);
}

int wsig_json_write_null(wsig_json_writer *w, wsig_error *err)
{
    return put_value(w, err, "null", 4);
}

int wsig_json_writer_text(wsig_json_writer *w, const char **text, size_t *len, wsig_error *err)
{
    wsig__reset(err);
    *text = NULL;
    *len = 0;
    if (w->status)
        return wsig__fail(err, w->status, "JSON writer: an earlier write failed");
    if (!w->done || w->depth > 0)
        return wsig__fail(err, WSIG_ERR_ARG, "JSON writer: the value is not complete");
    *text = w->buf;
    *len = w->len;
    return WSIG_OK;
}
