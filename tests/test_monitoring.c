/* test_monitoring.c - what an online-monitoring set-up relies on (issue 9):
 * consistent snapshots of many objects while a producer fills them,
 * consumers that start before their producer and outlive its restarts, and
 * a full map that refuses updates without losing anything.
 *
 * Every test uses real processes; helpers die with the test
 * (PR_SET_PDEATHSIG), keep only the pipe ends they use, and report over
 * pipes. Nothing is asserted about time: waits are bounded by counts or by
 * the test timeout. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mapfile/hist.h>
#include <mapfile/mapfile.h>

#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------ */

/* In a forked helper: die with the test; close the pipe ends listed (-1
 * entries are skipped). */
static void child_setup(int close1, int close2, int close3)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fds[3] = {close1, close2, close3};
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static pid_t fork_helper(void)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    return pid;
}

static int wait_exit(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        cr_assert_eq(errno, EINTR);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* One line from a pipe (read byte by byte so nothing is buffered past
 * it). Returns the length, or -1 at end of file. */
static int read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return n ? (int)n : -1;
        if (c == '\n')
            break;
        if (n + 1 < cap)
            buf[n++] = c;
    }
    buf[n] = '\0';
    return (int)n;
}

static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        _exit(90);
    if ((size_t)n > sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    if (write(fd, buf, (size_t)n) != n)
        _exit(91);
}

static char *get_text(mf_file *mf, const char *name, int *rc)
{
    void *obj;
    const mf_class *cls;
    *rc = mf_get(mf, name, &obj, &cls);
    if (*rc)
        return NULL;
    char *copy = strdup(obj);
    mf_object_free(cls, obj);
    return copy;
}

static void put_text(mf_file *mf, const char *name, const char *value)
{
    cr_assert_eq(mf_put(mf, name, "text", value), 0, "put %s: %s", name,
                 mf_errdetail());
}

static uint64_t rng(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 17;
}

/* The process state letter from /proc/PID/stat ('S' sleeping, ...). */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' ? paren[2] : '?';
}

/* Wait (by polling the kernel's view, not by guessing a delay) until pid
 * is asleep: for a helper that announced it is about to block, it then
 * really blocks. */
