/* Keys: every file of tests/vectors/keys, exports, save, CSR, hex, generate. */
#include "testlib.h"
#include "walletsign.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYS_PASSWORD "correct horse battery staple"
#define CSR_SUBJECT "/C=MY/ST=State/L=City/O=Organization/OU=Unit/CN=example.com"

static int kind_of_name(const char *kind)
{
    if (t_streq(kind, "p256"))
        return WSIG_KEY_P256;
    if (t_streq(kind, "rsa"))
        return WSIG_KEY_RSA;
    if (t_streq(kind, "secp256k1"))
        return WSIG_KEY_SECP256K1;
    return 0;
}

static const char *algorithm_of_kind(int kind)
{
    return kind == WSIG_KEY_P256 ? "ES256" : kind == WSIG_KEY_RSA ? "RS256" : "ES256K";
}

/* No error message may echo a secret. */
static void check_no_secret(const wsig_error *err, const char *secret, const char *what)
{
    if (!secret || !*secret)
        return;
    CHECK(strstr(err->message, secret) == NULL && strstr(err->warning, secret) == NULL,
          "%s: error message leaks the secret: %s", what, err->message);
}

static char *public_pem_of(const wsig_key *key)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *pem = NULL;
    size_t len = 0;
    int rc = wsig_key_public_pem(key, &pem, &len, &err);
    CHECK(rc == WSIG_OK && pem && strlen(pem) == len, "public_pem: %s", err.message);
    if (rc != WSIG_OK) {
        wsig_free(pem);
        return NULL;
    }
    return pem;
}

/* Sign with `signer` and verify with `verifier` (same logical key). */
static void sign_verify(const wsig_key *signer, const wsig_key *verifier, const char *what)
{
    wsig_error err = WSIG_ERROR_INIT;
    static const char body[] = "{\"name\":\"ping\",\"payload\":{}}";
    int kind = wsig_key_kind_of(signer);
    if (kind == WSIG_KEY_SECP256K1) {
        wsig_auth *auth;
        int rc = wsig_auth_message_new(&auth, signer, NULL, &err);
        CHECK(rc == WSIG_OK, "%s: message_new: %s", what, err.message);
        if (rc)
            return;
        char addr[WSIG_ADDRESS_SIZE];
        rc = wsig_key_address(verifier, addr, &err);
        CHECK(rc == WSIG_OK, "%s: address: %s", what, err.message);
        wsig_headers h;
        rc = wsig_auth_sign(auth, &h, "POST", "/x", body, strlen(body), 0, &err);
        CHECK(rc == WSIG_OK && h.count == 5, "%s: sign: %s", what, err.message);
        const char *trusted[] = {addr};
        wsig_message_verifier *v;
        rc = wsig_message_verifier_new(&v, trusted, 1, NULL, &err);
        CHECK(rc == WSIG_OK, "%s: verifier: %s", what, err.message);
        if (rc == WSIG_OK) {
            wsig_header_ref refs[5];
            for (int i = 0; i < 5; i++)
                refs[i] = (wsig_header_ref){h.h[i].name, h.h[i].value};
            wsig_message m;
            rc = wsig_message_verify(v, &m, refs, 5, body, strlen(body), 0, &err);
            CHECK(rc == WSIG_OK && strcmp(m.address, addr) == 0, "%s: verify: %d %s", what, rc,
                  err.message);
            wsig_message_verifier_free(v);
        }
        wsig_auth_free(auth);
        return;
    }
    wsig_auth *auth;
    int rc = wsig_auth_jwt_new(&auth, signer, "kid-roundtrip", NULL, &err);
    CHECK(rc == WSIG_OK, "%s: jwt_new: %s", what, err.message);
    if (rc)
        return;
    char *token = NULL;
    rc = wsig_jwt_token(auth, &token, "/query", body, strlen(body), 0, &err);
    CHECK(rc == WSIG_OK && token, "%s: token: %s", what, err.message);
    if (rc == WSIG_OK) {
        wsig_jwt_claims c;
        rc = wsig_jwt_verify(verifier, &c, token, strlen(token), 0, 0, "/query", body,
                             strlen(body), &err);
        CHECK(rc == WSIG_OK && strcmp(c.kid, "kid-roundtrip") == 0 &&
                  strcmp(c.alg, algorithm_of_kind(kind)) == 0,
              "%s: jwt verify: %d %s %s", what, rc, wsig_reason_name(err.reason), err.message);
    }
    wsig_free(token);
    wsig_auth_free(auth);
}

