/* The walletsign command-line tool: shared declarations.
 * A user of the public API only: nothing from the core's private headers. */
#ifndef WALLETSIGN_CLI_H
#define WALLETSIGN_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <walletsign.h>

/* ---- args.c: command-line options, parsed into a cli_args ---- */

enum cli_opt_kind { CLI_FLAG, CLI_VALUE };

typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    int kind;
} cli_opt;

#define CLI_MAX_SEEN 128
#define CLI_MAX_POS 8

typedef struct cli_args {
    const char *cmd;   /* "sign hmac", for messages */
    const char *usage; /* the command's --help text */
    const cli_opt *spec;
    size_t nspec;
    struct {
        const char *name; /* points into spec */
        char *value;      /* into argv (writable: --secret is wiped there); NULL for flags */
    } seen[CLI_MAX_SEEN];
    size_t nseen;
    char *pos[CLI_MAX_POS];
    size_t npos;
    int json_errors; /* errors go to stderr as one JSON object (the HTTP commands) */
} cli_args;

/* Parse argv (after the command words). Returns CLI_OK, or CLI_USAGE after
 * printing why; sets *help_done when --help was printed (exit 0). */
int cli_parse(cli_args *a, const char *cmd, const char *usage, const cli_opt *spec, size_t nspec,
              int argc, char **argv, int *help_done);

/* The last value of --name, or NULL. */
char *cli_get(const cli_args *a, const char *name);
/* The last value of --name, else the environment variable env (may be NULL). */
const char *cli_get_env(const cli_args *a, const char *name, const char *env);
/* 1 if the flag --name was given. */
int cli_flag(const cli_args *a, const char *name);
/* The i-th value of a repeatable option, or NULL past the end. */
const char *cli_get_nth(const cli_args *a, const char *name, size_t i);

/* Check the number of positional arguments. */
int cli_positionals(const cli_args *a, size_t min, size_t max);

/* Strict integer/number options: CLI_OK, or CLI_USAGE after printing. An
 * absent option leaves *out untouched. */
int cli_opt_i64(const cli_args *a, const char *name, int64_t min, int64_t max, int64_t *out);
int cli_opt_u64(const cli_args *a, const char *name, uint64_t *out);
int cli_opt_double(const cli_args *a, const char *name, double min, double max, double *out);
/* Map --name VALUE onto one of choices[] (NULL-terminated); *out = its index. */
/* --NAME given by one of the core's option names (wsig_option_value), into
 * *out; untouched when absent; a usage error naming the accepted ones. */
int cli_opt_option(const cli_args *a, const char *name, int option, int *out);
int cli_opt_choice(const cli_args *a, const char *name, const char *const *choices, int *out);

/* ---- report.c: exit codes, errors on stderr, JSON and shell output ---- */

/* Exit codes: one per kind of failure, so scripts can branch on them
 * (documented in docs/cli.md and `walletsign --help`). */
enum cli_exit {
    CLI_OK = 0,
    CLI_INVALID = 1,   /* a signature or token was checked and rejected */
    CLI_USAGE = 2,     /* bad command line (or an argument the library refused) */
    CLI_KEY = 3,       /* unreadable, wrong or unsupported key; wrong or missing password */
    CLI_TRANSPORT = 4, /* connection failure or timeout */
    CLI_HTTP = 5,      /* the server answered HTTP >= 400 */
    CLI_RPC = 6,       /* a Wallet Manager JSON-RPC error object */
    CLI_PROTOCOL = 7,  /* an answer that is not what the protocol promises */
    CLI_IO = 8,        /* a file could not be read or written */
    CLI_INTERNAL = 9   /* crypto library failure, out of memory */
};

