/*
 * sc_update.c - scenarios 1 (update) and 2 (get): blobs of 64 B .. 1 MiB
 * and a hist1d, each rotating over a set sized from the last-level cache,
 * against the limit (XXH3 + memcpy into the same rotating slots of a
 * MAP_SHARED mapping) and LMDB holding the same records, in interleaved
 * rounds; the cache-hot one-record figures beside them; Redis and
 * write+rename over a smaller set; and get 64 B at 10,000 records, the set
 * issue 14's goal names.
 */
#include "bench.h"

#include <mapfile/hist.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A set of records held the same way by every contender. */
typedef struct dataset {
    const char *label;     /* "blob 64 B" */
    const char *tag;       /* for file names */
    size_t size;           /* payload bytes (the encoding, for the hist) */
    mf_hist1d *h;          /* non-NULL: a hist1d each side encodes itself */
    size_t n;              /* records in the set */
    bool fixed;            /* n is the goal's, not set_records()'s */
    uint64_t salt;         /* names: set_name(salt, 0..n-1) */
    unsigned char *src;    /* the payload bytes (the hist's encoding) */
    mf_file *mfw, *mfr, *mfnv;
    store *lm;
    limit_map lim;
    double heap;           /* mapfile heap_used after the fill */
    char set[200];         /* how large the set is, for notes */
} dataset;

enum sys { S_MF, S_MF_NV, S_LMDB, S_LIMIT, S_LIMIT_NV, S_REDIS, S_FILE };

/* One contender's state: which store, which records, its own random walk. */
typedef struct rot {
    dataset *d;
    enum sys sys;
    size_t n;              /* rotates over records 0..n-1 (1: cache-hot) */
    uint64_t rng;
    store *st;             /* LMDB, Redis or files */
    unsigned char *buf;    /* a get's destination */
    encbuf enc;
    uint64_t stamp;        /* written into each update's bytes */
    uint64_t sink;
} rot;

/* ------------------------------------------------------------------------ */
/* Operations                                                               */
/* ------------------------------------------------------------------------ */

static int update_mapfile(rot *c, const char *key)
{
    dataset *d = c->d;
    if (d->h)
        return mf_put(d->mfw, key, "hist1d", d->h);
    return mf_put_raw(d->mfw, key, RAW_CLASS, 1, d->src, d->size);
}

static int op_update(void *v)
{
    rot *c = v;
    dataset *d = c->d;
    size_t i = set_pick(&c->rng, c->n);
    char key[SET_NAME_CAP];
    if (c->sys != S_LIMIT)
        set_name(key, d->salt, i);
    const void *data = d->src;
    size_t n = d->size;
    if (!d->h) {
        /* New bytes every time, the same for every contender. */
        c->stamp++;
        memcpy(d->src, &c->stamp, d->size < 8 ? d->size : 8);
    }
    if (c->sys == S_MF)
        return update_mapfile(c, key);
    if (d->h) {
        if (enc_object(&c->enc, &mf_hist1d_class, d->h))
            return MF_ECODEC;
        data = c->enc.buf;
        n = c->enc.len;
    }
    if (c->sys == S_LIMIT) {
        limit_put(&d->lim, i, data, n);
        return 0;
    }
    if (c->st->put(c->st, key, data, n))
        store_die(c->st);
    return 0;
}

static int get_mapfile(rot *c, mf_file *mf, const char *key)
{
    if (c->d->h) {
        void *o;
        const mf_class *cls;
        int rc = mf_get(mf, key, &o, &cls);
        if (rc == 0)
            mf_object_free(cls, o);
        return rc;
    }
    mf_record_info info;
    int rc = mf_get_raw(mf, key, c->buf, c->d->size, &info);
    c->sink += c->buf[0];
    return rc;
}

static int get_limit(rot *c, size_t i, bool verify)
{
    dataset *d = c->d;
    if (!d->h) {
        if (limit_get(&d->lim, i, c->buf, verify))
            die("limit: checksum mismatch in slot %zu", i);
        c->sink += c->buf[0];
        return 0;
    }
    /* A decoder reads straight from the slot, after the checksum. */
    const unsigned char *slot = limit_slot(&d->lim, i);
    uint64_t want;
    memcpy(&want, slot, 8);
    if (verify && limit_checksum(slot + 8, d->size) != want)
        die("limit: checksum mismatch in slot %zu", i);
    return dec_object(&mf_hist1d_class, slot + 8, d->size);
}

