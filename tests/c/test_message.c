/* message: Keccak-256, every known answer of message.json signed and
 * verified, the negative cases, tampering, windows, replay cache, Snowflake
 * sessions, threads and fork(). */
#include "testlib.h"
#include "walletsign.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SNOWFLAKE_EPOCH_MS 1577836800000ULL

static const char *const MSG_NAMES[5] = {"X-Message-Address", "X-Message-Timestamp",
                                         "X-Message-Session", "X-Message-Sequence",
                                         "X-Message-Signature"};

static int digest_of(const char *name)
{
    if (t_streq(name, "keccak256"))
        return WSIG_DIGEST_KECCAK256;
    if (t_streq(name, "eip191"))
        return WSIG_DIGEST_EIP191;
    return WSIG_DIGEST_SHA256;
}

static int encoding_of(const char *name)
{
    if (t_streq(name, "der_hex"))
        return WSIG_MESSAGE_DER_HEX;
    if (t_streq(name, "der_base64"))
        return WSIG_MESSAGE_DER_BASE64;
    return WSIG_MESSAGE_RSV;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool reason_is(const wsig_error *err, const char *name)
{
    return strcmp(wsig_reason_name(err->reason), name) == 0;
}

/* wsig_headers -> header refs (same order, same names). */
static size_t refs_of(wsig_header_ref *refs, const wsig_headers *h)
{
    for (size_t i = 0; i < h->count; i++)
        refs[i] = (wsig_header_ref){h->h[i].name, h->h[i].value};
    return h->count;
}

static wsig_message_verifier *make_verifier(const char *trusted, int64_t window, size_t cache,
                                        int no_cache, int digest)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_message_verifier *v = NULL;
    wsig_message_verifier_options o = {.window_ms = window, .cache_size = cache,
                                   .no_replay_cache = no_cache, .digest = digest};
    const char *list[1] = {trusted};
    int rc = wsig_message_verifier_new(&v, list, trusted ? 1 : 0, &o, &err);
    CHECK(rc == WSIG_OK && v, "msg_verifier_new: %s", err.message);
    return v;
}

/* ------------------------------------------------------------------ */

static void test_keccak_vectors(cJSON *v)
{
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "keccak"))
    {
        size_t len = 0;
        unsigned char *in = t_hex_alloc(t_str(c, "input_hex"), &len);
        unsigned char out[32];
        memset(out, 0, sizeof out);
        wsig_keccak256(out, len ? (const void *)in : (const void *)"", len);
        char *hex = t_hex_str(out, 32);
        CHECK(t_streq(hex, t_str(c, "digest_hex")), "keccak256(%zu bytes) = %s, want %s", len, hex,
              t_str(c, "digest_hex"));
        free(hex);
        free(in);
        n++;
    }
    CHECK(n >= 25, "only %d keccak vectors", n);
}

