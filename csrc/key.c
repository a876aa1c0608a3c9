/* Keys: load (PEM/DER/hex), generate, export, CSR, Ethereum address. */
#define _GNU_SOURCE /* memmem */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIN_RSA_BITS 2048
#define MAX_KEY_FILE (1 << 20)
#define MAX_PEM_BLOCKS 8
#define MAX_PEM_LABEL 48

static wsig_key *key_alloc(void)
{
    wsig_key *k = calloc(1, sizeof *k);
    if (k)
        atomic_init(&k->refs, 1);
    return k;
}

wsig_key *wsig__key_ref(const wsig_key *key)
{
    wsig_key *k = (wsig_key *)key; /* the count is the only mutable field */
    atomic_fetch_add(&k->refs, 1);
    return k;
}

void wsig_key_free(wsig_key *key)
{
    if (!key || atomic_fetch_sub(&key->refs, 1) != 1)
        return;
    EVP_PKEY_free(key->pkey);
    OPENSSL_cleanse(key, sizeof *key);
    free(key);
}

void wsig__pubkey_address(unsigned char addr[20], const secp256k1_pubkey *pub)
{
    unsigned char ser[65], hash[32];
    size_t len = sizeof ser;
    secp256k1_ec_pubkey_serialize(wsig__secp(), ser, &len, pub, SECP256K1_EC_UNCOMPRESSED);
    wsig_keccak256(hash, ser + 1, 64);
    memcpy(addr, hash + 12, 20);
}

void wsig__address_eip55(char out[WSIG_ADDRESS_SIZE], const unsigned char addr[20])
{
    char lower[41];
    unsigned char hash[32];
    wsig__hex_encode(lower, addr, 20);
    wsig_keccak256(hash, lower, 40);
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 40; i++) {
        int nibble = i % 2 ? hash[i / 2] & 15 : hash[i / 2] >> 4;
        char c = lower[i];
        out[2 + i] = (c >= 'a' && nibble >= 8) ? (char)(c - 32) : c;
    }
    out[42] = '\0';
}

/* --- secp256k1 keys: the scalar for libsecp256k1, an EVP_PKEY for PEM --- */

static int secp_pkey_from_parts(EVP_PKEY **out, const unsigned char *seckey,
                                const unsigned char pub65[65], wsig_error *err)
{
    int rc = WSIG_ERR_CRYPTO;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *priv = seckey ? BN_secure_new() : NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!bld || !ctx || (seckey && (!priv || !BN_bin2bn(seckey, 32, priv))))
        goto done;
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "secp256k1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub65, 65) ||
        (priv && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)))
        goto done;
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, out, seckey ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) == 1)
        rc = WSIG_OK;
done:
    if (rc != WSIG_OK)
        wsig__fail_ossl(err, rc, "cannot build secp256k1 key");
    OSSL_PARAM_free(params); /* OSSL_PARAM_clear_free is 3.0-only in name; params hold a copy */
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

static int secp_key_from_scalar(wsig_key **out, const unsigned char seckey[32], wsig_error *err)
{
    const secp256k1_context *ctx = wsig__secp();
    if (!ctx)
        return wsig__fail(err, WSIG_ERR_CRYPTO, "libsecp256k1 context unavailable");
    if (!secp256k1_ec_seckey_verify(ctx, seckey))
        return wsig__fail(err, WSIG_ERR_KEY, "secp256k1 private key is zero or not below the group order");
    wsig_key *k = key_alloc();
    if (!k)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    k->kind = WSIG_KEY_SECP256K1;
    k->bits = 256;
    k->is_private = 1;
    memcpy(k->seckey, seckey, 32);
    unsigned char pub65[65];
    size_t len = sizeof pub65;
    if (!secp256k1_ec_pubkey_create(ctx, &k->pub, seckey) ||
        !secp256k1_ec_pubkey_serialize(ctx, pub65, &len, &k->pub, SECP256K1_EC_UNCOMPRESSED)) {
        wsig_key_free(k);
        return wsig__fail(err, WSIG_ERR_CRYPTO, "cannot derive secp256k1 public key");
    }
    wsig__pubkey_address(k->address, &k->pub);
    int rc = secp_pkey_from_parts(&k->pkey, seckey, pub65, err);
    if (rc != WSIG_OK) {
        wsig_key_free(k);
        return rc;
    }
    *out = k;
    return WSIG_OK;
}

