/* test_attack_static.c - a file nobody writes is never "busy" (issue 12,
 * item 2, the reverse of false corruption).
 *
 * MF_EBUSY means "writers are changing things, try again". On a file with
 * no live writer it is a lie that a consumer retries forever. Files with
 * no writer are made the way they are made in life:
 * - a copy (cp) of a file taken while its writer was inside a change,
 *   that writer then killed; copies are taken at crash points spread over
 *   a workload of adds, index growth, batches, updates and removes;
 * - the same copies read by a process of another pid namespace in which
 *   the dead writer's pid number belongs to a live, unrelated process
 *   (pid reuse, a file restored on another host);
 * - tests/fixtures/attack/iter_ebusy_no_writer.map: what fuzz_mapfile
 *   found (kept in tests/fuzz/corpus/fuzz_mapfile too): the writer lock is
 *   free, the publish sequence odd, the writer pid that of a live kernel
 *   thread, the record list broken; mf_iter_next answered MF_EBUSY.
 * Every read call on such a file must end (a watchdog kills a reader that
 * hangs) and none may answer MF_EBUSY. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attackutil.h"
#include "testutil.h"

#define NC 70  /* c/<i>: enough names to grow the hash index */
#define NB 5   /* b/<i>: batch members */

static void name_of(char *buf, size_t cap, int i)
{
    if (i < NC)
        snprintf(buf, cap, "c/%d", i);
    else
        snprintf(buf, cap, "b/%d", i - NC);
}

/* ---- the writer's workload ------------------------------------------------------ */

static void make_base(const char *path)
{
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, NULL), 0, "%s", mf_errdetail());
    for (int i = 0; i < 10; i++) {
        char name[16];
        name_of(name, sizeof name, i);
        cr_assert_eq(mf_put(mf, name, MF_TEXT_CLASS, "base"), 0, "%s", mf_errdetail());
    }
    mf_close(mf);
}

/* Adds (the index grows), batches, updates of small and large payloads,
 * removes; the same every time, so crash point n is the same moment. */
static void workload(mf_file *mf)
{
    static unsigned char big[6000], small[100];
    char name[16];
    for (int i = 0; i < NC; i++) {
        name_of(name, sizeof name, i);
        if (mf_put(mf, name, MF_TEXT_CLASS, "one"))
            _exit(3);
    }
    mf_blob blobs[NB];
    for (int i = 0; i < NB; i++) {
        blobs[i] = (mf_blob){i % 2 ? sizeof big : sizeof small, i % 2 ? big : small};
        name_of(name, sizeof name, NC + i);
        if (mf_add(mf, name, MF_BLOB_CLASS, &blobs[i]))
            _exit(3);
    }
    for (int k = 0; k < 3; k++) {
        at_fill(big, sizeof big, (uint64_t)k);
        at_fill(small, sizeof small, (uint64_t)k);
        if (mf_update(mf, NULL))
            _exit(3);
    }
    for (int i = 0; i < 40; i++) {
        name_of(name, sizeof name, i);
        if (mf_remove(mf, name))
            _exit(3);
    }
    for (int i = 40; i < NC; i++) {
        name_of(name, sizeof name, i);
        if (mf_put(mf, name, MF_TEXT_CLASS, "two"))
            _exit(3);
    }
}

struct writer_args {
    const char *path;
    long stop_at;   /* 0: count crash points and report the count */
    int report_fd, go_fd;
};

static void writer(void *p)
{
    struct writer_args *a = p;
    mf_file *mf;
    if (mf_open(&mf, a->path, MF_UPDATE, NULL)) {
        fprintf(stderr, "writer: %s\n", mf_errdetail());
        _exit(2);
    }
    if (a->stop_at)
        at_hold_at_crash_point(a->stop_at, a->report_fd, a->go_fd);
    else
        at_count_crash_points();
    workload(mf);
    long n = at_crash_points_passed();
    if (write(a->report_fd, "e", 1) != 1 || write(a->report_fd, &n, sizeof n) != sizeof n)
        _exit(2);
    mf_close(mf);
    _exit(0);
}

