/* verify: the three protocols offline, headers in as text. */
#include "cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IN_HEADERS 64

static const char verify_usage[] =
    "Usage: walletsign verify {message|jwt|hmac} [OPTIONS]\n"
    "Check a signed request. Exit 0 valid, 1 invalid (the reason is printed),\n"
    "2 usage error; 3 key, 8 I/O as for every command.\n"
    "Run 'walletsign verify message --help' (or jwt, hmac) for the options.\n";

static const char verify_message_usage[] =
    "Usage: walletsign verify message --trusted ADDR [--trusted ADDR...]\n"
    "                                 --headers FILE [--body FILE] [OPTIONS]\n"
    "Verify a message-signed request or callback (X-Message-* headers).\n"
    "  --trusted ADDR            a trusted sender address (repeat for more)\n"
    "  --headers FILE            'Name: value' lines ('-' = stdin)\n"
    "  --header 'Name: value'    one more header (repeatable)\n"
    "  --body FILE               the exact body received ('-' = stdin; default empty)\n"
    "  --window-ms N             accepted clock difference (default 60000)\n"
    "  --now MS                  verify as of this Unix time in ms (default now)\n"
    "  --digest sha256|keccak256|eip191   (default sha256)\n"
    "  --format text|json        output (default text)\n"
    "Prints the sender, session and sequence when valid; the reason when not\n"
    "(bad_signature, untrusted_address, stale_timestamp, malformed_header,\n"
    "missing_header). One run has no memory of earlier runs: detecting replays\n"
    "is the caller's job here.\n"
    "Exit: 0 valid, 1 invalid, 2 usage, 8 I/O.\n";

static const char verify_jwt_usage[] =
    "Usage: walletsign verify jwt --key PUBFILE (--token T | --token-file F) [OPTIONS]\n"
    "Verify a Halogen JWT (as a gateway would) and print its claims.\n"
    "  --key PUBFILE             P-256 or RSA public (or private) key, PEM or DER\n"
    "  --token T                 the token ('Bearer ' prefix allowed)\n"
    "  --token-file F            read the token from a file ('-' = stdin)\n"
    "  --leeway N                seconds of clock skew allowed (default 0)\n"
    "  --max-ttl N               longest token lifetime (exp - iat) accepted (default 300)\n"
    "  --now S                   verify as of this Unix time in seconds (default now)\n"
    "  --uri PATH                require this uri claim\n"
    "  --body FILE               require bodyHash to match this body ('-' = stdin)\n"
    "  --format text|json        output (default text)\n"
    "Exit: 0 valid, 1 invalid (bad_signature, request_mismatch, expired, lifetime_too_long,\n"
    "malformed), 2 usage, 3 key, 8 I/O.\n";

static const char verify_hmac_usage[] =
    "Usage: walletsign verify hmac --api-key K --secret-file F --method M --path P\n"
    "                              --headers FILE [--body FILE] [OPTIONS]\n"
    "Verify an HMAC-signed request (x-api-key, x-timestamp, x-signature).\n"
    "  --api-key K               the API key expected (WALLETSIGN_API_KEY)\n"
    "  --secret-file F           its secret: the file's first line\n"
    "  --secret S                the secret itself (shows in process lists: avoid)\n"
    "                            (default: WALLETSIGN_SECRET)\n"
    "  --method M --path P       the request line, PATH with its query string\n"
    "  --headers FILE            'Name: value' lines ('-' = stdin)\n"
    "  --header 'Name: value'    one more header (repeatable)\n"
    "  --body FILE               the exact body received ('-' = stdin; default empty)\n"
    "  --window-ms N             accepted clock difference (default 30000)\n"
    "  --now MS                  verify as of this Unix time in ms (default now)\n"
    "  --encoding base64|hex --separator S   as the signer used\n"
    "  --format text|json        output (default text)\n"
    "Exit: 0 valid, 1 invalid, 2 usage, 8 I/O.\n";

/* ------------------------------------------------------------------ */
/* verify                                                             */

typedef struct {
    wsig_header_ref h[MAX_IN_HEADERS];
    size_t n;
    char *file; /* the headers file, cut into names and values in place */
    size_t file_len;
    char *extra[MAX_IN_HEADERS]; /* copies of --header values */
    size_t n_extra;
} header_set;

/* The headers of a block ("Name: value" lines, as curl -D writes them), read
 * by the library's walk (wsig_response_header_next), so the CLI reads them
 * as every binding does: status lines, blank and indented lines are skipped,
 * values lose the white space around them. Each name and value is cut in
 * place with its length, which a NUL inside does not shorten (the library
 * refuses such a header: malformed_header). The block ends with a NUL. */
