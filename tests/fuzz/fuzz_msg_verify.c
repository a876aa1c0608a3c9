/* libFuzzer target: X-Message-* verification (wsig_message_verify), including
 * every signature encoding and the replay cache.
 *
 * Input layout:
 *   byte 0       flags: bits 0-1 digest (0 sha256, 1 keccak256, 2 eip191,
 *                3 sha256); bit 2 verify twice; bit 3 lower-case header
 *                names; bits 4-6 header to leave out (0-4; 5-7 none);
 *                bit 7 sequence mode (below).
 *   byte 1       replay cache: bits 0-5 size - 1; bit 6 no replay cache;
 *                bit 7 also send a second X-Message-Timestamp ("0")
 *   bytes 2-9    now_ms, little endian, masked to 42 bits (0 = clock)
 *   bytes 10-13  window_ms mod (WSIG_MAX_WINDOW_MS + 2) (0 = default 60000;
 *                0xffffffff = INT64_MAX; beyond the maximum must be refused)
 *   fields       address, timestamp, session, sequence, signature (each
 *                NUL-terminated), then the body (the rest, verbatim)
 *
 * The verifier trusts every address of tests/vectors/message.json.
 * Properties: status OK or INVALID with a message reason; an accepted message
 * has a trusted address, a timestamp inside the window, a 64/65-byte hex
 * signature, no duplicated header, and out fields equal to the headers;
 * verifying it again is a replay.
 *
 * Sequence mode (bit 7): after the 14 header bytes come 5-byte records
 * [op, session, sequence, dt (int8, x 250 ms), advance (x 250 ms)]. Each
 * record signs a message with the docs/protocols.md key (wsig_message_sign_fixed)
 * or, when op bit 0 is set, re-sends the last message signed; all go through
 * one verifier with a small replay cache. Model checks: no message (session,
 * sequence, timestamp: the signed content) is ever accepted twice, not even
 * after its cache entry was evicted; an accepted message is inside the window;
 * and a message whose (session, sequence) was never accepted, that is fresh
 * and newer than everything accepted so far, is accepted.
 */
#include "fuzz_common.h"

static wsig_auth *g_signers[3];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    wsig_key *k = NULL;
    if (wsig_key_from_hex(&k, FZ_SECP_PRIVATE_HEX, NULL) != WSIG_OK)
        abort();
    for (int d = 0; d < 3; d++) {
        wsig_message_options o = WSIG_MESSAGE_OPTIONS_INIT;
        o.digest = d;
        if (wsig_auth_message_new(&g_signers[d], k, &o, NULL) != WSIG_OK)
            abort();
    }
    wsig_key_free(k);
    return 0;
}

static const char *const NAMES[5] = {"X-Message-Address", "X-Message-Timestamp", "X-Message-Session",
                                     "X-Message-Sequence", "X-Message-Signature"};
static const char *const LOWER[5] = {"x-message-address", "x-message-timestamp", "x-message-session",
                                     "x-message-sequence", "x-message-signature"};

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

static bool trusted(const char *addr)
{
    for (size_t i = 0; i < FZ_N_TRUSTED; i++)
        if (strcasecmp(addr, FZ_TRUSTED_ADDRESSES[i]) == 0 ||
            (strncmp(addr, "0X", 2) == 0 && strcasecmp(addr + 2, FZ_TRUSTED_ADDRESSES[i] + 2) == 0))
            return true;
    return false;
}

static bool parse_dec(const char *s, uint64_t *v)
{
    size_t n = strlen(s);
    if (n == 0 || n > 20)
        return false;
    unsigned __int128 x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (unsigned)(s[i] - '0');
    }
    if (x > UINT64_MAX)
        return false;
    *v = (uint64_t)x;
    return true;
}

