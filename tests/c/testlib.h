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

#endif
