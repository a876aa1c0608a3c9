/* The core's Redis connection (hiredis 0.14): URL parsing, a lazily made
 * connection under a mutex, AUTH and SELECT after each connect, and a drop
 * after any failure so the next command reconnects (Redis back = working
 * again, docs/c-api.md "Replay stores"). No message ever holds the password. */
#include "redis.h"

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT 6379
#define DEFAULT_TIMEOUT 0.5
#define DEFAULT_PREFIX "walletsign:"

struct wsig_redis {
    pthread_mutex_t lock;     /* guards ctx and pid: one command at a time */
    wsig_redis_url url;
    char *prefix;
    size_t prefix_len;
    struct timeval timeout;
    double timeout_s;
    redisContext *ctx;        /* NULL: not connected (yet, or since a failure) */
    pid_t pid;                /* the process that made ctx */
};

/* ------------------------------------------------------------------ */
/* URL: redis://[[username]:password@]host[:port][/db]                */

static int url_error(wsig_error *err, const char *what)
{
    /* Never the URL itself: it may hold the password. */
    return wsig__fail(err, WSIG_ERR_ARG, "redis URL: %s (expected redis://[[username]:password@]host[:port][/db])",
                      what);
}

/* Percent-decode s[0..n) into out (cap bytes with the NUL); false on a bad
 * escape, an encoded NUL or no room. */
