/* test_attack_live.c - a healthy file under live writers is never reported
 * corrupt, and a file nobody writes is never "busy" (issue 12, items 2
 * and 3).
 *
 * - stress: two writer processes churn puts (sizes change on every
 *   update, small payloads are freed and reused at once), removes and
 *   re-adds of hundreds of names (the hash index grows and is rebuilt),
 *   and batches; reader processes iterate (mf_iter_next), get (mf_get,
 *   mf_get_raw, mf_get_raw_alloc), stat and take snapshots. Every byte read
 *   is checked against what a writer wrote. Not one MF_ECORRUPT or
 *   MF_ECHECKSUM may appear, and MF_EBUSY only while a writer lives: once
 *   the writers have exited, a full pass of every reader must see none.
 *   MF_ATTACK_READS sets the total number of reads (default 10^8, 5x10^6
 *   under ASan; the closing note of issue 12 asks for a run of 10^9).
 * - static copies: a file copied while its writer was stopped at a crash
 *   point, the writer then killed: nobody will ever write the copy, so no
 *   read may answer MF_EBUSY (a consumer that retries on MF_EBUSY would
 *   retry forever), and every call ends.
 * - live check: mf_check in a loop beside two writers churning 40 names:
 *   the checker never crashes and reports no problem. MF_ATTACK_CHECKS
 *   sets the number of whole checks tried (default 30000, 2000 under
 *   ASan); then 10000 (2000) check the records alone beside writers that
 *   never pause.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attackutil.h"
#include "testutil.h"

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- what the writers write ---------------------------------------------------- */

#define NFIXED 8    /* fixed/<w>/<i>: updated by puts, never removed */
#define NCHURN 300  /* churn/<w>/<i>: put and removed at random */
#define NBATCH 4    /* batch/<i>: writer 0's batches, one value in all */
#define MAXSIZE 9000

/* A record's bytes: one 64-bit value repeated, the value naming the record
 * (tag) and the update (count): a reader can tell a torn or misdirected
 * payload from a good one. */
static uint64_t value_for(uint64_t tag, uint64_t count) { return tag << 40 | count; }

static uint64_t fixed_tag(int w, int i) { return 0x100 + (uint64_t)w * 0x10 + (uint64_t)i; }
static uint64_t churn_tag(int w, int i) { return 0x1000 + (uint64_t)w * 0x1000 + (uint64_t)i; }
#define BATCH_TAG 0x50

/* Sizes move around 4 KiB (freed at once below, kept one update above). */
static size_t size_for(uint64_t tag, uint64_t count)
{
    return 16 + (size_t)((tag * 977 + count * 131) % (MAXSIZE - 16)) / 8 * 8;
}

