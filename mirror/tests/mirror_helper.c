/*
 * mirror_helper.c - the producer, snapshot checker and comparer the mirror
 * shell tests run as separate processes (inside network namespaces).
 *
 *   mirror-helper produce FILE --batches N [--period-ms P] [--records K]
 *                                          [--restart-every R]
 *       Batch b (1..N) holds "tag" and every "rec/i" (i < K) with
 *       (i + b) % 4 != 0, each with the payload "b"; the others are
 *       removed. Every R batches the producer restarts (MF_RECREATE).
 *   mirror-helper check FILE --until N [--timeout S] [--allow-back]
 *       Waits for FILE, then takes read views of it until one shows batch
 *       N: every view must be exactly one batch (same tag everywhere, the
 *       name set of that batch) and, without --allow-back, never older
 *       than the one before. Prints what it saw; exit 1 on a mixed view.
 *   mirror-helper same A B [--timeout S]
 *       Exit 0 once A and B hold the same records (names, classes,
 *       versions, bytes), waiting up to S seconds (default 0) on B's
 *       changes; else print the first difference and exit 1.
 */
#include <mapfile/mapfile.h>

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXRECS 1000

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

static bool flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool in_batch(long i, long b) { return (i + b) % 4 != 0; }

static int die(const char *what, int rc)
{
    fprintf(stderr, "mirror-helper: %s: %s: %s\n", what, mf_strerror(rc), mf_errdetail());
    return 2;
}

/* ---- produce --------------------------------------------------------------- */

static int one_batch(mf_file *mf, long b, long k)
{
    char name[32], text[32];
    mf_batch *bt;
    int rc = mf_batch_begin(mf, &bt);
    if (rc)
        return rc;
    snprintf(text, sizeof text, "%ld", b);
    mf_batch_put_raw(bt, "tag", "blob", 1, text, strlen(text));
    for (long i = 0; i < k; i++) {
        snprintf(name, sizeof name, "rec/%03ld", i);
        if (in_batch(i, b))
            mf_batch_put_raw(bt, name, "blob", 1, text, strlen(text));
        else
            mf_batch_remove(bt, name);
    }
    return mf_batch_commit(bt);
}

static int produce(const char *path, int argc, char **argv)
{
    long n = atol(opt(argc, argv, "--batches", "100"));
    long period = atol(opt(argc, argv, "--period-ms", "10"));
    long k = atol(opt(argc, argv, "--records", "40"));
    long restart = atol(opt(argc, argv, "--restart-every", "0"));
    if (k < 1 || k > MAXRECS)
        k = 40;
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.title = "mirror-helper source";
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_RECREATE, &o);
    if (rc)
        return die(path, rc);
    for (long b = 1; b <= n; b++) {
        if (restart > 0 && b > 1 && (b - 1) % restart == 0) {
            mf_close(mf);
            if ((rc = mf_open(&mf, path, MF_RECREATE, &o)))
                return die(path, rc);
        }
        if ((rc = one_batch(mf, b, k)))
            return die("batch", rc);
        struct timespec ts = {period / 1000, (period % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    mf_close(mf);
    printf("produced %ld batches of %ld records\n", n, k);
    return 0;
}

/* ---- check ----------------------------------------------------------------- */

/* One view: 1 with *tag, 0 to retry, -1 mixed (why says how). */
static int view_tag(mf_file *mf, long *tag, char *why, size_t cap)
{
    mf_txn *t;
    if (mf_txn_begin(mf, &t))
        return 0;
    mf_iter it;
    mf_record_info info;
    bool seen[MAXRECS] = {false};
    long count = 0, k = -1;
    int rc;
    *tag = -2;
    mf_txn_iter_init(&it, t, NULL);
    while ((rc = mf_iter_next(&it, &info)) == 1) {
        void *data;
        if ((rc = mf_txn_get_raw_alloc(t, info.name, &data, &info)))
            break;
        char buf[32] = {0};
        memcpy(buf, data, info.size < 31 ? info.size : 31);
        free(data);
        long v = atol(buf), i;
        if (*tag == -2)
            *tag = v;
        if (v != *tag) {
            snprintf(why, cap, "'%.64s' holds batch %ld, an earlier record batch %ld",
                     info.name, v, *tag);
            mf_txn_end(t);
            return -1;
        }
        if (sscanf(info.name, "rec/%ld", &i) == 1 && i >= 0 && i < MAXRECS) {
            seen[i] = true;
            if (i > k)
                k = i;
        }
        count++;
    }
    mf_txn_end(t);
    if (rc < 0 || count == 0)
        return 0;
    for (long i = 0; i < MAXRECS; i++)
        if (seen[i] && !in_batch(i, *tag)) {
            snprintf(why, cap, "rec/%03ld is present in a view of batch %ld", i, *tag);
            return -1;
        }
    return 1;
}

static int check(const char *path, int argc, char **argv)
{
    long until = atol(opt(argc, argv, "--until", "1"));
    double timeout = atof(opt(argc, argv, "--timeout", "60"));
    bool back = flag(argc, argv, "--allow-back");
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.wait_ms = (int)(timeout * 1000);
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_READ, &o);
    if (rc)
        return die(path, rc);
    double end = now_s() + timeout;
    long last = 0, views = 0, distinct = 0, backs = 0;
    uint64_t seen = 0;
    while (last != until && now_s() < end) {
        long tag;
        char why[256];
        int v = view_tag(mf, &tag, why, sizeof why);
        if (v < 0) {
            printf("check %s: MIXED snapshot after %ld views: %s\n", path, views, why);
            return 1;
        }
        if (v == 0)
            continue;
        views++;
        if (tag < last) {
            backs++;
            if (!back) {
                printf("check %s: went back from batch %ld to %ld\n", path, last, tag);
                return 1;
            }
        }
        distinct += tag != last;
        last = tag;
        if (last != until)
            mf_wait(mf, &seen, 200);
    }
    mf_close(mf);
    printf("check %s: %ld views, %ld distinct batches, %ld went back, none mixed, "
           "last batch %ld\n", path, views, distinct, backs, last);
    return last == until ? 0 : 1;
}

/* ---- same ------------------------------------------------------------------ */

typedef struct rec {
    char name[MF_NAME_MAX + 1], cls[MF_CLASS_NAME_MAX + 1];
    uint32_t version;
    uint64_t size, checksum;
} rec;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const rec *)a)->name, ((const rec *)b)->name);
}

