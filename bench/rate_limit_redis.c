/* Benchmark: a client query whose rate limit is a bucket in Redis, against
 * the same query without a limiter plus one bare hiredis EVALSHA of the same
 * script on the same key (the least a bucket shared through Redis can
 * cost: one script round trip). Target: ratio <= 1.1, i.e. the limiter adds
 * nothing of its own beyond that round trip.
 *
 *   rate_limit_redis BASE_URL REDIS_URL [--rounds N] [--per-round N]
 *
 * BASE_URL answers POST /query (scripts/bench.sh's nginx). The limiter's
 * rate and burst are high enough that no request ever waits: every query
 * runs the script once, as in production below the limit. Rounds alternate
 * A (limiter), B (no limiter + bare EVALSHA), A, B, ...; wall time (the
 * round trips are waiting, not CPU); the median of the per-round ratios is
 * printed in the line format scripts/bench.sh's summary reads. */
#include "walletsign.h"
#include "stats.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RATE "1000000" /* per second, and the burst: no request waits */

static void die(const char *what, const wsig_error *err)
{
    fprintf(stderr, "rate_limit_redis: %s%s%s\n", what, err ? ": " : "",
            err ? err->message : "");
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static wsig_client *client(const char *base_url, wsig_auth *auth, wsig_rate_limit *limit)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_client_options o = WSIG_CLIENT_OPTIONS_INIT;
    wsig_client *c = NULL;
    o.rate_limit = limit;
    if (!limit)
        o.rate = -1;
    if (wsig_client_new(&c, base_url, auth, &o, &err) != WSIG_OK)
        die("client", &err);
    return c;
}

static void query_or_die(wsig_client *c)
{
    wsig_error err = WSIG_ERROR_INIT;
    char *out = NULL;
    if (wsig_client_query(c, &out, "list_client_accounts", NULL, &err) != WSIG_OK)
        die("query", &err);
    wsig_free(out);
}

/* The bare side's script makes the same Redis commands as the core's
 * (docs/scale-out.md, "Rate limits"): TIME, HMGET, HSET and PEXPIRE on one
 * key, so Redis does the same work on both sides. */
static const char BARE_SCRIPT[] =
    "local now = redis.call('TIME')\n"
    "now = tonumber(now[1]) * 1000000 + tonumber(now[2])\n"
    "local b = redis.call('HMGET', KEYS[1], 't', 'ts')\n"
    "local tokens = math.min(1000000, (tonumber(b[1]) or 1000000) + 1) - 1\n"
    "redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'ts', "
    "string.format('%.0f', now))\n"
    "redis.call('PEXPIRE', KEYS[1], 2000)\n"
    "return 0\n";

int main(int argc, char **argv)
{
    if (argc < 3)
        die("usage: rate_limit_redis BASE_URL REDIS_URL [--rounds N] [--per-round N]", NULL);
    const char *base_url = argv[1], *url = argv[2];
    int rounds = 21, per_round = 200;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--per-round") == 0)
            per_round = atoi(argv[i + 1]);
    }
    if (rounds < 1 || rounds > STATS_MAX_ROUNDS || per_round < 1)
        die("bad --rounds or --per-round", NULL);

    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *auth = NULL;
    if (wsig_auth_hmac_new(&auth, "bench-api-key", "bench-secret", 12, NULL, &err) != WSIG_OK)
        die("auth", &err);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "bench:%lld:", (long long)time(NULL));
    wsig_redis_options ro = {.prefix = prefix, .timeout = 2};
    wsig_rate_limit *limit = NULL;
    if (wsig_rate_limit_redis_new(&limit, url, 1e6, 1e6, &ro, &err) != WSIG_OK)
        die("limiter", &err);
    wsig_client *limited = client(base_url, auth, limit);
    wsig_client *bare_client = client(base_url, auth, NULL);
    wsig_rate_limit_free(limit);

    /* The bare round trip: hiredis, its own connection, the same kind of
     * script (TIME, HMGET, HSET, PEXPIRE on one key) loaded once. */
    char host[128];
    int port = 6379;
    if (sscanf(url, "redis://%127[^:/]:%d", host, &port) < 1)
        die("URL: expected redis://HOST:PORT[/db] for the bare connection", NULL);
    redisContext *bare = redisConnect(host, port);
    if (!bare || bare->err)
        die("bare hiredis connect", NULL);
    redisReply *rep = redisCommand(bare, "SCRIPT LOAD %s", BARE_SCRIPT);
    if (!rep || rep->type != REDIS_REPLY_STRING)
        die("bare SCRIPT LOAD", NULL);
    char sha[64];
    snprintf(sha, sizeof sha, "%s", rep->str);
    freeReplyObject(rep);
    char bare_key[128];
    snprintf(bare_key, sizeof bare_key, "%sbare", prefix);

    double ratios[STATS_MAX_ROUNDS], ta_sum = 0, tb_sum = 0;
    for (int r = -1; r < rounds; r++) { /* round -1: warm-up, not counted */
        double t0 = now_s();
        for (int i = 0; i < per_round; i++)
            query_or_die(limited);
        double ta = now_s() - t0;
        t0 = now_s();
        for (int i = 0; i < per_round; i++) {
            query_or_die(bare_client);
            rep = redisCommand(bare, "EVALSHA %s 1 %s take %s %s 0", sha, bare_key, RATE, RATE);
            if (!rep || rep->type != REDIS_REPLY_INTEGER)
                die("bare EVALSHA", NULL);
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
    printf("# rate_limit_redis: query with the Redis rate limit / (query without a limiter + one "
           "bare hiredis EVALSHA of a script of the same commands), wall time, median of %d "
           "interleaved rounds of %d\n",
           rounds, per_round);
    printf("%-26s walletsign %9.2f us  raw %9.2f us  ratio %5.3f  [%5.3f..%5.3f]  %2d x %d ops  "
           "target <= %.2f  %s\n",
           "query_redis_rate_limit", ta_sum / n * 1e6, tb_sum / n * 1e6, m, lo, hi, rounds,
           per_round, target, m <= target ? "PASS" : "MISS");
    redisFree(bare);
    wsig_client_free(limited);
    wsig_client_free(bare_client);
    wsig_auth_free(auth);
    return 0;
}
