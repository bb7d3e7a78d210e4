/* test_attack_batch.c - a batch is all-or-nothing across any crash (issue
 * 12, item 1).
 *
 * mapfile.h promises that mf_update(mf, NULL) publishes every added object
 * as one batch: a snapshot reader sees all of them from this batch or all
 * from an earlier one. Here batch-only writers (nothing but
 * mf_update(mf, NULL) over NB blobs whose bytes are the batch number) are
 * killed over and over: half the time at a crash point inside a change
 * (mf__crash_point), half the time by kill -9 from outside at a random
 * moment. After every kill, before any writer has repaired the file, a
 * fresh reader process takes a snapshot of every name and stats them: one
 * batch number everywhere, no MF_EBUSY (no writer exists to wait for), and
 * nothing lost that mf_update had reported published. Then a writer opens
 * the file (which repairs it) and the same reader runs again: the same
 * batch, still whole. Two more reader processes take snapshots the whole
 * time and must never see two batches in one.
 *
 * MF_ATTACK_KILLS sets the number of kills (default 1000, 100 under ASan;
 * MF_CRASH_LOOP, which tools/run sets for valgrind, is used when it is not
 * set). */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attackutil.h"
#include "testutil.h"

#define NB 5

/* Small payloads (freed at once) and large ones (kept one more update). */
static const size_t sizes[NB] = {16, 400, 3000, 6000, 20000};
static const char *const names[NB] = {"run/a", "run/b", "run/c", "det/d", "det/e"};

static uint64_t rng(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 17;
}

/* Written by the writer after each mf_update(mf, NULL) that returned 0. */
struct shared {
    _Atomic uint64_t committed;
    /* A writer that could not read the file it starts from says why here
     * (and publishes over it anyway). */
    _Atomic long writer_read_errors;
    char writer_error[256];
};

static void create_file(const char *path)
{
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, NULL), 0, "%s", mf_errdetail());
    static unsigned char buf[20000];
    for (int i = 0; i < NB; i++) {
        at_fill(buf, sizes[i], 1);
        mf_blob b = {sizes[i], buf};
        cr_assert_eq(mf_put(mf, names[i], MF_BLOB_CLASS, &b), 0, "%s", mf_errdetail());
    }
    mf_close(mf);
}

/* ---- the writer that gets killed ------------------------------------------ */

static long countdown;
static void die_here(void)
{
    if (--countdown == 0)
        kill(getpid(), SIGKILL);
}

/* The highest batch number in the file (what the last writer published).
 * A record it cannot read is counted in sh and skipped: the batch the
 * writer publishes next replaces it. */
static uint64_t newest_batch(mf_file *mf, struct shared *sh)
{
    uint64_t newest = 0;
    for (int i = 0; i < NB; i++) {
        void *obj;
        const mf_class *cls;
        int rc = mf_get(mf, names[i], &obj, &cls);
        if (rc) {
            if (atomic_fetch_add(&sh->writer_read_errors, 1) == 0)
                snprintf(sh->writer_error, sizeof sh->writer_error, "a writer reading "
                         "'%s' after the repair: %s: %s", names[i], mf_err_name(rc),
                         mf_errdetail());
            continue;
        }
        const mf_blob *b = obj;
        uint64_t k;
        if (at_value_of(b->data, b->size, &k) == 0 && k > newest)
            newest = k;
        mf_object_free(cls, obj);
    }
    return newest;
}

/* Publishes batch after batch until killed. kill_in_open: the crash point
 * countdown starts before mf_open, so the repair itself may be the victim. */
