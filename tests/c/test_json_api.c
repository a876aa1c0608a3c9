/* json_api: the JSON walk and writer that bindings convert through
 * (walletsign.h, "JSON for bindings"). */
#include "testlib.h"
#include "walletsign.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Write v and everything below it through w, as a binding would. */
static int rewrite(wsig_json_writer *w, const wsig_json_value *v)
{
    size_t n;
    const char *p;
    int rc = WSIG_OK;
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
        for (const wsig_json_value *c = wsig_json_first(v); c && rc == WSIG_OK; c = wsig_json_next(c))
            rc = rewrite(w, c);
        return rc == WSIG_OK ? wsig_json_write_end_array(w, NULL) : rc;
    case WSIG_JSON_OBJECT:
        rc = wsig_json_write_begin_object(w, NULL);
        for (const wsig_json_value *c = wsig_json_first(v); c && rc == WSIG_OK; c = wsig_json_next(c)) {
            p = wsig_json_key(c, &n);
            rc = wsig_json_write_key(w, p, n, NULL);
            if (rc == WSIG_OK)
                rc = rewrite(w, c);
        }
        return rc == WSIG_OK ? wsig_json_write_end_object(w, NULL) : rc;
    }
    return WSIG_ERR_ARG;
}

/* Parse text, write it back; the compact text (malloc'd) or NULL. */
static char *round_trip(const char *text, size_t len)
{
    wsig_json_doc *doc = NULL;
    wsig_json_writer *w = NULL;
    char *out = NULL;
    const char *t;
    size_t n;
    if (wsig_json_parse(&doc, text, len, NULL) == WSIG_OK &&
        wsig_json_writer_new(&w, NULL) == WSIG_OK && rewrite(w, wsig_json_root(doc)) == WSIG_OK &&
        wsig_json_writer_text(w, &t, &n, NULL) == WSIG_OK && strlen(t) == n)
        out = strdup(t);
    wsig_json_writer_free(w);
    wsig_json_free(doc);
    return out;
}

