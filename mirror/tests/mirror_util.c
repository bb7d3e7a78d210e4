/* mirror_util.c - see mirror_util.h. */
#include "mirror_util.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_fixture.h"
#include "testutil.h"

char mu_log[65536];

static void log_line(void *ud, int level, const char *msg)
{
    (void)ud;
    size_t used = strlen(mu_log);
    snprintf(mu_log + used, sizeof mu_log - used, "%d %s\n", level, msg);
}

mf_mirror_options mu_opts(void)
{
    mf_mirror_options o = MF_MIRROR_OPTIONS_INIT;
    o.connect_timeout_ms = 1000;
    o.io_timeout_ms = 3000;
    o.block_ms = 100;
    o.backoff_max_ms = 200;
    o.log = log_line;
    return o;
}

mf_file *mu_source_at(const char *path)
{
    mf_file *mf;
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.title = "mirror test source";
    int rc = mf_open(&mf, path, MF_RECREATE, &o);
    cr_assert_eq(rc, 0, "mf_open %s: %s", path, mf_errdetail());
    return mf;
}

mf_file *mu_source(const char *name) { return mu_source_at(mf_test_path(name)); }

void mu_put(mf_file *mf, const char *name, const char *text)
{
    int rc = mf_put_raw(mf, name, "blob", 1, text, strlen(text));
    cr_assert_eq(rc, 0, "put %s: %s", name, mf_errdetail());
}

void mu_remove(mf_file *mf, const char *name)
{
    int rc = mf_remove(mf, name);
    cr_assert_eq(rc, 0, "remove %s: %s", name, mf_errdetail());
}

mf_mirror *mu_push(mf_file *src)
{
    mf_mirror_options o = mu_opts();
    mf_mirror *m;
    int rc = mf_mirror_push_create(&m, src, fx_endpoint, &o);
    cr_assert_eq(rc, 0, "push_create: %s", mf_mirror_errdetail());
    return m;
}

mf_mirror *mu_pull_at(const char *path)
{
    mf_mirror_options o = mu_opts();
    mf_mirror *m;
    int rc = mf_mirror_pull_create(&m, fx_endpoint, path, &o);
    cr_assert_eq(rc, 0, "pull_create: %s", mf_mirror_errdetail());
    return m;
}

mf_mirror *mu_pull(const char *name) { return mu_pull_at(mf_test_path(name)); }

void mu_push_ok(mf_mirror *m)
{
    int rc = mf_mirror_push(m);
    cr_assert_eq(rc, 0, "push: %s: %s", mf_mirror_err_name(rc), mf_mirror_errdetail());
}

void mu_pull_ok(mf_mirror *m)
{
    int rc = mf_mirror_pull(m, 0, NULL);
    cr_assert_eq(rc, 0, "pull: %s: %s", mf_mirror_err_name(rc), mf_mirror_errdetail());
}

static mf_file *open_read(const char *path)
{
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_READ, NULL);
    cr_assert_eq(rc, 0, "open %s: %s", path, mf_errdetail());
    return mf;
}

/* Next record of a view, with its bytes: 1, 0 at the end, or an error. */
static int next_rec(mf_txn *t, mf_iter *it, mf_record_info *info, void **data)
{
    int rc = mf_iter_next(it, info);
    if (rc != 1)
        return rc;
    rc = mf_txn_get_raw_alloc(t, info->name, data, info);
    return rc ? rc : 1;
}

/* 1 same, 0 different (why says how), or MF_ESNAPSHOT to try again. */
static int compare_views(mf_txn *ta, mf_txn *tb, char *why, size_t cap)
{
    mf_iter ia, ib;
    mf_txn_iter_init(&ia, ta, NULL);
    mf_txn_iter_init(&ib, tb, NULL);
    for (size_t n = 0;; n++) {
        mf_record_info a, b;
        void *da = NULL, *db = NULL;
        int ra = next_rec(ta, &ia, &a, &da), rb = next_rec(tb, &ib, &b, &db);
        int result = -1; /* go on */
        if (ra == MF_ESNAPSHOT || rb == MF_ESNAPSHOT)
            result = MF_ESNAPSHOT;
        else if (ra != rb || (ra == 1 && (strcmp(a.name, b.name) != 0 ||
                                          strcmp(a.class_name, b.class_name) != 0 ||
                                          a.class_version != b.class_version ||
                                          a.size != b.size ||
                                          memcmp(da, db, (size_t)a.size) != 0)))
            result = 0;
        else if (ra != 1)
            result = 1;
        if (result == 0)
            snprintf(why, cap, "record %zu: '%s' (%d) vs '%s' (%d)", n,
                     ra == 1 ? a.name : "-", ra, rb == 1 ? b.name : "-", rb);
        free(da);
        free(db);
        if (result != -1)
            return result;
    }
}

