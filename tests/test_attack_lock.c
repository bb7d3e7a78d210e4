/* test_attack_lock.c - a writer never waits forever on a lock whose owner
 * is gone (issue 12, item 7).
 *
 * A writer is held inside a change (its crash-point hook blocks on a pipe:
 * it holds the writer lock for as long as the test likes), the file is
 * copied with cp, and then the writer is killed, or let go to finish and
 * exit. The copy's lock says "held" by a process that is gone, and no
 * robust list of this kernel will ever release it: like a file restored
 * from a backup or left by a crashed host. A new writer opening the copy
 * (mf_open + mf_put, or the CLI's `put`) must finish: it runs in a child
 * killed by a 20 s watchdog. Afterwards the copy reads back: every record
 * the copy held, the new one, and mf_check finds nothing.
 *
 * The same with the holder's pid number taken by a live, unrelated
 * process: the holder ran in a pid namespace of its own, the new writer
 * runs in another where a sleeping process has that pid (pid reuse; pids
 * differ across namespaces). */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attackutil.h"
#include "testutil.h"

#define WATCHDOG_S 20
#define NKEEP 12

static void make_base(const char *path)
{
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, NULL), 0, "%s", mf_errdetail());
    char name[16], text[32];
    for (int i = 0; i < NKEEP; i++) {
        snprintf(name, sizeof name, "keep/%d", i);
        snprintf(text, sizeof text, "value %d", i);
        cr_assert_eq(mf_put(mf, name, MF_TEXT_CLASS, text), 0, "%s", mf_errdetail());
    }
    mf_close(mf);
}

struct holder_args {
    const char *path;
    long at;
    int report_fd, go_fd;
};

/* Updates the kept records, adds and removes others: the same each time,
 * so crash point n is the same moment of the same change. */
static void workload(mf_file *mf)
{
    char name[16], text[32];
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < NKEEP; i++) {
            snprintf(name, sizeof name, "keep/%d", i);
            snprintf(text, sizeof text, "value %d", i);
            if (mf_put(mf, name, MF_TEXT_CLASS, text))
                _exit(2);
            snprintf(name, sizeof name, "tmp/%d", i);
            if (mf_put(mf, name, MF_TEXT_CLASS, "tmp") || mf_remove(mf, name))
                _exit(2);
        }
}

/* Runs the workload, held at crash point `at` (0: counting them, and
 * reporting the count); if let go, finishes and exits 0. */
static void holder(void *p)
{
    struct holder_args *a = p;
    mf_file *mf;
    if (mf_open(&mf, a->path, MF_UPDATE, NULL))
        _exit(2);
    if (a->at)
        at_hold_at_crash_point(a->at, a->report_fd, a->go_fd);
    else
        at_count_crash_points();
    workload(mf);
    long n = at_crash_points_passed();
    if (write(a->report_fd, "e", 1) != 1 || write(a->report_fd, &n, sizeof n) != sizeof n)
        _exit(2);
    mf_close(mf);
    _exit(0);
}

/* Copy path to copy while a writer holds the lock at crash point `at`;
 * then kill it (die) or let it finish. in_ns: the writer is pid 2 of a new
 * pid namespace. Returns false if the writer never got to that point. */
static bool copy_while_held(const char *path, const char *copy, long at, bool die,
                            bool in_ns)
{
    int rep[2], go[2];
    cr_assert_eq(pipe(rep), 0);
    cr_assert_eq(pipe(go), 0);
    struct holder_args a = {path, at, rep[1], go[0]};
    pid_t pid = in_ns ? at_spawn_in_pid_ns(2, holder, &a) : at_fork();
    if (pid == 0)
        holder(&a);
    close(rep[1]);
    close(go[0]);
    char c = 0;
    bool held = read(rep[0], &c, 1) == 1 && c == 'h';
    if (held)
        cr_assert_eq(at_copy(path, copy), 0);
    cr_assert_eq(write(go[1], die ? "k" : "c", 1), 1);
    close(go[1]);
    close(rep[0]);
    int st = at_wait_for(pid, 60);
    if (st == 77)
        cr_skip_test("no pid namespace can be made here (needs root)");
    cr_assert(st == (die && held ? 100 + SIGKILL : 0), "the lock holder: %s",
              at_status_text(st));
    return held;
}

struct writer_args {
    const char *path;
};

/* The next writer: opens the copy, publishes, closes. */
static void next_writer(void *p)
{
    struct writer_args *a = p;
    mf_file *mf;
    if (mf_open(&mf, a->path, MF_UPDATE, NULL)) {
        fprintf(stderr, "next writer: %s\n", mf_errdetail());
        _exit(2);
    }
    if (mf_put(mf, "after", MF_TEXT_CLASS, "written after the copy")) {
        fprintf(stderr, "next writer: %s\n", mf_errdetail());
        _exit(3);
    }
    mf_close(mf);
    _exit(0);
}

