/* Bounded replay cache of (address, session, sequence) for the message
 * verifier (message_verify.c); the HMAC verifier's opt-in cache (hmac.c) fills the
 * same key with a digest of (api key, MAC) and the timestamp. */
#ifndef WSIG_REPLAY_H
#define WSIG_REPLAY_H

#include "internal.h"

typedef struct wsig_replay_key {
    unsigned char address[20];
    uint64_t session;
    uint64_t sequence;
} wsig_replay_key;

typedef struct wsig_replay wsig_replay;

WSIG_LOCAL wsig_replay *wsig__replay_new(size_t capacity, int64_t window_ms);
WSIG_LOCAL void wsig__replay_free(wsig_replay *r);
/* Record key (message time ts_ms) unless already seen. Returns WSIG_OK,
 * or the reason: WSIG_REASON_REPLAY, or WSIG_REASON_STALE_TIMESTAMP when the
 * message is not newer than an entry that left the cache (evicted when full,
 * or expired at an earlier now_ms). */
WSIG_LOCAL int wsig__replay_add(wsig_replay *r, const wsig_replay_key *key, int64_t ts_ms,
                                int64_t now_ms);
/* Forget key (wsig_message_release): a later add of it is new again. A key
 * not in the cache is fine. */
WSIG_LOCAL void wsig__replay_remove(wsig_replay *r, const wsig_replay_key *key);

/* --- the shareable store (replay_store.c): the same reserve/release idea
 * kept outside the process, in Redis --- */
#include "redis.h"

/* What a store's answer to `SET key 1 NX PX ttl` means: "OK" = new (WSIG_OK),
 * nil = already reserved (WSIG_INVALID, reason replay), anything else =
 * WSIG_ERR_STORE. Separate from the I/O so that the fuzzer reaches it. */
WSIG_LOCAL int wsig__replay_store_decide(const wsig_redis_reply *reply, wsig_error *err);
/* One more reference (a verifier's); wsig_replay_store_free drops one. */
WSIG_LOCAL wsig_replay_store *wsig__replay_store_ref(wsig_replay_store *s);

#endif