bool mu_same(const char *pa, const char *pb, char *why, size_t cap)
{
    mf_file *a = open_read(pa), *b = open_read(pb);
    int same = MF_ESNAPSHOT;
    snprintf(why, cap, "writers changed them on every try");
    for (int tries = 0; tries < 100 && same == MF_ESNAPSHOT; tries++) {
        mf_txn *ta, *tb = NULL;
        if (mf_txn_begin(a, &ta) == 0 && mf_txn_begin(b, &tb) == 0)
            same = compare_views(ta, tb, why, cap);
        mf_txn_end(ta);
        mf_txn_end(tb);
    }
    mf_close(a);
    mf_close(b);
    return same == 1;
}

void mu_assert_same(const char *a, const char *b)
{
    char why[512];
    cr_assert(mu_same(a, b, why, sizeof why), "%s and %s differ: %s", a, b, why);
}

unsigned long long mu_fingerprint(const char *path)
{
    mf_file *mf = open_read(path);
    mf_iter it;
    mf_record_info info;
    unsigned long long h = 1469598103934665603ull;
    mf_iter_init(&it, mf, NULL);
    int rc;
    while ((rc = mf_iter_next(&it, &info)) == 1) {
        for (const char *s = info.name; *s; s++)
            h = (h ^ (unsigned char)*s) * 1099511628211ull;
        for (const char *s = info.class_name; *s; s++)
            h = (h ^ (unsigned char)*s) * 1099511628211ull;
        h = (h ^ info.checksum ^ info.class_version) * 1099511628211ull;
    }
    cr_assert_eq(rc, 0, "iterating %s: %s", path, mf_errdetail());
    mf_close(mf);
    return h;
}

static void report(void *ud, const char *problem)
{
    (void)ud;
    cr_log_error("check: %s", problem);
}

void mu_assert_clean(const char *path)
{
    mf_file *mf = open_read(path);
    unsigned problems = 99;
    int rc = mf_check(mf, report, NULL, &problems);
    mf_close(mf);
    cr_assert_eq(rc, 0, "mf_check %s: %s", path, mf_errdetail());
    cr_assert_eq(problems, 0, "%s has %u problems", path, problems);
}

typedef struct rec_sum {
    char name[MF_NAME_MAX + 1];
    char class_name[MF_CLASS_NAME_MAX + 1];
    uint32_t version;
    uint64_t size, checksum;
} rec_sum;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const rec_sum *)a)->name, ((const rec_sum *)b)->name);
}

/* Every record's summary, sorted by name. */
static rec_sum *summaries(const char *path, size_t *n)
{
    mf_file *mf = open_read(path);
    size_t cap = 64;
    rec_sum *v = malloc(cap * sizeof *v);
    mf_iter it;
    mf_record_info info;
    int rc;
    *n = 0;
    mf_iter_init(&it, mf, NULL);
    while ((rc = mf_iter_next(&it, &info)) == 1) {
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        cr_assert(v);
        rec_sum *r = &v[(*n)++];
        snprintf(r->name, sizeof r->name, "%s", info.name);
        snprintf(r->class_name, sizeof r->class_name, "%s", info.class_name);
        r->version = info.class_version;
        r->size = info.size;
        r->checksum = info.checksum;
    }
    cr_assert_eq(rc, 0, "iterating %s: %s", path, mf_errdetail());
    mf_close(mf);
    qsort(v, *n, sizeof *v, by_name);
    return v;
}

void mu_assert_same_records(const char *pa, const char *pb)
{
    size_t na, nb;
    rec_sum *a = summaries(pa, &na), *b = summaries(pb, &nb);
    cr_assert_eq(na, nb, "%s has %zu records, %s %zu", pa, na, pb, nb);
    for (size_t i = 0; i < na; i++)
        cr_assert(strcmp(a[i].name, b[i].name) == 0 &&
                      strcmp(a[i].class_name, b[i].class_name) == 0 &&
                      a[i].version == b[i].version && a[i].size == b[i].size &&
                      a[i].checksum == b[i].checksum,
                  "record '%s' of %s differs from '%s' of %s", a[i].name, pa, b[i].name, pb);
    free(a);
    free(b);
}
