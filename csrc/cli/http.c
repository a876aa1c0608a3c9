/* query, command, request, call: signed requests over HTTP(S).
 * JSON on stdout; errors as one JSON object on stderr; exit code per kind. */
#include "cli.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_EXTRA 16

#define HTTP_HELP                                                                                  \
    "Connection:\n"                                                                                \
    "  --base-url URL            default $WALLETSIGN_BASE_URL or " WSIG_HALOGEN_BASE_URL "\n"           \
    "  --cafile FILE             trust this CA bundle instead of the system's\n"                   \
    "  --insecure                do not verify the server's certificate (testing only)\n"          \
    "  --timeout SECONDS         the whole call, retries and waits included (default 10)\n"       \
    "  --attempt-timeout SECONDS each attempt (default: only --timeout)\n"                       \
    "  --retries N               retries of failures safe to repeat (default 3)\n"                 \
    "Output: the JSON answer on stdout. Errors: one JSON object on stderr,\n"                      \
    "{\"error\":{\"kind\",\"exit_code\",\"message\",...}} with http_status, code, body,\n"         \
    "location (a redirect), rpc_code, data or curl_code when known.\n"                            \
    "Exit: 0 ok, 1 invalid signed response, 2 usage, 3 key/password, 4 transport/timeout,\n"       \
    "5 HTTP error, 6 RPC error, 7 protocol, 8 I/O, 9 internal.\n"

#define JWT_HELP                                                                                   \
    "Credentials (jwt):\n"                                                                         \
    "  --key FILE                P-256 or RSA private key (HALOGEN_WALLET_PRIVATE_KEY_PATH)\n"     \
    "  --key-id ID               API key id (HALOGEN_WALLET_KEY_ID)\n"                             \
    "  --password-file F         password of an encrypted key (HALOGEN_WALLET_PRIVATE_KEY_PASSWORD)\n" \
    "  --ttl SECONDS --signature-format der|raw\n"

#define HMAC_HELP                                                                                  \
    "Credentials (hmac):\n"                                                                        \
    "  --api-key K               (WALLETSIGN_API_KEY)\n"                                           \
    "  --secret-file F           the secret (first line); or WALLETSIGN_SECRET\n"                  \
    "  --encoding base64|hex --separator S\n"

#define MESSAGE_HELP                                                                               \
    "Credentials (message):\n"                                                                     \
    "  --key FILE | --hex-file F  secp256k1 key (WALLETSIGN_MESSAGE_KEY_PATH)\n"                   \
    "  --password-file F         password of an encrypted key (first line)\n"                     \
    "  --digest D --sig-encoding E --v-offset 27|0 --empty-body omit|separator --no-prefix\n"

static const char query_usage[] =
    "Usage: walletsign query NAME [PAYLOAD_JSON] [OPTIONS]\n"
    "Halogen read: POST /query {\"name\":NAME,\"payload\":PAYLOAD} (payload default {};\n"
    "@FILE or - read it from a file or stdin). Retried on 5xx, 429 and transport errors.\n"
    JWT_HELP
    HTTP_HELP;

static const char command_usage[] =
    "Usage: walletsign command NAME [PAYLOAD_JSON] [--idempotency-key K] [OPTIONS]\n"
    "Halogen write: POST /command {\"name\":NAME,\"payload\":PAYLOAD}. Never retried once\n"
    "it may have reached the server, unless --idempotency-key is given (sent as\n"
    "Idempotency-Key: the server then answers a repeat with the stored result).\n"
    JWT_HELP
    HTTP_HELP;

static const char request_usage[] =
    "Usage: walletsign request METHOD PATH [BODY] [--auth jwt|hmac|message] [OPTIONS]\n"
    "Any signed request; prints the response body. BODY is the text itself, @FILE or -.\n"
    "  --auth jwt|hmac|message   the protocol (default: the one whose credentials\n"
    "                            are given by flags, else by the environment)\n"
    "  --header 'Name: value'    an extra header (repeatable); a BODY must be JSON\n"
    "                            and is sent as application/json, unless a\n"
    "                            Content-Type header is given\n"
    JWT_HELP
    HMAC_HELP
    MESSAGE_HELP
    HTTP_HELP;

