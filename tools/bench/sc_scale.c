/*
 * sc_scale.c - scenarios 3 (lookup latency as the file fills up) and 6
 * (memory: bytes per record, and heap use after random-size churn).
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAW_CLASS "bench.raw"
#define NNAMES 16384 /* random names per level, looked up round robin */

typedef struct lctx {
    mf_file *mf;
    store *st;
    char (*names)[32];
    unsigned next;
    unsigned char buf[64];
} lctx;

static int op_lookup(void *v)
{
    lctx *c = v;
    mf_record_info info;
    return mf_get_raw(c->mf, c->names[c->next++ % NNAMES], c->buf, sizeof c->buf,
                      &info);
}

static int op_lookup_lmdb(void *v)
{
    lctx *c = v;
    const void *d;
    size_t n;
    bool priv;
    if (c->st->get(c->st, c->names[c->next++ % NNAMES], &d, &n, &priv))
        die("%s: %s", c->st->name, c->st->err);
    memcpy(c->buf, d, n < sizeof c->buf ? n : sizeof c->buf);
    c->st->get_done(c->st);
    return 0;
}

void sc_lookup(void)
{
    progress_scenario("3 lookup scaling");
    static const size_t full[] = {10, 1000, 100000, 1000000};
    static const size_t quick[] = {10, 1000, 10000};
    const size_t *levels = B.quick ? quick : full;
    size_t nlevels = B.quick ? 3 : 4;

    mf_file *mfw = open_writer("lookup.map", 4u << 20);
    mf_file *mfr = open_reader("lookup.map");
    unsigned char data[64];
    fill_random(data, sizeof data, 7);
    store *lm = lmdb_open_store(bpath("lmdb-lookup"), B.quick ? 1ull << 30 : 4ull << 30);
    lctx c = {mfr, lm, malloc(NNAMES * sizeof *c.names), 0, {0}};
    if (!c.names)
        die("out of memory");
    uint64_t seed = 12345;
    size_t have = 0;
    double base = NAN;
    double *reps = calloc((size_t)B.repeats, sizeof *reps);
    double *lreps = calloc((size_t)B.repeats, sizeof *lreps);
    if (!reps || !lreps)
        die("out of memory");
    for (size_t l = 0; l < nlevels; l++) {
        size_t n = levels[l];
        for (; have < n; have++) {
            if (have % 65536 == 0)
                progress_step("filling: %zu of %zu records", have, n);
            char key[32];
            snprintf(key, sizeof key, "k%07zu", have);
            mfok(mf_put_raw(mfw, key, RAW_CLASS, 1, data, sizeof data), "mf_put_raw");
        }
        progress_step("filling LMDB: %zu records", n);
        if (lm->put_many(lm, "k", n, data, sizeof data))
            die("%s: %s", lm->name, lm->err);
        for (unsigned i = 0; i < NNAMES; i++)
            snprintf(c.names[i], sizeof c.names[i], "k%07zu",
                     (size_t)(rng_next(&seed) % n));
        measure_rate(op_lookup, &c, B.target_s / 4, "mf_get_raw");
        measure_rate(op_lookup_lmdb, &c, B.target_s / 4, "LMDB get");
        for (int r = 0; r < B.repeats; r++) {
            progress_step("%zu records: repeat %d/%d", n, r + 1, B.repeats);
            reps[r] = 1e9 / measure_rate(op_lookup, &c, B.target_s, "mf_get_raw");
            lreps[r] = 1e9 / measure_rate(op_lookup_lmdb, &c, B.target_s, "LMDB get");
        }
        double ns = stat_median(reps, (size_t)B.repeats);
        double lns = stat_median(lreps, (size_t)B.repeats);
        char fig[80];
        snprintf(fig, sizeof fig, "mf_get_raw 64 B, %zu records", n);
        result r = result_make("3 lookup", fig, U_NS, ns, B.repeats);
        if (l == 0) {
            base = ns;
        } else {
            result_peer(&r, "10 records", base, RK_BASE);
            add_result(&r);
        }
        result_peer(&r, "LMDB get + copy, same names", lns, RK_FASTER);
        add_result(&r);
    }
    char how[256];
    snprintf(how, sizeof how, "latency per lookup of a random name among all "
             "records, median of %d repeats of %.2g s; ratio to the 10-record figure "
             "and to LMDB holding the same records",
             B.repeats, B.target_s);
    report_section("3. Lookup scaling", how);
    free(reps);
    free(lreps);
    free(c.names);
    lm->close(lm);
    rm_tree(bpath("lmdb-lookup"));
    mfok(mf_close(mfr), "mf_close");
    mfok(mf_close(mfw), "mf_close");
    rm_tree(bpath("lookup.map"));
}

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

/* Log-uniform size in [16, 16384] bytes. */
static size_t churn_size(uint64_t *seed)
{
    return (size_t)(16.0 * pow(2.0, 10.0 * rng_unit(seed)));
}

