/* The known answers printed in docs/protocols.md. */
#include "testlib.h"
#include "walletsign.h"

#include <string.h>

static void hmac_known_answer(int encoding, const char *expected)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *auth;
    wsig_hmac_options opt = {.encoding = encoding};
    int rc = wsig_auth_hmac_new(&auth, "key", "your-secret-key", 15, &opt, &err);
    CHECK(rc == WSIG_OK, "hmac_new: %s", err.message);
    if (rc)
        return;
    wsig_headers h;
    rc = wsig_auth_sign(auth, &h, "get", "/v1/wallet/list?skip=0&take=25&orderBy=desc", NULL, 0,
                        1730998051892LL, &err);
    CHECK(rc == WSIG_OK && h.count == 3, "sign: %s", err.message);
    CHECK(strcmp(h.h[1].value, "1730998051892") == 0, "timestamp %s", h.h[1].value);
    CHECK(strcmp(h.h[2].value, expected) == 0, "signature %s != %s", h.h[2].value, expected);
    wsig_auth_free(auth);
}

void test_known_answers(void)
{
    hmac_known_answer(WSIG_HMAC_BASE64, "PPBSJ4HyLVAjVwMXCKkFrYQ9RN7DfB8mBBNzbZkhIvs=");
    hmac_known_answer(WSIG_HMAC_HEX, "3cf0522781f22d502357031708a905ad843d44dec37c1f260413736d992122fb");

    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key;
    int rc = wsig_key_from_hex(&key, "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", &err);
    CHECK(rc == WSIG_OK, "from_hex: %s", err.message);
    if (rc)
        return;
    char addr[WSIG_ADDRESS_SIZE];
    rc = wsig_key_address(key, addr, &err);
    CHECK(rc == WSIG_OK && strcmp(addr, "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23") == 0,
          "address %s", addr);
    wsig_key_free(key);
}