static long count_crash_points(const char *base)
{
    const char *path = mf_test_path("count.map");
    cr_assert_eq(at_copy(base, path), 0);
    int rep[2];
    cr_assert_eq(pipe(rep), 0);
    struct writer_args a = {path, 0, rep[1], -1};
    pid_t pid = at_fork();
    if (pid == 0)
        writer(&a);
    close(rep[1]);
    char c;
    long n = 0;
    cr_assert_eq(read(rep[0], &c, 1), 1);
    cr_assert_eq(read(rep[0], &n, sizeof n), (ssize_t)sizeof n);
    close(rep[0]);
    cr_assert_eq(at_wait_for(pid, 60), 0);
    cr_assert_gt(n, 0, "the workload passed no crash point: is mf__crash_point still "
                 "called inside changes?");
    return n;
}

/* Run the workload on a fresh copy of base, stop the writer at crash point
 * `at`, cp the file to `copy`, kill the writer. in_ns: the writer runs as
 * pid 2 of its own pid namespace. Returns false if the workload ended
 * before that point. */
static bool copy_mid_change(const char *base, const char *copy, long at, bool in_ns)
{
    const char *work = mf_test_path("work.map");
    cr_assert_eq(at_copy(base, work), 0);
    int rep[2], go[2];
    cr_assert_eq(pipe(rep), 0);
    cr_assert_eq(pipe(go), 0);
    struct writer_args a = {work, at, rep[1], go[0]};
    pid_t pid = in_ns ? at_spawn_in_pid_ns(2, writer, &a) : at_fork();
    cr_assert_neq(pid, -1);
    if (pid == 0)
        writer(&a);
    close(rep[1]);
    close(go[0]);
    char c = 0;
    ssize_t n = read(rep[0], &c, 1);
    bool held = n == 1 && c == 'h';
    if (held)
        cr_assert_eq(at_copy(work, copy), 0, "cp %s %s", work, copy);
    cr_assert_eq(write(go[1], "k", 1), 1);
    close(go[1]);
    close(rep[0]);
    int st = at_wait_for(pid, 60);
    if (st == 77)
        cr_skip_test("no pid namespace can be made here (needs root): %s",
                     strerror(EPERM));
    cr_assert(st == 100 + SIGKILL || (!held && st == 0), "writer stopped at crash "
              "point %ld: %s", at, at_status_text(st));
    return held;
}

/* ---- reading a file nobody writes --------------------------------------------------- */

struct static_verdict {
    long calls, busy, corrupt, ok;
    char first_busy[300];
};

static void count(struct static_verdict *v, int rc, const char *what, const char *name)
{
    v->calls++;
    if (rc == 0 || rc == 1)
        v->ok++;
    if (rc == MF_ECORRUPT)
        v->corrupt++;
    if (rc == MF_EBUSY && v->busy++ == 0)
        snprintf(v->first_busy, sizeof v->first_busy, "%s '%s': %s", what, name,
                 mf_errdetail());
}

/* Every kind of read of every name, once. */
static void read_everything(const char *path, struct static_verdict *v)
{
    memset(v, 0, sizeof *v);
    mf_file *mf;
    if (mf_open(&mf, path, MF_READ, NULL)) {
        count(v, MF_EINVAL, "mf_open", path);
        return;
    }
    mf_iter it;
    mf_record_info ri;
    int rc;
    mf_iter_init(&it, mf, NULL);
    while ((rc = mf_iter_next(&it, &ri)) == 1)
        count(v, rc, "mf_iter_next", "");
    count(v, rc, "mf_iter_next", "(end)");
    static char names[NC + NB][16];
    const char *snap[NC + NB];
    static unsigned char buf[1 << 16];
    for (int i = 0; i < NC + NB; i++) {
        name_of(names[i], sizeof names[i], i);
        snap[i] = names[i];
        count(v, mf_stat(mf, names[i], &ri), "mf_stat", names[i]);
        void *obj;
        const mf_class *cls;
        rc = mf_get(mf, names[i], &obj, &cls);
        count(v, rc, "mf_get", names[i]);
        if (rc == 0)
            mf_object_free(cls, obj);
        count(v, mf_get_raw(mf, names[i], buf, sizeof buf, &ri), "mf_get_raw", names[i]);
        void *data = NULL;
        count(v, mf_get_raw_alloc(mf, names[i], &data, &ri), "mf_get_raw_alloc", names[i]);
        free(data);
    }
    void *objs[NB];
    const mf_class *classes[NB];
    rc = mf_get_snapshot(mf, snap + NC, NB, objs, classes, NULL);
    count(v, rc, "mf_get_snapshot", "b/*");
    for (int i = 0; rc == 0 && i < NB; i++)
        mf_object_free(classes[i], objs[i]);
    unsigned problems;
    count(v, mf_check(mf, NULL, NULL, &problems), "mf_check", "");
    mf_close(mf);
}