static const char call_usage[] =
    "Usage: walletsign call METHOD PATH [PARAMS_JSON] [--trusted ADDR...] [OPTIONS]\n"
    "Wallet Manager: a message-signed request (POST with PARAMS_JSON as the body,\n"
    "default {}; GET without a body) whose JSON-RPC envelope is unwrapped: prints\n"
    "\"result\"; an \"error\" object exits 6 with code, message and data on stderr.\n"
    "  --trusted ADDR            require a response signed by ADDR (repeatable)\n"
    MESSAGE_HELP
    HTTP_HELP;

/* ------------------------------------------------------------------ */

typedef struct {
    wsig_auth *auth;
    wsig_message_verifier *verifier;
    wsig_client *client;
} session;

static void session_free(session *s)
{
    wsig_client_free(s->client);
    wsig_message_verifier_free(s->verifier);
    wsig_auth_free(s->auth);
}

static int open_client(cli_args *a, session *s)
{
    /* The library's defaults and ranges: values go through as given. */
    wsig_client_options o = WSIG_CLIENT_OPTIONS_INIT;
    int64_t retries = o.max_retries;
    int rc;
    if ((rc = cli_opt_double(a, "timeout", -DBL_MAX, DBL_MAX, &o.timeout)) != CLI_OK ||
        (rc = cli_opt_double(a, "attempt-timeout", -DBL_MAX, DBL_MAX, &o.attempt_timeout)) !=
            CLI_OK ||
        (rc = cli_opt_i64(a, "retries", INT32_MIN, INT32_MAX, &retries)) != CLI_OK)
        return rc;
    o.max_retries = (int)retries;
    o.ca_file = cli_get(a, "cafile");
    o.insecure = cli_flag(a, "insecure");
    o.binding = "cli";
    o.response_verifier = s->verifier;
    if (o.insecure)
        fprintf(stderr,
                "walletsign %s: warning: --insecure: the server's certificate is not "
                "checked\n",
                a->cmd);
    const char *base = cli_get_env(a, "base-url", "WALLETSIGN_BASE_URL");
    wsig_error err = WSIG_ERROR_INIT;
    int st = wsig_client_new(&s->client, base ? base : WSIG_HALOGEN_BASE_URL, s->auth, &o, &err);
    return st == WSIG_OK ? CLI_OK : cli_fail(a, &err, st, "bad connection option");
}

/* The optional JSON argument at pos[i]: text, @FILE or - (stdin). */
static int json_arg(cli_args *a, size_t i, char **out)
{
    size_t len;
    *out = NULL;
    if (a->npos <= i)
        return CLI_OK;
    int rc = cli_read_body(a, a->pos[i], out, &len);
    if (rc == CLI_OK && strlen(*out) != len) {
        free(*out);
        *out = NULL;
        return cli_usage_error(a, "the JSON argument holds a NUL byte");
    }
    return rc;
}

static void print_json(const char *json)
{
    size_t len = strlen(json);
    fwrite(json, 1, len, stdout);
    if (!len || json[len - 1] != '\n')
        fputc('\n', stdout);
}

static int finish(cli_args *a, int st, wsig_error *err, char *result)
{
    int rc = st == WSIG_OK ? CLI_OK : cli_fail(a, err, st, "request failed");
    if (st == WSIG_OK)
        print_json(result);
    wsig_free(result);
    wsig_error_clear(err);
    return rc;
}

static int halogen(int argc, char **argv, int is_command)
{
    static const cli_opt query_spec[] = {CLI_OPTS_JWT, CLI_OPTS_HTTP, {"retries", CLI_VALUE}};
    static const cli_opt command_spec[] = {
        CLI_OPTS_JWT, CLI_OPTS_HTTP, {"retries", CLI_VALUE}, {"idempotency-key", CLI_VALUE}};
    cli_args a;
    int help, rc = is_command ? cli_parse(&a, "command", command_usage, command_spec,
                                          CLI_NOPTS(command_spec), argc, argv, &help)
                              : cli_parse(&a, "query", query_usage, query_spec,
                                          CLI_NOPTS(query_spec), argc, argv, &help);
    if (rc != CLI_OK || help || (rc = cli_positionals(&a, 1, 2)) != CLI_OK)
        return rc;
    a.json_errors = 1;
    session s = {0};
    char *payload = NULL, *result = NULL;
    if ((rc = json_arg(&a, 1, &payload)) != CLI_OK || (rc = cli_auth_jwt(&a, &s.auth)) != CLI_OK ||
        (rc = open_client(&a, &s)) != CLI_OK)
        goto done;
    wsig_error err = WSIG_ERROR_INIT;
    int st = is_command ? wsig_client_command(s.client, &result, a.pos[0], payload,
                                              cli_get(&a, "idempotency-key"), &err)
                        : wsig_client_query(s.client, &result, a.pos[0], payload, &err);
    rc = finish(&a, st, &err, result);
done:
    free(payload);
    session_free(&s);
    return rc;
}

