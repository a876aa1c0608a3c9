/* Files, stdin and secrets of the CLI: secrets are wiped before they are freed. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLI_MAX_INPUT (64u << 20) /* bodies, headers and key files are far smaller */

/* ------------------------------------------------------------------ */
/* Files and secrets                                                  */

void cli_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

void cli_free_secret(char *p, size_t len)
{
    if (!p)
        return;
    cli_wipe(p, len + 1);
    free(p);
}

int cli_read_file(const cli_args *a, const char *path, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int stdin_ = strcmp(path, "-") == 0;
    int fd = stdin_ ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return cli_error(a, CLI_IO, NULL, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    size_t cap = 4096, known = (size_t)-1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size < CLI_MAX_INPUT)
        known = (size_t)st.st_size, cap = known + 1; /* one allocation: no stray copies */
    char *buf = malloc(cap);
    size_t n = 0;
    int rc = CLI_OK;
    while (buf) {
        if (n == known) /* the whole regular file (a file growing meanwhile is cut here) */
            break;
        if (n + 1 == cap) {
            if (cap >= CLI_MAX_INPUT) {
                rc = cli_error(a, CLI_IO, NULL, "%s is larger than %u bytes", path, CLI_MAX_INPUT);
                break;
            }
            /* Not realloc: the old block must be wiped, not just released. */
            char *bigger = malloc(cap * 2);
            if (bigger)
                memcpy(bigger, buf, n);
            cli_wipe(buf, cap);
            free(buf);
            buf = bigger;
            cap *= 2;
            continue;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = cli_error(a, CLI_IO, NULL, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (!stdin_)
        close(fd);
    if (!buf)
        return cli_error(a, CLI_INTERNAL, NULL, "out of memory");
    if (rc != CLI_OK) {
        cli_wipe(buf, cap);
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    if (n + 1 < cap)
        cli_wipe(buf + n + 1, cap - n - 1);
    *out = buf;
    *len = n;
    return CLI_OK;
}

int cli_read_secret_line(const cli_args *a, const char *path, char **out, size_t *len)
{
    char *buf;
    size_t n;
    int rc = cli_read_file(a, path, &buf, &n);
    if (rc != CLI_OK)
        return rc;
    char *nl = memchr(buf, '\n', n);
    size_t line = nl ? (size_t)(nl - buf) : n;
    if (line && buf[line - 1] == '\r')
        line--;
    cli_wipe(buf + line, n - line); /* the rest of the file, terminator included */
    *out = buf;
    *len = line;
    return CLI_OK;
}

int cli_read_body(const cli_args *a, const char *spec, char **out, size_t *len)
{
    if (spec[0] == '@')
        return cli_read_file(a, spec + 1, out, len);
    if (strcmp(spec, "-") == 0)
        return cli_read_file(a, "-", out, len);
    *len = strlen(spec);
    *out = malloc(*len + 1);
    if (!*out)
        return cli_error(a, CLI_INTERNAL, NULL, "out of memory");
    memcpy(*out, spec, *len + 1);
    return CLI_OK;
}

int cli_write_public(const cli_args *a, const char *path, const char *data, size_t len, int force)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0)
        return cli_error(a, CLI_IO, NULL, "cannot create %s: %s%s", path, strerror(errno),
                         errno == EEXIST ? " (use --force to replace it)" : "");
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            return cli_error(a, CLI_IO, NULL, "cannot write %s: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    if (close(fd) != 0)
        return cli_error(a, CLI_IO, NULL, "cannot write %s: %s", path, strerror(errno));
    return CLI_OK;
}

int cli_make_dir(const cli_args *a, const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return cli_error(a, CLI_IO, NULL, "directory name too long");
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return cli_error(a, CLI_IO, NULL, "cannot create directory %s: %s", path,
                             strerror(errno));
        *p = c;
        if (!c)
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_error(a, CLI_IO, NULL, "%s is not a directory", path);
    return CLI_OK;
}
