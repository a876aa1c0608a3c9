/* libFuzzer target: the JSON-RPC-like envelope (wsig_rpc_parse,
 * wsig_rpc_result, wsig_rpc_error).
 *
 * Input layout:
 *   byte 0   mode (mod 3): 0 parse, 1 result, 2 error; for error, bit 7 = no data
 *   parse:   rest = response body (exact length, not NUL-terminated)
 *   result:  rest = result JSON text (exact length)
 *   error:   bytes 1-8 code (int64, little endian), field message
 *            (NUL-terminated), rest = data JSON text (NUL-terminated here)
 *
 * Properties:
 *   parse  status OK / ERR_RPC / ERR_PROTOCOL; the result (OK) and the error
 *          data (ERR_RPC) are each one complete JSON value, and the result (or
 *          the error's code and data) are the members cJSON parsed, the ones
 *          the status was decided on.
 *   result an accepted X gives exactly {"result":X} as one complete JSON
 *          object, and wsig_rpc_parse of it returns X (as JSON).
 *   error  an accepted (code, message, data) gives one complete JSON object
 *          that wsig_rpc_parse turns back into ERR_RPC with the same code,
 *          message and data (codes within +-2^53, which JSON carries exactly).
 * "Complete" means cJSON accepts the whole text (require_null_terminated):
 * the core's own checks use cJSON_ParseWithLength, which stops after the
 * first value and ignores what follows.
 */
#include "fuzz_common.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "fuzz_json.h"

static void do_parse(const uint8_t *body, size_t len)
{
    char *result = (char *)0x1;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_rpc_parse(&result, (const char *)body, len, &err);
    fz_check_err(&err, rc);
    FZ_CHECK(rc == WSIG_OK || rc == WSIG_ERR_RPC || rc == WSIG_ERR_PROTOCOL, "status %s",
             wsig_status_name(rc));
    FZ_CHECK((rc == WSIG_OK) == (result != NULL), "result pointer and status disagree");
    if (rc == WSIG_OK) {
        cJSON *j = parse_complete(result, strlen(result));
        FZ_CHECK(j, "result is not one JSON value: [%s]", result);
        /* ... and the very "result" that cJSON saw (and the status was decided on). */
        cJSON *root = cJSON_ParseWithLength((const char *)body, len);
        FZ_CHECK(same_json(j, cJSON_GetObjectItemCaseSensitive(root, "result")),
                 "result [%s] is not the member cJSON parsed in [%.*s]", result, (int)len, (const char *)body);
        cJSON_Delete(root);
        cJSON_Delete(j);
    }
    if (rc == WSIG_ERR_RPC) {
        /* code and data are those of the "error" object cJSON parsed. */
        cJSON *root = cJSON_ParseWithLength((const char *)body, len);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(e, "data");
        FZ_CHECK(cJSON_IsNumber(code), "ERR_RPC without a numeric code in [%.*s]", (int)len, (const char *)body);
        if (fabs(code->valuedouble) < 9007199254740992.0)
            FZ_CHECK((double)err.rpc_code == code->valuedouble, "rpc_code %lld, but cJSON parsed %.17g in [%.*s]",
                     err.rpc_code, code->valuedouble, (int)len, (const char *)body);
        FZ_CHECK(!data == !err.data_json, "data %s but data_json %s", data ? "present" : "absent",
                 err.data_json ? err.data_json : "NULL");
        if (err.data_json) {
            cJSON *j = parse_complete(err.data_json, strlen(err.data_json));
            FZ_CHECK(j, "error data is not one JSON value: [%s]", err.data_json);
            FZ_CHECK(same_json(j, data), "data_json [%s] is not the member cJSON parsed in [%.*s]",
                     err.data_json, (int)len, (const char *)body);
            cJSON_Delete(j);
        }
        cJSON_Delete(root);
    }
    wsig_free(result);
    wsig_error_clear(&err);
}

