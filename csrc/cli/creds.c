/* Keys, secrets and auth handles from flags and the environment. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* The password of an encrypted key: --password-file's first line, else
 * HALOGEN_WALLET_PRIVATE_KEY_PASSWORD (the password itself, the name Python's
 * Client.from_env reads), else the deprecated WALLETSIGN_PASSWORD_FILE; NULL
 * when none is given. */
static int read_password(const cli_args *a, char **pw, size_t *len)
{
    *pw = NULL;
    *len = 0;
    const char *path = cli_get(a, "password-file");
    const char *value = path ? NULL : getenv("HALOGEN_WALLET_PRIVATE_KEY_PASSWORD");
    if (value && *value) {
        *len = strlen(value);
        if (!(*pw = malloc(*len + 1)))
            return cli_error(a, CLI_INTERNAL, NULL, "out of memory");
        memcpy(*pw, value, *len + 1);
        return CLI_OK;
    }
    if (!path && (path = getenv("WALLETSIGN_PASSWORD_FILE")) && !*path)
        path = NULL;
    return path ? cli_read_secret_line(a, path, pw, len) : CLI_OK;
}

int cli_load_key(const cli_args *a, wsig_key **out, const char *path)
{
    char *pw;
    size_t pw_len;
    int rc = read_password(a, &pw, &pw_len);
    if (rc != CLI_OK)
        return rc;
    wsig_error err = WSIG_ERROR_INIT;
    int st = wsig_key_load_file(out, path, pw, &err);
    cli_free_secret(pw, pw_len);
    if (st != WSIG_OK) {
        char what[320];
        snprintf(what, sizeof what, "key %s", path);
        rc = cli_fail(a, &err, st, what);
    }
    wsig_error_clear(&err);
    return rc;
}

/* --hex-file: its first line, which must be hex (wsig_key_from_hex); --key:
 * a file of any form the core detects (PEM, DER or 64 hex digits). */
int cli_load_message_key(const cli_args *a, wsig_key **out)
{
    const char *hex_path = cli_get(a, "hex-file");
    if (!hex_path) {
        const char *path = cli_get_env(a, "key", "WALLETSIGN_MESSAGE_KEY_PATH");
        if (!path)
            return cli_usage_error(a, "a secp256k1 key is needed: --key FILE, --hex-file FILE "
                                      "or WALLETSIGN_MESSAGE_KEY_PATH");
        return cli_load_key(a, out, path);
    }
    char *text;
    size_t len;
    int rc = cli_read_secret_line(a, hex_path, &text, &len);
    if (rc != CLI_OK)
        return rc;
    wsig_error err = WSIG_ERROR_INIT;
    int st = wsig_key_from_hex(out, text, &err);
    cli_free_secret(text, len);
    if (st != WSIG_OK) {
        char what[320];
        snprintf(what, sizeof what, "key %s", hex_path);
        rc = cli_fail(a, &err, st, what);
    }
    wsig_error_clear(&err);
    return rc;
}

int cli_auth_jwt(const cli_args *a, wsig_auth **out)
{
    const char *path = cli_get_env(a, "key", "HALOGEN_WALLET_PRIVATE_KEY_PATH");
    const char *kid = cli_get_env(a, "key-id", "HALOGEN_WALLET_KEY_ID");
    if (!path)
        return cli_usage_error(a, "jwt needs a private key: --key FILE or "
                                  "HALOGEN_WALLET_PRIVATE_KEY_PATH");
    if (!kid)
        return cli_usage_error(a, "jwt needs the API key id: --key-id ID or HALOGEN_WALLET_KEY_ID");
    wsig_jwt_options o = {0, WSIG_JWT_DER};
    int64_t ttl = 0; /* the library's default; it checks the range */
    int rc;
    if ((rc = cli_opt_i64(a, "ttl", INT32_MIN, INT32_MAX, &ttl)) != CLI_OK ||
        (rc = cli_opt_option(a, "signature-format", WSIG_OPTION_JWT_FORMAT,
                             &o.signature_format)) != CLI_OK)
        return rc;
    o.ttl_seconds = (int)ttl;
    wsig_key *key;
    if ((rc = cli_load_key(a, &key, path)) != CLI_OK)
        return rc;
    wsig_error err = WSIG_ERROR_INIT;
    int st = wsig_auth_jwt_new(out, key, kid, &o, &err);
    wsig_key_free(key);
    if (st != WSIG_OK)
        return cli_fail(a, &err, st, "jwt");
    cli_warn(a, &err);
    return CLI_OK;
}