static void until_asleep(pid_t pid)
{
    while (proc_state(pid) != 'S') {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* ---- snapshots ------------------------------------------------------------------ */

#define SNAP_OBJS 20
#define SNAP_FILLS 400     /* fills per object per batch */
#define SNAP_READERS 3
#define SNAP_MIN_SNAPSHOTS 300
#define SNAP_MIN_BATCHES 10  /* distinct batches a reader must see */
#define SNAP_MAX_TRIES 200000

static const char *snap_names[SNAP_OBJS];

static void snap_init_names(void)
{
    static char store[SNAP_OBJS][32];
    for (int i = 0; i < SNAP_OBJS; i++) {
        snprintf(store[i], sizeof store[i], "det/%02d/occupancy", i);
        snap_names[i] = store[i];
    }
}

/* Filled with weight 1 only, so the bins always sum to the entries. */
static bool hist_whole(const mf_hist1d *h)
{
    double sum = 0;
    for (int i = 0; i < h->xaxis.nbins + 2; i++)
        sum += h->bins[i];
    return sum == h->entries;
}

/* The writer: every batch fills every object SNAP_FILLS more times and
 * publishes them all with mf_update(mf, NULL), so after batch b every
 * object holds exactly b * SNAP_FILLS entries. Runs until stop closes, then
 * reports the number of batches on done. */
static void snap_writer(const char *path, int stop, int done)
{
    mf_file *mf;
    if (mf_open(&mf, path, MF_UPDATE, NULL))
        _exit(2);
    mf_hist1d *h[SNAP_OBJS];
    for (int i = 0; i < SNAP_OBJS; i++) {
        h[i] = mf_hist1d_new(snap_names[i], 64, 0, 1);
        if (!h[i] || mf_add(mf, snap_names[i], "hist1d", h[i]))
            _exit(2);
    }
    uint64_t s = 42;
    long batch = 0;
    for (;;) {
        struct pollfd p = {stop, POLLIN, 0};
        if (poll(&p, 1, 0) > 0)
            break;
        batch++;
        for (int i = 0; i < SNAP_OBJS; i++)
            for (int k = 0; k < SNAP_FILLS; k++)
                mf_hist1d_fill(h[i], (double)(rng(&s) % 1000) / 1000.0);
        if (mf_update(mf, NULL)) {
            fprintf(stderr, "writer: %s\n", mf_errdetail());
            _exit(3);
        }
    }
    say(done, "%ld", batch);
    mf_close(mf);
    _exit(0);
}

/* A reader: takes snapshots until it has taken SNAP_MIN_SNAPSHOTS and seen
 * SNAP_MIN_BATCHES different batches (bounded by SNAP_MAX_TRIES). After
 * each snapshot a single mf_get of one object must be whole and not older
 * than the snapshot. Exit 0 good, 1 mixed snapshot, 2 error, 3 torn or
 * stale single get, 4 no progress; the counts go to report. */
static void snap_reader(const char *path, int report)
{
    mf_file *mf;
    if (mf_open(&mf, path, MF_READ, NULL))
        _exit(2);
    void *objs[SNAP_OBJS];
    const mf_class *cls[SNAP_OBJS];
    double last = -1, single_last[SNAP_OBJS] = {0};
    long ok = 0, busy = 0, distinct = 0, tries = 0;
    unsigned max_retries = 0;
    int code = 0;
    while (code == 0 && (ok < SNAP_MIN_SNAPSHOTS || distinct < SNAP_MIN_BATCHES)) {
        if (++tries > SNAP_MAX_TRIES) {
            code = 4;
            break;
        }
        unsigned retries;
        int rc = mf_get_snapshot(mf, snap_names, SNAP_OBJS, objs, cls, &retries);
        if (rc == MF_EBUSY) {
            busy++;
            continue;
        }
        if (rc) {
            fprintf(stderr, "reader: snapshot: %s\n", mf_errdetail());
            code = 2;
            break;
        }
        ok++;
        if (retries > max_retries)
            max_retries = retries;
        double e = ((mf_hist1d *)objs[0])->entries;
        for (int i = 0; i < SNAP_OBJS; i++) {
            const mf_hist1d *hh = objs[i];
            if (hh->entries != e || !hist_whole(hh))
                code = 1;
            mf_object_free(cls[i], objs[i]);
        }
        if (code)
            break;
        if (e < last) {
            code = 1; /* a snapshot older than the previous one */
            break;
        }
        if (e > last)
            distinct++;
        last = e;

        int k = (int)(ok % SNAP_OBJS);
        void *o;
        const mf_class *c;
        if (mf_get(mf, snap_names[k], &o, &c)) {
            fprintf(stderr, "reader: get: %s\n", mf_errdetail());
            code = 2;
            break;
        }
        const mf_hist1d *g = o;
        if (!hist_whole(g) || g->entries < e || g->entries < single_last[k])
            code = 3;
        single_last[k] = g->entries;
        mf_object_free(c, o);
    }
    say(report, "%d %ld %ld %ld %u %.0f", code, ok, busy, distinct, max_retries, last);
    mf_close(mf);
    _exit(code);
}

Test(snapshot, readers_never_see_a_mixed_batch_and_every_reader_sees_progress,
     .timeout = 300)
{
    snap_init_names();
    mf_registry_add_class(mf_registry_default(), &mf_hist1d_class);
    const char *path = mf_test_path("snap.map");
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, NULL), 0, "%s", mf_errdetail());
    mf_hist1d *h0 = mf_hist1d_new("empty", 64, 0, 1);
    for (int i = 0; i < SNAP_OBJS; i++)
        cr_assert_eq(mf_put(mf, snap_names[i], "hist1d", h0), 0);
    mf_hist1d_free(h0);
    mf_close(mf);

    int stop[2], done[2], report[2];
    cr_assert_eq(pipe(stop), 0);
    cr_assert_eq(pipe(done), 0);
    cr_assert_eq(pipe(report), 0);
    pid_t w = fork_helper();
    if (w == 0) {
        child_setup(stop[1], done[0], report[0]);
        close(report[1]);
        snap_writer(path, stop[0], done[1]);
    }
    close(stop[0]);
    close(done[1]);
    pid_t r[SNAP_READERS];
    for (int i = 0; i < SNAP_READERS; i++) {
        r[i] = fork_helper();
        if (r[i] == 0) {
            child_setup(stop[1], done[0], report[0]);
            snap_reader(path, report[1]);
        }
    }
    close(report[1]);
    for (int i = 0; i < SNAP_READERS; i++) {
        char line[256];
        cr_assert_gt(read_line(report[0], line, sizeof line), 0, "a reader died silently");
        int code;
        long ok, busy, distinct;
        unsigned maxr;
        double last;
        cr_assert_eq(sscanf(line, "%d %ld %ld %ld %u %lf", &code, &ok, &busy, &distinct,
                            &maxr, &last), 6);
        cr_log_info("reader: %ld snapshots, %ld EBUSY, %ld distinct batches, "
                    "at most %u retries, last %g entries", ok, busy, distinct, maxr, last);
        cr_assert_eq(code, 0, "reader failed with %d: 1 mixed, 3 torn get, 4 no "
                     "progress (%s)", code, line);
        cr_assert_geq(distinct, SNAP_MIN_BATCHES);
    }
    for (int i = 0; i < SNAP_READERS; i++)
        cr_assert_eq(wait_exit(r[i]), 0);
    close(stop[1]);
    char line[64];
    cr_assert_gt(read_line(done[0], line, sizeof line), 0);
    cr_assert_eq(wait_exit(w), 0);
    long batches = atol(line);
    cr_log_info("writer published %ld batches", batches);

    /* Quiet now: single gets give the writer's last batch, every record
     * stamped with the same batch number. */
    cr_assert_eq(mf_open(&mf, path, MF_READ, NULL), 0);
    uint64_t batch_no = 0;
    for (int i = 0; i < SNAP_OBJS; i++) {
        void *o;
        const mf_class *c;
        cr_assert_eq(mf_get(mf, snap_names[i], &o, &c), 0, "%s", mf_errdetail());
        cr_assert_eq(((mf_hist1d *)o)->entries, (double)batches * SNAP_FILLS);
        mf_object_free(c, o);
        mf_record_info ri;
        cr_assert_eq(mf_stat(mf, snap_names[i], &ri), 0);
        if (i == 0)
            batch_no = ri.batch;
        cr_assert_eq(ri.batch, batch_no, "record %d is from another batch", i);
    }
    mf_close(mf);
    close(done[0]);
    close(report[0]);
}