static rec *records(mf_file *mf, size_t *n)
{
    size_t cap = 64;
    rec *v = malloc(cap * sizeof *v);
    mf_iter it;
    mf_record_info info;
    *n = 0;
    mf_iter_init(&it, mf, NULL);
    while (v && mf_iter_next(&it, &info) == 1) {
        if (*n == cap) {
            rec *w = realloc(v, (cap *= 2) * sizeof *v);
            if (!w)
                break;
            v = w;
        }
        rec *r = &v[(*n)++];
        snprintf(r->name, sizeof r->name, "%s", info.name);
        snprintf(r->cls, sizeof r->cls, "%s", info.class_name);
        r->version = info.class_version;
        r->size = info.size;
        r->checksum = info.checksum;
    }
    if (v)
        qsort(v, *n, sizeof *v, by_name);
    return v;
}

static bool same_once(mf_file *a, mf_file *b, char *why, size_t cap)
{
    size_t na, nb;
    rec *ra = records(a, &na), *rb = records(b, &nb);
    bool same = ra && rb && na == nb;
    snprintf(why, cap, "%zu records vs %zu", na, nb);
    for (size_t i = 0; same && i < na; i++)
        if (strcmp(ra[i].name, rb[i].name) || strcmp(ra[i].cls, rb[i].cls) ||
            ra[i].version != rb[i].version || ra[i].size != rb[i].size ||
            ra[i].checksum != rb[i].checksum) {
            snprintf(why, cap, "'%s' vs '%s' differ", ra[i].name, rb[i].name);
            same = false;
        }
    free(ra);
    free(rb);
    return same;
}

static int same(const char *pa, const char *pb, int argc, char **argv)
{
    double timeout = atof(opt(argc, argv, "--timeout", "0"));
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.wait_ms = (int)(timeout * 1000);
    mf_file *a, *b;
    int rc = mf_open(&a, pa, MF_READ, &o);
    if (rc || (rc = mf_open(&b, pb, MF_READ, &o)))
        return die(rc ? pa : pb, rc);
    double end = now_s() + timeout;
    uint64_t seen = 0;
    char why[600];
    bool ok;
    while (!(ok = same_once(a, b, why, sizeof why)) && now_s() < end)
        mf_wait(b, &seen, 200);
    mf_close(a);
    mf_close(b);
    if (!ok)
        printf("same: %s and %s differ: %s\n", pa, pb, why);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 3 && strcmp(argv[1], "produce") == 0)
        return produce(argv[2], argc - 3, argv + 3);
    if (argc >= 3 && strcmp(argv[1], "check") == 0)
        return check(argv[2], argc - 3, argv + 3);
    if (argc >= 4 && strcmp(argv[1], "same") == 0)
        return same(argv[2], argv[3], argc - 4, argv + 4);
    fprintf(stderr, "usage: mirror-helper produce FILE --batches N [--period-ms P] "
                    "[--records K] [--restart-every R]\n"
                    "       mirror-helper check FILE --until N [--timeout S] [--allow-back]\n"
                    "       mirror-helper same A B [--timeout S]\n");
    return 2;
}