/* Adopt an EVP_PKEY from a decoder: classify it and refuse what we do not use. */
static int key_from_pkey(wsig_key **out, EVP_PKEY *pkey, wsig_error *err)
{
    int rc;
    wsig_key *k = NULL;
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < MIN_RSA_BITS) {
            rc = wsig__fail(err, WSIG_ERR_KEY, "RSA key of %d bits refused: at least %d required",
                            bits, MIN_RSA_BITS);
            goto fail;
        }
        if (!(k = key_alloc()))
            goto nomem;
        k->kind = WSIG_KEY_RSA;
        k->bits = bits;
        BIGNUM *d = NULL;
        k->is_private = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &d) == 1;
        BN_clear_free(d);
        ERR_clear_error();
        k->pkey = pkey;
        *out = k;
        return WSIG_OK;
    }
    if (!EVP_PKEY_is_a(pkey, "EC")) {
        rc = wsig__fail(err, WSIG_ERR_KEY, "unsupported key type %s: use EC P-256, RSA or secp256k1",
                        EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "?");
        goto fail;
    }
    char group[64] = "";
    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL)) {
        rc = wsig__fail_ossl(err, WSIG_ERR_KEY, "EC key without a named curve");
        goto fail;
    }
    BIGNUM *priv = NULL;
    int has_priv = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1;
    size_t pub_len = 0;
    int has_pub = EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, NULL, 0,
                                                  &pub_len) == 1 && pub_len > 0;
    ERR_clear_error();
    if (!has_priv && !has_pub) { /* never hand out a half key */
        rc = wsig__fail(err, WSIG_ERR_KEY, "EC parameters only: no private or public key");
        goto fail;
    }
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
        BN_clear_free(priv);
        if (!(k = key_alloc()))
            goto nomem;
        k->kind = WSIG_KEY_P256;
        k->bits = 256;
        k->is_private = has_priv;
        k->pkey = pkey;
        *out = k;
        return WSIG_OK;
    }
    if (strcmp(group, "secp256k1") != 0) {
        BN_clear_free(priv);
        rc = wsig__fail(err, WSIG_ERR_KEY, "curve %s is not used by any walletsign protocol "
                        "(P-256 for jwt, secp256k1 for message)", group);
        goto fail;
    }
    if (has_priv) {
        unsigned char seckey[32];
        int ok = BN_bn2binpad(priv, seckey, 32) == 32;
        BN_clear_free(priv);
        rc = ok ? secp_key_from_scalar(out, seckey, err)
                : wsig__fail(err, WSIG_ERR_KEY, "secp256k1 private key out of range");
        OPENSSL_cleanse(seckey, sizeof seckey);
        EVP_PKEY_free(pkey);
        return rc;
    }
    unsigned char pub[65];
    if (!EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &pub_len)) {
        rc = wsig__fail_ossl(err, WSIG_ERR_KEY, "secp256k1 public key unreadable");
        goto fail;
    }
    if (!(k = key_alloc()))
        goto nomem;
    k->kind = WSIG_KEY_SECP256K1;
    k->bits = 256;
    if (!secp256k1_ec_pubkey_parse(wsig__secp(), &k->pub, pub, pub_len)) {
        free(k);
        rc = wsig__fail(err, WSIG_ERR_KEY, "secp256k1 public key is not on the curve");
        goto fail;
    }
    wsig__pubkey_address(k->address, &k->pub);
    k->pkey = pkey;
    *out = k;
    return WSIG_OK;
nomem:
    rc = wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
fail:
    EVP_PKEY_free(pkey);
    return rc;
}

static bool looks_encrypted(const unsigned char *data, size_t len)
{
    static const char tag[] = "ENCRYPTED";
    for (size_t i = 0; i + sizeof tag - 1 <= len; i++)
        if (memcmp(data + i, tag, sizeof tag - 1) == 0)
            return true;
    return false;
}

/* Run OpenSSL's decoder over data. Hints (structure, key type) cut its cost
 * several-fold: without them it tries every decoder chain it has. */
