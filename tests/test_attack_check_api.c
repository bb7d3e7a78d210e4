/* test_attack_check_api.c - what the API says about a writer that died
 * inside a change (issue 12, item 4). Needs the new API:
 * mf_file_info.writer_pid and .repair_pending, and MF_OPEN_NO_CREATE.
 *
 * - A writer killed at a crash point (inside a change, holding the lock):
 *   a reader's mf_file_stat says writer_state MF_WRITER_DEAD, writer_pid
 *   the dead process, repair_pending set. A writer opening with
 *   MF_OPEN_NO_CREATE repairs it: then the writer is free, writer_pid 0,
 *   nothing pending, and mf_check finds no problem.
 * - A live writer held inside a change is MF_WRITER_HELD with its pid.
 * - MF_UPDATE | MF_OPEN_NO_CREATE on a missing path fails with MF_ENOENT
 *   and creates nothing. */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attackutil.h"
#include "testutil.h"

static uint64_t rng(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 17;
}

static void make_file(const char *path)
{
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, NULL), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_put(mf, "a", MF_TEXT_CLASS, "first"), 0);
    mf_close(mf);
}

/* Puts of a few names and removes, forever (or until stopped or killed). */
static void busy_writer(const char *path, uint64_t seed)
{
    mf_file *mf;
    if (mf_open(&mf, path, MF_UPDATE, NULL))
        _exit(2);
    static unsigned char buf[6000];
    char name[16];
    for (uint64_t k = 1;; k++) {
        snprintf(name, sizeof name, "r/%d", (int)(rng(&seed) % 20));
        at_fill(buf, sizeof buf, k);
        int rc = rng(&seed) % 4 ? mf_put_raw(mf, name, MF_BLOB_CLASS, 1, buf,
                                             k % 2 ? 64 : sizeof buf)
                                : mf_remove(mf, name);
        if (rc && rc != MF_ENOTFOUND)
            _exit(2);
    }
}

static mf_file_info stat_file(const char *path)
{
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_READ, NULL), 0, "%s", mf_errdetail());
    mf_file_info fi;
    cr_assert_eq(mf_file_stat(mf, &fi), 0, "%s", mf_errdetail());
    mf_close(mf);
    return fi;
}

Test(attack_check_api, file_info_names_a_dead_writer_and_its_pending_repair, .timeout = 300)
{
    char path[512];
    snprintf(path, sizeof path, "%s", mf_test_path("dead.map"));
    make_file(path);
    uint64_t s = 99;
    for (int it = 0; it < 20; it++) {
        int rep[2], go[2];
        cr_assert_eq(pipe(rep), 0);
        cr_assert_eq(pipe(go), 0);
        long at = 1 + (long)(rng(&s) % 150);
        pid_t w = at_fork();
        if (w == 0) {
            close(rep[0]);
            close(go[1]);
            at_hold_at_crash_point(at, rep[1], go[0]);
            busy_writer(path, rng(&s));
        }
        close(rep[1]);
        close(go[0]);
        char c;
        cr_assert_eq(read(rep[0], &c, 1), 1, "the writer never reached crash point %ld", at);
        /* Alive and inside a change. */
        mf_file_info fi = stat_file(path);
        cr_expect_eq(fi.writer_state, MF_WRITER_HELD, "kill %d: live writer: state %d", it,
                     fi.writer_state);
        cr_expect_eq(fi.writer_pid, (uint32_t)w, "kill %d: live writer %d, writer_pid %u",
                     it, (int)w, fi.writer_pid);
        cr_assert_eq(write(go[1], "k", 1), 1);
        close(go[1]);
        close(rep[0]);
        cr_assert_eq(at_wait_for(w, 60), 100 + SIGKILL);
        /* Dead inside a change. */
        fi = stat_file(path);
        cr_expect_eq(fi.writer_state, MF_WRITER_DEAD, "kill %d: dead writer: state %d", it,
                     fi.writer_state);
        cr_expect_eq(fi.writer_pid, (uint32_t)w, "kill %d: dead writer %d, writer_pid %u",
                     it, (int)w, fi.writer_pid);
        cr_expect_neq(fi.repair_pending, 0, "kill %d: no repair pending after a writer "
                      "died at crash point %ld", it, at);
        /* The repair, by a writer that would never create the file. */
        mf_open_options o = MF_OPEN_OPTIONS_INIT;
        o.flags = MF_OPEN_NO_CREATE;
        mf_file *mf;
        cr_assert_eq(mf_open(&mf, path, MF_UPDATE, &o), 0, "kill %d: %s", it, mf_errdetail());
        mf_close(mf);
        fi = stat_file(path);
        cr_expect_eq(fi.writer_state, MF_WRITER_FREE, "kill %d: after the repair: state %d",
                     it, fi.writer_state);
        cr_expect_eq(fi.writer_pid, 0u, "kill %d: after the repair: writer_pid %u", it,
                     fi.writer_pid);
        cr_expect_eq(fi.repair_pending, 0, "kill %d: still pending after the repair", it);
        cr_assert_eq(mf_open(&mf, path, MF_READ, NULL), 0);
        unsigned problems = 99;
        cr_assert_eq(mf_check(mf, NULL, NULL, &problems), 0, "%s", mf_errdetail());
        cr_expect_eq(problems, 0, "kill %d: %u problems after the repair", it, problems);
        mf_close(mf);
    }
}

