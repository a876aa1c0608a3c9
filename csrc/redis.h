/* One Redis connection of the core (hiredis), for the replay store
 * (replay_store.c) and the rate limits: parsed from a URL, connected lazily,
 * reconnected after any failure, used under its own mutex. hiredis stays in
 * redis.c: this header names only a forward-declared struct redisReply. */
#ifndef WSIG_REDIS_H
#define WSIG_REDIS_H

#include "internal.h"

#include <stddef.h>

typedef struct wsig_redis wsig_redis;
struct redisReply;

/* A parsed redis:// URL (wsig__redis_parse_url). password is wiped by
 * wsig__redis_url_clear. */
typedef struct wsig_redis_url {
    char host[256];
    int port;
    int db;
    char username[256];
    char password[512];
    bool has_password;
} wsig_redis_url;

/* Parse redis://[[username]:password@]host[:port][/db] into *u. WSIG_OK or
 * WSIG_ERR_ARG with a message that never holds the password (nor the URL). */
WSIG_LOCAL int wsig__redis_parse_url(wsig_redis_url *u, const char *url, wsig_error *err);
WSIG_LOCAL void wsig__redis_url_clear(wsig_redis_url *u);

/* Parses the URL and checks the options; does not connect. */
WSIG_LOCAL int wsig__redis_new(wsig_redis **out, const char *url, const wsig_redis_options *opt,
                               wsig_error *err);
WSIG_LOCAL void wsig__redis_free(wsig_redis *r);
WSIG_LOCAL const char *wsig__redis_prefix(const wsig_redis *r);
WSIG_LOCAL size_t wsig__redis_prefix_len(const wsig_redis *r);

enum {
    WSIG_REDIS_STATUS = 1,
    WSIG_REDIS_ERROR,
    WSIG_REDIS_INTEGER,
    WSIG_REDIS_NIL,
    WSIG_REDIS_STRING,
    WSIG_REDIS_ARRAY,
};

/* Our view of one reply, copied out of hiredis's, so that the reading of
 * replies is ours, small, and fuzzable without a server. */
typedef struct wsig_redis_reply {
    int type;            /* WSIG_REDIS_*; 0 for a reply of a type we do not know */
    long long integer;
    char str[128];       /* status/error/string text, truncated, NUL-terminated */
    size_t len;          /* the text's whole length (a NUL inside or a cut shows here) */
    size_t n_elements;   /* _ARRAY: its length; up to 4 integer elements are in elements[] */
    long long elements[4];
} wsig_redis_reply;

/* Copy hiredis's reply r (NULL: none) into *out. Returns false for a reply
 * we cannot read (NULL, an unknown type). */
/* Make reader refuse array replies longer than our commands ever get (hiredis
 * 0.14 would allocate the announced count up front): what every connection's
 * reader uses, and the fuzz target's. */
struct redisReader;
WSIG_LOCAL void wsig__redis_bound_reader(struct redisReader *reader);
WSIG_LOCAL bool wsig__redis_reply_copy(wsig_redis_reply *out, const struct redisReply *r);

/* Run one command (argv form; argvlen NULL = strlen of each) under the
 * lock, connecting first if needed.
 * WSIG_OK with *reply filled; any failure (connect, AUTH, SELECT, timeout,
 * I/O, an error reply) is WSIG_ERR_STORE (reason store_unavailable, the
 * cause in the message, never the password) and drops the connection so the
 * next call reconnects. An error reply is still copied to *reply (a caller
 * may look for NOSCRIPT). */
WSIG_LOCAL int wsig__redis_command(wsig_redis *r, wsig_redis_reply *reply, int argc,
                                   const char **argv, const size_t *argvlen, wsig_error *err);

#endif