static EVP_PKEY *run_decoder(const unsigned char *data, size_t len, const char *input,
                             const char *structure, const char *keytype, const char *password)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx =
        OSSL_DECODER_CTX_new_for_pkey(&pkey, input, structure, keytype, 0, NULL, NULL);
    /* Without a passphrase the decoder has no UI, so it never prompts. */
    bool ok = dctx && (!password || !*password ||
                       OSSL_DECODER_CTX_set_passphrase(dctx, (const unsigned char *)password,
                                                       strlen(password)));
    const unsigned char *p = data;
    size_t left = len;
    ok = ok && OSSL_DECODER_from_data(dctx, &p, &left);
    OSSL_DECODER_CTX_free(dctx);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

/* The key type named by the algorithm OID inside SPKI / PKCS#8 DER. */
static const char *oid_keytype(const unsigned char *der, size_t len)
{
    static const unsigned char ec[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
    static const unsigned char rsa[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
    size_t head = len < 32 ? len : 32; /* the AlgorithmIdentifier comes first */
    if (memmem(der, head, ec, sizeof ec))
        return "EC";
    if (memmem(der, head, rsa, sizeof rsa))
        return "RSA";
    return NULL;
}

/* Decode a PEM block ourselves (base64 only), so the decoder can be told
 * what the label says. Returns NULL when there is no plain PEM block (the
 * caller then lets OpenSSL try everything, e.g. legacy encrypted PEM). */
static EVP_PKEY *decode_pem_hinted(const unsigned char *data, size_t len, const char *password)
{
    static const struct { const char *label, *structure, *keytype; } kinds[] = {
        {"PUBLIC KEY", "SubjectPublicKeyInfo", NULL},
        {"PRIVATE KEY", "PrivateKeyInfo", NULL},
        {"EC PRIVATE KEY", "type-specific", "EC"},
        {"RSA PRIVATE KEY", "type-specific", "RSA"},
        {"ENCRYPTED PRIVATE KEY", "EncryptedPrivateKeyInfo", NULL},
    };
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    EVP_PKEY *pkey = NULL;
    if (bio && PEM_read_bio(bio, &name, &header, &der, &der_len) && header && !*header) {
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && !pkey; i++) {
            if (strcmp(name, kinds[i].label) != 0)
                continue;
            const char *type = kinds[i].keytype ? kinds[i].keytype
                                                : oid_keytype(der, (size_t)der_len);
            pkey = run_decoder(der, (size_t)der_len, "DER", kinds[i].structure, type, password);
        }
    }
    BIO_free(bio);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(der, der_len > 0 ? (size_t)der_len : 0);
    ERR_clear_error();
    return pkey;
}

/* --- PEM files: one key block, parameter blocks skipped --- */

/* A "-----BEGIN label-----" ... "-----END label-----" block of a PEM file. */
struct pem_block {
    char label[MAX_PEM_LABEL];
    const unsigned char *text; /* from its BEGIN line to the end of its END line */
    size_t len;
};

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool pem_is_key(const char *label)
{
    return has_suffix(label, "PRIVATE KEY") || has_suffix(label, "PUBLIC KEY");
}

/* Copy the label of a BEGIN line (printable ASCII up to "-----"). */
static bool pem_label(char out[MAX_PEM_LABEL], const unsigned char *p, size_t n)
{
    const unsigned char *dashes = memmem(p, n, "-----", 5);
    size_t len = dashes ? (size_t)(dashes - p) : 0;
    if (len == 0 || len >= MAX_PEM_LABEL)
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return false;
    memcpy(out, p, len);
    out[len] = '\0';
    return true;
}

/* The end of the block that begins at data[start]: after its END line, or
 * the end of the data when that line is missing (a truncated file). */
static size_t pem_block_end(const unsigned char *data, size_t len, size_t start, const char *label)
{
    char end_line[MAX_PEM_LABEL + 16];
    int el = snprintf(end_line, sizeof end_line, "-----END %s-----", label);
    const unsigned char *end = memmem(data + start, len - start, end_line, (size_t)el);
    if (!end)
        return len;
    size_t stop = (size_t)(end - data) + (size_t)el;
    const unsigned char *nl = memchr(data + stop, '\n', len - stop);
    return nl ? (size_t)(nl - data) + 1 : len;
}

/* What a PEM file holds: its blocks whose BEGIN line starts a line. */
struct pem_scan {
    struct pem_block block[MAX_PEM_BLOCKS];
    size_t n;
    bool indented; /* a BEGIN line after blanks, which OpenSSL's PEM reader skips */
    bool too_many; /* more than MAX_PEM_BLOCKS blocks */
};

static void pem_scan(struct pem_scan *scan, const unsigned char *data, size_t len)
{
    static const char begin[] = "-----BEGIN ";
    const size_t bl = sizeof begin - 1;
    size_t pos = 0;
    memset(scan, 0, sizeof *scan);
    while (pos < len && !scan->too_many) {
        const unsigned char *line = data + pos, *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - line) : len - pos, blanks = 0;
        size_t next = pos + line_len + (nl ? 1 : 0);
        while (blanks < line_len && (line[blanks] == ' ' || line[blanks] == '\t'))
            blanks++;
        bool is_begin = line_len - blanks > bl && memcmp(line + blanks, begin, bl) == 0;
        struct pem_block *b = &scan->block[scan->n < MAX_PEM_BLOCKS ? scan->n : 0];
        if (is_begin && blanks) {
            scan->indented = true;
        } else if (is_begin && scan->n == MAX_PEM_BLOCKS) {
            scan->too_many = true;
        } else if (is_begin && pem_label(b->label, line + bl, line_len - bl)) {
            next = pem_block_end(data, len, next, b->label);
            b->text = line;
            b->len = next - pos;
            scan->n++;
        }
        pos = next;
    }
}

