/* sign: the three protocols offline, headers out as text. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char sign_usage[] =
    "Usage: walletsign sign {jwt|hmac|message} METHOD PATH [--body @FILE|-|TEXT]\n"
    "                       [--timestamp MS] [--format headers|curl|json] [CREDENTIALS]\n"
    "Print the headers that authenticate one request, one 'Name: value' a line.\n"
    "Run 'walletsign sign jwt --help' (or hmac, message) for each protocol's options.\n";

static const char sign_jwt_usage[] =
    "Usage: walletsign sign jwt METHOD PATH [OPTIONS]\n"
    "Halogen: an 'Authorization: Bearer' ES256/RS256 JWT binding PATH (the uri claim)\n"
    "and the SHA-256 of the body.\n"
    "  --key FILE                P-256 or RSA private key (HALOGEN_WALLET_PRIVATE_KEY_PATH)\n"
    "  --key-id ID               API key id from Halogen (HALOGEN_WALLET_KEY_ID)\n"
    "  --password-file F         password of an encrypted key (first line)\n"
    "  --ttl SECONDS             token lifetime (default 10)\n"
    "  --signature-format der|raw   ES256 signature encoding (default der, as Halogen's SDKs)\n"
    "  --body @FILE|-|TEXT       the exact body bytes to be sent (default empty)\n"
    "  --timestamp MS            sign as of this Unix time in ms (default now)\n"
    "  --format headers|curl|json   output (default headers)\n"
    "Exit: 0 ok, 2 usage, 3 key/password, 8 I/O.\n";

static const char sign_hmac_usage[] =
    "Usage: walletsign sign hmac METHOD PATH [OPTIONS]\n"
    "API-key REST APIs: x-api-key, x-timestamp and x-signature = HMAC-SHA256 of\n"
    "'TIMESTAMP|METHOD|PATH|BODY'.\n"
    "  --api-key K               the API key (WALLETSIGN_API_KEY)\n"
    "  --secret-file F           the secret: the file's first line\n"
    "  --secret S                the secret itself (shows in process lists: avoid)\n"
    "                            (default: WALLETSIGN_SECRET)\n"
    "  --encoding base64|hex     signature encoding (default base64)\n"
    "  --separator S             prehash separator (default |)\n"
    "  --body @FILE|-|TEXT       the exact body bytes to be sent (default empty)\n"
    "  --timestamp MS            sign as of this Unix time in ms (default now)\n"
    "  --format headers|curl|json   output (default headers)\n"
    "Exit: 0 ok, 2 usage, 8 I/O.\n";

static const char sign_message_usage[] =
    "Usage: walletsign sign message METHOD PATH [OPTIONS]\n"
    "Wallet Manager requests and callbacks: the five X-Message-* headers, a secp256k1\n"
    "signature over 'TIMESTAMP#SESSION#SEQUENCE#BODY' from an Ethereum address.\n"
    "  --key FILE                secp256k1 key: PEM, DER or 64 hex digits\n"
    "                            (WALLETSIGN_MESSAGE_KEY_PATH)\n"
    "  --hex-file F              a file holding the key as 64 hex digits\n"
    "  --password-file F         password of an encrypted key (first line)\n"
    "  --digest sha256|keccak256|eip191      (default sha256)\n"
    "  --sig-encoding rsv|der_hex|der_base64 (default rsv)\n"
    "  --v-offset 27|0           v of an rsv signature (default 27)\n"
    "  --empty-body omit|separator   prehash of an empty body (default omit)\n"
    "  --no-prefix               no 0x before hex signatures\n"
    "  --session N --sequence N  sign with this session and sequence (default: a new\n"
    "                            session, sequence 1)\n"
    "  --body @FILE|-|TEXT       the exact body bytes to be sent (default empty)\n"
    "  --timestamp MS            sign as of this Unix time in ms (default now)\n"
    "  --format headers|curl|json   output (default headers)\n"
    "Exit: 0 ok, 2 usage, 3 key/password, 8 I/O.\n";

/* ------------------------------------------------------------------ */
/* sign                                                               */

static void print_headers(const wsig_headers *h, int format)
{
    for (size_t i = 0; i < h->count; i++) {
        const char *name = h->h[i].name, *value = h->h[i].value;
        if (format == 0) {
            printf("%s: %s\n", name, value);
        } else if (format == 1) {
            /* One line, so `eval "curl $(walletsign sign ...) URL"` works. */
            char line[WSIG_HEADER_NAME_MAX + WSIG_HEADER_VALUE_MAX + 4];
            snprintf(line, sizeof line, "%s: %s", name, value);
            fputs(i ? " -H " : "-H ", stdout);
            cli_shell_quote(stdout, line);
        } else {
            fputs(i ? "," : "{", stdout);
            cli_json_string(stdout, name, strlen(name));
            fputc(':', stdout);
            cli_json_string(stdout, value, strlen(value));
        }
    }
    if (format == 1)
        fputc('\n', stdout);
    else if (format == 2)
        fputs(h->count ? "}\n" : "{}\n", stdout);
}