/* private_pem without and with a password, re-loaded; sign with each, verify with the other. */
static void private_pem_roundtrip(const wsig_key *key, const char *what)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *pub = public_pem_of(key);
    static const char *const passwords[] = {NULL, "", "export pass phrase \xc3\xa9"};
    for (size_t p = 0; p < sizeof passwords / sizeof passwords[0]; p++) {
        const char *pw = passwords[p];
        bool encrypted = pw && *pw;
        char *pem = NULL;
        size_t len = 0;
        int rc = wsig_key_private_pem(key, &pem, &len, pw, &err);
        CHECK(rc == WSIG_OK && pem && strlen(pem) == len, "%s: private_pem(%d): %s", what,
              (int)p, err.message);
        if (rc)
            continue;
        const char *tag = encrypted ? "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
                                    : "-----BEGIN PRIVATE KEY-----\n";
        CHECK(strncmp(pem, tag, strlen(tag)) == 0, "%s: private_pem(%d) starts %.40s", what,
              (int)p, pem);
        if (encrypted) {
            CHECK(strstr(pem, pw) == NULL, "%s: password inside the PEM", what);
            wsig_key *k = NULL;
            rc = wsig_key_load_pem(&k, pem, len, NULL, &err);
            CHECK(rc == WSIG_ERR_PASSWORD && k == NULL, "%s: encrypted export without password: %d",
                  what, rc);
            wsig_key_free(k);
            rc = wsig_key_load_pem(&k, pem, len, "not the password", &err);
            CHECK(rc == WSIG_ERR_PASSWORD && k == NULL, "%s: wrong password: %d", what, rc);
            check_no_secret(&err, "not the password", what);
            wsig_key_free(k);
        }
        wsig_key *back = NULL;
        rc = wsig_key_load_pem(&back, pem, len, pw, &err);
        CHECK(rc == WSIG_OK, "%s: reload private_pem(%d): %s", what, (int)p, err.message);
        if (rc == WSIG_OK) {
            CHECK(wsig_key_kind_of(back) == wsig_key_kind_of(key) &&
                      wsig_key_bits(back) == wsig_key_bits(key) && wsig_key_is_private(back) == 1,
                  "%s: reloaded key differs", what);
            char *pub2 = public_pem_of(back);
            CHECK(t_streq(pub, pub2), "%s: reloaded public key differs", what);
            wsig_free(pub2);
            sign_verify(back, key, what);
            sign_verify(key, back, what);
        }
        wsig_key_free(back);
        wsig_free_secret(pem, len);
    }
    wsig_free(pub);
}

static void check_public_pem_roundtrip(const wsig_key *key, const char *expected_pem,
                                       const char *what)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *pem = public_pem_of(key);
    if (!pem)
        return;
    CHECK(strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0, "%s: public pem %.30s", what, pem);
    if (expected_pem)
        CHECK(strcmp(pem, expected_pem) == 0, "%s: public pem differs from the vector:\n%s", what,
              pem);
    wsig_key *back = NULL;
    int rc = wsig_key_load_pem(&back, pem, strlen(pem), NULL, &err);
    CHECK(rc == WSIG_OK, "%s: reload public pem: %s", what, err.message);
    if (rc == WSIG_OK) {
        CHECK(wsig_key_kind_of(back) == wsig_key_kind_of(key) &&
                  wsig_key_bits(back) == wsig_key_bits(key) && wsig_key_is_private(back) == 0,
              "%s: public reload kind %d bits %d private %d", what, wsig_key_kind_of(back),
              wsig_key_bits(back), wsig_key_is_private(back));
        char *again = public_pem_of(back);
        CHECK(t_streq(again, pem), "%s: public pem not stable", what);
        wsig_free(again);
        /* A public key has no private PEM and cannot sign. */
        char *priv = NULL;
        size_t plen = 0;
        rc = wsig_key_private_pem(back, &priv, &plen, NULL, &err);
        CHECK(rc == WSIG_ERR_KEY && priv == NULL, "%s: private_pem of a public key: %d", what, rc);
        wsig_free_secret(priv, plen);
        if (wsig_key_is_private(key))
            sign_verify(key, back, what);
    }
    wsig_key_free(back);
    wsig_free(pem);
}

static void check_jwt_use(const wsig_key *key, const cJSON *e, const char *what)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *auth = NULL;
    int rc = wsig_auth_jwt_new(&auth, key, "kid", NULL, &err);
    if (!wsig_key_is_private(key)) {
        CHECK(rc == WSIG_ERR_KEY && !auth, "%s: jwt with a public key: %d", what, rc);
    } else {
        CHECK(rc == WSIG_OK, "%s: jwt_new: %s", what, err.message);
        bool warn = cJSON_IsTrue(cJSON_GetObjectItem(e, "warn"));
        CHECK(warn == (err.warning[0] != '\0'), "%s: warn %d but warning \"%s\"", what, warn,
              err.warning);
    }
    wsig_auth_free(auth);
    wsig_error_clear(&err);
}

static void check_secp256k1_entry(const wsig_key *key, const cJSON *e, const char *what)
{
    wsig_error err = WSIG_ERROR_INIT;
    char addr[WSIG_ADDRESS_SIZE] = "";
    int rc = wsig_key_address(key, addr, &err);
    CHECK(rc == WSIG_OK && t_streq(addr, t_str(e, "address")), "%s: address %s != %s", what, addr,
          t_str(e, "address"));
    /* wrong_curve means: refused as a Halogen JWT key. */
    wsig_auth *auth = NULL;
    rc = wsig_auth_jwt_new(&auth, key, "kid", NULL, &err);
    CHECK(rc == WSIG_ERR_KEY && !auth, "%s: secp256k1 accepted for jwt: %d", what, rc);
    wsig_auth_free(auth);
    wsig_jwt_claims c;
    rc = wsig_jwt_verify(key, &c, "a.b.c", 5, 0, 0, NULL, NULL, 0, &err);
    CHECK(rc == WSIG_ERR_KEY, "%s: secp256k1 jwt verify: %d", what, rc);
    /* ...and usable by the message protocol when private. */
    if (wsig_key_is_private(key)) {
        const char *hex = t_str(e, "private_key_hex");
        wsig_key *from_hex = NULL;
        rc = hex ? wsig_key_from_hex(&from_hex, hex, &err) : WSIG_ERR_ARG;
        CHECK(rc == WSIG_OK, "%s: from_hex: %s", what, err.message);
        if (rc == WSIG_OK) {
            char addr2[WSIG_ADDRESS_SIZE] = "";
            rc = wsig_key_address(from_hex, addr2, &err);
            CHECK(rc == WSIG_OK && strcmp(addr, addr2) == 0, "%s: hex key address %s", what, addr2);
            char *p1 = public_pem_of(key), *p2 = public_pem_of(from_hex);
            CHECK(t_streq(p1, p2), "%s: PEM and hex keys differ", what);
            wsig_free(p1);
            wsig_free(p2);
        }
        wsig_key_free(from_hex);
    }
    wsig_error_clear(&err);
}