static void stress_writer(const char *path, int w, int stop_fd)
{
    mf_file *mf;
    int orc = mf_open(&mf, path, MF_UPDATE, NULL);
    if (orc) {
        fprintf(stderr, "writer %d: mf_open beside the other writer: %s: %s\n", w,
                mf_err_name(orc), mf_errdetail());
        _exit(3);
    }
    static unsigned char buf[MAXSIZE], bbuf[NBATCH][1024];
    mf_blob batch[NBATCH];
    char name[64];
    for (int i = 0; i < NBATCH && w == 0; i++) {
        batch[i] = (mf_blob){256 + 256 * (uint64_t)i, bbuf[i]};
        snprintf(name, sizeof name, "batch/%d", i);
        if (mf_add(mf, name, MF_BLOB_CLASS, &batch[i]))
            _exit(2);
    }
    uint64_t s = 0x9e3779b97f4a7c15ull + (uint64_t)w, count = 0;
    for (long round = 0;; round++) {
        int rc = 0;
        unsigned op = (unsigned)(rng(&s) % 16);
        count++;
        if (op < 7) {
            int i = (int)(rng(&s) % NFIXED);
            uint64_t tag = fixed_tag(w, i);
            size_t n = size_for(tag, count);
            at_fill(buf, n, value_for(tag, count));
            snprintf(name, sizeof name, "fixed/%d/%d", w, i);
            rc = mf_put_raw(mf, name, MF_BLOB_CLASS, 1, buf, n);
        } else if (op < 11) {
            int i = (int)(rng(&s) % NCHURN);
            uint64_t tag = churn_tag(w, i);
            size_t n = size_for(tag, count);
            at_fill(buf, n, value_for(tag, count));
            snprintf(name, sizeof name, "churn/%d/%d", w, i);
            rc = mf_put_raw(mf, name, MF_BLOB_CLASS, 1, buf, n);
        } else if (op < 15) {
            snprintf(name, sizeof name, "churn/%d/%d", w, (int)(rng(&s) % NCHURN));
            rc = mf_remove(mf, name);
            if (rc == MF_ENOTFOUND)
                rc = 0;
        } else if (w == 0) {
            for (int i = 0; i < NBATCH; i++)
                at_fill(bbuf[i], batch[i].size, value_for(BATCH_TAG, count));
            rc = mf_update(mf, NULL);
        }
        if (rc) {
            fprintf(stderr, "writer %d: %s: %s\n", w, mf_err_name(rc), mf_errdetail());
            _exit(2);
        }
        struct pollfd p = {stop_fd, POLLIN, 0};
        if (round % 64 == 0 && poll(&p, 1, 0) > 0)
            break;
    }
    mf_close(mf);
    _exit(0);
}

/* ---- what the readers check ------------------------------------------------------ */

struct tally {
    long reads, busy_live, busy_dead, corrupt, checksum, wrong, other;
    /* The first message of each kind of failure, and distinct messages of
     * MF_ECORRUPT (the issue names several forms). */
    char first[4][300];
};