static int get_store(rot *c, const char *key)
{
    dataset *d = c->d;
    const void *data;
    size_t n;
    bool priv;
    if (c->st->get(c->st, key, &data, &n, &priv))
        store_die(c->st);
    if (n != d->size)
        die("%s returned %zu bytes for %s, expected %zu", c->st->name, n, key, d->size);
    int rc = 0;
    if (d->h)
        rc = dec_object(&mf_hist1d_class, data, n);
    else if (!priv)
        memcpy(c->buf, data, n);
    c->sink += ((const unsigned char *)data)[0];
    c->st->get_done(c->st);
    return rc;
}

static int op_get(void *v)
{
    rot *c = v;
    size_t i = set_pick(&c->rng, c->n);
    char key[SET_NAME_CAP];
    switch (c->sys) {
    case S_LIMIT:
    case S_LIMIT_NV:
        return get_limit(c, i, c->sys == S_LIMIT);
    case S_MF:
    case S_MF_NV:
        set_name(key, c->d->salt, i);
        return get_mapfile(c, c->sys == S_MF ? c->d->mfr : c->d->mfnv, key);
    default:
        set_name(key, c->d->salt, i);
        return get_store(c, key);
    }
}

/* ------------------------------------------------------------------------ */
/* Data sets                                                                */
/* ------------------------------------------------------------------------ */

static const char *ds_file(const dataset *d, const char *kind)
{
    static char b[4][96];
    static int next;
    char *p = b[next++ % 4];
    snprintf(p, sizeof b[0], "%s-%s", kind, d->tag);
    return p;
}

/* Touch every record once through a read handle, as a consumer that has
 * run for a while has: page faults of a fresh mapping are not a get. */
static void ds_warm(dataset *d, mf_file *mf)
{
    rot c = {.d = d, .sys = S_MF, .n = d->n};
    c.buf = malloc(d->size);
    if (!c.buf)
        die("out of memory");
    for (size_t i = 0; i < d->n; i++) {
        char key[SET_NAME_CAP];
        set_name(key, d->salt, i);
        if (i % 65536 == 0)
            progress_step("%s: warming a reader, %zu of %zu", d->label, i, d->n);
        mfok(get_mapfile(&c, mf, key), "mf_get (warm-up)");
    }
    free(c.buf);
}

static void ds_open(dataset *d, size_t n)
{
    d->n = n;
    size_t line = (d->size + 63) & ~(size_t)63;
    uint64_t est = (uint64_t)n * (line + 160) + (1u << 20);
    progress_step("%s: filling %zu records in each store", d->label, n);
    d->mfw = open_writer(ds_file(d, "set.map"), est < B.max_size / 2 ? est : B.max_size / 2);
    mf_put_set(d->mfw, d->salt, 0, n, d->h ? "hist1d" : RAW_CLASS,
               d->h ? mf_hist1d_class.version : 1, d->src, d->size);
    mf_file_info fi;
    mfok(mf_file_stat(d->mfw, &fi), "mf_file_stat");
    d->heap = (double)fi.heap_used;
    d->lm = lmdb_open_store(bpath(ds_file(d, "lmdb")), 3 * est + (64u << 20));
    if (d->lm->put_set(d->lm, d->salt, n, d->src, d->size))
        store_die(d->lm);
    limit_open(&d->lim, ds_file(d, "limit"), n, d->size);
    for (size_t i = 0; i < n; i++)
        limit_put(&d->lim, i, d->src, d->size);
    d->mfr = open_reader(ds_file(d, "set.map"));
    d->mfnv = open_reader_flags(ds_file(d, "set.map"), MF_OPEN_NO_VERIFY);
    set_describe(d->set, sizeof d->set, n, d->heap, !d->fixed);
}