static int add_header_block(const cli_args *a, header_set *hs, char *block, size_t len)
{
    wsig_response r = {0};
    r.headers = block;
    r.headers_len = len;
    size_t pos = 0, nl, vl;
    const char *n, *v;
    while (wsig_response_header_next(&r, &pos, &n, &nl, &v, &vl)) {
        if (hs->n == MAX_IN_HEADERS)
            return cli_usage_error(a, "more than %d headers", MAX_IN_HEADERS);
        ((char *)n)[nl] = '\0'; /* the colon, or a blank before it */
        ((char *)v)[vl] = '\0'; /* a blank, CR, LF or the block's own NUL */
        hs->h[hs->n++] = (wsig_header_ref){n, v, nl, vl};
    }
    return CLI_OK;
}

static int read_headers(const cli_args *a, header_set *hs)
{
    memset(hs, 0, sizeof *hs);
    const char *path = cli_get(a, "headers");
    int rc;
    if (path) {
        if ((rc = cli_read_file(a, path, &hs->file, &hs->file_len)) != CLI_OK ||
            (rc = add_header_block(a, hs, hs->file, hs->file_len)) != CLI_OK)
            return rc;
    }
    const char *extra;
    for (size_t i = 0; (extra = cli_get_nth(a, "header", i)); i++) {
        if (hs->n_extra == MAX_IN_HEADERS)
            return cli_usage_error(a, "too many --header options");
        char *copy = strdup(extra);
        if (!copy)
            return cli_error(a, CLI_INTERNAL, NULL, "out of memory");
        hs->extra[hs->n_extra++] = copy;
        size_t before = hs->n;
        if ((rc = add_header_block(a, hs, copy, strlen(copy))) != CLI_OK)
            return rc;
        if (hs->n == before)
            return cli_usage_error(a, "--header needs 'Name: value'");
    }
    if (hs->n == 0)
        return cli_usage_error(a, "no headers: give --headers FILE or --header 'Name: value'");
    return CLI_OK;
}

static void free_headers(header_set *hs)
{
    free(hs->file);
    for (size_t i = 0; i < hs->n_extra; i++)
        free(hs->extra[i]);
}

/* --body FILE for verifiers: a file, '-' for stdin, '@FILE' accepted too. */
static int read_verify_body(const cli_args *a, char **body, size_t *len)
{
    const char *path = cli_get(a, "body");
    *body = NULL;
    *len = 0;
    if (!path)
        return CLI_OK;
    return cli_read_file(a, path[0] == '@' ? path + 1 : path, body, len);
}

static void json_field(const char *name, const char *value)
{
    printf(",\"%s\":", name);
    cli_json_string(stdout, value, strlen(value));
}

/* The three-way answer: valid (0), invalid with its reason (1), or an error. */
static int report_invalid(const cli_args *a, const wsig_error *err, int st, int json)
{
    if (st != WSIG_INVALID)
        return cli_fail(a, err, st, "cannot verify");
    const char *reason = wsig_reason_name(err->reason);
    if (json) {
        printf("{\"valid\":false,\"reason\":");
        cli_json_string(stdout, reason, strlen(reason));
        printf(",\"message\":");
        cli_json_string(stdout, err->message, strlen(err->message));
        printf("}\n");
    } else {
        printf("invalid: %s: %s\n", reason, err->message);
    }
    return CLI_INVALID;
}

static int verify_message(cli_args *a)
{
    static const char *const formats[] = {"text", "json", NULL};
    int json = 0, rc;
    int64_t window = 60000, now = 0;
    wsig_message_verifier_options o = {0};
    if ((rc = cli_positionals(a, 0, 0)) != CLI_OK ||
        (rc = cli_opt_choice(a, "format", formats, &json)) != CLI_OK ||
        (rc = cli_opt_i64(a, "window-ms", INT64_MIN, INT64_MAX, &window)) != CLI_OK ||
        (rc = cli_opt_i64(a, "now", INT64_MIN, INT64_MAX, &now)) != CLI_OK ||
        (rc = cli_digest_option(a, &o.digest)) != CLI_OK)
        return rc;
    o.window_ms = window;
    o.cache_size = 16; /* one message per run */
    const char *trusted[64];
    size_t n_trusted = 0;
    for (const char *t; (t = cli_get_nth(a, "trusted", n_trusted));) {
        if (n_trusted == sizeof trusted / sizeof trusted[0])
            return cli_usage_error(a, "too many --trusted addresses");
        trusted[n_trusted++] = t;
    }
    if (!n_trusted)
        return cli_usage_error(a, "--trusted ADDR is required (the sender you expect)");
    header_set hs;
    char *body = NULL;
    size_t body_len = 0;
    if ((rc = read_headers(a, &hs)) != CLI_OK ||
        (rc = read_verify_body(a, &body, &body_len)) != CLI_OK)
        goto done;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_message_verifier *v = NULL;
    int st = wsig_message_verifier_new(&v, trusted, n_trusted, &o, &err);
    if (st != WSIG_OK) {
        rc = cli_fail(a, &err, st, "bad --trusted or option");
        goto done;
    }
    wsig_message m;
    st = wsig_message_verify(v, &m, hs.h, hs.n, body, body_len, now, &err);
    wsig_message_verifier_free(v);
    if (st != WSIG_OK) {
        rc = report_invalid(a, &err, st, json);
    } else if (json) {
        printf("{\"valid\":true");
        json_field("address", m.address);
        json_field("session", m.session);
        json_field("sequence", m.sequence);
        printf(",\"timestamp_ms\":%lld}\n", (long long)m.timestamp_ms);
    } else {
        printf("valid\nsender: %s\nsession: %s\nsequence: %s\ntimestamp: %lld\n", m.address,
               m.session, m.sequence, (long long)m.timestamp_ms);
    }
    wsig_error_clear(&err);
done:
    free_headers(&hs);
    free(body);
    return rc;
}

