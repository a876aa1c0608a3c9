/* Shared plumbing of the CLI: option parsing, exit codes, files and secrets. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLI_MAX_INPUT (64u << 20) /* bodies, headers and key files are far smaller */

/* ------------------------------------------------------------------ */
/* Options                                                            */

static const cli_opt *find_opt(const cli_args *a, const char *name, size_t len)
{
    for (size_t i = 0; i < a->nspec; i++)
        if (strlen(a->spec[i].name) == len && memcmp(a->spec[i].name, name, len) == 0)
            return &a->spec[i];
    return NULL;
}

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

int cli_parse(cli_args *a, const char *cmd, const char *usage, const cli_opt *spec, size_t nspec,
              int argc, char **argv, int *help_done)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->usage = usage;
    a->spec = spec;
    a->nspec = nspec;
    *help_done = 0;
    int only_positional = 0;
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (!only_positional && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            fputs(usage, stdout);
            *help_done = 1;
            return CLI_OK;
        }
        if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (a->npos == CLI_MAX_POS)
                return cli_usage_error(a, "too many arguments");
            a->pos[a->npos++] = arg;
            continue;
        }
        if (arg[1] != '-')
            return cli_usage_error(a, "unknown option %s", arg);
        const char *name = arg + 2;
        char *eq = strchr(name, '=');
        const cli_opt *o = find_opt(a, name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o)
            return cli_usage_error(a, "unknown option --%.*s",
                                   eq ? (int)(eq - name) : (int)strlen(name), name);
        char *value = NULL;
        if (o->kind == CLI_FLAG) {
            if (eq)
                return cli_usage_error(a, "--%s takes no value", o->name);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return cli_usage_error(a, "--%s needs a value", o->name);
        }
        if (a->nseen == CLI_MAX_SEEN)
            return cli_usage_error(a, "too many options");
        a->seen[a->nseen].name = o->name;
        a->seen[a->nseen].value = value;
        a->nseen++;
    }
    return CLI_OK;
}

char *cli_get(const cli_args *a, const char *name)
{
    for (size_t i = a->nseen; i-- > 0;)
        if (strcmp(a->seen[i].name, name) == 0)
            return a->seen[i].value;
    return NULL;
}

const char *cli_get_env(const cli_args *a, const char *name, const char *env)
{
    const char *v = cli_get(a, name);
    if (!v && env) {
        v = getenv(env);
        if (v && !*v)
            v = NULL;
    }
    return v;
}

int cli_flag(const cli_args *a, const char *name)
{
    for (size_t i = 0; i < a->nseen; i++)
        if (strcmp(a->seen[i].name, name) == 0)
            return 1;
    return 0;
}

const char *cli_get_nth(const cli_args *a, const char *name, size_t n)
{
    for (size_t i = 0; i < a->nseen; i++)
        if (strcmp(a->seen[i].name, name) == 0 && n-- == 0)
            return a->seen[i].value;
    return NULL;
}

int cli_positionals(const cli_args *a, size_t min, size_t max)
{
    if (a->npos < min)
        return cli_usage_error(a, "missing argument");
    if (a->npos > max)
        return cli_usage_error(a, "unexpected argument '%s'", a->pos[max]);
    return CLI_OK;
}

int cli_opt_i64(const cli_args *a, const char *name, int64_t min, int64_t max, int64_t *out)
{
    const char *s = cli_get(a, name);
    if (!s)
        return CLI_OK;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        return cli_usage_error(a, "--%s must be an integer from %lld to %lld", name, (long long)min,
                               (long long)max);
    *out = v;
    return CLI_OK;
}

int cli_opt_u64(const cli_args *a, const char *name, uint64_t *out)
{
    const char *s = cli_get(a, name);
    if (!s)
        return CLI_OK;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno)
        return cli_usage_error(a, "--%s must be a decimal integer from 0 to 2^64-1", name);
    *out = v;
    return CLI_OK;
}

int cli_opt_double(const cli_args *a, const char *name, double min, double max, double *out)
{
    const char *s = cli_get(a, name);
    if (!s)
        return CLI_OK;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < min || v > max)
        return cli_usage_error(a, "--%s must be a number from %g to %g", name, min, max);
    *out = v;
    return CLI_OK;
}

int cli_opt_choice(const cli_args *a, const char *name, const char *const *choices, int *out)
{
    const char *s = cli_get(a, name);
    if (!s)
        return CLI_OK;
    for (int i = 0; choices[i]; i++)
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return CLI_OK;
        }
    fprintf(stderr, "walletsign %s: --%s must be one of:", a->cmd, name);
    for (int i = 0; choices[i]; i++)
        fprintf(stderr, " %s", choices[i]);
    fprintf(stderr, "\nTry 'walletsign %s --help'.\n", a->cmd);
    return CLI_USAGE;
}

/* ------------------------------------------------------------------ */
/* Errors                                                             */

