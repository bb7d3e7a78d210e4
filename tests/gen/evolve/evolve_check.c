/*
 * evolve_check.c - producer and consumer of class "evo" at one version of
 * its struct (tests/gen_evolve.sh): built once per version, -DEVO_V=N
 * beside that version's header (evo.h), with the plugin `mapf gen` wrote
 * for that version on MAPFILE_PLUGIN_PATH.
 *
 *   evolve_check put FILE              publish "full" and "sparse"
 *   evolve_check get FILE P            read them, written by version P, and
 *                                      check every field: kept ones equal,
 *                                      widened ones converted, added ones zero
 *   evolve_check refuse FILE P         data of version P > ours: mf_get gives
 *                                      MF_ECLASSVERSION naming the class
 *   evolve_check cut FILE P            hostile older payloads: every cut and
 *                                      2000 mutations of FILE's records
 *                                      (version P) through our stream_in:
 *                                      refused or decoded, never a crash
 *   evolve_check live-put FILE N       update "live" N times (serial 1..N),
 *                                      then publish "end"
 *   evolve_check live-get FILE P N FIFO  write "ready" to FIFO, then read
 *                                      "live" on every change until "end":
 *                                      each copy checked (P <= ours) or
 *                                      refused (P > ours); the last is N
 *
 * Exit status: 0 all good; 1 a difference or a failed check (printed).
 */
#include <mapfile/codec.h>
#include <mapfile/mapfile.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evo.h"

#ifndef EVO_V
#error "build with -DEVO_V=<version of evo.h>"
#endif

static int failures;

#define CHECK(cond, ...)                                      \
    do {                                                      \
        if (!(cond)) {                                        \
            fprintf(stderr, "evolve_check v%d: ", EVO_V);     \
            fprintf(stderr, __VA_ARGS__);                     \
            fputc('\n', stderr);                              \
            failures++;                                       \
        }                                                     \
    } while (0)

/* Which version has which field (tests/gen/evolve/v*.h). */
#define HAS_NOTE(v) ((v) <= 2)
#define HAS_VALS(v) ((v) <= 3)
#define HAS_LEGACY(v) ((v) == 1)
#define HAS_EXTRA(v) ((v) <= 3)
#define HAS_LABEL(v) ((v) >= 2)
#define HAS_WEIGHTS(v) ((v) >= 2)
#define HAS_CORNERS(v) ((v) >= 3)
#define HAS_TAGS(v) ((v) >= 3)
#define POS_HAS_Y(v) ((v) <= 3)
#define POS_HAS_Z(v) ((v) >= 2)
#define POS_HAS_TAG(v) ((v) == 2 || (v) == 3)
#define POS_HAS_STAMP(v) ((v) == 4)

/* Every value, in the widest type any version has. */
struct pos_vals {
    long long x, y, z;
    const char *tag;
    unsigned long long stamp;
};
static const struct pos_vals where_v = {-3, 7, 5, "w", 99};
__attribute__((unused)) static const struct pos_vals corner_v[2] = {{1, 2, 3, "c0", 4}, {-5, 6, -7, NULL, 8}};
__attribute__((unused)) static const struct pos_vals extra_v = {11, 12, 13, "x", 0};
static const long long level_v = -100;
static const double ratio_v = 1.5;
static const long long count16_v = 60000;
__attribute__((unused)) static const long long vals_v[3] = {-1000, 2000, -3000};
__attribute__((unused)) static const double weights_v[2] = {0.25, 0.5};

/* --- filling (the producer) ------------------------------------------------------- */

static void fill_pos(struct pos *p, const struct pos_vals *v)
{
    memset(p, 0, sizeof *p);
    p->x = v->x;
#if POS_HAS_Y(EVO_V)
    p->y = v->y;
#endif
#if POS_HAS_Z(EVO_V)
    p->z = v->z;
#endif
#if POS_HAS_TAG(EVO_V)
    p->tag = (char *)v->tag;
#endif
#if POS_HAS_STAMP(EVO_V)
    p->stamp = v->stamp;
#endif
}

/* "full" has everything; "sparse" (empty) has NULL strings, empty arrays,
 * no optional struct. Pointers point at static data: nothing to free. */