struct reader_args {
    const char *path;
    int out_fd;
};

static void reader(void *p)
{
    struct reader_args *a = p;
    struct static_verdict v;
    read_everything(a->path, &v);
    _exit(write(a->out_fd, &v, sizeof v) == (ssize_t)sizeof v ? 0 : 2);
}

/* Read everything in a child (in_ns: as pid 3 of a new namespace, where a
 * live process is pid 2), with a watchdog. */
static void read_in_child(const char *path, bool in_ns, struct static_verdict *v)
{
    int out[2];
    cr_assert_eq(pipe(out), 0);
    struct reader_args a = {path, out[1]};
    pid_t pid = in_ns ? at_spawn_in_pid_ns(3, reader, &a) : at_fork();
    if (pid == 0)
        reader(&a);
    close(out[1]);
    ssize_t n = read(out[0], v, sizeof *v);
    close(out[0]);
    int st = at_wait_for(pid, 120);
    cr_assert(st == 0 && n == (ssize_t)sizeof *v, "reading %s with no writer: %s", path,
              at_status_text(st));
}

static void copies_are_never_busy(bool in_ns)
{
    /* mf_test_path's buffers rotate: keep our own copy of the name. */
    char base[512];
    snprintf(base, sizeof base, "%s", mf_test_path("base.map"));
    make_base(base);
    long total = count_crash_points(base);
    long ncopies = at_env("MF_ATTACK_COPIES", 40);
    long busy_copies = 0, busy_calls = 0, corrupt_calls = 0, calls = 0, taken = 0;
    char first[400] = "";
    for (long k = 0; k < ncopies; k++) {
        long at = 1 + k * total / ncopies;
        char copy[32];
        snprintf(copy, sizeof copy, "copy-%ld.map", at);
        const char *path = mf_test_path(copy);
        if (!copy_mid_change(base, path, at, in_ns))
            continue;
        taken++;
        struct static_verdict v;
        read_in_child(path, in_ns, &v);
        calls += v.calls;
        busy_calls += v.busy;
        corrupt_calls += v.corrupt;
        if (v.busy && busy_copies++ == 0)
            snprintf(first, sizeof first, "copy taken at crash point %ld of %ld: %s", at,
                     total, v.first_busy);
    }
    cr_log_info("%ld copies taken mid-change (of %ld crash points), %ld reads: %ld "
                "MF_EBUSY in %ld copies, %ld MF_ECORRUPT", taken, total, calls,
                busy_calls, busy_copies, corrupt_calls);
    cr_assert_gt(taken, 0);
    cr_expect_eq(busy_calls, 0, "%ld of %ld copies with no writer answered MF_EBUSY "
                 "(%ld calls); first: %s", busy_copies, taken, busy_calls, first);
}

Test(attack_static, copies_taken_mid_change_are_never_busy, .timeout = 600)
{
    copies_are_never_busy(false);
}

Test(attack_static, copies_whose_writer_pid_now_names_another_process_are_never_busy,
     .timeout = 600)
{
    copies_are_never_busy(true);
}

Test(attack_static, fixtures_with_no_writer_are_never_busy, .timeout = 300)
{
    const char *dir = MF_TEST_SOURCE_DIR "/tests/fixtures/attack";
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".map") != 0)
            continue;
        /* Read a private copy: a reader never writes, but be sure. */
        char src[512];
        snprintf(src, sizeof src, "%s/%s", dir, e->d_name);
        const char *path = mf_test_path(e->d_name);
        cr_assert_eq(at_copy(src, path), 0);
        struct static_verdict v;
        read_in_child(path, false, &v);
        cr_log_info("%s: %ld reads, %ld MF_EBUSY, %ld MF_ECORRUPT", e->d_name, v.calls,
                    v.busy, v.corrupt);
        cr_expect_eq(v.busy, 0, "%s (no writer): %ld calls answered MF_EBUSY; first: %s",
                     e->d_name, v.busy, v.first_busy);
        files++;
    }
    closedir(d);
    cr_assert_gt(files, 0, "no fixture in %s", dir);
}