static void bad(struct tally *t, long *counter, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void bad(struct tally *t, long *counter, const char *fmt, ...)
{
    (*counter)++;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Keep distinct forms: compare up to the first digit (offsets and
     * names vary, the form does not). */
    size_t form = strcspn(msg, "0123456789");
    for (int i = 0; i < 4; i++) {
        if (!t->first[i][0]) {
            memcpy(t->first[i], msg, sizeof msg);
            return;
        }
        if (strncmp(t->first[i], msg, form) == 0)
            return;
    }
}

/* Count one call's answer. Returns true if the data came back. */
static bool answer(struct tally *t, int rc, bool live, const char *what, const char *name)
{
    switch (rc) {
    case 0:
        t->reads++;
        return true;
    case MF_ENOTFOUND:
        return false;
    case MF_EBUSY:
        if (live)
            t->busy_live++;
        else
            bad(t, &t->busy_dead, "%s '%s': MF_EBUSY with no writer alive: %s", what,
                name, mf_errdetail());
        return false;
    case MF_ECORRUPT:
        bad(t, &t->corrupt, "%s '%s': %s", what, name, mf_errdetail());
        return false;
    case MF_ECHECKSUM:
        bad(t, &t->checksum, "%s '%s': %s", what, name, mf_errdetail());
        return false;
    default:
        bad(t, &t->other, "%s '%s': %s: %s", what, name, mf_err_name(rc), mf_errdetail());
        return false;
    }
}

/* The bytes of `name` must be one value with the record's tag. */
static void check_bytes(struct tally *t, const char *name, uint64_t tag,
                        const unsigned char *data, size_t size)
{
    uint64_t v;
    if (at_value_of(data, size, &v) || v >> 40 != tag || size != size_for(tag, v & 0xffffffffffull))
        bad(t, &t->wrong, "'%s': %zu bytes that no writer wrote", name, size);
}

static uint64_t tag_of(const char *name)
{
    int w, i;
    if (sscanf(name, "fixed/%d/%d", &w, &i) == 2)
        return fixed_tag(w, i);
    if (sscanf(name, "churn/%d/%d", &w, &i) == 2)
        return churn_tag(w, i);
    return 0;
}

static void read_one(struct tally *t, mf_file *mf, const char *name, unsigned how, bool live)
{
    static unsigned char buf[MAXSIZE];
    uint64_t tag = tag_of(name);
    mf_record_info ri;
    if (how == 0) {
        void *obj;
        const mf_class *cls;
        if (answer(t, mf_get(mf, name, &obj, &cls), live, "mf_get", name)) {
            const mf_blob *b = obj;
            check_bytes(t, name, tag, b->data, b->size);
            mf_object_free(cls, obj);
        }
    } else if (how == 1) {
        if (answer(t, mf_get_raw(mf, name, buf, sizeof buf, &ri), live, "mf_get_raw", name))
            check_bytes(t, name, tag, buf, ri.size);
    } else if (how == 2) {
        void *data;
        if (answer(t, mf_get_raw_alloc(mf, name, &data, &ri), live, "mf_get_raw_alloc",
                   name)) {
            check_bytes(t, name, tag, data, ri.size);
            free(data);
        }
    } else {
        answer(t, mf_stat(mf, name, &ri), live, "mf_stat", name);
    }
}

static void iterate(struct tally *t, mf_file *mf, bool live)
{
    mf_iter it;
    mf_record_info ri;
    mf_iter_init(&it, mf, NULL);
    int rc;
    while ((rc = mf_iter_next(&it, &ri)) == 1)
        t->reads++;
    if (rc < 0)
        answer(t, rc, live, "mf_iter_next", "(list)");
}

static void snapshot(struct tally *t, mf_file *mf, bool live)
{
    static const char *const names[NBATCH] = {"batch/0", "batch/1", "batch/2", "batch/3"};
    void *objs[NBATCH];
    const mf_class *classes[NBATCH];
    int rc = mf_get_snapshot(mf, names, NBATCH, objs, classes, NULL);
    if (!answer(t, rc, live, "mf_get_snapshot", "batch/*"))
        return;
    uint64_t first = 0;
    for (int i = 0; i < NBATCH; i++) {
        const mf_blob *b = objs[i];
        uint64_t v;
        if (at_value_of(b->data, b->size, &v) || (i && v != first))
            bad(t, &t->wrong, "a snapshot of batch/* holds two batches");
        if (i == 0)
            first = v;
        mf_object_free(classes[i], objs[i]);
    }
    t->reads += NBATCH - 1;
}

/* One round: a few of every kind of read. */
static void read_round(struct tally *t, mf_file *mf, uint64_t *s, bool live)
{
    char name[64];
    for (int k = 0; k < 64; k++) {
        unsigned pick = (unsigned)(rng(s) % 8);
        int w = (int)(rng(s) % 2);
        if (pick < 4)
            snprintf(name, sizeof name, "fixed/%d/%d", w, (int)(rng(s) % NFIXED));
        else
            snprintf(name, sizeof name, "churn/%d/%d", w, (int)(rng(s) % NCHURN));
        read_one(t, mf, name, (unsigned)(rng(s) % 4), live);
    }
    snapshot(t, mf, live);
    iterate(t, mf, live);
}

/* A reader: reads until it has done `quota` reads, reports "done", waits
 * for the writers to be gone, then reads everything once more with no
 * writer alive and sends its tally. */
static void stress_reader(const char *path, int id, long quota, int done_fd, int gone_fd,
                          int report_fd)
{
    struct tally t;
    memset(&t, 0, sizeof t);
    mf_file *mf = NULL;
    uint64_t s = 12345 + (uint64_t)id;
    /* A reader that only meets errors stops early: one is enough to fail.
     * It opens the file again now and then: opening is a read too. */
    for (long round = 0; t.reads < quota && t.corrupt + t.checksum + t.wrong + t.other < 1000;
         round++) {
        if (round % 256 == 0 || !mf) {
            mf_close(mf);
            mf = NULL;
            if (!answer(&t, mf_open(&mf, path, MF_READ, NULL), true, "mf_open", path))
                continue;
        }
        read_round(&t, mf, &s, true);
    }
    if (write(done_fd, "d", 1) != 1)
        _exit(2);
    char c;
    if (read(gone_fd, &c, 1) < 0)
        _exit(2);
    mf_close(mf);
    if (!answer(&t, mf_open(&mf, path, MF_READ, NULL), false, "mf_open", path))
        _exit(write(report_fd, &t, sizeof t) == (ssize_t)sizeof t ? 0 : 2);
    char name[64];
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < NFIXED + NCHURN; i++) {
            if (i < NFIXED)
                snprintf(name, sizeof name, "fixed/%d/%d", w, i);
            else
                snprintf(name, sizeof name, "churn/%d/%d", w, i - NFIXED);
            for (unsigned how = 0; how < 4; how++)
                read_one(&t, mf, name, how, false);
        }
    snapshot(&t, mf, false);
    iterate(&t, mf, false);
    mf_close(mf);
    _exit(write(report_fd, &t, sizeof t) == (ssize_t)sizeof t ? 0 : 2);
}

