/*
 * pair.c - interleaved rounds and paired ratios.
 *
 * On a machine shared with other work, a peer measured a second after
 * mapfile may meet a different load. So every contender of a figure runs
 * in the same round, one after the other, the order turning from round to
 * round, and a ratio is the median of the per-round ratios: load that
 * comes and goes hits both sides of each pair alike.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <sys/resource.h>

void pair_run(contender *c, int k, const char *what)
{
    int rounds = B.rounds < MAX_ROUNDS ? B.rounds : MAX_ROUNDS;
    char label[160];
    /* Warm up: growth, page faults, a heap that has cycled once,
     * connections, branch predictors. */
    for (int j = 0; j < k; j++) {
        snprintf(label, sizeof label, "%s: %s", what, c[j].name);
        progress_step("%s (warming up)", label);
        warm_up(c[j].op, c[j].ctx, c[j].warm_ops, B.target_s / 4, B.warm_cap_s, label);
        c[j].n = 0;
    }
    for (int r = 0; r < rounds; r++)
        for (int s = 0; s < k; s++) {
            /* Odd rounds run backwards, and the start turns: with two
             * contenders that gives A B, B A, A B ... */
            int j = r % 2 ? (k - 1 - (s + r / 2) % k) : (s + r / 2) % k;
            snprintf(label, sizeof label, "%s: %s", what, c[j].name);
            progress_step("%s (round %d/%d)", label, r + 1, rounds);
            loop_cpu_count(!c[j].not_cpu);
            struct rusage ru0, ru1;
            getrusage(RUSAGE_SELF, &ru0);
            c[j].ns[r] = measure_ns(c[j].op, c[j].ctx, B.target_s, label, &c[j].cpu[r]);
            getrusage(RUSAGE_SELF, &ru1);
            if (B.trace)
                fprintf(stderr, "trace: %s round %d: %.0f wall ns/op, %.0f CPU ns/op, "
                        "%.0f ops, %ld minor + %ld major page faults\n", label, r + 1,
                        c[j].ns[r], c[j].cpu[r], B.target_s * 1e9 / c[j].ns[r],
                        ru1.ru_minflt - ru0.ru_minflt, ru1.ru_majflt - ru0.ru_majflt);
            loop_cpu_count(true);
            c[j].n = r + 1;
        }
}

double ratio_median(const double *a, const double *b, size_t n)
{
    double q[MAX_ROUNDS * 8];
    size_t m = 0;
    for (size_t i = 0; i < n && m < sizeof q / sizeof q[0]; i++)
        if (b[i] > 0 && !isnan(a[i]) && !isnan(b[i]))
            q[m++] = a[i] / b[i];
    return stat_median(q, m);
}

/* In-process loops are compared by the thread's CPU time: on a machine
 * shared with other work, a loop that lost the CPU for a time slice would
 * otherwise carry that slice. A side that waits for another process
 * (Redis, the file system's daemons) is compared by wall time, both
 * sides alike. */
static bool by_cpu(const contender *a, const contender *b)
{
    return !a->not_cpu && (!b || !b->not_cpu);
}

double pair_ratio(const contender *a, const contender *b)
{
    int n = a->n < b->n ? a->n : b->n;
    return by_cpu(a, b) ? ratio_median(a->cpu, b->cpu, (size_t)n)
                        : ratio_median(a->ns, b->ns, (size_t)n);
}

double pair_value(const contender *c, const contender *other)
{
    return by_cpu(c, other) ? pair_median_cpu(c) : pair_median_wall(c);
}

double pair_median_wall(const contender *c)
{
    double v[MAX_ROUNDS];
    for (int i = 0; i < c->n; i++)
        v[i] = c->ns[i];
    return stat_median(v, (size_t)c->n);
}

double pair_median_cpu(const contender *c)
{
    double v[MAX_ROUNDS];
    for (int i = 0; i < c->n; i++)
        v[i] = c->cpu[i];
    return stat_median(v, (size_t)c->n);
}