static void check_key_entry(const cJSON *e)
{
    const char *file = t_str(e, "file");
    const char *expect = t_str(e, "expect");
    const char *password = t_str(e, "password");
    const char *kind_name = t_str(e, "kind");
    bool is_private = cJSON_IsTrue(cJSON_GetObjectItem(e, "private"));
    bool message_ok = cJSON_IsTrue(cJSON_GetObjectItem(e, "message_ok"));
    int bits = (int)t_num(e, "bits");
    if (!file || !expect) {
        CHECK(0, "keys.json entry without file/expect");
        return;
    }
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    int rc = wsig_key_load_file(&key, t_key_path(file), password, &err);

    /* The same bytes through load_pem / load_der must give the same answer. */
    size_t len = 0;
    char *data = t_read(t_key_path(file), &len);
    CHECK(data != NULL, "%s: cannot read", file);
    if (data) {
        wsig_key *k2 = NULL;
        wsig_error err2 = WSIG_ERROR_INIT;
        int rc2 = t_streq(t_str(e, "encoding"), "der")
                      ? wsig_key_load_der(&k2, (const unsigned char *)data, len, password, &err2)
                      : wsig_key_load_pem(&k2, data, len, password, &err2);
        CHECK(rc2 == rc, "%s: load_file %d but in-memory load %d (%s)", file, rc, rc2,
              err2.message);
        check_no_secret(&err2, password, file);
        wsig_key_free(k2);
        k2 = NULL; /* and through the detecting loader */
        rc2 = wsig_key_load(&k2, data, len, password, &err2);
        CHECK(rc2 == rc, "%s: load_file %d but wsig_key_load %d (%s)", file, rc, rc2,
              err2.message);
        wsig_key_free(k2);
        wsig_error_clear(&err2);
        free(data);
    }

    bool ok = t_streq(expect, "ok") || t_streq(expect, "ok_public") ||
              (t_streq(expect, "wrong_curve") && message_ok);
    if (!ok) {
        /* weak, wrong_curve (P-384), unsupported, malformed */
        CHECK(rc == WSIG_ERR_KEY && key == NULL && err.status == WSIG_ERR_KEY && err.message[0],
              "%s (%s): load gave %s (%s)", file, expect, wsig_status_name(rc), err.message);
        /* Files that are not keys (a CSR, parameters alone, an indented PEM)
         * get an error that says what they are. */
        const char *hint = t_str(e, "error_hint");
        CHECK(!hint || strstr(err.message, hint), "%s: error \"%s\" does not say \"%s\"", file,
              err.message, hint);
        wsig_key_free(key);
        wsig_error_clear(&err);
        return;
    }
    CHECK(rc == WSIG_OK && key, "%s (%s): load gave %s (%s)", file, expect, wsig_status_name(rc),
          err.message);
    if (rc != WSIG_OK) {
        wsig_key_free(key);
        return;
    }
    int kind = kind_of_name(kind_name);
    CHECK(wsig_key_kind_of(key) == kind, "%s: kind %d != %d", file, wsig_key_kind_of(key), kind);
    CHECK(wsig_key_bits(key) == bits, "%s: bits %d != %d", file, wsig_key_bits(key), bits);
    CHECK(wsig_key_is_private(key) == (int)is_private, "%s: is_private %d", file,
          wsig_key_is_private(key));
    CHECK(strcmp(wsig_key_algorithm(key), algorithm_of_kind(kind)) == 0, "%s: algorithm %s", file,
          wsig_key_algorithm(key));
    check_public_pem_roundtrip(key, t_str(e, "public_pem"), file);
    if (kind == WSIG_KEY_SECP256K1) {
        check_secp256k1_entry(key, e, file);
    } else {
        char addr[WSIG_ADDRESS_SIZE];
        rc = wsig_key_address(key, addr, &err);
        CHECK(rc == WSIG_ERR_KEY, "%s: non-secp256k1 key has an address: %d", file, rc);
        check_jwt_use(key, e, file);
    }

    /* Encrypted files: no password and a wrong password are password errors. */
    if (password) {
        wsig_key *k = NULL;
        rc = wsig_key_load_file(&k, t_key_path(file), NULL, &err);
        CHECK(rc == WSIG_ERR_PASSWORD && !k, "%s: without password: %s", file, wsig_status_name(rc));
        wsig_key_free(k);
        k = NULL;
        rc = wsig_key_load_file(&k, t_key_path(file), "", &err);
        CHECK(rc == WSIG_ERR_PASSWORD && !k, "%s: empty password: %s", file, wsig_status_name(rc));
        wsig_key_free(k);
        k = NULL;
        static const char wrong[] = "Tr0ub4dor&3-wrong-passphrase";
        rc = wsig_key_load_file(&k, t_key_path(file), wrong, &err);
        CHECK(rc == WSIG_ERR_PASSWORD && !k, "%s: wrong password: %s", file, wsig_status_name(rc));
        check_no_secret(&err, wrong, file);
        check_no_secret(&err, password, file);
        wsig_key_free(k);
    }
    check_no_secret(&err, password, file);

    /* Export of every private key (skip the slow-to-sign RSA-4096 duplicates). */
    if (is_private && bits <= 2048)
        private_pem_roundtrip(key, file);
    wsig_key_free(key);
    wsig_error_clear(&err);
}

