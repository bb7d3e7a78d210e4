/* test_views.c - read views (mf_txn_*): every answer as of one committed
 * batch, and what a view keeps mapped while it is open. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mapfile/builtin.h>
#include <mapfile/mapfile.h>

#include "testutil.h"

static mf_file *open_or_die(const char *path, int mode, const mf_open_options *o)
{
    mf_file *mf = NULL;
    int rc = mf_open(&mf, path, mode, o);
    cr_assert_eq(rc, 0, "open %s: %s (%s)", path, mf_strerror(rc), mf_errdetail());
    return mf;
}

static void put_fill(mf_file *mf, const char *name, size_t size, unsigned char fill)
{
    unsigned char *b = malloc(size);
    cr_assert(b);
    memset(b, fill, size);
    int rc = mf_put_raw(mf, name, MF_BLOB_CLASS, 1, b, size);
    cr_assert_eq(rc, 0, "put %s (%zu B): %s", name, size, mf_errdetail());
    free(b);
}

/* The view's copy of @p name: @p size bytes of @p fill. */
static void assert_view_reads(mf_txn *t, const char *name, size_t size, unsigned char fill)
{
    void *data = NULL;
    mf_record_info info;
    int rc = mf_txn_get_raw_alloc(t, name, &data, &info);
    cr_assert_eq(rc, 0, "view get %s: %s (%s)", name, mf_strerror(rc), mf_errdetail());
    cr_assert_eq(info.size, size);
    for (size_t i = 0; i < size; i++)
        cr_assert_eq(((unsigned char *)data)[i], fill, "%s byte %zu", name, i);
    free(data);
}

/* Lines of /proc/self/maps that map @p path: this process's mappings of it. */
static int mappings_of(const char *path)
{
    char real[4096], line[8192];
    cr_assert(realpath(path, real), "realpath %s", path);
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert(f);
    int n = 0;
    size_t len = strlen(real);
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, real);
        if (p && (p[len] == '\n' || p[len] == '\0'))
            n++;
    }
    fclose(f);
    return n;
}

/* Another process writes (so that only the reader's mappings are in this
 * process's map). */
static void put_from_child(const char *path, const char *name, size_t size,
                           unsigned char fill)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        mf_file *w;
        if (mf_open(&w, path, MF_UPDATE, NULL) != 0)
            _exit(2);
        unsigned char *b = malloc(size);
        if (!b)
            _exit(3);
        memset(b, fill, size);
        int rc = mf_put_raw(w, name, MF_BLOB_CLASS, 1, b, size);
        mf_close(w);
        _exit(rc == 0 ? 0 : 4);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child writer of %s: status %d", name,
              st);
}

Test(views, answer_as_of_their_batch_and_refuse_what_was_replaced_since)
{
    const char *path = mf_test_path("view.map");
    mf_file *w = open_or_die(path, MF_RECREATE, NULL);
    put_fill(w, "a", 100, 1);
    put_fill(w, "b", 100, 1);
    mf_file *r = open_or_die(path, MF_READ, NULL);
    mf_txn *t;
    cr_assert_eq(mf_txn_begin(r, &t), 0, "%s", mf_errdetail());
    uint64_t batch = mf_txn_batch(t);
    cr_assert_gt(batch, 0);

    put_fill(w, "a", 100, 2); /* replaces a after the view began */
    void *data = NULL;
    int rc = mf_txn_get_raw_alloc(t, "a", &data, NULL);
    cr_assert_eq(rc, MF_ESNAPSHOT, "a replaced since the view: %s", mf_strerror(rc));
    cr_assert_null(data);
    assert_view_reads(t, "b", 100, 1); /* b is as it was */
    cr_assert_eq(mf_txn_batch(t), batch);
    mf_txn_end(t);

    cr_assert_eq(mf_txn_begin(r, &t), 0);
    cr_assert_gt(mf_txn_batch(t), batch);
    assert_view_reads(t, "a", 100, 2);
    mf_txn_end(t);
    mf_close(r);
    mf_close(w);
}

/* The promise in mapfile.h: a mapping the handle retires while a view is
 * open (the file grew, twice here) stays mapped until no view or call is
 * in flight, so the view reads on through it; then it is unmapped. */