Test(snapshot, snapshot_of_records_updated_one_by_one_is_refused_or_consistent)
{
    /* Single updates are batches of one: a snapshot of two records taken
     * between them sees both from then, never a torn pair of objects. */
    const char *path = mf_test_path("single.map");
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, NULL), 0);
    put_text(mf, "a", "1");
    put_text(mf, "b", "1");
    put_text(mf, "a", "2");
    const char *names[] = {"a", "b"};
    void *objs[2];
    const mf_class *cls[2];
    unsigned retries = 99;
    cr_assert_eq(mf_get_snapshot(mf, names, 2, objs, cls, &retries), 0);
    cr_assert_eq(retries, 0, "nothing was writing");
    cr_assert_str_eq(objs[0], "2");
    cr_assert_str_eq(objs[1], "1");
    mf_object_free(cls[0], objs[0]);
    mf_object_free(cls[1], objs[1]);
    /* A missing name fails the whole snapshot and returns nothing. */
    const char *bad[] = {"a", "nope"};
    objs[0] = objs[1] = NULL;
    cr_assert_eq(mf_get_snapshot(mf, bad, 2, objs, cls, NULL), MF_ENOTFOUND);
    cr_assert_null(objs[0], "nothing to free after a failure");
    mf_close(mf);
}

/* ---- consumers that outlive their producer ---------------------------------------- */

#define RESTARTS 3

/* Producer generation g: recreates the file and puts 2g+1 intermediate
 * values then "gen-g", so each generation ends on a higher file generation
 * than any the previous file reached (see the test below on coinciding
 * generations for why that matters). Then waits to be killed. */
