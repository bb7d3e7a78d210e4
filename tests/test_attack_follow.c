/* test_attack_follow.c - consumers that run for weeks while their producer
 * restarts (issue 12, items 5 and 6).
 *
 * - A consumer follows 1,000 producer restarts (MF_RECREATE): after each
 *   it reads the new file's data, and the files it pins stay bounded: at
 *   most 4 mappings of the path (deleted files included, counted in
 *   /proc/self/maps) and at most 3 distinct files mapped or open, so the
 *   file system holds at most 3 files' worth for it; nor more than 4
 *   mappings of deleted files of any kind (files the library keeps beside
 *   a map file count too).
 * - A consumer blocked in mf_wait follows a restart: the first wait after
 *   it returns with the new file's data (never the old file's), and every
 *   later update wakes it. The producer publishes update u only after the
 *   consumer reported u - 1 from a wait that returned the generation of
 *   u - 1 (so it sleeps until the next change: a wait may return once more
 *   for a change whose data it already read), so a lost wake shows as a
 *   consumer that reports nothing: it fails after a 10 s watchdog, never a
 *   timing assertion.
 * - A reader that only calls mf_get (never mf_wait) reads the new file's
 *   data within a bounded time after a restart (watchdog: 10 s).
 * Restarts are made three ways: MF_RECREATE; the file removed and created
 * again (MF_CREATE); a complete new file renamed over the path (mv, a
 * restored backup).
 *
 * MF_ATTACK_RESTARTS sets the number of restarts of the first test
 * (default 1000, 300 under ASan); MF_ATTACK_WAIT_RESTARTS those of the
 * waiting consumer (default 20 for RECREATE, 5 for the others). */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attackutil.h"
#include "testutil.h"

#define WATCHDOG_MS 10000

enum restart_kind { RECREATE, REMOVE_AND_CREATE, RENAME_OVER };
static const char *const kind_names[] = {"MF_RECREATE", "rm + MF_CREATE", "mv of a new file"};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A producer (re)starting: a new file at path, made the given way. */
static mf_file *restart(const char *path, enum restart_kind kind)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = 64 * 1024;
    mf_file *mf = NULL;
    int rc;
    if (kind == RECREATE) {
        rc = mf_open(&mf, path, MF_RECREATE, &o);
    } else if (kind == REMOVE_AND_CREATE) {
        mf_test_unlink(path);
        rc = mf_open(&mf, path, MF_CREATE, &o);
    } else {
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.new", path);
        unlink(tmp);
        rc = mf_open(&mf, tmp, MF_CREATE, &o);
        mf_test_forget_wake_page(path); /* the file it replaces is gone */
        if (rc == 0 && rename(tmp, path) != 0)
            rc = MF_ESYS;
        if (rc == 0) {
            /* A writer keeps working on the file now at path. */
            mf_close(mf);
            rc = mf_open(&mf, path, MF_UPDATE, &o);
        }
    }
    cr_assert_eq(rc, 0, "restart (%s): %s", kind_names[kind], mf_errdetail());
    return mf;
}

static void publish(mf_file *mf, const char *value)
{
    cr_assert_eq(mf_put(mf, "x", MF_TEXT_CLASS, value), 0, "%s", mf_errdetail());
}

/* "x" as the reader sees it: its text, "none" if missing, or the error. */
static void read_x(mf_file *mf, char *buf, size_t cap)
{
    void *obj;
    const mf_class *cls;
    int rc = mf_get(mf, "x", &obj, &cls);
    if (rc == 0) {
        snprintf(buf, cap, "%s", (const char *)obj);
        mf_object_free(cls, obj);
    } else if (rc == MF_ENOTFOUND) {
        snprintf(buf, cap, "none");
    } else {
        snprintf(buf, cap, "error %s: %s", mf_err_name(rc), mf_errdetail());
    }
}

/* ---- item 5: a thousand restarts --------------------------------------------------- */

static void producer_once(const char *path, long k)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = 64 * 1024;
    mf_file *mf;
    if (mf_open(&mf, path, MF_RECREATE, &o))
        _exit(2);
    char v[32];
    snprintf(v, sizeof v, "%ld", k);
    if (mf_put(mf, "x", MF_TEXT_CLASS, v))
        _exit(2);
    mf_close(mf);
    _exit(0);
}