void sc_memory(void)
{
    progress_scenario("6 memory");
    size_t n = B.quick ? 1000 : 10000;

    /* Bytes per record: n records of 64 B. */
    mf_file *mf = open_writer("mem.map", 0);
    unsigned char data[16384];
    fill_random(data, sizeof data, 3);
    mf_file_info f0, f1;
    mfok(mf_file_stat(mf, &f0), "mf_file_stat");
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "m%07zu", i);
        mfok(mf_put_raw(mf, key, RAW_CLASS, 1, data, 64), "mf_put_raw");
    }
    mfok(mf_file_stat(mf, &f1), "mf_file_stat");
    double per = (double)f1.heap_used / (double)n;
    double over = ((double)f1.heap_used - 64.0 * (double)n) / (double)n;
    char fig[80];
    snprintf(fig, sizeof fig, "heap bytes per 64 B record (%zu records)", n);
    result r = result_make("6 memory", fig, U_BYTES, per, 1);
    add_result(&r);
    snprintf(fig, sizeof fig, "overhead per record over its 64 B payload");
    r = result_make("6 memory", fig, U_BYTES, over, 1);
    snprintf(r.note, sizeof r.note, "heap_used %llu B incl. the hash index; "
             "empty file %llu B; capacity %llu B",
             (unsigned long long)f1.heap_used, (unsigned long long)f0.heap_used,
             (unsigned long long)f1.capacity);
    store *lm = lmdb_open_store(bpath("lmdb-mem"), 1ull << 30);
    if (lm->put_many(lm, "m", n, data, 64))
        die("%s: %s", lm->name, lm->err);
    double lm_over = ((double)lm->footprint(lm) - 64.0 * (double)n) / (double)n;
    result_peer(&r, "LMDB file", lm_over, RK_SMALLER);
    add_result(&r);
    lm->close(lm);
    rm_tree(bpath("lmdb-mem"));
    store *rd = redis_open_store(B.redis_sock);
    if (rd) {
        redis_flush();
        int64_t before = rd->footprint(rd);
        if (rd->put_many(rd, "m", n, data, 64))
            die("%s: %s", rd->name, rd->err);
        int64_t after = rd->footprint(rd);
        r.rk = RK_NONE;
        result_peer(&r, "Redis used_memory", ((double)(after - before) - 64.0 * (double)n) /
                                                 (double)n, RK_SMALLER);
        r.note[0] = '\0';
        add_result(&r);
        rd->close(rd);
        redis_flush();
    }
    mfok(mf_close(mf), "mf_close");
    rm_tree(bpath("mem.map"));

    /* Churn: random-size updates across many records. */
    size_t nrec = B.quick ? 1000 : 10000;
    size_t nupd = B.quick ? 50000 : 1000000;
    mf = open_writer("churn.map", 0);
    size_t *sizes = calloc(nrec, sizeof *sizes);
    if (!sizes)
        die("out of memory");
    uint64_t seed = 777;
    double live = 0;
    for (size_t i = 0; i < nrec; i++) {
        char key[32];
        snprintf(key, sizeof key, "c%07zu", i);
        sizes[i] = churn_size(&seed);
        live += (double)sizes[i];
        mfok(mf_put_raw(mf, key, RAW_CLASS, 1, data, sizes[i]), "mf_put_raw");
    }
    mfok(mf_file_stat(mf, &f0), "mf_file_stat");
    double live0 = live;
    int64_t t0 = now_ns();
    for (size_t u = 0; u < nupd; u++) {
        if (u % 50000 == 0)
            progress_step("churn: %zu of %zu updates", u, nupd);
        size_t i = (size_t)(rng_next(&seed) % nrec);
        char key[32];
        snprintf(key, sizeof key, "c%07zu", i);
        size_t s = churn_size(&seed);
        live += (double)s - (double)sizes[i];
        sizes[i] = s;
        mfok(mf_put_raw(mf, key, RAW_CLASS, 1, data, s), "mf_put_raw");
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    mfok(mf_file_stat(mf, &f1), "mf_file_stat");
    snprintf(fig, sizeof fig, "heap used / capacity after %zu updates", nupd);
    r = result_make("6 memory", fig, U_FRAC,
                    (double)f1.heap_used / (double)f1.capacity, 1);
    result_peer(&r, "after the first fill", (double)f0.heap_used / (double)f0.capacity,
                RK_NONE);
    snprintf(r.note, sizeof r.note, "%zu records, sizes 16 B..16 KiB log-uniform; "
             "%.3g updates/s during the churn", nrec, (double)nupd / secs);
    add_result(&r);
    r = result_make("6 memory", "live payload / capacity after churn", U_FRAC,
                    live / (double)f1.capacity, 1);
    result_peer(&r, "after the first fill", live0 / (double)f0.capacity, RK_NONE);
    add_result(&r);
    r = result_make("6 memory", "heap used / live payload after churn", U_COUNT,
                    (double)f1.heap_used / live, 1);
    result_peer(&r, "after the first fill", (double)f0.heap_used / live0, RK_NONE);
    snprintf(r.note, sizeof r.note, "capacity %llu B (first fill: %llu B), %.4g MB live",
             (unsigned long long)f1.capacity, (unsigned long long)f0.capacity,
             live / 1e6);
    add_result(&r);
    free(sizes);
    mfok(mf_close(mf), "mf_close");
    rm_tree(bpath("churn.map"));
    report_section("6. Memory", "from mf_file_stat: heap_used counts whole heap "
                   "blocks with their headers; the LMDB and Redis peers hold the "
                   "same records");
}