#define NREADERS 3

Test(attack_live, readers_beside_churning_writers_see_no_false_corruption, .timeout = 900)
{
    const char *path = mf_test_path("stress.map");
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.max_size = 256u << 20;
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, &o), 0, "%s", mf_errdetail());
    mf_close(mf);
    /* 10^8 reads take about 30 s here; ASan is several times slower. */
    long total = at_env("MF_ATTACK_READS", at_asan() ? 5000000 : 100000000);
    int stop[2], done[2], gone[2], report[2];
    cr_assert_eq(pipe(stop), 0);
    cr_assert_eq(pipe(done), 0);
    cr_assert_eq(pipe(gone), 0);
    cr_assert_eq(pipe(report), 0);
    pid_t writers[2], readers[NREADERS];
    for (int w = 0; w < 2; w++) {
        writers[w] = at_fork();
        if (writers[w] == 0) {
            close(stop[1]);
            stress_writer(path, w, stop[0]);
        }
    }
    close(stop[0]);
    for (int r = 0; r < NREADERS; r++) {
        readers[r] = at_fork();
        if (readers[r] == 0) {
            close(stop[1]);
            close(done[0]);
            close(gone[1]);
            close(report[0]);
            stress_reader(path, r, total / NREADERS, done[1], gone[0], report[1]);
        }
    }
    close(done[1]);
    close(gone[0]);
    close(report[1]);
    char c;
    for (int r = 0; r < NREADERS; r++)
        cr_assert_eq(read(done[0], &c, 1), 1, "a reader died while reading");
    close(stop[1]);
    for (int w = 0; w < 2; w++) {
        int st = at_wait_for(writers[w], 120);
        cr_expect_eq(st, 0, "writer %d: %s%s", w, at_status_text(st),
                     st == 3 ? " (its mf_open failed beside the other writer: see "
                               "stderr)" : "");
    }
    close(gone[1]); /* the writers are gone: the readers' last pass */
    struct tally sum;
    memset(&sum, 0, sizeof sum);
    for (int r = 0; r < NREADERS; r++) {
        struct tally t;
        cr_assert_eq(read(report[0], &t, sizeof t), (ssize_t)sizeof t);
        sum.reads += t.reads;
        sum.busy_live += t.busy_live;
        sum.busy_dead += t.busy_dead;
        sum.corrupt += t.corrupt;
        sum.checksum += t.checksum;
        sum.wrong += t.wrong;
        sum.other += t.other;
        for (int i = 0; i < 4; i++)
            if (t.first[i][0])
                cr_log_warn("reader %d: %s", r, t.first[i]);
    }
    for (int r = 0; r < NREADERS; r++)
        cr_assert_eq(at_wait_for(readers[r], 120), 0);
    cr_log_info("%ld reads: %ld MF_ECORRUPT, %ld MF_ECHECKSUM, %ld wrong bytes, %ld "
                "MF_EBUSY beside a writer, %ld MF_EBUSY with none, %ld other errors",
                sum.reads, sum.corrupt, sum.checksum, sum.wrong, sum.busy_live,
                sum.busy_dead, sum.other);
    cr_expect(sum.corrupt + sum.checksum + sum.wrong + sum.busy_dead + sum.other == 0,
              "%ld reads beside live writers: %ld MF_ECORRUPT, %ld MF_ECHECKSUM, %ld "
              "wrong bytes, %ld MF_EBUSY after the writers exited, %ld other errors "
              "(the warnings above quote them)", sum.reads, sum.corrupt, sum.checksum,
              sum.wrong, sum.busy_dead, sum.other);
}