/* Every kept record, the new one, and a clean check. */
static void copy_reads_back(const char *copy)
{
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, copy, MF_READ, NULL), 0, "%s", mf_errdetail());
    char name[16], want[32];
    for (int i = 0; i < NKEEP; i++) {
        snprintf(name, sizeof name, "keep/%d", i);
        snprintf(want, sizeof want, "value %d", i);
        void *obj;
        const mf_class *cls;
        cr_assert_eq(mf_get(mf, name, &obj, &cls), 0, "%s: %s", copy, mf_errdetail());
        cr_assert_str_eq(obj, want);
        mf_object_free(cls, obj);
    }
    void *obj;
    const mf_class *cls;
    cr_assert_eq(mf_get(mf, "after", &obj, &cls), 0, "%s", mf_errdetail());
    cr_assert_str_eq(obj, "written after the copy");
    mf_object_free(cls, obj);
    unsigned problems = 99;
    cr_assert_eq(mf_check(mf, NULL, NULL, &problems), 0, "%s", mf_errdetail());
    cr_assert_eq(problems, 0, "%s: %u problems", copy, problems);
    mf_close(mf);
}

static long count_points(const char *base)
{
    const char *path = mf_test_path("count.map");
    cr_assert_eq(at_copy(base, path), 0);
    int out[2];
    cr_assert_eq(pipe(out), 0);
    struct holder_args a = {path, 0, out[1], -1};
    pid_t pid = at_fork();
    if (pid == 0)
        holder(&a);
    close(out[1]);
    char c;
    long n = 0;
    cr_assert_eq(read(out[0], &c, 1), 1);
    cr_assert_eq(read(out[0], &n, sizeof n), (ssize_t)sizeof n);
    close(out[0]);
    cr_assert_eq(at_wait_for(pid, 60), 0);
    cr_assert_gt(n, 0, "no crash point passed: is mf__crash_point still called?");
    return n;
}

/* The copy of a file whose writer held the lock at one of `ncopies`
 * crash points: the next writer must get through, in `in_ns_writer` a
 * namespace where the holder's pid names a sleeping process. */
static void next_writer_gets_through(bool die, bool in_ns, long ncopies)
{
    char base[512];
    snprintf(base, sizeof base, "%s", mf_test_path("base.map"));
    make_base(base);
    long total = count_points(base);
    for (long k = 0; k < ncopies; k++) {
        long at = 1 + k * total / ncopies;
        char work[512], copy[512];
        snprintf(work, sizeof work, "%s", mf_test_path("work.map"));
        snprintf(copy, sizeof copy, "%s", mf_test_path("copy.map"));
        cr_assert_eq(at_copy(base, work), 0);
        if (!copy_while_held(work, copy, at, die, in_ns))
            continue;
        struct writer_args a = {copy};
        pid_t pid = in_ns ? at_spawn_in_pid_ns(3, next_writer, &a) : at_fork();
        if (pid == 0)
            next_writer(&a);
        int st = at_wait_for(pid, WATCHDOG_S);
        cr_assert_eq(st, 0, "a writer opening a copy taken while the lock was held (crash "
                     "point %ld of %ld, holder %s%s): %s", at, total,
                     die ? "killed" : "finished and exited",
                     in_ns ? ", its pid now another process's" : "", at_status_text(st));
        copy_reads_back(copy);
    }
}

Test(attack_lock, a_writer_gets_through_a_copy_whose_lock_holder_was_killed, .timeout = 600)
{
    next_writer_gets_through(true, false, 8);
}

Test(attack_lock, a_writer_gets_through_a_copy_whose_lock_holder_exited, .timeout = 600)
{
    next_writer_gets_through(false, false, 8);
}

Test(attack_lock, a_writer_gets_through_a_copy_whose_holder_pid_names_another_process,
     .timeout = 600)
{
    next_writer_gets_through(true, true, 8);
}

Test(attack_lock, cli_put_gets_through_a_copy_taken_while_the_lock_was_held, .timeout = 300)
{
    const char *cli = at_cli();
    cr_assert_not_null(cli);
    char base[512], copy[512];
    snprintf(base, sizeof base, "%s", mf_test_path("base.map"));
    snprintf(copy, sizeof copy, "%s", mf_test_path("copy.map"));
    make_base(base);
    cr_assert(copy_while_held(base, copy, 5, true, false));
    static char out[4096];
    const char *put[] = {cli, "put", copy, "after", "--text", "written after the copy", NULL};
    int st = at_run(put, WATCHDOG_S, out, sizeof out);
    cr_assert_eq(st, 0, "`put` on a copy taken while the lock was held: %s\n%s",
                 at_status_text(st), out);
    copy_reads_back(copy);
}