void test_keccak(void)
{
    cJSON *v = t_vectors("message.json");
    if (!v)
        return;
    test_keccak_vectors(v);
    /* Not SHA3-256: the empty input differs from a7ffc6f8bf1ed766... */
    unsigned char out[32];
    wsig_keccak256(out, "", 0);
    char *hex = t_hex_str(out, 32);
    CHECK(t_streq(hex, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
          "keccak256('') = %s", hex);
    free(hex);
    cJSON_Delete(v);
}

/* ------------------------------------------------------------------ */
/* Known answers                                                      */

static void sign_case(const cJSON *c)
{
    const char *name = t_str(c, "name");
    const char *address = t_str(c, "address");
    const cJSON *headers = cJSON_GetObjectItem(c, "headers");
    const char *session = t_str(c, "session"), *sequence = t_str(c, "sequence");
    if (!name || !address || !headers || !session || !sequence) {
        CHECK(0, "message case %s lacks a field", name ? name : "?");
        return;
    }
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    int rc = wsig_key_from_hex(&key, t_str(c, "private_key_hex"), &err);
    CHECK(rc == WSIG_OK, "%s: from_hex: %s", name, err.message);
    if (rc)
        return;
    int digest = digest_of(t_str(c, "digest"));
    int encoding = encoding_of(t_str(c, "encoding"));
    wsig_message_options opt = WSIG_MESSAGE_OPTIONS_INIT;
    opt.digest = digest;
    opt.encoding = encoding;
    opt.v_offset = (int)t_num(c, "v_offset");
    opt.no_prefix = !cJSON_IsTrue(cJSON_GetObjectItem(c, "prefix"));
    opt.empty_body = t_streq(t_str(c, "empty_body"), "separator") ? WSIG_EMPTY_SEPARATOR
                                                                   : WSIG_EMPTY_OMIT;
    wsig_auth *auth = NULL;
    rc = wsig_auth_message_new(&auth, key, &opt, &err);
    wsig_key_free(key); /* the auth holds its own reference */
    CHECK(rc == WSIG_OK, "%s: message_new: %s", name, err.message);
    if (rc)
        return;
    char addr[WSIG_ADDRESS_SIZE] = "";
    rc = wsig_auth_message_address(auth, addr, &err);
    CHECK(rc == WSIG_OK && strcmp(addr, address) == 0, "%s: address %s", name, addr);
    size_t body_len = 0;
    unsigned char *body = t_body(c, &body_len);
    int64_t ts = (int64_t)t_num(c, "timestamp_ms");
    wsig_headers h;
    memset(&h, 0x5a, sizeof h);
    rc = wsig_message_sign_fixed(auth, &h, strtoull(session, NULL, 10),
                                 strtoull(sequence, NULL, 10), body, body_len, ts, &err);
    CHECK(rc == WSIG_OK && h.count == 5, "%s: sign_fixed: %s (count %zu)", name, err.message,
          h.count);
    if (rc == WSIG_OK && h.count == 5) {
        for (int i = 0; i < 5; i++) {
            CHECK(strcmp(h.h[i].name, MSG_NAMES[i]) == 0, "%s: header %d named %s", name, i,
                  h.h[i].name);
            CHECK(t_streq(h.h[i].value, t_str(headers, MSG_NAMES[i])), "%s: %s = %s, want %s",
                  name, MSG_NAMES[i], h.h[i].value, t_str(headers, MSG_NAMES[i]));
        }
        CHECK(t_streq(h.h[4].value, t_str(c, "signature")), "%s: signature", name);
    }
    wsig_auth_free(auth);

    /* Verify the vector's own headers. rsv verifies; DER is refused as malformed. */
    wsig_message_verifier *v = make_verifier(address, 0, 0, 0, digest);
    if (v) {
        wsig_header_ref refs[5];
        for (int i = 0; i < 5; i++)
            refs[i] = (wsig_header_ref){MSG_NAMES[i], t_str(headers, MSG_NAMES[i])};
        wsig_message m;
        rc = wsig_message_verify(v, &m, refs, 5, body, body_len, ts, &err);
        if (encoding == WSIG_MESSAGE_RSV) {
            CHECK(rc == WSIG_OK, "%s: verify: %s/%s (%s)", name, wsig_status_name(rc),
                  wsig_reason_name(err.reason), err.message);
            if (rc == WSIG_OK) {
                CHECK(strcmp(m.address, address) == 0 && strcmp(m.session, session) == 0 &&
                          strcmp(m.sequence, sequence) == 0 &&
                          m.session_id == strtoull(session, NULL, 10) &&
                          m.sequence_no == strtoull(sequence, NULL, 10) && m.timestamp_ms == ts,
                      "%s: verified message fields %s %s %s %" PRId64, name, m.address, m.session,
                      m.sequence, m.timestamp_ms);
            }
            /* Signed over one digest, checked under another: refused. */
            wsig_message_verifier *other = make_verifier(
                address, 0, 0, 1, digest == WSIG_DIGEST_SHA256 ? WSIG_DIGEST_KECCAK256
                                                               : WSIG_DIGEST_SHA256);
            if (other) {
                rc = wsig_message_verify(other, &m, refs, 5, body, body_len, ts, &err);
                CHECK(rc == WSIG_INVALID && reason_is(&err, "bad_signature"),
                      "%s: other digest: %s/%s", name, wsig_status_name(rc),
                      wsig_reason_name(err.reason));
            }
            wsig_message_verifier_free(other);
        } else {
            CHECK(rc == WSIG_INVALID && reason_is(&err, "malformed_header"),
                  "%s: DER signature given to the verifier: %s/%s", name, wsig_status_name(rc),
                  wsig_reason_name(err.reason));
        }
        wsig_message_verifier_free(v);
    }
    free(body);
    wsig_error_clear(&err);
}

static void negative_case(const cJSON *c)
{
    const char *name = t_str(c, "name");
    const cJSON *headers = cJSON_GetObjectItem(c, "headers");
    const cJSON *trusted = cJSON_GetObjectItem(c, "trusted");
    const cJSON *reason = cJSON_GetObjectItem(c, "expect_reason");
    if (!name || !headers || !cJSON_IsArray(trusted) || !reason) {
        CHECK(0, "message negative %s lacks a field", name ? name : "?");
        return;
    }
    size_t n_trusted = (size_t)cJSON_GetArraySize(trusted);
    const char **list = calloc(n_trusted + 1, sizeof *list);
    for (size_t i = 0; i < n_trusted; i++)
        list[i] = cJSON_GetArrayItem(trusted, (int)i)->valuestring;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_message_verifier_options o = {.window_ms = (int64_t)t_num(c, "window_ms"),
                                   .digest = digest_of(t_str(c, "digest"))};
    wsig_message_verifier *v = NULL;
    int rc = wsig_message_verifier_new(&v, list, n_trusted, &o, &err);
    free(list);
    CHECK(rc == WSIG_OK, "%s: verifier_new: %s", name, err.message);
    if (rc)
        return;
    wsig_header_ref refs[8];
    size_t n = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, headers)
    {
        if (n < 8)
            refs[n++] = (wsig_header_ref){h->string, h->valuestring};
    }
    size_t body_len = 0;
    unsigned char *body = t_body(c, &body_len);
    int64_t now = (int64_t)t_num(c, "now_ms");
    wsig_message m;
    if (cJSON_IsTrue(cJSON_GetObjectItem(c, "verify_twice"))) {
        rc = wsig_message_verify(v, &m, refs, n, body, body_len, now, &err);
        CHECK(rc == WSIG_OK, "%s: first verification: %s/%s (%s)", name, wsig_status_name(rc),
              wsig_reason_name(err.reason), err.message);
    }
    rc = wsig_message_verify(v, &m, refs, n, body, body_len, now, &err);
    if (cJSON_IsNull(reason))
        CHECK(rc == WSIG_OK, "%s: expected OK, got %s/%s (%s)", name, wsig_status_name(rc),
              wsig_reason_name(err.reason), err.message);
    else
        CHECK(rc == WSIG_INVALID && t_streq(wsig_reason_name(err.reason), reason->valuestring),
              "%s: expected %s, got %s/%s (%s)", name, reason->valuestring, wsig_status_name(rc),
              wsig_reason_name(err.reason), err.message);
    free(body);
    wsig_message_verifier_free(v);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* Tampering, trust and windows on the docs/protocols.md case        */

static void tamper_and_windows(const cJSON *c)
{
    const char *address = t_str(c, "address");
    const cJSON *headers = cJSON_GetObjectItem(c, "headers");
    size_t body_len = 0;
    unsigned char *body = t_body(c, &body_len);
    int64_t ts = (int64_t)t_num(c, "timestamp_ms");
    wsig_error err = WSIG_ERROR_INIT;
    wsig_message m;
    char values[5][WSIG_HEADER_VALUE_MAX];
    wsig_header_ref refs[5];
    for (int i = 0; i < 5; i++) {
        snprintf(values[i], sizeof values[i], "%s", t_str(headers, MSG_NAMES[i]));
        refs[i] = (wsig_header_ref){MSG_NAMES[i], values[i]};
    }
    wsig_message_verifier *v = make_verifier(address, 0, 0, 1, WSIG_DIGEST_SHA256);
    if (!v) {
        free(body);
        return;
    }
    int rc = wsig_message_verify(v, &m, refs, 5, body, body_len, ts, &err);
    CHECK(rc == WSIG_OK, "known answer verifies: %s", wsig_reason_name(err.reason));

    /* Every hex digit of the signature, one at a time. */
    char *sig = values[4];
    size_t n = strlen(sig);
    int rejected = 0, total = 0;
    for (size_t i = 2; i < n; i++) {
        char saved = sig[i];
        const char *hex = "0123456789abcdef";
        const char *p = strchr(hex, saved);
        sig[i] = p && p[1] ? p[1] : '0';
        rc = wsig_message_verify(v, &m, refs, 5, body, body_len, ts, &err);
        total++;
        if (rc == WSIG_INVALID && reason_is(&err, "bad_signature"))
            rejected++;
        else
            CHECK(0, "signature digit %zu tampered: %s/%s", i, wsig_status_name(rc),
                  wsig_reason_name(err.reason));
        sig[i] = saved;
    }
    CHECK(rejected == total && total == 130, "tampered signatures rejected %d/%d", rejected, total);

    /* Body: first, middle, last byte, and dropped. */
    if (body_len) {
        size_t pos[3] = {0, body_len / 2, body_len - 1};
        for (int k = 0; k < 3; k++) {
            body[pos[k]] ^= 0x20;
            rc = wsig_message_verify(v, &m, refs, 5, body, body_len, ts, &err);
            CHECK(rc == WSIG_INVALID && reason_is(&err, "bad_signature"),
                  "body byte %zu tampered: %s/%s", pos[k], wsig_status_name(rc),
                  wsig_reason_name(err.reason));
            body[pos[k]] ^= 0x20;
        }
        rc = wsig_message_verify(v, &m, refs, 5, NULL, 0, ts, &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "bad_signature"), "body dropped: %s",
              wsig_reason_name(err.reason));
    }

    /* Untrusted address: a verifier trusting someone else. */
    wsig_message_verifier *other = make_verifier("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf", 0, 0, 1,
                                             WSIG_DIGEST_SHA256);
    if (other) {
        rc = wsig_message_verify(other, &m, refs, 5, body, body_len, ts, &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "untrusted_address"), "untrusted: %s/%s",
              wsig_status_name(rc), wsig_reason_name(err.reason));
        wsig_message_verifier_free(other);
    }
    wsig_message_verifier *nobody = make_verifier(NULL, 0, 0, 1, WSIG_DIGEST_SHA256);
    if (nobody) {
        rc = wsig_message_verify(nobody, &m, refs, 5, body, body_len, ts, &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "untrusted_address"), "empty trust set: %s",
              wsig_reason_name(err.reason));
        wsig_message_verifier_free(nobody);
    }

    /* Windows: default 60 s and a custom 5 s, inclusive edges, +-(window + 1) stale. */
    static const int64_t windows[2][2] = {{0, 60000}, {5000, 5000}};
    for (int w = 0; w < 2; w++) {
        wsig_message_verifier *wv = make_verifier(address, windows[w][0], 0, 1, WSIG_DIGEST_SHA256);
        if (!wv)
            continue;
        int64_t win = windows[w][1];
        const int64_t fresh[] = {ts - win, ts + win, ts};
        for (int k = 0; k < 3; k++) {
            rc = wsig_message_verify(wv, &m, refs, 5, body, body_len, fresh[k], &err);
            CHECK(rc == WSIG_OK, "window %" PRId64 ": now = ts %+" PRId64 " refused: %s", win,
                  fresh[k] - ts, wsig_reason_name(err.reason));
        }
        const int64_t stale[] = {ts - win - 1, ts + win + 1};
        for (int k = 0; k < 2; k++) {
            rc = wsig_message_verify(wv, &m, refs, 5, body, body_len, stale[k], &err);
            CHECK(rc == WSIG_INVALID && reason_is(&err, "stale_timestamp"),
                  "window %" PRId64 ": now = ts %+" PRId64 ": %s/%s", win, stale[k] - ts,
                  wsig_status_name(rc), wsig_reason_name(err.reason));
        }
        wsig_message_verifier_free(wv);
    }

    /* With a replay cache: accepted once, then a replay, even with other header case. */
    wsig_message_verifier *rv = make_verifier(address, 0, 0, 0, WSIG_DIGEST_SHA256);
    if (rv) {
        rc = wsig_message_verify(rv, &m, refs, 5, body, body_len, ts, &err);
        CHECK(rc == WSIG_OK, "first delivery: %s", wsig_reason_name(err.reason));
        char lower[5][32];
        wsig_header_ref lrefs[5];
        for (int i = 0; i < 5; i++) {
            size_t j = 0;
            for (; MSG_NAMES[i][j]; j++)
                lower[i][j] = (char)(MSG_NAMES[i][j] | (MSG_NAMES[i][j] >= 'A' &&
                                                        MSG_NAMES[i][j] <= 'Z' ? 0x20 : 0));
            lower[i][j] = '\0';
            lrefs[i] = (wsig_header_ref){lower[i], values[i]};
        }
        rc = wsig_message_verify(rv, &m, lrefs, 5, body, body_len, ts + 10, &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "replay"), "second delivery: %s/%s",
              wsig_status_name(rc), wsig_reason_name(err.reason));
        wsig_message_verifier_free(rv);
    }
    wsig_message_verifier_free(v);
    free(body);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* Snowflake sessions                                                 */

