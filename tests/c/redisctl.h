/* A private redis-server for the C tests that stop and start Redis on
 * purpose (tests/c/test_redis.c): 127.0.0.1, a free port (or a given one,
 * to come back where it was), a temporary directory, no persistence. Raw
 * commands go through hiredis directly, not through the code under test. */
#ifndef WSIG_REDISCTL_H
#define WSIG_REDISCTL_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct t_redis {
    pid_t pid;                /* 0 when not running */
    int port;
    char *dir;                /* t_tmpdir(), removed by t_redis_stop */
    char password[64];        /* "" = none (--requirepass) */
    char url[256];            /* redis://[:password@]127.0.0.1:PORT/0 */
} t_redis;

/* A TCP port on 127.0.0.1 nothing listens on right now. */
int t_free_port(void);
/* Start redis-server on port (0 = a free one), with requirepass when password
 * is non-NULL; waits until it answers PING (10 s). false (and why on stderr)
 * if it does not start. */
bool t_redis_start(t_redis *r, int port, const char *password);
/* SIGTERM and wait; the directory is removed unless keep_dir. Safe when not running. */
void t_redis_stop(t_redis *r, bool keep_dir);
/* One raw command (redisCommand's printf form) on a fresh connection to
 * url's host and port, after AUTH with password (NULL = none) and SELECT db.
 * Its reply as text (integer as decimal, nil as "(nil)", an error as "ERR ...")
 * into out; false when Redis cannot be reached. */
bool t_redis_raw(const char *host_port_url, const char *password, int db, char *out, size_t cap,
                 const char *fmt, ...);

#endif