/* NULL when the window is beyond WSIG_MAX_WINDOW_MS, which must be refused. */
static wsig_message_verifier *make_verifier(int digest, uint8_t cache, int64_t window)
{
    wsig_message_verifier_options o = {window, (size_t)(cache & 63) + 1, (cache & 64) ? 1 : 0, digest};
    wsig_message_verifier *v = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_message_verifier_new(&v, FZ_TRUSTED_ADDRESSES, FZ_N_TRUSTED, &o, &err);
    if (window > WSIG_MAX_WINDOW_MS)
        FZ_CHECK(rc == WSIG_ERR_ARG && !v, "window %lld accepted", (long long)window);
    else
        FZ_CHECK(rc == WSIG_OK, "verifier: %s", err.message);
    return v;
}

static void check_result(int rc, const wsig_error *err)
{
    fz_check_err(err, rc);
    FZ_CHECK(rc == WSIG_OK || rc == WSIG_INVALID, "unexpected status %s: %s", wsig_status_name(rc),
             err->message);
    if (rc == WSIG_INVALID)
        FZ_CHECK(err->reason >= WSIG_REASON_BAD_SIGNATURE && err->reason <= WSIG_REASON_MISSING_HEADER,
                 "reason %s", wsig_reason_name(err->reason));
}

/* 0xffffffff is INT64_MAX (must be refused); the rest wraps to 0..max + 1. */
static int64_t window_of(uint32_t w)
{
    return w == 0xffffffffu ? INT64_MAX : (int64_t)(w % (WSIG_MAX_WINDOW_MS + 2));
}

/* ---- single message ---------------------------------------------------- */

static void one_message(uint8_t flags, uint8_t cache, int64_t now_ms, int64_t window, fz_t *f)
{
    char *val[5];
    for (int i = 0; i < 5; i++)
        val[i] = fz_str(f, NULL);
    size_t body_len;
    uint8_t *body = fz_rest(f, &body_len);
    int digest = (flags & 3) == 3 ? 0 : flags & 3;
    int drop = (flags >> 4) & 7;
    wsig_header_ref h[6];
    size_t n = 0;
    for (int i = 0; i < 5; i++)
        if (i != drop)
            h[n++] = (wsig_header_ref){(flags & 8) ? LOWER[i] : NAMES[i], val[i]};
    bool dup = cache & 128;
    if (dup)
        h[n++] = (wsig_header_ref){(flags & 8) ? NAMES[1] : LOWER[1], "0"};

    wsig_message_verifier *v = make_verifier(digest, cache, window);
    if (!v)
        goto out;
    wsig_message out;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_message_verify(v, &out, h, n, body, body_len, now_ms, &err);
    check_result(rc, &err);
    if (rc == WSIG_OK) {
        uint64_t ts, ses, seq;
        FZ_CHECK(drop > 4, "accepted without header %d", drop);
        FZ_CHECK(!dup, "accepted with X-Message-Timestamp twice");
        FZ_CHECK(trusted(val[0]), "untrusted address %s accepted", val[0]);
        FZ_CHECK(strcasecmp(out.address + 2, val[0] + 2) == 0, "out.address %s for %s", out.address, val[0]);
        FZ_CHECK(parse_dec(val[1], &ts) && parse_dec(val[2], &ses) && parse_dec(val[3], &seq),
                 "non-decimal timestamp/session/sequence accepted");
        FZ_CHECK(out.timestamp_ms == (int64_t)ts && out.session_id == ses && out.sequence_no == seq,
                 "out fields differ from the headers");
        int64_t now = now_ms > 0 ? now_ms : out.timestamp_ms;
        __int128 skew = (__int128)ts - now, w = window ? window : 60000;
        FZ_CHECK(now_ms <= 0 || (skew <= w && skew >= -w), "timestamp outside the window accepted");
        const char *sig = val[4];
        if (sig[0] == '0' && (sig[1] == 'x' || sig[1] == 'X'))
            sig += 2;
        size_t sl = strlen(sig);
        FZ_CHECK((sl == 128 || sl == 130) && is_hex(sig, sl), "signature %s accepted", val[4]);
        if (flags & 4) {
            int rc2 = wsig_message_verify(v, &out, h, n, body, body_len, now_ms, &err);
            check_result(rc2, &err);
            if (!(cache & 64))
                FZ_CHECK(rc2 == WSIG_INVALID && err.reason == WSIG_REASON_REPLAY,
                         "second delivery not a replay: %s %s", wsig_status_name(rc2),
                         wsig_reason_name(err.reason));
        }
    }
    wsig_error_clear(&err);
    wsig_message_verifier_free(v);
out:
    for (int i = 0; i < 5; i++)
        free(val[i]);
    free(body);
}

