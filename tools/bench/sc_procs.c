/*
 * sc_procs.c - scenarios with several processes: 4 (update to a waiting
 * consumer waking, against a raw futex one-way between two processes) and
 * 5 (the writer with reader processes, against the same writer alone and
 * a raw memcpy writer + reader pair over the same set).
 */
#include "bench.h"

#include <mapfile/builtin.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Wait until *w >= target, checking now and then that `child` still runs. */
static void wait_word(uint32_t *w, uint32_t target, pid_t child, const char *what)
{
    for (;;) {
        uint32_t v = LOAD(w);
        if (v >= target)
            return;
        struct timespec ts = {0, 100 * 1000000};
        syscall(SYS_futex, w, FUTEX_WAIT, v, &ts, NULL, 0);
        if (LOAD(w) < target && child > 0) {
            int st;
            if (waitpid(child, &st, WNOHANG) == child)
                die("%s: the child process ended early (status %d)", what, st);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* 4. Update to visible                                                     */
/* ------------------------------------------------------------------------ */

enum { MODE_MF = 0, MODE_RAW = 1, MODE_QUIT = 2 };

typedef struct wake_shm {
    uint32_t seq;  /* producer -> consumer: number of the next sample */
    uint32_t mode;
    uint32_t ack;  /* consumer -> producer: 2i+1 about to block, 2i+2 done */
    uint32_t raw;  /* the raw one-way word */
    int64_t t0;    /* producer clock just before it triggers */
    int64_t tblock;/* consumer clock just before it blocks */
    int64_t lat;   /* wake time - t0 of the last sample */
} wake_shm;

static void wake_consumer(void *arg)
{
    wake_shm *w = arg;
    mf_file *mf = open_reader("wake.map");
    uint64_t seen = 0;
    mfok(mf_wait(mf, &seen, 0), "mf_wait (initial)");
    STORE(&w->ack, 0u);
    futex_wake_u32(&w->ack);
    for (uint32_t i = 0;; i++) {
        uint32_t s;
        while ((s = LOAD(&w->seq)) != i + 1)
            futex_wait_u32(&w->seq, s);
        uint32_t mode = LOAD(&w->mode);
        if (mode == MODE_QUIT)
            break;
        uint32_t raw = LOAD(&w->raw);
        STORE(&w->ack, 2 * i + 1);
        futex_wake_u32(&w->ack);
        STORE(&w->tblock, now_ns());
        if (mode == MODE_MF) {
            mfok(mf_wait(mf, &seen, 10000), "mf_wait");
        } else {
            while (LOAD(&w->raw) == raw)
                futex_wait_u32(&w->raw, raw);
        }
        int64_t t1 = now_ns();
        STORE(&w->lat, t1 - LOAD(&w->t0));
        STORE(&w->ack, 2 * i + 2);
        futex_wake_u32(&w->ack);
    }
    mf_close(mf);
}

/* Samples of one mode, each with the group (of consecutive pairs) it was
 * taken in. */
typedef struct lat_set {
    double *v;
    int *group;
    unsigned n, skipped;
} lat_set;

/* One sample: the consumer blocks, the producer triggers, the consumer
 * reports how long the wake took. */
static void wake_sample(wake_shm *w, pid_t pid, mf_file *mfw, uint32_t i, int mode,
                        int group, lat_set *ls)
{
    STORE(&w->mode, (uint32_t)mode);
    STORE(&w->seq, i + 1);
    futex_wake_u32(&w->seq);
    wait_word(&w->ack, 2 * i + 1, pid, "wake");
    /* Give the consumer time to go to sleep in the kernel. */
    sleep_ns(50000);
    int64_t t0 = now_ns();
    STORE(&w->t0, t0);
    if (mode == MODE_MF) {
        mfok(mf_update(mfw, "ping"), "mf_update");
    } else {
        __atomic_add_fetch(&w->raw, 1, __ATOMIC_RELEASE);
        futex_wake_u32(&w->raw);
    }
    wait_word(&w->ack, 2 * i + 2, pid, "wake");
    if (LOAD(&w->tblock) > t0) {
        ls->skipped++; /* it was not blocked yet: not a wake-up */
        return;
    }
    ls->v[ls->n] = (double)LOAD(&w->lat);
    ls->group[ls->n++] = group;
}

/* p50 of each group of one mode. */
static unsigned group_p50(const lat_set *ls, int ngroups, double *out)
{
    double *tmp = malloc((ls->n ? ls->n : 1) * sizeof *tmp);
    if (!tmp)
        die("out of memory");
    for (int g = 0; g < ngroups; g++) {
        size_t k = 0;
        for (unsigned i = 0; i < ls->n; i++)
            if (ls->group[i] == g)
                tmp[k++] = ls->v[i];
        out[g] = k ? stat_percentile(tmp, k, 50) : NAN;
    }
    free(tmp);
    return (unsigned)ngroups;
}

void sc_wake(void)
{
    progress_scenario("4 update to visible");
    unsigned pairs = B.quick ? 200 : 4000;
    unsigned per_group = 25; /* pairs behind one paired ratio */
    int ngroups = (int)((pairs + per_group - 1) / per_group);
    mf_file *mfw = open_writer("wake.map", 0);
    unsigned char data[64];
    fill_random(data, sizeof data, 5);
    mf_blob blob = {sizeof data, data};
    mfok(mf_add(mfw, "ping", MF_BLOB_CLASS, &blob), "mf_add");
    mfok(mf_update(mfw, "ping"), "mf_update");

    wake_shm *w = shm_alloc(sizeof *w);
    memset(w, 0, sizeof *w);
    w->ack = UINT32_MAX; /* set to 0 by the consumer once it has opened */
    lat_set ls[2];
    for (int m = 0; m < 2; m++) {
        ls[m].v = calloc(pairs, sizeof *ls[m].v);
        ls[m].group = calloc(pairs, sizeof *ls[m].group);
        ls[m].n = ls[m].skipped = 0;
        if (!ls[m].v || !ls[m].group)
            die("out of memory");
    }
    pid_t pid = spawn(wake_consumer, w);
    while (LOAD(&w->ack) != 0) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            die("wake consumer failed to start");
        sleep_ns(1000000);
    }
    uint32_t i = 0;
    for (unsigned p = 0; p < pairs; p++) {
        if (p % 50 == 0)
            progress_step("pair %u of %u", p, pairs);
        /* A B, B A, ...: neither side always goes first. */
        int first = p % 2 ? MODE_RAW : MODE_MF;
        int group = (int)(p / per_group);
        wake_sample(w, pid, mfw, i, first, group, &ls[first]);
        i++;
        wake_sample(w, pid, mfw, i, 1 - first, group, &ls[1 - first]);
        i++;
    }
    STORE(&w->mode, (uint32_t)MODE_QUIT);
    STORE(&w->seq, i + 1);
    futex_wake_u32(&w->seq);
    reap(pid, "wake consumer");

    double *gm = calloc((size_t)ngroups, sizeof *gm);
    double *gr = calloc((size_t)ngroups, sizeof *gr);
    if (!gm || !gr)
        die("out of memory");
    group_p50(&ls[MODE_MF], ngroups, gm);
    group_p50(&ls[MODE_RAW], ngroups, gr);
    double ratio = ratio_median(gm, gr, (size_t)ngroups);
    double p50[2], p99[2];
    for (int m = 0; m < 2; m++) {
        p50[m] = stat_percentile(ls[m].v, ls[m].n, 50);
        p99[m] = stat_percentile(ls[m].v, ls[m].n, 99);
    }
    result r = result_make("4 wake", "mf_update -> mf_wait wakes, p50", U_NS,
                           p50[MODE_MF], (int)ls[MODE_MF].n);
    result_ref(&r, "raw futex one-way", p50[MODE_RAW], ratio);
    result_goal(&r, goal_bound(G_WAKE), goal_met(G_WAKE, ratio));
    strfmt(r.note, sizeof r.note, "ratio: median over %d groups of %u pairs of the "
             "groups' p50 ratios", ngroups, per_group);
    add_result(&r);
    char figs[128], a[32], b[32];
    fmt_value(a, sizeof a, U_NS, p50[MODE_MF]);
    fmt_value(b, sizeof b, U_NS, p50[MODE_RAW]);
    strfmt(figs, sizeof figs, "p50 mapfile %s vs raw %s", a, b);
    char set[160];
    strfmt(set, sizeof set, "%u + %u samples, alternating%s", ls[MODE_MF].n,
             ls[MODE_RAW].n, B.quick ? " (--quick: few samples)" : "");
    goal_record(G_WAKE, ratio, figs, set);
    r = result_make("4 wake", "mf_update -> mf_wait wakes, p99", U_NS, p99[MODE_MF],
                    (int)ls[MODE_MF].n);
    result_ref_single(&r, "raw futex one-way", p99[MODE_RAW]);
    strfmt(r.note, sizeof r.note, "%u + %u samples; %u + %u dropped because the "
             "consumer was not yet blocked", ls[MODE_MF].n, ls[MODE_RAW].n,
             ls[MODE_MF].skipped, ls[MODE_RAW].skipped);
    add_result(&r);
    char how[300];
    strfmt(how, sizeof how, "time from just before mf_update (64 B blob) in the "
             "producer to the consumer's return from mf_wait, one at a time; the raw "
             "reference: an atomic increment + FUTEX_WAKE to a FUTEX_WAIT in the other "
             "process; samples alternate A B, B A");
    report_section("4. Update to visible (producer -> blocked consumer)", how);
    free(gm);
    free(gr);
    for (int m = 0; m < 2; m++) {
        free(ls[m].v);
        free(ls[m].group);
    }
    shm_free(w, sizeof *w);
    mfok(mf_close(mfw), "mf_close");
    rm_tree(bpath("wake.map"));
}

/* ------------------------------------------------------------------------ */
/* 5. Readers under write load                                              */
/* ------------------------------------------------------------------------ */

#define RW_SIZE 1024
#define RW_SALT 5005

enum { W_NONE = 0, W_MF = 1, W_RAW = 2 };

/* Workers live through the whole scenario, each warmed once (its mapping
 * faulted in, as a long-running process has it), and take part in the
 * runs the parent names: worker 0 is the mapfile writer, 1..4 mapfile
 * readers, 5 the raw writer, 6 the raw reader. */
enum { RW_MF_WRITER = 0, RW_RAW_WRITER = 5, RW_RAW_READER = 6, RW_WORKERS = 7 };

typedef struct rw_slot {
    uint64_t ops, busy;
    int64_t t0, t1;
    int64_t cpu; /* CPU time the process used while running */
} rw_slot;

typedef struct rw_shm {
    uint32_t phase;  /* bumped to start a run (or to quit) */
    uint32_t active; /* bit per worker taking part in this run */
    uint32_t stop;   /* the run is over */
    uint32_t done;   /* workers that finished the run */
    uint32_t quit;
    rw_slot slot[RW_WORKERS];
} rw_shm;

typedef struct rw_arg {
    team *t;
    rw_shm *shm;
    int id;
    bool writer;
    bool raw;
    size_t n;
    limit_map *raw_map;
} rw_arg;

/* One operation of a worker: mapfile put/get of a random record of the
 * set, or the raw memcpy into/out of its slot. */
static int rw_op(rw_arg *a, mf_file *mf, uint64_t *seed, unsigned char *buf,
                 uint64_t ops)
{
    size_t i = set_pick(seed, a->n);
    if (a->raw) {
        unsigned char *slot = limit_slot(a->raw_map, i) + 8;
        if (a->writer) {
            buf[0] = (unsigned char)ops;
            memcpy(slot, buf, RW_SIZE);
        } else {
            memcpy(buf, slot, RW_SIZE);
        }
        return 0;
    }
    char name[SET_NAME_CAP];
    set_name(name, RW_SALT, i);
    if (a->writer) {
        buf[0] = (unsigned char)ops;
        return mf_put_raw(mf, name, RAW_CLASS, 1, buf, RW_SIZE);
    }
    mf_record_info info;
    return mf_get_raw(mf, name, buf, RW_SIZE, &info);
}

/* Reach the steady state before any run: the readers fault their mapping
 * in, the writers replace every record once (so the heap has cycled and
 * the pages it writes are faulted in), within B.warm_cap_s. */
static void rw_warm(rw_arg *a, mf_file *mf, unsigned char *buf)
{
    int64_t t0 = now_ns(), cap = (int64_t)(B.warm_cap_s * 1e9);
    if (a->raw) {
        volatile unsigned char sink = 0;
        for (size_t off = 0; off < a->raw_map->bytes; off += 4096) {
            if (a->writer)
                a->raw_map->base[off] = 0x5a;
            else
                sink ^= a->raw_map->base[off];
        }
        (void)sink;
        return;
    }
    for (size_t i = 0; i < a->n; i++) {
        char name[SET_NAME_CAP];
        mf_record_info info;
        set_name(name, RW_SALT, i);
        if (a->writer)
            mfok(mf_put_raw(mf, name, RAW_CLASS, 1, buf, RW_SIZE), "mf_put_raw (warm-up)");
        else
            mfok(mf_get_raw(mf, name, buf, RW_SIZE, &info), "mf_get_raw (warm-up)");
        if (a->writer && i % 1024 == 0 && now_ns() - t0 > cap)
            break;
    }
}

static void rw_one_run(rw_arg *a, mf_file *mf, uint64_t *seed, unsigned char *buf)
{
    rw_slot *s = &a->shm->slot[a->id];
    uint64_t ops = 0, busy = 0;
    int64_t t0 = now_ns(), c0 = cpu_ns();
    while (!LOAD(&a->shm->stop)) {
        int rc = rw_op(a, mf, seed, buf, ops);
        if (rc == MF_EBUSY)
            busy++;
        else if (rc)
            mfok(rc, a->writer ? "mf_put_raw" : "mf_get_raw");
        else
            ops++;
    }
    s->t1 = now_ns();
    s->cpu = cpu_ns() - c0;
    s->t0 = t0;
    s->ops = ops;
    s->busy = busy;
    __atomic_add_fetch(&a->shm->done, 1, __ATOMIC_RELEASE);
    futex_wake_u32(&a->shm->done);
}

static void rw_worker(void *v)
{
    rw_arg *a = v;
    mf_file *mf = NULL;
    if (!a->raw)
        mf = a->writer ? open_updater("rw.map") : open_reader("rw.map");
    unsigned char buf[RW_SIZE];
    fill_random(buf, sizeof buf, (uint64_t)a->id + 11);
    uint64_t seed = (uint64_t)a->id * 7919 + (uint64_t)getpid();
    rw_warm(a, mf, buf);
    team_child_ready(a->t);
    uint32_t seen = 0;
    for (;;) {
        uint32_t ph;
        while ((ph = LOAD(&a->shm->phase)) == seen)
            futex_wait_u32(&a->shm->phase, ph);
        seen = ph;
        if (LOAD(&a->shm->quit))
            break;
        if (LOAD(&a->shm->active) & (1u << a->id))
            rw_one_run(a, mf, &seed, buf);
    }
    if (mf)
        mf_close(mf);
}

typedef struct rw_out {
    double wrate, rrate, wcpu;
    uint64_t busy;
} rw_out;

/* One run of the workers in `mask` for secs; the writer's and the
 * readers' total rates. */
static rw_out rw_run(rw_shm *shm, uint32_t mask, int writer_id, double secs)
{
    STORE(&shm->stop, 0u);
    STORE(&shm->done, 0u);
    STORE(&shm->active, mask);
    memset(shm->slot, 0, sizeof shm->slot);
    __atomic_add_fetch(&shm->phase, 1, __ATOMIC_RELEASE);
    futex_wake_u32(&shm->phase);
    sleep_ns((int64_t)(secs * 1e9));
    STORE(&shm->stop, 1u);
    uint32_t want = (uint32_t)__builtin_popcount(mask), d;
    while ((d = LOAD(&shm->done)) < want)
        futex_wait_u32(&shm->done, d);
    rw_out o = {0, 0, 0, 0};
    for (int i = 0; i < RW_WORKERS; i++) {
        if (!(mask & (1u << i)))
            continue;
        rw_slot *s = &shm->slot[i];
        double rate = (double)s->ops * 1e9 / (double)(s->t1 - s->t0);
        if (i == writer_id) {
            o.wrate = rate;
            o.wcpu = (double)s->cpu / (double)(s->t1 - s->t0);
        } else {
            o.rrate += rate;
        }
        o.busy += s->busy;
    }
    return o;
}

/* The workers of a configuration (readers, writer kind). */
static uint32_t rw_mask(int readers, int writer, int *writer_id)
{
    uint32_t m = 0;
    *writer_id = -1;
    if (writer == W_RAW) {
        *writer_id = RW_RAW_WRITER;
        m |= 1u << RW_RAW_WRITER;
        if (readers)
            m |= 1u << RW_RAW_READER;
        return m;
    }
    if (writer == W_MF) {
        *writer_id = RW_MF_WRITER;
        m |= 1u << RW_MF_WRITER;
    }
    for (int i = 0; i < readers; i++)
        m |= 1u << (1 + i);
    return m;
}

/* Configurations: readers, writer. Pairs that are compared sit next to
 * each other, and odd rounds run the list backwards. */
static const int rw_cfg[][2] = {{0, W_MF},   {1, W_MF},   {2, W_MF},  {4, W_MF},
                                {1, W_NONE}, {2, W_NONE}, {4, W_NONE}, {0, W_RAW},
                                {1, W_RAW}};
enum { RW_NCFG = sizeof rw_cfg / sizeof rw_cfg[0], RW_ROUNDS_MAX = MAX_ROUNDS };

static void rw_results(rw_out o[RW_NCFG][RW_ROUNDS_MAX], int rounds, uint64_t busy,
                       size_t n, double heap)
{
    double w[RW_NCFG][RW_ROUNDS_MAX], rr[RW_NCFG][RW_ROUNDS_MAX],
        wc[RW_NCFG][RW_ROUNDS_MAX];
    double wm[RW_NCFG], rm[RW_NCFG], wcm[RW_NCFG];
    for (int c = 0; c < RW_NCFG; c++) {
        for (int r = 0; r < rounds; r++) {
            w[c][r] = o[c][r].wrate;
            rr[c][r] = o[c][r].rrate;
            wc[c][r] = o[c][r].wcpu;
        }
        double t[RW_ROUNDS_MAX];
        memcpy(t, w[c], sizeof t);
        wm[c] = stat_median(t, (size_t)rounds);
        memcpy(t, rr[c], sizeof t);
        rm[c] = stat_median(t, (size_t)rounds);
        memcpy(t, wc[c], sizeof t);
        wcm[c] = stat_median(t, (size_t)rounds);
    }
    char set[200];
    set_describe(set, sizeof set, n, heap, true);
    result res = result_make("5 readers", "writer puts/s, no readers", U_RATE, wm[0],
                             rounds);
    strfmt(res.note, sizeof res.note, "the writer used %.2f of a CPU; %s", wcm[0], set);
    add_result(&res);
    double raw_ratio = ratio_median(w[8], w[7], (size_t)rounds);
    for (int c = 1; c <= 3; c++) {
        char fig[80];
        strfmt(fig, sizeof fig, "writer puts/s, %d reader process%s", rw_cfg[c][0],
                 rw_cfg[c][0] > 1 ? "es" : "");
        res = result_make("5 readers", fig, U_RATE, wm[c], rounds);
        result_ref(&res, "the same writer alone", wm[0],
                   ratio_median(w[c], w[0], (size_t)rounds));
        strfmt(res.note, sizeof res.note, "the writer used %.2f of a CPU; %.3g puts "
                 "per CPU-second (alone: %.3g)", wcm[c], wm[c] / wcm[c], wm[0] / wcm[0]);
        if (c == 1) {
            result_goal(&res, goal_bound(G_WRITER), goal_met(G_WRITER, res.ratio));
            char figs[128], a[32], b[32];
            fmt_value(a, sizeof a, U_RATE, wm[1]);
            fmt_value(b, sizeof b, U_RATE, wm[0]);
            strfmt(figs, sizeof figs, "%s with the reader vs %s alone; raw memcpy "
                     "writer + raw reader: %.3gx", a, b, raw_ratio);
            goal_record(G_WRITER, res.ratio, figs, set);
        }
        add_result(&res);
    }
    res = result_make("5 readers", "raw memcpy writer, 1 raw reader", U_RATE, wm[8],
                      rounds);
    result_ref(&res, "the raw writer alone", wm[7], raw_ratio);
    strfmt(res.note, sizeof res.note, "memcpy of 1 KiB into / out of random slots of "
             "one MAP_SHARED file mapping of %zu slots: what sharing the machine costs "
             "without mapfile", n);
    add_result(&res);
    for (int c = 1; c <= 3; c++) {
        char fig[80];
        strfmt(fig, sizeof fig, "gets/s of %d reader%s + writer (total)", rw_cfg[c][0],
                 rw_cfg[c][0] > 1 ? "s" : "");
        res = result_make("5 readers", fig, U_RATE, rm[c], rounds);
        result_ref(&res, "the same readers, no writer", rm[c + 3],
                   ratio_median(rr[c], rr[c + 3], (size_t)rounds));
        if (c == 3 && busy)
            strfmt(res.note, sizeof res.note, "%llu operations gave MF_EBUSY",
                     (unsigned long long)busy);
        add_result(&res);
    }
    res = result_make("5 readers", "gets/s of 1 raw reader + raw writer", U_RATE, rm[8],
                      rounds);
    add_result(&res);
}

void sc_readers(void)
{
    progress_scenario("5 readers under write load");
    size_t n = set_records(RW_SIZE);
    mf_file *mfw = open_writer("rw.map", (uint64_t)n * (RW_SIZE + 192) + (1u << 20));
    unsigned char buf[RW_SIZE];
    fill_random(buf, sizeof buf, 21);
    mf_put_set(mfw, RW_SALT, 0, n, RAW_CLASS, 1, buf, sizeof buf);
    mf_file_info fi;
    mfok(mf_file_stat(mfw, &fi), "mf_file_stat");
    mfok(mf_close(mfw), "mf_close");
    limit_map raw;
    limit_open(&raw, "rw-raw", n, RW_SIZE);

    rw_shm *shm = shm_alloc(sizeof *shm);
    memset(shm, 0, sizeof *shm);
    team t;
    team_init(&t);
    rw_arg args[RW_WORKERS];
    for (int i = 0; i < RW_WORKERS; i++) {
        bool raw_w = i >= RW_RAW_WRITER;
        args[i] = (rw_arg){&t, shm, i, i == RW_MF_WRITER || i == RW_RAW_WRITER, raw_w,
                           n, &raw};
        team_spawn(&t, rw_worker, &args[i]);
    }
    progress_step("warming %d worker processes over %zu records", RW_WORKERS, n);
    team_wait_ready(&t);

    int rounds = B.rounds < 5 ? B.rounds : 5;
    double secs = B.quick ? 0.1 : 0.5;
    static rw_out o[RW_NCFG][RW_ROUNDS_MAX];
    uint64_t busy = 0;
    for (int r = 0; r < rounds; r++)
        for (int s = 0; s < RW_NCFG; s++) {
            int c = r % 2 ? RW_NCFG - 1 - s : s;
            progress_step("%d reader(s)%s: round %d/%d", rw_cfg[c][0],
                          rw_cfg[c][1] == W_MF    ? " + writer"
                          : rw_cfg[c][1] == W_RAW ? " + raw writer"
                                                  : "",
                          r + 1, rounds);
            int wid;
            uint32_t mask = rw_mask(rw_cfg[c][0], rw_cfg[c][1], &wid);
            o[c][r] = rw_run(shm, mask, wid, secs);
            busy += o[c][r].busy;
        }
    STORE(&shm->quit, 1u);
    __atomic_add_fetch(&shm->phase, 1, __ATOMIC_RELEASE);
    futex_wake_u32(&shm->phase);
    team_join(&t, "readers under write load");
    shm_free(shm, sizeof *shm);

    rw_results(o, rounds, busy, n, (double)fi.heap_used);
    char how[480];
    strfmt(how, sizeof how, "records of %d B; the writer mf_put_raw's random records "
             "at full speed, readers mf_get_raw random records, each a separate "
             "process that lives through every run and faulted its mapping in once; "
             "%d interleaved rounds of %.2g s per configuration (odd rounds "
             "backwards); ratios: median of per-round ratios; %ld CPUs here", RW_SIZE,
             rounds, secs, sysconf(_SC_NPROCESSORS_ONLN));
    report_section("5. The writer with reader processes", how);
    limit_close(&raw);
    rm_tree(bpath("rw.map"));
}
