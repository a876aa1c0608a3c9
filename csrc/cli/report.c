/* Exit codes, error reports and output helpers of the CLI. */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Errors                                                             */

int cli_usage_error(const cli_args *a, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "walletsign %s: ", a->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'walletsign %s --help'.\n", a->cmd);
    return CLI_USAGE;
}

int cli_exit_for(int status)
{
    switch (status) {
    case WSIG_OK: return CLI_OK;
    case WSIG_INVALID: return CLI_INVALID;
    case WSIG_ERR_ARG: return CLI_USAGE;
    case WSIG_ERR_KEY:
    case WSIG_ERR_PASSWORD: return CLI_KEY;
    case WSIG_ERR_TRANSPORT:
    case WSIG_ERR_TIMEOUT:
    case WSIG_ERR_ABORTED: return CLI_TRANSPORT; /* the call did not complete */
    case WSIG_ERR_HTTP: return CLI_HTTP;
    case WSIG_ERR_RPC: return CLI_RPC;
    case WSIG_ERR_PROTOCOL: return CLI_PROTOCOL;
    case WSIG_ERR_IO: return CLI_IO;
    default: return CLI_INTERNAL; /* crypto, out of memory, unknown */
    }
}

const char *cli_exit_name(int code)
{
    static const char *const names[] = {"ok",   "invalid", "usage",    "key", "transport",
                                        "http", "rpc",     "protocol", "io",  "internal"};
    return code >= 0 && code <= CLI_INTERNAL ? names[code] : "internal";
}

static void json_field_string(const char *name, const char *value, size_t len)
{
    fprintf(stderr, ",\"%s\":", name);
    cli_json_string(stderr, value, len);
}

/* One JSON object on stderr: the fields of a failure under the names every
 * surface uses (docs/errors.md; which apply is the library's rule), plus the
 * CLI's exit_code and command. A failure of the CLI's own (a file, memory)
 * has no library record: its kind is io_error or out_of_memory. */
static void json_error(const cli_args *a, int code, const wsig_error *err, const char *msg)
{
    unsigned f = err && err->status ? wsig_error_fields(err) : 0;
    const char *kind = err && err->status ? wsig_status_name(err->status)
                       : wsig_status_name(code == CLI_IO ? WSIG_ERR_IO : WSIG_ERR_NOMEM);
    fputs("{\"error\":{\"kind\":", stderr);
    cli_json_string(stderr, kind, strlen(kind));
    fprintf(stderr, ",\"exit_code\":%d", code);
    json_field_string("command", a->cmd, strlen(a->cmd));
    json_field_string("message", msg, strlen(msg));
    json_field_string("status", kind, strlen(kind)); /* deprecated alias of kind */
    if (f & WSIG_FIELD_REASON) {
        const char *r = wsig_reason_name(err->reason);
        json_field_string("reason", r, strlen(r));
    }
    if (f & WSIG_FIELD_HTTP_STATUS)
        fprintf(stderr, ",\"http_status\":%ld", err->http_status);
    if (f & WSIG_FIELD_CODE)
        json_field_string("code", err->code, strlen(err->code));
    if (f & WSIG_FIELD_RPC_CODE)
        fprintf(stderr, ",\"rpc_code\":%lld", err->rpc_code);
    if (f & WSIG_FIELD_DATA) /* compact JSON text made by the library */
        fprintf(stderr, ",\"data\":%s", err->data_json);
    if (f & WSIG_FIELD_CURL_CODE)
        fprintf(stderr, ",\"curl_code\":%d", err->curl_code);
    if (f & WSIG_FIELD_RETRY_AFTER)
        fprintf(stderr, ",\"retry_after\":%g", err->retry_after);
    if (f & WSIG_FIELD_LOCATION)
        json_field_string("location", err->location, strlen(err->location));
    if (f & WSIG_FIELD_BODY)
        json_field_string("body", err->body, err->body_len);
    fputs("}}\n", stderr);
}

int cli_error(const cli_args *a, int code, const wsig_error *err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && err && err->message[0] && (size_t)n < sizeof msg)
        snprintf(msg + n, sizeof msg - (size_t)n, "%s%s", n ? ": " : "", err->message);
    if (a->json_errors)
        json_error(a, code, err, msg);
    else
        fprintf(stderr, "walletsign %s: %s\n", a->cmd, msg);
    return code;
}

int cli_fail(const cli_args *a, const wsig_error *err, int status, const char *what)
{
    int code = cli_exit_for(status);
    if (err && err->message[0])
        return cli_error(a, code, err, "%s", what);
    return cli_error(a, code, err, "%s: %s", what, wsig_status_name(status));
}

void cli_warn(const cli_args *a, const wsig_error *err)
{
    if (err && err->warning[0])
        fprintf(stderr, "walletsign %s: warning: %s\n", a->cmd, err->warning);
}

/* ------------------------------------------------------------------ */
/* Output                                                             */

void cli_json_string(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f); /* UTF-8 passes through as is */
        }
    }
    fputc('"', f);
}

void cli_shell_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}
