/*
 * sc_scale.c - scenarios 3 (lookup latency as the file fills up, against
 * one random read of the same file and LMDB holding the same names) and 6
 * (memory: heap per record against LMDB's pages, and heap use after
 * random-size churn).
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define LOOKUP_SALT 3003

enum { L_MF, L_LMDB, L_READ };

/* A chain of lookups: each picks its record from the bytes the one before
 * it read, so the memory misses of one lookup cannot overlap the next:
 * the figure is a latency, on every side alike. */
typedef struct lctx {
    int kind;
    mf_file *mf;
    store *st;
    const unsigned char *map; /* the map file, mapped again (L_READ) */
    size_t lines;             /* 64-byte lines in it */
    size_t n;
    uint64_t rng;
    unsigned char buf[64];
} lctx;

static inline uint64_t chain(lctx *c)
{
    uint64_t prev;
    memcpy(&prev, c->buf, 8);
    return rng_next(&c->rng) ^ prev;
}

static int op_lookup(void *v)
{
    lctx *c = v;
    uint64_t h = chain(c);
    if (c->kind == L_READ) {
        memcpy(c->buf, c->map + (h % c->lines) * 64, 64);
        return 0;
    }
    char key[SET_NAME_CAP];
    set_name(key, LOOKUP_SALT, h % c->n);
    if (c->kind == L_MF) {
        mf_record_info info;
        return mf_get_raw(c->mf, key, c->buf, sizeof c->buf, &info);
    }
    const void *d;
    size_t n;
    bool priv;
    if (c->st->get(c->st, key, &d, &n, &priv))
        store_die(c->st);
    memcpy(c->buf, d, n < sizeof c->buf ? n : sizeof c->buf);
    c->st->get_done(c->st);
    return 0;
}

