/* A tiny test harness: CHECK counts, the runner prints "N passed, M failed". */
#ifndef WSIG_TESTLIB_H
#define WSIG_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

extern int t_passed, t_failed;
extern const char *t_current;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (cond) {                                                                       \
            t_passed++;                                                                   \
        } else {                                                                          \
            t_failed++;                                                                   \
            fprintf(stderr, "FAIL %s (%s:%d): ", t_current, __FILE__, __LINE__);        \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

typedef void (*test_fn)(void);
typedef struct { const char *name; test_fn fn; } test_case;

/* Path of a file under tests/, resolved from this source file's location. */
const char *t_path(const char *relative);
/* Read a whole file; NULL on failure. *len receives its size. */
char *t_read(const char *path, size_t *len);
/* Load tests/vectors/NAME as cJSON (caller deletes); NULL and a FAIL if absent. */
cJSON *t_vectors(const char *name);
/* A case's body: body_hex or body_repeat {pattern_hex, length}. Caller frees. */
unsigned char *t_body(const cJSON *c, size_t *len);
bool t_hex(unsigned char *out, size_t out_len, const char *hex);
const char *t_str(const cJSON *obj, const char *name);
double t_num(const cJSON *obj, const char *name);

/* --- helpers shared by the protocol suites --- */

struct wsig_headers;
/* Decode hex of any even length into a fresh NUL-terminated buffer; NULL on bad hex. */
unsigned char *t_hex_alloc(const char *hex, size_t *len);
/* Lowercase hex of len bytes into a fresh string (caller frees). */
char *t_hex_str(const unsigned char *in, size_t len);
/* strcmp that treats NULL as distinct from every string (and equal to NULL). */
bool t_streq(const char *a, const char *b);
/* Value of header name (exact case) in a signer's output, NULL if absent. */
const char *t_header(const struct wsig_headers *h, const char *name);
/* Path of tests/vectors/keys/NAME (a static buffer, like t_path). */
const char *t_key_path(const char *name);
/* Strict base64url (no padding) decode into a fresh buffer; NULL on failure. */
unsigned char *t_b64url_decode(const char *s, size_t n, size_t *out_len);
/* Make a fresh temporary directory (mkdtemp); caller removes it with t_rmdir_all. */
char *t_tmpdir(void);
/* Remove a directory and the plain files directly inside it. */
void t_rmdir_all(char *dir);
/* Divisor for the stress groups' sizes: WSIG_TEST_SCALE (>= 1, default 1;
 * make check sets 10 under valgrind). */
int t_scale(void);
/* Run a shell command, capture its stdout (up to cap-1 bytes); returns the exit status. */
int t_run(const char *cmd, char *out, size_t cap);

/* Monotonic seconds, for timing a call in a test. */
double now_s(void);
/* How much upper time bounds grow: WSIG_TEST_SCALE (10 under valgrind), at least 1. */
double slack(void);

#endif
