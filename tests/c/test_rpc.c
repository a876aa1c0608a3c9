/* rpc: the Wallet Manager's {"result":..} / {"error":{..}} envelope. */
#include "testlib.h"
#include "walletsign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One-line rendering of a body for failure messages. */
static const char *oneline(const char *s)
{
    static char buf[256];
    size_t i = 0;
    for (; s && s[i] && i + 1 < sizeof buf; i++)
        buf[i] = s[i] == '\n' || s[i] == '\r' ? ' ' : s[i];
    buf[i] = '\0';
    return buf;
}

static void parse_ok(const char *body, const char *want)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *result = NULL;
    int rc = wsig_rpc_parse(&result, body, strlen(body), &err);
    CHECK(rc == WSIG_OK && t_streq(result, want), "parse %s: %s, result %s (want %s) %s",
          oneline(body), wsig_status_name(rc), result ? result : "(null)", want, err.message);
    CHECK(err.data_json == NULL && err.body == NULL, "parse %s: error owns data on success", body);
    wsig_free(result);
    wsig_error_clear(&err);
}

static void parse_rpc_error(const char *body, long long code, const char *message,
                            const char *data)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *result = (char *)"sentinel";
    int rc = wsig_rpc_parse(&result, body, strlen(body), &err);
    CHECK(rc == WSIG_ERR_RPC && err.status == WSIG_ERR_RPC && result == NULL,
          "parse %s: %s (%s)", body, wsig_status_name(rc), err.message);
    if (rc == WSIG_OK)
        wsig_free(result);
    CHECK(err.rpc_code == code, "parse %s: rpc_code %lld != %lld", body, err.rpc_code, code);
    CHECK(strcmp(err.message, message) == 0, "parse %s: message \"%s\" != \"%s\"", body,
          err.message, message);
    CHECK(t_streq(err.data_json, data), "parse %s: data_json %s != %s", body,
          err.data_json ? err.data_json : "(null)", data ? data : "(null)");
    wsig_error_clear(&err);
    CHECK(err.data_json == NULL && err.rpc_code == 0 && err.message[0] == '\0' && err.status == 0,
          "wsig_error_clear left state behind");
}

static void parse_protocol_error(const char *body, size_t len)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *result = (char *)"sentinel";
    int rc = wsig_rpc_parse(&result, body, len, &err);
    CHECK(rc == WSIG_ERR_PROTOCOL && err.status == WSIG_ERR_PROTOCOL && result == NULL &&
              err.data_json == NULL,
          "parse %.*s: %s (%s)", (int)len, body ? body : "", wsig_status_name(rc), err.message);
    if (rc == WSIG_OK)
        wsig_free(result);
    wsig_error_clear(&err);
}

static void build_result(const char *json, const char *want)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *out = NULL;
    size_t len = 0;
    int rc = wsig_rpc_result(&out, &len, json, strlen(json), &err);
    CHECK(rc == WSIG_OK && t_streq(out, want) && len == strlen(want), "result(%s) = %s (%zu)",
          json, out ? out : "(null)", len);
    /* Round trip through the parser. */
    if (rc == WSIG_OK) {
        char *back = NULL;
        rc = wsig_rpc_parse(&back, out, len, &err);
        CHECK(rc == WSIG_OK && t_streq(back, json), "parse(result(%s)) = %s", json,
              back ? back : "(null)");
        wsig_free(back);
    }
    wsig_free(out);
    wsig_error_clear(&err);
}

static void build_error(long long code, const char *message, const char *data, const char *want)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *out = NULL;
    size_t len = 0;
    int rc = wsig_rpc_error(&out, &len, code, message, data, &err);
    CHECK(rc == WSIG_OK && t_streq(out, want) && len == strlen(want),
          "error(%lld, %s) =\n  %s\nwant\n  %s", code, message, out ? out : "(null)", want);
    if (rc == WSIG_OK && strlen(message) < sizeof err.message) {
        /* Round trip: the parser gives back code, message and data. */
        char *res = NULL;
        rc = wsig_rpc_parse(&res, out, len, &err);
        CHECK(rc == WSIG_ERR_RPC && err.rpc_code == code && strcmp(err.message, message) == 0 &&
                  t_streq(err.data_json, data),
              "parse(error(%lld, %s)): %s %lld \"%s\" %s", code, message, wsig_status_name(rc),
              err.rpc_code, err.message, err.data_json ? err.data_json : "(null)");
        wsig_free(res);
    }
    wsig_free(out);
    wsig_error_clear(&err);
}

