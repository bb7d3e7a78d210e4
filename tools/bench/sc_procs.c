/*
 * sc_procs.c - scenarios with several processes: 4 (update to a waiting
 * consumer waking, beside a raw futex ping-pong) and 5 (readers under
 * write load).
 */
#include "bench.h"

#include <mapfile/builtin.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define RAW_CLASS "bench.raw"

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
    uint32_t raw;  /* the raw ping-pong word */
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

void sc_wake(void)
{
    progress_scenario("4 update to visible");
    unsigned per_mode = B.quick ? 200 : 5000;
    unsigned block = 50; /* samples in a row of one kind, then the other */
    mf_file *mfw = open_writer("wake.map", 0);
    unsigned char data[64];
    fill_random(data, sizeof data, 5);
    mf_blob blob = {sizeof data, data};
    mfok(mf_add(mfw, "ping", MF_BLOB_CLASS, &blob), "mf_add");
    mfok(mf_update(mfw, "ping"), "mf_update");

    wake_shm *w = shm_alloc(sizeof *w);
    memset(w, 0, sizeof *w);
    w->ack = UINT32_MAX; /* set to 0 by the consumer once it has opened */
    double *lat[2];
    unsigned nlat[2] = {0, 0}, skipped[2] = {0, 0};
    for (int m = 0; m < 2; m++)
        if (!(lat[m] = calloc(per_mode, sizeof *lat[m])))
            die("out of memory");
    pid_t pid = spawn(wake_consumer, w);
    while (LOAD(&w->ack) != 0) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            die("wake consumer failed to start");
        sleep_ns(1000000);
    }
    unsigned total = 2 * per_mode;
    for (uint32_t i = 0; i < total; i++) {
        if (i % 100 == 0)
            progress_step("sample %u of %u", i, total);
        int mode = (i / block) % 2 ? MODE_RAW : MODE_MF;
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
        if (LOAD(&w->tblock) > t0)
            skipped[mode]++; /* it was not blocked yet: not a wake-up */
        else if (nlat[mode] < per_mode)
            lat[mode][nlat[mode]++] = (double)LOAD(&w->lat);
    }
    STORE(&w->mode, (uint32_t)MODE_QUIT);
    STORE(&w->seq, total + 1);
    futex_wake_u32(&w->seq);
    reap(pid, "wake consumer");

    double p50[2], p99[2];
    for (int m = 0; m < 2; m++) {
        p50[m] = stat_percentile(lat[m], nlat[m], 50);
        p99[m] = stat_percentile(lat[m], nlat[m], 99);
    }
    result r = result_make("4 wake", "mf_update -> mf_wait wakes, p50", U_NS,
                           p50[MODE_MF], (int)nlat[MODE_MF]);
    result_peer(&r, "raw futex ping-pong", p50[MODE_RAW], RK_BASE);
    add_result(&r);
    r = result_make("4 wake", "mf_update -> mf_wait wakes, p99", U_NS, p99[MODE_MF],
                    (int)nlat[MODE_MF]);
    result_peer(&r, "raw futex ping-pong", p99[MODE_RAW], RK_BASE);
    snprintf(r.note, sizeof r.note, "%u + %u samples; %u + %u dropped because the "
             "consumer was not yet blocked", nlat[MODE_MF], nlat[MODE_RAW],
             skipped[MODE_MF], skipped[MODE_RAW]);
    add_result(&r);
    char how[200];
    snprintf(how, sizeof how, "time from just before mf_update (64 B blob) in "
             "the producer to the consumer's return from mf_wait, one at a time, "
             "in blocks of %u alternating with the raw futex", block);
    report_section("4. Update to visible (producer -> blocked consumer)", how);
    for (int m = 0; m < 2; m++)
        free(lat[m]);
    shm_free(w, sizeof *w);
    mfok(mf_close(mfw), "mf_close");
    rm_tree(bpath("wake.map"));
}

