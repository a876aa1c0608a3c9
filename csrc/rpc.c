/* The Wallet Manager's JSON-RPC-like envelope: {"result":..} or {"error":{..}}. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy the raw text of obj's member name (or cJSON's rendering when the key
 * was written with escapes and the raw scan cannot see it). */
static char *member_text(const char *json, size_t len, const cJSON *item, const char *name)
{
    size_t start, span;
    if (wsig__json_member_span(json, len, name, &start, &span)) {
        char *out = malloc(span + 1);
        if (out) {
            memcpy(out, json + start, span);
            out[span] = '\0';
        }
        return out;
    }
    return cJSON_PrintUnformatted(item);
}

static int rpc_failure(const cJSON *error, const char *body, size_t len, wsig_error *err)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(error, "data");
    if (!cJSON_IsNumber(code) || code->valuedouble != floor(code->valuedouble) ||
        fabs(code->valuedouble) > 9007199254740992.0)
        return wsig__fail(err, WSIG_ERR_PROTOCOL, "error object without an integer code");
    wsig__fail(err, WSIG_ERR_RPC, "%s",
               cJSON_IsString(message) ? message->valuestring : "(no message)");
    if (err) {
        err->rpc_code = (long long)code->valuedouble;
        snprintf(err->code, sizeof err->code, "%lld", err->rpc_code);
        if (data) {
            /* Raw text of "data" inside the raw text of "error". */
            size_t start, span;
            if (wsig__json_member_span(body, len, "error", &start, &span))
                err->data_json = member_text(body + start, span, data, "data");
            else
                err->data_json = cJSON_PrintUnformatted(data);
        }
    }
    return WSIG_ERR_RPC;
}

int wsig_rpc_parse(char **result_json, const char *body, size_t body_len, wsig_error *err)
{
    *result_json = NULL;
    wsig__reset(err);
    if (!body)
        return wsig__fail(err, WSIG_ERR_PROTOCOL, "empty response");
    cJSON *root = cJSON_ParseWithLength(body, body_len);
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
    cJSON *v = cJSON_ParseWithLength(text, len);
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
