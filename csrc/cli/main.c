/* walletsign: the command-line tool. Dispatches to one function per command. */
#include "cli.h"

#include <string.h>

static const char usage[] =
    "Usage: walletsign COMMAND [ARGS] [OPTIONS]\n"
    "Sign, send and verify wallet-API requests (Halogen jwt, API-key hmac,\n"
    "Ethereum-address signed messages).\n"
    "\n"
    "Keys:\n"
    "  keygen {p256|rsa4096|secp256k1}   make a private key (and a CSR for Halogen)\n"
    "  csr --key F                        a CSR for an existing P-256 or RSA key\n"
    "  address --key F | --hex-file F     the Ethereum address of a secp256k1 key\n"
    "Offline signing and verification:\n"
    "  sign {jwt|hmac|message} METHOD PATH   print the headers that authenticate a request\n"
    "  verify {message|jwt|hmac}             check a signed request (exit 0 valid, 1 invalid)\n"
    "Sending (JSON on stdout, errors as JSON on stderr):\n"
    "  query NAME [PAYLOAD_JSON]          Halogen POST /query\n"
    "  command NAME [PAYLOAD_JSON]        Halogen POST /command\n"
    "  request METHOD PATH [BODY]         any signed request (--auth jwt|hmac|message)\n"
    "  call METHOD PATH [PARAMS_JSON]     Wallet Manager JSON-RPC call (message auth)\n"
    "\n"
    "Run 'walletsign COMMAND --help' for a command's options.\n"
    "\n"
    "Exit codes:\n"
    "  0 ok                 5 HTTP error (status >= 400)\n"
    "  1 invalid signature  6 RPC error (Wallet Manager error object)\n"
    "  2 usage              7 protocol (an answer that is not JSON, too large, ...)\n"
    "  3 key or password    8 file I/O (e.g. a missing key file)\n"
    "  4 transport/timeout  9 internal (crypto library, out of memory)\n"
    "\n"
    "Environment: HALOGEN_WALLET_KEY_ID, HALOGEN_WALLET_PRIVATE_KEY_PATH (jwt);\n"
    "WALLETSIGN_API_KEY, WALLETSIGN_SECRET (hmac); WALLETSIGN_MESSAGE_KEY_PATH (message);\n"
    "HALOGEN_WALLET_PRIVATE_KEY_PASSWORD (encrypted keys); WALLETSIGN_BASE_URL.\n"
    "Secrets are never printed. See docs/cli.md.\n";

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"keygen", cmd_keygen},   {"csr", cmd_csr},         {"address", cmd_address},
    {"sign", cmd_sign},       {"verify", cmd_verify},   {"query", cmd_query},
    {"command", cmd_command}, {"request", cmd_request}, {"call", cmd_call},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            /* "walletsign help sign" is "walletsign sign --help" */
            char *help_argv[] = {(char *)"--help", NULL};
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(argv[2], commands[i].name) == 0)
                    return commands[i].run(1, help_argv);
            fprintf(stderr, "walletsign: unknown command '%s'\n", argv[2]);
            return CLI_USAGE;
        }
        fputs(usage, stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("walletsign %s\n", wsig_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(cmd, commands[i].name) != 0)
            continue;
        int rc = commands[i].run(argc - 2, argv + 2);
        /* A full disk or a closed pipe must not look like success. */
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "walletsign %s: cannot write the output\n", cmd);
            return rc == CLI_OK ? CLI_IO : rc;
        }
        return rc;
    }
    fprintf(stderr, "walletsign: unknown command '%s'\nTry 'walletsign --help'.\n", cmd);
    return CLI_USAGE;
}
