/* Rate limits (rate_limit.c): the token buckets a client takes a token from
 * before each attempt, so that it stays within the server's limit
 * (docs/protocols.md: 10 requests/s per key, bursts of 10). A bucket is
 * shared: by default by every client of the process that signs with the
 * same key at the same rate and burst (a process-wide registry), or by every
 * process using one Redis bucket (wsig_rate_limit_redis_new). */
#ifndef WSIG_RATE_LIMIT_H
#define WSIG_RATE_LIMIT_H

#include "internal.h"

/* The hex of an auth's hashed rate identity (wsig__auth_rate_identity), the
 * part of a store's key that names the bucket. */
#define WSIG_RATE_ID_SIZE 65

/* The limiter a new client uses: `given` (one more reference), else the
 * process-wide bucket of auth's identity at this rate and burst (made on
 * first use). id (WSIG_RATE_ID_SIZE) receives the identity's hex for the
 * calls below. Returns WSIG_OK; WSIG_ERR_NOMEM; WSIG_ERR_CRYPTO (hashing). */
WSIG_LOCAL int wsig__rate_limit_for_client(wsig_rate_limit **out, char *id,
                                           wsig_rate_limit *given, const wsig_auth *auth,
                                           double rate, double burst, wsig_error *err);

/* Take a token for one attempt. *wait = 0: taken, send now. 0 < *wait <=
 * max_wait: taken, send after *wait seconds (the wait is the caller's, outside
 * any lock; if it is cut short, give the token back with
 * wsig__rate_limit_refund). *wait > max_wait: nothing taken (the wait would
 * pass the call's deadline). Safe from any number of threads.
 * Returns WSIG_OK; WSIG_ERR_STORE (a store bucket could not be reached: fail
 * closed, nothing is sent). */
WSIG_LOCAL int wsig__rate_limit_take(wsig_rate_limit *l, const char *id, double max_wait,
                                     double *wait, wsig_error *err);

/* Give back a token taken for an attempt that never left (no connection, a
 * wait cut short): it cost the server nothing. Best effort for a store. */
WSIG_LOCAL void wsig__rate_limit_refund(wsig_rate_limit *l, const char *id);

/* An answer came back: the bucket's refill clock starts now if it has not
 * started yet. The server's bucket starts at the arrival of the first
 * request, so ours, starting at the first answer, never runs ahead of it.
 * A client calls this once, after its first answer. */
WSIG_LOCAL void wsig__rate_limit_answer_seen(wsig_rate_limit *l, const char *id);

#endif