/* "A, B, C": the labels of the blocks, for an error message. */
static void pem_labels(char *out, size_t cap, const struct pem_scan *scan)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < scan->n && used < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", scan->block[i].label);
        used += w > 0 ? (size_t)w : 0;
    }
}

/* Choose the key block of a PEM file: exactly one block labelled ... KEY,
 * besides any parameter blocks (`openssl ecparam -genkey` writes EC
 * PARAMETERS before the EC PRIVATE KEY). A CSR, a certificate, parameters
 * alone or two keys are refused by name rather than half-read. *key is NULL
 * when no block was found at all: the decoder then judges the whole data. */
static int pem_key_block(const struct pem_block **key, const struct pem_scan *scan,
                         wsig_error *err)
{
    size_t keys = 0, others = 0;
    *key = NULL;
    for (size_t i = 0; i < scan->n; i++) {
        if (pem_is_key(scan->block[i].label))
            keys++, *key = &scan->block[i];
        else if (!has_suffix(scan->block[i].label, " PARAMETERS"))
            others++;
    }
    if (scan->too_many)
        return wsig__fail(err, WSIG_ERR_KEY, "more than %d PEM blocks: give a file with one key",
                          MAX_PEM_BLOCKS);
    if ((scan->n == 0 && !scan->indented) || (keys == 1 && others == 0))
        return WSIG_OK;
    *key = NULL;
    if (keys == 0 && scan->indented)
        return wsig__fail(err, WSIG_ERR_KEY, "the PEM is indented: its -----BEGIN and -----END "
                          "lines must start at the beginning of a line");
    char found[MAX_PEM_BLOCKS * (MAX_PEM_LABEL + 2)];
    pem_labels(found, sizeof found, scan);
    if (keys == 0)
        return wsig__fail(err, WSIG_ERR_KEY, "no private or public key in this PEM, only %s%s",
                          found, strstr(found, "CERTIFICATE") ? " (a certificate or certificate "
                                                                "request is not a key)" : "");
    return wsig__fail(err, WSIG_ERR_KEY, "this PEM holds %s: give a file with one key only", found);
}