Test(views, keep_the_mappings_retired_while_open_and_release_them_at_the_end)
{
    const char *path = mf_test_path("grow.map");
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = 64 << 10;
    mf_file *w = open_or_die(path, MF_RECREATE, &o);
    put_fill(w, "a", 4000, 7);
    mf_close(w);

    mf_file *r = open_or_die(path, MF_READ, NULL);
    mf_record_info info;
    unsigned char small[4000];
    cr_assert_eq(mf_get_raw(r, "a", small, sizeof small, &info), 0, "%s", mf_errdetail());
    int before = mappings_of(path);
    cr_assert_gt(before, 0);

    mf_txn *t;
    cr_assert_eq(mf_txn_begin(r, &t), 0, "%s", mf_errdetail());
    const size_t sizes[2] = {1u << 20, 3u << 20};
    const char *names[2] = {"big1", "big2"};
    for (int i = 0; i < 2; i++) {
        put_from_child(path, names[i], sizes[i], (unsigned char)(10 + i));
        void *data = NULL;
        /* The handle meets the grown file and maps it anew. */
        int rc = mf_get_raw_alloc(r, names[i], &data, &info);
        cr_assert_eq(rc, 0, "get %s: %s (%s)", names[i], mf_strerror(rc), mf_errdetail());
        cr_assert_eq(info.size, sizes[i]);
        free(data);
        cr_assert_eq(mappings_of(path), before + 1 + i,
                     "growth %d: the view keeps every retired mapping", i + 1);
    }
    assert_view_reads(t, "a", 4000, 7); /* through the first mapping */
    mf_txn_end(t);
    cr_assert_eq(mappings_of(path), before, "the view ended: what it kept is unmapped");

    cr_assert_eq(mf_get_raw(r, "a", small, sizeof small, &info), 0);
    cr_assert_eq(small[3999], 7);
    mf_close(r);
}

/* A consumer woken by mf_wait sees the batch that woke it whole: the new
 * name with its value and the record count that includes it (the writer
 * wakes consumers right after the commit store, before it folds the
 * index, so the count must be stored before the wake). Lockstep: one
 * batch, one wake, one check. */
Test(views, a_woken_consumer_sees_the_new_record_and_the_new_count, .timeout = 120)
{
    const char *path = mf_test_path("woken.map");
    mf_file *w = open_or_die(path, MF_RECREATE, NULL);
    int ready[2], ack[2];
    cr_assert(pipe(ready) == 0 && pipe(ack) == 0);
    enum { ROUNDS = 300 };
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(ack[0]);
        mf_file *r;
        if (mf_open(&r, path, MF_READ, NULL) != 0)
            _exit(2);
        uint64_t seen = 0;
        if (mf_wait(r, &seen, 0) != 0) /* the first look returns at once */
            _exit(3);
        if (write(ready[1], "r", 1) != 1)
            _exit(4);
        for (uint32_t i = 0; i < ROUNDS; i++) {
            if (mf_wait(r, &seen, 30000) != 0)
                _exit(5);
            char name[16];
            snprintf(name, sizeof name, "n%u", i);
            uint32_t v = UINT32_MAX;
            mf_record_info info;
            mf_file_info fi;
            if (mf_get_raw(r, name, &v, sizeof v, &info) != 0 || v != i)
                _exit(6);
            if (mf_file_stat(r, &fi) != 0 || fi.records != i + 1)
                _exit(7);
            if (write(ack[1], "a", 1) != 1)
                _exit(8);
        }
        mf_close(r);
        _exit(0);
    }
    close(ready[1]);
    close(ack[1]);
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1, "the consumer did not start");
    uint32_t i = 0;
    for (; i < ROUNDS; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%u", i);
        cr_assert_eq(mf_put_raw(w, name, MF_BLOB_CLASS, 1, &i, sizeof i), 0, "%s",
                     mf_errdetail());
        if (read(ack[0], &c, 1) != 1)
            break;
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "the consumer failed after %u batches (exit %d: 6 = record, 7 = count)", i,
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    cr_assert_eq(i, ROUNDS);
    mf_close(w);
}