int cmd_query(int argc, char **argv)
{
    return halogen(argc, argv, 0);
}

int cmd_command(int argc, char **argv)
{
    return halogen(argc, argv, 1);
}

/* --auth, or the one protocol whose credentials are at hand. */
static int pick_auth(cli_args *a, int *kind)
{
    static const char *const kinds[] = {"jwt", "hmac", "message", NULL};
    int k = -1, rc;
    if ((rc = cli_opt_choice(a, "auth", kinds, &k)) != CLI_OK)
        return rc;
    if (k < 0) {
        int by_flag[3] = {cli_get(a, "key-id") != NULL,
                          cli_get(a, "api-key") || cli_get(a, "secret-file") ||
                              cli_get(a, "secret"),
                          cli_get(a, "hex-file") != NULL};
        const char *env[3] = {"HALOGEN_WALLET_KEY_ID", "WALLETSIGN_API_KEY",
                              "WALLETSIGN_MESSAGE_KEY_PATH"};
        int by_env[3], nf = 0, ne = 0;
        for (int i = 0; i < 3; i++) {
            const char *v = getenv(env[i]);
            by_env[i] = v && *v;
            nf += by_flag[i];
            ne += by_env[i];
        }
        for (int i = 0; i < 3; i++)
            if ((nf == 1 && by_flag[i]) || (nf == 0 && ne == 1 && by_env[i]))
                k = i;
        if (k < 0)
            return cli_usage_error(a,
                                   "say which protocol signs the request: --auth jwt|hmac|message");
    }
    *kind = k == 0 ? WSIG_AUTH_JWT : k == 1 ? WSIG_AUTH_HMAC : WSIG_AUTH_MESSAGE;
    return CLI_OK;
}