static int decode_key(wsig_key **out, const unsigned char *data, size_t len, const char *type,
                      const char *password, wsig_error *err)
{
    wsig__reset(err);
    if (len == 0)
        return wsig__fail(err, WSIG_ERR_KEY, "empty key data");
    /* As for key files; it also keeps every length within OpenSSL's int. */
    if (len >= MAX_KEY_FILE)
        return wsig__fail(err, WSIG_ERR_KEY, "key data of %zu bytes: no key is that large", len);
    bool pem = strcmp(type, "PEM") == 0;
    if (pem) {
        struct pem_scan scan;
        const struct pem_block *key;
        pem_scan(&scan, data, len);
        int rc = pem_key_block(&key, &scan, err);
        if (rc != WSIG_OK)
            return rc;
        if (key) { /* the decoders below read the key's block only */
            data = key->text;
            len = key->len;
        }
    }
    EVP_PKEY *pkey = pem ? decode_pem_hinted(data, len, password)
                         : run_decoder(data, len, "DER", NULL, oid_keytype(data, len), password);
    if (!pkey) /* the slow path: every decoder OpenSSL has */
        pkey = run_decoder(data, len, type, NULL, NULL, password);
    if (!pkey) {
        bool encrypted = pem ? looks_encrypted(data, len) : false;
        ERR_clear_error();
        if (encrypted && !(password && *password))
            return wsig__fail(err, WSIG_ERR_PASSWORD, "the key is encrypted: a password is required");
        if (encrypted || (password && *password && !pem))
            return wsig__fail(err, WSIG_ERR_PASSWORD,
                              "cannot decrypt the key: wrong password or damaged key");
        return wsig__fail(err, WSIG_ERR_KEY, "not a readable %s private or public key "
                          "(truncated or garbage data?)", type);
    }
    ERR_clear_error();
    return key_from_pkey(out, pkey, err);
}

int wsig_key_load_pem(wsig_key **out, const char *pem, size_t pem_len, const char *password,
                      wsig_error *err)
{
    *out = NULL;
    return decode_key(out, (const unsigned char *)pem, pem_len, "PEM", password, err);
}

int wsig_key_load_der(wsig_key **out, const unsigned char *der, size_t der_len,
                      const char *password, wsig_error *err)
{
    *out = NULL;
    return decode_key(out, der, der_len, "DER", password, err);
}