static void restart_producer(const char *path, int gen, int ready, int stop)
{
    mf_file *mf;
    if (mf_open(&mf, path, MF_RECREATE, NULL)) {
        fprintf(stderr, "producer %d: %s\n", gen, mf_errdetail());
        _exit(2);
    }
    char v[32];
    for (int j = 1; j <= 2 * gen + 1; j++) {
        snprintf(v, sizeof v, "gen-%d/%d", gen, j);
        if (mf_put(mf, "value", "text", v))
            _exit(3);
    }
    snprintf(v, sizeof v, "gen-%d", gen);
    if (mf_put(mf, "value", "text", v))
        _exit(3);
    say(ready, "ready");
    char b;
    while (read(stop, &b, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
}

/* The consumer: started before the file exists, never restarted. Reports
 * "waiting" before it opens, then every new value it reads, and exits 0
 * once it has read `last`. */
static void restart_consumer(const char *path, const char *last, int out)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.wait_ms = -1;
    mf_file *mf;
    say(out, "waiting");
    int rc = mf_open(&mf, path, MF_READ, &o);
    if (rc) {
        say(out, "err open %s %s", mf_err_name(rc), mf_errdetail());
        _exit(2);
    }
    char prev[64] = "";
    uint64_t seen = 0;
    for (;;) {
        if ((rc = mf_wait(mf, &seen, -1))) {
            say(out, "err wait %s %s", mf_err_name(rc), mf_errdetail());
            _exit(2);
        }
        char *v = get_text(mf, "value", &rc);
        if (rc == MF_ENOTFOUND)
            continue; /* a new file, not written yet */
        if (rc) {
            say(out, "err get %s %s", mf_err_name(rc), mf_errdetail());
            _exit(2);
        }
        if (strcmp(v, prev) != 0) {
            say(out, "%s", v);
            snprintf(prev, sizeof prev, "%s", v);
        }
        int end = strcmp(v, last) == 0;
        free(v);
        if (end)
            break;
    }
    mf_close(mf);
    _exit(0);
}

Test(restart, consumer_started_first_follows_a_producer_killed_and_recreated_three_times,
     .timeout = 120)
{
    const char *path = mf_test_path("restart.map");
    int rep[2], stop[2];
    cr_assert_eq(pipe(rep), 0);
    cr_assert_eq(pipe(stop), 0);
    char last[16];
    snprintf(last, sizeof last, "gen-%d", RESTARTS);
    pid_t cons = fork_helper();
    if (cons == 0) {
        child_setup(rep[0], stop[0], stop[1]);
        restart_consumer(path, last, rep[1]);
    }
    close(rep[1]);
    char line[1024];
    cr_assert_gt(read_line(rep[0], line, sizeof line), 0);
    cr_assert_str_eq(line, "waiting");
    until_asleep(cons); /* inside mf_open, waiting for the file */
    cr_assert_eq(access(path, F_OK), -1, "the file does not exist yet");

    pid_t prod = -1;
    int newest = -1;
    for (int gen = 0; gen <= RESTARTS; gen++) {
        if (prod > 0) {
            cr_assert_eq(kill(prod, SIGKILL), 0);
            cr_assert_eq(wait_exit(prod), 100 + SIGKILL);
        }
        int ready[2];
        cr_assert_eq(pipe(ready), 0);
        prod = fork_helper();
        if (prod == 0) {
            child_setup(ready[0], stop[1], rep[0]);
            restart_producer(path, gen, ready[1], stop[0]);
        }
        close(ready[1]);
        cr_assert_gt(read_line(ready[0], line, sizeof line), 0, "producer %d died", gen);
        close(ready[0]);
        /* The consumer reports values in order and reaches "gen-<gen>". */
        char want[16];
        snprintf(want, sizeof want, "gen-%d", gen);
        for (;;) {
            cr_assert_gt(read_line(rep[0], line, sizeof line), 0,
                         "consumer died before reading %s", want);
            cr_assert_eq(strncmp(line, "gen-", 4), 0, "consumer: %s", line);
            int g = atoi(line + 4);
            cr_assert(g >= newest && g <= gen, "consumer read %s after gen-%d",
                      line, newest);
            newest = g;
            if (strcmp(line, want) == 0)
                break;
        }
        cr_assert_eq(kill(cons, 0), 0, "the same consumer process is alive");
    }
    cr_assert_eq(wait_exit(cons), 0);
    close(stop[1]);
    cr_assert_eq(wait_exit(prod), 0);
    close(stop[0]);
    close(rep[0]);

    /* Nothing but the map file is left in the directory: every new file
     * was made under a temporary name that was then renamed. */
    DIR *d = opendir(mf_test_dir());
    struct dirent *e;
    while ((e = readdir(d)))
        cr_assert(e->d_name[0] == '.' || strcmp(e->d_name, "restart.map") == 0,
                  "left behind: %s", e->d_name);
    closedir(d);
}

/* A producer process that recreates path with value v, then exits. */
static void recreate_in_child(const char *path, const char *v, int puts)
{
    pid_t p = fork_helper();
    if (p == 0) {
        child_setup(-1, -1, -1);
        mf_file *mf;
        if (mf_open(&mf, path, MF_RECREATE, NULL))
            _exit(2);
        for (int i = 0; i < puts; i++)
            if (mf_put(mf, "value", "text", v))
                _exit(3);
        mf_close(mf);
        _exit(0);
    }
    cr_assert_eq(wait_exit(p), 0);
}

Test(restart, no_follow_replace_makes_wait_and_get_return_ereplaced, .timeout = 60)
{
    const char *path = mf_test_path("nofollow.map");
    recreate_in_child(path, "old", 1);
    int rep[2];
    cr_assert_eq(pipe(rep), 0);
    pid_t cons = fork_helper();
    if (cons == 0) {
        child_setup(rep[0], -1, -1);
        mf_open_options o = MF_OPEN_OPTIONS_INIT;
        o.flags = MF_OPEN_NO_FOLLOW_REPLACE;
        mf_file *mf;
        int rc = mf_open(&mf, path, MF_READ, &o);
        char *v = rc ? NULL : get_text(mf, "value", &rc);
        if (rc || strcmp(v, "old") != 0)
            _exit(2);
        free(v);
        uint64_t seen = 0;
        mf_wait(mf, &seen, 0);
        say(rep[1], "sleeping");
        int wrc = mf_wait(mf, &seen, -1);
        get_text(mf, "value", &rc);
        mf_file_info fi;
        mf_file_stat(mf, &fi);
        say(rep[1], "%s %s %d", mf_err_name(wrc), mf_err_name(rc), fi.retired);
        mf_close(mf);
        _exit(0);
    }
    close(rep[1]);
    /* A following reader, for contrast. */
    mf_file *follower;
    cr_assert_eq(mf_open(&follower, path, MF_READ, NULL), 0);

    char line[256];
    cr_assert_gt(read_line(rep[0], line, sizeof line), 0);
    cr_assert_str_eq(line, "sleeping");
    until_asleep(cons);
    recreate_in_child(path, "new", 1);
    cr_assert_gt(read_line(rep[0], line, sizeof line), 0);
    cr_assert_str_eq(line, "MF_EREPLACED MF_EREPLACED 1",
                     "wait, get, retired flag of the no-follow reader");
    cr_assert_eq(wait_exit(cons), 0);
    close(rep[0]);

    int rc;
    char *v = get_text(follower, "value", &rc);
    cr_assert_eq(rc, 0, "%s", mf_errdetail());
    cr_assert_str_eq(v, "new", "the default reader followed the new file");
    free(v);
    mf_close(follower);
}

Test(restart, wait_reports_a_replaced_file_even_when_generations_coincide,
     .timeout = 60)
{
    /* The first file ends at generation 3 after three puts. The reader
     * has seen 3. The producer restarts and again makes three changes: the
     * new file is at generation 3 too, but it is a different file with
     * data the reader has not read. mf.h: without NO_FOLLOW_REPLACE "the
     * handle reopens the new file and returns 0". */
    const char *path = mf_test_path("coincide.map");
    recreate_in_child(path, "first", 3);
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_READ, NULL), 0);
    uint64_t seen = 0;
    cr_assert_eq(mf_wait(mf, &seen, 0), 0);
    int rc;
    char *v = get_text(mf, "value", &rc);
    cr_assert_str_eq(v, "first");
    free(v);

    recreate_in_child(path, "second", 3);
    uint64_t before = seen;
    rc = mf_wait(mf, &seen, 2000);
    cr_assert_eq(rc, 0, "the file was replaced but wait says %s (seen %llu, "
                 "now %llu): a consumer sleeps through the restart",
                 mf_err_name(rc), (unsigned long long)before,
                 (unsigned long long)seen);
    v = get_text(mf, "value", &rc);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(v, "second");
    free(v);
    mf_close(mf);
}