static void test_save(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    int rc = wsig_key_load_file(&key, t_key_path("p256_sec1.pem"), NULL, &err);
    CHECK(rc == WSIG_OK, "load p256: %s", err.message);
    char *dir = t_tmpdir();
    CHECK(dir != NULL, "mkdtemp failed");
    if (rc || !dir) {
        wsig_key_free(key);
        t_rmdir_all(dir);
        return;
    }
    char *pub = public_pem_of(key);
    char path[4200];
    static const char *const passwords[] = {NULL, "save-pass"};
    mode_t old = umask(0); /* a permissive umask must not make the file readable */
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/key%d.pem", dir, i);
        if (i == 1) {
            /* Replace an existing world-readable file. */
            FILE *f = fopen(path, "w");
            if (f) {
                fputs("old\n", f);
                fclose(f);
            }
            chmod(path, 0644);
        }
        rc = wsig_key_save(key, path, passwords[i], &err);
        CHECK(rc == WSIG_OK, "save(%d): %s", i, err.message);
        struct stat st;
        CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600 && S_ISREG(st.st_mode),
              "save(%d): mode %o", i, (unsigned)(st.st_mode & 07777));
        wsig_key *back = NULL;
        rc = wsig_key_load_file(&back, path, passwords[i], &err);
        CHECK(rc == WSIG_OK, "reload saved key(%d): %s", i, err.message);
        if (rc == WSIG_OK) {
            char *pub2 = public_pem_of(back);
            CHECK(t_streq(pub, pub2), "saved key(%d) differs", i);
            wsig_free(pub2);
        }
        wsig_key_free(back);
        if (passwords[i]) {
            back = NULL;
            rc = wsig_key_load_file(&back, path, NULL, &err);
            CHECK(rc == WSIG_ERR_PASSWORD, "saved encrypted key loads without password: %d", rc);
            wsig_key_free(back);
        }
    }
    umask(old);
    /* Nothing else (no temporary file) is left in the directory. */
    char listing[4096];
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
    t_run(cmd, listing, sizeof listing);
    CHECK(strcmp(listing, "key0.pem\nkey1.pem\n") == 0, "leftovers in the save dir: %s", listing);
    /* Unwritable destination: an I/O error, not a crash. */
    snprintf(path, sizeof path, "%s/no-such-dir/key.pem", dir);
    rc = wsig_key_save(key, path, NULL, &err);
    CHECK(rc == WSIG_ERR_IO, "save into a missing directory: %d", rc);
    wsig_free(pub);
    wsig_key_free(key);
    t_rmdir_all(dir);
    wsig_error_clear(&err);
}

static void csr_for(const char *file)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    int rc = wsig_key_load_file(&key, t_key_path(file), NULL, &err);
    CHECK(rc == WSIG_OK, "%s: %s", file, err.message);
    char *dir = t_tmpdir();
    if (rc || !dir) {
        wsig_key_free(key);
        t_rmdir_all(dir);
        return;
    }
    static const struct {
        const char *subject;
        const char *printed; /* openssl req -noout -subject -nameopt RFC2253 */
    } subjects[] = {
        {CSR_SUBJECT, "subject=CN=example.com,OU=Unit,O=Organization,L=City,ST=State,C=MY\n"},
        {"/CN=a\\/b\\=c/O=x\\\\y", "subject=O=x\\\\y,CN=a/b=c\n"},
    };
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) {
        char *csr = NULL;
        size_t len = 0;
        rc = wsig_key_csr(key, &csr, &len, subjects[i].subject, &err);
        CHECK(rc == WSIG_OK && csr && strlen(csr) == len, "%s: csr: %s", file, err.message);
        if (rc)
            continue;
        CHECK(strncmp(csr, "-----BEGIN CERTIFICATE REQUEST-----\n", 36) == 0, "%s: csr %.40s", file,
              csr);
        char path[4200], cmd[8600], out[4096];
        snprintf(path, sizeof path, "%s/req%zu.pem", dir, i);
        FILE *f = fopen(path, "w");
        if (f) {
            fwrite(csr, 1, len, f);
            fclose(f);
        }
        snprintf(cmd, sizeof cmd, "openssl req -verify -noout -in '%s' 2>&1", path);
        int st = t_run(cmd, out, sizeof out);
        CHECK(st == 0, "%s: openssl req -verify failed (%d): %s", file, st, out);
        snprintf(cmd, sizeof cmd, "openssl req -noout -subject -nameopt RFC2253 -in '%s' 2>&1", path);
        st = t_run(cmd, out, sizeof out);
        CHECK(st == 0 && strcmp(out, subjects[i].printed) == 0, "%s: subject \"%s\" != \"%s\"",
              file, out, subjects[i].printed);
        /* The CSR carries this key's public key and a SHA-256 signature. */
        snprintf(cmd, sizeof cmd, "openssl req -noout -pubkey -in '%s' 2>&1", path);
        st = t_run(cmd, out, sizeof out);
        char *pub = public_pem_of(key);
        CHECK(st == 0 && t_streq(out, pub), "%s: CSR public key differs: %s", file, out);
        wsig_free(pub);
        snprintf(cmd, sizeof cmd, "openssl req -noout -text -in '%s' 2>&1", path);
        st = t_run(cmd, out, sizeof out);
        CHECK(st == 0 && strstr(out, "Signature Algorithm: ") &&
                  (strstr(out, "ecdsa-with-SHA256") || strstr(out, "sha256WithRSAEncryption")),
              "%s: CSR signature algorithm: %s", file, out);
        wsig_free(csr);
    }
    /* Bad subjects are argument errors. */
    static const char *const bad[] = {
        "", "CN=example.com", "/", "/CN", "/=value", "/CN=x/", "/NOSUCHFIELD=x", "/C=MYS",
        "/CN=x/O",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *csr = NULL;
        size_t len = 0;
        rc = wsig_key_csr(key, &csr, &len, bad[i], &err);
        /* "/CN=x/" has an empty last component: accepted or refused, never a crash;
         * everything else must be refused as an argument error. */
        if (strcmp(bad[i], "/CN=x/") == 0)
            CHECK(rc == WSIG_OK || rc == WSIG_ERR_ARG, "%s: subject \"%s\": %d", file, bad[i], rc);
        else
            CHECK(rc == WSIG_ERR_ARG && csr == NULL, "%s: subject \"%s\": %s (%s)", file, bad[i],
                  wsig_status_name(rc), err.message);
        wsig_free(csr);
    }
    wsig_key_free(key);
    t_rmdir_all(dir);
    wsig_error_clear(&err);
}

