/* libFuzzer target: JSON for bindings (json_api.c): wsig_json_parse, the
 * walk, and the writer, as a binding uses them.
 *
 * Input layout:
 *   rest   the JSON text (exact length, not NUL-terminated)
 *
 * Properties:
 *   1. what wsig_json_parse accepts, wsig__json_parse_exact accepts too;
 *   2. the walk is consistent: counts match the children, members (only)
 *      have names, strings and names hold no NUL, a number's text is in
 *      RFC 8259 form, its double is strtod's, and an int64 prints back as
 *      its text;
 *   3. rewriting the walk through the writer gives text that parses again,
 *      is the same JSON for cJSON, and rewrites to itself;
 *   4. a finished writer refuses a second value.
 */
#include "fuzz_common.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>

#include "fuzz_json.h"

static void check_number(const wsig_json_value *v)
{
    size_t n = 0;
    const char *t = wsig_json_number_text(v, &n);
    FZ_CHECK(t && wsig__json_number_valid(t, n), "number text [%.*s]", (int)n, t ? t : "");
    char *z = strndup(t, n);
    FZ_CHECK(z, "out of memory");
    double d = wsig_json_number_double(v);
    FZ_CHECK(d == strtod(z, NULL) || (isnan(d) && isnan(strtod(z, NULL))), "double of %s: %.17g",
             z, d);
    int64_t i = 0;
    int kind = wsig_json_number_int64(v, &i);
    bool integer_text = !strpbrk(z, ".eE");
    FZ_CHECK(integer_text ? kind != 0 : kind == 0, "int64 kind %d for %s", kind, z);
    if (kind == 1) {
        char back[WSIG_DECIMAL_SIZE];
        snprintf(back, sizeof back, "%" PRId64, i);
        FZ_CHECK(strcmp(back, z) == 0 || (i == 0 && strcmp(z, "-0") == 0), "int64 %s of %s", back, z);
    }
    free(z);
}

static void check_walk(const wsig_json_value *v, bool member)
{
    size_t n = 99;
    const char *k = wsig_json_key(v, &n);
    FZ_CHECK(member ? k && strlen(k) == n : !k && n == 0, "key of a %s", member ? "member" : "value");
    int type = wsig_json_type(v);
    FZ_CHECK(type >= WSIG_JSON_NULL && type <= WSIG_JSON_OBJECT, "type %d", type);
    const char *s = wsig_json_string(v, &n);
    FZ_CHECK(type == WSIG_JSON_STRING ? s && strlen(s) == n : !s && n == 0, "string getter");
    if (type == WSIG_JSON_NUMBER)
        check_number(v);
    size_t count = 0;
    for (const wsig_json_value *c = wsig_json_first(v); c; c = wsig_json_next(c), count++)
        check_walk(c, type == WSIG_JSON_OBJECT);
    FZ_CHECK(count == wsig_json_count(v), "count %zu, walked %zu", wsig_json_count(v), count);
    FZ_CHECK(count == 0 || type == WSIG_JSON_ARRAY || type == WSIG_JSON_OBJECT, "scalar with children");
}

static int rewrite(wsig_json_writer *w, const wsig_json_value *v)
{
    size_t n;
    const char *p;
    int rc;
    switch (wsig_json_type(v)) {
    case WSIG_JSON_NULL: return wsig_json_write_null(w, NULL);
    case WSIG_JSON_FALSE: return wsig_json_write_bool(w, 0, NULL);
    case WSIG_JSON_TRUE: return wsig_json_write_bool(w, 1, NULL);
    case WSIG_JSON_NUMBER:
        p = wsig_json_number_text(v, &n);
        return wsig_json_write_number(w, p, n, NULL);
    case WSIG_JSON_STRING:
        p = wsig_json_string(v, &n);
        return wsig_json_write_string(w, p, n, NULL);
    case WSIG_JSON_ARRAY:
        rc = wsig_json_write_begin_array(w, NULL);
        for (const wsig_json_value *c = wsig_json_first(v); c && !rc; c = wsig_json_next(c))
            rc = rewrite(w, c);
        return rc ? rc : wsig_json_write_end_array(w, NULL);
    default:
        rc = wsig_json_write_begin_object(w, NULL);
        for (const wsig_json_value *c = wsig_json_first(v); c && !rc; c = wsig_json_next(c)) {
            p = wsig_json_key(c, &n);
            rc = wsig_json_write_key(w, p, n, NULL);
            rc = rc ? rc : rewrite(w, c);
        }
        return rc ? rc : wsig_json_write_end_object(w, NULL);
    }
}

/* The document rewritten: a malloc'd copy of the writer's text. */
static char *rewritten(const wsig_json_doc *doc, size_t *len)
{
    wsig_json_writer *w = NULL;
    FZ_CHECK(wsig_json_writer_new(&w, NULL) == WSIG_OK, "writer_new");
    int rc = rewrite(w, wsig_json_root(doc));
    FZ_CHECK(rc == WSIG_OK, "rewrite refused: %s", wsig_status_name(rc));
    const char *t = NULL;
    rc = wsig_json_writer_text(w, &t, len, NULL);
    FZ_CHECK(rc == WSIG_OK && t && strlen(t) == *len, "writer text: %s", wsig_status_name(rc));
    char *copy = strdup(t);
    FZ_CHECK(copy, "out of memory");
    FZ_CHECK(wsig_json_write_null(w, NULL) == WSIG_ERR_ARG, "a second top-level value accepted");
    wsig_json_writer_free(w);
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t f = fz_init(data, size);
    size_t len;
    char *json = (char *)fz_rest(&f, &len);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_json_doc *doc = NULL;
    int rc = wsig_json_parse(&doc, json, len, &err);
    fz_check_err(&err, rc);
    FZ_CHECK(rc == WSIG_OK || rc == WSIG_ERR_ARG, "parse: %s", wsig_status_name(rc));
    FZ_CHECK((rc == WSIG_OK) == (doc != NULL), "doc %p with %s", (void *)doc, wsig_status_name(rc));
    if (doc) {
        cJSON *exact = wsig__json_parse_exact(json, len);
        FZ_CHECK(exact, "wsig_json_parse accepted what wsig__json_parse_exact refuses: [%.*s]",
                 (int)len, json);
        check_walk(wsig_json_root(doc), false);
        size_t out_len, again_len;
        char *out = rewritten(doc, &out_len);
        wsig_json_doc *doc2 = NULL;
        rc = wsig_json_parse(&doc2, out, out_len, &err);
        FZ_CHECK(rc == WSIG_OK, "rewritten text refused (%s): [%s] from [%.*s]", err.message, out,
                 (int)len, json);
        cJSON *back = wsig__json_parse_exact(out, out_len);
        FZ_CHECK(same_json(exact, back), "rewritten text is other JSON: [%s] from [%.*s]", out,
                 (int)len, json);
        char *again = rewritten(doc2, &again_len);
        FZ_CHECK(again_len == out_len && memcmp(again, out, out_len) == 0,
                 "rewrite not stable: [%s] then [%s]", out, again);
        free(again);
        cJSON_Delete(back);
        wsig_json_free(doc2);
        free(out);
        cJSON_Delete(exact);
        wsig_json_free(doc);
    }
    free(json);
    return 0;
}