int cmd_request(int argc, char **argv)
{
    static const cli_opt spec[] = {
        CLI_OPTS_JWT,           CLI_OPTS_HMAC,       CLI_OPTS_MESSAGE,     CLI_OPTS_HTTP,
        {"retries", CLI_VALUE}, {"auth", CLI_VALUE}, {"header", CLI_VALUE}};
    cli_args a;
    int help,
        kind = WSIG_AUTH_JWT,
        rc = cli_parse(&a, "request", request_usage, spec, CLI_NOPTS(spec), argc, argv, &help);
    if (rc != CLI_OK || help || (rc = cli_positionals(&a, 2, 3)) != CLI_OK ||
        (rc = pick_auth(&a, &kind)) != CLI_OK)
        return rc;
    a.json_errors = 1;
    wsig_header_ref extra[MAX_EXTRA + 1];
    char *copies[MAX_EXTRA] = {0};
    size_t n_extra = 0;
    int has_type = 0;
    session s = {0};
    char *body = NULL;
    size_t body_len = 0;
    wsig_response res = {0};
    const char *method = a.pos[0]; /* the library checks it and upper-cases it */
    for (const char *h; (h = cli_get_nth(&a, "header", n_extra));) {
        if (n_extra == MAX_EXTRA) {
            rc = cli_usage_error(&a, "at most %d --header options", MAX_EXTRA);
            goto done;
        }
        char *copy = strdup(h), *colon = copy ? strchr(copy, ':') : NULL;
        copies[n_extra] = copy;
        if (!colon || colon == copy) {
            rc = cli_usage_error(&a, "--header needs 'Name: value'");
            goto done;
        }
        *colon = '\0';
        const char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        has_type |= strcasecmp(copy, "Content-Type") == 0;
        extra[n_extra++] = (wsig_header_ref){.name = copy, .value = value}; /* argv: no NUL */
    }
    if (a.npos > 2 && (rc = cli_read_body(&a, a.pos[2], &body, &body_len)) != CLI_OK)
        goto done;
    rc = kind == WSIG_AUTH_JWT    ? cli_auth_jwt(&a, &s.auth)
         : kind == WSIG_AUTH_HMAC ? cli_auth_hmac(&a, &s.auth)
                                  : cli_auth_message(&a, &s.auth);
    if (rc != CLI_OK || (rc = open_client(&a, &s)) != CLI_OK)
        goto done;
    wsig_error err = WSIG_ERROR_INIT;
    /* A body is JSON (checked, and labelled by the library) unless the
     * caller names its Content-Type. */
    int st = body_len && !has_type
                 ? wsig_client_request_json(s.client, &res, method, a.pos[1], body, body_len,
                                            n_extra ? extra : NULL, n_extra, &err)
                 : wsig_client_request(s.client, &res, method, a.pos[1], body, body_len,
                                       n_extra ? extra : NULL, n_extra, &err);
    if (st != WSIG_OK) {
        rc = cli_fail(&a, &err, st, "request failed");
    } else if (res.status < 200 || res.status > 299) {
        /* The same shape as the library's HTTP errors, without parsing the
         * body; a redirect (never followed) says where it pointed. */
        wsig_error http = WSIG_ERROR_INIT;
        char location[2048];
        size_t loc_len = 0;
        const char *loc = wsig_response_header(&res, "Location", &loc_len);
        if (loc && res.status >= 300 && res.status <= 399 && loc_len < sizeof location) {
            memcpy(location, loc, loc_len);
            location[loc_len] = '\0';
            http.location = location;
        }
        http.status = WSIG_ERR_HTTP;
        http.http_status = res.status;
        http.body = res.body;
        http.body_len = res.body_len;
        rc = cli_error(&a, CLI_HTTP, &http, "HTTP %ld", res.status);
    } else {
        fwrite(res.body, 1, res.body_len, stdout);
        if (res.body_len && res.body[res.body_len - 1] != '\n')
            fputc('\n', stdout);
    }
    wsig_error_clear(&err);
done:
    wsig_response_clear(&res);
    for (size_t i = 0; i < MAX_EXTRA; i++)
        free(copies[i]);
    free(body);
    session_free(&s);
    return rc;
}

int cmd_call(int argc, char **argv)
{
    static const cli_opt spec[] = {
        CLI_OPTS_MESSAGE, CLI_OPTS_HTTP, {"retries", CLI_VALUE}, {"trusted", CLI_VALUE}};
    cli_args a;
    int help, rc = cli_parse(&a, "call", call_usage, spec, CLI_NOPTS(spec), argc, argv, &help);
    if (rc != CLI_OK || help || (rc = cli_positionals(&a, 2, 3)) != CLI_OK)
        return rc;
    a.json_errors = 1;
    session s = {0};
    char *params = NULL, *result = NULL;
    const char *trusted[32];
    size_t n_trusted = 0;
    for (const char *t; (t = cli_get_nth(&a, "trusted", n_trusted));) {
        if (n_trusted == sizeof trusted / sizeof trusted[0])
            return cli_usage_error(&a, "too many --trusted addresses");
        trusted[n_trusted++] = t;
    }
    const char *method = a.pos[0]; /* the library checks it and upper-cases it */
    if ((rc = json_arg(&a, 2, &params)) != CLI_OK || (rc = cli_auth_message(&a, &s.auth)) != CLI_OK)
        goto done;
    if (n_trusted) {
        wsig_error err = WSIG_ERROR_INIT;
        int st = wsig_message_verifier_new(&s.verifier, trusted, n_trusted, NULL, &err);
        if (st != WSIG_OK) {
            rc = cli_fail(&a, &err, st, "bad --trusted");
            goto done;
        }
    }
    if ((rc = open_client(&a, &s)) != CLI_OK)
        goto done;
    wsig_error err = WSIG_ERROR_INIT;
    int st = wsig_client_call(s.client, &result, method, a.pos[1], params, &err);
    rc = finish(&a, st, &err, result);
done:
    free(params);
    session_free(&s);
    return rc;
}
