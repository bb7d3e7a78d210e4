/*
 * sc_gen.c - issue 18: the codec `mapf gen` writes (struct gen_hist1d,
 * gen_hist1d.h, generated at build time and linked in) against the
 * hand-written hist1d codec, on objects holding the same values: stream_out
 * and stream_in (+ destroy), CPU ns per object, over working sets of
 * objects and payloads larger than the cache, in interleaved rounds.
 */
#include "bench.h"

#include <mapfile/codec.h>
#include <mapfile/hist.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MF_BENCH_HAVE_GEN
#include "gen_hist1d.h"

MF_DECLARE_PLUGIN(gen_hist1d);

/* Bins of every histogram: a typical monitoring histogram. */
#define GEN_NBINS 100
#define GEN_FILLS 64

/* One side: its class, its objects and their payloads. */
typedef struct gside {
    const mf_class *cls;
    void **objs;
    unsigned char **pay;
    size_t *len;
    size_t n;
    uint64_t rng;
    mf_writer w;
    double sink;
} gside;

static int op_out(void *v)
{
    gside *s = v;
    size_t i = set_pick(&s->rng, s->n);
    s->w.len = 0;
    int rc = s->cls->stream_out(s->objs[i], &s->w);
    s->sink += (double)s->w.len;
    return rc;
}

static int op_in(void *v)
{
    gside *s = v;
    size_t i = set_pick(&s->rng, s->n);
    mf_reader r = mf_reader_make(s->pay[i], s->len[i]);
    void *obj = s->cls->stream_in(&r, s->cls->version);
    if (!obj)
        return -1;
    s->sink += (double)r.pos;
    s->cls->destroy(obj);
    return 0;
}

/* The generated struct with hist1d @p h's values. */
static struct gen_hist1d *gen_copy(const mf_hist1d *h)
{
    struct gen_hist1d *g = calloc(1, sizeof *g);
    size_t cells = (size_t)h->xaxis.nbins + 2;
    if (!g || !(g->title = strdup(h->title)) || !(g->bins = malloc(cells * sizeof *g->bins)))
        die("gen bench: out of memory");
    g->min = h->xaxis.min;
    g->max = h->xaxis.max;
    g->entries = h->entries;
    g->sumw = h->sumw;
    g->sumw2 = h->sumw2;
    g->sumwx = h->sumwx;
    g->sumwx2 = h->sumwx2;
    g->ncells = (uint32_t)cells;
    memcpy(g->bins, h->bins, cells * sizeof *g->bins);
    return g;
}

static void encode_all(gside *s)
{
    s->pay = calloc(s->n, sizeof *s->pay);
    s->len = calloc(s->n, sizeof *s->len);
    if (!s->pay || !s->len)
        die("gen bench: out of memory");
    for (size_t i = 0; i < s->n; i++) {
        s->w.len = 0;
        if (s->cls->stream_out(s->objs[i], &s->w) != 0)
            die("gen bench: %s stream_out failed", s->cls->name);
        if (!(s->pay[i] = malloc(s->w.len)))
            die("gen bench: out of memory");
        memcpy(s->pay[i], s->w.buf, s->w.len);
        s->len[i] = s->w.len;
    }
}

/* A decoded generated object equals its hist1d: the two sides do the same
 * work. */
static void check_same(const gside *g, const gside *h)
{
    for (size_t i = 0; i < g->n; i += g->n / 16 + 1) {
        mf_reader r = mf_reader_make(g->pay[i], g->len[i]);
        struct gen_hist1d *o = g->cls->stream_in(&r, g->cls->version);
        const mf_hist1d *want = h->objs[i];
        if (!o || strcmp(o->title, want->title) != 0 || o->sumwx2 != want->sumwx2 ||
            o->ncells != (uint32_t)want->xaxis.nbins + 2 ||
            memcmp(o->bins, want->bins, o->ncells * sizeof *o->bins) != 0)
            die("gen bench: the generated codec does not give back object %zu", i);
        g->cls->destroy(o);
    }
}

static void free_side(gside *s)
{
    for (size_t i = 0; i < s->n; i++) {
        s->cls->destroy(s->objs[i]);
        free(s->pay[i]);
    }
    free(s->objs);
    free(s->pay);
    free(s->len);
    free(s->w.buf);
}