static bool percent_decode(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3) /* fewer than two characters follow */
                return false;
            int hi = wsig__hex_value(s[i + 1]), lo = wsig__hex_value(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/* At most 10 decimal digits, the whole of s[0..n), at most max. */
static bool parse_small_uint(const char *s, size_t n, long max, long *out)
{
    if (n == 0 || n > 10)
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static bool host_char(char c, bool ipv6)
{
    if (ipv6)
        return wsig__hex_value(c) >= 0 || c == ':' || c == '.';
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

/* host[:port] or [ipv6][:port], the whole of s[0..n). */
static int parse_host_port(wsig_redis_url *u, const char *s, size_t n, wsig_error *err)
{
    const char *host = s, *end = s + n, *port = NULL;
    size_t host_len;
    bool ipv6 = n && s[0] == '[';
    if (ipv6) {
        const char *close = memchr(s, ']', n);
        if (!close)
            return url_error(err, "an IPv6 host needs its closing ]");
        host = s + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < end) {
            if (close[1] != ':')
                return url_error(err, "only :port may follow an IPv6 host");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        host_len = colon ? (size_t)(colon - s) : n;
        if (colon)
            port = colon + 1;
    }
    if (host_len == 0 || host_len >= sizeof u->host)
        return url_error(err, "the host is empty or longer than 255 bytes");
    for (size_t i = 0; i < host_len; i++)
        if (!host_char(host[i], ipv6))
            return url_error(err, ipv6 ? "the IPv6 host holds a character other than hex digits, : and ."
                                       : "the host holds a character other than letters, digits, . - and _");
    memcpy(u->host, host, host_len);
    u->host[host_len] = '\0';
    long p = DEFAULT_PORT;
    if (port && (!parse_small_uint(port, (size_t)(end - port), 65535, &p) || p == 0))
        return url_error(err, "the port must be 1..65535");
    u->port = (int)p;
    return WSIG_OK;
}

/* [username]:password, the whole of s[0..n), both percent-decoded. */
static int parse_userinfo(wsig_redis_url *u, const char *s, size_t n, wsig_error *err)
{
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return url_error(err, "the part before @ must be [username]:password");
    size_t user_len = (size_t)(colon - s), pass_len = n - user_len - 1;
    if (!percent_decode(u->username, sizeof u->username, s, user_len))
        return url_error(err, "the username has a bad %-escape, an encoded NUL, or is too long");
    if (!percent_decode(u->password, sizeof u->password, colon + 1, pass_len))
        return url_error(err, "the password has a bad %-escape, an encoded NUL, or is too long");
    if (!u->password[0])
        return url_error(err, "the password is empty (leave out the part before @ for none)");
    u->has_password = true;
    return WSIG_OK;
}

int wsig__redis_parse_url(wsig_redis_url *u, const char *url, wsig_error *err)
{
    memset(u, 0, sizeof *u);
    static const char scheme[] = "redis://";
    if (strncasecmp(url, "rediss://", 9) == 0)
        return url_error(err, "rediss:// (TLS) is not supported: Debian's hiredis 0.14 has no TLS; "
                              "reach Redis over a private network or a TLS tunnel (stunnel, spiped)");
    if (strncasecmp(url, scheme, sizeof scheme - 1) != 0)
        return url_error(err, "the scheme must be redis://");
    const char *rest = url + sizeof scheme - 1;
    if (strpbrk(rest, "?#"))
        return url_error(err, "query parameters and fragments are not supported (pass the timeout "
                              "and prefix as options)");
    const char *slash = strchr(rest, '/');
    size_t auth_len = slash ? (size_t)(slash - rest) : strlen(rest);
    /* The last @ ends the userinfo: a raw @ in the password is forgiven. */
    const char *at = NULL;
    for (const char *p = rest; p < rest + auth_len; p++)
        if (*p == '@')
            at = p;
    int rc = WSIG_OK;
    if (at)
        rc = parse_userinfo(u, rest, (size_t)(at - rest), err);
    const char *hp = at ? at + 1 : rest;
    if (rc == WSIG_OK)
        rc = parse_host_port(u, hp, (size_t)(rest + auth_len - hp), err);
    long db = 0;
    if (rc == WSIG_OK && slash && slash[1] &&
        !parse_small_uint(slash + 1, strlen(slash + 1), 2147483647L, &db))
        rc = url_error(err, "the database must be a decimal number after the /");
    u->db = (int)db;
    if (rc != WSIG_OK)
        wsig__redis_url_clear(u);
    return rc;
}

void wsig__redis_url_clear(wsig_redis_url *u)
{
    OPENSSL_cleanse(u->password, sizeof u->password);
    OPENSSL_cleanse(u->username, sizeof u->username);
    u->has_password = false;
}

/* ------------------------------------------------------------------ */
/* The handle                                                         */

int wsig__redis_new(wsig_redis **out, const char *url, const wsig_redis_options *opt,
                    wsig_error *err)
{
    *out = NULL;
    wsig_redis_options defaults = {0};
    if (!opt)
        opt = &defaults;
    double t = opt->timeout == 0 ? DEFAULT_TIMEOUT : opt->timeout;
    if (!(t >= 0.001 && t <= 60)) /* NaN fails too */
        return wsig__fail(err, WSIG_ERR_ARG, "timeout must be 0.001..60 seconds (0 = 0.5)");
    const char *prefix = opt->prefix ? opt->prefix : DEFAULT_PREFIX;
    size_t prefix_len = strlen(prefix);
    if (prefix_len > WSIG_REDIS_PREFIX_MAX)
        return wsig__fail(err, WSIG_ERR_ARG, "prefix must be at most %d bytes", WSIG_REDIS_PREFIX_MAX);
    wsig_redis *r = calloc(1, sizeof *r);
    if (!r)
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    int rc = wsig__redis_parse_url(&r->url, url, err);
    if (rc != WSIG_OK) {
        free(r);
        return rc;
    }
    if (!(r->prefix = strdup(prefix))) {
        wsig__redis_url_clear(&r->url);
        free(r);
        return wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
    }
    r->prefix_len = prefix_len;
    r->timeout_s = t;
    r->timeout.tv_sec = (time_t)t;
    r->timeout.tv_usec = (suseconds_t)((t - (double)(time_t)t) * 1e6);
    pthread_mutex_init(&r->lock, NULL);
    *out = r;
    return WSIG_OK;
}

static void disconnect(wsig_redis *r)
{
    if (r->ctx)
        redisFree(r->ctx);
    r->ctx = NULL;
}

void wsig__redis_free(wsig_redis *r)
{
    if (!r)
        return;
    /* A child after fork() closes its copy of the socket; the parent's stays. */
    disconnect(r);
    wsig__redis_url_clear(&r->url);
    pthread_mutex_destroy(&r->lock);
    free(r->prefix);
    free(r);
}

const char *wsig__redis_prefix(const wsig_redis *r)
{
    return r->prefix;
}

size_t wsig__redis_prefix_len(const wsig_redis *r)
{
    return r->prefix_len;
}

/* ------------------------------------------------------------------ */
/* Replies                                                            */

static void copy_text(char *dst, size_t cap, const char *s, size_t n)
{
    if (!s)
        n = 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, s, n);
    dst[n] = '\0';
}

bool wsig__redis_reply_copy(wsig_redis_reply *out, const struct redisReply *r)
{
    memset(out, 0, sizeof *out);
    if (!r)
        return false;
    switch (r->type) {
    case REDIS_REPLY_STATUS: out->type = WSIG_REDIS_STATUS; break;
    case REDIS_REPLY_ERROR: out->type = WSIG_REDIS_ERROR; break;
    case REDIS_REPLY_STRING: out->type = WSIG_REDIS_STRING; break;
    case REDIS_REPLY_INTEGER: out->type = WSIG_REDIS_INTEGER; break;
    case REDIS_REPLY_NIL: out->type = WSIG_REDIS_NIL; return true;
    case REDIS_REPLY_ARRAY: out->type = WSIG_REDIS_ARRAY; break;
    default: return false;
    }
    if (out->type == WSIG_REDIS_INTEGER) {
        out->integer = r->integer;
    } else if (out->type == WSIG_REDIS_ARRAY) {
        out->n_elements = r->elements;
        for (size_t i = 0; i < r->elements && i < 4; i++) {
            const redisReply *e = r->element[i];
            /* Only integers are copied (a rate limit's script answers those). */
            out->elements[i] = e && e->type == REDIS_REPLY_INTEGER ? e->integer : 0;
        }
    } else {
        copy_text(out->str, sizeof out->str, r->str, r->len);
        out->len = r->str ? r->len : 0;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Commands                                                           */

/* A store failure, its cause named; never the password (should a server
 * ever echo it back, the detail is withheld). */
static int store_failure(const wsig_redis *r, wsig_error *err, const char *what, const char *detail)
{
    if (!err)
        return WSIG_ERR_STORE;
    const char *open = strchr(r->url.host, ':') ? "[" : "", *close = *open ? "]" : "";
    wsig__fail_store(err, "redis %s%s%s:%d: %s%s%s", open, r->url.host, close, r->url.port, what,
                     detail && *detail ? ": " : "", detail ? detail : "");
    if (r->url.has_password && strstr(err->message, r->url.password))
        wsig__fail_store(err, "redis %s%s%s:%d: %s (details withheld: they held the password)",
                         open, r->url.host, close, r->url.port, what);
    return WSIG_ERR_STORE;
}

/* The failure of a context (connect, I/O): a timeout says so. */
static int context_failure(const wsig_redis *r, const redisContext *c, const char *what,
                           wsig_error *err)
{
    char detail[160];
    if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINPROGRESS))
        snprintf(detail, sizeof detail, "no answer within the %g s timeout", r->timeout_s);
    else
        snprintf(detail, sizeof detail, "%s", c->errstr[0] ? c->errstr : "connection failed");
    return store_failure(r, err, what, detail);
}

/* One command on a connected context; the reply copied out. An error reply
 * is WSIG_ERR_STORE with the reply copied. */
static int run(wsig_redis *r, redisContext *c, wsig_redis_reply *out, int argc, const char **argv,
               const size_t *argvlen, const char *what, wsig_error *err)
{
    errno = 0;
    redisReply *reply = redisCommandArgv(c, argc, argv, argvlen);
    if (!reply)
        return context_failure(r, c, what, err);
    bool known = wsig__redis_reply_copy(out, reply);
    freeReplyObject(reply);
    if (!known)
        return store_failure(r, err, what, "a reply of an unknown type");
    if (out->type == WSIG_REDIS_ERROR)
        return store_failure(r, err, what, out->str);
    return WSIG_OK;
}

/* AUTH [username] password, written to the socket by us rather than through
 * hiredis: hiredis 0.14 would format it into its own output buffer and free
 * that unwiped (it has no allocator hooks), leaving the password in freed
 * memory. Our buffer is wiped; the reply ("+OK" or an error naming no
 * password) is read by hiredis. The socket's send timeout bounds the write. */
static int authenticate(const wsig_redis *r, redisContext *c, wsig_error *err)
{
    const char *user = r->url.username, *pass = r->url.password;
    size_t ulen = strlen(user), plen = strlen(pass);
    size_t cap = 64 + ulen + plen;
    char *cmd = malloc(cap);
    if (!cmd)
        return store_failure(r, err, "AUTH", "out of memory");
    int n = ulen ? snprintf(cmd, cap, "*3\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", ulen,
                            user, plen, pass)
                 : snprintf(cmd, cap, "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n", plen, pass);
    size_t sent = 0;
    errno = 0;
    while (n > 0 && sent < (size_t)n) {
        ssize_t k = send(c->fd, cmd + sent, (size_t)n - sent, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        sent += (size_t)k;
    }
    int saved = errno;
    OPENSSL_cleanse(cmd, cap);
    free(cmd);
    if (n <= 0 || sent < (size_t)n) {
        char detail[96];
        snprintf(detail, sizeof detail, "%s",
                 saved == EAGAIN || saved == EWOULDBLOCK ? "timed out sending" : strerror(saved));
        return store_failure(r, err, "AUTH", detail);
    }
    void *raw = NULL;
    errno = 0;
    if (redisGetReply(c, &raw) != REDIS_OK || !raw)
        return context_failure(r, c, "AUTH", err);
    wsig_redis_reply reply;
    bool known = wsig__redis_reply_copy(&reply, raw);
    freeReplyObject(raw);
    if (!known || reply.type == WSIG_REDIS_ERROR)
        return store_failure(r, err, "AUTH refused", known ? reply.str : "an unknown reply");
    return WSIG_OK;
}

/* Connect, AUTH and SELECT: r->ctx is set only when all succeeded. */
static int connect_locked(wsig_redis *r, wsig_error *err)
{
    errno = 0;
    redisContext *c = redisConnectWithTimeout(r->url.host, r->url.port, r->timeout);
    if (!c)
        return store_failure(r, err, "connect", "out of memory");
    int rc = WSIG_OK;
    wsig_redis_reply reply;
    if (c->err)
        rc = context_failure(r, c, "connect", err);
    else if (redisSetTimeout(c, r->timeout) != REDIS_OK)
        rc = context_failure(r, c, "setting the timeout", err);
    if (rc == WSIG_OK)
        wsig__redis_bound_reader(c->reader);
    if (rc == WSIG_OK && r->url.has_password)
        rc = authenticate(r, c, err);
    if (rc == WSIG_OK && r->url.db != 0) {
        char db[16];
        int n = snprintf(db, sizeof db, "%d", r->url.db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, (size_t)n};
        rc = run(r, c, &reply, 2, argv, lens, "SELECT", err);
    }
    if (rc != WSIG_OK) {
        redisFree(c);
        return rc;
    }
    r->ctx = c;
    r->pid = getpid();
    return WSIG_OK;
}

/* hiredis 0.14 allocates an array reply's element table from the count the
 * server announces ("*999999999\r\n": gigabytes, before a single element
 * arrives). Our commands get integers, strings or arrays of a few integers:
 * any longer array is refused (hiredis then fails the read: store error). */
#define MAX_ARRAY_ELEMENTS 16

static redisReplyObjectFunctions g_bounded_fn;
static pthread_once_t g_bounded_once = PTHREAD_ONCE_INIT;
static void *(*g_default_create_array)(const redisReadTask *, int);

static void *create_bounded_array(const redisReadTask *task, int elements)
{
    return elements <= MAX_ARRAY_ELEMENTS ? g_default_create_array(task, elements) : NULL;
}

static void bounded_fn_init(void)
{
    redisReader *probe = redisReaderCreate();
    if (!probe || !probe->fn)
        abort(); /* hiredis without its default reply functions: cannot happen */
    g_bounded_fn = *probe->fn;
    g_default_create_array = g_bounded_fn.createArray;
    g_bounded_fn.createArray = create_bounded_array;
    redisReaderFree(probe);
}

void wsig__redis_bound_reader(redisReader *reader)
{
    pthread_once(&g_bounded_once, bounded_fn_init);
    reader->fn = &g_bounded_fn;
}

/* hiredis writes with write(2): a peer that reset the connection would raise
 * SIGPIPE and kill a host that keeps its default action. Block it on this
 * thread around the command and swallow one raised meanwhile (libcurl's
 * sigpipe_ignore does the same). */
typedef struct {
    sigset_t old;
    bool was_pending;
} pipe_guard;

static void pipe_guard_on(pipe_guard *g)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
}

static void pipe_guard_off(const pipe_guard *g)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending);
    if (!g->was_pending && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe, NULL, &zero) == -1 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Between two commands Redis owes us nothing: a connection that has
 * something to read (the FIN of a server that restarted or closed an idle
 * client) is dead. Checked before sending, so a command is never sent twice:
 * retrying one whose reply was lost could take a reservation for a replay. */
static bool closed_by_server(const redisContext *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

int wsig__redis_command(wsig_redis *r, wsig_redis_reply *reply, int argc, const char **argv,
                        const size_t *argvlen, wsig_error *err)
{
    memset(reply, 0, sizeof *reply);
    pipe_guard guard;
    pipe_guard_on(&guard);
    pthread_mutex_lock(&r->lock);
    if (r->ctx && (r->pid != getpid() /* inherited over fork(): the parent's stream */ ||
                   closed_by_server(r->ctx)))
        disconnect(r);
    int rc = r->ctx ? WSIG_OK : connect_locked(r, err);
    if (rc == WSIG_OK) {
        rc = run(r, r->ctx, reply, argc, argv, argvlen, argv[0], err);
        if (rc != WSIG_OK)
            disconnect(r);
    }
    pthread_mutex_unlock(&r->lock);
    pipe_guard_off(&guard);
    return rc;
}