int cli_hmac_options(const cli_args *a, wsig_hmac_options *o)
{
    memset(o, 0, sizeof *o);
    o->separator = cli_get(a, "separator");
    return cli_opt_option(a, "encoding", WSIG_OPTION_HMAC_ENCODING, &o->encoding);
}

int cli_hmac_secret(const cli_args *a, char **secret, size_t *len)
{
    const char *path = cli_get(a, "secret-file");
    if (path)
        return cli_read_secret_line(a, path, secret, len);
    char *s = cli_get(a, "secret");
    if (s)
        fprintf(stderr,
                "walletsign %s: warning: --secret shows in process lists; "
                "prefer --secret-file or WALLETSIGN_SECRET\n",
                a->cmd);
    else if ((s = getenv("WALLETSIGN_SECRET")) && !*s)
        s = NULL;
    if (!s)
        return cli_usage_error(a, "hmac needs a secret: --secret-file FILE or WALLETSIGN_SECRET");
    *len = strlen(s);
    if (!(*secret = malloc(*len + 1)))
        return cli_error(a, CLI_INTERNAL, NULL, "out of memory");
    memcpy(*secret, s, *len + 1);
    /* Our own copies of argv and environ: wiping them shortens the time the
     * secret is readable in /proc/PID/cmdline and /proc/PID/environ. */
    cli_wipe(s, *len);
    return CLI_OK;
}

int cli_auth_hmac(const cli_args *a, wsig_auth **out)
{
    const char *api_key = cli_get_env(a, "api-key", "WALLETSIGN_API_KEY");
    if (!api_key)
        return cli_usage_error(a, "hmac needs an API key: --api-key K or WALLETSIGN_API_KEY");
    wsig_hmac_options o;
    int rc = cli_hmac_options(a, &o);
    if (rc != CLI_OK)
        return rc;
    char *secret;
    size_t len;
    if ((rc = cli_hmac_secret(a, &secret, &len)) != CLI_OK)
        return rc;
    wsig_error err = WSIG_ERROR_INIT;
    int st = wsig_auth_hmac_new(out, api_key, secret, len, &o, &err);
    cli_free_secret(secret, len); /* the auth keeps its own copy */
    return st == WSIG_OK ? CLI_OK : cli_fail(a, &err, st, "hmac");
}

int cli_digest_option(const cli_args *a, int *digest)
{
    return cli_opt_option(a, "digest", WSIG_OPTION_DIGEST, digest);
}

int cli_auth_message(const cli_args *a, wsig_auth **out)
{
    wsig_message_options o = WSIG_MESSAGE_OPTIONS_INIT;
    int64_t v_offset = 27; /* the library checks it: 0 or 27 */
    int rc;
    if ((rc = cli_digest_option(a, &o.digest)) != CLI_OK ||
        (rc = cli_opt_option(a, "sig-encoding", WSIG_OPTION_MESSAGE_ENCODING, &o.encoding)) !=
            CLI_OK ||
        (rc = cli_opt_i64(a, "v-offset", INT32_MIN, INT32_MAX, &v_offset)) != CLI_OK ||
        (rc = cli_opt_option(a, "empty-body", WSIG_OPTION_EMPTY_BODY, &o.empty_body)) != CLI_OK)
        return rc;
    o.v_offset = (int)v_offset;
    o.no_prefix = cli_flag(a, "no-prefix");
    wsig_key *key;
    if ((rc = cli_load_message_key(a, &key)) != CLI_OK)
        return rc;
    wsig_error err = WSIG_ERROR_INIT;
    int st = wsig_auth_message_new(out, key, &o, &err);
    wsig_key_free(key);
    return st == WSIG_OK ? CLI_OK : cli_fail(a, &err, st, "message");
}
