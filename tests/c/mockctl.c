/* Drives tests/mock_server from C: see mockctl.h. */
#define _GNU_SOURCE /* pipe2 */
#include "mockctl.h"

#include "testlib.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The repository root: t_path("") is "<root>tests/". */
static void repo_root(char *out, size_t cap)
{
    const char *tests = t_path("");
    size_t n = strlen(tests);
    if (n >= 6 && strcmp(tests + n - 6, "tests/") == 0)
        n -= 6;
    if (n == 0)
        snprintf(out, cap, ".");
    else
        snprintf(out, cap, "%.*s", (int)n, tests);
}

bool t_mock_spawn(t_mock *m, const char *const *args)
{
    memset(m, 0, sizeof *m);
    m->out_fd = -1;
    char root[4096];
    repo_root(root, sizeof root);
    const char *argv[24] = {"/usr/bin/python3", "-m", "tests.mock_server", "--port", "0"};
    size_t argc = 5;
    for (size_t i = 0; args && args[i] && argc + 1 < sizeof argv / sizeof argv[0]; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "mockctl: pipe: %s\n", strerror(errno));
        return false;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "mockctl: fork: %s\n", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        /* The mock dies with us, even if a test crashes. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (dup2(fds[1], STDOUT_FILENO) < 0 || chdir(root) != 0)
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    m->pid = pid;
    m->out_fd = fds[0];
    return true;
}

static void copy_str(char *dst, size_t cap, const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

bool t_mock_wait_ready(t_mock *m, double timeout_s)
{
    if (m->pid <= 0 || m->out_fd < 0)
        return false;
    char line[8192];
    size_t n = 0;
    bool done = false;
    double deadline = mono_s() + timeout_s;
    while (!done && n + 1 < sizeof line) {
        int left_ms = (int)((deadline - mono_s()) * 1000);
        if (left_ms <= 0)
            break;
        struct pollfd p = {m->out_fd, POLLIN, 0};
        int r = poll(&p, 1, left_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t got = read(m->out_fd, line + n, sizeof line - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break; /* the child exited */
        n += (size_t)got;
        line[n] = '\0';
        done = memchr(line, '\n', n) != NULL;
    }
    line[n] = '\0';
    close(m->out_fd);
    m->out_fd = -1;
    cJSON *info = done ? cJSON_Parse(line) : NULL;
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(info, "port");
    if (!cJSON_IsNumber(port)) {
        fprintf(stderr, "mockctl: the mock server did not start (got %zu bytes: %.200s)\n", n,
                line);
        cJSON_Delete(info);
        t_mock_stop(m);
        return false;
    }
    m->port = port->valueint;
    m->tls = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(info, "tls"));
    copy_str(m->url, sizeof m->url, info, "url");
    copy_str(m->ca_file, sizeof m->ca_file, info, "ca_file");
    copy_str(m->merchant_key_hex, sizeof m->merchant_key_hex, info, "merchant_private_key_hex");
    copy_str(m->merchant_address, sizeof m->merchant_address, info, "merchant_address");
    copy_str(m->wm_address, sizeof m->wm_address, info, "wallet_manager_address");
    copy_str(m->hmac_api_key, sizeof m->hmac_api_key, info, "hmac_api_key");
    copy_str(m->hmac_secret, sizeof m->hmac_secret, info, "hmac_secret");
    cJSON_Delete(info);
    return true;
}

bool t_mock_start(t_mock *m, const char *const *args)
{
    return t_mock_spawn(m, args) && t_mock_wait_ready(m, 20);
}

void t_mock_stop(t_mock *m)
{
    if (m->out_fd >= 0) {
        close(m->out_fd);
        m->out_fd = -1;
    }
    if (m->pid <= 0)
        return;
    kill(m->pid, SIGTERM);
    double deadline = mono_s() + 5;
    int st;
    for (;;) {
        pid_t r = waitpid(m->pid, &st, WNOHANG);
        if (r == m->pid || (r < 0 && errno != EINTR))
            break;
        if (mono_s() > deadline) {
            kill(m->pid, SIGKILL);
            waitpid(m->pid, &st, 0);
            break;
        }
        usleep(20000);
    }
    m->pid = 0;
}

/* ------------------------------------------------------------------ */
/* Control calls                                                      */

typedef struct {
    char *data;
    size_t len;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    char *d = realloc(s->data, s->len + size * n + 1);
    if (!d)
        return 0;
    memcpy(d + s->len, p, size * n);
    s->data = d;
    s->len += size * n;
    s->data[s->len] = '\0';
    return size * n;
}

long t_mock_http(const t_mock *m, const char *method, const char *path, const char *body,
                 size_t body_len, char **out)
{
    if (out)
        *out = NULL;
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    char url[2048];
    snprintf(url, sizeof url, "%s%s", m->url, path);
    sink s = {NULL, 0};
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    if (m->tls) { /* test infrastructure only: the client under test verifies */
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (out)
        *out = s.data;
    else
        free(s.data);
    return status;
}

cJSON *t_mock_json(const t_mock *m, const char *method, const char *path, const char *body)
{
    char *out = NULL;
    long st = t_mock_http(m, method, path, body, body ? strlen(body) : 0, &out);
    cJSON *j = st == 200 && out ? cJSON_Parse(out) : NULL;
    if (st != 200)
        fprintf(stderr, "mockctl: %s %s -> %ld %s\n", method, path, st, out ? out : "");
    free(out);
    return j;
}

bool t_mock_queue(const t_mock *m, const char *path, const char *spec, int n)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "path", path);
    cJSON *list = cJSON_AddArrayToObject(doc, "faults");
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(spec));
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    cJSON *ans = text ? t_mock_json(m, "POST", "/_mock/faults", text) : NULL;
    free(text);
    bool ok = ans != NULL;
    cJSON_Delete(ans);
    return ok;
}

void t_mock_clean(const t_mock *m)
{
    t_mock_http(m, "DELETE", "/_mock/faults", NULL, 0, NULL);
    t_mock_http(m, "DELETE", "/_mock/log", NULL, 0, NULL);
}

cJSON *t_mock_log(const t_mock *m)
{
    cJSON *log = t_mock_json(m, "GET", "/_mock/log", NULL);
    if (log && !cJSON_IsArray(log)) {
        cJSON_Delete(log);
        return NULL;
    }
    return log;
}

cJSON *t_log_filter(const cJSON *log, const char *path)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "path");
        if (!path || (cJSON_IsString(p) && strcmp(p->valuestring, path) == 0))
            cJSON_AddItemReferenceToArray(out, (cJSON *)e);
    }
    return out;
}

const char *t_log_header(const cJSON *entry, const char *name)
{
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(entry, "headers");
    const cJSON *h;
    cJSON_ArrayForEach(h, headers)
    {
        if (h->string && strcasecmp(h->string, name) == 0 && cJSON_IsString(h))
            return h->valuestring;
    }
    return NULL;
}

cJSON *t_log_jwt_claims(const cJSON *entry)
{
    const char *auth = t_log_header(entry, "Authorization");
    if (!auth || strncmp(auth, "Bearer ", 7) != 0)
        return NULL;
    const char *p = strchr(auth + 7, '.');
    const char *q = p ? strchr(p + 1, '.') : NULL;
    if (!q)
        return NULL;
    size_t len;
    unsigned char *json = t_b64url_decode(p + 1, (size_t)(q - p - 1), &len);
    cJSON *claims = json ? cJSON_ParseWithLength((const char *)json, len) : NULL;
    free(json);
    return claims;
}
