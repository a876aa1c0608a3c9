/* keygen, csr, address: the openssl commands of Halogen's docs, and more. */
#include "cli.h"

#include <string.h>
#include <sys/stat.h>

#define DEFAULT_SUBJECT "/C=MY/ST=State/L=City/O=Organization/OU=Unit/CN=example.com"

static const char keygen_usage[] =
    "Usage: walletsign keygen {p256|rsa4096|secp256k1} [--out DIR] [--subject S]\n"
    "                         [--password-file F] [--force]\n"
    "Make a private key and write it with mode 0600 (PKCS#8 PEM; encrypted with\n"
    "the first line of --password-file when given).\n"
    "  p256, rsa4096  Halogen API keys: also writes the public key and a CSR to paste\n"
    "                 into Halogen's Settings -> API Keys\n"
    "                 (DIR/ec_private_key.pem, ec_public_key.pem, ec_csr.pem;\n"
    "                 rsa_private_key.pem, rsa_public_key.pem, rsa_csr.pem)\n"
    "  secp256k1      message signing (Wallet Manager): DIR/secp256k1_private_key.pem;\n"
    "                 prints the Ethereum address\n"
    "Options:\n"
    "  --out DIR            directory to write to (default .key, made with mode 0700)\n"
    "  --subject S          CSR subject (default " DEFAULT_SUBJECT ")\n"
    "  --password-file F    encrypt the private key with this file's first line\n"
    "  --force              replace existing files\n"
    "Exit: 0 ok, 2 usage, 3 key/password, 8 I/O (e.g. a key file already exists).\n";

static const char csr_usage[] =
    "Usage: walletsign csr --key F [--subject S] [--password-file F] [--out FILE]\n"
    "Print a PKCS#10 CSR (PEM, SHA-256) for a P-256 or RSA private key.\n"
    "  --key F              the private key (PEM or DER; HALOGEN_WALLET_PRIVATE_KEY_PATH)\n"
    "  --subject S          default " DEFAULT_SUBJECT "\n"
    "  --password-file F    the key's password (first line)\n"
    "  --out FILE           write there instead of stdout\n"
    "Exit: 0 ok, 2 usage, 3 key/password, 8 I/O.\n";

static const char address_usage[] =
    "Usage: walletsign address (--key F | --hex-file F) [--password-file F]\n"
    "Print the EIP-55 Ethereum address of a secp256k1 private key.\n"
    "  --key F              PEM or DER key file, or a file of 64 hex digits\n"
    "                       (default: WALLETSIGN_MESSAGE_KEY_PATH)\n"
    "  --hex-file F         a file holding the key as 64 hex digits (optional 0x)\n"
    "  --password-file F    the key's password (first line)\n"
    "Exit: 0 ok, 2 usage, 3 key/password, 8 I/O.\n";

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int cmd_keygen(int argc, char **argv)
{
    static const cli_opt spec[] = {{"out", CLI_VALUE},
                                   {"subject", CLI_VALUE},
                                   {"password-file", CLI_VALUE},
                                   {"force", CLI_FLAG}};
    cli_args a;
    int help, rc = cli_parse(&a, "keygen", keygen_usage, spec, CLI_NOPTS(spec), argc, argv, &help);
    if (rc != CLI_OK || help || (rc = cli_positionals(&a, 1, 1)) != CLI_OK)
        return rc;
    /* The library's key kind names, and "rsa4096", Halogen's own name for
     * the RSA it takes. Files are named as in Halogen's openssl commands. */
    const char *type = a.pos[0];
    int kind;
    wsig_error kind_err = WSIG_ERROR_INIT;
    if (strcmp(type, "rsa4096") == 0)
        kind = WSIG_KEY_RSA;
    else if (wsig_option_value(WSIG_OPTION_KEY_KIND, type, &kind, &kind_err) != WSIG_OK)
        return cli_usage_error(&a, "key type must be p256, rsa4096 or secp256k1, not '%s'", type);
    const char *prefix = kind == WSIG_KEY_P256 ? "ec" : kind == WSIG_KEY_RSA ? "rsa" : "secp256k1";
    const char *dir = cli_get(&a, "out") ? cli_get(&a, "out") : ".key";
    const char *subject = cli_get(&a, "subject") ? cli_get(&a, "subject") : DEFAULT_SUBJECT;
    int force = cli_flag(&a, "force");
    if (kind == WSIG_KEY_SECP256K1 && cli_get(&a, "subject"))
        return cli_usage_error(&a, "--subject is for p256 and rsa4096 (secp256k1 has no CSR)");

    char key_path[4200], pub_path[4200], csr_path[4200];
    snprintf(key_path, sizeof key_path, "%s/%s_private_key.pem", dir, prefix);
    snprintf(pub_path, sizeof pub_path, "%s/%s_public_key.pem", dir, prefix);
    snprintf(csr_path, sizeof csr_path, "%s/%s_csr.pem", dir, prefix);
    int with_csr = kind != WSIG_KEY_SECP256K1;
    /* Check before the (slow, for RSA) generation, and never replace a key silently. */
    if (!force) {
        const char *paths[] = {key_path, pub_path, csr_path};
        for (int i = 0; i < (with_csr ? 3 : 1); i++)
            if (exists(paths[i]))
                return cli_error(&a, CLI_IO, NULL, "%s exists (use --force to replace it)",
                                 paths[i]);
    }
    char *pw = NULL;
    size_t pw_len = 0;
    const char *pw_file = cli_get(&a, "password-file");
    if (pw_file && (rc = cli_read_secret_line(&a, pw_file, &pw, &pw_len)) != CLI_OK)
        return rc;
    if (pw_file && pw_len == 0)
        fprintf(stderr, "walletsign keygen: warning: %s is empty: the key is NOT encrypted\n",
                pw_file);

    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    char *csr = NULL, *pub = NULL, address[WSIG_ADDRESS_SIZE] = "";
    size_t csr_len = 0, pub_len = 0;
    int st = wsig_key_generate(&key, kind, 4096, &err);
    if (st != WSIG_OK) {
        rc = cli_fail(&a, &err, st, "cannot generate the key");
        goto done;
    }
    /* Everything that can fail on bad input (the subject) before anything is written. */
    if (with_csr && ((st = wsig_key_csr(key, &csr, &csr_len, subject, &err)) != WSIG_OK ||
                     (st = wsig_key_public_pem(key, &pub, &pub_len, &err)) != WSIG_OK)) {
        rc = cli_fail(&a, &err, st, "cannot make the CSR");
        goto done;
    }
    if (!with_csr && (st = wsig_key_address(key, address, &err)) != WSIG_OK) {
        rc = cli_fail(&a, &err, st, "cannot derive the address");
        goto done;
    }
    if ((rc = cli_make_dir(&a, dir)) != CLI_OK)
        goto done;
    if ((st = wsig_key_save(key, key_path, pw_len ? pw : NULL, &err)) != WSIG_OK) {
        rc = cli_fail(&a, &err, st, "cannot save the key");
        goto done;
    }
    printf("wrote %s (%s private key%s, mode 0600: keep it secret)\n", key_path,
           wsig_key_algorithm(key), pw_len ? ", encrypted" : "");
    if (with_csr) {
        if ((rc = cli_write_public(&a, pub_path, pub, pub_len, force)) != CLI_OK)
            goto done;
        printf("wrote %s (public key)\n", pub_path);
        if ((rc = cli_write_public(&a, csr_path, csr, csr_len, force)) != CLI_OK)
            goto done;
        printf("wrote %s (CSR: paste it into Halogen's Settings -> API Keys)\n", csr_path);
    } else {
        printf("address %s\n", address);
    }
done:
    cli_free_secret(pw, pw_len);
    wsig_free(csr);
    wsig_free(pub);
    wsig_key_free(key);
    wsig_error_clear(&err);
    return rc;
}

