/* attack_copy_common.h - what the two copy tests of issue 12, item 8
 * share (test_attack_copy.c through mf_copy, test_attack_copy_cli.c
 * through the CLI's `copy`): a writer that publishes batches at full rate,
 * and the check that a copy is clean and holds one whole batch. Static
 * functions: each test includes it once. */
#ifndef MF_ATTACK_COPY_COMMON_H
#define MF_ATTACK_COPY_COMMON_H

#include <criterion/criterion.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attackutil.h"
#include "testutil.h"

#define CP_NB 6
static const size_t cp_sizes[CP_NB] = {16, 300, 2000, 5000, 9000, 30000};

static void cp_name(char *buf, size_t cap, int i) { snprintf(buf, cap, "run/obj%d", i); }

/* Publishes batch after batch (every object's bytes are the batch number)
 * with no pause, and now and then a record added and removed, until stop
 * is readable. */
static void cp_busy_writer(const char *path, int stop_fd, int ready_fd)
{
    mf_file *mf;
    if (mf_open(&mf, path, MF_UPDATE, NULL))
        _exit(2);
    static unsigned char bufs[CP_NB][30000];
    mf_blob blobs[CP_NB];
    char name[32];
    for (int i = 0; i < CP_NB; i++) {
        blobs[i] = (mf_blob){cp_sizes[i], bufs[i]};
        cp_name(name, sizeof name, i);
        if (mf_add(mf, name, MF_BLOB_CLASS, &blobs[i]))
            _exit(2);
    }
    for (uint64_t k = 1;; k++) {
        for (int i = 0; i < CP_NB; i++)
            at_fill(bufs[i], cp_sizes[i], k);
        if (mf_update(mf, NULL))
            _exit(3);
        /* A copy gives up (MF_EBUSY) after 100 read views that a writer
         * replaced under it; under ASan the copy is slowed more than this
         * writer, so the writer leaves it 200 us between batches there. */
        if (at_asan())
            at_usleep(200);
        if (k == 1) {
            /* Copies start once there is something to copy. */
            if (write(ready_fd, "r", 1) != 1)
                _exit(2);
            close(ready_fd);
        }
        if (k % 16 == 0) {
            /* A record that comes and goes: a copy taken between the put
             * and the remove holds it (whole), any other copy must not. */
            if (mf_put(mf, "gone", MF_TEXT_CLASS, "soon removed") || mf_remove(mf, "gone"))
                _exit(3);
            struct pollfd p = {stop_fd, POLLIN, 0};
            if (poll(&p, 1, 0) > 0)
                break;
        }
    }
    mf_close(mf);
    _exit(0);
}

/* Start the writer on a new file; returns its pid once it has published
 * its first batch. */
static pid_t cp_start_writer(const char *path, int stop[2])
{
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, NULL), 0, "%s", mf_errdetail());
    mf_close(mf);
    int ready[2];
    cr_assert_eq(pipe(stop), 0);
    cr_assert_eq(pipe(ready), 0);
    pid_t w = at_fork();
    if (w == 0) {
        close(stop[1]);
        close(ready[0]);
        cp_busy_writer(path, stop[0], ready[1]);
    }
    close(stop[0]);
    close(ready[1]);
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1, "the busy writer died before its first batch");
    close(ready[0]);
    return w;
}

/* A copy passes mf_check with no problem, holds exactly the writer's
 * records (and "gone" only if whole: the copy may be of a moment between
 * its put and its remove), and all of them from one batch. Returns the
 * batch, or 0 with why (a copy that is not whole). */
static uint64_t cp_judge(const char *copy, char *why, size_t cap)
{
    mf_file *mf;
    int rc = mf_open(&mf, copy, MF_READ, NULL);
    if (rc) {
        snprintf(why, cap, "open: %s", mf_errdetail());
        return 0;
    }
    unsigned problems = 0;
    rc = mf_check(mf, NULL, NULL, &problems);
    uint64_t batch = 0;
    if (rc || problems) {
        snprintf(why, cap, "mf_check: %s, %u problems", rc ? mf_errdetail() : "ran", problems);
        goto out;
    }
    mf_iter it;
    mf_record_info ri;
    mf_iter_init(&it, mf, NULL);
    int listed = 0;
    while ((rc = mf_iter_next(&it, &ri)) == 1)
        listed += strcmp(ri.name, "gone") != 0;
    void *gone = NULL;
    const mf_class *gone_cls = NULL;
    if (rc == 0 && mf_get(mf, "gone", &gone, &gone_cls) == 0) {
        bool whole = strcmp(gone_cls->name, MF_TEXT_CLASS) == 0 &&
                     strcmp(gone, "soon removed") == 0;
        mf_object_free(gone_cls, gone);
        if (!whole) {
            snprintf(why, cap, "'gone' is in the copy, but not whole");
            goto out;
        }
    }
    if (rc || listed != CP_NB) {
        snprintf(why, cap, "lists %d records (want %d)%s%s", listed, CP_NB,
                 rc ? ": " : "", rc ? mf_errdetail() : "");
        goto out;
    }
    char name[32];
    for (int i = 0; i < CP_NB; i++) {
        cp_name(name, sizeof name, i);
        void *data = NULL;
        uint64_t v = 0;
        rc = mf_get_raw_alloc(mf, name, &data, &ri);
        if (rc || ri.size != cp_sizes[i] || at_value_of(data, ri.size, &v)) {
            snprintf(why, cap, "'%s': %s", name, rc ? mf_errdetail() : "torn bytes");
            free(data);
            batch = 0;
            goto out;
        }
        free(data);
        if (i && v != batch) {
            snprintf(why, cap, "'%s' is from batch %llu, the others from %llu", name,
                     (unsigned long long)v, (unsigned long long)batch);
            batch = 0;
            goto out;
        }
        batch = v;
    }
out:
    mf_close(mf);
    return batch;
}

#endif
