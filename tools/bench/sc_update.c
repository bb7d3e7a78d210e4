/*
 * sc_update.c - scenarios 1 (update) and 2 (get): mapfile against memcpy
 * into a MAP_SHARED file mapping (the limit), LMDB, Redis and
 * write-to-temp + rename, with the same payloads and the same codec.
 */
#include "bench.h"

#include <mapfile/hist.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

/* Class of raw blob records (mf_put_raw/mf_get_raw need no codec). */
#define RAW_CLASS "bench.raw"

enum { SYS_MF, SYS_LIMIT, SYS_LMDB, SYS_REDIS, SYS_FILE, NSYS };
static const char *const sys_name[NSYS] = {
    "mapfile", "memcpy (limit)", "LMDB", "Redis", "tmp+rename"};

typedef struct payload {
    const char *label;
    const char *key;
    size_t size;          /* bytes stored (the encoding, for the hist) */
    bool hist;
    unsigned char *bytes; /* blob bytes */
    unsigned char *slot;  /* the limit's place in the shared mapping */
} payload;

typedef struct uctx {
    int sys;
    payload *p;
    mf_file *mfw, *mfr;
    store *st;
    encbuf enc;
    unsigned char *buf;
    size_t cap;
    mf_hist1d *h;
} uctx;

_Noreturn static void store_die(store *s)
{
    die("%s: %s", s->name, s->err);
}

static int op_update(void *v)
{
    uctx *c = v;
    payload *p = c->p;
    if (c->sys == SYS_MF)
        return p->hist ? mf_update(c->mfw, p->key)
                       : mf_put_raw(c->mfw, p->key, RAW_CLASS, 1, p->bytes, p->size);
    const void *data = p->bytes;
    size_t n = p->size;
    if (p->hist) {
        if (enc_object(&c->enc, &mf_hist1d_class, c->h))
            return MF_ECODEC;
        data = c->enc.buf;
        n = c->enc.len;
    }
    if (c->sys == SYS_LIMIT) {
        memcpy(p->slot, data, n);
        return 0;
    }
    if (c->st->put(c->st, p->key, data, n))
        store_die(c->st);
    return 0;
}

static int op_get(void *v)
{
    uctx *c = v;
    payload *p = c->p;
    if (c->sys == SYS_MF) {
        if (p->hist) {
            void *o;
            const mf_class *cls;
            int rc = mf_get(c->mfr, p->key, &o, &cls);
            if (rc == 0)
                mf_object_free(cls, o);
            return rc;
        }
        mf_record_info info;
        return mf_get_raw(c->mfr, p->key, c->buf, c->cap, &info);
    }
    if (c->sys == SYS_LIMIT) {
        if (p->hist)
            return dec_object(&mf_hist1d_class, p->slot, p->size);
        memcpy(c->buf, p->slot, p->size);
        return 0;
    }
    const void *d;
    size_t n;
    bool priv;
    if (c->st->get(c->st, p->key, &d, &n, &priv))
        store_die(c->st);
    int rc = 0;
    if (n != p->size)
        die("%s returned %zu bytes for %s, expected %zu", c->st->name, n, p->key,
            p->size);
    if (p->hist)
        rc = dec_object(&mf_hist1d_class, d, n);
    else if (!priv)
        memcpy(c->buf, d, n);
    c->st->get_done(c->st);
    return rc;
}

static void emit(const char *scn, const char *verb, payload *p,
                 double rate[NSYS], bool have[NSYS], bool goals, bool note_missing)
{
    char fig[96];
    snprintf(fig, sizeof fig, "%s %s (%zu B)", verb, p->label, p->size);
    for (int s = SYS_LIMIT; s < NSYS; s++) {
        result r = result_make(scn, fig, U_RATE, rate[SYS_MF], B.repeats);
        r.u2 = U_BPS;
        r.value2 = rate[SYS_MF] * (double)p->size;
        if (!have[s] && !note_missing)
            continue;
        if (!have[s]) {
            result_peer(&r, sys_name[s], NAN, RK_FASTER);
            strfmt(r.note, sizeof r.note, "%s: %s", sys_name[s], B.redis_note);
            add_result(&r);
            continue;
        }
        result_peer(&r, sys_name[s], rate[s], s == SYS_LIMIT ? RK_LIMIT : RK_FASTER);
        r.peer_value2 = rate[s] * (double)p->size;
        if (goals && s == SYS_LMDB)
            result_goal(&r, "faster than LMDB", r.ratio > 1);
        if (goals && s == SYS_REDIS)
            result_goal(&r, ">=20x faster than Redis", r.ratio >= 20);
        add_result(&r);
    }
}