/* The map file mapped once more, read-only, every page populated. */
static const unsigned char *map_again(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die("%s: %s", path, strerror(errno));
    *size = (size_t)st.st_size;
    void *p = mmap(NULL, *size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        die("mmap %s: %s", path, strerror(errno));
    /* Touch every page, as the reader's warm-up pass touched its own. */
    volatile unsigned char sink = 0;
    for (size_t off = 0; off < *size; off += 4096)
        sink ^= ((const unsigned char *)p)[off];
    (void)sink;
    return p;
}

static void warm_reader(mf_file *mf, size_t n)
{
    unsigned char buf[64];
    for (size_t i = 0; i < n; i++) {
        char key[SET_NAME_CAP];
        mf_record_info info;
        set_name(key, LOOKUP_SALT, i);
        mfok(mf_get_raw(mf, key, buf, sizeof buf, &info), "mf_get_raw (warm-up)");
    }
}

static void lookup_level(size_t n, mf_file *mfr, store *lm, double *base, bool goal)
{
    size_t fsize;
    const unsigned char *map = map_again(bpath("lookup.map"), &fsize);
    lctx c[3] = {{L_MF, mfr, NULL, NULL, 0, n, 11, {0}},
                 {L_LMDB, NULL, lm, NULL, 0, n, 11, {0}},
                 {L_READ, NULL, NULL, map, fsize / 64, n, 11, {0}}};
    char peer[80];
    strfmt(peer, sizeof peer, "one random 64 B read of the file (%.3g MiB)",
             (double)fsize / 1048576.0);
    contender k[3] = {CONTENDER("mapfile mf_get_raw", op_lookup, &c[0], false),
                      CONTENDER("LMDB get + copy, same names", op_lookup, &c[1], false),
                      CONTENDER(peer, op_lookup, &c[2], false)};
    char fig[96];
    strfmt(fig, sizeof fig, "lookup 64 B among %zu records", n);
    /* As many warm-up lookups as the file has pages, on top of the passes
     * that faulted every page in: on a virtual machine with shadow page
     * tables the first touch of a page after a while costs microseconds. */
    for (int j = 0; j < 3; j++)
        k[j].warm_ops = fsize / 4096;
    pair_run(k, 3, fig);
    mf_file_info fi;
    mfok(mf_file_stat(mfr, &fi), "mf_file_stat");
    char set[200];
    set_describe(set, sizeof set, n, (double)fi.heap_used, false);
    double mf = pair_value(&k[0], NULL);
    result r = result_make("3 lookup", fig, U_NS, mf, k[0].n);
    result_ref(&r, k[2].name, pair_value(&k[2], NULL), pair_ratio(&k[0], &k[2]));
    if (goal) {
        result_goal(&r, goal_bound(G_LOOKUP), goal_met(G_LOOKUP, r.ratio));
        char figs[128], a[32], b[32];
        fmt_value(a, sizeof a, U_NS, mf);
        fmt_value(b, sizeof b, U_NS, pair_value(&k[2], NULL));
        strfmt(figs, sizeof figs, "mapfile %s vs %s", a, b);
        char gset[220];
        strfmt(gset, sizeof gset, "%s%s", set,
               n < 1000000 ? " (--quick: fewer records than the goal's 1,000,000)" : "");
        goal_record(G_LOOKUP, r.ratio, figs, gset);
    }
    add_result(&r);
    r = result_make("3 lookup", fig, U_NS, mf, k[0].n);
    result_ref(&r, k[1].name, pair_value(&k[1], NULL), pair_ratio(&k[0], &k[1]));
    if (*base > 0) {
        add_result(&r);
        r = result_make("3 lookup", fig, U_NS, mf, k[0].n);
        result_ref_single(&r, "mapfile among 10 records", *base);
    } else {
        *base = mf;
    }
    strfmt(r.note, sizeof r.note, "%s", set);
    add_result(&r);
    munmap((void *)map, fsize);
}

void sc_lookup(void)
{
    progress_scenario("3 lookup scaling");
    static const size_t full[] = {10, 1000, 100000, 1000000};
    static const size_t quick[] = {10, 1000, 100000};
    const size_t *levels = B.quick ? quick : full;
    size_t nlevels = B.quick ? 3 : 4;

    mf_file *mfw = open_writer("lookup.map", 4u << 20);
    mf_file *mfr = open_reader("lookup.map");
    unsigned char data[64];
    fill_random(data, sizeof data, 7);
    store *lm = lmdb_open_store(bpath("lmdb-lookup"), 2ull << 30);
    size_t have = 0;
    double base = 0;
    for (size_t l = 0; l < nlevels; l++) {
        size_t n = levels[l];
        progress_step("filling: %zu records", n);
        mf_put_set(mfw, LOOKUP_SALT, have, n, RAW_CLASS, 1, data, sizeof data);
        if (lm->put_set(lm, LOOKUP_SALT, n, data, sizeof data))
            store_die(lm);
        have = n;
        progress_step("warming the reader: %zu records", n);
        warm_reader(mfr, n);
        lookup_level(n, mfr, lm, &base, l == nlevels - 1);
    }
    char how[400];
    strfmt(how, sizeof how, "CPU ns per lookup of a random name, each chosen from the "
             "bytes the previous lookup read (a dependent chain: latency, not "
             "throughput); names look random; %d interleaved rounds of %.2g s; the "
             "random read is a 64-byte read at a random line of the same map file "
             "mapped again in this process (MAP_POPULATE); the reader handle was "
             "warmed by one pass", B.rounds, B.target_s);
    report_section("3. Lookup scaling", how);
    lm->close(lm);
    rm_tree(bpath("lmdb-lookup"));
    mfok(mf_close(mfr), "mf_close");
    mfok(mf_close(mfw), "mf_close");
    rm_tree(bpath("lookup.map"));
}

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

#define MEM_SALT 6006
#define MEM_RECORDS 100000

/* Log-uniform size in [16, 16384] bytes. */
static size_t churn_size(uint64_t *seed)
{
    return (size_t)(16.0 * pow(2.0, 10.0 * rng_unit(seed)));
}

static void memory_per_record(const unsigned char *data)
{
    size_t n = MEM_RECORDS;
    mf_file *mf = open_writer("mem.map", 0);
    mf_file_info f0, f1;
    mfok(mf_file_stat(mf, &f0), "mf_file_stat");
    for (size_t i = 0; i < n; i++) {
        char key[SET_NAME_CAP];
        set_name(key, MEM_SALT, i);
        mfok(mf_put_raw(mf, key, RAW_CLASS, 1, data, 64), "mf_put_raw");
    }
    mfok(mf_file_stat(mf, &f1), "mf_file_stat");
    mfok(mf_close(mf), "mf_close");
    rm_tree(bpath("mem.map"));
    double per = (double)f1.heap_used / (double)n;

    store *lm = lmdb_open_store(bpath("lmdb-mem"), 1ull << 30);
    if (lm->put_set(lm, MEM_SALT, n, data, 64))
        store_die(lm);
    double lm_pages = (double)lmdb_pages_bytes(lm) / (double)n;
    double lm_file = (double)lm->footprint(lm) / (double)n;
    lm->close(lm);
    rm_tree(bpath("lmdb-mem"));

    const char *fig = "heap per 64 B record, 100,000 records";
    result r = result_make("6 memory", fig, U_BYTES, per, 1);
    result_ref(&r, "LMDB pages (branch+leaf+overflow) per record", lm_pages,
               per / lm_pages);
    result_goal(&r, goal_bound(G_HEAP), goal_met(G_HEAP, r.ratio));
    char figs[128];
    strfmt(figs, sizeof figs, "mapfile %.1f B vs LMDB %.1f B per record", per, lm_pages);
    goal_record(G_HEAP, r.ratio, figs, "100,000 records of 64 B, names of 14 random "
                "characters, one put each");
    add_result(&r);
    r = result_make("6 memory", fig, U_BYTES, per, 1);
    result_ref(&r, "LMDB file size per record", lm_file, per / lm_file);
    strfmt(r.note, sizeof r.note, "mapfile: heap_used %llu B / %zu records (an empty "
             "file: %llu B); names of 14 characters", (unsigned long long)f1.heap_used,
             n, (unsigned long long)f0.heap_used);
    add_result(&r);

    store *rd = redis_open_store(B.redis_sock);
    if (rd) {
        redis_flush();
        int64_t before = rd->footprint(rd);
        if (rd->put_set(rd, MEM_SALT, n, data, 64))
            store_die(rd);
        int64_t after = rd->footprint(rd);
        double rper = (double)(after - before) / (double)n;
        r = result_make("6 memory", fig, U_BYTES, per, 1);
        result_ref(&r, "Redis used_memory per record", rper, per / rper);
        add_result(&r);
        rd->close(rd);
        redis_flush();
    }
}

static void memory_churn(const unsigned char *data)
{
    size_t nrec = B.quick ? 1000 : 10000;
    size_t nupd = B.quick ? 50000 : 1000000;
    mf_file *mf = open_writer("churn.map", 0);
    size_t *sizes = calloc(nrec, sizeof *sizes);
    if (!sizes)
        die("out of memory");
    uint64_t seed = 777;
    double live = 0;
    for (size_t i = 0; i < nrec; i++) {
        char key[SET_NAME_CAP];
        set_name(key, MEM_SALT + 1, i);
        sizes[i] = churn_size(&seed);
        live += (double)sizes[i];
        mfok(mf_put_raw(mf, key, RAW_CLASS, 1, data, sizes[i]), "mf_put_raw");
    }
    mf_file_info f0, f1;
    mfok(mf_file_stat(mf, &f0), "mf_file_stat");
    double live0 = live;
    int64_t t0 = now_ns();
    for (size_t u = 0; u < nupd; u++) {
        if (u % 50000 == 0)
            progress_step("churn: %zu of %zu updates", u, nupd);
        size_t i = (size_t)(rng_next(&seed) % nrec);
        char key[SET_NAME_CAP];
        set_name(key, MEM_SALT + 1, i);
        size_t s = churn_size(&seed);
        live += (double)s - (double)sizes[i];
        sizes[i] = s;
        mfok(mf_put_raw(mf, key, RAW_CLASS, 1, data, s), "mf_put_raw");
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    mfok(mf_file_stat(mf, &f1), "mf_file_stat");
    char fig[80];
    strfmt(fig, sizeof fig, "heap used / capacity after %zu updates", nupd);
    result r = result_make("6 memory", fig, U_FRAC,
                           (double)f1.heap_used / (double)f1.capacity, 1);
    result_ref_single(&r, "after the first fill", (double)f0.heap_used / (double)f0.capacity);
    strfmt(r.note, sizeof r.note, "%zu records, sizes 16 B..16 KiB log-uniform; "
             "%.3g updates/s during the churn", nrec, (double)nupd / secs);
    add_result(&r);
    r = result_make("6 memory", "live payload / capacity after churn", U_FRAC,
                    live / (double)f1.capacity, 1);
    result_ref_single(&r, "after the first fill", live0 / (double)f0.capacity);
    add_result(&r);
    r = result_make("6 memory", "heap used / live payload after churn", U_COUNT,
                    (double)f1.heap_used / live, 1);
    result_ref_single(&r, "after the first fill", (double)f0.heap_used / live0);
    strfmt(r.note, sizeof r.note, "capacity %llu B (first fill: %llu B), %.4g MB live",
             (unsigned long long)f1.capacity, (unsigned long long)f0.capacity,
             live / 1e6);
    add_result(&r);
    free(sizes);
    mfok(mf_close(mf), "mf_close");
    rm_tree(bpath("churn.map"));
}

void sc_memory(void)
{
    progress_scenario("6 memory");
    unsigned char data[16384];
    fill_random(data, sizeof data, 3);
    memory_per_record(data);
    memory_churn(data);
    report_section("6. Memory", "bytes per record from mf_file_stat (heap_used counts "
                   "whole heap blocks with their headers and the index) against LMDB "
                   "(mdb_env_stat pages in use, and the file) and Redis (used_memory) "
                   "holding the same records; then random-size churn");
}