static int read_file(const char *path, unsigned char **data, size_t *len, wsig_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return wsig__fail(err, WSIG_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    setvbuf(f, NULL, _IONBF, 0); /* no stdio buffer: it would be freed holding key bytes */
    unsigned char *buf = malloc(MAX_KEY_FILE);
    if (!buf) {
        fclose(f);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, MAX_KEY_FILE, f);
    bool too_big = n == MAX_KEY_FILE, failed = ferror(f);
    fclose(f);
    if (too_big || failed) {
        wsig_free_secret(buf, MAX_KEY_FILE);
        return wsig__fail(err, too_big ? WSIG_ERR_KEY : WSIG_ERR_IO,
                          too_big ? "%s is too large to be a key" : "cannot read %s", path);
    }
    *data = buf;
    *len = n;
    return WSIG_OK;
}

/* --- Key bytes of unknown form: PEM, DER or 64 hex digits (docs/protocols.md) --- */

enum key_form { FORM_NONE, FORM_PEM, FORM_DER, FORM_HEX };

/* The hex text of a secp256k1 private key as users keep it: an optional
 * "0x", then digits, then an optional line end ("\n" or "\r\n"). Narrows
 * (*p, *n) to the digits; returns whether only hex digits remain. */
static bool hex_text(const char **p, size_t *n)
{
    if (*n && (*p)[*n - 1] == '\n' && --*n && (*p)[*n - 1] == '\r')
        --*n;
    if (*n >= 2 && (*p)[0] == '0' && ((*p)[1] == 'x' || (*p)[1] == 'X'))
        *p += 2, *n -= 2;
    for (size_t i = 0; i < *n; i++)
        if (!strchr("0123456789abcdefABCDEF", (*p)[i]) || !(*p)[i])
            return false;
    return true;
}

/* A control byte no text (and no file path) holds; every DER key has some
 * (its tags 0x02, 0x03, 0x04, 0x06). */
static bool is_binary(const unsigned char *d, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((d[i] < 0x20 && d[i] != '\t' && d[i] != '\n' && d[i] != '\r') || d[i] == 0x7f)
            return true;
    return false;
}

/* The three forms cannot be confused: PEM has an armour line of dashes, DER
 * is binary (a key starts with an ASN.1 SEQUENCE, 0x30; EC parameters with
 * an OID: the decoder names either), hex is ASCII text of exactly 64 hex
 * digits. */
static enum key_form key_form(const unsigned char *d, size_t len)
{
    struct pem_scan scan;
    pem_scan(&scan, d, len);
    if (scan.n || scan.indented || scan.too_many)
        return FORM_PEM; /* decode_key names what is wrong with the blocks */
    const char *digits = (const char *)d;
    size_t n = len;
    if (hex_text(&digits, &n) && n == 64)
        return FORM_HEX;
    if (is_binary(d, len))
        return FORM_DER;
    return FORM_NONE;
}

/* Say what unrecognised key bytes (text, as binary is DER) look like,
 * never echoing them. */
static int unknown_form(const unsigned char *d, size_t len, wsig_error *err)
{
    const char *digits = (const char *)d;
    size_t n = len;
    if (len == 0)
        return wsig__fail(err, WSIG_ERR_KEY, "empty key data");
    if (hex_text(&digits, &n))
        return wsig__fail(err, WSIG_ERR_KEY, "key data is not PEM, DER or 64 hex digits: "
                          "it is %zu hex digits", n);
    const char *seen = memmem(d, len, "-----BEGIN", 10) ? "text whose -----BEGIN does not "
                                                          "start a line"
                                                        : "text without a PEM -----BEGIN line";
    return wsig__fail(err, WSIG_ERR_KEY, "key data is not PEM, DER or 64 hex digits: it is %s",
                      seen);
}

/* A secp256k1 private key from hex text (hex_text's form). */
static int hex_key(wsig_key **out, const char *text, size_t len, wsig_error *err)
{
    unsigned char seckey[32];
    if (!hex_text(&text, &len) || !wsig__hex_decode(seckey, 32, text, len))
        return wsig__fail(err, WSIG_ERR_KEY, "a secp256k1 private key is 64 hex digits");
    int rc = secp_key_from_scalar(out, seckey, err);
    OPENSSL_cleanse(seckey, sizeof seckey);
    return rc;
}

int wsig_key_load(wsig_key **out, const void *data, size_t len, const char *password,
                  wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    const unsigned char *d = data;
    switch (key_form(d, len)) {
    case FORM_PEM: return decode_key(out, d, len, "PEM", password, err);
    case FORM_DER: return decode_key(out, d, len, "DER", password, err);
    case FORM_HEX: return hex_key(out, data, len, err); /* hex is never encrypted */
    default: return unknown_form(d, len, err);
    }
}

int wsig_key_load_file(wsig_key **out, const char *path, const char *password, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    unsigned char *data = NULL;
    size_t len = 0;
    int rc = read_file(path, &data, &len, err);
    if (rc != WSIG_OK)
        return rc;
    rc = wsig_key_load(out, data, len, password, err);
    wsig_free_secret(data, MAX_KEY_FILE);
    return rc;
}

/* The longest run of characters a hex or Base64 key is written in ('/' and
 * '.' end a run: path separators and extensions are not key text). */
static size_t key_like_run(const char *s, size_t n)
{
    size_t best = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        bool key_char = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
                        (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '+' || s[i] == '=';
        run = key_char ? run + 1 : 0;
        best = run > best ? run : best;
    }
    return best;
}

/* Key text or a file path, as a binding's string argument may hold. Long
 * hex is refused rather than guessed: a file named by 64 hex digits must
 * never become a private key anyone who reads the name knows, and a
 * mistyped key must not be echoed back as a path in "cannot open". */
int wsig_key_load_source(wsig_key **out, const char *source, size_t len, const char *password,
                         wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    const unsigned char *d = (const unsigned char *)source;
    enum key_form form = key_form(d, len);
    if (form == FORM_PEM || form == FORM_DER)
        return wsig_key_load(out, source, len, password, err);
    const char *digits = source;
    size_t n = len;
    while (n && (*digits == ' ' || *digits == '\t'))
        digits++, n--;
    while (n && (digits[n - 1] == ' ' || digits[n - 1] == '\t'))
        n--;
    if (hex_text(&digits, &n) && n >= 32)
        return wsig__fail(err, WSIG_ERR_ARG, "%zu hex digits where key text or a file path is "
                          "expected: load a hex key with from_hex, or give a file so named as "
                          "./NAME", n);
    if (len == 0)
        return wsig__fail(err, WSIG_ERR_ARG, "empty key source: give key text or a file path");
    if (memchr(source, '\n', len) || memchr(source, '\r', len))
        return unknown_form(d, len, err); /* text with lines is no path */
    char *path = malloc(len + 1);
    if (!path)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    memcpy(path, source, len);
    path[len] = '\0';
    int rc = wsig_key_load_file(out, path, password, err);
    wsig_free_secret(path, len); /* it might have been a mangled key */
    /* Nor may the message show one ("cannot open <a mistyped key>: ..."):
     * a source with a long run of key-like characters loses its name. */
    if (rc == WSIG_ERR_IO && err && key_like_run(source, len) >= 32) {
        const char *why = strrchr(err->message, ':');
        char reason[128];
        snprintf(reason, sizeof reason, "%s", why ? why + 1 : " unreadable");
        wsig__fail(err, WSIG_ERR_IO, "cannot read the key file named by the source (%zu "
                   "characters, not shown: it may be a mistyped key):%s", len, reason);
    }
    return rc;
}

int wsig_key_from_hex(wsig_key **out, const char *hex, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    return hex_key(out, hex, strlen(hex), err);
}

int wsig_key_generate(wsig_key **out, int kind, int rsa_bits, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    if (kind == WSIG_KEY_SECP256K1) {
        unsigned char seckey[32];
        int rc = WSIG_ERR_CRYPTO;
        for (int tries = 0; tries < 8 && rc != WSIG_OK; tries++) {
            if (RAND_priv_bytes(seckey, sizeof seckey) != 1)
                return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "random generator failed");
            rc = secp_key_from_scalar(out, seckey, err);
        }
        OPENSSL_cleanse(seckey, sizeof seckey);
        return rc;
    }
    EVP_PKEY *pkey;
    if (kind == WSIG_KEY_P256) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    } else if (kind == WSIG_KEY_RSA) {
        if (rsa_bits == 0)
            rsa_bits = 4096;
        if (rsa_bits < MIN_RSA_BITS || rsa_bits > 16384)
            return wsig__fail(err, WSIG_ERR_ARG, "RSA size must be 2048..16384 bits");
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
    } else {
        return wsig__fail(err, WSIG_ERR_ARG, "unknown key kind %d", kind);
    }
    if (!pkey)
        return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "key generation failed");
    return key_from_pkey(out, pkey, err);
}