static void run_loops(const char *verb, bench_op op, payload *pl, int np,
                      uctx ctx[NSYS], bool have[NSYS], double (*rates)[NSYS])
{
    double *reps = calloc((size_t)np * NSYS * (size_t)B.repeats, sizeof *reps);
    if (!reps)
        die("out of memory");
    /* Warm up once (growth, page faults, connections), then interleave the
     * systems inside each repeat so neighbour noise hits them alike. */
    for (int i = 0; i < np; i++)
        for (int s = 0; s < NSYS; s++)
            if (have[s]) {
                ctx[s].p = &pl[i];
                loop_cpu_count(false);
                measure_rate(op, &ctx[s], B.target_s / 4, sys_name[s]);
                loop_cpu_count(true);
            }
    for (int rep = 0; rep < B.repeats; rep++)
        for (int i = 0; i < np; i++)
            for (int s = 0; s < NSYS; s++) {
                if (!have[s])
                    continue;
                progress_step("%s %s: %s (repeat %d/%d)", verb, pl[i].label,
                              sys_name[s], rep + 1, B.repeats);
                ctx[s].p = &pl[i];
                char what[128];
                snprintf(what, sizeof what, "%s %s with %s", verb, pl[i].label,
                         sys_name[s]);
                loop_cpu_count(s != SYS_REDIS && s != SYS_FILE);
                reps[((size_t)i * NSYS + (size_t)s) * (size_t)B.repeats + (size_t)rep] =
                    measure_rate(op, &ctx[s], B.target_s, what);
                loop_cpu_count(true);
            }
    for (int i = 0; i < np; i++)
        for (int s = 0; s < NSYS; s++)
            rates[i][s] = have[s] ? stat_median(&reps[((size_t)i * NSYS + (size_t)s) *
                                                      (size_t)B.repeats],
                                                (size_t)B.repeats)
                                  : NAN;
    free(reps);
}

