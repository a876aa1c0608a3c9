/* Error records: the message lives in the caller's wsig_error, never in a global. */
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void vset(wsig_error *err, int status, const char *fmt, va_list ap)
{
    err->status = status;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

int wsig__fail(wsig_error *err, int status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vset(err, status, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* OpenSSL's reason strings name the failing routine and never include key bytes. */
int wsig__fail_ossl(wsig_error *err, int status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vset(err, status, fmt, ap);
        va_end(ap);
    }
    unsigned long e;
    bool first = true;
    while ((e = ERR_get_error()) != 0) {
        if (!err)
            continue;
        size_t used = strlen(err->message);
        if (used + 8 >= sizeof err->message)
            continue;
        const char *reason = ERR_reason_error_string(e);
        char buf[128];
        if (reason)
            snprintf(buf, sizeof buf, "%s", reason);
        else
            ERR_error_string_n(e, buf, sizeof buf);
        snprintf(err->message + used, sizeof err->message - used, "%s%s", first ? ": " : "; ",
                 buf);
        first = false;
    }
    return status;
}

int wsig__reject(wsig_error *err, int reason, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vset(err, WSIG_INVALID, fmt, ap);
        va_end(ap);
        err->reason = reason;
    }
    return WSIG_INVALID;
}

int wsig__fail_store(wsig_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vset(err, WSIG_ERR_STORE, fmt, ap);
        va_end(ap);
        err->reason = WSIG_REASON_STORE_UNAVAILABLE;
    }
    return WSIG_ERR_STORE;
}

/* Every public call starts here, so it touches only what a failure sets
 * instead of clearing the whole ~900-byte record (a rep stos per call). */
void wsig__reset(wsig_error *err)
{
    if (!err)
        return;
    if (err->body || err->data_json || err->location) {
        free(err->body);
        free(err->data_json);
        free(err->location);
        err->body = err->data_json = err->location = NULL;
    }
    err->status = err->reason = err->curl_code = 0;
    err->http_status = 0;
    err->rpc_code = 0;
    err->retry_after = -1.0;
    err->code[0] = err->message[0] = err->warning[0] = '\0';
    err->body_len = 0;
}

void wsig_error_clear(wsig_error *err)
{
    if (!err)
        return;
    free(err->body);
    free(err->data_json);
    free(err->location);
    memset(err, 0, sizeof *err);
    err->retry_after = -1.0;
}

unsigned wsig_error_fields(const wsig_error *err)
{
    if (!err || err->status == WSIG_OK)
        return 0;
    unsigned f = 0;
    if (err->status == WSIG_INVALID || err->status == WSIG_ERR_STORE)
        f |= WSIG_FIELD_REASON;
    if (err->http_status > 0)
        f |= WSIG_FIELD_HTTP_STATUS;
    if (err->code[0])
        f |= WSIG_FIELD_CODE;
    if (err->status == WSIG_ERR_RPC) /* 0 is a code too */
        f |= WSIG_FIELD_RPC_CODE;
    if (err->retry_after >= 0)
        f |= WSIG_FIELD_RETRY_AFTER;
    if (err->status == WSIG_ERR_TRANSPORT || err->status == WSIG_ERR_TIMEOUT)
        f |= WSIG_FIELD_CURL_CODE;
    if (err->location)
        f |= WSIG_FIELD_LOCATION;
    if (err->body)
        f |= WSIG_FIELD_BODY;
    if (err->data_json)
        f |= WSIG_FIELD_DATA;
    return f;
}

const char *wsig_status_name(int status)
{
    static const char *const names[] = {
        "ok",        "invalid",  "argument_error", "key_error",       "password_error",
        "crypto_error", "out_of_memory", "io_error", "protocol_error", "transport_error",
        "timeout",   "http_error", "rpc_error", "aborted", "store_error",
    };
    if (status < 0 || (size_t)status >= sizeof names / sizeof names[0])
        return "unknown";
    return names[status];
}

const char *wsig_reason_name(int reason)
{
    static const char *const names[] = {
        "",        "bad_signature",    "untrusted_address", "stale_timestamp", "replay",
        "malformed_header", "missing_header", "expired", "malformed", "lifetime_too_long",
        "request_mismatch", "store_unavailable",
    };
    if (reason < 0 || (size_t)reason >= sizeof names / sizeof names[0])
        return "unknown";
    return names[reason];
}

void wsig_free(void *p)
{
    free(p);
}

void wsig_free_secret(void *p, size_t len)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}

const char *wsig_version(void)
{
    return WSIG_VERSION;
}