/* ---- readers before producers ------------------------------------------------------ */

Test(readers_first, open_read_times_out_on_a_file_that_never_appears)
{
    const char *path = mf_test_path("never.map");
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.wait_ms = 200;
    mf_file *mf = (mf_file *)1;
    cr_assert_eq(mf_open(&mf, path, MF_READ, &o), MF_ETIMEDOUT);
    cr_assert_null(mf);
    cr_assert(strstr(mf_errdetail(), "never.map"), "%s", mf_errdetail());
    o.wait_ms = 0;
    cr_assert_eq(mf_open(&mf, path, MF_READ, &o), MF_ENOENT, "0 means do not wait");
    cr_assert_eq(access(path, F_OK), -1, "a reader never creates the file");
}

Test(readers_first, reader_waiting_in_open_wakes_when_the_producer_creates_the_file,
     .timeout = 60)
{
    const char *path = mf_test_path("late.map");
    int rep[2];
    cr_assert_eq(pipe(rep), 0);
    pid_t cons = fork_helper();
    if (cons == 0) {
        child_setup(rep[0], -1, -1);
        mf_open_options o = MF_OPEN_OPTIONS_INIT;
        o.wait_ms = 60000;
        say(rep[1], "waiting");
        mf_file *mf;
        int rc = mf_open(&mf, path, MF_READ, &o);
        if (rc) {
            say(rep[1], "open %s", mf_err_name(rc));
            _exit(2);
        }
        uint64_t seen = 0;
        char *v = NULL;
        while (!v && (rc = mf_wait(mf, &seen, -1)) == 0)
            v = get_text(mf, "value", &rc);
        say(rep[1], "%s", v ? v : mf_err_name(rc));
        _exit(0);
    }
    close(rep[1]);
    char line[256];
    cr_assert_gt(read_line(rep[0], line, sizeof line), 0);
    until_asleep(cons);
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_CREATE, NULL), 0);
    put_text(mf, "value", "hello");
    cr_assert_gt(read_line(rep[0], line, sizeof line), 0);
    cr_assert_str_eq(line, "hello");
    cr_assert_eq(wait_exit(cons), 0);
    mf_close(mf);
    close(rep[0]);
}