static void ds_close(dataset *d)
{
    if (B.trace) {
        mf_file_info fi;
        mfok(mf_file_stat(d->mfw, &fi), "mf_file_stat");
        fprintf(stderr, "trace: %s, %zu records: capacity %llu, heap_used %llu after the "
                "figures\n", d->label, d->n, (unsigned long long)fi.capacity,
                (unsigned long long)fi.heap_used);
    }
    mfok(mf_close(d->mfnv), "mf_close");
    mfok(mf_close(d->mfr), "mf_close");
    mfok(mf_close(d->mfw), "mf_close");
    d->lm->close(d->lm);
    limit_close(&d->lim);
    rm_tree(bpath(ds_file(d, "set.map")));
    rm_tree(bpath(ds_file(d, "lmdb")));
}

/* ------------------------------------------------------------------------ */
/* Figures                                                                  */
/* ------------------------------------------------------------------------ */

/* Results kept per section until every data set has run. */
typedef struct rowbuf {
    result r[96];
    int n;
} rowbuf;

static rowbuf upd_rows, get_rows;

static void row_add(rowbuf *b, const result *r)
{
    if (b->n == (int)(sizeof b->r / sizeof b->r[0]))
        die("too many rows");
    b->r[b->n++] = *r;
}

static rot rot_make(dataset *d, enum sys s, size_t n, store *st)
{
    rot c = {.d = d, .sys = s, .n = n, .st = st};
    c.rng = 0x1234567ull + (uint64_t)s * 77 + n;
    c.buf = malloc(d->size);
    if (!c.buf)
        die("out of memory");
    return c;
}

static void rot_free(rot *c)
{
    free(c->buf);
    enc_free(&c->enc);
}

/* The mapfile row of a figure and one row per reference, paired. */
static void emit(rowbuf *b, const char *scn, const char *fig, contender *c, int k,
                 const dataset *d, const char *note)
{
    double mf = pair_value(&c[0], &c[1]);
    for (int j = 1; j < k; j++) {
        result r = result_make(scn, fig, U_NS, mf, c[0].n);
        r.u2 = U_BPS;
        r.value2 = (double)d->size * 1e9 / mf;
        double pv = pair_value(&c[j], &c[0]);
        result_ref(&r, c[j].name, pv, pair_ratio(&c[0], &c[j]));
        r.peer_value2 = (double)d->size * 1e9 / pv;
        if (j == k - 1 && note)
            strfmt(r.note, sizeof r.note, "%s", note);
        row_add(b, &r);
    }
}

static void goal_from(goal_id g, const contender *a, const contender *b, const char *set)
{
    char fa[48], fb[48], figs[128];
    fmt_value(fa, sizeof fa, U_NS, pair_value(a, b));
    fmt_value(fb, sizeof fb, U_NS, pair_value(b, a));
    strfmt(figs, sizeof figs, "mapfile %s vs %s", fa, fb);
    goal_record(g, pair_ratio(a, b), figs, set);
}

/* Mark the row of reference `peer` in the last rows of b with the goal. */
static void goal_mark(rowbuf *b, const char *peer, goal_id g)
{
    for (int i = b->n - 1; i >= 0; i--)
        if (strcmp(b->r[i].peer, peer) == 0) {
            result_goal(&b->r[i], goal_bound(g), goal_met(g, b->r[i].ratio));
            return;
        }
}

static void rotating_updates(dataset *d, goal_id g, bool against_lmdb)
{
    char fig[96];
    const char *lim_name = d->h ? "limit: encode + XXH3 + memcpy" : "limit: XXH3 + memcpy";
    rot u[3] = {rot_make(d, S_MF, d->n, NULL), rot_make(d, S_LMDB, d->n, d->lm),
                rot_make(d, S_LIMIT, d->n, NULL)};
    contender cu[3] = {CONTENDER("mapfile", op_update, &u[0], false),
                       CONTENDER(d->h ? "LMDB encode + put" : "LMDB put", op_update, &u[1], false),
                       CONTENDER(lim_name, op_update, &u[2], false)};
    /* Each side replaces every record once before anything is timed, so
     * its heap or free list has cycled and its new pages are faulted in. */
    for (int j = 0; j < 3; j++)
        cu[j].warm_ops = d->n;
    strfmt(fig, sizeof fig, "update %s, rotating", d->label);
    pair_run(cu, 3, fig);
    emit(&upd_rows, "1 update", fig, cu, 3, d, d->set);
    if (g != G_NONE) {
        int j = against_lmdb ? 1 : 2;
        goal_from(g, &cu[0], &cu[j], d->set);
        goal_mark(&upd_rows, cu[j].name, g);
    }
    for (int i = 0; i < 3; i++)
        rot_free(&u[i]);
}