/* Print "walletsign CMD: MESSAGE" and a hint to stderr; return CLI_USAGE. */
int cli_usage_error(const cli_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The exit code for a library status, and a short name for an exit code. */
int cli_exit_for(int status);
const char *cli_exit_name(int code);
/* Report an error on stderr and return code: "walletsign CMD: MESSAGE[: err]"
 * as text, or with a->json_errors one line {"error":{...}} carrying err's
 * details (HTTP status, API code, body, RPC code and data, curl code). */
int cli_error(const cli_args *a, int code, const wsig_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* cli_error for a library status: "WHAT: err->message". */
int cli_fail(const cli_args *a, const wsig_error *err, int status, const char *what);
/* Print err->warning (if any) to stderr. */
void cli_warn(const cli_args *a, const wsig_error *err);

/* Write s as a JSON string literal (quotes included). */
void cli_json_string(FILE *f, const char *s, size_t len);
/* Write s single-quoted for a POSIX shell. */
void cli_shell_quote(FILE *f, const char *s);

/* ---- io.c: files, stdin and secrets (wiped before they are freed) ---- */

/* Read a whole file ("-" = stdin) into a NUL-terminated buffer. Growing the
 * buffer wipes the old copy, so it is safe for secrets (free with
 * cli_free_secret(buf, *len)). Returns CLI_OK or CLI_IO (message printed). */
int cli_read_file(const cli_args *a, const char *path, char **out, size_t *len);
/* Read the first line of a file (trailing "\n" / "\r\n" stripped); the rest
 * of the file is wiped at once. For passwords and HMAC secrets. */
int cli_read_secret_line(const cli_args *a, const char *path, char **out, size_t *len);
/* A body argument: "@FILE", "-" (stdin) or the text itself. *out is always
 * a malloc'd NUL-terminated copy (free with free()). */
int cli_read_body(const cli_args *a, const char *spec, char **out, size_t *len);

/* Wipe memory that held a secret; the compiler may not drop it. */
void cli_wipe(void *p, size_t n);
/* Wipe then free (len bytes plus the terminating NUL). */
void cli_free_secret(char *p, size_t len);

/* Write a public file (CSR, public key): not secret, so 0644. Refuses to
 * replace an existing file unless force. */
int cli_write_public(const cli_args *a, const char *path, const char *data, size_t len, int force);
/* mkdir -p with mode 0700 for the parts it creates: the directory holds keys. */
int cli_make_dir(const cli_args *a, const char *dir);

/* ---- creds.c: keys, secrets and auth handles from flags and the environment ---- */

/* Load a key file, with --password-file's first line as its password.
 * Status errors are printed. */
int cli_load_key(const cli_args *a, wsig_key **out, const char *path);
/* A secp256k1 key from --hex-file, --key, or WALLETSIGN_MESSAGE_KEY_PATH;
 * a key file holding 64 hex digits is accepted as well as PEM/DER. */
int cli_load_message_key(const cli_args *a, wsig_key **out);

/* Build the auth of one protocol from flags and the environment. */
int cli_auth_jwt(const cli_args *a, wsig_auth **out);
int cli_auth_hmac(const cli_args *a, wsig_auth **out);
int cli_auth_message(const cli_args *a, wsig_auth **out);
/* Options used by the verifiers as well as by the signers. */
int cli_hmac_options(const cli_args *a, wsig_hmac_options *o);
int cli_digest_option(const cli_args *a, int *digest);
/* The HMAC secret from --secret-file, --secret (with a warning) or
 * WALLETSIGN_SECRET; free with cli_free_secret. */
int cli_hmac_secret(const cli_args *a, char **secret, size_t *len);

/* ---- option lists shared by several commands (cli_opt tables for cli_parse) ---- */
#define CLI_OPTS_JWT                                                                               \
    {"key", CLI_VALUE}, {"key-id", CLI_VALUE}, {"password-file", CLI_VALUE}, {"ttl", CLI_VALUE},   \
    {                                                                                              \
        "signature-format", CLI_VALUE                                                              \
    }
#define CLI_OPTS_HMAC                                                                              \
    {"api-key", CLI_VALUE}, {"secret-file", CLI_VALUE}, {"secret", CLI_VALUE},                     \
        {"encoding", CLI_VALUE},                                                                   \
    {                                                                                              \
        "separator", CLI_VALUE                                                                     \
    }
#define CLI_OPTS_MESSAGE                                                                           \
    {"key", CLI_VALUE}, {"hex-file", CLI_VALUE}, {"password-file", CLI_VALUE},                     \
        {"digest", CLI_VALUE}, {"sig-encoding", CLI_VALUE}, {"v-offset", CLI_VALUE},               \
        {"empty-body", CLI_VALUE},                                                                 \
    {                                                                                              \
        "no-prefix", CLI_FLAG                                                                      \
    }
#define CLI_OPTS_HTTP                                                                              \
    {"base-url", CLI_VALUE}, {"cafile", CLI_VALUE}, {"insecure", CLI_FLAG},                        \
        {"attempt-timeout", CLI_VALUE},                                                            \
    {                                                                                              \
        "timeout", CLI_VALUE                                                                       \
    }
#define CLI_NOPTS(spec) (sizeof(spec) / sizeof((spec)[0]))

/* ---- keys.c: keygen, csr, address ---- */
int cmd_keygen(int argc, char **argv);
int cmd_csr(int argc, char **argv);
int cmd_address(int argc, char **argv);

/* ---- sign.c: sign {jwt|hmac|message}, offline ---- */
int cmd_sign(int argc, char **argv);

/* ---- verify.c: verify {message|jwt|hmac}, offline ---- */
int cmd_verify(int argc, char **argv);

/* ---- http.c: query, command, request, call (signed requests over HTTP(S)) ---- */
int cmd_query(int argc, char **argv);
int cmd_command(int argc, char **argv);
int cmd_request(int argc, char **argv);
int cmd_call(int argc, char **argv);

#endif