Test(attack_follow, a_consumer_following_a_thousand_restarts_pins_a_bounded_number_of_files,
     .timeout = 900)
{
    char path[512];
    snprintf(path, sizeof path, "%s", mf_test_path("follow.map"));
    long restarts = at_env("MF_ATTACK_RESTARTS", at_asan() ? 300 : 1000);
    pid_t p = at_fork();
    if (p == 0)
        producer_once(path, 0);
    cr_assert_eq(at_wait_for(p, 60), 0);
    int deleted_before = at_count_deleted_mappings();
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_READ, NULL), 0, "%s", mf_errdetail());
    uint64_t seen = 0;
    int max_maps = 0, max_files = 0, max_deleted = 0;
    char got[300];
    for (long k = 1; k <= restarts; k++) {
        p = at_fork();
        if (p == 0)
            producer_once(path, k);
        cr_assert_eq(at_wait_for(p, 60), 0, "producer %ld", k);
        char want[32];
        snprintf(want, sizeof want, "%ld", k);
        int64_t deadline = mono_ms() + WATCHDOG_MS;
        for (;;) {
            read_x(mf, got, sizeof got);
            if (strcmp(got, want) == 0)
                break;
            cr_assert_lt(mono_ms(), deadline, "restart %ld: the consumer still reads "
                         "'%s' 10 s after the new file holds '%s'", k, got, want);
            int rc = mf_wait(mf, &seen, 100);
            cr_assert(rc == 0 || rc == MF_ETIMEDOUT, "restart %ld: mf_wait: %s", k,
                      mf_errdetail());
        }
        at_pins pins = at_count_pins(path);
        if (pins.mappings > max_maps)
            max_maps = pins.mappings;
        if (pins.files > max_files)
            max_files = pins.files;
        cr_assert(pins.mappings <= 4 && pins.files <= 3,
                  "after %ld restarts the consumer holds %d mappings of %s* (deleted "
                  "files included), %d distinct files (%d descriptors): at most 4 "
                  "mappings and 3 files may stay", k, pins.mappings, path, pins.files,
                  pins.fds);
        /* Nor anything else of the old files (helper files beside them). */
        int deleted = at_count_deleted_mappings() - deleted_before;
        if (deleted > max_deleted)
            max_deleted = deleted;
        cr_assert_leq(deleted, 4, "after %ld restarts the consumer maps %d deleted files "
                      "(see /proc/self/maps)", k, deleted);
    }
    mf_close(mf);
    cr_log_info("%ld restarts followed: at most %d mappings and %d files pinned, %d "
                "mappings of deleted files", restarts, max_maps, max_files, max_deleted);
}

/* ---- item 6: a waiting consumer ------------------------------------------------------ */

/* The consumer: after every mf_wait that returns it reads "x" and reports
 * the value and the generation the wait returned, "VALUE GENERATION" on a
 * line; "TIMEOUT" if a wait ran out (10 s: a wake was lost), "PINNED n" if
 * it maps more than 4 deleted files. Runs until killed. */
static void waiting_consumer(const char *path, int out_fd)
{
    mf_file *mf;
    if (mf_open(&mf, path, MF_READ, NULL))
        _exit(2);
    uint64_t seen = 0;
    char line[400], value[320];
    int deleted_before = at_count_deleted_mappings();
    for (;;) {
        int rc = mf_wait(mf, &seen, WATCHDOG_MS);
        /* A consumer that follows restarts must not keep the old files
         * (or anything beside them) mapped. */
        int deleted = at_count_deleted_mappings() - deleted_before;
        if (deleted > 4)
            snprintf(value, sizeof value, "PINNED %d deleted files", deleted);
        else if (rc == MF_ETIMEDOUT)
            snprintf(value, sizeof value, "TIMEOUT");
        else if (rc)
            snprintf(value, sizeof value, "error %s", mf_err_name(rc));
        else
            read_x(mf, value, sizeof value);
        snprintf(line, sizeof line, "%s %llu\n", value, (unsigned long long)seen);
        if (write(out_fd, line, strlen(line)) < 0)
            _exit(2);
        if (rc)
            _exit(3);
    }
}

/* The consumer's next report: the value it read and the generation its
 * wait returned; fails after the watchdog. */
static void next_line(int fd, char *buf, size_t cap, uint64_t *generation,
                      const char *waiting_for)
{
    size_t n = 0;
    int64_t deadline = mono_ms() + WATCHDOG_MS + 2000;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)(deadline - mono_ms());
        cr_assert(left > 0 && poll(&p, 1, left) == 1,
                  "the waiting consumer never woke for %s", waiting_for);
        char c;
        cr_assert_eq(read(fd, &c, 1), 1, "the consumer died while waiting for %s",
                     waiting_for);
        if (c == '\n')
            break;
        if (n + 1 < cap)
            buf[n++] = c;
    }
    buf[n] = '\0';
    char *space = strrchr(buf, ' ');
    cr_assert(space, "a report without a generation: '%s'", buf);
    *space = '\0';
    *generation = strtoull(space + 1, NULL, 10);
    cr_assert_str_neq(buf, "TIMEOUT", "the consumer's mf_wait slept 10 s through %s",
                      waiting_for);
}

static uint64_t generation_of(mf_file *mf)
{
    mf_file_info fi;
    cr_assert_eq(mf_file_stat(mf, &fi), 0, "%s", mf_errdetail());
    return fi.generation;
}

/* Publish value and wait until the consumer reports it from a wait that
 * returned the file's generation after the update: then it has seen
 * everything and sleeps until the next change. Reports before that may
 * only repeat `previous` (a wake for an earlier change) or the value
 * itself (a wake for the change before it that read this update's data:
 * a level-triggered wait may run one change behind the data). */