static void test_csr(void)
{
    csr_for("p256_sec1.pem");
    csr_for("rsa2048_pkcs1.pem");
    /* secp256k1 and public keys cannot make a CSR. */
    static const char *const refused[] = {"secp256k1_sec1.pem", "p256_public.pem"};
    for (size_t i = 0; i < 2; i++) {
        wsig_error err = WSIG_ERROR_INIT;
        wsig_key *key = NULL;
        int rc = wsig_key_load_file(&key, t_key_path(refused[i]), NULL, &err);
        CHECK(rc == WSIG_OK, "%s: %s", refused[i], err.message);
        if (rc)
            continue;
        char *csr = NULL;
        size_t len = 0;
        rc = wsig_key_csr(key, &csr, &len, CSR_SUBJECT, &err);
        CHECK(rc == WSIG_ERR_KEY && csr == NULL, "%s: csr gave %s", refused[i],
              wsig_status_name(rc));
        wsig_free(csr);
        wsig_key_free(key);
    }
}

static void test_der_and_garbage(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    size_t len = 0;
    char *der = t_read(t_key_path("p256.der"), &len);
    char *pem = t_read(t_key_path("p256_public.pem"), NULL);
    CHECK(der && pem, "cannot read p256.der / p256_public.pem");
    if (der && pem) {
        wsig_key *k = NULL;
        int rc = wsig_key_load_der(&k, (const unsigned char *)der, len, NULL, &err);
        CHECK(rc == WSIG_OK && wsig_key_kind_of(k) == WSIG_KEY_P256 && wsig_key_is_private(k),
              "p256.der: %s", err.message);
        if (rc == WSIG_OK) {
            char *pub = public_pem_of(k);
            CHECK(t_streq(pub, pem), "p256.der public key differs from p256_public.pem");
            wsig_free(pub);
        }
        wsig_key_free(k);
        /* Truncated DER, DER given to the PEM loader, empty input. */
        k = NULL;
        rc = wsig_key_load_der(&k, (const unsigned char *)der, len / 2, NULL, &err);
        CHECK(rc == WSIG_ERR_KEY && !k, "truncated DER: %s", wsig_status_name(rc));
        wsig_key_free(k);
        k = NULL;
        rc = wsig_key_load_pem(&k, der, len, NULL, &err);
        CHECK(rc == WSIG_ERR_KEY && !k, "DER to load_pem: %s", wsig_status_name(rc));
        wsig_key_free(k);
        k = NULL;
        rc = wsig_key_load_pem(&k, pem, 0, NULL, &err);
        CHECK(rc == WSIG_ERR_KEY && !k, "empty PEM: %s", wsig_status_name(rc));
        wsig_key_free(k);
    }
    free(der);
    free(pem);
    wsig_key *k = NULL;
    int rc = wsig_key_load_file(&k, t_key_path("no-such-file.pem"), NULL, &err);
    CHECK(rc == WSIG_ERR_IO && !k, "missing file: %s", wsig_status_name(rc));
    wsig_key_free(k);
    wsig_error_clear(&err);
}

/* Load text made of fixture files (all written by openssl): want_ok, the
 * private key whose public PEM is `pub`; else a key error naming `hint`. */
static void pem_case(const char *what, const char *text, const char *pub, int want_ok,
                     const char *hint)
{
    if (!text) {
        CHECK(0, "%s: out of memory", what);
        return;
    }
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *k = NULL;
    int rc = wsig_key_load_pem(&k, text, strlen(text), NULL, &err);
    if (want_ok) {
        CHECK(rc == WSIG_OK && k && wsig_key_is_private(k), "%s: %s (%s)", what,
              wsig_status_name(rc), err.message);
        char *got = k ? public_pem_of(k) : NULL;
        CHECK(t_streq(got, pub), "%s: not the p256 key", what);
        wsig_free(got);
    } else {
        CHECK(rc == WSIG_ERR_KEY && !k && strstr(err.message, hint), "%s: %s (%s)", what,
              wsig_status_name(rc), err.message);
    }
    wsig_key_free(k);
    wsig_error_clear(&err);
}

static char *concat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb);
        memcpy(s + la + lb, c, lc + 1);
    }
    return s;
}

/* Multi-block PEM: parameter blocks are skipped; a second key, a CSR next
 * to the key, are refused by name; CRLF and text around blocks are fine. */