#define RACE_ROUNDS 200
#define RACE_READERS 2

/* A reader racing the producer: opens and reads as fast as it can until
 * stop closes, then once more. Any open result other than 0 or ENOENT, or
 * a get that finds a damaged file, fails it. */
static void race_reader(const char *path, int stop, int report)
{
    long opened = 0, enoent = 0, values = 0;
    for (int last = 0; last < 2;) {
        struct pollfd p = {stop, POLLIN, 0};
        if (last == 0 && poll(&p, 1, 0) > 0)
            last = 1; /* the producer is done: one final round */
        else if (last == 1)
            last = 2;
        mf_file *mf;
        int rc = mf_open(&mf, path, MF_READ, NULL);
        if (rc == MF_ENOENT) {
            enoent++;
            continue;
        }
        if (rc) {
            say(report, "open %s %s", mf_err_name(rc), mf_errdetail());
            _exit(1);
        }
        opened++;
        char *v = get_text(mf, "value", &rc);
        /* Not yet written, or replaced by a file that is gone again
         * (unlink + create): both fine. Damage never is. */
        if (rc && rc != MF_ENOTFOUND && rc != MF_EREPLACED) {
            say(report, "get %s %s", mf_err_name(rc), mf_errdetail());
            _exit(1);
        }
        if (v && atoi(v) >= 0)
            values++;
        free(v);
        mf_close(mf);
    }
    say(report, "ok %ld %ld %ld", opened, enoent, values);
    _exit(0);
}

