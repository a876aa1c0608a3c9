/* JSON helpers shared by the fuzz targets that check JSON the core passes on. */
#ifndef WSIG_FUZZ_JSON_H
#define WSIG_FUZZ_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Same JSON value: compared by their printed forms, since cJSON_Compare looks
 * members up by name and so calls an object with a duplicate key unequal to
 * its own copy. */
static inline bool same_json(const cJSON *a, const cJSON *b)
{
    char *x = a ? cJSON_PrintUnformatted(a) : NULL, *y = b ? cJSON_PrintUnformatted(b) : NULL;
    bool same = x && y && strcmp(x, y) == 0;
    free(x);
    free(y);
    return same;
}

/* One complete JSON value: the whole buffer, nothing after it. */
static inline cJSON *parse_complete(const char *s, size_t len)
{
    char *z = malloc(len + 1);
    memcpy(z, s, len);
    z[len] = '\0';
    cJSON *j = cJSON_ParseWithLengthOpts(z, len + 1, NULL, 1);
    free(z);
    return j;
}

#endif