static int verify_jwt(cli_args *a)
{
    static const char *const formats[] = {"text", "json", NULL};
    int json = 0, rc;
    int64_t leeway = 0, max_ttl = 0, now = 0;
    if ((rc = cli_positionals(a, 0, 0)) != CLI_OK ||
        (rc = cli_opt_choice(a, "format", formats, &json)) != CLI_OK ||
        (rc = cli_opt_i64(a, "leeway", INT32_MIN, INT32_MAX, &leeway)) != CLI_OK ||
        (rc = cli_opt_i64(a, "max-ttl", INT32_MIN, INT32_MAX, &max_ttl)) != CLI_OK ||
        (rc = cli_opt_i64(a, "now", INT64_MIN, INT64_MAX, &now)) != CLI_OK)
        return rc;
    const char *key_path = cli_get(a, "key");
    const char *token_arg = cli_get(a, "token"), *token_file = cli_get(a, "token-file");
    if (!key_path)
        return cli_usage_error(a, "--key PUBFILE is required");
    if (!token_arg == !token_file)
        return cli_usage_error(a, "give one of --token T or --token-file F");
    char *file = NULL, *body = NULL;
    size_t file_len = 0, body_len = 0;
    wsig_key *key = NULL;
    if ((token_file && (rc = cli_read_file(a, token_file, &file, &file_len)) != CLI_OK) ||
        (rc = read_verify_body(a, &body, &body_len)) != CLI_OK ||
        (rc = cli_load_key(a, &key, key_path)) != CLI_OK)
        goto done;
    const char *token = token_file ? file : token_arg;
    while (isspace((unsigned char)*token))
        token++;
    if (strncmp(token, "Bearer ", 7) == 0 || strncmp(token, "bearer ", 7) == 0)
        token += 7;
    size_t len = strlen(token);
    while (len && isspace((unsigned char)token[len - 1]))
        len--;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_jwt_claims c;
    wsig_jwt_verify_options vo = {(int)leeway, (int)max_ttl};
    int st = wsig_jwt_verify(key, &c, token, len, now, &vo, cli_get(a, "uri"),
                             cli_get(a, "body") ? (body ? body : "") : NULL, body_len, &err);
    if (st != WSIG_OK) {
        rc = report_invalid(a, &err, st, json);
    } else if (json) {
        printf("{\"valid\":true");
        json_field("alg", c.alg);
        json_field("kid", c.kid);
        json_field("sub", c.sub);
        printf(",\"iat\":%lld,\"exp\":%lld", (long long)c.iat, (long long)c.exp);
        json_field("nonce", c.nonce);
        json_field("bodyHash", c.body_hash);
        json_field("uri", c.uri);
        printf("}\n");
    } else {
        printf("valid\nalg: %s\nkid: %s\nsub: %s\niat: %lld\nexp: %lld\nnonce: %s\n"
               "bodyHash: %s\nuri: %s\n",
               c.alg, c.kid, c.sub, (long long)c.iat, (long long)c.exp, c.nonce, c.body_hash,
               c.uri);
    }
    wsig_error_clear(&err);
done:
    wsig_key_free(key);
    cli_free_secret(file, file_len); /* a bearer token, short-lived but a credential */
    free(body);
    return rc;
}