static void fill(struct evo *e, int empty, uint32_t serial)
{
    memset(e, 0, sizeof *e);
    e->serial = serial;
    e->level = level_v;
    e->ratio = ratio_v;
    e->count16 = count16_v;
    fill_pos(&e->where, &where_v);
#if HAS_NOTE(EVO_V)
    e->note = empty ? NULL : "note";
#endif
#if HAS_VALS(EVO_V)
    static __typeof__(*e->vals) vals[3];
    for (int i = 0; i < 3; i++)
        vals[i] = vals_v[i];
    e->vals = empty ? NULL : vals;
    e->nvals = empty ? 0 : 3;
#endif
#if HAS_LEGACY(EVO_V)
    for (int i = 0; i < 3; i++)
        e->legacy[i] = (uint8_t)(i + 1);
#endif
#if HAS_EXTRA(EVO_V)
    static struct pos extra;
    fill_pos(&extra, &extra_v);
    e->extra = empty ? NULL : &extra;
#endif
#if HAS_LABEL(EVO_V)
    e->label = empty ? "" : "label";
#endif
#if HAS_WEIGHTS(EVO_V)
    for (int i = 0; i < 2; i++)
        e->weights[i] = weights_v[i];
#endif
#if HAS_CORNERS(EVO_V)
    for (int i = 0; i < 2; i++)
        fill_pos(&e->corners[i], &corner_v[i]);
#endif
#if HAS_TAGS(EVO_V)
    static uint8_t tags[4] = {9, 8, 7, 6};
    e->tags = empty ? NULL : tags;
    e->ntags = empty ? 0 : 4;
#endif
}

/* --- checking (the consumer) ----------------------------------------------------------- */

#define BOTH(has, p) (has(EVO_V) && has(p))