void sc_update_get(void)
{
    progress_scenario("1-2 update and get");
    payload pl[] = {
        {"blob 64 B", "blob64", 64, false, NULL, NULL},
        {"blob 1 KiB", "blob1k", 1024, false, NULL, NULL},
        {"blob 64 KiB", "blob64k", 65536, false, NULL, NULL},
        {"blob 1 MiB", "blob1m", 1 << 20, false, NULL, NULL},
        {"hist1d 1000 bins", "hist1000", 0, true, NULL, NULL},
    };
    enum { NP = sizeof pl / sizeof pl[0] };

    mf_hist1d *h = mf_hist1d_new("bench hist1d", 1000, 0, 1);
    if (!h)
        die("mf_hist1d_new failed");
    uint64_t seed = 42;
    for (int i = 0; i < 100000; i++)
        mf_hist1d_fill(h, rng_unit(&seed));
    encbuf e0 = {0};
    mfok(enc_object(&e0, &mf_hist1d_class, h), "hist1d stream_out");
    pl[NP - 1].size = e0.len;
    enc_free(&e0);

    /* The limit's shared file mapping: one slot per payload. */
    size_t total = 0;
    for (int i = 0; i < NP; i++)
        total += (pl[i].size + 4095) & ~(size_t)4095;
    int fd = open(bpath("limit.bin"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)total) != 0)
        die("limit file: %s", strerror(errno));
    unsigned char *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        die("mmap limit file: %s", strerror(errno));
    close(fd);
    memset(map, 0, total);
    size_t off = 0, maxsize = 0;
    for (int i = 0; i < NP; i++) {
        pl[i].slot = map + off;
        off += (pl[i].size + 4095) & ~(size_t)4095;
        if (!pl[i].hist) {
            pl[i].bytes = malloc(pl[i].size);
            if (!pl[i].bytes)
                die("out of memory");
            fill_random(pl[i].bytes, pl[i].size, (uint64_t)i + 1);
        }
        if (pl[i].size > maxsize)
            maxsize = pl[i].size;
    }

    mf_file *mfw = open_writer("update.map", 8u << 20);
    mfok(mf_add(mfw, "hist1000", "hist1d", h), "mf_add hist1000");
    mf_file *mfr = open_reader("update.map");
    store *lm = lmdb_open_store(bpath("lmdb-update"), B.quick ? 512ull << 20 : 2ull << 30);
    store *rd = redis_open_store(B.redis_sock);
    store *fs = file_open_store(bpath("files-update"));

    uctx ctx[NSYS];
    bool have[NSYS];
    memset(ctx, 0, sizeof ctx);
    for (int s = 0; s < NSYS; s++) {
        ctx[s].sys = s;
        ctx[s].mfw = mfw;
        ctx[s].mfr = mfr;
        ctx[s].h = h;
        ctx[s].cap = maxsize;
        ctx[s].buf = malloc(maxsize);
        if (!ctx[s].buf)
            die("out of memory");
        have[s] = true;
    }
    ctx[SYS_LMDB].st = lm;
    ctx[SYS_REDIS].st = rd;
    ctx[SYS_FILE].st = fs;
    have[SYS_REDIS] = rd != NULL;

    double rates[NP][NSYS];
    run_loops("update", op_update, pl, NP, ctx, have, rates);
    for (int i = 0; i < NP; i++)
        emit("1 update", "update", &pl[i], rates[i], have, false, true);
    char how[512];
    snprintf(how, sizeof how,
             "median of %d repeats of %.2g s; limit: memcpy of the same bytes into "
             "a MAP_SHARED file mapping; mapfile: mf_put_raw (blobs), "
             "mf_update (hist1d); every peer encodes the hist1d with the same "
             "codec; LMDB: one txn per put, MDB_NOSYNC|MDB_WRITEMAP|MDB_NOMETASYNC; "
             "tmp+rename: no fsync",
             B.repeats, B.target_s);
    report_section("1. Update: updates/s and GB/s", how);

    /* Scenario 2: the same records among many others. */
    size_t nfill = B.quick ? 1000 : 10000;
    progress_step("get: adding %zu records to each store", nfill);
    unsigned char small[64];
    fill_random(small, sizeof small, 99);
    for (size_t i = 0; i < nfill; i++) {
        char key[32];
        snprintf(key, sizeof key, "fill%07zu", i);
        mfok(mf_put_raw(mfw, key, RAW_CLASS, 1, small, sizeof small), "mf_put_raw fill");
    }
    store *peers[] = {lm, rd, fs};
    for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++)
        if (peers[i] && peers[i]->put_many(peers[i], "fill", nfill, small, sizeof small))
            store_die(peers[i]);
    mf_file_info fi;
    mfok(mf_file_stat(mfr, &fi), "mf_file_stat");
    run_loops("get", op_get, pl, NP, ctx, have, rates);
    for (int i = 0; i < NP; i++)
        emit("2 get", "get", &pl[i], rates[i], have, true, true);
    snprintf(how, sizeof how,
             "median of %d repeats of %.2g s, %llu records in each store; limit: "
             "memcpy out of a MAP_SHARED file mapping (+ decode); mapfile: "
             "mf_get_raw into a buffer (blobs), mf_get + free (hist1d); peers: "
             "get + copy out (blobs), get + decode + free (hist1d)",
             B.repeats, B.target_s, (unsigned long long)fi.records);
    report_section("2. Get: gets/s and GB/s", how);

    /* The same gets without the checksum pass (MF_OPEN_NO_VERIFY): stamps
     * still prove each copy is whole; only damage at rest goes unseen. */
    mf_file *mfnv = open_reader_flags("update.map", MF_OPEN_NO_VERIFY);
    ctx[SYS_MF].mfr = mfnv;
    bool have_nv[NSYS] = {false};
    have_nv[SYS_MF] = have_nv[SYS_LIMIT] = have_nv[SYS_LMDB] = true;
    run_loops("get", op_get, pl, NP, ctx, have_nv, rates);
    for (int i = 0; i < NP; i++)
        emit("2b get no-verify", "get", &pl[i], rates[i], have_nv, true, false);
    report_section("2b. Get with MF_OPEN_NO_VERIFY: gets/s and GB/s",
                   "as 2, but the reader skips the checksum pass; peers: the "
                   "limit and LMDB only");
    ctx[SYS_MF].mfr = mfr;
    mfok(mf_close(mfnv), "mf_close");

    for (int s = 0; s < NSYS; s++) {
        free(ctx[s].buf);
        enc_free(&ctx[s].enc);
    }
    lm->close(lm);
    if (rd) {
        rd->close(rd);
        redis_flush();
    }
    fs->close(fs);
    mfok(mf_close(mfr), "mf_close");
    mfok(mf_close(mfw), "mf_close");
    mf_hist1d_free(h);
    for (int i = 0; i < NP; i++)
        free(pl[i].bytes);
    munmap(map, total);
    rm_tree(bpath("lmdb-update"));
    rm_tree(bpath("files-update"));
    rm_tree(bpath("update.map"));
    rm_tree(bpath("limit.bin"));
}