static void snowflake_decode(uint64_t id, uint64_t *ms, unsigned *worker, unsigned *counter)
{
    *ms = (id >> 22) + SNOWFLAKE_EPOCH_MS;
    *worker = (unsigned)(id >> 12 & 0x3ff);
    *counter = (unsigned)(id & 0xfff);
}

static void test_snowflake(const cJSON *vec)
{
    const cJSON *s;
    int n = 0;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(vec, "snowflake"))
    {
        uint64_t ms;
        unsigned worker, counter;
        snowflake_decode(strtoull(t_str(s, "session"), NULL, 10), &ms, &worker, &counter);
        CHECK(ms == (uint64_t)t_num(s, "ms") && worker == (unsigned)t_num(s, "worker") &&
                  counter == (unsigned)t_num(s, "counter"),
              "snowflake %s decodes to %" PRIu64 "/%u/%u", t_str(s, "session"), ms, worker,
              counter);
        n++;
    }
    CHECK(n >= 5, "only %d snowflake vectors", n);

    /* A fresh signer's session has the same layout. */
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    int rc = wsig_key_generate(&key, WSIG_KEY_SECP256K1, 0, &err);
    CHECK(rc == WSIG_OK, "generate: %s", err.message);
    if (rc)
        return;
    char sessions[2][WSIG_DECIMAL_SIZE];
    for (int i = 0; i < 2; i++) {
        wsig_auth *auth = NULL;
        rc = wsig_auth_message_new(&auth, key, NULL, &err);
        CHECK(rc == WSIG_OK, "message_new: %s", err.message);
        if (rc)
            break;
        rc = wsig_auth_message_session(auth, sessions[i], &err);
        CHECK(rc == WSIG_OK, "session: %s", err.message);
        char *end = NULL;
        uint64_t id = strtoull(sessions[i], &end, 10);
        CHECK(end && *end == '\0' && sessions[i][0] >= '1' && sessions[i][0] <= '9',
              "session is not plain decimal: %s", sessions[i]);
        uint64_t ms;
        unsigned worker, counter;
        snowflake_decode(id, &ms, &worker, &counter);
        int64_t skew = (int64_t)ms - now_ms();
        CHECK(skew > -5000 && skew < 5000 && worker < 1024 && counter < 4096,
              "session %s: ms skew %" PRId64 ", worker %u", sessions[i], skew, worker);
        /* The header carries the same session; the sequence starts at 1. */
        wsig_headers h;
        rc = wsig_auth_sign(auth, &h, "POST", "/", "x", 1, 0, &err);
        CHECK(rc == WSIG_OK && t_streq(t_header(&h, "X-Message-Session"), sessions[i]) &&
                  t_streq(t_header(&h, "X-Message-Sequence"), "1"),
              "first message: session %s sequence %s", t_header(&h, "X-Message-Session"),
              t_header(&h, "X-Message-Sequence"));
        rc = wsig_auth_sign(auth, &h, "POST", "/", "x", 1, 0, &err);
        CHECK(rc == WSIG_OK && t_streq(t_header(&h, "X-Message-Sequence"), "2"),
              "second message: sequence %s", t_header(&h, "X-Message-Sequence"));
        wsig_auth_free(auth);
    }
    CHECK(strcmp(sessions[0], sessions[1]) != 0, "two signers share session %s", sessions[0]);
    wsig_key_free(key);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* Replay cache eviction                                              */

