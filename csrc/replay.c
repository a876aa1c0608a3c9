/* A FIFO ring of entries plus an open-addressing index into it.
 * Memory is fixed at creation: capacity entries and 2*capacity slots. */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    wsig_replay_key key;
    int64_t ts_ms;
} entry;

struct wsig_replay {
    pthread_mutex_t lock;
    entry *ring;
    size_t cap, head, count;
    uint32_t *slots; /* ring index + 1; 0 = empty */
    size_t mask;
    int64_t window_ms;
    int64_t floor_ts; /* messages at or before this time can no longer be proven fresh:
                         the newest timestamp that left the cache, evicted or expired */
};

wsig_replay *wsig__replay_new(size_t capacity, int64_t window_ms)
{
    if (capacity == 0 || capacity > WSIG_MAX_CACHE_SIZE)
        return NULL;
    wsig_replay *r = calloc(1, sizeof *r);
    size_t nslots = 1;
    while (nslots < 2 * capacity)
        nslots <<= 1;
    if (!r || !(r->ring = calloc(capacity, sizeof *r->ring)) ||
        !(r->slots = calloc(nslots, sizeof *r->slots))) {
        wsig__replay_free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    r->cap = capacity;
    r->mask = nslots - 1;
    r->window_ms = window_ms;
    r->floor_ts = INT64_MIN;
    return r;
}

void wsig__replay_free(wsig_replay *r)
{
    if (!r)
        return;
    if (r->ring)
        pthread_mutex_destroy(&r->lock);
    free(r->ring);
    free(r->slots);
    free(r);
}

static size_t hash_key(const wsig_replay_key *k)
{
    /* FNV-1a: only messages with valid signatures from trusted senders reach
     * the cache, so adversarial collisions are not a concern. */
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)k;
    for (size_t i = 0; i < sizeof *k; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29));
}

static size_t find_slot(const wsig_replay *r, const wsig_replay_key *k, bool *found)
{
    size_t i = hash_key(k) & r->mask;
    for (; r->slots[i]; i = (i + 1) & r->mask)
        if (memcmp(&r->ring[r->slots[i] - 1].key, k, sizeof *k) == 0) {
            *found = true;
            return i;
        }
    *found = false;
    return i;
}

/* Remove slot i, shifting later members of its probe run back (no tombstones). */
static void delete_slot(wsig_replay *r, size_t i)
{
    size_t j = i;
    for (;;) {
        r->slots[i] = 0;
        for (;;) {
            j = (j + 1) & r->mask;
            if (!r->slots[j])
                return;
            size_t home = hash_key(&r->ring[r->slots[j] - 1].key) & r->mask;
            /* Move j back to i unless its home lies cyclically in (i, j]. */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        r->slots[i] = r->slots[j];
        i = j;
    }
}

static void pop_oldest(wsig_replay *r)
{
    entry *e = &r->ring[r->head];
    bool found;
    size_t slot = find_slot(r, &e->key, &found);
    /* Only if the index still points here: a removed key may have been
     * added again, at a newer place in the ring. */
    if (found && r->slots[slot] - 1 == r->head)
        delete_slot(r, slot);
    r->head = (r->head + 1) % r->cap;
    r->count--;
}

int wsig__replay_add(wsig_replay *r, const wsig_replay_key *key, int64_t ts_ms, int64_t now_ms)
{
    int rc = WSIG_OK;
    pthread_mutex_lock(&r->lock);
    /* Expired entries go, and so does the proof that they were seen: raise
     * the floor to their time, or a caller whose clock reads a little earlier
     * (another thread, a clock step back) would take them as fresh again. */
    while (r->count && r->ring[r->head].ts_ms + r->window_ms < now_ms) {
        if (r->ring[r->head].ts_ms > r->floor_ts)
            r->floor_ts = r->ring[r->head].ts_ms;
        pop_oldest(r);
    }
    bool found;
    size_t slot = find_slot(r, key, &found);
    if (found) {
        rc = WSIG_REASON_REPLAY;
    } else if (ts_ms <= r->floor_ts) {
        rc = WSIG_REASON_STALE_TIMESTAMP;
    } else {
        if (r->count == r->cap) {
            /* Full of live entries: evict the oldest, and refuse from now on
             * anything not newer than it, since its replay could not be seen. */
            if (r->ring[r->head].ts_ms > r->floor_ts)
                r->floor_ts = r->ring[r->head].ts_ms;
            pop_oldest(r);
            slot = find_slot(r, key, &found);
        }
        if (ts_ms <= r->floor_ts) {
            rc = WSIG_REASON_STALE_TIMESTAMP;
        } else {
            size_t idx = (r->head + r->count) % r->cap;
            r->ring[idx].key = *key;
            r->ring[idx].ts_ms = ts_ms;
            r->slots[slot] = (uint32_t)idx + 1;
            r->count++;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* The ring keeps the entry (it leaves with its time, raising the floor as
 * any other); only the index forgets it. */
void wsig__replay_remove(wsig_replay *r, const wsig_replay_key *key)
{
    pthread_mutex_lock(&r->lock);
    bool found;
    size_t slot = find_slot(r, key, &found);
    if (found)
        delete_slot(r, slot);
    pthread_mutex_unlock(&r->lock);
}