static void batch_writer(const char *path, struct shared *sh, long cd, bool kill_in_open,
                         int ready_fd)
{
    static unsigned char bufs[NB][20000];
    if (cd && kill_in_open) {
        countdown = cd;
        mf__crash_point = die_here;
    }
    mf_file *mf;
    if (mf_open(&mf, path, MF_UPDATE, NULL)) {
        fprintf(stderr, "batch writer: open: %s\n", mf_errdetail());
        _exit(2);
    }
    uint64_t k = newest_batch(mf, sh);
    /* Whatever the file holds counts as published (a half-published batch
     * too): the checks compare the file with that. */
    if (k > atomic_load(&sh->committed))
        atomic_store(&sh->committed, k);
    mf_blob blobs[NB];
    for (int i = 0; i < NB; i++) {
        blobs[i] = (mf_blob){sizes[i], bufs[i]};
        if (mf_add(mf, names[i], MF_BLOB_CLASS, &blobs[i]))
            _exit(2);
    }
    if (cd && !kill_in_open) {
        countdown = cd;
        mf__crash_point = die_here;
    }
    if (ready_fd >= 0) {
        if (write(ready_fd, "r", 1) != 1)
            _exit(2);
        close(ready_fd);
    }
    for (;;) {
        k++;
        for (int i = 0; i < NB; i++)
            at_fill(bufs[i], sizes[i], k);
        if (mf_update(mf, NULL)) {
            fprintf(stderr, "batch writer: update %llu: %s\n", (unsigned long long)k,
                    mf_errdetail());
            _exit(2);
        }
        atomic_store(&sh->committed, k);
    }
}

/* ---- what a fresh reader process sees ------------------------------------- */

struct verdict {
    int snapshot_rc;        /* mf_get_snapshot's answer */
    int torn;               /* a member whose bytes are not one value */
    uint64_t value[NB];     /* batch number in each member's bytes */
    uint64_t batch[NB];     /* mf_stat's batch of each record */
    int stat_rc;
    char detail[256];
};

static void read_verdict(const char *path, struct verdict *v)
{
    memset(v, 0, sizeof *v);
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_READ, NULL);
    if (rc) {
        v->snapshot_rc = rc;
        snprintf(v->detail, sizeof v->detail, "open: %s", mf_errdetail());
        return;
    }
    void *objs[NB];
    const mf_class *classes[NB];
    v->snapshot_rc = mf_get_snapshot(mf, names, NB, objs, classes, NULL);
    if (v->snapshot_rc) {
        snprintf(v->detail, sizeof v->detail, "%s", mf_errdetail());
    } else {
        for (int i = 0; i < NB; i++) {
            const mf_blob *b = objs[i];
            if (b->size != sizes[i] || at_value_of(b->data, b->size, &v->value[i]))
                v->torn = 1;
            mf_object_free(classes[i], objs[i]);
        }
    }
    for (int i = 0; i < NB && !v->stat_rc; i++) {
        mf_record_info ri;
        v->stat_rc = mf_stat(mf, names[i], &ri);
        v->batch[i] = ri.batch;
        if (v->stat_rc && !v->detail[0])
            snprintf(v->detail, sizeof v->detail, "stat: %s", mf_errdetail());
    }
    mf_close(mf);
}

/* Run read_verdict in a new process (no state shared with this one). */
static void verdict_in_child(const char *path, struct verdict *out)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = at_fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        close(p[0]);
        struct verdict v;
        read_verdict(path, &v);
        _exit(write(p[1], &v, sizeof v) == (ssize_t)sizeof v ? 0 : 2);
    }
    close(p[1]);
    ssize_t n = read(p[0], out, sizeof *out);
    close(p[0]);
    int st = at_wait_for(pid, 120);
    cr_assert(n == (ssize_t)sizeof *out && st == 0, "reader process: %s",
              at_status_text(st));
}

static bool one_value(const uint64_t *v)
{
    for (int i = 1; i < NB; i++)
        if (v[i] != v[0])
            return false;
    return true;
}

static void list_values(char *buf, size_t cap, const uint64_t *v)
{
    size_t n = 0;
    for (int i = 0; i < NB && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", i ? " " : "",
                              (unsigned long long)v[i]);
}

/* ---- tallies over the loop --------------------------------------------------- */

struct tally {
    long kills, busy, failed, torn, mixed, mixed_stat, lost, changed_by_repair;
    char first[512];
};

