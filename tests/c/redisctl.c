/* A private redis-server for the C tests (see redisctl.h). */
#include "redisctl.h"
#include "testlib.h"

#include <hiredis/hiredis.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int t_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool ping(int port, const char *password)
{
    char out[64];
    char url[64];
    snprintf(url, sizeof url, "127.0.0.1:%d", port);
    return t_redis_raw(url, password, 0, out, sizeof out, "PING") && strcmp(out, "PONG") == 0;
}

static bool start_on(t_redis *r, int port, const char *password);

/* A free port can be taken by another process before redis-server binds it
 * (other suites start servers at the same time): try a few. */
bool t_redis_start(t_redis *r, int port, const char *password)
{
    for (int attempt = 0; attempt < (port ? 1 : 3); attempt++)
        if (start_on(r, port, password))
            return true;
    return false;
}

static bool start_on(t_redis *r, int port, const char *password)
{
    if (!r->dir && !(r->dir = t_tmpdir()))
        return false;
    r->port = port ? port : t_free_port();
    snprintf(r->password, sizeof r->password, "%s", password ? password : "");
    snprintf(r->url, sizeof r->url, "redis://%s%s%s127.0.0.1:%d/0", password ? ":" : "",
             password ? password : "", password ? "@" : "", r->port);
    char port_s[16], log[4200];
    snprintf(port_s, sizeof port_s, "%d", r->port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    pid_t pid = fork();
    if (pid == 0) {
        const char *argv[20] = {"redis-server", "--port", port_s, "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", r->dir,
                                "--logfile", log, "--daemonize", "no"};
        int n = 15;
        if (password) {
            argv[n++] = "--requirepass";
            argv[n++] = password;
        }
        argv[n] = NULL;
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    if (pid < 0)
        return false;
    r->pid = pid;
    for (int i = 0; i < 200; i++) {
        if (ping(r->port, password))
            return true;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            r->pid = 0;
            break;
        }
        nanosleep(&(struct timespec){0, 50 * 1000000}, NULL);
    }
    fprintf(stderr, "redis-server did not start on port %d (see %s)\n", r->port, log);
    t_redis_stop(r, true);
    return false;
}

void t_redis_stop(t_redis *r, bool keep_dir)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
    if (!keep_dir) {
        t_rmdir_all(r->dir);
        r->dir = NULL;
    }
}

/* "redis://...@HOST:PORT/..." or "HOST:PORT" -> host, port. */
static bool host_port(const char *url, char *host, size_t cap, int *port)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strrchr(p, '@');
    if (at)
        p = at + 1;
    const char *colon = strchr(p, ':');
    if (!colon || (size_t)(colon - p) >= cap)
        return false;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    *port = atoi(colon + 1);
    return *port > 0;
}

static void reply_text(const redisReply *rep, char *out, size_t cap)
{
    switch (rep->type) {
    case REDIS_REPLY_INTEGER: snprintf(out, cap, "%lld", rep->integer); break;
    case REDIS_REPLY_NIL: snprintf(out, cap, "(nil)"); break;
    case REDIS_REPLY_ARRAY: snprintf(out, cap, "(array %zu)", rep->elements); break;
    default: snprintf(out, cap, "%.*s", (int)rep->len, rep->str ? rep->str : "");
    }
}

bool t_redis_raw(const char *url, const char *password, int db, char *out, size_t cap,
                 const char *fmt, ...)
{
    char host[128];
    int port;
    if (!host_port(url, host, sizeof host, &port))
        return false;
    redisContext *c = redisConnectWithTimeout(host, port, (struct timeval){2, 0});
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return false;
    }
    redisSetTimeout(c, (struct timeval){2, 0});
    bool ok = true;
    redisReply *rep;
    if (password && *password) {
        rep = redisCommand(c, "AUTH %s", password);
        ok = rep && rep->type != REDIS_REPLY_ERROR;
        if (rep)
            freeReplyObject(rep);
    }
    if (ok && db) {
        rep = redisCommand(c, "SELECT %d", db);
        ok = rep && rep->type != REDIS_REPLY_ERROR;
        if (rep)
            freeReplyObject(rep);
    }
    if (ok) {
        va_list ap;
        va_start(ap, fmt);
        rep = redisvCommand(c, fmt, ap);
        va_end(ap);
        ok = rep != NULL;
        if (rep) {
            reply_text(rep, out, cap);
            freeReplyObject(rep);
        }
    }
    redisFree(c);
    return ok;
}