/* ---- sequence mode: the replay cache against a model --------------------- */

#define MAX_RECORDS 48
#define BASE_MS 1730998051892LL

static void sequence(uint8_t flags, uint8_t cache, int64_t window, fz_t *f)
{
    int digest = (flags & 3) == 3 ? 0 : flags & 3;
    if (!window)
        window = 60000;
    wsig_message_verifier *v = make_verifier(digest, cache & 15, window); /* always with a cache */
    if (!v)
        return;
    static uint8_t accepted[65536 / 8];   /* (session, sequence) ever accepted */
    memset(accepted, 0, sizeof accepted);
    struct { uint16_t key; int64_t ts; } done[MAX_RECORDS]; /* messages accepted */
    int n_done = 0;
    int64_t now = BASE_MS, max_accepted_ts = INT64_MIN;
    wsig_headers last;
    uint16_t last_key = 0;
    int64_t last_ts = 0;
    bool have_last = false;
    for (int r = 0; r < MAX_RECORDS && f->n >= 5; r++) {
        uint8_t op = fz_u8(f), ses = fz_u8(f), seq = fz_u8(f);
        int8_t dt = (int8_t)fz_u8(f);
        uint8_t adv = fz_u8(f);
        now += (int64_t)adv * 250;
        wsig_headers hs;
        uint16_t key;
        int64_t ts;
        wsig_error err = WSIG_ERROR_INIT;
        if ((op & 1) && have_last) {
            hs = last;
            key = last_key;
            ts = last_ts;
        } else {
            key = (uint16_t)((ses & 3) << 8 | seq);
            ts = now + (int64_t)dt * 250;
            int rc = wsig_message_sign_fixed(g_signers[digest], &hs, ses & 3, seq, NULL, 0, ts, &err);
            FZ_CHECK(rc == WSIG_OK, "harness: signing failed: %s", err.message);
            last = hs;
            last_key = key;
            last_ts = ts;
            have_last = true;
        }
        wsig_header_ref h[WSIG_MAX_HEADERS];
        for (size_t i = 0; i < hs.count; i++)
            h[i] = (wsig_header_ref){hs.h[i].name, hs.h[i].value};
        wsig_message out;
        int rc = wsig_message_verify(v, &out, h, hs.count, NULL, 0, now, &err);
        check_result(rc, &err);
        bool seen = accepted[key / 8] & (1u << (key % 8));
        __int128 skew = (__int128)ts - now;
        bool fresh = skew <= window && skew >= -(__int128)window;
        if (rc == WSIG_OK) {
            for (int i = 0; i < n_done; i++)
                FZ_CHECK(done[i].key != key || done[i].ts != ts,
                         "replay accepted: session %u sequence %u ts %lld (record %d)", key >> 8,
                         key & 255, (long long)ts, r);
            FZ_CHECK(fresh, "stale message accepted (record %d)", r);
            done[n_done].key = key;
            done[n_done++].ts = ts;
            accepted[key / 8] |= (uint8_t)(1u << (key % 8));
            if (ts > max_accepted_ts)
                max_accepted_ts = ts;
        } else if (!seen && fresh && ts > max_accepted_ts) {
            FZ_CHECK(0, "new, fresh, newest message refused: %s (%s), record %d",
                     wsig_reason_name(err.reason), err.message, r);
        }
        wsig_error_clear(&err);
    }
    wsig_message_verifier_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t f = fz_init(data, size);
    uint8_t flags = fz_u8(&f), cache = fz_u8(&f);
    int64_t now_ms = (int64_t)(fz_u64(&f) & ((1ULL << 42) - 1));
    int64_t window = window_of(fz_u32(&f));
    if (flags & 128)
        sequence(flags, cache, window, &f);
    else
        one_message(flags, cache, now_ms, window, &f);
    return 0;
}