/* The fields every surface shows for a failure (docs/errors.md). */
static void error_fields(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *result = NULL;
    const char *body = "{\"error\":{\"code\":0,\"message\":\"zero\",\"data\":{\"a\":1}}}";
    int rc = wsig_rpc_parse(&result, body, strlen(body), &err);
    unsigned f = wsig_error_fields(&err);
    CHECK(rc == WSIG_ERR_RPC && f == (WSIG_FIELD_CODE | WSIG_FIELD_RPC_CODE | WSIG_FIELD_DATA),
          "rpc error fields: %s %#x", wsig_status_name(rc), f);
    CHECK(t_streq(err.code, "0") && err.rpc_code == 0, "rpc code 0 is a code: %s", err.code);
    wsig_error_clear(&err);
    CHECK(wsig_error_fields(&err) == 0 && wsig_error_fields(NULL) == 0, "no failure, no fields");

    wsig_error t = WSIG_ERROR_INIT;
    t.status = WSIG_ERR_TIMEOUT;
    t.curl_code = 28;
    CHECK(wsig_error_fields(&t) == WSIG_FIELD_CURL_CODE, "timeout: %#x", wsig_error_fields(&t));
    t.status = WSIG_INVALID;
    t.http_status = 200;
    CHECK(wsig_error_fields(&t) == (WSIG_FIELD_REASON | WSIG_FIELD_HTTP_STATUS),
          "a refused signed answer: %#x", wsig_error_fields(&t));
    t.status = WSIG_ERR_HTTP;
    t.http_status = 429;
    t.retry_after = 0;
    snprintf(t.code, sizeof t.code, "ErrRateLimitExceeded");
    CHECK(wsig_error_fields(&t) ==
              (WSIG_FIELD_HTTP_STATUS | WSIG_FIELD_CODE | WSIG_FIELD_RETRY_AFTER),
          "429: %#x (a Retry-After of 0 is one)", wsig_error_fields(&t));
}

