/* wsig_replay_store: the replay record kept outside the process, so every
 * worker and machine using one Redis refuses a replay (docs/protocols.md,
 * "Replay": one `SET key NX PX` per message; a store that cannot answer
 * fails closed). The verifier's in-memory cache (replay.c) is the other
 * keeper of the same reserve/release idea. */
#include "replay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wsig_replay_store {
    atomic_int refs;          /* the owner's, plus one per verifier using it */
    wsig_redis *redis;
};

/* prefix + key: the prefix is at most WSIG_REDIS_PREFIX_MAX bytes. */
#define FULL_KEY_SIZE (WSIG_REDIS_PREFIX_MAX + WSIG_REPLAY_KEY_SIZE)

int wsig_replay_store_redis_new(wsig_replay_store **out, const char *url,
                                const wsig_redis_options *opt, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    wsig_replay_store *s = calloc(1, sizeof *s);
    if (!s)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    int rc = wsig__redis_new(&s->redis, url, opt, err);
    if (rc != WSIG_OK) {
        free(s);
        return rc;
    }
    atomic_init(&s->refs, 1);
    *out = s;
    return WSIG_OK;
}

wsig_replay_store *wsig__replay_store_ref(wsig_replay_store *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

void wsig_replay_store_free(wsig_replay_store *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    wsig__redis_free(s->redis);
    free(s);
}

/* prefix + key into full; its length, or 0 for a key that is empty or too long. */
static size_t full_key(const wsig_replay_store *s, char full[FULL_KEY_SIZE], const char *key,
                       wsig_error *err)
{
    size_t n = strlen(key), p = wsig__redis_prefix_len(s->redis);
    if (n == 0 || n >= WSIG_REPLAY_KEY_SIZE) {
        wsig__fail(err, WSIG_ERR_ARG, "key must be 1..%d bytes", WSIG_REPLAY_KEY_SIZE - 1);
        return 0;
    }
    memcpy(full, wsig__redis_prefix(s->redis), p);
    memcpy(full + p, key, n + 1);
    return p + n;
}

int wsig__replay_store_decide(const wsig_redis_reply *reply, wsig_error *err)
{
    /* The whole text: "+OK\0..." is not OK (a copy stops at the NUL). */
    if (reply->type == WSIG_REDIS_STATUS && reply->len == 2 && strcmp(reply->str, "OK") == 0)
        return WSIG_OK;
    if (reply->type == WSIG_REDIS_NIL)
        return wsig__reject(err, WSIG_REASON_REPLAY, "message (session, sequence) already seen");
    if (reply->type == WSIG_REDIS_ERROR)
        return wsig__fail_store(err, "redis answered an error: %s", reply->str);
    /* Not a Redis SET answer (a proxy, another server): fail closed. */
    return wsig__fail_store(err, "redis answered SET NX with something other than OK or nil");
}

int wsig_replay_store_reserve(wsig_replay_store *s, const char *key, int64_t ttl_ms,
                              wsig_error *err)
{
    wsig__reset(err);
    if (ttl_ms < 1)
        return wsig__fail(err, WSIG_ERR_ARG, "ttl_ms must be at least 1");
    char full[FULL_KEY_SIZE], ttl[WSIG_DECIMAL_SIZE];
    size_t full_len = full_key(s, full, key, err);
    if (!full_len)
        return WSIG_ERR_ARG;
    int ttl_len = snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    const char *argv[6] = {"SET", full, "1", "NX", "PX", ttl};
    const size_t lens[6] = {3, full_len, 1, 2, 2, (size_t)ttl_len};
    wsig_redis_reply reply;
    int rc = wsig__redis_command(s->redis, &reply, 6, argv, lens, err);
    return rc == WSIG_OK ? wsig__replay_store_decide(&reply, err) : rc;
}

int wsig_replay_store_release(wsig_replay_store *s, const char *key, wsig_error *err)
{
    wsig__reset(err);
    char full[FULL_KEY_SIZE];
    size_t full_len = full_key(s, full, key, err);
    if (!full_len)
        return WSIG_ERR_ARG;
    const char *argv[2] = {"DEL", full};
    const size_t lens[2] = {3, full_len};
    wsig_redis_reply reply;
    int rc = wsig__redis_command(s->redis, &reply, 2, argv, lens, err);
    if (rc == WSIG_OK && reply.type != WSIG_REDIS_INTEGER)
        return wsig__fail_store(err, "redis answered DEL with something other than an integer");
    return rc;
}