/* ---- mf_check beside a live writer (item 3) ------------------------------------- */

#define NCHECK_NAMES 40

/* Puts and removes of 40 names: the index grows, fills with tombstones and
 * is rebuilt over and over. Payloads of the sizes of records and of index
 * blocks take over the blocks those free, and their bytes (all 0xfe) read
 * as huge counts and lengths to anyone who reads a freed structure.
 *
 * A check on a read-only handle checks everything in a moment when no
 * writer holds the lock; when it finds none for a while (1 s) it checks
 * the records alone. The checker drives both: first the writers work in
 * bursts of random length with short pauses (whole checks, often cut short
 * by the next burst: their reads race the writers too), then without a
 * pause while the checker checks the records alone every time (the wait
 * set to 0 through the library's test hook). */
static int *writer_pauses; /* shared: 1 while the writer should pause */
static void check_churn_writer(const char *path, uint64_t seed, int stop_fd)
{
    mf_file *mf;
    if (mf_open(&mf, path, MF_UPDATE, NULL))
        _exit(2);
    static unsigned char buf[MAXSIZE];
    uint64_t s = seed, count = 0;
    char name[32];
    for (long round = 0;; round++) {
        int i = (int)(rng(&s) % NCHECK_NAMES);
        snprintf(name, sizeof name, "check/%d", i);
        int rc;
        if (rng(&s) % 3) {
            static const size_t sizes[] = {24, 40, 72, 1040, 1056, 1100, 2064, 2080};
            size_t n = sizes[++count % (sizeof sizes / sizeof sizes[0])];
            memset(buf, 0xfe, n);
            rc = mf_put_raw(mf, name, MF_BLOB_CLASS, 1, buf, n);
        } else {
            rc = mf_remove(mf, name);
            rc = rc == MF_ENOTFOUND ? 0 : rc;
        }
        if (rc) {
            fprintf(stderr, "check writer: %s\n", mf_errdetail());
            _exit(2);
        }
        if (__atomic_load_n(writer_pauses, __ATOMIC_RELAXED) && rng(&s) % 128 == 0)
            usleep((useconds_t)(rng(&s) % 400));
        struct pollfd p = {stop_fd, POLLIN, 0};
        if (round % 64 == 0 && poll(&p, 1, 0) > 0)
            break;
    }
    mf_close(mf);
    _exit(0);
}

struct check_tally {
    long checks, completed, records_only, busy, problems, errors;
    long changes_beside_records_only;
    char first[400];
};

static void first_problem(void *ud, const char *problem)
{
    struct check_tally *t = ud;
    if (!t->first[0])
        snprintf(t->first, sizeof t->first, "%s", problem);
}

/* The checker: mf_check_file `n` times beside pausing writers, then
 * `records_only` times checking the records alone beside writers that do
 * not pause; sends its tally. A crash kills it before it can. */
