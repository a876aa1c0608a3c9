/* Verifying X-Message-* signed messages (requests and callbacks). */
#include "internal.h"
#include "replay.h"

#include <inttypes.h>
#include <secp256k1_recovery.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIGNATURE_TEXT 200

struct wsig_message_verifier {
    unsigned char (*trusted)[20]; /* sorted for bsearch */
    char (*trusted_eip55)[WSIG_ADDRESS_SIZE]; /* trusted[i] checksummed, made once */
    size_t n_trusted;
    int64_t window_ms;
    int digest;
    /* The replay record: at most one of the two; neither when the caller
     * keeps its own (no_replay_cache). */
    wsig_replay *replay;          /* in this process */
    wsig_replay_store *store;     /* shared (Redis); a reference of ours */
    atomic_int refs;              /* the owner's, plus one per client using it */
};

static int cmp20(const void *a, const void *b)
{
    return memcmp(a, b, 20);
}

/* "0x" + 40 hex digits, any case (the EIP-55 casing is not enforced).
 * The prefix is optional only in the caller's trusted list. */
static bool parse_address(unsigned char out[20], const char *s, bool prefix_required)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    else if (prefix_required)
        return false;
    return wsig__hex_decode(out, 20, s, strlen(s));
}

int wsig_message_verifier_new(wsig_message_verifier **out, const char *const *trusted, size_t n_trusted,
                          const wsig_message_verifier_options *opt, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    wsig_message_verifier_options defaults = {0};
    if (!opt)
        opt = &defaults;
    if (opt->window_ms < 0 || opt->window_ms > WSIG_MAX_WINDOW_MS)
        return wsig__fail(err, WSIG_ERR_ARG, "window_ms must be 1..%lld (0 = 60000)",
                          (long long)WSIG_MAX_WINDOW_MS);
    if (opt->cache_size > WSIG_MAX_CACHE_SIZE)
        return wsig__fail(err, WSIG_ERR_ARG, "cache_size must be 1..%zu (0 = 100000)",
                          (size_t)WSIG_MAX_CACHE_SIZE);
    if (!wsig_option_name(WSIG_OPTION_DIGEST, opt->digest))
        return wsig__fail(err, WSIG_ERR_ARG, "digest must be sha256, keccak256 or eip191");
    if (n_trusted && !trusted)
        return wsig__fail(err, WSIG_ERR_ARG, "trusted is NULL");
    /* Both asked for: a store the verifier would not use (no replay record
     * at all) is a mistake to report, not to carry out silently. */
    if (opt->no_replay_cache && opt->replay_store)
        return wsig__fail(err, WSIG_ERR_ARG,
                          "replay_store and no_replay_cache exclude each other (the store would be unused)");
    wsig_message_verifier *v = calloc(1, sizeof *v);
    if (!v || !(v->trusted = calloc(n_trusted ? n_trusted : 1, 20))) {
        free(v);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    atomic_init(&v->refs, 1);
    for (size_t i = 0; i < n_trusted; i++)
        if (!trusted[i] || !parse_address(v->trusted[i], trusted[i], false)) {
            wsig_message_verifier_free(v);
            return wsig__fail(err, WSIG_ERR_ARG, "trusted address %zu is not 0x + 40 hex digits", i);
        }
    qsort(v->trusted, n_trusted, 20, cmp20);
    v->n_trusted = n_trusted;
    if (!(v->trusted_eip55 = calloc(n_trusted ? n_trusted : 1, WSIG_ADDRESS_SIZE))) {
        wsig_message_verifier_free(v);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n_trusted; i++)
        wsig__address_eip55(v->trusted_eip55[i], v->trusted[i]);
    v->window_ms = opt->window_ms ? opt->window_ms : 60000;
    v->digest = opt->digest;
    if (!opt->no_replay_cache && opt->replay_store)
        v->store = wsig__replay_store_ref(opt->replay_store);
    else if (!opt->no_replay_cache &&
        !(v->replay = wsig__replay_new(opt->cache_size ? opt->cache_size : 100000, v->window_ms))) {
        wsig_message_verifier_free(v);
        return wsig__fail(err, WSIG_ERR_NOMEM, "cannot allocate the replay cache");
    }
    *out = v;
    return WSIG_OK;
}

int64_t wsig_message_verifier_window_ms(const wsig_message_verifier *v)
{
    return v->window_ms;
}

/* docs/protocols.md: the replay identity is (address, session, sequence), as
 * numbers, and an entry must outlive the message's freshness: a timestamp
 * up to one window in the future stays fresh until two windows from now. */
static void format_replay_key(char key[WSIG_REPLAY_KEY_SIZE], const char *eip55, uint64_t session,
                              uint64_t sequence)
{
    snprintf(key, WSIG_REPLAY_KEY_SIZE, "%s:%" PRIu64 ":%" PRIu64, eip55, session, sequence);
}

static int64_t replay_ttl_ms(const wsig_message_verifier *v)
{
    return 2 * v->window_ms + 1000;
}

int wsig_message_replay_key(const wsig_message_verifier *v, const wsig_message *m,
                            char key[WSIG_REPLAY_KEY_SIZE], int64_t *ttl_ms)
{
    format_replay_key(key, m->address, m->session_id, m->sequence_no);
    *ttl_ms = replay_ttl_ms(v);
    return WSIG_OK;
}

wsig_message_verifier *wsig__message_verifier_ref(wsig_message_verifier *v)
{
    atomic_fetch_add(&v->refs, 1);
    return v;
}

void wsig_message_verifier_free(wsig_message_verifier *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    wsig__replay_free(v->replay);
    wsig_replay_store_free(v->store);
    free(v->trusted);
    free(v->trusted_eip55);
    free(v);
}

/* A parsed X-Message-Signature: r||s plus the recovery ids worth trying. */
typedef struct {
    unsigned char rs[64];
    int recids[2];
    int n_recids;
} parsed_sig;

static int parse_signature(parsed_sig *ps, const char *text, wsig_error *err)
{
    if (strlen(text) > MAX_SIGNATURE_TEXT)
        return wsig__reject(err, WSIG_REASON_MALFORMED_HEADER, "signature too long");
    const char *hex = text;
    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2;
    size_t hn = strlen(hex);
    unsigned char bytes[MAX_SIGNATURE_TEXT];
    if (hn % 2 == 0 && wsig__hex_decode(bytes, hn / 2, hex, hn)) {
        if (hn == 130) {
            int v = bytes[64];
            if (v >= 27)
                v -= 27;
            if (v != 0 && v != 1)
                return wsig__reject(err, WSIG_REASON_BAD_SIGNATURE, "v must be 0, 1, 27 or 28");
            memcpy(ps->rs, bytes, 64);
            ps->recids[0] = v;
            ps->n_recids = 1;
            return WSIG_OK;
        }
        if (hn == 128) {
            memcpy(ps->rs, bytes, 64);
            ps->recids[0] = 0;
            ps->recids[1] = 1;
            ps->n_recids = 2;
            return WSIG_OK;
        }
    }
    /* DER is a signer option for other systems; verifiers take r||s[||v] only. */
    return wsig__reject(err, WSIG_REASON_MALFORMED_HEADER,
                        "signature is neither 65-byte r||s||v nor 64-byte r||s in hex");
}

/* Does the signature, over one of the digests, recover to addr? */
static int check_recovery(const parsed_sig *ps, unsigned char digests[][32], size_t n_digests,
                          const unsigned char addr[20], wsig_error *err)
{
    const secp256k1_context *ctx = wsig__secp();
    secp256k1_ecdsa_signature plain;
    if (!secp256k1_ecdsa_signature_parse_compact(ctx, &plain, ps->rs))
        return wsig__reject(err, WSIG_REASON_BAD_SIGNATURE, "r or s out of range");
    if (secp256k1_ecdsa_signature_normalize(ctx, NULL, &plain))
        return wsig__reject(err, WSIG_REASON_BAD_SIGNATURE, "high-S signature refused");
    for (size_t d = 0; d < n_digests; d++)
        for (int i = 0; i < ps->n_recids; i++) {
            secp256k1_ecdsa_recoverable_signature rsig;
            secp256k1_pubkey pub;
            unsigned char got[20];
            if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rsig, ps->rs, ps->recids[i]) ||
                !secp256k1_ecdsa_recover(ctx, &pub, &rsig, digests[d]))
                continue;
            wsig__pubkey_address(got, &pub);
            if (memcmp(got, addr, 20) == 0)
                return WSIG_OK;
        }
    wsig__secp_take_illegal();
    return wsig__reject(err, WSIG_REASON_BAD_SIGNATURE,
                        "signature does not recover to X-Message-Address");
}