static void test_round_trips(void)
{
    static const struct { const char *in, *out; } cases[] = {
        {"{\"a\":[1,2,{\"b\":null}],\"e\":[],\"o\":{},\"s\":\"\\u00e9\"}",
         "{\"a\":[1,2,{\"b\":null}],\"e\":[],\"o\":{},\"s\":\"\xc3\xa9\"}"},
        {" [ true ,\tfalse ,\r\nnull ] ", "[true,false,null]"},
        {"123456789012345678901", "123456789012345678901"},
        {"{\"id\":9007199254740993}", "{\"id\":9007199254740993}"},
        {"[-0.5e-3,1E+2,-0,0.0]", "[-0.5e-3,1E+2,-0,0.0]"},
        {"\"a\\\"b\\\\c\\n\\u0001\\/\"", "\"a\\\"b\\\\c\\n\\u0001/\""},
        {"\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\""},
        {"{\"k\\ty\":\"\\t\\b\\f\\r\"}", "{\"k\\ty\":\"\\t\\b\\f\\r\"}"},
        {"\"\"", "\"\""},
        {"{\"\":0}", "{\"\":0}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = round_trip(cases[i].in, strlen(cases[i].in));
        CHECK(t_streq(out, cases[i].out), "round trip %s: got %s, want %s", cases[i].in,
              out ? out : "(refused)", cases[i].out);
        free(out);
    }
}

static void test_refused(void)
{
    static const struct { const char *in; size_t len; const char *why; } cases[] = {
        {"{\"a\":1,\"a\":2}", 0, "named twice"},
        {"{\"x\":[{\"a\":1,\"b\":2,\"a\":3}]}", 0, "named twice"},
        {"{\"\\u0061\":1,\"a\":2}", 0, "named twice"},
        {"\"\xff\"", 0, "not UTF-8"},
        {"\"\xc0\x80\"", 0, "not UTF-8"},
        {"\"\xed\xa0\x80\"", 0, "not UTF-8"},
        {"\"a\\u0000b\"", 0, "\\u0000"},
        {"\"a\x01\"", 0, "control"},
        {"[1]\0", 4, "control"},
        {"01", 0, "RFC 8259"}, {"1.", 0, "RFC 8259"}, {"-.5", 0, "RFC 8259"},
        {"[1.e5]", 0, "RFC 8259"}, {"-", 0, "one value"}, {"+1", 0, "one value"},
        {"[1,]", 0, "one value"}, {"{}x", 0, "one value"}, {"", 0, "one value"},
        {"[1] [2]", 0, "one value"}, {"nul", 0, "one value"}, {"\"\\ud800\"", 0, "one value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
        wsig_error err = WSIG_ERROR_INIT;
        wsig_json_doc *doc = (wsig_json_doc *)&err; /* must become NULL */
        int rc = wsig_json_parse(&doc, cases[i].in, len, &err);
        CHECK(rc == WSIG_ERR_ARG && err.status == WSIG_ERR_ARG && doc == NULL,
              "parse %s: %s (%s)", cases[i].in, wsig_status_name(rc), err.message);
        CHECK(strstr(err.message, cases[i].why) != NULL, "parse %s: message \"%s\" lacks \"%s\"",
              cases[i].in, err.message, cases[i].why);
        if (rc == WSIG_OK)
            wsig_json_free(doc);
    }
}

static void test_numbers(void)
{
    static const struct {
        const char *text;
        int is_int64;
        int64_t i;
        double d;
    } cases[] = {
        {"0", 1, 0, 0}, {"-0", 1, 0, -0.0}, {"42", 1, 42, 42},
        {"9007199254740993", 1, 9007199254740993LL, 9007199254740992.0},
        {"9223372036854775807", 1, INT64_MAX, 9223372036854775807.0},
        {"-9223372036854775808", 1, INT64_MIN, -9223372036854775808.0},
        {"-9223372036854775809", -1, 0, -9223372036854775808.0},
        {"9223372036854775808", -1, 0, 9223372036854775808.0},
        {"123456789012345678901", -1, 0, 123456789012345678901.0},
        {"1.0", 0, 0, 1.0}, {"1e2", 0, 0, 100.0}, {"-0.5e-3", 0, 0, -0.5e-3}, {"0.1", 0, 0, 0.1},
        {"1e400", 0, 0, HUGE_VAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "[%s]", cases[i].text);
        wsig_json_doc *doc = NULL;
        if (wsig_json_parse(&doc, text, strlen(text), NULL) != WSIG_OK) {
            CHECK(0, "parse %s refused", text);
            continue;
        }
        const wsig_json_value *v = wsig_json_first(wsig_json_root(doc));
        size_t n = 0;
        const char *p = v ? wsig_json_number_text(v, &n) : NULL;
        CHECK(v && wsig_json_type(v) == WSIG_JSON_NUMBER && p && n == strlen(cases[i].text) &&
                  memcmp(p, cases[i].text, n) == 0,
              "number text of %s: %.*s", cases[i].text, (int)n, p ? p : "");
        int64_t got = 12345;
        int is_int = v ? wsig_json_number_int64(v, &got) : -2;
        CHECK(is_int == cases[i].is_int64 && (is_int != 1 || got == cases[i].i),
              "int64 of %s: %d %lld", cases[i].text, is_int, (long long)got);
        CHECK(v && wsig_json_number_double(v) == cases[i].d, "double of %s: %.17g", cases[i].text,
              v ? wsig_json_number_double(v) : 0);
        wsig_json_free(doc);
    }
}

static void test_walk(void)
{
    const char *text = "{\"a\":[1,\"x\",true],\"b\":{},\"c\":null,\"d\":false}";
    wsig_json_doc *doc = NULL;
    int rc = wsig_json_parse(&doc, text, strlen(text), NULL);
    CHECK(rc == WSIG_OK, "parse walk doc: %s", wsig_status_name(rc));
    if (rc != WSIG_OK)
        return;
    const wsig_json_value *root = wsig_json_root(doc);
    size_t n = 99;
    CHECK(wsig_json_type(root) == WSIG_JSON_OBJECT && wsig_json_count(root) == 4, "root");
    CHECK(wsig_json_key(root, &n) == NULL && n == 0, "root has no key");
    static const char *const keys[] = {"a", "b", "c", "d"};
    static const int types[] = {WSIG_JSON_ARRAY, WSIG_JSON_OBJECT, WSIG_JSON_NULL, WSIG_JSON_FALSE};
    size_t i = 0;
    for (const wsig_json_value *m = wsig_json_first(root); m; m = wsig_json_next(m), i++) {
        const char *k = wsig_json_key(m, &n);
        CHECK(i < 4 && k && n == 1 && k[0] == keys[i][0] && wsig_json_type(m) == types[i],
              "member %zu", i);
    }
    CHECK(i == 4, "walked %zu members", i);
    const wsig_json_value *a = wsig_json_first(root);
    const wsig_json_value *x = wsig_json_next(wsig_json_first(a));
    const char *s = wsig_json_string(x, &n);
    CHECK(wsig_json_count(a) == 3 && s && n == 1 && s[0] == 'x' && s[1] == '\0', "a[1] is \"x\"");
    CHECK(wsig_json_key(x, &n) == NULL, "array elements have no key");
    CHECK(wsig_json_string(a, &n) == NULL && wsig_json_number_text(x, &n) == NULL && n == 0,
          "typed getters refuse other types");
    const wsig_json_value *b = wsig_json_next(a);
    CHECK(wsig_json_first(b) == NULL && wsig_json_count(b) == 0, "empty object");
    wsig_json_free(doc);
    wsig_json_free(NULL);
}

static void test_depth(void)
{
    size_t max = WSIG_JSON_MAX_DEPTH;
    char *text = malloc(2 * max + 3);
    memset(text, '[', max + 1);
    memset(text + max + 1, ']', max + 1);
    wsig_json_doc *doc = NULL;
    int rc = wsig_json_parse(&doc, text + 1, 2 * max, NULL);
    CHECK(rc == WSIG_OK, "%zu levels refused", max);
    wsig_json_free(doc);
    rc = wsig_json_parse(&doc, text, 2 * max + 2, NULL);
    CHECK(rc == WSIG_ERR_ARG && doc == NULL, "%zu levels accepted", max + 1);
    free(text);

    wsig_json_writer *w = NULL;
    if (wsig_json_writer_new(&w, NULL) != WSIG_OK)
        return;
    rc = WSIG_OK;
    for (size_t i = 0; i < max && rc == WSIG_OK; i++)
        rc = wsig_json_write_begin_array(w, NULL);
    CHECK(rc == WSIG_OK, "writer refused %zu levels", max);
    wsig_error err = WSIG_ERROR_INIT;
    rc = wsig_json_write_begin_object(w, &err);
    CHECK(rc == WSIG_ERR_ARG && strstr(err.message, "deeper"), "writer accepted %zu levels: %s",
          max + 1, err.message);
    wsig_json_writer_free(w);
}

/* Writer scripts: { } [ ] open and close, k a name "k", s a string, i the
 * integer 1, n null. Every step but the last must succeed; the last gives
 * want, then the text must be out (NULL: incomplete). */
static int run_op(wsig_json_writer *w, char op, wsig_error *err)
{
    switch (op) {
    case '{': return wsig_json_write_begin_object(w, err);
    case '}': return wsig_json_write_end_object(w, err);
    case '[': return wsig_json_write_begin_array(w, err);
    case ']': return wsig_json_write_end_array(w, err);
    case 'k': return wsig_json_write_key(w, "k", 1, err);
    case 's': return wsig_json_write_string(w, "s", 1, err);
    case 'i': return wsig_json_write_int64(w, 1, err);
    default: return wsig_json_write_null(w, err);
    }
}

static void test_writer_structure(void)
{
    /* fail: index of the first failing step (-1: none); want: the last step's status. */
    static const struct { const char *ops; int fail; int want; const char *out; } cases[] = {
        {"{ks}", -1, WSIG_OK, "{\"k\":\"s\"}"},
        {"[isn]", -1, WSIG_OK, "[1,\"s\",null]"},
        {"{k[]kn}", -1, WSIG_OK, "{\"k\":[],\"k\":null}"}, /* names are the caller's to keep unique */
        {"[[[]]{}]", -1, WSIG_OK, "[[[]],{}]"},
        {"n", -1, WSIG_OK, "null"},
        {"{s", 1, WSIG_ERR_ARG, NULL},   /* a value where a name is due */
        {"[k", 1, WSIG_ERR_ARG, NULL},   /* a name in an array */
        {"k", 0, WSIG_ERR_ARG, NULL},    /* a name at the top */
        {"{k}", 2, WSIG_ERR_ARG, NULL},  /* a name without a value */
        {"{kk", 2, WSIG_ERR_ARG, NULL},
        {"]", 0, WSIG_ERR_ARG, NULL}, {"[}", 1, WSIG_ERR_ARG, NULL}, {"{]", 1, WSIG_ERR_ARG, NULL},
        {"[]]", 2, WSIG_ERR_ARG, NULL},
        {"ii", 1, WSIG_ERR_ARG, NULL},   /* a second top-level value */
        {"[]{", 2, WSIG_ERR_ARG, NULL},
        {"{sk", 1, WSIG_ERR_ARG, NULL},  /* the first failure sticks */
        {"[", -1, WSIG_OK, NULL},        /* incomplete */
        {"{k", -1, WSIG_OK, NULL},
        {"", -1, WSIG_OK, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wsig_json_writer *w = NULL;
        if (wsig_json_writer_new(&w, NULL) != WSIG_OK) {
            CHECK(0, "writer_new");
            return;
        }
        const char *ops = cases[i].ops;
        size_t n_ops = strlen(ops);
        int rc = WSIG_OK, fail = -1;
        wsig_error err = WSIG_ERROR_INIT;
        for (size_t k = 0; k < n_ops; k++) {
            rc = run_op(w, ops[k], &err);
            if (rc != WSIG_OK && fail < 0)
                fail = (int)k;
        }
        CHECK(fail == cases[i].fail && rc == cases[i].want && err.status == rc,
              "ops %s: first failure at %d, last %s (%s)", ops, fail, wsig_status_name(rc),
              err.message);
        const char *text = "sentinel";
        size_t len = 99;
        int trc = wsig_json_writer_text(w, &text, &len, &err);
        if (cases[i].out) {
            CHECK(trc == WSIG_OK && t_streq(text, cases[i].out) && len == strlen(cases[i].out),
                  "ops %s: text %s, want %s", ops, text ? text : "(null)", cases[i].out);
        } else {
            CHECK(trc == WSIG_ERR_ARG && text == NULL && len == 0, "ops %s: text %s from %s", ops,
                  wsig_status_name(trc), text ? text : "(null)");
        }
        wsig_json_writer_free(w);
    }
}

static char *write_one(int (*fn)(wsig_json_writer *, const void *, wsig_error *), const void *arg,
                       int *rc)
{
    wsig_json_writer *w = NULL;
    char *out = NULL;
    const char *t;
    size_t n;
    *rc = wsig_json_writer_new(&w, NULL);
    if (*rc == WSIG_OK)
        *rc = fn(w, arg, NULL);
    if (*rc == WSIG_OK && wsig_json_writer_text(w, &t, &n, NULL) == WSIG_OK)
        out = strdup(t);
    wsig_json_writer_free(w);
    return out;
}

static int put_str(wsig_json_writer *w, const void *s, wsig_error *err)
{
    return wsig_json_write_string(w, s, strlen(s), err);
}

static int put_num(wsig_json_writer *w, const void *s, wsig_error *err)
{
    return wsig_json_write_number(w, s, strlen(s), err);
}

static int put_double(wsig_json_writer *w, const void *d, wsig_error *err)
{
    return wsig_json_write_double(w, *(const double *)d, err);
}

static int put_i64(wsig_json_writer *w, const void *v, wsig_error *err)
{
    return wsig_json_write_int64(w, *(const int64_t *)v, err);
}

static void test_writer_values(void)
{
    static const struct { const char *in, *out; } strings[] = {
        {"a\"b\\c\n\x01\x1f\x7f", "\"a\\\"b\\\\c\\n\\u0001\\u001f\x7f\""},
        {"\xc3\xa9/\xf0\x9f\x98\x80", "\"\xc3\xa9/\xf0\x9f\x98\x80\""},
        {"\xff", NULL}, {"\xc0\x80", NULL}, {"\xed\xa0\x80", NULL}, {"a\xe2\x82", NULL},
    };
    int rc;
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        char *out = write_one(put_str, strings[i].in, &rc);
        CHECK(strings[i].out ? t_streq(out, strings[i].out) : rc == WSIG_ERR_ARG && !out,
              "string %zu: %s (%s)", i, out ? out : "(null)", wsig_status_name(rc));
        free(out);
    }
    /* A NUL in a string (or a name) is written as \u0000. */
    wsig_json_writer *w = NULL;
    const char *t = NULL;
    size_t n = 0;
    rc = wsig_json_writer_new(&w, NULL);
    if (rc == WSIG_OK) {
        rc = wsig_json_write_begin_object(w, NULL) || wsig_json_write_key(w, "a\0b", 3, NULL) ||
             wsig_json_write_string(w, "\0", 1, NULL) || wsig_json_write_end_object(w, NULL) ||
             wsig_json_writer_text(w, &t, &n, NULL);
        CHECK(rc == WSIG_OK && t_streq(t, "{\"a\\u0000b\":\"\\u0000\"}"), "NUL: %s", t ? t : "(null)");
        wsig_json_writer_free(w);
    }
    w = NULL;
    if (wsig_json_writer_new(&w, NULL) == WSIG_OK) {
        wsig_error err = WSIG_ERROR_INIT;
        rc = wsig_json_write_begin_object(w, NULL);
        rc = rc ? rc : wsig_json_write_key(w, "\xff", 1, &err);
        CHECK(rc == WSIG_ERR_ARG && strstr(err.message, "UTF-8"), "non-UTF-8 key: %s", err.message);
        wsig_json_writer_free(w);
    }

    static const struct { const char *in; int ok; } numbers[] = {
        {"123456789012345678901", 1}, {"-0.5e-3", 1}, {"0", 1}, {"1E+2", 1},
        {"01", 0}, {"1.", 0}, {"NaN", 0}, {"", 0}, {"1 ", 0}, {"0x1", 0}, {"+1", 0}, {"--1", 0},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        char *out = write_one(put_num, numbers[i].in, &rc);
        CHECK(numbers[i].ok ? t_streq(out, numbers[i].in) : rc == WSIG_ERR_ARG && !out,
              "number \"%s\": %s (%s)", numbers[i].in, out ? out : "(null)", wsig_status_name(rc));
        free(out);
    }

    static const int64_t ints[] = {0, -1, INT64_MAX, INT64_MIN, 9007199254740993LL};
    static const char *const int_text[] = {"0", "-1", "9223372036854775807",
                                           "-9223372036854775808", "9007199254740993"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        char *out = write_one(put_i64, &ints[i], &rc);
        CHECK(t_streq(out, int_text[i]), "int64 %s: %s", int_text[i], out ? out : "(null)");
        free(out);
    }

    static const struct { double d; const char *out; } doubles[] = {
        {1.5, "1.5"}, {0.1, "0.1"}, {1730998051892.0, "1730998051892"}, {-0.0, "-0"},
        {1.0 / 3, "0.33333333333333331"}, {1e300, "1e+300"}, {5e-324, "4.9406564584125e-324"},
    };
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
        char *out = write_one(put_double, &doubles[i].d, &rc);
        CHECK(t_streq(out, doubles[i].out) && out && strtod(out, NULL) == doubles[i].d,
              "double %.17g: %s, want %s", doubles[i].d, out ? out : "(null)", doubles[i].out);
        free(out);
    }
    static const double bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        char *out = write_one(put_double, &bad[i], &rc);
        CHECK(rc == WSIG_ERR_ARG && !out, "double %g: %s", bad[i], out ? out : wsig_status_name(rc));
        free(out);
    }
}

void test_json_api(void)
{
    test_round_trips();
    test_refused();
    test_numbers();
    test_walk();
    test_depth();
    test_writer_structure();
    test_writer_values();
}