static void checker(const char *path, long n, long records_only, int out_fd)
{
    mf_file *mf;
    if (mf_open(&mf, path, MF_READ, NULL))
        _exit(2);
    struct check_tally t;
    memset(&t, 0, sizeof t);
    mf_file_info before = {0}, after = {0};
    for (long i = 0; i < n + records_only; i++) {
        if (i == n) {
            __atomic_store_n(writer_pauses, 0, __ATOMIC_RELAXED);
            mf__check_still_wait_ns = 0;
            mf_file_stat(mf, &before);
        }
        mf_check_result res = {.struct_size = sizeof res};
        int rc = mf_check_file(mf, first_problem, &t, &res);
        t.checks++;
        if (rc == 0) {
            t.completed++;
            t.records_only += !res.heap_checked;
            t.problems += res.problems;
        } else if (rc == MF_EBUSY) {
            t.busy++;
        } else {
            t.errors++;
            if (!t.first[0])
                snprintf(t.first, sizeof t.first, "%s: %s", mf_err_name(rc), mf_errdetail());
        }
    }
    mf_file_stat(mf, &after);
    t.changes_beside_records_only = (long)(after.generation - before.generation);
    mf_close(mf);
    _exit(write(out_fd, &t, sizeof t) == (ssize_t)sizeof t ? 0 : 2);
}

Test(attack_live, mf_check_beside_a_writer_never_crashes_and_finds_nothing, .timeout = 600)
{
    const char *path = mf_test_path("check.map");
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, NULL), 0, "%s", mf_errdetail());
    mf_close(mf);
    /* On the old core about 1 in 30000 checks crashed: 250000 crash nearly
     * every run. The walk of the records alone once took index memory freed
     * under it for findings (1 in 1,000 such checks under ASan). */
    long n = at_env("MF_ATTACK_CHECKS", at_asan() ? 2000 : 30000);
    long records_only = at_asan() ? 2000 : 10000;
    writer_pauses = mmap(NULL, sizeof *writer_pauses, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(writer_pauses, MAP_FAILED);
    *writer_pauses = 1;
    int stop[2], out[2];
    cr_assert_eq(pipe(stop), 0);
    cr_assert_eq(pipe(out), 0);
    pid_t w[2];
    for (int i = 0; i < 2; i++) {
        w[i] = at_fork();
        if (w[i] == 0) {
            close(stop[1]);
            close(out[0]);
            close(out[1]);
            check_churn_writer(path, 77 + (uint64_t)i, stop[0]);
        }
    }
    close(stop[0]);
    pid_t c = at_fork();
    if (c == 0) {
        close(stop[1]);
        close(out[0]);
        checker(path, n, records_only, out[1]);
    }
    close(out[1]);
    struct check_tally t;
    memset(&t, 0, sizeof t);
    ssize_t got = read(out[0], &t, sizeof t);
    int cst = at_wait_for(c, 600);
    close(stop[1]);
    int wst[2] = {at_wait_for(w[0], 120), at_wait_for(w[1], 120)};
    cr_assert_eq(cst, 0, "the checker beside live writers: %s", at_status_text(cst));
    cr_assert_eq(got, (ssize_t)sizeof t);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(wst[i], 0, "writer %d: %s", i, at_status_text(wst[i]));
    cr_log_info("%ld checks beside two writers: %ld completed (%ld of the records alone, "
                "beside %ld changes), %ld MF_EBUSY, %ld problems, %ld errors", t.checks,
                t.completed, t.records_only, t.changes_beside_records_only, t.busy,
                t.problems, t.errors);
    cr_expect_eq(t.problems + t.errors, 0, "%ld checks of a healthy file beside its "
                 "writer: %ld problems and %ld errors; first: %s", t.checks, t.problems,
                 t.errors, t.first);
    cr_expect_gt(t.completed, 0, "no check completed beside the writer (%ld MF_EBUSY)",
                 t.busy);
    cr_expect_geq(t.records_only, records_only, "only %ld checks checked the records "
                  "alone", t.records_only);
    cr_expect_gt(t.changes_beside_records_only, 0, "the writers changed nothing while "
                 "the records were checked alone");
}