int cmd_csr(int argc, char **argv)
{
    static const cli_opt spec[] = {{"key", CLI_VALUE},
                                   {"subject", CLI_VALUE},
                                   {"password-file", CLI_VALUE},
                                   {"out", CLI_VALUE},
                                   {"force", CLI_FLAG}};
    cli_args a;
    int help, rc = cli_parse(&a, "csr", csr_usage, spec, CLI_NOPTS(spec), argc, argv, &help);
    if (rc != CLI_OK || help || (rc = cli_positionals(&a, 0, 0)) != CLI_OK)
        return rc;
    const char *path = cli_get_env(&a, "key", "HALOGEN_WALLET_PRIVATE_KEY_PATH");
    if (!path)
        return cli_usage_error(&a, "--key FILE is required");
    const char *subject = cli_get(&a, "subject") ? cli_get(&a, "subject") : DEFAULT_SUBJECT;
    wsig_key *key;
    if ((rc = cli_load_key(&a, &key, path)) != CLI_OK)
        return rc;
    wsig_error err = WSIG_ERROR_INIT;
    char *csr = NULL;
    size_t len;
    int st = wsig_key_csr(key, &csr, &len, subject, &err);
    wsig_key_free(key);
    if (st != WSIG_OK)
        return cli_fail(&a, &err, st, "cannot make the CSR");
    const char *out = cli_get(&a, "out");
    if (out) {
        rc = cli_write_public(&a, out, csr, len, cli_flag(&a, "force"));
        if (rc == CLI_OK)
            printf("wrote %s (CSR: paste it into Halogen's Settings -> API Keys)\n", out);
    } else {
        fwrite(csr, 1, len, stdout);
    }
    wsig_free(csr);
    return rc;
}

int cmd_address(int argc, char **argv)
{
    static const cli_opt spec[] = {
        {"key", CLI_VALUE}, {"hex-file", CLI_VALUE}, {"password-file", CLI_VALUE}};
    cli_args a;
    int help,
        rc = cli_parse(&a, "address", address_usage, spec, CLI_NOPTS(spec), argc, argv, &help);
    if (rc != CLI_OK || help || (rc = cli_positionals(&a, 0, 0)) != CLI_OK)
        return rc;
    if (cli_get(&a, "key") && cli_get(&a, "hex-file"))
        return cli_usage_error(&a, "give --key or --hex-file, not both");
    wsig_key *key;
    if ((rc = cli_load_message_key(&a, &key)) != CLI_OK)
        return rc;
    wsig_error err = WSIG_ERROR_INIT;
    char address[WSIG_ADDRESS_SIZE];
    int st = wsig_key_address(key, address, &err);
    wsig_key_free(key);
    if (st != WSIG_OK)
        return cli_fail(&a, &err, st, "no address");
    printf("%s\n", address);
    return CLI_OK;
}