int cli_exit_for(int status)
{
    switch (status) {
    case WSIG_OK: return CLI_OK;
    case WSIG_INVALID: return CLI_INVALID;
    case WSIG_ERR_ARG: return CLI_USAGE;
    case WSIG_ERR_KEY:
    case WSIG_ERR_PASSWORD: return CLI_KEY;
    case WSIG_ERR_TRANSPORT:
    case WSIG_ERR_TIMEOUT: return CLI_TRANSPORT;
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

static void json_error(const cli_args *a, int code, const wsig_error *err, const char *msg)
{
    fputs("{\"error\":{\"kind\":", stderr);
    cli_json_string(stderr, cli_exit_name(code), strlen(cli_exit_name(code)));
    fprintf(stderr, ",\"exit_code\":%d,\"command\":", code);
    cli_json_string(stderr, a->cmd, strlen(a->cmd));
    fputs(",\"message\":", stderr);
    cli_json_string(stderr, msg, strlen(msg));
    if (err && err->status) {
        fputs(",\"status\":", stderr);
        const char *st = wsig_status_name(err->status);
        cli_json_string(stderr, st, strlen(st));
        if (err->status == WSIG_INVALID) {
            const char *r = wsig_reason_name(err->reason);
            fputs(",\"reason\":", stderr);
            cli_json_string(stderr, r, strlen(r));
        }
        if (err->http_status)
            fprintf(stderr, ",\"http_status\":%ld", err->http_status);
        if (err->code[0]) {
            fputs(",\"code\":", stderr);
            cli_json_string(stderr, err->code, strlen(err->code));
        }
        if (err->status == WSIG_ERR_RPC)
            fprintf(stderr, ",\"rpc_code\":%lld", err->rpc_code);
        if (err->data_json) /* compact JSON text made by the library */
            fprintf(stderr, ",\"data\":%s", err->data_json);
        if (err->curl_code)
            fprintf(stderr, ",\"curl_code\":%d", err->curl_code);
        if (err->retry_after >= 0)
            fprintf(stderr, ",\"retry_after\":%g", err->retry_after);
        if (err->location) {
            fputs(",\"location\":", stderr);
            cli_json_string(stderr, err->location, strlen(err->location));
        }
        if (err->body) {
            fputs(",\"body\":", stderr);
            cli_json_string(stderr, err->body, err->body_len);
        }
    }
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
/* Files and secrets                                                  */

void cli_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

void cli_free_secret(char *p, size_t len)
{
    if (!p)
        return;
    cli_wipe(p, len + 1);
    free(p);
}

int cli_read_file(const cli_args *a, const char *path, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int stdin_ = strcmp(path, "-") == 0;
    int fd = stdin_ ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return cli_error(a, CLI_IO, NULL, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    size_t cap = 4096, known = (size_t)-1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size < CLI_MAX_INPUT)
        known = (size_t)st.st_size, cap = known + 1; /* one allocation: no stray copies */
    char *buf = malloc(cap);
    size_t n = 0;
    int rc = CLI_OK;
    while (buf) {
        if (n == known) /* the whole regular file (a file growing meanwhile is cut here) */
            break;
        if (n + 1 == cap) {
            if (cap >= CLI_MAX_INPUT) {
                rc = cli_error(a, CLI_IO, NULL, "%s is larger than %u bytes", path, CLI_MAX_INPUT);
                break;
            }
            /* Not realloc: the old block must be wiped, not just released. */
            char *bigger = malloc(cap * 2);
            if (bigger)
                memcpy(bigger, buf, n);
            cli_wipe(buf, cap);
            free(buf);
            buf = bigger;
            cap *= 2;
            continue;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = cli_error(a, CLI_IO, NULL, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (!stdin_)
        close(fd);
    if (!buf)
        return cli_error(a, CLI_INTERNAL, NULL, "out of memory");
    if (rc != CLI_OK) {
        cli_wipe(buf, cap);
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    if (n + 1 < cap)
        cli_wipe(buf + n + 1, cap - n - 1);
    *out = buf;
    *len = n;
    return CLI_OK;
}

int cli_read_secret_line(const cli_args *a, const char *path, char **out, size_t *len)
{
    char *buf;
    size_t n;
    int rc = cli_read_file(a, path, &buf, &n);
    if (rc != CLI_OK)
        return rc;
    char *nl = memchr(buf, '\n', n);
    size_t line = nl ? (size_t)(nl - buf) : n;
    if (line && buf[line - 1] == '\r')
        line--;
    cli_wipe(buf + line, n - line); /* the rest of the file, terminator included */
    *out = buf;
    *len = line;
    return CLI_OK;
}

int cli_read_body(const cli_args *a, const char *spec, char **out, size_t *len)
{
    if (spec[0] == '@')
        return cli_read_file(a, spec + 1, out, len);
    if (strcmp(spec, "-") == 0)
        return cli_read_file(a, "-", out, len);
    *len = strlen(spec);
    *out = malloc(*len + 1);
    if (!*out)
        return cli_error(a, CLI_INTERNAL, NULL, "out of memory");
    memcpy(*out, spec, *len + 1);
    return CLI_OK;
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
