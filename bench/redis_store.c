/* Benchmark: a message verifier with the Redis replay store, against the
 * same verification with the in-memory cache plus one bare hiredis
 * `SET key 1 NX PX ttl` round trip to the same server (the least a shared
 * store can cost). Target (issue #13): ratio <= 1.1.
 *
 *   redis_store URL [--rounds N] [--per-round N]
 *
 * Every verification is of a new message (pre-signed, a distinct sequence
 * each), so each one reaches the store and is accepted. Rounds alternate
 * A (store), B (memory + bare SET), A, B, ...; wall time (the round trip is
 * waiting, not CPU); the median of the per-round ratios is printed in the
 * line format scripts/bench.sh's summary reads. */
#include "walletsign.h"
#include "stats.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_HEX "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
#define WINDOW_MS 3600000 /* the pre-signed messages stay fresh for the whole run */

static const char BODY[] = "{\"type\":\"deposit_status\",\"id\":\"d-1\",\"amount\":\"10.5\"}";

typedef struct {
    wsig_headers h;
    wsig_header_ref refs[8];
    size_t n;
} signed_msg;

static void die(const char *what, const wsig_error *err)
{
    fprintf(stderr, "redis_store: %s%s%s\n", what, err ? ": " : "", err ? err->message : "");
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static wsig_message_verifier *verifier(const char *address, wsig_replay_store *store)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_message_verifier *v = NULL;
    wsig_message_verifier_options o = {.window_ms = WINDOW_MS, .cache_size = 1000000,
                                       .replay_store = store};
    const char *trusted[] = {address};
    if (wsig_message_verifier_new(&v, trusted, 1, &o, &err) != WSIG_OK)
        die("verifier", &err);
    return v;
}

static void verify_or_die(wsig_message_verifier *v, signed_msg *m)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_message out;
    if (wsig_message_verify(v, &out, m->refs, m->n, BODY, sizeof BODY - 1, 0, &err) != WSIG_OK)
        die("verify", &err);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: redis_store URL [--rounds N] [--per-round N]", NULL);
    const char *url = argv[1];
    int rounds = 21, per_round = 150;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--per-round") == 0)
            per_round = atoi(argv[i + 1]);
    }
    if (rounds < 1 || rounds > STATS_MAX_ROUNDS || per_round < 1)
        die("bad --rounds or --per-round", NULL);

    wsig_error err = WSIG_ERROR_INIT;
    wsig_key *key = NULL;
    wsig_auth *auth = NULL;
    char address[WSIG_ADDRESS_SIZE];
    if (wsig_key_from_hex(&key, KEY_HEX, &err) != WSIG_OK ||
        wsig_auth_message_new(&auth, key, NULL, &err) != WSIG_OK ||
        wsig_auth_message_address(auth, address, &err) != WSIG_OK)
        die("signer", &err);
    wsig_key_free(key);

    /* One pool of messages; each side verifies every message once (+1 round
     * of each for the warm-up). */
    size_t total = (size_t)(rounds + 1) * (size_t)per_round;
    signed_msg *msgs = calloc(total, sizeof *msgs);
    if (!msgs)
        die("out of memory", NULL);
    for (size_t i = 0; i < total; i++) {
        if (wsig_auth_sign(auth, &msgs[i].h, "POST", "/cb", BODY, sizeof BODY - 1, 0, &err) != WSIG_OK)
            die("sign", &err);
        msgs[i].n = msgs[i].h.count;
        for (size_t k = 0; k < msgs[i].n; k++)
            msgs[i].refs[k] = (wsig_header_ref){msgs[i].h.h[k].name, msgs[i].h.h[k].value,
                                                msgs[i].h.h[k].name_len, msgs[i].h.h[k].value_len};
    }

    char prefix[64];
    snprintf(prefix, sizeof prefix, "bench:%lld:", (long long)time(NULL));
    wsig_redis_options ro = {.prefix = prefix, .timeout = 2};
    wsig_replay_store *store = NULL;
    if (wsig_replay_store_redis_new(&store, url, &ro, &err) != WSIG_OK)
        die("store", &err);
    wsig_message_verifier *with_store = verifier(address, store);
    wsig_message_verifier *with_memory = verifier(address, NULL);
    wsig_replay_store_free(store);

    /* The bare round trip: hiredis, its own connection to the same server. */
    char host[128];
    int port = 6379;
    if (sscanf(url, "redis://%127[^:/]:%d", host, &port) < 1)
        die("URL: expected redis://HOST:PORT[/db] for the bare connection", NULL);
    redisContext *bare = redisConnect(host, port);
    if (!bare || bare->err)
        die("bare hiredis connect", NULL);
    int64_t ttl = 2 * (int64_t)WINDOW_MS + 1000;

    size_t next_a = 0, next_b = 0;
    double ratios[STATS_MAX_ROUNDS], ta_sum = 0, tb_sum = 0;
    for (int r = -1; r < rounds; r++) { /* round -1: warm-up, not counted */
        double t0 = now_s();
        for (int i = 0; i < per_round; i++)
            verify_or_die(with_store, &msgs[next_a++]);
        double ta = now_s() - t0;
        t0 = now_s();
        for (int i = 0; i < per_round; i++) {
            char k[160];
            snprintf(k, sizeof k, "%sbare:%zu", prefix, next_b);
            verify_or_die(with_memory, &msgs[next_b++]);
            redisReply *rep = redisCommand(bare, "SET %s 1 NX PX %" PRId64, k, ttl);
            if (!rep || rep->type != REDIS_REPLY_STATUS)
                die("bare SET NX PX", NULL);
            freeReplyObject(rep);
        }
        double tb = now_s() - t0;
        if (r >= 0) {
            ratios[r] = ta / tb;
            ta_sum += ta;
            tb_sum += tb;
        }
    }
    double lo = ratios[0], hi = ratios[0];
    for (int r = 1; r < rounds; r++) {
        lo = ratios[r] < lo ? ratios[r] : lo;
        hi = ratios[r] > hi ? ratios[r] : hi;
    }
    double m = median(ratios, rounds), target = 1.10;
    double n = (double)rounds * per_round;
    printf("# redis_store: verify with the Redis replay store / (verify with the memory cache + one "
           "bare hiredis SET NX PX), wall time, median of %d interleaved rounds of %d\n",
           rounds, per_round);
    printf("%-26s walletsign %9.2f us  raw %9.2f us  ratio %5.3f  [%5.3f..%5.3f]  %2d x %d ops  "
           "target <= %.2f  %s\n",
           "verify_redis_store", ta_sum / n * 1e6, tb_sum / n * 1e6, m, lo, hi, rounds, per_round,
           target, m <= target ? "PASS" : "MISS");
    redisFree(bare);
    wsig_message_verifier_free(with_store);
    wsig_message_verifier_free(with_memory);
    wsig_auth_free(auth);
    free(msgs);
    return 0;
}