/* ------------------------------------------------------------------------ */
/* 5. Readers under write load                                              */
/* ------------------------------------------------------------------------ */

#define RW_RECORDS 1000
#define RW_SIZE 1024

typedef struct rw_slot {
    uint64_t ops, busy;
    int64_t t0, t1;
    int64_t cpu; /* CPU time the process used while running */
} rw_slot;

typedef struct rw_shm {
    uint32_t stop;
    rw_slot slot[8];
} rw_shm;

typedef struct rw_arg {
    team *t;
    rw_shm *shm;
    int slot;
    bool writer;
} rw_arg;

static void rw_child(void *v)
{
    rw_arg *a = v;
    rw_slot *s = &a->shm->slot[a->slot];
    mf_file *mf;
    if (a->writer) {
        mf_open_options o = MF_OPEN_OPTIONS_INIT;
        o.max_size = B.max_size;
        o.registry = B.reg;
        mfok(mf_open(&mf, bpath("rw.map"), MF_UPDATE, &o), "mf_open MF_UPDATE");
    } else {
        mf = open_reader("rw.map");
    }
    unsigned char buf[RW_SIZE];
    fill_random(buf, sizeof buf, (uint64_t)a->slot + 11);
    uint64_t seed = (uint64_t)a->slot * 7919 + 1;
    char names[RW_RECORDS][8];
    for (int i = 0; i < RW_RECORDS; i++)
        snprintf(names[i], sizeof names[i], "r%04d", i);
    team_child_ready(a->t);
    team_child_wait_go(a->t);
    uint64_t ops = 0, busy = 0;
    int64_t t0 = now_ns(), c0 = cpu_ns();
    while (!LOAD(&a->shm->stop)) {
        const char *name = names[rng_next(&seed) % RW_RECORDS];
        int rc;
        if (a->writer) {
            buf[0] = (unsigned char)ops;
            rc = mf_put_raw(mf, name, RAW_CLASS, 1, buf, sizeof buf);
        } else {
            mf_record_info info;
            rc = mf_get_raw(mf, name, buf, sizeof buf, &info);
        }
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
    mf_close(mf);
}

/* One run: rates of the writer (slot 0) and the readers together. */
static void rw_run(int nreaders, bool writer, double *wrate, double *rrate,
                   uint64_t *busy, double *wcpu)
{
    rw_shm *shm = shm_alloc(sizeof *shm);
    memset(shm, 0, sizeof *shm);
    team t;
    team_init(&t);
    rw_arg args[8];
    int n = 0;
    if (writer) {
        args[n] = (rw_arg){&t, shm, n, true};
        team_spawn(&t, rw_child, &args[n]);
        n++;
    }
    for (int i = 0; i < nreaders; i++) {
        args[n] = (rw_arg){&t, shm, n, false};
        team_spawn(&t, rw_child, &args[n]);
        n++;
    }
    team_wait_ready(&t);
    team_go(&t);
    sleep_ns((int64_t)(B.target_s * (B.quick ? 5 : 4) * 1e9));
    STORE(&shm->stop, 1u);
    team_join(&t, "readers under write load");
    *wrate = 0;
    *rrate = 0;
    for (int i = 0; i < n; i++) {
        rw_slot *s = &shm->slot[i];
        double rate = (double)s->ops * 1e9 / (double)(s->t1 - s->t0);
        if (writer && i == 0) {
            *wrate = rate;
            *wcpu = (double)s->cpu / (double)(s->t1 - s->t0);
        }
        else
            *rrate += rate;
        *busy += s->busy;
    }
    shm_free(shm, sizeof *shm);
}

void sc_readers(void)
{
    progress_scenario("5 readers under write load");
    mf_file *mfw = open_writer("rw.map", 8u << 20);
    unsigned char buf[RW_SIZE];
    fill_random(buf, sizeof buf, 21);
    for (int i = 0; i < RW_RECORDS; i++) {
        char name[8];
        snprintf(name, sizeof name, "r%04d", i);
        mfok(mf_put_raw(mfw, name, RAW_CLASS, 1, buf, sizeof buf), "mf_put_raw");
    }
    mfok(mf_close(mfw), "mf_close");

    /* Configurations: {readers, writer}. */
    static const int cfg[][2] = {{0, 1}, {1, 1}, {2, 1}, {4, 1}, {1, 0}, {2, 0}, {4, 0}};
    enum { NCFG = sizeof cfg / sizeof cfg[0] };
    double *w = calloc((size_t)NCFG * (size_t)B.repeats, sizeof *w);
    double *r = calloc((size_t)NCFG * (size_t)B.repeats, sizeof *r);
    double *wc = calloc((size_t)NCFG * (size_t)B.repeats, sizeof *wc);
    if (!w || !r || !wc)
        die("out of memory");
    uint64_t busy = 0;
    for (int rep = 0; rep < B.repeats; rep++)
        for (int c = 0; c < NCFG; c++) {
            progress_step("%d reader(s)%s: repeat %d/%d", cfg[c][0],
                          cfg[c][1] ? " + writer" : "", rep + 1, B.repeats);
            rw_run(cfg[c][0], cfg[c][1], &w[c * B.repeats + rep],
                   &r[c * B.repeats + rep], &busy, &wc[c * B.repeats + rep]);
        }
    double wm[NCFG], rm[NCFG], wcm[NCFG];
    for (int c = 0; c < NCFG; c++) {
        wcm[c] = stat_median(&wc[c * B.repeats], (size_t)B.repeats);
        wm[c] = stat_median(&w[c * B.repeats], (size_t)B.repeats);
        rm[c] = stat_median(&r[c * B.repeats], (size_t)B.repeats);
    }
    result res = result_make("5 readers", "writer updates/s, no readers", U_RATE,
                             wm[0], B.repeats);
    snprintf(res.note, sizeof res.note, "the writer used %.2f of a CPU", wcm[0]);
    add_result(&res);
    for (int c = 1; c <= 3; c++) {
        char fig[80];
        snprintf(fig, sizeof fig, "writer updates/s, %d reader%s", cfg[c][0],
                 cfg[c][0] > 1 ? "s" : "");
        res = result_make("5 readers", fig, U_RATE, wm[c], B.repeats);
        result_peer(&res, "no readers", wm[0], RK_BASE);
        snprintf(res.note, sizeof res.note, "the writer used %.2f of a CPU; "
                 "%.3g updates per CPU-second (alone: %.3g)", wcm[c], wm[c] / wcm[c],
                 wm[0] / wcm[0]);
        add_result(&res);
    }
    for (int c = 1; c <= 3; c++) {
        char fig[80], peer[64];
        snprintf(fig, sizeof fig, "gets/s of %d reader%s + writer (total)", cfg[c][0],
                 cfg[c][0] > 1 ? "s" : "");
        snprintf(peer, sizeof peer, "same readers, no writer");
        res = result_make("5 readers", fig, U_RATE, rm[c], B.repeats);
        result_peer(&res, peer, rm[c + 3], RK_BASE);
        if (c == 3 && busy)
            snprintf(res.note, sizeof res.note, "%llu operations gave MF_EBUSY",
                     (unsigned long long)busy);
        add_result(&res);
    }
    char how[240];
    snprintf(how, sizeof how, "%d records of %d B; the writer mf_put_raw's random "
             "records at full speed, readers mf_get_raw random records; median of %d "
             "runs of %.2g s; %ld CPUs here", RW_RECORDS, RW_SIZE, B.repeats,
             B.target_s * (B.quick ? 5 : 4), sysconf(_SC_NPROCESSORS_ONLN));
    report_section("5. Readers under write load (separate processes)", how);
    free(w);
    free(r);
    free(wc);
    rm_tree(bpath("rw.map"));
}
