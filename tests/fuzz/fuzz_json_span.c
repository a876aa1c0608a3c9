/* libFuzzer target: the raw member scanner wsig__json_member_span (json.c),
 * which rpc.c uses to pass "result" and "data" through byte for byte.
 *
 * Input layout:
 *   field  member name (NUL-terminated)
 *   rest   the JSON text (exact length, not NUL-terminated)
 *
 * The core only calls the scanner on text that wsig__json_parse_exact accepted
 * (one value, then only whitespace), so other inputs are skipped the same way.
 * Properties:
 *   1. a span lies inside the text;
 *   2. the span is itself one complete JSON value (cJSON, whole span);
 *   3. it is the member cJSON sees: cJSON has a member of that name at the
 *      top level and it equals the parsed span (for names like the core's:
 *      printable ASCII, no quote or backslash: "result", "error", "data").
 */
#include "fuzz_common.h"
#include "internal.h"

#include <cjson/cJSON.h>

#include "fuzz_json.h"

/* Names like the core's: printable ASCII without quote or backslash. */
static bool plain_name(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || *s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t f = fz_init(data, size);
    char *name = fz_str(&f, NULL);
    size_t len;
    char *json = (char *)fz_rest(&f, &len);
    /* The core's precondition (or plain JSON only, when the known lenient-JSON
     * bugs are skipped on request). */
    cJSON *root = fz_skip("lenient-json") && !fz_plain_json(json, len) ? NULL
                                                                       : wsig__json_parse_exact(json, len);
    if (root) {
        size_t start = (size_t)-1, span = (size_t)-1;
        if (wsig__json_member_span(json, len, name, &start, &span)) {
            FZ_CHECK(start <= len && span <= len - start, "span %zu+%zu outside %zu bytes", start, span, len);
            cJSON *v = parse_complete(json + start, span);
            FZ_CHECK(v, "span of \"%s\" is not one JSON value: [%.*s] in [%.*s]", name, (int)span,
                     json + start, (int)len, json);
            if (plain_name(name)) {
                const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, name);
                FZ_CHECK(m, "span found for \"%s\" but cJSON has no such member: [%.*s]", name, (int)len,
                         json);
                FZ_CHECK(same_json(m, v), "span of \"%s\" is another member than cJSON's: [%.*s]",
                         name, (int)len, json);
            }
            cJSON_Delete(v);
        }
        cJSON_Delete(root);
    }
    free(json);
    free(name);
    return 0;
}
