/* libFuzzer target: Redis replies as the replay store reads them. The bytes
 * go to hiredis's own reader (redisReader, what a connection uses), each
 * reply it yields through our copy (wsig__redis_reply_copy, csrc/redis.c)
 * and the store's decision on it (wsig__replay_store_decide,
 * csrc/replay_store.c). No server: the reading of replies is pure.
 *
 * Input layout: RESP bytes, as a server would send them (any number of
 * replies, possibly cut short).
 *
 * Properties: the copy is NUL-terminated and typed; only +OK is "new", only
 * a nil is "replay", everything else fails closed (WSIG_ERR_STORE, reason
 * store_unavailable); an integer array's first elements are copied as given.
 */
#include "fuzz_common.h"
#include "replay.h"

#include <hiredis/hiredis.h>

static void check_one(const redisReply *r)
{
    wsig_redis_reply copy;
    bool known = wsig__redis_reply_copy(&copy, r);
    FZ_CHECK(known, "hiredis type %d not read", r->type);
    FZ_CHECK(memchr(copy.str, 0, sizeof copy.str) != NULL, "str not terminated");
    if (r->type == REDIS_REPLY_INTEGER)
        FZ_CHECK(copy.type == WSIG_REDIS_INTEGER && copy.integer == r->integer, "integer");
    if (r->type == REDIS_REPLY_ARRAY) {
        FZ_CHECK(copy.type == WSIG_REDIS_ARRAY && copy.n_elements == r->elements, "array length");
        for (size_t i = 0; i < r->elements && i < 4; i++)
            if (r->element[i]->type == REDIS_REPLY_INTEGER)
                FZ_CHECK(copy.elements[i] == r->element[i]->integer, "element %zu", i);
    }
    if (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR ||
        r->type == REDIS_REPLY_STRING) {
        size_t n = r->len < sizeof copy.str - 1 ? r->len : sizeof copy.str - 1;
        FZ_CHECK(memcmp(copy.str, r->str, n) == 0 && copy.len == r->len, "text not copied");
    }

    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig__replay_store_decide(&copy, &err);
    bool ok = r->type == REDIS_REPLY_STATUS && r->len == 2 && memcmp(r->str, "OK", 2) == 0;
    if (ok)
        FZ_CHECK(rc == WSIG_OK, "+OK gave %d", rc);
    else if (r->type == REDIS_REPLY_NIL)
        FZ_CHECK(rc == WSIG_INVALID && err.reason == WSIG_REASON_REPLAY, "nil gave %d", rc);
    else
        FZ_CHECK(rc == WSIG_ERR_STORE && err.reason == WSIG_REASON_STORE_UNAVAILABLE &&
                     (wsig_error_fields(&err) & WSIG_FIELD_REASON),
                 "type %d (%.*s) gave %d", r->type, r->str ? (int)(r->len > 40 ? 40 : r->len) : 0,
                 r->str ? r->str : "", rc);
    if (rc != WSIG_OK)
        fz_check_err(&err, rc);
    wsig_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *reader = redisReaderCreate();
    if (!reader)
        abort();
    wsig__redis_bound_reader(reader); /* as every connection's reader */
    if (redisReaderFeed(reader, (const char *)data, size) == REDIS_OK) {
        for (int i = 0; i < 64; i++) {
            void *reply = NULL;
            if (redisReaderGetReply(reader, &reply) != REDIS_OK || !reply)
                break;
            check_one(reply);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(reader);
    return 0;
}