static void rotating_gets(dataset *d, goal_id g)
{
    char fig[96];
    const char *limv = d->h ? "limit: XXH3 + decode" : "limit: memcpy + XXH3";
    const char *limnv = d->h ? "limit: decode" : "limit: memcpy";
    rot r[5] = {rot_make(d, S_MF, d->n, NULL), rot_make(d, S_LMDB, d->n, d->lm),
                rot_make(d, S_LIMIT, d->n, NULL), rot_make(d, S_MF_NV, d->n, NULL),
                rot_make(d, S_LIMIT_NV, d->n, NULL)};
    contender cg[5] = {CONTENDER("mapfile", op_get, &r[0], false),
                       CONTENDER(d->h ? "LMDB get + decode" : "LMDB get + copy", op_get,
                                 &r[1], false),
                       CONTENDER(limv, op_get, &r[2], false),
                       CONTENDER("mapfile MF_OPEN_NO_VERIFY", op_get, &r[3], false),
                       CONTENDER(limnv, op_get, &r[4], false)};
    /* The updates moved records to pages the readers have not seen. */
    ds_warm(d, d->mfr);
    ds_warm(d, d->mfnv);
    strfmt(fig, sizeof fig, "get %s, rotating", d->label);
    pair_run(cg, 5, fig);
    emit(&get_rows, "2 get", fig, cg, 3, d, NULL);
    if (g != G_NONE) {
        goal_from(g, &cg[0], &cg[1], d->set);
        goal_mark(&get_rows, cg[1].name, g);
    }
    contender nv[2] = {cg[3], cg[4]};
    strfmt(fig, sizeof fig, "get %s, rotating, MF_OPEN_NO_VERIFY", d->label);
    emit(&get_rows, "2 get", fig, nv, 2, d, d->set);
    for (int i = 0; i < 5; i++)
        rot_free(&r[i]);
}

static void run_hot(dataset *d)
{
    char fig[96];
    const char *lim_name = d->h ? "limit: encode + XXH3 + memcpy" : "limit: XXH3 + memcpy";
    rot u[3] = {rot_make(d, S_MF, 1, NULL), rot_make(d, S_LMDB, 1, d->lm),
                rot_make(d, S_LIMIT, 1, NULL)};
    contender cu[3] = {CONTENDER("mapfile", op_update, &u[0], false),
                       CONTENDER(d->h ? "LMDB encode + put" : "LMDB put", op_update, &u[1], false),
                       CONTENDER(lim_name, op_update, &u[2], false)};
    for (int j = 0; j < 3; j++)
        cu[j].warm_ops = d->n;
    strfmt(fig, sizeof fig, "update %s, cache-hot (one record)", d->label);
    pair_run(cu, 3, fig);
    emit(&upd_rows, "1 update", fig, cu, 3, d,
         "cache-hot: the same record every time, beside the rotating figure");
    rot g[3] = {rot_make(d, S_MF, 1, NULL), rot_make(d, S_LMDB, 1, d->lm),
                rot_make(d, S_LIMIT, 1, NULL)};
    contender cg[3] = {CONTENDER("mapfile", op_get, &g[0], false),
                       CONTENDER(d->h ? "LMDB get + decode" : "LMDB get + copy", op_get, &g[1], false),
                       CONTENDER(d->h ? "limit: XXH3 + decode" : "limit: memcpy + XXH3", op_get, &g[2], false)};
    strfmt(fig, sizeof fig, "get %s, cache-hot (one record)", d->label);
    pair_run(cg, 3, fig);
    emit(&get_rows, "2 get", fig, cg, 3, d,
         "cache-hot: the same record every time, beside the rotating figure");
    for (int i = 0; i < 3; i++) {
        rot_free(&u[i]);
        rot_free(&g[i]);
    }
}

