/* The Wallet Manager's JSON-RPC-like envelope: {"result":..} or {"error":{..}}. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy the text of obj's member name as compact JSON (or cJSON's rendering
 * when the key was written with escapes and the raw scan cannot see it). */
static char *member_text(const char *json, size_t len, const cJSON *item, const char *name)
{
    size_t start, span;
    if (wsig__json_member_span(json, len, name, &start, &span))
        return wsig__json_compact(json + start, span);
    return cJSON_PrintUnformatted(item);
}

/* The integer "code" of an error object, read from its raw text so that
 * codes beyond 2^53 keep every digit. */
static bool error_code(long long *code, const char *error_json, size_t len)
{
    size_t start, span;
    if (!wsig__json_member_span(error_json, len, "code", &start, &span) || span == 0 || span > 20)
        return false;
    char buf[WSIG_DECIMAL_SIZE];
    memcpy(buf, error_json + start, span);
    buf[span] = '\0';
    const char *digits = buf[0] == '-' ? buf + 1 : buf;
    if (!*digits || strspn(digits, "0123456789") != strlen(digits))
        return false;
    errno = 0;
    *code = strtoll(buf, NULL, 10);
    return errno != ERANGE;
}

static int rpc_failure(const cJSON *error, const char *body, size_t len, wsig_error *err)
{
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(error, "data");
    size_t start = 0, span = 0;
    long long code;
    /* The raw text of "error" holds the raw texts of "code" and "data". */
    if (!wsig__json_member_span(body, len, "error", &start, &span) ||
        !error_code(&code, body + start, span))
        return wsig__fail(err, WSIG_ERR_PROTOCOL, "error object without an integer code");
    wsig__fail(err, WSIG_ERR_RPC, "%s",
               cJSON_IsString(message) ? message->valuestring : "(no message)");
    if (err) {
        err->rpc_code = code;
        snprintf(err->code, sizeof err->code, "%lld", code);
        if (data)
            err->data_json = member_text(body + start, span, data, "data");
    }
    return WSIG_ERR_RPC;
}

int wsig_rpc_parse(char **result_json, const char *body, size_t body_len, wsig_error *err)
{
    *result_json = NULL;
    wsig__reset(err);
    if (!body)
        return wsig__fail(err, WSIG_ERR_PROTOCOL, "empty response");
    cJSON *root = wsig__json_parse_exact(body, body_len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return wsig__fail(err, WSIG_ERR_PROTOCOL, "response is not a JSON object");
    }
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(root, "result");
    int rc;
    if (error && !cJSON_IsNull(error)) {
        rc = cJSON_IsObject(error) ? rpc_failure(error, body, body_len, err)
                                   : wsig__fail(err, WSIG_ERR_PROTOCOL, "\"error\" is not an object");
    } else if (!result) {
        rc = wsig__fail(err, WSIG_ERR_PROTOCOL, "response has neither result nor error");
    } else {
        *result_json = member_text(body, body_len, result, "result");
        rc = *result_json ? WSIG_OK : wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(root);
    return rc;
}

static bool valid_json(const char *text, size_t len)
{
    cJSON *v = wsig__json_parse_exact(text, len);
    cJSON_Delete(v);
    return v != NULL;
}

int wsig_rpc_result(char **out, size_t *out_len, const char *result_json, size_t result_len,
                    wsig_error *err)
{
    *out = NULL;
    *out_len = 0;
    wsig__reset(err);
    if (!valid_json(result_json, result_len))
        return wsig__fail(err, WSIG_ERR_ARG, "result is not valid JSON");
    size_t n = result_len + sizeof "{\"result\":}";
    char *buf = malloc(n);
    if (!buf)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    memcpy(buf, "{\"result\":", 10);
    memcpy(buf + 10, result_json, result_len);
    buf[10 + result_len] = '}';
    buf[11 + result_len] = '\0';
    *out = buf;
    *out_len = 11 + result_len;
    return WSIG_OK;
}

int wsig_rpc_error(char **out, size_t *out_len, long long code, const char *message,
                   const char *data_json, wsig_error *err)
{
    *out = NULL;
    *out_len = 0;
    wsig__reset(err);
    if (data_json && !valid_json(data_json, strlen(data_json)))
        return wsig__fail(err, WSIG_ERR_ARG, "data is not valid JSON");
    if (!wsig__utf8_valid((const unsigned char *)message, strlen(message)))
        return wsig__fail(err, WSIG_ERR_ARG, "message is not UTF-8");
    cJSON *msg = cJSON_CreateString(message);
    char *quoted = msg ? cJSON_PrintUnformatted(msg) : NULL;
    cJSON_Delete(msg);
    if (!quoted)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    size_t n = strlen(quoted) + (data_json ? strlen(data_json) : 0) + 64;
    char *buf = malloc(n);
    if (buf) {
        int len = data_json
                      ? snprintf(buf, n, "{\"error\":{\"code\":%lld,\"message\":%s,\"data\":%s}}",
                                 code, quoted, data_json)
                      : snprintf(buf, n, "{\"error\":{\"code\":%lld,\"message\":%s}}", code, quoted);
        *out = buf;
        *out_len = (size_t)len;
    }
    free(quoted);
    return buf ? WSIG_OK : wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
}