typedef struct {
    const char *address, *timestamp, *session, *sequence, *signature;
} msg_headers;

static int find_headers(msg_headers *h, const wsig_header_ref *headers, size_t n, wsig_error *err)
{
    static const char *const names[5] = {"X-Message-Address", "X-Message-Timestamp",
                                         "X-Message-Session", "X-Message-Sequence",
                                         "X-Message-Signature"};
    const char **slots[5] = {&h->address, &h->timestamp, &h->session, &h->sequence, &h->signature};
    if (!wsig__header_refs_whole(headers, n))
        return wsig__reject(err, WSIG_REASON_MALFORMED_HEADER, "a header holds a NUL byte");
    bool dup = false;
    for (int i = 0; i < 5; i++)
        if (!(*slots[i] = wsig__find_unique_header(headers, n, names[i], &dup)))
            return wsig__reject(err, WSIG_REASON_MISSING_HEADER, "missing %s header", names[i]);
    if (dup)
        return wsig__reject(err, WSIG_REASON_MALFORMED_HEADER, "an X-Message-* header appears twice");
    return WSIG_OK;
}

static bool parse_u64_header(uint64_t *out, const char *s)
{
    return wsig__parse_u64(s, strlen(s), out);
}

static wsig_replay_key memory_key(const unsigned char addr[20], uint64_t session, uint64_t sequence)
{
    /* The cache hashes and compares whole keys: zero the padding too. */
    wsig_replay_key key;
    memset(&key, 0, sizeof key);
    memcpy(key.address, addr, 20);
    key.session = session;
    key.sequence = sequence;
    return key;
}