/* Redis and write+rename: servers and files cost syscalls, not cache
 * misses, and filling them with a set larger than the cache would take
 * longer than the whole run, so they rotate over a smaller set (said so). */
static void run_small(dataset *d, store *rd, store *fs)
{
    size_t n = (64u << 20) / d->size;
    n = n > 1000 ? 1000 : n < 16 ? 16 : n;
    if (n > d->n)
        n = d->n;
    progress_step("%s: %zu records into Redis and files", d->label, n);
    if (rd && rd->put_set(rd, d->salt, n, d->src, d->size))
        store_die(rd);
    if (fs->put_set(fs, d->salt, n, d->src, d->size))
        store_die(fs);
    char fig[96], note[200];
    strfmt(note, sizeof note, "a smaller set: records 0..%zu of the set (%.3g MiB, in "
             "the cache); %s", n - 1, (double)n * (double)d->size / 1048576.0,
             B.redis_note);
    rot u[3] = {rot_make(d, S_MF, n, NULL), rot_make(d, S_REDIS, n, rd),
                rot_make(d, S_FILE, n, fs)};
    contender cu[3] = {CONTENDER("mapfile", op_update, &u[0], false),
                       CONTENDER("tmp+rename", op_update, &u[2], true),
                       CONTENDER(d->h ? "Redis encode + SET" : "Redis SET", op_update, &u[1], true)};
    int k = rd ? 3 : 2;
    strfmt(fig, sizeof fig, "update %s, %zu records", d->label, n);
    pair_run(cu, k, fig);
    emit(&upd_rows, "1 update", fig, cu, k, d, note);
    rot g[3] = {rot_make(d, S_MF, n, NULL), rot_make(d, S_REDIS, n, rd),
                rot_make(d, S_FILE, n, fs)};
    contender cg[3] = {CONTENDER("mapfile", op_get, &g[0], false),
                       CONTENDER(d->h ? "open + read + decode" : "open + read", op_get, &g[2], true),
                       CONTENDER(d->h ? "Redis GET + decode" : "Redis GET", op_get, &g[1], true)};
    strfmt(fig, sizeof fig, "get %s, %zu records", d->label, n);
    pair_run(cg, k, fig);
    emit(&get_rows, "2 get", fig, cg, k, d, note);
    for (int i = 0; i < 3; i++) {
        rot_free(&u[i]);
        rot_free(&g[i]);
    }
}

/* Get 64 B among 10,000 records with random names: the set the goal
 * names (it fits in the cache; the rotating 64 B row is beside it). */
static void run_get64_goal(void)
{
    dataset d = {.label = "blob 64 B", .tag = "g64", .size = 64, .salt = 64064,
                 .fixed = true};
    d.src = malloc(64);
    if (!d.src)
        die("out of memory");
    fill_random(d.src, 64, 64);
    ds_open(&d, 10000);
    rot g[3] = {rot_make(&d, S_MF, d.n, NULL), rot_make(&d, S_LMDB, d.n, d.lm),
                rot_make(&d, S_LIMIT, d.n, NULL)};
    contender cg[3] = {CONTENDER("mapfile", op_get, &g[0], false),
                       CONTENDER("LMDB get + copy", op_get, &g[1], false),
                       CONTENDER("limit: memcpy + XXH3", op_get, &g[2], false)};
    const char *fig = "get blob 64 B, 10,000 records";
    pair_run(cg, 3, fig);
    char set[220];
    strfmt(set, sizeof set, "the goal's set: %s", d.set);
    emit(&get_rows, "2 get", fig, cg, 3, &d, set);
    goal_from(G_GET_64, &cg[0], &cg[1], "10,000 records, random names (in the cache)");
    goal_mark(&get_rows, "LMDB get + copy", G_GET_64);
    for (int i = 0; i < 3; i++)
        rot_free(&g[i]);
    ds_close(&d);
    free(d.src);
}