Test(readers_first, readers_racing_200_creations_never_map_a_half_made_file,
     .timeout = 300)
{
    const char *path = mf_test_path("race.map");
    int stop[2], report[2];
    cr_assert_eq(pipe(stop), 0);
    cr_assert_eq(pipe(report), 0);
    pid_t r[RACE_READERS];
    for (int i = 0; i < RACE_READERS; i++) {
        r[i] = fork_helper();
        if (r[i] == 0) {
            child_setup(stop[1], report[0], -1);
            race_reader(path, stop[0], report[1]);
        }
    }
    close(stop[0]);
    close(report[1]);
    /* Alternate the two ways a file comes to be: unlink + CREATE (link of
     * a finished temporary) and RECREATE (rename over the old one). The
     * last round is a RECREATE, so the file exists at the end. */
    for (int i = 0; i < RACE_ROUNDS; i++) {
        mf_file *mf;
        int mode = i % 2 ? MF_RECREATE : MF_CREATE;
        if (mode == MF_CREATE)
            unlink(path);
        cr_assert_eq(mf_open(&mf, path, mode, NULL), 0, "round %d: %s", i,
                     mf_errdetail());
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        put_text(mf, "value", v);
        mf_close(mf);
    }
    close(stop[1]);
    long opened_total = 0;
    for (int i = 0; i < RACE_READERS; i++) {
        char line[1024];
        cr_assert_gt(read_line(report[0], line, sizeof line), 0);
        cr_assert_eq(strncmp(line, "ok ", 3), 0, "reader: %s", line);
        long opened, enoent, values;
        cr_assert_eq(sscanf(line + 3, "%ld %ld %ld", &opened, &enoent, &values), 3);
        cr_log_info("race reader: %ld opens, %ld ENOENT, %ld values", opened,
                    enoent, values);
        opened_total += opened;
    }
    for (int i = 0; i < RACE_READERS; i++)
        cr_assert_eq(wait_exit(r[i]), 0);
    cr_assert_geq(opened_total, RACE_READERS, "every reader opened the final file");
    close(report[0]);
}

/* ---- a full map ------------------------------------------------------------------- */

#define FULL_MAX (256u * 1024u)

static mf_hist1d *numbered_hist(int k)
{
    char title[32];
    snprintf(title, sizeof title, "h%d", k);
    mf_hist1d *h = mf_hist1d_new(title, 1000, 0, 1);
    for (int i = 0; i <= k; i++)
        mf_hist1d_fill(h, (double)(i % 1000) / 1000.0 + 0.0005);
    return h;
}

/* Record h/k as stored holds exactly what numbered_hist(k) holds. */
static bool hist_is(const mf_hist1d *h, int k)
{
    mf_hist1d *want = numbered_hist(k);
    bool same = h->entries == want->entries && strcmp(h->title, want->title) == 0 &&
                memcmp(h->bins, want->bins, sizeof(double) * 1002) == 0;
    mf_hist1d_free(want);
    return same;
}

Test(full, update_at_the_size_limit_fails_with_the_sizes_and_keeps_what_was_stored,
     .timeout = 60)
{
    mf_registry_add_class(mf_registry_default(), &mf_hist1d_class);
    const char *path = mf_test_path("full.map");
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = 64 * 1024;
    o.max_size = FULL_MAX;
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, &o), 0, "%s", mf_errdetail());
    mf_hist1d *h[64];
    char name[32];
    int k = 0, rc = 0;
    for (; k < 64; k++) {
        h[k] = numbered_hist(k);
        snprintf(name, sizeof name, "h/%d", k);
        cr_assert_eq(mf_add(mf, name, "hist1d", h[k]), 0);
        rc = mf_update(mf, name);
        if (rc)
            break;
    }
    cr_assert_eq(rc, MF_EFULL, "got %s: %s", mf_err_name(rc), mf_errdetail());
    cr_assert_gt(k, 10, "only %d objects of ~8 KiB fit in 256 KiB", k);
    /* The detail names the sizes: the file and its limit. */
    char detail[1024];
    snprintf(detail, sizeof detail, "%s", mf_errdetail());
    cr_log_info("after %d objects: %s", k, detail);
    mf_file_info fi;
    cr_assert_eq(mf_file_stat(mf, &fi), 0);
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)fi.max_size);
    cr_assert(strstr(detail, num), "detail names the maximum size %s: %s", num, detail);
    snprintf(num, sizeof num, "%llu", (unsigned long long)fi.capacity);
    cr_assert(strstr(detail, num), "detail names the file size %s: %s", num, detail);
    cr_assert(strstr(detail, path), "detail names the file: %s", detail);
    /* mf_file_stat shows how close to the limit the file is. */
    cr_assert_eq(fi.max_size, FULL_MAX);
    cr_assert_eq(fi.capacity, fi.max_size, "it grew up to its limit");
    cr_assert_leq(fi.heap_used + fi.heap_free, fi.heap_size);
    cr_assert_gt(fi.heap_used, fi.heap_size / 2);
    cr_assert_eq(fi.records, (uint64_t)k);
    cr_log_info("capacity %llu of %llu, heap %llu used %llu free",
                (unsigned long long)fi.capacity, (unsigned long long)fi.max_size,
                (unsigned long long)fi.heap_used, (unsigned long long)fi.heap_free);

    /* Not fatal: the refused object is simply not there ... */
    snprintf(name, sizeof name, "h/%d", k);
    mf_record_info ri;
    cr_assert_eq(mf_stat(mf, name, &ri), MF_ENOTFOUND);
    /* ... everything before it is intact, here and in another process ... */
    for (int j = 0; j < k; j++) {
        void *obj;
        const mf_class *cls;
        snprintf(name, sizeof name, "h/%d", j);
        cr_assert_eq(mf_get(mf, name, &obj, &cls), 0, "%s", mf_errdetail());
        cr_assert(hist_is(obj, j), "h/%d changed", j);
        mf_object_free(cls, obj);
    }
    pid_t rd = fork_helper();
    if (rd == 0) {
        child_setup(-1, -1, -1);
        mf_file *r;
        if (mf_open(&r, path, MF_READ, NULL))
            _exit(2);
        for (int j = 0; j < k; j++) {
            void *obj;
            const mf_class *cls;
            snprintf(name, sizeof name, "h/%d", j);
            if (mf_get(r, name, &obj, &cls) || !hist_is(obj, j))
                _exit(1);
            mf_object_free(cls, obj);
        }
        _exit(0);
    }
    cr_assert_eq(wait_exit(rd), 0, "another process reads every earlier record");
    unsigned problems = 1;
    cr_assert_eq(mf_check(mf, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);

    /* ... and the producer carries on once space is freed. */
    cr_assert_eq(mf_remove(mf, "h/0"), 0);
    cr_assert_eq(mf_remove(mf, "h/1"), 0);
    snprintf(name, sizeof name, "h/%d", k);
    cr_assert_eq(mf_update(mf, name), 0, "%s", mf_errdetail());
    void *obj;
    const mf_class *cls;
    cr_assert_eq(mf_get(mf, name, &obj, &cls), 0);
    cr_assert(hist_is(obj, k));
    mf_object_free(cls, obj);
    mf_close(mf);
    for (int j = 0; j <= k && j < 64; j++)
        mf_hist1d_free(h[j]);
}