static int sign_run(cli_args *a, int kind)
{
    int rc = cli_positionals(a, 2, 2);
    if (rc != CLI_OK)
        return rc;
    static const char *const formats[] = {"headers", "curl", "json", NULL};
    int format = 0;
    int64_t ts = 0;
    uint64_t session = 0, sequence = 0;
    if ((rc = cli_opt_choice(a, "format", formats, &format)) != CLI_OK ||
        (rc = cli_opt_i64(a, "timestamp", INT64_MIN, INT64_MAX, &ts)) != CLI_OK)
        return rc;
    if (kind == WSIG_AUTH_MESSAGE && ((rc = cli_opt_u64(a, "session", &session)) != CLI_OK ||
                                      (rc = cli_opt_u64(a, "sequence", &sequence)) != CLI_OK))
        return rc;
    int fixed = cli_get(a, "session") != NULL;
    if (fixed != (cli_get(a, "sequence") != NULL))
        return cli_usage_error(a, "--session and --sequence go together");
    char *body = NULL;
    size_t body_len = 0;
    const char *body_spec = cli_get(a, "body");
    if (body_spec && (rc = cli_read_body(a, body_spec, &body, &body_len)) != CLI_OK)
        return rc;
    wsig_auth *auth = NULL;
    rc = kind == WSIG_AUTH_JWT    ? cli_auth_jwt(a, &auth)
         : kind == WSIG_AUTH_HMAC ? cli_auth_hmac(a, &auth)
                                  : cli_auth_message(a, &auth);
    if (rc == CLI_OK) {
        wsig_error err = WSIG_ERROR_INIT;
        wsig_headers h;
        int st =
            fixed ? wsig_message_sign_fixed(auth, &h, session, sequence, body, body_len, ts, &err)
                  : wsig_auth_sign(auth, &h, a->pos[0], a->pos[1], body, body_len, ts, &err);
        if (st == WSIG_OK)
            print_headers(&h, format);
        else
            rc = cli_fail(a, &err, st, "cannot sign");
        wsig_error_clear(&err);
    }
    wsig_auth_free(auth);
    free(body);
    return rc;
}

int cmd_sign(int argc, char **argv)
{
    static const cli_opt common[] = {
        {"body", CLI_VALUE}, {"timestamp", CLI_VALUE}, {"format", CLI_VALUE}};
    static const cli_opt jwt[] = {
        {"body", CLI_VALUE}, {"timestamp", CLI_VALUE}, {"format", CLI_VALUE}, CLI_OPTS_JWT};
    static const cli_opt hmac[] = {
        {"body", CLI_VALUE}, {"timestamp", CLI_VALUE}, {"format", CLI_VALUE}, CLI_OPTS_HMAC};
    static const cli_opt message[] = {{"body", CLI_VALUE},     {"timestamp", CLI_VALUE},
                                      {"format", CLI_VALUE},   {"session", CLI_VALUE},
                                      {"sequence", CLI_VALUE}, CLI_OPTS_MESSAGE};
    cli_args a;
    int help, rc;
    const char *proto = argc > 0 ? argv[0] : "";
    if (strcmp(proto, "jwt") == 0)
        rc = cli_parse(&a, "sign jwt", sign_jwt_usage, jwt, CLI_NOPTS(jwt), argc - 1, argv + 1,
                       &help);
    else if (strcmp(proto, "hmac") == 0)
        rc = cli_parse(&a, "sign hmac", sign_hmac_usage, hmac, CLI_NOPTS(hmac), argc - 1, argv + 1,
                       &help);
    else if (strcmp(proto, "message") == 0)
        rc = cli_parse(&a, "sign message", sign_message_usage, message, CLI_NOPTS(message),
                       argc - 1, argv + 1, &help);
    else {
        rc = cli_parse(&a, "sign", sign_usage, common, CLI_NOPTS(common), argc, argv, &help);
        if (rc != CLI_OK || help)
            return rc;
        return cli_usage_error(&a, "the protocol comes first: jwt, hmac or message");
    }
    if (rc != CLI_OK || help)
        return rc;
    int kind = proto[0] == 'j'   ? WSIG_AUTH_JWT
               : proto[0] == 'h' ? WSIG_AUTH_HMAC
                                 : WSIG_AUTH_MESSAGE;
    return sign_run(&a, kind);
}
