/* Ethereum-address signed messages: X-Message-* headers over secp256k1. */
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <secp256k1_recovery.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNOWFLAKE_EPOCH_MS 1577836800000LL /* 2020-01-01T00:00:00Z */

/* ------------------------------------------------------------------ */
/* Snowflake sessions                                                 */

static pthread_mutex_t g_snow_lock = PTHREAD_MUTEX_INITIALIZER;
static long g_snow_pid;
static uint64_t g_snow_worker, g_snow_counter;

uint64_t wsig__snowflake(void)
{
    pthread_mutex_lock(&g_snow_lock);
    /* A forked child picks its own worker id and counter, so parent and
     * child never mint the same id in the same millisecond. */
    if (g_snow_pid != (long)getpid()) {
        unsigned char r[4] = {0};
        if (RAND_bytes(r, sizeof r) != 1)
            memcpy(r, &(long){getpid()}, sizeof r);
        g_snow_worker = ((uint64_t)r[0] << 8 | r[1]) & 0x3ff;
        g_snow_counter = ((uint64_t)r[2] << 8 | r[3]) & 0xfff;
        g_snow_pid = (long)getpid();
    }
    uint64_t counter = g_snow_counter++ & 0xfff;
    uint64_t worker = g_snow_worker;
    pthread_mutex_unlock(&g_snow_lock);
    uint64_t ms = (uint64_t)(wsig__now_ms() - SNOWFLAKE_EPOCH_MS) & ((1ULL << 41) - 1);
    return ms << 22 | worker << 12 | counter;
}

/* ------------------------------------------------------------------ */
/* Prehash and digest                                                 */

static bool keccak_concat(unsigned char out[32], const char *prefix, const wsig_piece *p, size_t n)
{
    size_t total = strlen(prefix);
    for (size_t i = 0; i < n; i++)
        total += p[i].n;
    unsigned char *buf = malloc(total ? total : 1);
    if (!buf)
        return false;
    size_t o = strlen(prefix);
    memcpy(buf, prefix, o);
    for (size_t i = 0; i < n; i++) {
        if (p[i].n)
            memcpy(buf + o, p[i].p, p[i].n);
        o += p[i].n;
    }
    wsig_keccak256(out, buf, total);
    free(buf);
    return true;
}

bool wsig__message_digest(unsigned char out[32], int digest, const char *ts, const char *session,
                          const char *sequence, const void *body, size_t body_len,
                          bool with_separator)
{
    wsig_piece p[] = {
        {ts, strlen(ts)}, {"#", 1}, {session, strlen(session)}, {"#", 1},
        {sequence, strlen(sequence)}, {"#", 1}, {body, body_len},
    };
    size_t n = (body_len || with_separator) ? 7 : 5;
    if (digest == WSIG_DIGEST_SHA256)
        return wsig__sha256_pieces(out, p, n);
    if (digest == WSIG_DIGEST_KECCAK256)
        return keccak_concat(out, "", p, n);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += p[i].n;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "\x19" "Ethereum Signed Message:\n%zu", len);
    return keccak_concat(out, prefix, p, n);
}

/* ------------------------------------------------------------------ */
/* Signer                                                             */

int wsig__message_auth_init(struct wsig_message_auth *a, const wsig_key *key,
                            const wsig_message_options *opt, wsig_error *err)
{
    static const wsig_message_options defaults = WSIG_MESSAGE_OPTIONS_INIT;
    if (!opt)
        opt = &defaults;
    if (key->kind != WSIG_KEY_SECP256K1 || !key->is_private)
        return wsig__fail(err, WSIG_ERR_KEY, "the message protocol needs a secp256k1 private key");
    if (!wsig_option_name(WSIG_OPTION_DIGEST, opt->digest))
        return wsig__fail(err, WSIG_ERR_ARG, "digest must be sha256, keccak256 or eip191");
    if (!wsig_option_name(WSIG_OPTION_MESSAGE_ENCODING, opt->encoding))
        return wsig__fail(err, WSIG_ERR_ARG, "encoding must be rsv, der_hex or der_base64");
    if (opt->v_offset != 0 && opt->v_offset != 27)
        return wsig__fail(err, WSIG_ERR_ARG, "v_offset must be 0 or 27");
    if (!wsig_option_name(WSIG_OPTION_EMPTY_BODY, opt->empty_body))
        return wsig__fail(err, WSIG_ERR_ARG, "empty_body must be omit or separator");
    if (!wsig__secp())
        return wsig__fail(err, WSIG_ERR_CRYPTO, "libsecp256k1 context unavailable");
    a->opt = *opt;
    a->key = wsig__key_ref(key);
    wsig__address_eip55(a->address, key->address);
    pthread_mutex_init(&a->lock, NULL);
    a->pid = (long)getpid();
    a->session = wsig__snowflake();
    a->sequence = 0;
    return WSIG_OK;
}

void wsig__message_auth_clear(struct wsig_message_auth *a)
{
    if (!a->key)
        return;
    pthread_mutex_destroy(&a->lock);
    wsig_key_free(a->key);
    a->key = NULL;
}

/* Lock the signer; a child after fork() starts its own session, so parent
 * and child never send the same (session, sequence). */
static void lock_session(struct wsig_message_auth *a)
{
    long pid = (long)getpid();
    pthread_mutex_lock(&a->lock);
    if (a->pid != pid) {
        a->pid = pid;
        a->session = wsig__snowflake();
        a->sequence = 0;
    }
}

static void next_sequence(struct wsig_message_auth *a, uint64_t *session, uint64_t *sequence)
{
    lock_session(a);
    *session = a->session;
    *sequence = ++a->sequence;
    pthread_mutex_unlock(&a->lock);
}