#define BATCH_OBJS 20

Test(full, a_batch_refused_for_lack_of_space_publishes_none_of_its_objects)
{
    /* mf_update(mf, NULL) publishes one batch: "a snapshot reader sees all
     * of them from this batch or all from an earlier one", and on EFULL
     * "what was stored before is intact". So a batch that does not fit
     * must leave every object as the previous batch left it. */
    const char *path = mf_test_path("fullbatch.map");
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = 64 * 1024;
    o.max_size = FULL_MAX;
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, &o), 0);
    static char text[BATCH_OBJS][16 * 1024];
    const char *names[BATCH_OBJS];
    static char namebuf[BATCH_OBJS][16];
    for (int i = 0; i < BATCH_OBJS; i++) {
        snprintf(namebuf[i], sizeof namebuf[i], "t/%d", i);
        names[i] = namebuf[i];
        snprintf(text[i], sizeof text[i], "batch-1 object %d", i);
        cr_assert_eq(mf_add(mf, names[i], "text", text[i]), 0);
    }
    cr_assert_eq(mf_update(mf, NULL), 0, "%s", mf_errdetail());
    /* Batch 2 makes every object 16 KiB: 320 KiB cannot fit in 256 KiB. */
    for (int i = 0; i < BATCH_OBJS; i++) {
        memset(text[i], 'x', sizeof text[i] - 1);
        text[i][sizeof text[i] - 1] = '\0';
        memcpy(text[i], "batch-2", 7);
    }
    int rc = mf_update(mf, NULL);
    cr_assert_eq(rc, MF_EFULL, "got %s", mf_err_name(rc));

    void *objs[BATCH_OBJS];
    const mf_class *cls[BATCH_OBJS];
    cr_assert_eq(mf_get_snapshot(mf, names, BATCH_OBJS, objs, cls, NULL), 0, "%s",
                 mf_errdetail());
    int from_batch2 = 0;
    for (int i = 0; i < BATCH_OBJS; i++) {
        if (strncmp(objs[i], "batch-2", 7) == 0)
            from_batch2++;
        mf_object_free(cls[i], objs[i]);
    }
    cr_assert_eq(from_batch2, 0,
                 "%d of %d objects of the refused batch were published: a "
                 "snapshot mixes two batches", from_batch2, BATCH_OBJS);
    mf_close(mf);
}