static void note(struct tally *t, long *counter, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(struct tally *t, long *counter, const char *fmt, ...)
{
    (*counter)++;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (getenv("MF_ATTACK_VERBOSE"))
        fprintf(stderr, "%s\n", msg);
    if (!t->first[0])
        snprintf(t->first, sizeof t->first, "%s", msg);
}

/* Judge one verdict; returns the snapshot's batch number or 0. */
static uint64_t judge(struct tally *t, const struct verdict *v, int it, const char *when,
                      uint64_t committed)
{
    char vals[128];
    if (v->snapshot_rc == MF_EBUSY) {
        note(t, &t->busy, "kill %d, %s: mf_get_snapshot returned MF_EBUSY with no "
             "writer alive: %s", it, when, v->detail);
        return 0;
    }
    if (v->snapshot_rc || v->stat_rc) {
        note(t, &t->failed, "kill %d, %s: %s (%s)", it, when,
             mf_err_name(v->snapshot_rc ? v->snapshot_rc : v->stat_rc), v->detail);
        return 0;
    }
    if (!one_value(v->batch)) {
        list_values(vals, sizeof vals, v->batch);
        note(t, &t->mixed_stat, "kill %d, %s: mf_stat batch numbers %s", it, when, vals);
    }
    if (v->torn) {
        note(t, &t->torn, "kill %d, %s: a snapshot member is torn", it, when);
        return 0;
    }
    if (!one_value(v->value)) {
        list_values(vals, sizeof vals, v->value);
        note(t, &t->mixed, "kill %d, %s: one snapshot holds batches %s", it, when, vals);
        return 0;
    }
    if (v->value[0] < committed)
        note(t, &t->lost, "kill %d, %s: batch %llu was published but the file "
             "holds %llu", it, when, (unsigned long long)committed,
             (unsigned long long)v->value[0]);
    if (v->value[0] > committed + 1)
        note(t, &t->failed, "kill %d, %s: the file holds batch %llu, never "
             "written (last published %llu)", it, when,
             (unsigned long long)v->value[0], (unsigned long long)committed);
    return v->value[0];
}

/* ---- readers that take snapshots all along ----------------------------------- */

/* Exits 0 if it saw only whole batches (MF_EBUSY is allowed: a writer may
 * be alive), 1 on a mixed or torn snapshot, 2 on another error. */
static pid_t spawn_snapshot_reader(const char *path, int stop[2])
{
    pid_t pid = at_fork();
    cr_assert_neq(pid, -1);
    if (pid)
        return pid;
    close(stop[1]);
    mf_file *mf;
    if (mf_open(&mf, path, MF_READ, NULL))
        _exit(2);
    long snaps = 0;
    for (;;) {
        void *objs[NB];
        const mf_class *classes[NB];
        int rc = mf_get_snapshot(mf, names, NB, objs, classes, NULL);
        if (rc == 0) {
            uint64_t v[NB] = {0};
            int torn = 0;
            for (int i = 0; i < NB; i++) {
                const mf_blob *b = objs[i];
                torn |= at_value_of(b->data, b->size, &v[i]);
                mf_object_free(classes[i], objs[i]);
            }
            if (torn || !one_value(v)) {
                char vals[128];
                list_values(vals, sizeof vals, v);
                fprintf(stderr, "live reader: snapshot %ld holds batches %s%s\n", snaps,
                        vals, torn ? " (torn)" : "");
                _exit(1);
            }
            snaps++;
        } else if (rc != MF_EBUSY) {
            fprintf(stderr, "live reader: %s: %s\n", mf_err_name(rc), mf_errdetail());
            _exit(2);
        }
        /* A short pause: the kill loop needs the CPU more than a reader
         * needs every moment. */
        struct pollfd p = {stop[0], POLLIN, 0};
        if (poll(&p, 1, 0) > 0)
            break;
        at_usleep(200);
    }
    mf_close(mf);
    _exit(0);
}

/* ---- the loop ------------------------------------------------------------------ */

static void kill_one_writer(const char *path, struct shared *sh, uint64_t *s, int it,
                            int stop[2])
{
    /* Even kills: a crash point (1 in 4 of those armed before the repair
     * in mf_open); odd kills: kill -9 from outside at a random moment. */
    bool inside = it % 2 == 0;
    long cd = inside ? 1 + (long)(rng(s) % 300) : 0;
    bool in_open = inside && it % 8 == 0;
    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t w = at_fork();
    cr_assert_neq(w, -1);
    if (w == 0) {
        close(stop[1]);
        close(ready[0]);
        batch_writer(path, sh, in_open ? 1 + cd % 40 : cd, in_open, ready[1]);
    }
    close(ready[1]);
    char c;
    ssize_t n = read(ready[0], &c, 1);
    close(ready[0]);
    if (!inside && n == 1) {
        at_usleep((long)(rng(s) % 3000));
        kill(w, SIGKILL);
    }
    int st = at_wait_for(w, 120);
    cr_assert_eq(st, 100 + SIGKILL, "kill %d: the writer ended with %s", it,
                 at_status_text(st));
}

static void repair(const char *path, int it)
{
    pid_t pid = at_fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        mf_file *mf;
        if (mf_open(&mf, path, MF_UPDATE, NULL)) {
            fprintf(stderr, "repairing writer: %s\n", mf_errdetail());
            _exit(1);
        }
        mf_close(mf);
        _exit(0);
    }
    int st = at_wait_for(pid, 120);
    cr_assert_eq(st, 0, "kill %d: the repairing writer: %s", it, at_status_text(st));
}

