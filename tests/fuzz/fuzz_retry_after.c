/* libFuzzer target: Retry-After parsing (wsig__parse_retry_after, hidden in
 * csrc/client.c; it links because the core objects are linked statically).
 *
 * Input layout:
 *   bytes 0-7  now (time_t), little endian, masked to 34 bits (until 2514)
 *   rest       the header value (exact length, not NUL-terminated)
 *
 * Properties: the result is -1 (unusable) or a finite number of seconds >= 0;
 * a plain delta-seconds value comes back as itself, capped at 365 days;
 * surrounding blanks do not matter.
 */
#include "fuzz_common.h"

#include <math.h>
#include <time.h>

double wsig__parse_retry_after(const char *value, size_t len, time_t now);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_t f = fz_init(data, size);
    time_t now = (time_t)(fz_u64(&f) & ((1ULL << 34) - 1));
    size_t len;
    uint8_t *v = fz_rest(&f, &len);
    double r = wsig__parse_retry_after((const char *)v, len, now);
    FZ_CHECK(r == -1.0 || (isfinite(r) && r >= 0), "Retry-After gave %g", r);

    /* Plain digits (after trimming blanks) are delta-seconds. */
    size_t a = 0, b = len;
    while (a < b && (v[a] == ' ' || v[a] == '\t'))
        a++;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t' || v[b - 1] == '\r'))
        b--;
    bool digits = b > a && b - a <= 19;
    for (size_t i = a; digits && i < b; i++)
        digits = v[i] >= '0' && v[i] <= '9';
    if (digits) {
        unsigned long long x = 0;
        for (size_t i = a; i < b; i++)
            x = x * 10 + (unsigned)(v[i] - '0');
        double want = x > 86400ULL * 365 ? 86400.0 * 365 : (double)x;
        FZ_CHECK(r == want, "delta-seconds %llu gave %g", x, r);
    }
    free(v);
    return 0;
}