int wsig_key_kind_of(const wsig_key *key) { return key->kind; }
int wsig_key_bits(const wsig_key *key) { return key->bits; }
int wsig_key_is_private(const wsig_key *key) { return key->is_private; }

const char *wsig_key_algorithm(const wsig_key *key)
{
    switch (key->kind) {
    case WSIG_KEY_P256: return "ES256";
    case WSIG_KEY_RSA: return "RS256";
    default: return "ES256K";
    }
}

/* Copy a memory BIO's contents into a fresh NUL-terminated buffer. */
static int bio_take(BIO *bio, char **out, size_t *out_len, wsig_error *err)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *copy = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (!copy)
        return wsig__fail(err, n > 0 ? WSIG_ERR_NOMEM : WSIG_ERR_CRYPTO, "cannot produce PEM");
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    *out = copy;
    *out_len = (size_t)n;
    return WSIG_OK;
}

int wsig_key_private_pem(const wsig_key *key, char **out, size_t *out_len, const char *password,
                         wsig_error *err)
{
    *out = NULL;
    *out_len = 0;
    wsig__reset(err);
    if (!key->is_private)
        return wsig__fail(err, WSIG_ERR_KEY, "this is a public key: it has no private PEM");
    BIO *bio = BIO_new(BIO_s_secmem());
    if (!bio)
        return wsig__fail_ossl(err, WSIG_ERR_NOMEM, "out of memory");
    bool encrypt = password && *password;
    int ok = PEM_write_bio_PKCS8PrivateKey(bio, key->pkey, encrypt ? EVP_aes_256_cbc() : NULL,
                                           NULL, 0, NULL, encrypt ? (void *)password : NULL);
    int rc = ok ? bio_take(bio, out, out_len, err)
                : wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "cannot write private key");
    BIO_free(bio); /* a secmem BIO clears its buffer */
    return rc;
}