static void test_pem_blocks(void)
{
    char *key = t_read(t_key_path("p256_sec1.pem"), NULL);
    char *pub = t_read(t_key_path("p256_public.pem"), NULL);
    char *csr = t_read(t_key_path("p256_csr.pem"), NULL);
    char *params = t_read(t_key_path("p256_params_only.pem"), NULL);
    CHECK(key && pub && csr && params, "cannot read the PEM fixtures");
    if (key && pub && csr && params) {
        char *t = concat3(params, key, "");
        pem_case("EC PARAMETERS + EC PRIVATE KEY", t, pub, 1, NULL);
        free(t);
        t = concat3(params, params, key);
        pem_case("two parameter blocks + key", t, pub, 1, NULL);
        free(t);
        t = concat3("Bag Attributes\n    localKeyID: 01 02\n", key, "trailing words\n");
        pem_case("text around the block", t, pub, 1, NULL);
        free(t);
        t = concat3(key, pub, "");
        pem_case("private + public key", t, pub, 0, "EC PRIVATE KEY, PUBLIC KEY");
        free(t);
        t = concat3(key, csr, "");
        pem_case("key + CSR", t, pub, 0, "EC PRIVATE KEY, CERTIFICATE REQUEST");
        free(t);
        t = concat3(params, csr, "");
        pem_case("parameters + CSR", t, pub, 0, "only EC PARAMETERS, CERTIFICATE REQUEST");
        free(t);
        char *two = concat3(params, params, "");
        char *four = two ? concat3(two, two, "") : NULL;
        t = four ? concat3(four, four, key) : NULL; /* 8 parameter blocks, then the key */
        CHECK(t != NULL, "out of memory");
        if (t)
            pem_case("nine blocks", t, pub, 0, "more than 8 PEM blocks");
        free(t);
        free(four);
        free(two);
    }
    /* openssl ecparam -genkey output with CRLF line ends. */
    char *gen = t_read(t_key_path("p256_ecparam.pem"), NULL);
    CHECK(gen != NULL, "cannot read p256_ecparam.pem");
    if (gen) {
        size_t n = strlen(gen), o = 0;
        char *crlf = malloc(2 * n + 1);
        for (size_t i = 0; crlf && i < n; i++) {
            if (gen[i] == '\n')
                crlf[o++] = '\r';
            crlf[o++] = gen[i];
        }
        wsig_error err = WSIG_ERROR_INIT;
        wsig_key *a = NULL, *b = NULL;
        int ra = wsig_key_load_pem(&a, gen, n, NULL, &err);
        int rb = crlf ? wsig_key_load_pem(&b, crlf, o, NULL, &err) : WSIG_ERR_NOMEM;
        char *pa = ra == WSIG_OK ? public_pem_of(a) : NULL;
        char *pb = rb == WSIG_OK ? public_pem_of(b) : NULL;
        CHECK(ra == WSIG_OK && rb == WSIG_OK && t_streq(pa, pb),
              "ecparam -genkey with CRLF: %s %s", wsig_status_name(ra), wsig_status_name(rb));
        wsig_free(pa);
        wsig_free(pb);
        wsig_key_free(a);
        wsig_key_free(b);
        free(crlf);
        wsig_error_clear(&err);
    }
    free(gen);
    free(key);
    free(pub);
    free(csr);
    free(params);
}

static void test_from_hex(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    static const char key_hex[] = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    static const char address[] = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";
    char buf[80];
    static const char *const prefixes[] = {"", "0x", "0X"};
    for (int upper = 0; upper < 2; upper++)
        for (size_t p = 0; p < 3; p++) {
            snprintf(buf, sizeof buf, "%s%s", prefixes[p], key_hex);
            if (upper)
                for (char *c = buf + strlen(prefixes[p]); *c; c++)
                    if (*c >= 'a' && *c <= 'f')
                        *c = (char)(*c - 32);
            wsig_key *k = NULL;
            int rc = wsig_key_from_hex(&k, buf, &err);
            char addr[WSIG_ADDRESS_SIZE] = "";
            if (rc == WSIG_OK)
                rc = wsig_key_address(k, addr, &err);
            CHECK(rc == WSIG_OK && strcmp(addr, address) == 0, "from_hex(%s): %s %s", buf,
                  wsig_status_name(rc), addr);
            if (k) {
                CHECK(wsig_key_kind_of(k) == WSIG_KEY_SECP256K1 && wsig_key_bits(k) == 256 &&
                          wsig_key_is_private(k) &&
                          strcmp(wsig_key_algorithm(k), "ES256K") == 0,
                      "from_hex key attributes");
            }
            wsig_key_free(k);
        }
    /* The hex form of wsig_key_load: one trailing line end is allowed. */
    static const char *const line_ends[] = {"\n", "\r\n"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(buf, sizeof buf, "0x%s%s", key_hex, line_ends[i]);
        wsig_key *k = NULL;
        char addr[43] = "";
        int rc = wsig_key_from_hex(&k, buf, &err);
        if (rc == WSIG_OK)
            rc = wsig_key_address(k, addr, &err);
        CHECK(rc == WSIG_OK && strcmp(addr, address) == 0, "from_hex with line end %zu: %s", i,
              err.message);
        wsig_key_free(k);
    }
    /* Every address vector of message.json. */
    cJSON *v = t_vectors("message.json");
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(v, "addresses"))
    {
        wsig_key *k = NULL;
        char addr[WSIG_ADDRESS_SIZE] = "";
        int rc = wsig_key_from_hex(&k, t_str(e, "private_key_hex"), &err);
        if (rc == WSIG_OK)
            rc = wsig_key_address(k, addr, &err);
        CHECK(rc == WSIG_OK && t_streq(addr, t_str(e, "address")), "address of %s: %s != %s",
              t_str(e, "private_key_hex"), addr, t_str(e, "address"));
        wsig_key_free(k);
    }
    cJSON_Delete(v);
    /* Refused: every error is a key error and never echoes the input. */
    static const char *const bad[] = {
        "",
        "0x",
        "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f36231",   /* 63 digits */
        "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f3623180", /* 65 digits */
        "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f36231g",  /* non-hex */
        "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f36231 ",  /* space */
        " 4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", /* leading space */
        "0x0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f3623",
        "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n\n",
        "0000000000000000000000000000000000000000000000000000000000000000", /* zero */
        "0x0000000000000000000000000000000000000000000000000000000000000000",
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", /* n */
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364142", /* n + 1 */
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wsig_key *k = NULL;
        int rc = wsig_key_from_hex(&k, bad[i], &err);
        CHECK(rc == WSIG_ERR_KEY && k == NULL && err.status == WSIG_ERR_KEY,
              "from_hex(\"%s\"): %s", bad[i], wsig_status_name(rc));
        if (strlen(bad[i]) >= 16) {
            const char *digits = bad[i][0] == '0' && bad[i][1] == 'x' ? bad[i] + 2 : bad[i];
            char probe[17];
            memcpy(probe, digits + 8, 16); /* any 16-digit run of the key */
            probe[16] = '\0';
            CHECK(strstr(err.message, probe) == NULL, "from_hex error leaks the key: %s",
                  err.message);
        }
        wsig_key_free(k);
    }
    wsig_error_clear(&err);
}