static void do_result(const uint8_t *text, size_t len)
{
    char *out = NULL;
    size_t out_len = 0;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_rpc_result(&out, &out_len, (const char *)text, len, &err);
    fz_check_err(&err, rc);
    FZ_CHECK(rc == WSIG_OK || rc == WSIG_ERR_ARG, "status %s", wsig_status_name(rc));
    if (rc == WSIG_OK) {
        FZ_CHECK(out && strlen(out) == out_len, "out_len %zu for %zu bytes", out_len, strlen(out));
        cJSON *env = parse_complete(out, out_len);
        FZ_CHECK(cJSON_IsObject(env), "envelope is not one JSON object: [%s]", out);
        FZ_CHECK(cJSON_GetArraySize(env) == 1 && cJSON_GetObjectItemCaseSensitive(env, "result"),
                 "envelope has other members than result: [%s]", out);
        char *back = NULL;
        int rc2 = wsig_rpc_parse(&back, out, out_len, &err);
        FZ_CHECK(rc2 == WSIG_OK, "own envelope does not parse: %s", err.message);
        cJSON *a = parse_complete(back, strlen(back)), *b = cJSON_ParseWithLength((const char *)text, len);
        FZ_CHECK(same_json(a, b), "result changed: [%.*s] -> [%s]", (int)len,
                 (const char *)text, back);
        cJSON_Delete(a);
        cJSON_Delete(b);
        cJSON_Delete(env);
        wsig_free(back);
    }
    wsig_free(out);
    wsig_error_clear(&err);
}

static void do_error(long long code, const char *message, const char *data)
{
    char *out = NULL;
    size_t out_len = 0;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_rpc_error(&out, &out_len, code, message, data, &err);
    fz_check_err(&err, rc);
    FZ_CHECK(rc == WSIG_OK || rc == WSIG_ERR_ARG, "status %s", wsig_status_name(rc));
    if (rc == WSIG_OK) {
        FZ_CHECK(out && strlen(out) == out_len, "out_len");
        cJSON *env = parse_complete(out, out_len);
        FZ_CHECK(cJSON_IsObject(env), "envelope is not one JSON object: [%s]", out);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(env, "error");
        FZ_CHECK(cJSON_GetArraySize(env) == 1 && cJSON_IsObject(e), "envelope members: [%s]", out);
        FZ_CHECK(cJSON_GetArraySize(e) == (data ? 3 : 2), "error object members: [%s]", out);
        cJSON_Delete(env);
        char *back = NULL;
        int rc2 = wsig_rpc_parse(&back, out, out_len, &err);
        if (code >= -9007199254740992LL && code <= 9007199254740992LL) {
            FZ_CHECK(rc2 == WSIG_ERR_RPC, "own error envelope parses as %s: %s", wsig_status_name(rc2),
                     err.message);
            FZ_CHECK(err.rpc_code == code, "code %lld came back as %lld", code, err.rpc_code);
            FZ_CHECK(strncmp(err.message, message, sizeof err.message - 1) == 0,
                     "message [%s] came back as [%s]", message, err.message);
            if (data) {
                cJSON *a = err.data_json ? parse_complete(err.data_json, strlen(err.data_json)) : NULL;
                cJSON *b = cJSON_Parse(data);
                FZ_CHECK(same_json(a, b), "data [%s] came back as [%s]", data,
                         err.data_json ? err.data_json : "(null)");
                cJSON_Delete(a);
                cJSON_Delete(b);
            } else {
                FZ_CHECK(!err.data_json, "data appeared: %s", err.data_json);
            }
        }
        wsig_free(back);
    }
    wsig_free(out);
    wsig_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t f = fz_init(data, size);
    uint8_t mode = fz_u8(&f);
    bool strict = fz_skip("lenient-json");
    if (mode % 3 == 2) {
        long long code = (long long)fz_u64(&f);
        char *message = fz_str(&f, NULL);
        char *djson = fz_str(&f, NULL);
        if (!strict || (mode & 128) || fz_plain_json(djson, strlen(djson)))
            do_error(code, message, (mode & 128) ? NULL : djson);
        free(message);
        free(djson);
        return 0;
    }
    size_t len;
    uint8_t *rest = fz_rest(&f, &len);
    if (strict && !fz_plain_json((const char *)rest, len))
        ; /* the known lenient-JSON bugs: skipped on request */
    else if (mode % 3 == 0)
        do_parse(rest, len);
    else
        do_result(rest, len);
    free(rest);
    return 0;
}
