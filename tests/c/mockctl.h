/* Start, drive and stop the Python mock server (tests/mock_server) from C tests.
 * The mock runs as a child process (/usr/bin/python3 -m tests.mock_server
 * --port 0 ...) with the repository root as its working directory; its one
 * JSON startup line is read here. Control calls go through libcurl's easy API. */
#ifndef WSIG_MOCKCTL_H
#define WSIG_MOCKCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

typedef struct t_mock {
    pid_t pid;                  /* 0 when not running */
    int out_fd;                 /* read end of the child's stdout until ready */
    int port;
    bool tls;
    char url[128];              /* "http(s)://127.0.0.1:PORT" */
    char ca_file[1024];         /* "" without TLS */
    char merchant_key_hex[80];
    char merchant_address[48];
    char wm_address[48];
    char hmac_api_key[64];
    char hmac_secret[64];
} t_mock;

/* Fork/exec the mock with extra arguments (NULL-terminated list, may be NULL).
 * Returns false (and reports why on stderr) if it cannot be started. */
bool t_mock_spawn(t_mock *m, const char *const *args);
/* Wait (up to timeout_s) for the startup line and fill m. Stops the child on failure. */
bool t_mock_wait_ready(t_mock *m, double timeout_s);
/* spawn + wait_ready (20 s). */
bool t_mock_start(t_mock *m, const char *const *args);
/* SIGTERM, then waitpid (SIGKILL after 5 s). Safe on a mock never started. */
void t_mock_stop(t_mock *m);

/* One control (or raw) request: METHOD path [body]. Returns the HTTP status
 * (0 on a transport failure); *out (if non-NULL) receives the body (free()). */
long t_mock_http(const t_mock *m, const char *method, const char *path, const char *body,
                 size_t body_len, char **out);
/* A control call answering JSON: parsed answer (cJSON_Delete) or NULL unless 200. */
cJSON *t_mock_json(const t_mock *m, const char *method, const char *path, const char *body);
/* Queue n copies of spec for path ("*" = any). */
bool t_mock_queue(const t_mock *m, const char *path, const char *spec, int n);
/* Clear queued faults and the request log. */
void t_mock_clean(const t_mock *m);
/* The request log (a cJSON array; cJSON_Delete), NULL on failure. */
cJSON *t_mock_log(const t_mock *m);

/* --- log helpers --- */
/* Entries of log whose "path" equals path, as a new array of references (cJSON_Delete). */
cJSON *t_log_filter(const cJSON *log, const char *path);
/* Header of a log entry, case-insensitive; NULL if absent. */
const char *t_log_header(const cJSON *entry, const char *name);
/* The JWT claims of a log entry's "Authorization: Bearer ..." (cJSON_Delete), or NULL. */
cJSON *t_log_jwt_claims(const cJSON *entry);

#endif
