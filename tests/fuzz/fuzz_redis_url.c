/* libFuzzer target: redis:// URL parsing (wsig__redis_parse_url, csrc/redis.c).
 *
 * Input layout: the URL (up to the first NUL).
 *
 * Properties: WSIG_OK or WSIG_ERR_ARG and nothing else; a refusal's message
 * does not depend on the password's text; an accepted URL has a
 * host of allowed characters, a port 1..65535 and a db >= 0, and written
 * back with every byte of its userinfo percent-encoded it parses to the
 * same parts.
 */
#include "fuzz_common.h"
#include "redis.h"

static void encode(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        *out++ = '%';
        *out++ = hex[(unsigned char)*s >> 4];
        *out++ = hex[(unsigned char)*s & 15];
    }
    *out = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t f = fz_init(data, size);
    size_t len;
    char *url = fz_str(&f, &len);
    wsig_error err = WSIG_ERROR_INIT;
    wsig_redis_url u;
    int rc = wsig__redis_parse_url(&u, url, &err);
    FZ_CHECK(rc == WSIG_OK || rc == WSIG_ERR_ARG, "status %d", rc);
    if (rc != WSIG_OK) {
        fz_check_err(&err, rc);
        /* The message does not depend on the password: with its non-hex
         * letters changed (same error path) it reads the same. */
        const char *rest = strstr(url, "://");
        rest = rest ? rest + 3 : url;
        size_t auth = strcspn(rest, "/");
        const char *at = NULL, *colon = NULL;
        for (size_t i = 0; i < auth; i++)
            if (rest[i] == '@')
                at = rest + i;
        if (at)
            colon = memchr(rest, ':', (size_t)(at - rest));
        if (colon) {
            char *other = strdup(url);
            for (char *p = other + (colon + 1 - url); p < other + (at - url); p++)
                if ((*p >= 'g' && *p <= 'z') || (*p >= 'G' && *p <= 'Z'))
                    *p = *p == 'z' ? 'g' : *p == 'Z' ? 'G' : (char)(*p + 1);
            wsig_error err2 = WSIG_ERROR_INIT;
            wsig_redis_url u2;
            int rc2 = wsig__redis_parse_url(&u2, other, &err2);
            FZ_CHECK(rc2 == rc && strcmp(err.message, err2.message) == 0,
                     "the message depends on the password: %s / %s", err.message, err2.message);
            free(other);
        }
        free(url);
        return 0;
    }
    FZ_CHECK(u.host[0] && u.port >= 1 && u.port <= 65535 && u.db >= 0, "parts %s %d %d", u.host,
             u.port, u.db);
    FZ_CHECK(!u.has_password || u.password[0], "an empty password kept");
    char *again = malloc(len * 3 + 2048);
    char *user = malloc(sizeof u.username * 3), *pass = malloc(sizeof u.password * 3);
    if (!again || !user || !pass)
        abort();
    encode(user, u.username);
    encode(pass, u.password);
    bool v6 = strchr(u.host, ':') != NULL;
    sprintf(again, "redis://%s%s%s%s%s%s%s:%d/%d", u.has_password ? user : "",
            u.has_password ? ":" : "", u.has_password ? pass : "", u.has_password ? "@" : "",
            v6 ? "[" : "", u.host, v6 ? "]" : "", u.port, u.db);
    wsig_redis_url u2;
    rc = wsig__redis_parse_url(&u2, again, &err);
    FZ_CHECK(rc == WSIG_OK, "written back, refused: %s", err.message);
    FZ_CHECK(strcmp(u.host, u2.host) == 0 && u.port == u2.port && u.db == u2.db &&
                 strcmp(u.username, u2.username) == 0 && strcmp(u.password, u2.password) == 0 &&
                 u.has_password == u2.has_password,
             "parts changed on the way back");
    wsig__redis_url_clear(&u);
    wsig__redis_url_clear(&u2);
    free(again);
    free(user);
    free(pass);
    free(url);
    return 0;
}