static void test_eviction(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    int rc = wsig_key_from_hex(&key, "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
                               &err);
    CHECK(rc == WSIG_OK, "from_hex: %s", err.message);
    wsig_auth *auth = NULL;
    if (rc == WSIG_OK)
        rc = wsig_auth_message_new(&auth, key, NULL, &err);
    wsig_key_free(key);
    CHECK(rc == WSIG_OK, "message_new: %s", err.message);
    if (rc)
        return;
    char addr[WSIG_ADDRESS_SIZE];
    rc = wsig_auth_message_address(auth, addr, &err);
    wsig_message_verifier *v = make_verifier(addr, 0, 4, 0, WSIG_DIGEST_SHA256);
    if (!v) {
        wsig_auth_free(auth);
        return;
    }
    const int64_t base = now_ms();
    wsig_headers sent[6];
    static const char body[] = "{\"type\":\"deposit_status\"}";
    for (int i = 0; i < 6; i++) {
        rc = wsig_auth_sign(auth, &sent[i], "POST", "/cb", body, strlen(body), base + i, &err);
        CHECK(rc == WSIG_OK, "sign %d: %s", i, err.message);
        wsig_header_ref refs[5];
        size_t n = refs_of(refs, &sent[i]);
        wsig_message m;
        rc = wsig_message_verify(v, &m, refs, n, body, strlen(body), base + i, &err);
        CHECK(rc == WSIG_OK, "distinct message %d refused: %s", i, wsig_reason_name(err.reason));
    }
    /* The first was evicted: it must still be refused, never accepted. */
    for (int i = 0; i < 6; i++) {
        wsig_header_ref refs[5];
        size_t n = refs_of(refs, &sent[i]);
        wsig_message m;
        rc = wsig_message_verify(v, &m, refs, n, body, strlen(body), base + 6, &err);
        CHECK(rc == WSIG_INVALID && (reason_is(&err, "replay") || reason_is(&err, "stale_timestamp")),
              "re-sent message %d: %s/%s", i, wsig_status_name(rc), wsig_reason_name(err.reason));
        if (i >= 2) /* still in the cache */
            CHECK(reason_is(&err, "replay"), "re-sent cached message %d: %s", i,
                  wsig_reason_name(err.reason));
    }
    /* A new message, newer than everything, is still accepted. */
    wsig_headers h;
    rc = wsig_auth_sign(auth, &h, "POST", "/cb", body, strlen(body), base + 7, &err);
    wsig_header_ref refs[5];
    size_t n = refs_of(refs, &h);
    wsig_message m;
    rc = wsig_message_verify(v, &m, refs, n, body, strlen(body), base + 7, &err);
    CHECK(rc == WSIG_OK, "fresh message after eviction: %s", wsig_reason_name(err.reason));
    wsig_message_verifier_free(v);
    wsig_auth_free(auth);
    wsig_error_clear(&err);
}