/* Record a verified message in the verifier's replay record, unless it is
 * already there. The message is inside the window (checked before): with a
 * store, whose TTL outlives that window, this is the whole of the in-memory
 * cache's floor rule (a message older than the window never reaches it). */
static int reserve(wsig_message_verifier *v, const unsigned char addr[20], const char *eip55,
                   uint64_t session, uint64_t sequence, int64_t ts, int64_t now, wsig_error *err)
{
    if (v->store) {
        char key[WSIG_REPLAY_KEY_SIZE];
        format_replay_key(key, eip55, session, sequence);
        return wsig_replay_store_reserve(v->store, key, replay_ttl_ms(v), err);
    }
    if (!v->replay)
        return WSIG_OK;
    wsig_replay_key key = memory_key(addr, session, sequence);
    int reason = wsig__replay_add(v->replay, &key, ts, now);
    if (reason == WSIG_REASON_REPLAY)
        return wsig__reject(err, reason, "message (session, sequence) already seen");
    if (reason)
        return wsig__reject(err, reason, "message older than the replay cache can vouch for");
    return WSIG_OK;
}

int wsig_message_release(wsig_message_verifier *v, const wsig_message *m, wsig_error *err)
{
    wsig__reset(err);
    if (!v->store && !v->replay)
        return wsig__fail(err, WSIG_ERR_ARG, "the verifier keeps no replay record (no_replay_cache)");
    unsigned char addr[20];
    if (!parse_address(addr, m->address, true))
        return wsig__fail(err, WSIG_ERR_ARG, "message address is not 0x + 40 hex digits");
    if (v->store) {
        char key[WSIG_REPLAY_KEY_SIZE], eip55[WSIG_ADDRESS_SIZE];
        wsig__address_eip55(eip55, addr); /* the key's form, whatever case m holds */
        format_replay_key(key, eip55, m->session_id, m->sequence_no);
        return wsig_replay_store_release(v->store, key, err);
    }
    wsig_replay_key key = memory_key(addr, m->session_id, m->sequence_no);
    wsig__replay_remove(v->replay, &key);
    return WSIG_OK;
}

