/* The one statistic both C benchmarks report: the median of per-round
 * figures (c_sign.c, http_loop.c). */
#ifndef WSIG_BENCH_STATS_H
#define WSIG_BENCH_STATS_H

#include <stdlib.h>
#include <string.h>

#define STATS_MAX_ROUNDS 256

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n), n <= STATS_MAX_ROUNDS; v keeps its order. */
static double median(const double *v, int n)
{
    double s[STATS_MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

#endif