/* An entry that expired is not forgotten: verify X at T, let it expire with
 * Y at T + window + 1, then offer X again with a clock reading T + window
 * (inside X's window): it must be refused, never accepted. */
static void test_expiry_floor(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    wsig_auth *auth = NULL;
    int rc = wsig_key_from_hex(&key, "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
                               &err);
    if (rc == WSIG_OK)
        rc = wsig_auth_message_new(&auth, key, NULL, &err);
    wsig_key_free(key);
    CHECK(rc == WSIG_OK, "message auth: %s", err.message);
    char addr[WSIG_ADDRESS_SIZE];
    if (rc != WSIG_OK || wsig_auth_message_address(auth, addr, &err) != WSIG_OK) {
        wsig_auth_free(auth);
        return;
    }
    const int64_t window = 60000, t = now_ms();
    wsig_message_verifier *v = make_verifier(addr, window, 0, 0, WSIG_DIGEST_SHA256);
    static const char body[] = "{\"type\":\"deposit_status\"}";
    wsig_headers x, y;
    wsig_header_ref refs[5];
    wsig_message m;
    rc = wsig_auth_sign(auth, &x, "POST", "/cb", body, strlen(body), t, &err) |
         wsig_auth_sign(auth, &y, "POST", "/cb", body, strlen(body), t + window + 1, &err);
    CHECK(rc == WSIG_OK && v, "sign: %s", err.message);
    if (rc == WSIG_OK && v) {
        rc = wsig_message_verify(v, &m, refs, refs_of(refs, &x), body, strlen(body), t, &err);
        CHECK(rc == WSIG_OK, "X at T: %s", wsig_reason_name(err.reason));
        rc = wsig_message_verify(v, &m, refs, refs_of(refs, &y), body, strlen(body), t + window + 1,
                             &err);
        CHECK(rc == WSIG_OK, "Y at T + window + 1: %s", wsig_reason_name(err.reason));
        rc = wsig_message_verify(v, &m, refs, refs_of(refs, &x), body, strlen(body), t + window, &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "stale_timestamp"),
              "X replayed at T + window after it expired: %s/%s", wsig_status_name(rc),
              wsig_reason_name(err.reason));
        /* Y (newer than the floor) is still a replay, and a new message is fresh. */
        rc = wsig_message_verify(v, &m, refs, refs_of(refs, &y), body, strlen(body), t + window + 1,
                             &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "replay"), "Y again: %s",
              wsig_reason_name(err.reason));
    }
    wsig_message_verifier_free(v);
    wsig_auth_free(auth);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* Threads: one auth, 8 x 10,000 signatures                           */

#define N_THREADS 8
#define SAMPLES_PER_THREAD 25 /* 200 verified in all */

typedef struct {
    wsig_auth *auth;
    int index;
    int per_thread, sample_every;
    uint64_t *sessions;
    uint64_t *sequences;
    wsig_headers *samples; /* SAMPLES_PER_THREAD of them */
    char (*sample_bodies)[48];
    int failures;
} thread_job;

