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

/* The limit for a full update: encode every object with its codec and
 * memcpy the bytes into a MAP_SHARED file mapping. CPU ns, median. Also
 * returns the bytes of one full update. */
static double limit_full_update(objset *s, int reps, double *bytes)
{
    encbuf e = {0};
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++) {
        mfok(enc_object(&e, s->cls[i], s->obj[i]), "stream_out");
        total += e.len;
    }
    *bytes = (double)total;
    int fd = open(bpath("limit-setup.bin"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0600);
    if (fd < 0 || ftruncate(fd, (off_t)total) != 0)
        die("limit file: %s", strerror(errno));
    unsigned char *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    close(fd);
    memset(map, 0, total);
    double *t = calloc((size_t)reps, sizeof *t);
    if (!t)
        die("out of memory");
    for (int r = 0; r < reps; r++) {
        int64_t c0 = cpu_ns();
        size_t off = 0;
        for (size_t i = 0; i < s->n; i++) {
            mfok(enc_object(&e, s->cls[i], s->obj[i]), "stream_out");
            memcpy(map + off, e.buf, e.len);
            off += e.len;
        }
        t[r] = (double)(cpu_ns() - c0);
    }
    double m = stat_median(t, (size_t)reps);
    free(t);
    enc_free(&e);
    munmap(map, total);
    rm_tree(bpath("limit-setup.bin"));
    return m;
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

/* Producer loop of A and B: fill, full update, sleep to the next period. */
static void produce(mf_file *mf, objset *set, int64_t period, int64_t duration,
                    int fills, double **cpu, double **wall, size_t *n)
{
    size_t cap = (size_t)(duration / period) + 4;
    *cpu = calloc(cap, sizeof **cpu);
    *wall = calloc(cap, sizeof **wall);
    if (!*cpu || !*wall)
        die("out of memory");
    uint64_t seed = 99;
    int64_t start = now_ns(), next = start;
    *n = 0;
    while (now_ns() - start < duration && *n < cap) {
        objset_fill(set, fills, &seed);
        int64_t c0 = cpu_ns(), w0 = now_ns();
        mfok(mf_update(mf, NULL), "mf_update(NULL)");
        (*cpu)[*n] = (double)(cpu_ns() - c0);
        (*wall)[*n] = (double)(now_ns() - w0);
        (*n)++;
        progress_step("full update %zu", *n);
        next += period;
        sleep_until_ns(next);
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
    snprintf(fig, sizeof fig, "%s get latency, p50", what);
    result r = result_make(scn, fig, U_NS, stat_percentile(all, n, 50), (int)n);
    add_result(&r);
    snprintf(fig, sizeof fig, "%s get latency, p99", what);
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
    double *cpu, *wall;
    size_t n;
    int64_t duration = B.quick ? 1500000000 : 10000000000;
    produce(mf, &set, 100 * 1000000, duration, 200, &cpu, &wall, &n);
    STORE(&shm->stop, 1u);
    team_join(&t, "test beam readers");

    double bytes;
    double lim = limit_full_update(&set, B.quick ? 5 : 21, &bytes);
    char fig[80];
    snprintf(fig, sizeof fig, "producer CPU per full update, p50");
    result r = result_make("A test beam", fig, U_NS, stat_percentile(cpu, n, 50), (int)n);
    result_peer(&r, "encode + memcpy (limit)", lim, RK_LIMIT);
    snprintf(r.note, sizeof r.note, "50 objects, %.3g MB per full update", bytes / 1e6);
    add_result(&r);
    r = result_make("A test beam", "producer CPU per full update, p99", U_NS,
                    stat_percentile(cpu, n, 99), (int)n);
    add_result(&r);
    r = result_make("A test beam", "wall time per full update, p50", U_NS,
                    stat_percentile(wall, n, 50), (int)n);
    add_result(&r);
    lat_results("A test beam", shm, "reader, 10 obj/100 ms:");
    char how[200];
    snprintf(how, sizeof how, "40 hist1d x 4096 bins + 10 hist2d 128x128, "
             "mf_update(NULL) at 10 Hz for %.3g s, 2 reader processes; limit: "
             "median of its own repeats", (double)duration / 1e9);
    report_section("A. Test beam", how);
    free(cpu);
    free(wall);
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
    double *cpu, *wall;
    size_t n;
    produce(mf, &set, period, duration, 20, &cpu, &wall, &n);
    STORE(&shm->stop, 1u);
    team_join(&t, "DQM readers");

    double bytes;
    double lim = limit_full_update(&set, B.quick ? 3 : 5, &bytes);
    result r = result_make("B DQM", "full update wall time, p50", U_NS,
                           stat_percentile(wall, n, 50), (int)n);
    snprintf(r.note, sizeof r.note, "%zu objects, %.3g MB per full update", set.n,
             bytes / 1e6);
    add_result(&r);
    r = result_make("B DQM", "full update wall time, max", U_NS,
                    stat_percentile(wall, n, 100), (int)n);
    add_result(&r);
    r = result_make("B DQM", "full update producer CPU, p50", U_NS,
                    stat_percentile(cpu, n, 50), (int)n);
    result_peer(&r, "encode + memcpy (limit)", lim, RK_LIMIT);
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
    snprintf(fig, sizeof fig, "mf_get_snapshot of all %zu objects, p50", set.n);
    r = result_make("B DQM", fig, U_NS, stat_percentile(shm->snap_ns, ns, 50), (int)ns);
    add_result(&r);
    snprintf(fig, sizeof fig, "mf_get_snapshot of all %zu objects, max", set.n);
    r = result_make("B DQM", fig, U_NS, stat_percentile(shm->snap_ns, ns, 100), (int)ns);
    add_result(&r);
    r = result_make("B DQM", "retries per snapshot, mean", U_COUNT, mean_retries,
                    (int)ns);
    snprintf(r.note, sizeof r.note, "max %.0f retries; %llu snapshots gave MF_EBUSY",
             max_retries, (unsigned long long)shm->snap_busy);
    add_result(&r);
    lat_results("B DQM", shm, "reader, 30 obj/period/10:");
    char how[256];
    snprintf(how, sizeof how, "%zu hist1d x 2048 bins + %zu hist2d 160x160; full "
             "update every %.3g s for %.3g s; 1 snapshot reader per period, 2 readers "
             "of 30 objects every period/10", nh1, nh2, (double)period / 1e9,
             (double)duration / 1e9);
    report_section("B. DQM", how);
    free(cpu);
    free(wall);
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

void sc_stress(void)
{
    progress_scenario("C stress");
    int nx = B.quick ? 500 : 2000;
    int64_t duration = B.quick ? 1000000000 : 4000000000;
    mf_file *mf = open_writer("stress.map", 64u << 20);
    mf_hist2d *h = mf_hist2d_new("stress", nx, -5, 5, nx, -5, 5);
    if (!h)
        die("mf_hist2d_new");
    mfok(mf_put(mf, "big", "hist2d", h), "mf_put");
    mf_hist2d_free(h);
    mfok(mf_close(mf), "mf_close");

    stress_shm both, w_only, r_only;
    progress_step("writer + reader");
    stress_run(nx, true, true, duration, &both);
    progress_step("writer alone");
    stress_run(nx, true, false, duration / 2, &w_only);
    progress_step("reader alone");
    stress_run(nx, false, true, duration / 2, &r_only);
#define RATE(n, a, b) ((double)(n) * 1e9 / (double)((b) - (a)))
    char fig[80];
    double mb = (double)(nx + 2) * (nx + 2) * 8 / 1e6;
    snprintf(fig, sizeof fig, "updates/s of hist2d %dx%d (%.3g MB), reader on", nx,
             nx, mb);
    result r = result_make("C stress", fig, U_RATE, RATE(both.updates, both.wt0, both.wt1), 1);
    r.u2 = U_BPS;
    r.value2 = r.value * mb * 1e6;
    result_peer(&r, "no reader", RATE(w_only.updates, w_only.wt0, w_only.wt1), RK_BASE);
    r.peer_value2 = r.peer_value * mb * 1e6;
    add_result(&r);
    snprintf(fig, sizeof fig, "reader gets/s while it is updated");
    r = result_make("C stress", fig, U_RATE, RATE(both.gets, both.rt0, both.rt1), 1);
    r.u2 = U_BPS;
    r.value2 = r.value * mb * 1e6;
    result_peer(&r, "no writer", RATE(r_only.gets, r_only.rt0, r_only.rt1), RK_BASE);
    r.peer_value2 = r.peer_value * mb * 1e6;
    snprintf(r.note, sizeof r.note, "%llu gets in %.3g s, %llu failed with MF_EBUSY",
             (unsigned long long)both.gets, (double)(both.rt1 - both.rt0) / 1e9,
             (unsigned long long)both.busy);
    add_result(&r);
#undef RATE
    char how[160];
    snprintf(how, sizeof how, "one run of %.3g s with both, %.3g s each alone; "
             "writer and reader are separate processes", (double)duration / 1e9,
             (double)duration / 2e9);
    report_section("C. Stress: one big hist2d", how);
    rm_tree(bpath("stress.map"));
}
