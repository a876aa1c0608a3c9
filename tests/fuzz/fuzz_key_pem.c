/* libFuzzer target: key loading (wsig_key_load_pem, wsig_key_load_der).
 *
 * Input layout:
 *   byte 0   mode: bits 0-1 password (0 NULL, 1 the vectors' password,
 *                  2 "", 3 a wrong password); bit 2: DER instead of PEM;
 *                  bit 3: also export and re-import a key that loaded.
 *   rest     the key bytes (an exactly sized copy, not NUL-terminated).
 *
 * Properties: returns one of the documented statuses; a loaded key has a kind,
 * bits and algorithm that agree; its public PEM (and private PEM, when it is
 * private) load back as the same kind and size.
 */
#include "fuzz_common.h"

static const char *const PASSWORDS[4] = {NULL, "correct horse battery staple", "", "wrong password"};

static void reimport(const char *pem, size_t len, const wsig_key *orig, bool want_private)
{
    wsig_key *k = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_key_load_pem(&k, pem, len, NULL, &err);
    FZ_CHECK(rc == WSIG_OK, "exported PEM does not load back: %s (%s)", wsig_status_name(rc),
             err.message);
    FZ_CHECK(wsig_key_kind_of(k) == wsig_key_kind_of(orig), "kind changed on re-import");
    FZ_CHECK(wsig_key_bits(k) == wsig_key_bits(orig), "bits changed on re-import");
    FZ_CHECK(wsig_key_is_private(k) == want_private, "privacy changed on re-import");
    if (wsig_key_kind_of(k) == WSIG_KEY_SECP256K1) {
        char a1[WSIG_ADDRESS_SIZE], a2[WSIG_ADDRESS_SIZE];
        FZ_CHECK(wsig_key_address(k, a1, NULL) == WSIG_OK && wsig_key_address(orig, a2, NULL) == WSIG_OK,
                 "no address");
        FZ_CHECK(strcmp(a1, a2) == 0, "address changed on re-import: %s vs %s", a1, a2);
    }
    wsig_key_free(k);
    wsig_error_clear(&err);
}

static void exercise(const wsig_key *k)
{
    char *pem = NULL;
    size_t len = 0;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_key_public_pem(k, &pem, &len, &err);
    fz_check_err(&err, rc);
    if (rc == WSIG_OK) {
        FZ_CHECK(strlen(pem) == len, "public PEM length");
        reimport(pem, len, k, false);
        wsig_free(pem);
    }
    if (wsig_key_is_private(k)) {
        rc = wsig_key_private_pem(k, &pem, &len, NULL, &err);
        fz_check_err(&err, rc);
        if (rc == WSIG_OK) {
            FZ_CHECK(strlen(pem) == len, "private PEM length");
            reimport(pem, len, k, true);
            wsig_free_secret(pem, len);
        }
    }
    wsig_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t f = fz_init(data, size);
    uint8_t mode = fz_u8(&f);
    size_t len;
    uint8_t *buf = fz_rest(&f, &len);
    const char *password = PASSWORDS[mode & 3];
    wsig_key *k = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = (mode & 4) ? wsig_key_load_der(&k, buf, len, password, &err)
                        : wsig_key_load_pem(&k, (const char *)buf, len, password, &err);
    fz_check_err(&err, rc);
    FZ_CHECK(rc == WSIG_OK || rc == WSIG_ERR_KEY || rc == WSIG_ERR_PASSWORD || rc == WSIG_ERR_CRYPTO ||
                 rc == WSIG_ERR_NOMEM,
             "unexpected status %s", wsig_status_name(rc));
    FZ_CHECK((rc == WSIG_OK) == (k != NULL), "key pointer and status disagree");
    if (k) {
        int kind = wsig_key_kind_of(k), bits = wsig_key_bits(k);
        const char *alg = wsig_key_algorithm(k);
        FZ_CHECK(kind == WSIG_KEY_P256 || kind == WSIG_KEY_RSA || kind == WSIG_KEY_SECP256K1,
                 "kind %d", kind);
        FZ_CHECK(kind == WSIG_KEY_RSA ? bits >= 2048 : bits == 256, "kind %d with %d bits", kind, bits);
        FZ_CHECK(strcmp(alg, kind == WSIG_KEY_P256 ? "ES256" : kind == WSIG_KEY_RSA ? "RS256" : "ES256K") == 0,
                 "algorithm %s for kind %d", alg, kind);
        if (mode & 8)
            exercise(k);
        wsig_key_free(k);
    }
    wsig_error_clear(&err);
    free(buf);
    return 0;
}