static int encode_signature(const struct wsig_message_auth *a, char *out,
                            const secp256k1_ecdsa_recoverable_signature *rsig, wsig_error *err)
{
    const secp256k1_context *ctx = wsig__secp();
    const char *prefix = a->opt.no_prefix ? "" : "0x";
    if (a->opt.encoding == WSIG_MESSAGE_RSV) {
        unsigned char rsv[65];
        int recid;
        secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, rsv, &recid, rsig);
        rsv[64] = (unsigned char)(recid + a->opt.v_offset);
        strcpy(out, prefix);
        wsig__hex_encode(out + strlen(prefix), rsv, 65);
        return WSIG_OK;
    }
    secp256k1_ecdsa_signature sig;
    unsigned char der[72];
    size_t der_len = sizeof der;
    if (!secp256k1_ecdsa_recoverable_signature_convert(ctx, &sig, rsig) ||
        !secp256k1_ecdsa_signature_serialize_der(ctx, der, &der_len, &sig))
        return wsig__fail(err, WSIG_ERR_CRYPTO, "cannot encode DER signature");
    if (a->opt.encoding == WSIG_MESSAGE_DER_BASE64) {
        wsig__b64_encode(out, der, der_len, false);
    } else {
        strcpy(out, prefix);
        wsig__hex_encode(out + strlen(prefix), der, der_len);
    }
    return WSIG_OK;
}

static int sign_with(struct wsig_message_auth *a, wsig_headers *out, uint64_t session,
                     uint64_t sequence, const void *body, size_t body_len, int64_t ts_ms,
                     wsig_error *err)
{
    char ts[WSIG_DECIMAL_SIZE], ses[WSIG_DECIMAL_SIZE], seq[WSIG_DECIMAL_SIZE], sig[160];
    snprintf(ts, sizeof ts, "%lld", (long long)(ts_ms > 0 ? ts_ms : wsig__now_ms()));
    snprintf(ses, sizeof ses, "%llu", (unsigned long long)session);
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)sequence);
    unsigned char digest[32];
    if (!wsig__message_digest(digest, a->opt.digest, ts, ses, seq, body, body_len,
                              a->opt.empty_body == WSIG_EMPTY_SEPARATOR))
        return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "digest failed");
    secp256k1_ecdsa_recoverable_signature rsig;
    /* NULL nonce function: RFC 6979; libsecp256k1 always emits low-S. */
    if (!secp256k1_ecdsa_sign_recoverable(wsig__secp(), &rsig, digest, a->key->seckey, NULL, NULL) ||
        wsig__secp_take_illegal())
        return wsig__fail(err, WSIG_ERR_CRYPTO, "secp256k1 signing failed");
    int rc = encode_signature(a, sig, &rsig, err);
    if (rc != WSIG_OK)
        return rc;
    if (!wsig__set_header(out, "X-Message-Address", a->address) ||
        !wsig__set_header(out, "X-Message-Timestamp", ts) ||
        !wsig__set_header(out, "X-Message-Session", ses) ||
        !wsig__set_header(out, "X-Message-Sequence", seq) ||
        !wsig__set_header(out, "X-Message-Signature", sig))
        return wsig__fail(err, WSIG_ERR_ARG, "too many headers");
    return WSIG_OK;
}

int wsig__message_sign_headers(struct wsig_message_auth *a, wsig_headers *out, const void *body,
                               size_t body_len, int64_t now_ms, wsig_error *err)
{
    uint64_t session, sequence;
    next_sequence(a, &session, &sequence);
    return sign_with(a, out, session, sequence, body, body_len, now_ms, err);
}

static struct wsig_message_auth *msg_of(const wsig_auth *auth, wsig_error *err)
{
    if (auth->kind != WSIG_AUTH_MESSAGE) {
        wsig__fail(err, WSIG_ERR_ARG, "not a message auth");
        return NULL;
    }
    return (struct wsig_message_auth *)&auth->u.msg;
}

int wsig_message_sign_fixed(wsig_auth *auth, wsig_headers *out, uint64_t session,
                            uint64_t sequence, const void *body, size_t body_len,
                            int64_t timestamp_ms, wsig_error *err)
{
    wsig__reset(err);
    out->count = 0;
    struct wsig_message_auth *a = msg_of(auth, err);
    if (!a)
        return WSIG_ERR_ARG;
    if (!body && body_len)
        return wsig__fail(err, WSIG_ERR_ARG, "body is NULL but body_len is not 0");
    if (wsig__check_time(timestamp_ms, "timestamp_ms", err) != WSIG_OK)
        return WSIG_ERR_ARG;
    return sign_with(a, out, session, sequence, body, body_len, timestamp_ms, err);
}

int wsig_auth_message_session(wsig_auth *auth, char out[WSIG_DECIMAL_SIZE], wsig_error *err)
{
    wsig__reset(err);
    struct wsig_message_auth *a = msg_of(auth, err);
    if (!a)
        return WSIG_ERR_ARG;
    lock_session(a);
    snprintf(out, WSIG_DECIMAL_SIZE, "%llu", (unsigned long long)a->session);
    pthread_mutex_unlock(&a->lock);
    return WSIG_OK;
}

int wsig_auth_message_address(const wsig_auth *auth, char out[WSIG_ADDRESS_SIZE], wsig_error *err)
{
    wsig__reset(err);
    const struct wsig_message_auth *a = msg_of(auth, err);
    if (!a)
        return WSIG_ERR_ARG;
    memcpy(out, a->address, WSIG_ADDRESS_SIZE);
    return WSIG_OK;
}