int wsig_message_verify(wsig_message_verifier *v, wsig_message *out, const wsig_header_ref *headers,
                    size_t n_headers, const void *body, size_t body_len, int64_t now_ms,
                    wsig_error *err)
{
    wsig__reset(err);
    memset(out, 0, sizeof *out);
    if ((!headers && n_headers) || (!body && body_len))
        return wsig__fail(err, WSIG_ERR_ARG, "NULL headers or body with a length");
    if (wsig__check_time(now_ms, "now_ms", err) != WSIG_OK)
        return WSIG_ERR_ARG;
    msg_headers h;
    int rc = find_headers(&h, headers, n_headers, err);
    if (rc != WSIG_OK)
        return rc;
    unsigned char addr[20];
    uint64_t ts, session, sequence;
    parsed_sig ps;
    if (!parse_address(addr, h.address, true))
        return wsig__reject(err, WSIG_REASON_MALFORMED_HEADER, "X-Message-Address is not 0x + 40 hex");
    if (!parse_u64_header(&ts, h.timestamp) || ts > INT64_MAX ||
        !parse_u64_header(&session, h.session) || !parse_u64_header(&sequence, h.sequence))
        return wsig__reject(err, WSIG_REASON_MALFORMED_HEADER,
                            "timestamp, session and sequence must be decimal integers");
    if ((rc = parse_signature(&ps, h.signature, err)) != WSIG_OK)
        return rc;
    const unsigned char (*hit)[20] = bsearch(addr, v->trusted, v->n_trusted, 20, cmp20);
    if (!hit)
        return wsig__reject(err, WSIG_REASON_UNTRUSTED_ADDRESS, "sender address is not trusted");
    int64_t now = now_ms > 0 ? now_ms : wsig__now_ms();
    int64_t skew = (int64_t)ts - now;
    if (skew > v->window_ms || skew < -v->window_ms)
        return wsig__reject(err, WSIG_REASON_STALE_TIMESTAMP, "timestamp outside the %lld ms window",
                            (long long)v->window_ms);
    /* With no body both prehash forms are accepted ("BODY is optional"). */
    unsigned char digests[2][32];
    size_t n_digests = body_len ? 1 : 2;
    for (size_t i = 0; i < n_digests; i++)
        if (!wsig__message_digest(digests[i], v->digest, h.timestamp, h.session, h.sequence, body,
                                  body_len, i == 1))
            return wsig__fail_ossl(err, WSIG_ERR_CRYPTO, "digest failed");
    if ((rc = check_recovery(&ps, digests, n_digests, addr, err)) != WSIG_OK)
        return rc;
    const char *eip55 = v->trusted_eip55[hit - v->trusted];
    if ((rc = reserve(v, addr, eip55, session, sequence, (int64_t)ts, now, err)) != WSIG_OK)
        return rc;
    memcpy(out->address, eip55, WSIG_ADDRESS_SIZE);
    /* As received (docs/protocols.md: the prehash holds the header text, so
     * "0915" is what was signed, not "915"); parse_u64_header allowed at
     * most 20 digits, which fit. */
    snprintf(out->session, sizeof out->session, "%s", h.session);
    snprintf(out->sequence, sizeof out->sequence, "%s", h.sequence);
    out->session_id = session;
    out->sequence_no = sequence;
    out->timestamp_ms = (int64_t)ts;
    return WSIG_OK;
}
