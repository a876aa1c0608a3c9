/* Option parsing of the CLI: flags, values, positionals and strict numbers. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Options                                                            */

static const cli_opt *find_opt(const cli_args *a, const char *name, size_t len)
{
    for (size_t i = 0; i < a->nspec; i++)
        if (strlen(a->spec[i].name) == len && memcmp(a->spec[i].name, name, len) == 0)
            return &a->spec[i];
    return NULL;
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

int cli_opt_option(const cli_args *a, const char *name, int option, int *out)
{
    const char *s = cli_get(a, name);
    if (!s)
        return CLI_OK;
    wsig_error err = WSIG_ERROR_INIT;
    if (wsig_option_value(option, s, out, &err) != WSIG_OK)
        return cli_usage_error(a, "--%s: %s", name, err.message);
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