/* The bytes of a keys.json "detection" case: data, data_hex, or a prefix
 * and a file (cut to its first `truncate` bytes). Caller frees. */
static unsigned char *detection_bytes(const cJSON *c, size_t *len)
{
    const char *data = t_str(c, "data"), *hex = t_str(c, "data_hex");
    if (data) {
        *len = strlen(data);
        return (unsigned char *)strdup(data);
    }
    if (hex)
        return t_hex_alloc(hex, len);
    const char *prefix = t_str(c, "prefix") ? t_str(c, "prefix") : "";
    size_t file_len = 0, plen = strlen(prefix);
    char *file = t_read(t_key_path(t_str(c, "file")), &file_len);
    const cJSON *cut = cJSON_GetObjectItem(c, "truncate");
    if (cJSON_IsNumber(cut) && (size_t)cut->valueint < file_len)
        file_len = (size_t)cut->valueint;
    unsigned char *out = file ? malloc(plen + file_len + 1) : NULL;
    if (out) {
        memcpy(out, prefix, plen);
        memcpy(out + plen, file, file_len);
        out[plen + file_len] = '\0';
        *len = plen + file_len;
    }
    free(file);
    return out;
}

static int status_of(const char *expect)
{
    return t_streq(expect, "ok") ? WSIG_OK
         : t_streq(expect, "argument_error") ? WSIG_ERR_ARG
         : t_streq(expect, "io_error") ? WSIG_ERR_IO : WSIG_ERR_KEY;
}

/* One loader's answer to a detection case: the status `expect` names; a
 * key that is the case's (address or public PEM); or an error with the
 * hint that never echoes the input. */
static void check_detected(const cJSON *c, const char *how, const char *expect, int rc,
                           const wsig_key *k, const wsig_error *err)
{
    const char *name = t_str(c, "name"), *hint = t_str(c, "error_hint");
    CHECK(rc == status_of(expect) && (rc == WSIG_OK) == (k != NULL), "%s (%s): want %s, got %s "
          "(%s)", name, how, expect, wsig_status_name(rc), err->message);
    if (rc != WSIG_OK || !k) {
        CHECK(err->message[0], "%s (%s): error without a message", name, how);
        if (rc == WSIG_ERR_KEY && hint)
            CHECK(strstr(err->message, hint), "%s (%s): error \"%s\" does not say \"%s\"",
                  name, how, err->message, hint);
        /* Nothing is echoed: not even a source taken as a path (it may
         * have been a mistyped key). */
        check_no_secret(err, t_str(c, "no_echo"), name);
        return;
    }
    char addr[43] = "";
    wsig_error e = WSIG_ERROR_INIT;
    if (t_str(c, "address"))
        CHECK(wsig_key_address(k, addr, &e) == WSIG_OK && t_streq(addr, t_str(c, "address")),
              "%s (%s): address %s", name, how, addr);
    if (t_str(c, "public_key_file")) {
        char *want = t_read(t_key_path(t_str(c, "public_key_file")), NULL);
        char *pub = public_pem_of(k);
        CHECK(want && t_streq(pub, want), "%s (%s): another key", name, how);
        free(want);
        wsig_free(pub);
    }
    wsig_error_clear(&e);
}

/* tests/vectors/keys/keys.json "detection": bytes of every form, and ones
 * of none, through wsig_key_load, a file (wsig_key_load_file) and a
 * binding's string (wsig_key_load_source, `as_source`). */
/* Key data larger than any key file is refused before OpenSSL sees it. */
static void test_key_size_cap(void)
{
    size_t n = (size_t)1 << 20;
    char *big = malloc(n);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *k = NULL;
    if (!big)
        return;
    memset(big, 'A', n);
    memcpy(big, "-----BEGIN PRIVATE KEY-----\n", 28);
    int rc = wsig_key_load_pem(&k, big, n, NULL, &err);
    CHECK(rc == WSIG_ERR_KEY && !k && strstr(err.message, "no key is that large"),
          "1 MiB of PEM: %s (%s)", wsig_status_name(rc), err.message);
    rc = wsig_key_load(&k, big, n, NULL, &err);
    CHECK(rc == WSIG_ERR_KEY && !k, "1 MiB through wsig_key_load: %s", wsig_status_name(rc));
    free(big);
    wsig_error_clear(&err);
}