static void handshake(mf_file *mf, int fd, const char *value, const char *previous)
{
    publish(mf, value);
    uint64_t now = generation_of(mf), g;
    char got[320], what[96];
    snprintf(what, sizeof what, "update '%s'", value);
    for (;;) {
        next_line(fd, got, sizeof got, &g, what);
        if (strcmp(got, value) == 0 && g == now)
            return;
        cr_assert(strcmp(got, previous) == 0 || strcmp(got, value) == 0,
                  "after publishing '%s' the consumer read '%s'", value, got);
    }
}

static void waiting_consumer_follows(enum restart_kind kind)
{
    char path[512];
    snprintf(path, sizeof path, "%s", mf_test_path("wait.map"));
    mf_file *mf = restart(path, RECREATE);
    publish(mf, "0:0");
    int out[2];
    cr_assert_eq(pipe(out), 0);
    pid_t c = at_fork();
    if (c == 0) {
        close(out[0]);
        waiting_consumer(path, out[1]);
    }
    close(out[1]);
    char got[320], value[32], previous[32];
    uint64_t g;
    next_line(out[0], got, sizeof got, &g, "its first wait");
    cr_assert_str_eq(got, "0:0");
    /* A consumer may notice a file replaced without a RECREATE only at its
     * next look at the path (about a second): fewer of those. */
    long restarts = at_env("MF_ATTACK_WAIT_RESTARTS", kind == RECREATE ? 20 : 5);
    long updates = 20;
    snprintf(previous, sizeof previous, "0:0");
    for (long r = 1; r <= restarts; r++) {
        mf_close(mf);
        mf = restart(path, kind);
        /* The first wait after the restart: the new file's data (empty,
         * or the first update), never the old file's. */
        snprintf(value, sizeof value, "%ld:1", r);
        publish(mf, value);
        char what[96];
        snprintf(what, sizeof what, "restart %ld (%s)", r, kind_names[kind]);
        next_line(out[0], got, sizeof got, &g, what);
        cr_assert(strcmp(got, "none") == 0 || strcmp(got, value) == 0,
                  "%s: the first wait after it returned, and mf_get then read '%s' (the "
                  "new file holds '%s')", what, got, value);
        while (strcmp(got, value) != 0) {
            next_line(out[0], got, sizeof got, &g, what);
            cr_assert(strcmp(got, "none") == 0 || strcmp(got, value) == 0,
                      "%s: the consumer read '%s' (the new file holds '%s')", what, got,
                      value);
        }
        /* Every later update wakes it. */
        for (long u = 2; u <= updates; u++) {
            snprintf(previous, sizeof previous, "%ld:%ld", r, u - 1);
            snprintf(value, sizeof value, "%ld:%ld", r, u);
            handshake(mf, out[0], value, previous);
        }
    }
    kill(c, SIGKILL);
    at_wait(c);
    close(out[0]);
    mf_close(mf);
}

Test(attack_follow, a_waiting_consumer_follows_a_recreate_and_wakes_for_every_update,
     .timeout = 600)
{
    waiting_consumer_follows(RECREATE);
}

Test(attack_follow, a_waiting_consumer_follows_a_removed_and_created_file, .timeout = 600)
{
    waiting_consumer_follows(REMOVE_AND_CREATE);
}

Test(attack_follow, a_waiting_consumer_follows_a_file_renamed_over_its_path, .timeout = 600)
{
    waiting_consumer_follows(RENAME_OVER);
}

/* ---- item 6: a reader that never waits ------------------------------------------------ */

static void get_only_reader_follows(enum restart_kind kind)
{
    char path[512];
    snprintf(path, sizeof path, "%s", mf_test_path("get.map"));
    mf_file *mf = restart(path, RECREATE);
    publish(mf, "0");
    mf_file *rd;
    cr_assert_eq(mf_open(&rd, path, MF_READ, NULL), 0, "%s", mf_errdetail());
    char got[320];
    read_x(rd, got, sizeof got);
    cr_assert_str_eq(got, "0");
    for (long r = 1; r <= 5; r++) {
        mf_close(mf);
        mf = restart(path, kind);
        char want[32];
        snprintf(want, sizeof want, "%ld", r);
        publish(mf, want);
        int64_t start = mono_ms();
        long gets = 0;
        for (;;) {
            read_x(rd, got, sizeof got);
            gets++;
            if (strcmp(got, want) == 0)
                break;
            cr_assert_lt(mono_ms() - start, WATCHDOG_MS, "restart %ld (%s): a reader "
                         "that only calls mf_get still reads '%s' after %ld gets over "
                         "10 s; the file at its path holds '%s'", r, kind_names[kind],
                         got, gets, want);
            at_usleep(1000);
        }
    }
    mf_close(rd);
    mf_close(mf);
}

Test(attack_follow, a_get_only_reader_moves_to_a_recreated_file, .timeout = 120)
{
    get_only_reader_follows(RECREATE);
}

Test(attack_follow, a_get_only_reader_moves_to_a_removed_and_created_file, .timeout = 120)
{
    get_only_reader_follows(REMOVE_AND_CREATE);
}

Test(attack_follow, a_get_only_reader_moves_to_a_file_renamed_over_its_path, .timeout = 120)
{
    get_only_reader_follows(RENAME_OVER);
}