static void *signer_thread(void *arg)
{
    thread_job *job = arg;
    wsig_error err = WSIG_ERROR_INIT;
    wsig_headers h;
    char body[48];
    for (int i = 0; i < job->per_thread; i++) {
        int len = snprintf(body, sizeof body, "{\"thread\":%d,\"i\":%d}", job->index, i);
        if (wsig_auth_sign(job->auth, &h, "POST", "/t", body, (size_t)len, 0, &err) != WSIG_OK ||
            h.count != 5) {
            job->failures++;
            continue;
        }
        job->sessions[i] = strtoull(h.h[2].value, NULL, 10);
        job->sequences[i] = strtoull(h.h[3].value, NULL, 10);
        if (i % job->sample_every == 0 && i / job->sample_every < SAMPLES_PER_THREAD) {
            job->samples[i / job->sample_every] = h;
            memcpy(job->sample_bodies[i / job->sample_every], body, sizeof body);
        }
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_threads(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    int rc = wsig_key_generate(&key, WSIG_KEY_SECP256K1, 0, &err);
    wsig_auth *auth = NULL;
    if (rc == WSIG_OK)
        rc = wsig_auth_message_new(&auth, key, NULL, &err);
    wsig_key_free(key);
    CHECK(rc == WSIG_OK, "thread signer: %s", err.message);
    if (rc)
        return;
    /* 8 x 10,000 signatures (divided by WSIG_TEST_SCALE under valgrind). */
    const int per_thread = 10000 / t_scale() < 100 ? 100 : 10000 / t_scale();
    const int sample_every = per_thread / SAMPLES_PER_THREAD;
    const size_t total = (size_t)N_THREADS * (size_t)per_thread;
    uint64_t *sessions = calloc(total, sizeof *sessions);
    uint64_t *sequences = calloc(total, sizeof *sequences);
    const size_t n_samples = SAMPLES_PER_THREAD;
    wsig_headers *samples = calloc((size_t)N_THREADS * n_samples, sizeof *samples);
    char(*bodies)[48] = calloc((size_t)N_THREADS * n_samples, sizeof *bodies);
    thread_job jobs[N_THREADS];
    pthread_t tids[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        jobs[t] = (thread_job){auth, t, per_thread, sample_every,
                               sessions + (size_t)t * (size_t)per_thread,
                               sequences + (size_t)t * (size_t)per_thread,
                               samples + (size_t)t * n_samples, bodies + (size_t)t * n_samples, 0};
        CHECK(pthread_create(&tids[t], NULL, signer_thread, &jobs[t]) == 0, "pthread_create");
    }
    int failures = 0;
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(tids[t], NULL);
        failures += jobs[t].failures;
    }
    CHECK(failures == 0, "%d signatures failed", failures);
    /* One session (one process), and its sequences are exactly 1..80000. */
    char session[WSIG_DECIMAL_SIZE];
    rc = wsig_auth_message_session(auth, session, &err);
    uint64_t sid = strtoull(session, NULL, 10);
    size_t other_session = 0;
    for (size_t i = 0; i < total; i++)
        if (sessions[i] != sid)
            other_session++;
    CHECK(other_session == 0, "%zu signatures outside session %s", other_session, session);
    qsort(sequences, total, sizeof *sequences, cmp_u64);
    size_t wrong = 0;
    for (size_t i = 0; i < total; i++)
        if (sequences[i] != i + 1)
            wrong++;
    CHECK(wrong == 0, "sequences are not exactly 1..%zu (%zu misplaced; first %" PRIu64
                      ", last %" PRIu64 ")",
          total, wrong, sequences[0], sequences[total - 1]);
    /* A sample of 200 verifies (with the replay cache). */
    char addr[WSIG_ADDRESS_SIZE];
    rc = wsig_auth_message_address(auth, addr, &err);
    wsig_message_verifier *v = make_verifier(addr, 0, 0, 0, WSIG_DIGEST_SHA256);
    int ok = 0, n = 0;
    for (size_t i = 0; v && i < (size_t)N_THREADS * n_samples; i++) {
        wsig_header_ref refs[5];
        size_t nr = refs_of(refs, &samples[i]);
        wsig_message m;
        /* At its own timestamp: a slow run must not make early samples stale. */
        const char *ts = t_header(&samples[i], "X-Message-Timestamp");
        rc = wsig_message_verify(v, &m, refs, nr, bodies[i], strlen(bodies[i]),
                             ts ? strtoll(ts, NULL, 10) : 0, &err);
        n++;
        if (rc == WSIG_OK)
            ok++;
        else
            CHECK(0, "sample %zu: %s/%s", i, wsig_status_name(rc), wsig_reason_name(err.reason));
    }
    CHECK(n == 200 && ok == 200, "samples verified %d/%d", ok, n);
    wsig_message_verifier_free(v);
    free(sessions);
    free(sequences);
    free(samples);
    free(bodies);
    wsig_auth_free(auth);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* fork(): the child gets a new session starting at sequence 1        */

static void test_fork(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    int rc = wsig_key_generate(&key, WSIG_KEY_SECP256K1, 0, &err);
    wsig_auth *auth = NULL;
    if (rc == WSIG_OK)
        rc = wsig_auth_message_new(&auth, key, NULL, &err);
    wsig_key_free(key);
    CHECK(rc == WSIG_OK, "fork signer: %s", err.message);
    if (rc)
        return;
    static const char body[] = "{\"fork\":true}";
    wsig_headers parent1, parent2, child;
    rc = wsig_auth_sign(auth, &parent1, "POST", "/", body, strlen(body), 0, &err);
    CHECK(rc == WSIG_OK, "parent sign: %s", err.message);
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK(0, "pipe failed");
        wsig_auth_free(auth);
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        wsig_headers h;
        memset(&h, 0, sizeof h);
        wsig_error cerr = WSIG_ERROR_INIT;
        if (wsig_auth_sign(auth, &h, "POST", "/", body, strlen(body), 0, &cerr) != WSIG_OK)
            h.count = 0;
        const char *p = (const char *)&h;
        size_t left = sizeof h;
        while (left) {
            ssize_t w = write(fds[1], p, left);
            if (w <= 0)
                break;
            p += w;
            left -= (size_t)w;
        }
        close(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    CHECK(pid > 0, "fork failed");
    memset(&child, 0, sizeof child);
    size_t got = 0;
    char *p = (char *)&child;
    while (pid > 0 && got < sizeof child) {
        ssize_t r = read(fds[0], p + got, sizeof child - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fds[0]);
    if (pid > 0) {
        int status = 0;
        waitpid(pid, &status, 0);
        /* The child's result travels through the pipe; its exit code is not
         * checked (under valgrind it inherits the parent's error count). */
        CHECK(WIFEXITED(status), "child did not exit normally: status %d", status);
    }
    CHECK(got == sizeof child && child.count == 5, "child headers: %zu bytes, count %zu", got,
          child.count);
    rc = wsig_auth_sign(auth, &parent2, "POST", "/", body, strlen(body), 0, &err);
    CHECK(rc == WSIG_OK, "parent sign after fork: %s", err.message);
    if (child.count == 5) {
        const char *ps = t_header(&parent1, "X-Message-Session");
        const char *cs = t_header(&child, "X-Message-Session");
        CHECK(ps && cs && strcmp(ps, cs) != 0, "child reuses the parent's session %s", ps);
        CHECK(t_streq(t_header(&child, "X-Message-Sequence"), "1"), "child sequence %s",
              t_header(&child, "X-Message-Sequence"));
        CHECK(t_streq(t_header(&parent2, "X-Message-Session"), ps) &&
                  t_streq(t_header(&parent2, "X-Message-Sequence"), "2"),
              "parent after fork: %s/%s", t_header(&parent2, "X-Message-Session"),
              t_header(&parent2, "X-Message-Sequence"));
        /* All three are distinct messages a single verifier accepts. */
        char addr[WSIG_ADDRESS_SIZE];
        rc = wsig_auth_message_address(auth, addr, &err);
        wsig_message_verifier *v = make_verifier(addr, 0, 0, 0, WSIG_DIGEST_SHA256);
        const wsig_headers *all[3] = {&parent1, &child, &parent2};
        for (int i = 0; v && i < 3; i++) {
            wsig_header_ref refs[5];
            size_t n = refs_of(refs, all[i]);
            wsig_message m;
            rc = wsig_message_verify(v, &m, refs, n, body, strlen(body), 0, &err);
            CHECK(rc == WSIG_OK, "fork message %d: %s/%s", i, wsig_status_name(rc),
                  wsig_reason_name(err.reason));
        }
        wsig_message_verifier_free(v);
    }
    wsig_auth_free(auth);
    wsig_error_clear(&err);
}

/* ------------------------------------------------------------------ */
/* Header and option edge cases                                       */

static void test_message_edges(void)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *p256 = NULL;
    int rc = wsig_key_load_file(&p256, t_key_path("p256_sec1.pem"), NULL, &err);
    CHECK(rc == WSIG_OK, "load p256: %s", err.message);
    if (rc == WSIG_OK) {
        wsig_auth *auth = NULL;
        rc = wsig_auth_message_new(&auth, p256, NULL, &err);
        CHECK(rc == WSIG_ERR_KEY && !auth, "P-256 key for message: %s", wsig_status_name(rc));
        wsig_auth_free(auth);
    }
    wsig_key_free(p256);
    wsig_key *pub = NULL;
    rc = wsig_key_load_file(&pub, t_key_path("secp256k1_public.pem"), NULL, &err);
    CHECK(rc == WSIG_OK, "load secp256k1 public: %s", err.message);
    if (rc == WSIG_OK) {
        wsig_auth *auth = NULL;
        rc = wsig_auth_message_new(&auth, pub, NULL, &err);
        CHECK(rc == WSIG_ERR_KEY && !auth, "public key for message: %s", wsig_status_name(rc));
        wsig_auth_free(auth);
    }
    wsig_key_free(pub);
    wsig_key *key = NULL;
    rc = wsig_key_from_hex(&key, "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
                           &err);
    if (rc == WSIG_OK) {
        static const wsig_message_options bad[] = {
            {WSIG_DIGEST_SHA256, WSIG_MESSAGE_RSV, 28, 0, WSIG_EMPTY_OMIT},
            {WSIG_DIGEST_SHA256, WSIG_MESSAGE_RSV, 1, 0, WSIG_EMPTY_OMIT},
            {7, WSIG_MESSAGE_RSV, 27, 0, WSIG_EMPTY_OMIT},
            {WSIG_DIGEST_SHA256, 9, 27, 0, WSIG_EMPTY_OMIT},
            {WSIG_DIGEST_SHA256, WSIG_MESSAGE_RSV, 27, 0, 5},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            wsig_auth *auth = NULL;
            rc = wsig_auth_message_new(&auth, key, &bad[i], &err);
            CHECK(rc == WSIG_ERR_ARG && !auth, "bad message option %zu: %s", i,
                  wsig_status_name(rc));
            wsig_auth_free(auth);
        }
        /* An empty body is accepted in both prehash forms, and a body is not optional. */
        for (int form = 0; form < 2; form++) {
            wsig_message_options o = WSIG_MESSAGE_OPTIONS_INIT;
            o.empty_body = form ? WSIG_EMPTY_SEPARATOR : WSIG_EMPTY_OMIT;
            wsig_auth *auth = NULL;
            rc = wsig_auth_message_new(&auth, key, &o, &err);
            if (rc != WSIG_OK)
                continue;
            wsig_headers h;
            rc = wsig_auth_sign(auth, &h, "GET", "/deposit", NULL, 0, 0, &err);
            wsig_message_verifier *v =
                make_verifier("0x2c7536e3605d9c16a7a3d7b1898e529396a65c23", 0, 0, 1, 0);
            wsig_header_ref refs[5];
            size_t n = refs_of(refs, &h);
            wsig_message m;
            rc = v ? wsig_message_verify(v, &m, refs, n, NULL, 0, 0, &err) : -1;
            CHECK(rc == WSIG_OK, "empty body form %d: %s", form, wsig_reason_name(err.reason));
            rc = v ? wsig_message_verify(v, &m, refs, n, "{}", 2, 0, &err) : -1;
            CHECK(rc == WSIG_INVALID && reason_is(&err, "bad_signature"),
                  "empty-body signature with a body: %s", wsig_reason_name(err.reason));
            wsig_message_verifier_free(v);
            wsig_auth_free(auth);
        }
    }
    wsig_key_free(key);
    /* Trusted addresses must be 0x + 40 hex. */
    const char *bad_trust[] = {"0x1234"};
    wsig_message_verifier *v = NULL;
    rc = wsig_message_verifier_new(&v, bad_trust, 1, NULL, &err);
    CHECK(rc == WSIG_ERR_ARG && !v, "bad trusted address: %s", wsig_status_name(rc));
    wsig_message_verifier_free(v);
    wsig_error_clear(&err);
}

/* Each of the five headers, and an unrelated one, with a NUL and junk
 * inside its given length: malformed_header, never read cut short (refs
 * must verify as they are, so a cut copy would too). */
static void nul_in_headers(wsig_message_verifier *v, const wsig_header_ref refs[5],
                           const char *body)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_message m;
    for (int i = 0; i <= 5; i++) {
        wsig_header_ref h[6];
        memcpy(h, refs, 5 * sizeof *h);
        h[5] = (wsig_header_ref){"X-Other", "1"};
        char value[WSIG_HEADER_VALUE_MAX];
        int len = snprintf(value, sizeof value, "%s%cjunk", h[i].value, '\0');
        h[i].value = value;
        h[i].value_len = (size_t)len;
        int rc = wsig_message_verify(v, &m, h, 6, body, strlen(body), 1730998051892, &err);
        CHECK(rc == WSIG_INVALID && reason_is(&err, "malformed_header"), "NUL in %s: %s/%s",
              h[i].name, wsig_status_name(rc), wsig_reason_name(err.reason));
    }
    char name[32];
    int len = snprintf(name, sizeof name, "%s%c2", refs[4].name, '\0');
    wsig_header_ref h[5];
    memcpy(h, refs, sizeof h);
    h[4].name = name;
    h[4].name_len = (size_t)len;
    int rc = wsig_message_verify(v, &m, h, 5, body, strlen(body), 1730998051892, &err);
    CHECK(rc == WSIG_INVALID && reason_is(&err, "malformed_header"), "NUL in a name: %s/%s",
          wsig_status_name(rc), wsig_reason_name(err.reason));
    wsig_error_clear(&err);
}

/* Session and sequence come back as received: leading zeros are part of
 * the signed prehash (issue #11 item 6). A known answer made by
 * tests/reference/walletref.py (python-ecdsa). */
static void test_session_as_received(void)
{
    static const char body[] = "{\"type\":\"deposit_status\"}";
    const wsig_header_ref refs[5] = {
        {"X-Message-Address", "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"},
        {"X-Message-Timestamp", "1730998051892"},
        {"X-Message-Session", "0915000000000000001"},
        {"X-Message-Sequence", "007"},
        {"X-Message-Signature",
         "0xa0bca5869fcef11e0647d4f5631362f219a5134a2e4e529b52faf18fa6250f52051df2050f27b"
         "850f22c400575e226ad4c14c9001e270a7b6b34a47cade132361b"},
    };
    wsig_message_verifier *v = make_verifier(refs[0].value, 0, 0, 0, WSIG_DIGEST_SHA256);
    if (!v)
        return;
    nul_in_headers(v, refs, body);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_message m;
    int rc = wsig_message_verify(v, &m, refs, 5, body, strlen(body), 1730998051892, &err);
    CHECK(rc == WSIG_OK, "leading zeros verify: %s", wsig_reason_name(err.reason));
    CHECK(t_streq(m.session, "0915000000000000001") && t_streq(m.sequence, "007"),
          "session/sequence as received: %s/%s", m.session, m.sequence);
    CHECK(m.session_id == 915000000000000001ULL && m.sequence_no == 7, "numeric ids");
    /* An outside replay store keys on the numbers: "0915"/"007" is the
     * message "915"/"7", and its record outlives two windows. */
    char key[WSIG_REPLAY_KEY_SIZE];
    int64_t ttl = 0;
    rc = wsig_message_replay_key(v, &m, key, &ttl);
    CHECK(rc == WSIG_OK &&
              t_streq(key, "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23:915000000000000001:7") &&
              ttl == 2 * 60000 + 1000,
          "replay key %s, ttl %lld", key, (long long)ttl);
    wsig_message_verifier_free(v);
    wsig_error_clear(&err);
}

void test_message(void)
{
    cJSON *v = t_vectors("message.json");
    if (!v)
        return;
    int n = 0, neg = 0;
    const cJSON *c, *first = NULL;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "cases"))
    {
        if (!first)
            first = c;
        sign_case(c);
        n++;
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "verify_negative"))
    {
        negative_case(c);
        neg++;
    }
    CHECK(n >= 77 && neg >= 60, "message.json: %d cases, %d negative", n, neg);
    if (first)
        tamper_and_windows(first);
    test_snowflake(v);
    cJSON_Delete(v);
    test_eviction();
    test_expiry_floor();
    test_fork();
    test_message_edges();
    test_session_as_received();
}

void test_message_threads(void)
{
    test_threads();
}
