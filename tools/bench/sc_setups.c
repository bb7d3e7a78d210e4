/*
 * sc_setups.c - issue 9's real set-ups: A (test beam), B (DQM) and
 * C (stress: one huge hist2d updated as fast as possible while read).
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

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* The limit of a full update: encode every object with its codec and
 * memcpy the bytes into a MAP_SHARED file mapping, alternating between two
 * halves (a writer that leaves the last batch readable must write the
 * next one elsewhere); optionally with the XXH3 of each payload too. */
typedef struct setup_limit {
    unsigned char *map;
    size_t half, total;
    int next;
    encbuf e;
    char path[512];
} setup_limit;

static void slimit_open(setup_limit *l, objset *s)
{
    memset(l, 0, sizeof *l);
    for (size_t i = 0; i < s->n; i++) {
        mfok(enc_object(&l->e, s->cls[i], s->obj[i]), "stream_out");
        l->total += l->e.len;
    }
    l->half = (l->total * 2 + 4095) & ~(size_t)4095; /* room to grow */
    snprintf(l->path, sizeof l->path, "%s", bpath("limit-setup.bin"));
    int fd = open(l->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)(2 * l->half)) != 0)
        die("limit file: %s", strerror(errno));
    l->map = mmap(NULL, 2 * l->half, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (l->map == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    memset(l->map, 0, 2 * l->half);
}

/* CPU ns of one full update by hand. */
static double slimit_run(setup_limit *l, objset *s, bool checksum)
{
    int64_t c0 = cpu_ns();
    unsigned char *dst = l->map + (size_t)l->next * l->half;
    size_t off = 0;
    for (size_t i = 0; i < s->n; i++) {
        mfok(enc_object(&l->e, s->cls[i], s->obj[i]), "stream_out");
        if (off + l->e.len > l->half)
            die("limit: a full update outgrew its half of the mapping");
        if (checksum) {
            uint64_t h = limit_checksum(l->e.buf, l->e.len);
            memcpy(dst + off, &h, 8);
            off += 8;
        }
        memcpy(dst + off, l->e.buf, l->e.len);
        off += l->e.len;
    }
    l->next ^= 1;
    return (double)(cpu_ns() - c0);
}

static void slimit_close(setup_limit *l)
{
    enc_free(&l->e);
    munmap(l->map, 2 * l->half);
    unlink(l->path);
}

/* ------------------------------------------------------------------------ */
/* Periodic readers (A and B)                                               */
/* ------------------------------------------------------------------------ */

#define MAX_LAT 60000
#define MAX_SNAP 2000

typedef struct setup_shm {
    uint32_t stop;
    uint32_t nlat[2];
    uint32_t nsnap;
    uint64_t snap_busy;
    double lat[2][MAX_LAT];   /* per-object get latency, ns */
    double snap_ns[MAX_SNAP]; /* full snapshot time, ns */
    double snap_retries[MAX_SNAP];
} setup_shm;

typedef struct reader_arg {
    team *t;
    setup_shm *shm;
    const char *file;
    objset *set;
    int idx;          /* 0, 1: periodic readers; -1: snapshot reader */
    int per_period;   /* objects per period */
    int64_t period_ns;
} reader_arg;

static void periodic_reader(void *v)
{
    reader_arg *a = v;
    setup_shm *shm = a->shm;
    mf_file *mf = open_reader(a->file);
    uint64_t seed = 1000 + (uint64_t)a->idx;
    team_child_ready(a->t);
    team_child_wait_go(a->t);
    int64_t next = now_ns();
    while (!LOAD(&shm->stop)) {
        for (int k = 0; k < a->per_period; k++) {
            const char *name = a->set->names[rng_next(&seed) % a->set->n];
            void *o;
            const mf_class *cls;
            int64_t t0 = now_ns();
            mfok(mf_get(mf, name, &o, &cls), "mf_get");
            int64_t t1 = now_ns();
            mf_object_free(cls, o);
            uint32_t n = shm->nlat[a->idx];
            if (n < MAX_LAT) {
                shm->lat[a->idx][n] = (double)(t1 - t0);
                shm->nlat[a->idx] = n + 1;
            }
        }
        next += a->period_ns;
        sleep_until_ns(next);
    }
    mf_close(mf);
}

static void snapshot_reader(void *v)
{
    reader_arg *a = v;
    setup_shm *shm = a->shm;
    mf_file *mf = open_reader(a->file);
    size_t n = a->set->n;
    const char **names = calloc(n, sizeof *names);
    void **objs = calloc(n, sizeof *objs);
    const mf_class **cls = calloc(n, sizeof *cls);
    if (!names || !objs || !cls)
        die("out of memory");
    for (size_t i = 0; i < n; i++)
        names[i] = a->set->names[i];
    team_child_ready(a->t);
    team_child_wait_go(a->t);
    int64_t next = now_ns() + a->period_ns / 2; /* off the producer's beat */
    while (!LOAD(&shm->stop)) {
        sleep_until_ns(next);
        next += a->period_ns;
        if (LOAD(&shm->stop))
            break;
        unsigned retries = 0;
        int64_t t0 = now_ns();
        int rc = mf_get_snapshot(mf, names, n, objs, cls, &retries);
        int64_t t1 = now_ns();
        if (rc == MF_EBUSY) {
            shm->snap_busy++;
            continue;
        }
        mfok(rc, "mf_get_snapshot");
        for (size_t i = 0; i < n; i++)
            mf_object_free(cls[i], objs[i]);
        uint32_t k = shm->nsnap;
        if (k < MAX_SNAP) {
            shm->snap_ns[k] = (double)(t1 - t0);
            shm->snap_retries[k] = retries;
            shm->nsnap = k + 1;
        }
    }
    free(names);
    free(objs);
    free(cls);
    mf_close(mf);
}

/* What the producer loop of A and B measured, one entry per period. */
typedef struct prod_out {
    double *cpu, *wall; /* mapfile's full update */
    double *lim, *limx; /* encode + memcpy; the same + XXH3 */
    size_t n;
    double bytes;       /* bytes of one full update */
} prod_out;

/* Producer loop of A and B: fill, then mapfile's full update and the
 * limit's, in an order that alternates from period to period, then sleep
 * to the next period. */
static void produce(mf_file *mf, objset *set, int64_t period, int64_t duration,
                    int fills, prod_out *o)
{
    size_t cap = (size_t)(duration / period) + 4;
    o->cpu = calloc(cap, sizeof *o->cpu);
    o->wall = calloc(cap, sizeof *o->wall);
    o->lim = calloc(cap, sizeof *o->lim);
    o->limx = calloc(cap, sizeof *o->limx);
    if (!o->cpu || !o->wall || !o->lim || !o->limx)
        die("out of memory");
    setup_limit l;
    slimit_open(&l, set);
    o->bytes = (double)l.total;
    /* A few full updates first: until the heap has cycled, mapfile writes
     * into pages it never touched (the limit's were written once). */
    for (int w = 0; w < 4; w++) {
        mfok(mf_update(mf, NULL), "mf_update(NULL)");
        slimit_run(&l, set, false);
    }
    uint64_t seed = 99;
    int64_t start = now_ns(), next = start;
    o->n = 0;
    while (now_ns() - start < duration && o->n < cap) {
        objset_fill(set, fills, &seed);
        bool limit_first = o->n % 2;
        if (limit_first) {
            o->lim[o->n] = slimit_run(&l, set, false);
            o->limx[o->n] = slimit_run(&l, set, true);
        }
        int64_t c0 = cpu_ns(), w0 = now_ns();
        mfok(mf_update(mf, NULL), "mf_update(NULL)");
        o->cpu[o->n] = (double)(cpu_ns() - c0);
        o->wall[o->n] = (double)(now_ns() - w0);
        if (!limit_first) {
            o->limx[o->n] = slimit_run(&l, set, true);
            o->lim[o->n] = slimit_run(&l, set, false);
        }
        o->n++;
        progress_step("full update %zu", o->n);
        next += period;
        sleep_until_ns(next);
    }
    slimit_close(&l);
}

static void prod_free(prod_out *o)
{
    free(o->cpu);
    free(o->wall);
    free(o->lim);
    free(o->limx);
}

/* mapfile's CPU per full update against the limits, paired per period. */
static void prod_results(const char *scn, prod_out *o, const char *what, int goal)
{
    double r1 = ratio_median(o->cpu, o->lim, o->n);
    double r2 = ratio_median(o->cpu, o->limx, o->n);
    double lim = stat_percentile(o->lim, o->n, 50);
    double limx = stat_percentile(o->limx, o->n, 50);
    double cpu = stat_percentile(o->cpu, o->n, 50);
    char fig[80];
    strfmt(fig, sizeof fig, "%s producer CPU per full update, p50", what);
    result r = result_make(scn, fig, U_NS, cpu, (int)o->n);
    result_ref(&r, "encode + memcpy (limit)", lim, r1);
    if (goal >= 0)
        result_goal(&r, goal_bound((goal_id)goal), goal_met((goal_id)goal, r1));
    add_result(&r);
    r = result_make(scn, fig, U_NS, cpu, (int)o->n);
    result_ref(&r, "encode + XXH3 + memcpy (limit)", limx, r2);
    strfmt(r.note, sizeof r.note, "%.3g MB per full update; limits write into "
             "alternating halves of a MAP_SHARED mapping; paired per period, order "
             "alternating", o->bytes / 1e6);
    add_result(&r);
    if (goal >= 0) {
        char figs[128], a[32], b[32];
        fmt_value(a, sizeof a, U_NS, cpu);
        fmt_value(b, sizeof b, U_NS, lim);
        strfmt(figs, sizeof figs, "CPU p50 mapfile %s vs %s (with XXH3: %.3gx)", a, b,
                 r2);
        char set[160];
        strfmt(set, sizeof set, "%zu full updates%s", o->n,
                 B.quick ? " (--quick: 305 objects, not the goal's 3,050)" : "");
        goal_record((goal_id)goal, r1, figs, set);
    }
}

static void lat_results(const char *scn, setup_shm *shm, const char *what)
{
    size_t n = shm->nlat[0] + shm->nlat[1];
    double *all = malloc((n ? n : 1) * sizeof *all);
    if (!all)
        die("out of memory");
    memcpy(all, shm->lat[0], shm->nlat[0] * sizeof *all);
    memcpy(all + shm->nlat[0], shm->lat[1], shm->nlat[1] * sizeof *all);
    char fig[80];
    strfmt(fig, sizeof fig, "%s get latency, p50", what);
    result r = result_make(scn, fig, U_NS, stat_percentile(all, n, 50), (int)n);
    add_result(&r);
    strfmt(fig, sizeof fig, "%s get latency, p99", what);
    r = result_make(scn, fig, U_NS, stat_percentile(all, n, 99), (int)n);
    add_result(&r);
    free(all);
}

/* ------------------------------------------------------------------------ */
/* A. Test beam                                                             */
/* ------------------------------------------------------------------------ */

void sc_testbeam(void)
{
    progress_scenario("A test beam");
    objset set;
    objset_init(&set, 40, 4096, 10, 128, "tb");
    uint64_t seed = 5;
    objset_fill(&set, 2000, &seed);
    mf_file *mf = open_writer("tb.map", 16u << 20);
    objset_add(&set, mf);
    mfok(mf_update(mf, NULL), "mf_update(NULL)");

    setup_shm *shm = shm_alloc(sizeof *shm);
    memset(shm, 0, sizeof *shm);
    team t;
    team_init(&t);
    reader_arg ra[2];
    for (int i = 0; i < 2; i++) {
        ra[i] = (reader_arg){&t, shm, "tb.map", &set, i, 10, 100 * 1000000};
        team_spawn(&t, periodic_reader, &ra[i]);
    }
    team_wait_ready(&t);
    team_go(&t);
    prod_out po;
    int64_t duration = B.quick ? 1500000000 : 10000000000;
    produce(mf, &set, 100 * 1000000, duration, 200, &po);
    STORE(&shm->stop, 1u);
    team_join(&t, "test beam readers");

    prod_results("A test beam", &po, "50 objects:", -1);
    size_t n = po.n;
    result r = result_make("A test beam", "producer CPU per full update, p99", U_NS,
                           stat_percentile(po.cpu, n, 99), (int)n);
    add_result(&r);
    r = result_make("A test beam", "wall time per full update, p50", U_NS,
                    stat_percentile(po.wall, n, 50), (int)n);
    add_result(&r);
    lat_results("A test beam", shm, "reader, 10 obj/100 ms:");
    char how[300];
    strfmt(how, sizeof how, "40 hist1d x 4096 bins + 10 hist2d 128x128, "
             "mf_update(NULL) at 10 Hz for %.3g s, 2 reader processes; the limits run "
             "in the same periods, before or after mapfile in turn", (double)duration / 1e9);
    report_section("A. Test beam", how);
    prod_free(&po);
    shm_free(shm, sizeof *shm);
    mfok(mf_close(mf), "mf_close");
    objset_free(&set);
    rm_tree(bpath("tb.map"));
}

/* ------------------------------------------------------------------------ */
/* B. DQM                                                                   */
/* ------------------------------------------------------------------------ */

void sc_dqm(void)
{
    progress_scenario("B DQM");
    size_t nh1 = B.quick ? 300 : 3000, nh2 = B.quick ? 5 : 50;
    int64_t period = B.quick ? 250000000 : 1000000000;
    int64_t duration = B.quick ? 2000000000 : 10000000000;
    objset set;
    objset_init(&set, nh1, 2048, nh2, 160, "dqm");
    uint64_t seed = 6;
    objset_fill(&set, 200, &seed);
    mf_file *mf = open_writer("dqm.map", 64u << 20);
    objset_add(&set, mf);
    mfok(mf_update(mf, NULL), "mf_update(NULL)");

    setup_shm *shm = shm_alloc(sizeof *shm);
    memset(shm, 0, sizeof *shm);
    team t;
    team_init(&t);
    reader_arg ra[3];
    for (int i = 0; i < 2; i++) {
        ra[i] = (reader_arg){&t, shm, "dqm.map", &set, i, 30, period / 10};
        team_spawn(&t, periodic_reader, &ra[i]);
    }
    ra[2] = (reader_arg){&t, shm, "dqm.map", &set, -1, 0, period};
    team_spawn(&t, snapshot_reader, &ra[2]);
    team_wait_ready(&t);
    team_go(&t);
    prod_out po;
    produce(mf, &set, period, duration, 20, &po);
    STORE(&shm->stop, 1u);
    team_join(&t, "DQM readers");

    size_t n = po.n;
    char what[64];
    strfmt(what, sizeof what, "%zu objects:", set.n);
    prod_results("B DQM", &po, what, G_DQM);
    result r = result_make("B DQM", "full update wall time, p50", U_NS,
                           stat_percentile(po.wall, n, 50), (int)n);
    add_result(&r);
    r = result_make("B DQM", "full update wall time, max", U_NS,
                    stat_percentile(po.wall, n, 100), (int)n);
    add_result(&r);
    size_t ns = shm->nsnap;
    double mean_retries = 0, max_retries = 0;
    for (size_t i = 0; i < ns; i++) {
        mean_retries += shm->snap_retries[i];
        if (shm->snap_retries[i] > max_retries)
            max_retries = shm->snap_retries[i];
    }
    mean_retries = ns ? mean_retries / (double)ns : NAN;
    char fig[80];
    strfmt(fig, sizeof fig, "mf_get_snapshot of all %zu objects, p50", set.n);
    r = result_make("B DQM", fig, U_NS, stat_percentile(shm->snap_ns, ns, 50), (int)ns);
    add_result(&r);
    strfmt(fig, sizeof fig, "mf_get_snapshot of all %zu objects, max", set.n);
    r = result_make("B DQM", fig, U_NS, stat_percentile(shm->snap_ns, ns, 100), (int)ns);
    add_result(&r);
    r = result_make("B DQM", "retries per snapshot, mean", U_COUNT, mean_retries,
                    (int)ns);
    strfmt(r.note, sizeof r.note, "max %.0f retries; %llu snapshots gave MF_EBUSY",
             max_retries, (unsigned long long)shm->snap_busy);
    add_result(&r);
    lat_results("B DQM", shm, "reader, 30 obj/period/10:");
    char how[400];
    strfmt(how, sizeof how, "%zu hist1d x 2048 bins + %zu hist2d 160x160, one "
             "mf_update(NULL) batch every %.3g s for %.3g s; producer CPU from "
             "CLOCK_PROCESS_CPUTIME_ID; the limits run in the same periods, before or "
             "after mapfile in turn; 1 snapshot reader per period, 2 readers of 30 "
             "objects every period/10", nh1, nh2, (double)period / 1e9,
             (double)duration / 1e9);
    report_section("B. DQM", how);
    prod_free(&po);
    shm_free(shm, sizeof *shm);
    mfok(mf_close(mf), "mf_close");
    objset_free(&set);
    rm_tree(bpath("dqm.map"));
}

/* ------------------------------------------------------------------------ */
/* C. Stress                                                                */
/* ------------------------------------------------------------------------ */

typedef struct stress_shm {
    uint32_t stop;
    uint64_t updates, gets, busy;
    int64_t wt0, wt1, rt0, rt1;
} stress_shm;

typedef struct stress_arg {
    team *t;
    stress_shm *shm;
    int nx;
} stress_arg;

static void stress_writer(void *v)
{
    stress_arg *a = v;
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.max_size = B.max_size;
    o.registry = B.reg;
    mf_file *mf;
    mfok(mf_open(&mf, bpath("stress.map"), MF_UPDATE, &o), "mf_open MF_UPDATE");
    mf_hist2d *h = mf_hist2d_new("stress", a->nx, -5, 5, a->nx, -5, 5);
    if (!h)
        die("mf_hist2d_new");
    mfok(mf_add(mf, "big", "hist2d", h), "mf_add");
    uint64_t seed = 17;
    /* Steady state first: until the heap has cycled, updates write into
     * pages this process never touched. */
    for (int w = 0; w < 4; w++)
        mfok(mf_update(mf, "big"), "mf_update (warm-up)");
    team_child_ready(a->t);
    team_child_wait_go(a->t);
    uint64_t n = 0;
    int64_t t0 = now_ns();
    while (!LOAD(&a->shm->stop)) {
        for (int k = 0; k < 100; k++)
            mf_hist2d_fill(h, 10 * rng_unit(&seed) - 5, 10 * rng_unit(&seed) - 5);
        mfok(mf_update(mf, "big"), "mf_update");
        n++;
    }
    a->shm->wt1 = now_ns();
    a->shm->wt0 = t0;
    a->shm->updates = n;
    mf_close(mf);
    mf_hist2d_free(h);
}

static void stress_reader(void *v)
{
    stress_arg *a = v;
    mf_file *mf = open_reader("stress.map");
    for (int w = 0; w < 2; w++) {
        void *o;
        const mf_class *cls;
        mfok(mf_get(mf, "big", &o, &cls), "mf_get (warm-up)");
        mf_object_free(cls, o);
    }
    team_child_ready(a->t);
    team_child_wait_go(a->t);
    uint64_t n = 0, busy = 0;
    int64_t t0 = now_ns();
    while (!LOAD(&a->shm->stop)) {
        void *o;
        const mf_class *cls;
        int rc = mf_get(mf, "big", &o, &cls);
        if (rc == MF_EBUSY) {
            busy++;
            continue;
        }
        mfok(rc, "mf_get");
        mf_object_free(cls, o);
        n++;
    }
    a->shm->rt1 = now_ns();
    a->shm->rt0 = t0;
    a->shm->gets = n;
    a->shm->busy = busy;
    mf_close(mf);
}

static void stress_run(int nx, bool writer, bool reader, int64_t duration,
                       stress_shm *out)
{
    stress_shm *shm = shm_alloc(sizeof *shm);
    memset(shm, 0, sizeof *shm);
    team t;
    team_init(&t);
    stress_arg a = {&t, shm, nx};
    if (writer)
        team_spawn(&t, stress_writer, &a);
    if (reader)
        team_spawn(&t, stress_reader, &a);
    team_wait_ready(&t);
    team_go(&t);
    sleep_ns(duration);
    STORE(&shm->stop, 1u);
    team_join(&t, "stress");
    *out = *shm;
    shm_free(shm, sizeof *shm);
}

#define STRESS_RATE(n, a, b) ((double)(n) * 1e9 / (double)((b) - (a)))

void sc_stress(void)
{
    progress_scenario("C stress");
    int nx = B.quick ? 500 : 2000;
    int64_t run = B.quick ? 250000000 : 1000000000;
    int rounds = B.quick ? 2 : 3;
    mf_file *mf = open_writer("stress.map", 64u << 20);
    mf_hist2d *h = mf_hist2d_new("stress", nx, -5, 5, nx, -5, 5);
    if (!h)
        die("mf_hist2d_new");
    mfok(mf_put(mf, "big", "hist2d", h), "mf_put");
    mf_hist2d_free(h);
    mfok(mf_close(mf), "mf_close");

    /* Rounds of (both, writer alone, reader alone), odd rounds backwards. */
    double wb[MAX_ROUNDS], wa[MAX_ROUNDS], rb[MAX_ROUNDS], ra[MAX_ROUNDS];
    uint64_t gets = 0, busy = 0;
    double secs = 0;
    for (int r = 0; r < rounds; r++)
        for (int s = 0; s < 3; s++) {
            int c = r % 2 ? 2 - s : s;
            stress_shm o;
            progress_step("%s: round %d/%d",
                          c == 0 ? "writer + reader" : c == 1 ? "writer alone"
                                                              : "reader alone",
                          r + 1, rounds);
            stress_run(nx, c != 2, c != 1, run, &o);
            if (c == 0) {
                wb[r] = STRESS_RATE(o.updates, o.wt0, o.wt1);
                rb[r] = STRESS_RATE(o.gets, o.rt0, o.rt1);
                gets += o.gets;
                busy += o.busy;
                secs += (double)(o.rt1 - o.rt0) / 1e9;
            } else if (c == 1) {
                wa[r] = STRESS_RATE(o.updates, o.wt0, o.wt1);
            } else {
                ra[r] = STRESS_RATE(o.gets, o.rt0, o.rt1);
            }
        }
    double mb = (double)(nx + 2) * (nx + 2) * 8 / 1e6;
    double t[MAX_ROUNDS];
    char fig[80];
    strfmt(fig, sizeof fig, "updates/s of hist2d %dx%d (%.3g MB), reader on", nx, nx,
             mb);
    memcpy(t, wb, sizeof t);
    result r = result_make("C stress", fig, U_RATE, stat_median(t, (size_t)rounds), rounds);
    r.u2 = U_BPS;
    r.value2 = r.value * mb * 1e6;
    memcpy(t, wa, sizeof t);
    result_ref(&r, "the writer alone", stat_median(t, (size_t)rounds),
               ratio_median(wb, wa, (size_t)rounds));
    r.peer_value2 = r.peer_value * mb * 1e6;
    add_result(&r);
    memcpy(t, rb, sizeof t);
    r = result_make("C stress", "reader gets/s while it is updated", U_RATE,
                    stat_median(t, (size_t)rounds), rounds);
    r.u2 = U_BPS;
    r.value2 = r.value * mb * 1e6;
    memcpy(t, ra, sizeof t);
    result_ref(&r, "the reader alone", stat_median(t, (size_t)rounds),
               ratio_median(rb, ra, (size_t)rounds));
    r.peer_value2 = r.peer_value * mb * 1e6;
    strfmt(r.note, sizeof r.note, "%llu gets in %.3g s, %llu failed with MF_EBUSY",
             (unsigned long long)gets, secs, (unsigned long long)busy);
    add_result(&r);
    char how[200];
    strfmt(how, sizeof how, "%d interleaved rounds of %.3g s per configuration "
             "(both, writer alone, reader alone; odd rounds backwards); writer and "
             "reader are separate processes", rounds, (double)run / 1e9);
    report_section("C. Stress: one big hist2d", how);
    rm_tree(bpath("stress.map"));
}