Test(attack_check_api, a_quiet_file_has_no_writer_and_nothing_pending)
{
    const char *path = mf_test_path("quiet.map");
    make_file(path);
    mf_file_info fi = stat_file(path);
    cr_assert_eq(fi.writer_state, MF_WRITER_FREE);
    cr_assert_eq(fi.writer_pid, 0u);
    cr_assert_eq(fi.repair_pending, 0);
}

Test(attack_check_api, update_with_no_create_never_creates_a_file)
{
    const char *path = mf_test_path("absent.map");
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.flags = MF_OPEN_NO_CREATE;
    mf_file *mf = (mf_file *)1;
    cr_assert_eq(mf_open(&mf, path, MF_UPDATE, &o), MF_ENOENT);
    cr_assert_null(mf);
    cr_assert(strstr(mf_errdetail(), "absent.map"), "%s", mf_errdetail());
    cr_assert_neq(access(path, F_OK), 0, "MF_OPEN_NO_CREATE created %s", path);
    make_file(path);
    cr_assert_eq(mf_open(&mf, path, MF_UPDATE, &o), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_put(mf, "b", MF_TEXT_CLASS, "second"), 0);
    mf_close(mf);
}

/* A reclaim that ends one record's read window in the middle of a check:
 * the check reads that record again and walks on to the last one, and
 * finds nothing. (A retry and "past the end" were once the same answer:
 * the walk's last step was retried 1,000 times and the cross-checks could
 * run on what a failed index read had left, a crash in about 1 of 30 runs
 * of test_attack_live's checker beside writers; that test is the one that
 * meets the race.) */
#define WINDOW_RECORDS 120
#define WINDOW_ENTRY 40
static mf_file *window_writer;
static bool window_armed, window_watch;
static uint64_t window_max_after;

static void churn_inside_window(uint64_t entry)
{
    if (window_watch) {
        if (entry == 0)
            window_watch = false; /* the check began again */
        else if (entry > window_max_after)
            window_max_after = entry;
    }
    if (!window_armed || entry != WINDOW_ENTRY)
        return;
    window_armed = false;
    window_watch = true;
    window_max_after = entry;
    /* 700 retirements: at least two reclaims (one is due every 256), so the
     * window this entry's read began is over. */
    char name[16];
    for (int k = 0; k < 700; k++) {
        snprintf(name, sizeof name, "w/%d", k % WINDOW_RECORDS);
        cr_assert_eq(mf_put_raw(window_writer, name, MF_BLOB_CLASS, 1, name,
                                strlen(name)), 0, "%s", mf_errdetail());
    }
}

Test(attack_check_api, a_check_walks_every_record_when_a_reclaim_ends_a_window)
{
    const char *path = mf_test_path("window.map");
    cr_assert_eq(mf_open(&window_writer, path, MF_RECREATE, NULL), 0, "%s",
                 mf_errdetail());
    char name[16];
    for (int k = 0; k < WINDOW_RECORDS; k++) {
        snprintf(name, sizeof name, "w/%d", k);
        cr_assert_eq(mf_put_raw(window_writer, name, MF_BLOB_CLASS, 1, name,
                                strlen(name)), 0);
    }
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_READ, NULL), 0, "%s", mf_errdetail());
    window_armed = true;
    mf__check_entry_hook = churn_inside_window;
    mf_check_result res = {.struct_size = sizeof res};
    int rc = mf_check_file(mf, NULL, NULL, &res);
    mf__check_entry_hook = NULL;
    cr_assert_eq(rc, 0, "%s", mf_errdetail());
    cr_assert(!window_armed, "the hook never ran at entry %d", WINDOW_ENTRY);
    cr_assert_eq(window_max_after, WINDOW_RECORDS - 1,
                 "after the reclaim at entry %d the walk stopped at entry %llu of %d",
                 WINDOW_ENTRY, (unsigned long long)window_max_after, WINDOW_RECORDS);
    cr_assert_eq(res.problems, 0);
    cr_assert(res.heap_checked);
    mf_close(mf);
    mf_close(window_writer);
}