int wsig_key_public_pem(const wsig_key *key, char **out, size_t *out_len, wsig_error *err)
{
    *out = NULL;
    *out_len = 0;
    wsig__reset(err);
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return wsig__fail_ossl(err, WSIG_ERR_NOMEM, "out of memory");
    int rc = PEM_write_bio_PUBKEY(bio, key->pkey) ? bio_take(bio, out, out_len, err)
                                                  : wsig__fail_ossl(err, WSIG_ERR_CRYPTO,
                                                                    "cannot write public key");
    BIO_free(bio);
    return rc;
}

int wsig_key_save(const wsig_key *key, const char *path, const char *password, wsig_error *err)
{
    char *pem;
    size_t len;
    int rc = wsig_key_private_pem(key, &pem, &len, password, err);
    if (rc != WSIG_OK)
        return rc;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        wsig_free_secret(pem, len);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp); /* created 0600 */
    if (fd < 0) {
        rc = wsig__fail(err, WSIG_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    } else {
        bool ok = fchmod(fd, 0600) == 0 && write(fd, pem, len) == (ssize_t)len && fsync(fd) == 0;
        ok = (close(fd) == 0) && ok;
        if (!ok || rename(tmp, path) != 0) {
            rc = wsig__fail(err, WSIG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(tmp);
    wsig_free_secret(pem, len);
    return rc;
}

/* Parse "/C=MY/ST=State/CN=x" ('\' escapes) into an X509_NAME. */
static int parse_subject(X509_NAME *name, const char *subject, wsig_error *err)
{
    if (subject[0] != '/')
        return wsig__fail(err, WSIG_ERR_ARG, "subject must look like /C=MY/O=Org/CN=example.com");
    size_t n = strlen(subject);
    char *buf = malloc(n + 1);
    if (!buf)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    const char *p = subject + 1;
    int rc = WSIG_OK, entries = 0;
    while (*p && rc == WSIG_OK) {
        size_t o = 0, eq = 0;
        for (; *p && *p != '/'; p++) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '=' && !eq)
                eq = o + 1;
            buf[o++] = *p;
        }
        buf[o] = '\0';
        if (*p == '/')
            p++;
        if (!eq || eq == 1 || eq > o) {
            rc = wsig__fail(err, WSIG_ERR_ARG, "subject component '%s' is not KEY=VALUE", buf);
            break;
        }
        buf[eq - 1] = '\0';
        if (!X509_NAME_add_entry_by_txt(name, buf, MBSTRING_UTF8,
                                        (const unsigned char *)buf + eq, -1, -1, 0))
            rc = wsig__fail_ossl(err, WSIG_ERR_ARG, "bad subject field %s", buf);
        entries++;
    }
    free(buf);
    if (rc == WSIG_OK && entries == 0)
        rc = wsig__fail(err, WSIG_ERR_ARG, "empty subject");
    return rc;
}

int wsig_key_csr(const wsig_key *key, char **out, size_t *out_len, const char *subject,
                 wsig_error *err)
{
    *out = NULL;
    *out_len = 0;
    wsig__reset(err);
    if (!key->is_private || key->kind == WSIG_KEY_SECP256K1)
        return wsig__fail(err, WSIG_ERR_KEY, "a CSR needs a P-256 or RSA private key");
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = WSIG_ERR_NOMEM;
    if (!req || !name || !bio)
        goto done;
    if ((rc = parse_subject(name, subject, err)) != WSIG_OK)
        goto done;
    if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
        !X509_REQ_set_pubkey(req, key->pkey) || !X509_REQ_sign(req, key->pkey, EVP_sha256()) ||
        !PEM_write_bio_X509_REQ(bio, req)) {
        rc = wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "cannot make the CSR");
        goto done;
    }
    rc = bio_take(bio, out, out_len, err);
done:
    if (rc == WSIG_ERR_NOMEM && !*out)
        wsig__fail(err, rc, "out of memory");
    X509_REQ_free(req);
    X509_NAME_free(name);
    BIO_free(bio);
    return rc;
}

int wsig_key_address(const wsig_key *key, char out[WSIG_ADDRESS_SIZE], wsig_error *err)
{
    wsig__reset(err);
    if (key->kind != WSIG_KEY_SECP256K1)
        return wsig__fail(err, WSIG_ERR_KEY, "only secp256k1 keys have an Ethereum address");
    wsig__address_eip55(out, key->address);
    return WSIG_OK;
}