void sc_update_get(void)
{
    progress_scenario("1-2 update and get");
    mf_hist1d *h = mf_hist1d_new("bench hist1d", 1000, 0, 1);
    if (!h)
        die("mf_hist1d_new failed");
    uint64_t seed = 42;
    for (int i = 0; i < 100000; i++)
        mf_hist1d_fill(h, rng_unit(&seed));
    encbuf e0 = {0};
    mfok(enc_object(&e0, &mf_hist1d_class, h), "hist1d stream_out");

    dataset ds[] = {
        {.label = "blob 64 B", .tag = "64", .size = 64, .salt = 1},
        {.label = "blob 1 KiB", .tag = "1k", .size = 1024, .salt = 2},
        {.label = "blob 64 KiB", .tag = "64k", .size = 65536, .salt = 3},
        {.label = "blob 1 MiB", .tag = "1m", .size = 1u << 20, .salt = 4},
        {.label = "hist1d 1000 bins", .tag = "h1", .size = e0.len, .h = h, .salt = 5},
    };
    /* The goals each data set measures: its update's (against LMDB or the
     * limit) and its get's. */
    static const goal_id gu[] = {G_UPDATE_64, G_UPDATE_1K, G_UPDATE_64K, G_UPDATE_1M,
                                 G_NONE};
    static const bool gu_lmdb[] = {true, true, false, false, false};
    static const goal_id gg[] = {G_NONE, G_GET_1K, G_NONE, G_NONE, G_NONE};
    store *rd = redis_open_store(B.redis_sock);
    store *fs = file_open_store(bpath("files"));
    upd_rows.n = get_rows.n = 0;
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        dataset *d = &ds[i];
        d->src = malloc(d->size);
        if (!d->src)
            die("out of memory");
        if (d->h)
            memcpy(d->src, e0.buf, e0.len);
        else
            fill_random(d->src, d->size, d->salt);
        ds_open(d, set_records(d->size));
        rotating_updates(d, gu[i], gu_lmdb[i]);
        rotating_gets(d, gg[i]);
        run_hot(d);
        run_small(d, rd, fs);
        if (i == 0)
            run_get64_goal();
        ds_close(d);
        free(d->src);
    }
    enc_free(&e0);
    if (rd) {
        rd->close(rd);
        redis_flush();
    }
    fs->close(fs);
    rm_tree(bpath("files"));
    mf_hist1d_free(h);

    for (int i = 0; i < upd_rows.n; i++)
        add_result(&upd_rows.r[i]);
    char how[800];
    strfmt(how, sizeof how,
             "CPU ns per update of the measuring thread (wall ns against Redis and tmp+rename, which wait for other processes), GB/s; %d interleaved rounds of %.2g s per contender; "
             "mapfile: mf_put_raw (blobs), mf_put (hist1d: encode + publish); LMDB: one "
             "txn per put, MDB_NOSYNC|MDB_WRITEMAP|MDB_NOMETASYNC, the same records; "
             "limit: XXH3-64 + memcpy into the same rotating slots of a MAP_SHARED file "
             "mapping; every peer encodes the hist1d with the same codec; tmp+rename: no "
             "fsync",
             B.rounds, B.target_s);
    report_section("1. Update: CPU ns per update (rotating over a set larger than the LLC, "
                   "and cache-hot)", how);
    for (int i = 0; i < get_rows.n; i++)
        add_result(&get_rows.r[i]);
    strfmt(how, sizeof how,
             "CPU ns per get of the measuring thread (wall ns against Redis and files), GB/s; %d interleaved rounds of %.2g s per contender; mapfile: "
             "mf_get_raw into a buffer, verified (blobs), mf_get + free (hist1d); "
             "MF_OPEN_NO_VERIFY skips the checksum; LMDB: get in a renewed read txn + "
             "copy out (+ decode); limit: memcpy out of the slot + XXH3 of the copy "
             "(hist1d: XXH3 + decode from the slot); readers were warmed by one pass "
             "over every record",
             B.rounds, B.target_s);
    report_section("2. Get: CPU ns per get (rotating over a set larger than the LLC, and "
                   "cache-hot)", how);
}