static int verify_hmac(cli_args *a)
{
    static const char *const formats[] = {"text", "json", NULL};
    int json = 0, rc;
    int64_t window = 30000, now = 0;
    wsig_hmac_options o;
    if ((rc = cli_positionals(a, 0, 0)) != CLI_OK ||
        (rc = cli_opt_choice(a, "format", formats, &json)) != CLI_OK ||
        (rc = cli_opt_i64(a, "window-ms", INT64_MIN, INT64_MAX, &window)) != CLI_OK ||
        (rc = cli_opt_i64(a, "now", INT64_MIN, INT64_MAX, &now)) != CLI_OK ||
        (rc = cli_hmac_options(a, &o)) != CLI_OK)
        return rc;
    const char *api_key = cli_get_env(a, "api-key", "WALLETSIGN_API_KEY");
    const char *method = cli_get(a, "method"), *path = cli_get(a, "path");
    if (!api_key)
        return cli_usage_error(a, "--api-key K (or WALLETSIGN_API_KEY) is required");
    if (!method || !path)
        return cli_usage_error(a, "--method M and --path P are required");
    header_set hs;
    char *body = NULL, *secret = NULL;
    size_t body_len = 0, secret_len = 0;
    wsig_hmac_verifier *v = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    if ((rc = read_headers(a, &hs)) != CLI_OK ||
        (rc = read_verify_body(a, &body, &body_len)) != CLI_OK ||
        (rc = cli_hmac_secret(a, &secret, &secret_len)) != CLI_OK)
        goto done;
    int st = wsig_hmac_verifier_new(&v, window, &o, &err);
    if (st == WSIG_OK)
        st = wsig_hmac_verifier_add(v, api_key, secret, secret_len, &err);
    cli_free_secret(secret, secret_len); /* the verifier keeps its own copy */
    secret = NULL;
    if (st != WSIG_OK) {
        rc = cli_fail(a, &err, st, "bad option");
        goto done;
    }
    char who[WSIG_HEADER_VALUE_MAX];
    st = wsig_hmac_verify(v, who, method, path, hs.h, hs.n, body, body_len, now, &err);
    if (st != WSIG_OK) {
        rc = report_invalid(a, &err, st, json);
    } else if (json) {
        printf("{\"valid\":true");
        json_field("api_key", who);
        printf("}\n");
    } else {
        printf("valid\napi key: %s\n", who);
    }
done:
    wsig_error_clear(&err);
    wsig_hmac_verifier_free(v);
    free_headers(&hs);
    free(body);
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    static const cli_opt none[] = {{"format", CLI_VALUE}};
    static const cli_opt message[] = {{"trusted", CLI_VALUE},   {"headers", CLI_VALUE},
                                      {"header", CLI_VALUE},    {"body", CLI_VALUE},
                                      {"window-ms", CLI_VALUE}, {"now", CLI_VALUE},
                                      {"digest", CLI_VALUE},    {"format", CLI_VALUE}};
    static const cli_opt jwt[] = {
        {"key", CLI_VALUE},    {"token", CLI_VALUE},  {"token-file", CLI_VALUE},
        {"leeway", CLI_VALUE}, {"max-ttl", CLI_VALUE}, {"now", CLI_VALUE},    {"uri", CLI_VALUE},
        {"body", CLI_VALUE},   {"format", CLI_VALUE}, {"password-file", CLI_VALUE}};
    static const cli_opt hmac[] = {
        {"api-key", CLI_VALUE}, {"secret-file", CLI_VALUE}, {"secret", CLI_VALUE},
        {"method", CLI_VALUE},  {"path", CLI_VALUE},        {"headers", CLI_VALUE},
        {"header", CLI_VALUE},  {"body", CLI_VALUE},        {"window-ms", CLI_VALUE},
        {"now", CLI_VALUE},     {"encoding", CLI_VALUE},    {"separator", CLI_VALUE},
        {"format", CLI_VALUE}};
    cli_args a;
    int help, rc;
    const char *proto = argc > 0 ? argv[0] : "";
    if (strcmp(proto, "message") == 0) {
        rc = cli_parse(&a, "verify message", verify_message_usage, message, CLI_NOPTS(message),
                       argc - 1, argv + 1, &help);
        return rc != CLI_OK || help ? rc : verify_message(&a);
    }
    if (strcmp(proto, "jwt") == 0) {
        rc = cli_parse(&a, "verify jwt", verify_jwt_usage, jwt, CLI_NOPTS(jwt), argc - 1, argv + 1,
                       &help);
        return rc != CLI_OK || help ? rc : verify_jwt(&a);
    }
    if (strcmp(proto, "hmac") == 0) {
        rc = cli_parse(&a, "verify hmac", verify_hmac_usage, hmac, CLI_NOPTS(hmac), argc - 1,
                       argv + 1, &help);
        return rc != CLI_OK || help ? rc : verify_hmac(&a);
    }
    rc = cli_parse(&a, "verify", verify_usage, none, CLI_NOPTS(none), argc, argv, &help);
    if (rc != CLI_OK || help)
        return rc;
    return cli_usage_error(&a, "the protocol comes first: message, jwt or hmac");
}