static void check_str(const char *what, const char *got, const char *want)
{
    int same = (!got && !want) || (got && want && strcmp(got, want) == 0);
    CHECK(same, "%s is %s%s%s, want %s%s%s", what, got ? "\"" : "", got ? got : "NULL",
          got ? "\"" : "", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
}

static void check_pos(const char *what, const struct pos *got, const struct pos_vals *v, int p)
{
    CHECK(got->x == v->x, "%s.x is %lld, want %lld", what, (long long)got->x, v->x);
#if POS_HAS_Y(EVO_V)
    long long y = POS_HAS_Y(p) ? v->y : 0;
    CHECK(got->y == y, "%s.y is %lld, want %lld", what, (long long)got->y, y);
#endif
#if POS_HAS_Z(EVO_V)
    long long z = POS_HAS_Z(p) ? v->z : 0;
    CHECK(got->z == z, "%s.z is %lld, want %lld (added in v2)", what, (long long)got->z, z);
#endif
#if POS_HAS_TAG(EVO_V)
    char name[64];
    snprintf(name, sizeof name, "%s.tag", what);
    check_str(name, got->tag, POS_HAS_TAG(p) ? v->tag : NULL);
#endif
#if POS_HAS_STAMP(EVO_V)
    unsigned long long st = POS_HAS_STAMP(p) ? v->stamp : 0;
    CHECK(got->stamp == st, "%s.stamp is %llu, want %llu", what,
          (unsigned long long)got->stamp, st);
#endif
    (void)p;
}

/* @p got was written by version @p p from fill(empty, serial). */
static void check(const struct evo *got, int p, int empty, uint32_t serial)
{
    CHECK(got->serial == serial, "serial is %u, want %u", (unsigned)got->serial, serial);
    CHECK(got->level == level_v, "level is %lld, want %lld", (long long)got->level, level_v);
    CHECK(got->ratio == ratio_v, "ratio is %g, want %g", (double)got->ratio, ratio_v);
    CHECK(got->count16 == count16_v, "count16 is %g, want %lld", (double)got->count16,
          count16_v);
    check_pos("where", &got->where, &where_v, p);
#if HAS_NOTE(EVO_V)
    check_str("note", got->note, BOTH(HAS_NOTE, p) && !empty ? "note" : NULL);
#endif
#if HAS_VALS(EVO_V)
    unsigned nvals = BOTH(HAS_VALS, p) && !empty ? 3 : 0;
    CHECK(got->nvals == nvals, "nvals is %u, want %u", (unsigned)got->nvals, nvals);
    CHECK((got->vals != NULL) == (nvals != 0), "vals is %s", got->vals ? "set" : "NULL");
    for (unsigned i = 0; got->vals && i < nvals && i < got->nvals; i++)
        CHECK(got->vals[i] == vals_v[i], "vals[%u] is %lld, want %lld", i,
              (long long)got->vals[i], vals_v[i]);
#endif
#if HAS_LEGACY(EVO_V)
    for (int i = 0; i < 3; i++)
        CHECK(got->legacy[i] == (HAS_LEGACY(p) ? i + 1 : 0), "legacy[%d] is %d", i,
              got->legacy[i]);
#endif
#if HAS_EXTRA(EVO_V)
    int has_extra = BOTH(HAS_EXTRA, p) && !empty;
    CHECK((got->extra != NULL) == has_extra, "extra is %s", got->extra ? "set" : "NULL");
    if (got->extra && has_extra)
        check_pos("extra", got->extra, &extra_v, p);
#endif
#if HAS_LABEL(EVO_V)
    check_str("label", got->label, BOTH(HAS_LABEL, p) ? (empty ? "" : "label") : NULL);
#endif
#if HAS_WEIGHTS(EVO_V)
    for (int i = 0; i < 2; i++) {
        double w = BOTH(HAS_WEIGHTS, p) ? weights_v[i] : 0;
        CHECK(got->weights[i] == w, "weights[%d] is %g, want %g", i, got->weights[i], w);
    }
#endif
#if HAS_CORNERS(EVO_V)
    static const struct pos_vals zero;
    check_pos("corners[0]", &got->corners[0], BOTH(HAS_CORNERS, p) ? &corner_v[0] : &zero, p);
    check_pos("corners[1]", &got->corners[1], BOTH(HAS_CORNERS, p) ? &corner_v[1] : &zero, p);
#endif
#if HAS_TAGS(EVO_V)
    unsigned ntags = BOTH(HAS_TAGS, p) && !empty ? 4 : 0;
    CHECK(got->ntags == ntags, "ntags is %u, want %u", (unsigned)got->ntags, ntags);
    CHECK((got->tags != NULL) == (ntags != 0), "tags is %s", got->tags ? "set" : "NULL");
    for (unsigned i = 0; got->tags && i < ntags && i < got->ntags; i++)
        CHECK(got->tags[i] == 9 - i, "tags[%u] is %u", i, got->tags[i]);
#endif
    (void)empty;
}

/* --- commands ----------------------------------------------------------------------- */

static mf_file *open_map(const char *path, int mode)
{
    mf_file *mf = NULL;
    int rc = mf_open(&mf, path, mode, NULL);
    if (rc) {
        fprintf(stderr, "evolve_check v%d: open %s: %s: %s\n", EVO_V, path, mf_strerror(rc),
                mf_errdetail());
        exit(1);
    }
    return mf;
}

static int put(const char *path)
{
    mf_file *mf = open_map(path, MF_CREATE);
    struct evo e;
    fill(&e, 0, 7);
    int rc = mf_put(mf, "full", "evo", &e);
    CHECK(rc == 0, "put full: %s: %s", mf_strerror(rc), mf_errdetail());
    fill(&e, 1, 8);
    rc = mf_put(mf, "sparse", "evo", &e);
    CHECK(rc == 0, "put sparse: %s: %s", mf_strerror(rc), mf_errdetail());
    mf_close(mf);
    return failures != 0;
}

static int get(const char *path, int p)
{
    mf_file *mf = open_map(path, MF_READ);
    const char *const names[] = {"full", "sparse"};
    for (int i = 0; i < 2; i++) {
        mf_record_info info;
        int rc = mf_stat(mf, names[i], &info);
        CHECK(rc == 0 && info.class_version == (uint32_t)p,
              "%s: stored version %u, want %d (%s)", names[i], info.class_version, p,
              mf_strerror(rc));
        void *obj = NULL;
        const mf_class *cls = NULL;
        rc = mf_get(mf, names[i], &obj, &cls);
        CHECK(rc == 0, "get %s (written by v%d): %s: %s", names[i], p, mf_strerror(rc),
              mf_errdetail());
        if (rc)
            continue;
        CHECK(cls->version == EVO_V, "the codec loaded is version %u", cls->version);
        check(obj, p, i == 1, i == 1 ? 8 : 7);
        mf_object_free(cls, obj);
    }
    mf_close(mf);
    return failures != 0;
}

/* Newer data than this codec: refused with the named error, the detail
 * naming the class and both versions. */
static void expect_refused(mf_file *mf, const char *name, int p)
{
    void *obj = NULL;
    const mf_class *cls = NULL;
    int rc = mf_get(mf, name, &obj, &cls);
    CHECK(rc == MF_ECLASSVERSION, "get %s (written by v%d) gave %s, want MF_ECLASSVERSION",
          name, p, mf_err_name(rc));
    char want[64];
    snprintf(want, sizeof want, "version %d", p);
    CHECK(strstr(mf_errdetail(), "class 'evo'") && strstr(mf_errdetail(), want),
          "the detail does not name class 'evo' and %s: %s", want, mf_errdetail());
    if (rc == 0)
        mf_object_free(cls, obj);
}

static int refuse(const char *path, int p)
{
    mf_file *mf = open_map(path, MF_READ);
    expect_refused(mf, "full", p);
    expect_refused(mf, "sparse", p);
    if (!failures)
        printf("v%d refuses v%d data: %s\n", EVO_V, p, mf_errdetail());
    mf_close(mf);
    return failures != 0;
}

static int live_put(const char *path, int n)
{
    mf_file *mf = open_map(path, MF_UPDATE);
    struct evo e;
    for (int i = 1; i <= n && !failures; i++) {
        fill(&e, i % 3 == 0, (uint32_t)i);
        int rc = mf_put(mf, "live", "evo", &e);
        CHECK(rc == 0, "put live %d: %s: %s", i, mf_strerror(rc), mf_errdetail());
    }
    fill(&e, 0, 0);
    int rc = mf_put(mf, "end", "evo", &e);
    CHECK(rc == 0, "put end: %s", mf_strerror(rc));
    mf_close(mf);
    return failures != 0;
}

/* One read of "live": returns its serial (0 when absent or refused). */
static uint32_t live_read(mf_file *mf, int p, int *reads)
{
    void *obj = NULL;
    const mf_class *cls = NULL;
    int rc = mf_get(mf, "live", &obj, &cls);
    if (rc == MF_ENOTFOUND)
        return 0;
    ++*reads;
    if (p > EVO_V) {
        CHECK(rc == MF_ECLASSVERSION, "live (v%d) gave %s, want MF_ECLASSVERSION", p,
              mf_err_name(rc));
        if (rc == 0)
            mf_object_free(cls, obj);
        return 0;
    }
    CHECK(rc == 0, "get live: %s: %s", mf_strerror(rc), mf_errdetail());
    if (rc)
        return 0;
    const struct evo *e = obj;
    uint32_t serial = e->serial;
    check(e, p, serial % 3 == 0, serial);
    mf_object_free(cls, obj);
    return serial;
}

static int live_get(const char *path, int p, int n, const char *fifo)
{
    mf_file *mf = open_map(path, MF_READ);
    uint64_t seen = 0;
    mf_wait(mf, &seen, 0);
    FILE *ready = fopen(fifo, "w");
    if (!ready || fputs("ready\n", ready) < 0 || fclose(ready) != 0) {
        fprintf(stderr, "evolve_check: cannot signal %s\n", fifo);
        return 1;
    }
    int reads = 0, done = 0;
    uint32_t last = 0;
    while (!done && !failures) {
        mf_record_info info;
        done = mf_stat(mf, "end", &info) == 0;
        uint32_t s = live_read(mf, p, &reads);
        CHECK(s == 0 || s >= last, "serial went back from %u to %u", last, s);
        last = s > last ? s : last;
        if (!done) {
            int rc = mf_wait(mf, &seen, 30000);
            CHECK(rc == 0, "no change for 30 s: %s", mf_strerror(rc));
        }
    }
    if (p <= EVO_V)
        CHECK(last == (uint32_t)n, "the last serial read is %u, want %d", last, n);
    CHECK(reads > 0, "never read live");
    printf("v%d consumer of a live v%d producer: %d reads, %s\n", EVO_V, p, reads,
           p <= EVO_V ? "all converted and checked" : "all refused (MF_ECLASSVERSION)");
    mf_close(mf);
    return failures != 0;
}

/* --- hostile payloads of an older version ------------------------------------------- */

/* Decode a malloc'd copy of exactly @p n bytes, so ASan sees any overread. */
static void *decode(const mf_class *cls, const unsigned char *p, size_t n, uint32_t v, int *err)
{
    unsigned char *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    memcpy(copy, p, n);
    mf_reader r = mf_reader_make(copy, n);
    void *obj = cls->stream_in(&r, v);
    *err = r.err;
    free(copy);
    return obj;
}

static void cut_one(const mf_class *cls, const char *name, const unsigned char *buf, size_t len,
                    int p)
{
    int err;
    void *obj = decode(cls, buf, len, (uint32_t)p, &err);
    CHECK(obj && !err, "%s: the whole v%d payload does not decode (error %d)", name, p, err);
    if (obj) {
        check(obj, p, strcmp(name, "sparse") == 0, strcmp(name, "sparse") == 0 ? 8 : 7);
        cls->destroy(obj);
    }
    for (size_t n = 0; n < len; n++) {
        obj = decode(cls, buf, n, (uint32_t)p, &err);
        CHECK(!obj && err, "%s: a v%d payload cut to %zu of %zu bytes decoded", name, p, n, len);
        if (obj)
            cls->destroy(obj);
    }
    size_t decoded = 0;
    unsigned char *m = malloc(len ? len : 1);
    if (!m)
        abort();
    for (int k = 0; k < 2000 && len; k++) {
        memcpy(m, buf, len);
        m[(size_t)rand() % len] ^= (unsigned char)(1 + rand() % 255);
        obj = decode(cls, m, len, (uint32_t)p, &err);
        CHECK(!obj == !!err, "%s: a result and an error disagree", name);
        decoded += obj != NULL;
        if (obj)
            cls->destroy(obj);
    }
    free(m);
    printf("v%d reading v%d %s: %zu-byte payload, every cut refused, %zu of 2000 mutants "
           "decoded\n", EVO_V, p, name, len, decoded);
}

static int cut(const char *path, int p)
{
    const mf_class *cls;
    int rc = mf_registry_find(mf_registry_default(), "evo", &cls);
    if (rc) {
        fprintf(stderr, "evolve_check: %s: %s\n", mf_strerror(rc), mf_errdetail());
        return 1;
    }
    mf_file *mf = open_map(path, MF_READ);
    srand(4242);
    const char *const names[] = {"full", "sparse"};
    for (int i = 0; i < 2; i++) {
        void *data = NULL;
        mf_record_info info;
        rc = mf_get_raw_alloc(mf, names[i], &data, &info);
        CHECK(rc == 0 && info.class_version == (uint32_t)p, "raw %s: %s", names[i],
              mf_strerror(rc));
        if (rc == 0)
            cut_one(cls, names[i], data, (size_t)info.size, p);
        free(data);
    }
    mf_close(mf);
    return failures != 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 2 ? argv[1] : "";
    if (strcmp(cmd, "put") == 0 && argc == 3)
        return put(argv[2]);
    if (strcmp(cmd, "get") == 0 && argc == 4)
        return get(argv[2], atoi(argv[3]));
    if (strcmp(cmd, "refuse") == 0 && argc == 4)
        return refuse(argv[2], atoi(argv[3]));
    if (strcmp(cmd, "cut") == 0 && argc == 4)
        return cut(argv[2], atoi(argv[3]));
    if (strcmp(cmd, "live-put") == 0 && argc == 4)
        return live_put(argv[2], atoi(argv[3]));
    if (strcmp(cmd, "live-get") == 0 && argc == 6)
        return live_get(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
    fprintf(stderr, "usage: evolve_check put|get|refuse|cut|live-put|live-get FILE ...\n");
    return 2;
}