void test_rpc(void)
{
    error_fields();

    /* Success. */
    parse_ok("{\"result\":{\"a\":1}}", "{\"a\":1}");
    parse_ok("{\"error\":null,\"result\":{\"a\":1}}", "{\"a\":1}");
    parse_ok("{\"result\":\"\xf0\x9f\x94\x91 \xe2\x98\x83 \xc3\xa9 \xef\xbf\xbf\"}",
             "\"\xf0\x9f\x94\x91 \xe2\x98\x83 \xc3\xa9 \xef\xbf\xbf\"");
    /* The same name in different objects is no duplicate. */
    parse_ok("{\"result\":{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}]}}",
             "{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}]}");
    parse_ok("{\"result\":{\"a\":1},\"error\":null}", "{\"a\":1}");
    parse_ok("{\"result\":5}", "5");
    parse_ok("{\"result\":\"ok\"}", "\"ok\"");
    parse_ok("{\"result\":[1,2,3]}", "[1,2,3]");
    parse_ok("{\"result\":null}", "null");
    parse_ok("{\"result\":true}", "true");
    parse_ok("{\"result\":{\"s\":\"}\\\"{\",\"t\":[{}]}}", "{\"s\":\"}\\\"{\",\"t\":[{}]}");
    parse_ok("{\"id\":7,\"jsonrpc\":\"2.0\",\"result\":{\"x\":\"y\"}}", "{\"x\":\"y\"}");
    /* Big integers and exact decimals pass through byte for byte. */
    parse_ok("{\"result\":{\"id\":123456789012345678901}}", "{\"id\":123456789012345678901}");
    parse_ok("{\"result\":{\"amount\":0.10000000000000000001,\"n\":-18446744073709551617}}",
             "{\"amount\":0.10000000000000000001,\"n\":-18446744073709551617}");
    parse_ok("{\"result\":9007199254740993}", "9007199254740993");
    parse_ok("{\"result\":{\"e\":1E+400}}", "{\"e\":1E+400}");
    /* The result is returned as compact JSON text (walletsign.h). */
    parse_ok("{ \"result\" : { \"a\" : 1 , \"b\" : [ 1 , 2 ] } }", "{\"a\":1,\"b\":[1,2]}");
    parse_ok("{\n  \"error\": null,\n  \"result\": {\"id\": 123456789012345678901}\n}\n",
             "{\"id\":123456789012345678901}");

    /* JSON-RPC errors. */
    parse_rpc_error("{\"error\":{\"code\":21,\"message\":\"Invalid request\",\"data\":{\"value\":\"abc\"}}}",
                    21, "Invalid request", "{\"value\":\"abc\"}");
    parse_rpc_error("{\"error\":{\"code\":-32600,\"message\":\"bad\"}}", -32600, "bad", NULL);
    parse_rpc_error("{\"error\":{\"code\":0,\"message\":\"zero\",\"data\":null}}", 0, "zero",
                    "null");
    parse_rpc_error("{\"error\":{\"code\":3,\"message\":\"big\",\"data\":{\"n\":123456789012345678901}}}",
                    3, "big", "{\"n\":123456789012345678901}");
    parse_rpc_error("{\"error\":{\"code\":4,\"message\":\"list\",\"data\":[1,\"two\"]}}", 4, "list",
                    "[1,\"two\"]");
    parse_rpc_error("{\"error\":{\"code\":5,\"message\":\"line1\\nline2 \\\"q\\\" \\u00e9\"}}", 5,
                    "line1\nline2 \"q\" \xc3\xa9", NULL);
    parse_rpc_error("{\"result\":1,\"error\":{\"code\":6,\"message\":\"both\"}}", 6, "both", NULL);
    parse_rpc_error("{\"error\":{\"code\":9007199254740992,\"message\":\"2^53\"}}",
                    9007199254740992LL, "2^53", NULL);
    /* Codes beyond 2^53 are still integers: exact, never rounded through a double. */
    parse_rpc_error("{\"error\":{\"code\":9007199254740993,\"message\":\"2^53+1\"}}",
                    9007199254740993LL, "2^53+1", NULL);
    parse_rpc_error("{\"error\":{\"code\":-9223372036854775808,\"message\":\"min\"}}",
                    (-9223372036854775807LL - 1), "min", NULL);

    /* Anything else is a protocol error. */
    static const char *const bad[] = {
        "",
        "garbage",
        "{\"result\":",
        "[1,2]",
        "\"result\"",
        "42",
        "null",
        "{}",
        "{\"foo\":1}",
        "{\"error\":null}",
        "{\"error\":{\"message\":\"no code\"}}",
        "{\"error\":{\"code\":\"21\",\"message\":\"string code\"}}",
        "{\"error\":{\"code\":1.5,\"message\":\"fraction\"}}",
        "{\"error\":{\"code\":null,\"message\":\"null code\"}}",
        "{\"error\":\"boom\"}",
        "{\"error\":5}",
        "{\"error\":[1]}",
        "{\"error\":true,\"result\":1}",
        "{\"result\":1} trailing",
        /* A member named twice: json.loads keeps the last, cJSON the first. */
        "{\"result\":1,\"result\":2}",
        "{\"result\":{\"to\":\"a\",\"to\":\"b\"}}",
        "{\"result\":[{\"x\":{\"k\":1,\"k\":1}}]}",
        "{\"result\":1,\"error\":null,\"error\":{\"code\":1,\"message\":\"m\"}}",
        "{\"error\":{\"code\":1,\"code\":2,\"message\":\"m\"}}",
        "{\"result\":1,\"\\u0072esult\":2}",
        /* Not UTF-8 (RFC 8259 8.1): a stray byte, overlong, surrogate, above
         * U+10FFFF, truncated. */
        "{\"result\":\"\xff\"}",
        "{\"result\":\"\xc0\xaf\"}",
        "{\"result\":\"\xed\xa0\x80\"}",
        "{\"result\":\"\xf4\x90\x80\x80\"}",
        "{\"result\":\"\xe2\x98\"}",
        "{\"r\xe9sult\":1,\"result\":1}",
        /* Numbers outside RFC 8259 form, which cJSON would take. */
        "{\"result\":01}",
        "{\"result\":1.}",
        "{\"result\":-.5}",
        "{\"result\":[2.e3]}",
        "{\"result\":+1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_protocol_error(bad[i], strlen(bad[i]));
    parse_protocol_error(NULL, 0);
    /* A body shorter than its buffer: only body_len bytes count. */
    parse_protocol_error("{\"result\":1}", 5);

    /* Builders: exact bytes. */
    build_result("{\"a\":1}", "{\"result\":{\"a\":1}}");
    build_result("{\"id\":123456789012345678901}", "{\"result\":{\"id\":123456789012345678901}}");
    build_result("null", "{\"result\":null}");
    build_result("\"s\"", "{\"result\":\"s\"}");
    build_result("[]", "{\"result\":[]}");
    build_error(21, "Invalid request", "{\"value\":\"abc\"}",
                "{\"error\":{\"code\":21,\"message\":\"Invalid request\",\"data\":{\"value\":\"abc\"}}}");
    build_error(21, "Invalid request", NULL,
                "{\"error\":{\"code\":21,\"message\":\"Invalid request\"}}");
    build_error(-32603, "say \"hi\"\nline2\ttab \\ back", NULL,
                "{\"error\":{\"code\":-32603,\"message\":\"say \\\"hi\\\"\\nline2\\ttab \\\\ back\"}}");
    build_error(7, "caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x94\x91", "[1,2]",
                "{\"error\":{\"code\":7,\"message\":\"caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x94\x91\","
                "\"data\":[1,2]}}");
    build_error(8, "ctl \x01\x1f", "null",
                "{\"error\":{\"code\":8,\"message\":\"ctl \\u0001\\u001f\",\"data\":null}}");
    build_error(9223372036854775807LL, "max", "{\"n\":123456789012345678901}",
                "{\"error\":{\"code\":9223372036854775807,\"message\":\"max\","
                "\"data\":{\"n\":123456789012345678901}}}");
    build_error(0, "", NULL, "{\"error\":{\"code\":0,\"message\":\"\"}}");

    /* Invalid JSON is refused by the builders. */
    static const char *const bad_json[] = {"{\"a\":", "", "{a:1}", "[1,]", "nul", "{\"a\":1}}",
                                           "{\"a\":1,\"a\":1}"};
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
        wsig_error err = WSIG_ERROR_INIT;
        char *out = (char *)"sentinel";
        size_t len = 99;
        int rc = wsig_rpc_result(&out, &len, bad_json[i], strlen(bad_json[i]), &err);
        CHECK(rc == WSIG_ERR_ARG && out == NULL && len == 0, "result(%s): %s", bad_json[i],
              wsig_status_name(rc));
        if (rc == WSIG_OK)
            wsig_free(out);
        out = (char *)"sentinel";
        len = 99;
        rc = wsig_rpc_error(&out, &len, 1, "m", bad_json[i], &err);
        CHECK(rc == WSIG_ERR_ARG && out == NULL && len == 0, "error data %s: %s", bad_json[i],
              wsig_status_name(rc));
        if (rc == WSIG_OK)
            wsig_free(out);
        wsig_error_clear(&err);
    }
    {
        wsig_error err = WSIG_ERROR_INIT;
        char *out = NULL;
        size_t len = 0;
        int rc = wsig_rpc_error(&out, &len, 1, "caf\xe9", NULL, &err);
        CHECK(rc == WSIG_ERR_ARG && out == NULL, "error message not UTF-8: %s", wsig_status_name(rc));
        wsig_error_clear(&err);
    }
    /* The result length counts, not the NUL. */
    {
        wsig_error err = WSIG_ERROR_INIT;
        char *out = NULL;
        size_t len = 0;
        int rc = wsig_rpc_result(&out, &len, "{\"a\":1}garbage", 7, &err);
        CHECK(rc == WSIG_OK && t_streq(out, "{\"result\":{\"a\":1}}"), "result with length: %s",
              out ? out : "(null)");
        wsig_free(out);
        wsig_error_clear(&err);
    }
}