static void test_key_detection(void)
{
    cJSON *v = t_vectors("keys/keys.json");
    char *dir = t_tmpdir();
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "detection"))
    {
        size_t len = 0;
        unsigned char *data = detection_bytes(c, &len);
        const char *expect = t_str(c, "expect");
        if (!data || !expect || !t_str(c, "as_source")) {
            CHECK(0, "detection case %s unreadable", t_str(c, "name"));
            free(data);
            continue;
        }
        wsig_error err = WSIG_ERROR_INIT;
        wsig_key *k = NULL;
        int rc = wsig_key_load(&k, data, len, NULL, &err);
        check_detected(c, "wsig_key_load", expect, rc, k, &err);
        wsig_key_free(k);
        char path[512];
        snprintf(path, sizeof path, "%s/case%d", dir ? dir : "/nonexistent", n);
        FILE *f = fopen(path, "wb");
        bool written = f && fwrite(data, 1, len, f) == len;
        CHECK(f && fclose(f) == 0 && written, "cannot write %s", path);
        k = NULL;
        rc = wsig_key_load_file(&k, path, NULL, &err);
        check_detected(c, "wsig_key_load_file", expect, rc, k, &err);
        wsig_key_free(k);
        k = NULL;
        rc = wsig_key_load_source(&k, (const char *)data, len, NULL, &err);
        check_detected(c, "wsig_key_load_source", t_str(c, "as_source"), rc, k, &err);
        wsig_key_free(k);
        wsig_error_clear(&err);
        free(data);
        n++;
    }
    CHECK(n >= 20, "only %d detection cases", n);
    /* A source that is no key text is a path: the file's bytes are detected. */
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *k = NULL;
    const char *path = t_key_path("p256.der");
    int rc = wsig_key_load_source(&k, path, strlen(path), NULL, &err);
    CHECK(rc == WSIG_OK && wsig_key_kind_of(k) == WSIG_KEY_P256, "source path: %s", err.message);
    wsig_key_free(k);
    k = NULL;
    rc = wsig_key_load_source(&k, "a\0b", 3, NULL, &err);
    CHECK(rc == WSIG_ERR_KEY && !k, "NUL is binary, no path: %s", wsig_status_name(rc));
    wsig_error_clear(&err);
    t_rmdir_all(dir);
    cJSON_Delete(v);
}

static void test_generate(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    char first_addr[WSIG_ADDRESS_SIZE] = "";
    for (int i = 0; i < 2; i++) {
        wsig_key *k = NULL;
        int rc = wsig_key_generate(&k, WSIG_KEY_SECP256K1, 0, &err);
        CHECK(rc == WSIG_OK && k, "generate secp256k1: %s", err.message);
        if (rc)
            continue;
        CHECK(wsig_key_kind_of(k) == WSIG_KEY_SECP256K1 && wsig_key_bits(k) == 256 &&
                  wsig_key_is_private(k) && strcmp(wsig_key_algorithm(k), "ES256K") == 0,
              "generated secp256k1 attributes");
        char addr[WSIG_ADDRESS_SIZE] = "";
        rc = wsig_key_address(k, addr, &err);
        CHECK(rc == WSIG_OK && strlen(addr) == 42 && addr[0] == '0' && addr[1] == 'x',
              "generated address %s", addr);
        if (i == 0)
            strcpy(first_addr, addr);
        else
            CHECK(strcmp(first_addr, addr) != 0, "two generated keys share address %s", addr);
        private_pem_roundtrip(k, "generated secp256k1");
        wsig_key_free(k);
    }
    wsig_key *k = NULL;
    int rc = wsig_key_generate(&k, WSIG_KEY_P256, 0, &err);
    CHECK(rc == WSIG_OK && k, "generate P-256: %s", err.message);
    if (rc == WSIG_OK) {
        CHECK(wsig_key_kind_of(k) == WSIG_KEY_P256 && wsig_key_bits(k) == 256 &&
                  wsig_key_is_private(k) && strcmp(wsig_key_algorithm(k), "ES256") == 0,
              "generated P-256 attributes");
        private_pem_roundtrip(k, "generated P-256");
        char addr[WSIG_ADDRESS_SIZE];
        rc = wsig_key_address(k, addr, &err);
        CHECK(rc == WSIG_ERR_KEY, "P-256 address: %d", rc);
    }
    wsig_key_free(k);
    /* Bad arguments are refused before any (slow) generation. */
    static const int bad[][2] = {{0, 0}, {99, 0}, {WSIG_KEY_RSA, 1024}, {WSIG_KEY_RSA, 2047},
                                 {WSIG_KEY_RSA, 16385}, {WSIG_KEY_RSA, -1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        k = NULL;
        rc = wsig_key_generate(&k, bad[i][0], bad[i][1], &err);
        CHECK(rc == WSIG_ERR_ARG && !k, "generate(%d, %d): %s", bad[i][0], bad[i][1],
              wsig_status_name(rc));
        wsig_key_free(k);
    }
    wsig_error_clear(&err);
}

void test_keys(void)
{
    cJSON *v = t_vectors("keys/keys.json");
    if (!v)
        return;
    CHECK(t_streq(t_str(v, "password"), KEYS_PASSWORD), "keys.json password");
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(v, "keys"))
    {
        check_key_entry(e);
        n++;
    }
    CHECK(n >= 16, "only %d key entries", n);
    cJSON_Delete(v);
    test_der_and_garbage();
    test_pem_blocks();
    test_from_hex();
    test_key_size_cap();
    test_key_detection();
    test_save();
    test_csr();
    test_generate();
}
