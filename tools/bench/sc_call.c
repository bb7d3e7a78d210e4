/*
 * sc_call.c - issue 6: what mf_call (method by name through libffi) costs
 * over a direct call of the same hist1d function.
 */
#include "bench.h"

#include <mapfile/hist.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct cctx {
    const mf_class *cls;
    mf_hist1d *h;
    const char *method;
    mf_value args[1];
    size_t nargs;
    double sink;
} cctx;

/* Called through volatile pointers so the compiler cannot inline or hoist
 * them: a direct call, as a consumer compiled against hist.h makes. */
static double (*volatile direct_mean)(const mf_hist1d *) = mf_hist1d_mean;
static double (*volatile direct_bin)(const mf_hist1d *, int) = mf_hist1d_bin_content;

static int op_call(void *v)
{
    cctx *c = v;
    mf_value ret;
    int rc = mf_call(c->cls, c->h, c->method, c->args, c->nargs, &ret);
    c->sink += ret.v.d;
    return rc;
}

static int op_direct_mean(void *v)
{
    cctx *c = v;
    c->sink += direct_mean(c->h);
    return 0;
}

static int op_direct_bin(void *v)
{
    cctx *c = v;
    c->sink += direct_bin(c->h, (int)c->args[0].v.i);
    return 0;
}

void sc_call(void)
{
    progress_scenario("mf_call overhead");
    const mf_class *cls;
    mfok(mf_registry_find(B.reg, "hist1d", &cls), "mf_registry_find hist1d");
    mf_hist1d *h = mf_hist1d_new("call", 100, 0, 1);
    if (!h)
        die("mf_hist1d_new");
    uint64_t seed = 3;
    for (int i = 0; i < 10000; i++)
        mf_hist1d_fill(h, rng_unit(&seed));
    struct {
        const char *figure, *method;
        size_t nargs;
        bench_op direct;
    } cases[] = {
        {"hist1d mean d(o)", "mean", 0, op_direct_mean},
        {"hist1d bin_content d(o,i)", "bin_content", 1, op_direct_bin},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cctx c = {cls, h, cases[k].method, {{MF_T_I64, {.i = 42}}}, cases[k].nargs, 0};
        contender ct[2] = {CONTENDER("mf_call", op_call, &c, false),
                           CONTENDER("direct call", cases[k].direct, &c, false)};
        pair_run(ct, 2, cases[k].method);
        char fig[80];
        strfmt(fig, sizeof fig, "mf_call %s, CPU time", cases[k].figure);
        result r = result_make("mf_call", fig, U_NS, pair_median_cpu(&ct[0]), ct[0].n);
        result_ref_diff(&r, "direct call", pair_median_cpu(&ct[1]));
        result_goal(&r, "< 100 ns more", r.ratio < 100);
        add_result(&r);
        strfmt(fig, sizeof fig, "mf_call %s, wall time", cases[k].figure);
        r = result_make("mf_call", fig, U_NS, pair_median_wall(&ct[0]), ct[0].n);
        result_ref_diff(&r, "direct call", pair_median_wall(&ct[1]));
        result_goal(&r, "< 100 ns more", r.ratio < 100);
        add_result(&r);
        if (c.sink == 12345.678)
            printf(" "); /* keeps the results alive */
    }
    mf_hist1d_free(h);
    char how[320];
    strfmt(how, sizeof how, "ns per call, %d interleaved rounds of %.2g s, per "
             "second of the thread's CPU time and of wall time (which also counts "
             "time other processes held the CPU); the direct call goes through a "
             "function pointer so it is not inlined", B.rounds, B.target_s);
    report_section("Issue 6. mf_call overhead", how);
}