Test(attack_batch, a_batch_is_all_or_nothing_across_a_thousand_kills, .timeout = 900)
{
    const char *path = mf_test_path("batch.map");
    create_file(path);
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(sh, MAP_FAILED);
    atomic_store(&sh->committed, 1);
    int stop[2];
    cr_assert_eq(pipe(stop), 0);
    pid_t readers[2];
    for (int i = 0; i < 2; i++)
        readers[i] = spawn_snapshot_reader(path, stop);

    /* The suite runs 1000 kills (ASan 100); MF_ATTACK_KILLS=3000 is a long run. */
    long kills = at_env("MF_ATTACK_KILLS", at_env("MF_CRASH_LOOP", at_asan() ? 100 : 1000));
    struct tally t;
    memset(&t, 0, sizeof t);
    uint64_t s = 20240612;
    for (int it = 0; it < kills; it++) {
        kill_one_writer(path, sh, &s, it, stop);
        t.kills++;
        uint64_t committed = atomic_load(&sh->committed);
        struct verdict before, after;
        verdict_in_child(path, &before);
        uint64_t seen = judge(&t, &before, it, "before repair", committed);
        repair(path, it);
        verdict_in_child(path, &after);
        uint64_t kept = judge(&t, &after, it, "after repair", committed);
        if (seen && kept && kept != seen)
            note(&t, &t.changed_by_repair, "kill %d: readers saw batch %llu before "
                 "the repair and %llu after it", it, (unsigned long long)seen,
                 (unsigned long long)kept);
        /* The next writer starts from the newest batch in the file (even
         * from a half-published one). */
        for (int i = 0; i < NB && after.snapshot_rc == 0; i++)
            if (after.value[i] > committed)
                committed = after.value[i];
        atomic_store(&sh->committed, committed);
    }
    close(stop[1]);
    int rst[2];
    for (int i = 0; i < 2; i++)
        rst[i] = at_wait_for(readers[i], 120);
    long wre = atomic_load(&sh->writer_read_errors);
    cr_expect_eq(wre, 0, "%ld times a writer could not read what the file held after a "
                 "repair; first: %s", wre, sh->writer_error);
    cr_log_info("%ld kills: %ld snapshots MF_EBUSY, %ld mixed batches, %ld mixed "
                "stat batches, %ld torn, %ld lost, %ld changed by the repair, %ld "
                "other failures", t.kills, t.busy, t.mixed, t.mixed_stat, t.torn, t.lost,
                t.changed_by_repair, t.failed);
    cr_expect(t.busy + t.mixed + t.mixed_stat + t.torn + t.lost + t.changed_by_repair +
                      t.failed == 0,
              "%ld kills: %ld snapshots returned MF_EBUSY with no writer alive, %ld "
              "held two batches, %ld had mixed mf_stat batch numbers, %ld torn, %ld "
              "lost a published batch, %ld changed by the repair, %ld other failures; "
              "first: %s",
              t.kills, t.busy, t.mixed, t.mixed_stat, t.torn, t.lost, t.changed_by_repair,
              t.failed, t.first);
    for (int i = 0; i < 2; i++)
        cr_expect_eq(rst[i], 0, "live snapshot reader %d: %s (stderr says which "
                     "snapshot)", i, at_status_text(rst[i]));
    munmap(sh, sizeof *sh);
}