static void add_row(const char *figure, contender *ct, const char *set)
{
    double ratio = pair_ratio(&ct[0], &ct[1]);
    result r = result_make("gen", figure, U_NS, pair_value(&ct[0], &ct[1]), ct[0].n);
    result_ref(&r, "hist1d (hand-written)", pair_value(&ct[1], &ct[0]), ratio);
    result_goal(&r, "within 1.1x", ratio <= 1.1);
    strfmt(r.note, sizeof r.note, "%s", set);
    add_result(&r);
}

void sc_gen(void)
{
    progress_scenario("generated codec vs hist1d");
    const mf_plugin *p = MF_PLUGIN_FUNCTION(gen_hist1d)();
    gside g = {.cls = p->classes[0], .rng = 11}, h = {.cls = &mf_hist1d_class, .rng = 11};
    /* payload: title, 7 doubles, the count, the bins */
    size_t payload = 16 + 7 * 8 + 2 + (GEN_NBINS + 2) * 8;
    /* Objects and payloads of both sides: four sets of about this size. */
    size_t n = set_records(payload);
    g.n = h.n = n;
    g.objs = calloc(n, sizeof *g.objs);
    h.objs = calloc(n, sizeof *h.objs);
    g.w.buf = malloc(g.w.cap = 1 << 16);
    h.w.buf = malloc(h.w.cap = 1 << 16);
    if (!g.objs || !h.objs || !g.w.buf || !h.w.buf)
        die("gen bench: out of memory");
    uint64_t seed = 5;
    for (size_t i = 0; i < n; i++) {
        char title[SET_NAME_CAP];
        set_name(title, 18, i);
        mf_hist1d *hi = mf_hist1d_new(title, GEN_NBINS, -1, 1);
        if (!hi)
            die("gen bench: mf_hist1d_new");
        for (int k = 0; k < GEN_FILLS; k++)
            mf_hist1d_fill(hi, 2.2 * rng_unit(&seed) - 1.1);
        h.objs[i] = hi;
        g.objs[i] = gen_copy(hi);
    }
    encode_all(&h);
    encode_all(&g);
    check_same(&g, &h);
    char set[200];
    strfmt(set, sizeof set, "%zu objects per side, %zu + %zu payload bytes, %.2gx the LLC "
           "in objects and again in payloads per side", n, g.len[0], h.len[0],
           (double)n * (double)payload / (double)B.m.llc);

    contender out[2] = {CONTENDER("generated stream_out", op_out, &g, false),
                        CONTENDER("hist1d stream_out", op_out, &h, false)};
    out[0].warm_ops = out[1].warm_ops = n;
    pair_run(out, 2, "stream_out");
    add_row("stream_out, 100-bin histogram, CPU ns", out, set);

    contender in[2] = {CONTENDER("generated stream_in", op_in, &g, false),
                       CONTENDER("hist1d stream_in", op_in, &h, false)};
    in[0].warm_ops = in[1].warm_ops = n;
    pair_run(in, 2, "stream_in");
    add_row("stream_in + destroy, 100-bin histogram, CPU ns", in, set);

    if (g.sink == 1.5 || h.sink == 1.5)
        printf(" "); /* keeps the results alive */
    free_side(&g);
    free_side(&h);
    char how[320];
    strfmt(how, sizeof how, "CPU ns per object, the codec mapf gen writes for struct "
           "gen_hist1d (tools/bench/gen_hist1d.h) vs hist1d's hand-written codec on the same "
           "values; objects picked at random; %d interleaved rounds of %.2g s, ratio = "
           "median of per-round ratios", B.rounds, B.target_s);
    report_section("Issue 18. Generated codec vs hand-written (hist1d)", how);
}

#else

void sc_gen(void)
{
    progress_scenario("generated codec vs hist1d");
    result r = result_make("gen", "generated codec vs hist1d", U_NS, 0.0 / 0.0, 0);
    strfmt(r.note, sizeof r.note, "not measured: this build has no mapf gen (libclang-dev)");
    add_result(&r);
    report_section("Issue 18. Generated codec vs hand-written (hist1d)", "not measured");
}

#endif
