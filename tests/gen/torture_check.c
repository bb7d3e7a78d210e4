/*
 * torture_check.c - producer, consumer and hostile-payload driver for the
 * codec `mapf gen` writes from torture.h (tests/gen_roundtrip.sh).
 *
 *   torture_check put FILE    publish the cases full, empty, huge, nulls;
 *                             check that bad objects are refused
 *   torture_check get FILE    read each case back (another process, the
 *                             codec loaded from MAPFILE_PLUGIN_PATH) and
 *                             compare it field by field with a fresh fill
 *   torture_check cut         stream_in every truncation and 3000 one-byte
 *                             mutations of each case's payload
 *   torture_check ref         against the hand-written codec (torture_ref.c):
 *                             byte-identical payloads for every case, each
 *                             decodes the other's, both refuse the same bad
 *                             objects, cuts and mutants
 *   torture_check seeds DIR   write fuzz seeds (a version byte 0, then the
 *                             reference's payload) of full, empty, nulls:
 *                             tests/fuzz/corpus/fuzz_gen_torture
 *
 * Exit status: 0 all good; 1 a difference or a failed check (printed).
 */
#include <mapfile/mapfile.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torture.h"
#include "torture_ref.h"

static int failures;

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, "torture_check: " __VA_ARGS__); \
            fputc('\n', stderr);                          \
            failures++;                                   \
        }                                                 \
    } while (0)

static const char *const cases[] = {"full", "empty", "huge", "nulls", NULL};

/* --- filling ------------------------------------------------------------------ */

static char *dup_str(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    if (!d)
        abort();
    return strcpy(d, s);
}

static void fill_inner(struct inner *in, int seed, int with_label)
{
    in->id = (int16_t)(-1000 - seed);
    in->label = with_label ? dup_str(seed % 2 ? "odd label" : "\xc3\xa9t\xc3\xa9 \"q\"") : NULL;
    in->nbytes = (uint8_t)(seed % 5);
    in->bytes = in->nbytes ? malloc(in->nbytes) : NULL;
    for (int i = 0; i < in->nbytes; i++)
        in->bytes[i] = (uint8_t)(seed * 31 + i);
    in->xy[0] = seed * 0.25;
    in->xy[1] = -seed / 3.0;
}

static int producer_describe(const void *obj)
{
    (void)obj;
    return -1; /* a consumer must never see the producer's table */
}
static const struct torture_ops producer_ops = {producer_describe};

static void fill_scalars(struct torture *t)
{
    t->i8 = INT8_MIN;
    t->u8 = UINT8_MAX;
    t->i16 = INT16_MIN;
    t->u16 = UINT16_MAX;
    t->i32 = INT32_MIN;
    t->u32 = UINT32_MAX;
    t->i64 = INT64_MIN;
    t->u64 = UINT64_MAX;
    t->f32 = -0.0f;
    t->f64 = NAN;
    t->flag = true;
    t->ch = 'Z';
    t->ll = -1234567890123LL;
    t->ull = 0x8000000000000001ULL;
    t->color = BLUE;
    t->small = SMALL_B;
    for (int i = 0; i < 3; i++)
        t->vec[i] = -7 * i;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            t->mat[i][k] = i * 10 + k + 0.5;
    for (int i = 0; i < 8; i++)
        t->cube[i / 4][(i / 2) % 2][i % 2] = (uint8_t)(i * 33);
    for (int i = 0; i < 5; i++)
        t->bits[i] = i % 2;
    t->palette[0] = RED;
    t->palette[1] = GREEN;
    t->palette[2] = BLUE;
    snprintf(t->name, sizeof t->name, "torture");
    t->lls[0] = INT64_MAX;
    t->lls[1] = -2;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++)
            t->leaves[i][k] = (leaf_t){i + k * 0.5f, 1ULL << (i * 2 + k + 60)};
}

/* The object of case @p name, the same in every process. */
static struct torture *fill(const char *name)
{
    struct torture *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    int full = strcmp(name, "full") == 0, huge = strcmp(name, "huge") == 0;
    int nulls = strcmp(name, "nulls") == 0;
    t->cache = (void *)t; /* MF_SKIP: never travels */
    t->scratch = 77;
    t->flags_bits = 5;
    t->ops = &producer_ops;
    if (strcmp(name, "empty") == 0) {
        t->empty_title = dup_str("");
        return t;
    }
    fill_scalars(t);
    fill_inner(&t->head, 3, !nulls);
    if (!nulls) {
        size_t n = huge ? 100000 : 12;
        t->title = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            t->title[i] = (char)('a' + i % 26);
        t->title[n] = '\0';
        t->empty_title = dup_str("");
    }
    t->nsamples = huge ? 200000 : full ? 5 : 0;
    if (t->nsamples) {
        t->samples = malloc(t->nsamples * sizeof *t->samples);
        t->weights = malloc(t->nsamples * sizeof *t->weights);
        for (uint32_t i = 0; i < t->nsamples; i++) {
            t->samples[i] = i * 1.5 - 3;
            t->weights[i] = (float)i / 7.0f;
        }
    } else if (nulls) {
        /* a zero count beside a live pointer reads back as NULL */
        t->samples = malloc(sizeof *t->samples);
    }
    t->nitems = huge ? 1000 : full ? 3 : 0;
    t->items = t->nitems ? calloc((size_t)t->nitems, sizeof *t->items) : NULL;
    for (int i = 0; i < t->nitems; i++)
        fill_inner(&t->items[i], i, i != 1);
    t->ncolors = full || huge ? 4 : 0;
    t->colors = t->ncolors ? malloc(t->ncolors * sizeof *t->colors) : NULL;
    for (uint64_t i = 0; i < t->ncolors; i++)
        t->colors[i] = i % 2 ? RED : BLUE;
    t->nleafs = full || huge ? 2 : 0;
    t->leafs = t->nleafs ? calloc(t->nleafs, sizeof *t->leafs) : NULL;
    for (size_t i = 0; i < t->nleafs; i++)
        t->leafs[i] = (leaf_t){(float)i, i + 1};
    if (!nulls) {
        t->maybe = calloc(1, sizeof *t->maybe);
        fill_inner(t->maybe, 9, 1);
        t->maybe_leaf = calloc(1, sizeof *t->maybe_leaf);
        *t->maybe_leaf = (leaf_t){2.5f, 42};
    }
    return t;
}

static void free_inner(struct inner *in)
{
    free(in->label);
    free(in->bytes);
}

static void free_torture(struct torture *t)
{
    free_inner(&t->head);
    free(t->title);
    free(t->empty_title);
    free(t->samples);
    free(t->weights);
    for (int i = 0; i < t->nitems; i++)
        free_inner(&t->items[i]);
    free(t->items);
    free(t->colors);
    free(t->leafs);
    if (t->maybe)
        free_inner(t->maybe);
    free(t->maybe);
    free(t->maybe_leaf);
    free(t);
}

/* --- comparing -------------------------------------------------------------------- */

static const char *cur_case;

#define SAME(field) CHECK(memcmp(&g->field, &w->field, sizeof w->field) == 0, \
                          "%s: %s differs", cur_case, #field)

static void same_str(const char *what, const char *g, const char *w)
{
    if (!w)
        CHECK(!g, "%s: %s should be NULL, got \"%.20s\"", cur_case, what, g);
    else
        CHECK(g && strcmp(g, w) == 0, "%s: %s differs", cur_case, what);
}

static void same_inner(const char *what, const struct inner *g, const struct inner *w)
{
    CHECK(g->id == w->id, "%s: %s.id differs", cur_case, what);
    same_str(what, g->label, w->label);
    CHECK(g->nbytes == w->nbytes, "%s: %s.nbytes differs", cur_case, what);
    if (g->nbytes == w->nbytes && w->nbytes)
        CHECK(g->bytes && memcmp(g->bytes, w->bytes, w->nbytes) == 0,
              "%s: %s.bytes differ", cur_case, what);
    if (!w->nbytes)
        CHECK(!g->bytes, "%s: %s.bytes should be NULL", cur_case, what);
    CHECK(memcmp(g->xy, w->xy, sizeof w->xy) == 0, "%s: %s.xy differs", cur_case, what);
}

static void compare(const struct torture *g, const struct torture *w)
{
    SAME(i8); SAME(u8); SAME(i16); SAME(u16); SAME(i32); SAME(u32); SAME(i64);
    SAME(u64); SAME(f32); SAME(f64); SAME(flag); SAME(ch); SAME(ll); SAME(ull);
    SAME(color); SAME(small); SAME(vec); SAME(mat); SAME(cube); SAME(bits);
    SAME(palette); SAME(name); SAME(lls); SAME(leaves);
    same_inner("head", &g->head, &w->head);
    same_str("title", g->title, w->title);
    same_str("empty_title", g->empty_title, w->empty_title);
    SAME(nsamples);
    if (g->nsamples == w->nsamples && w->nsamples) {
        CHECK(memcmp(g->samples, w->samples, w->nsamples * sizeof *w->samples) == 0,
              "%s: samples differ", cur_case);
        CHECK(memcmp(g->weights, w->weights, w->nsamples * sizeof *w->weights) == 0,
              "%s: weights differ", cur_case);
    }
    if (!w->nsamples)
        CHECK(!g->samples && !g->weights, "%s: empty samples should be NULL", cur_case);
    SAME(nitems);
    for (int i = 0; g->nitems == w->nitems && i < w->nitems; i++) {
        char what[32];
        snprintf(what, sizeof what, "items[%d]", i);
        same_inner(what, &g->items[i], &w->items[i]);
    }
    SAME(ncolors);
    if (g->ncolors == w->ncolors && w->ncolors)
        CHECK(memcmp(g->colors, w->colors, w->ncolors * sizeof *w->colors) == 0,
              "%s: colors differ", cur_case);
    SAME(nleafs);
    if (g->nleafs == w->nleafs && w->nleafs)
        CHECK(memcmp(g->leafs, w->leafs, w->nleafs * sizeof *w->leafs) == 0,
              "%s: leafs differ", cur_case);
    CHECK(!g->maybe == !w->maybe, "%s: maybe presence differs", cur_case);
    if (g->maybe && w->maybe)
        same_inner("maybe", g->maybe, w->maybe);
    CHECK(!g->maybe_leaf == !w->maybe_leaf, "%s: maybe_leaf presence differs", cur_case);
    if (g->maybe_leaf && w->maybe_leaf)
        CHECK(memcmp(g->maybe_leaf, w->maybe_leaf, sizeof *w->maybe_leaf) == 0,
              "%s: maybe_leaf differs", cur_case);
    CHECK(g->cache == NULL && g->scratch == 0 && g->flags_bits == 0,
          "%s: MF_SKIP fields travelled", cur_case);
    /* MF_OPS: set by the consumer's own hook (torture_ops.c), never copied */
    CHECK(g->ops && g->ops != w->ops && g->ops->describe && g->ops->describe(g) == (int)g->nsamples + 1,
          "%s: ops is not the consumer's table set by torture_set_ops()", cur_case);
}

/* --- put / get ---------------------------------------------------------------------- */

static int put(const char *path)
{
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_CREATE, NULL);
    if (rc) {
        fprintf(stderr, "torture_check: open %s: %s\n", path, mf_strerror(rc));
        return 1;
    }
    for (int i = 0; cases[i]; i++) {
        struct torture *t = fill(cases[i]);
        rc = mf_put(mf, cases[i], "torture", t);
        CHECK(rc == 0, "put %s: %s: %s", cases[i], mf_strerror(rc), mf_errdetail());
        free_torture(t);
    }
    /* Objects the codec must refuse: a count without its array, and a
     * negative count. Nothing of them is published. */
    struct torture *bad = fill("empty");
    bad->nsamples = 3;
    rc = mf_put(mf, "bad", "torture", bad);
    CHECK(rc == MF_ECODEC, "a NULL array with nsamples 3 was not refused (%s)", mf_strerror(rc));
    bad->nsamples = 0;
    bad->nitems = -1;
    rc = mf_put(mf, "bad", "torture", bad);
    CHECK(rc == MF_ECODEC, "a negative nitems was not refused (%s)", mf_strerror(rc));
    free_torture(bad);
    mf_record_info info;
    CHECK(mf_stat(mf, "bad", &info) == MF_ENOTFOUND, "a refused object was published");
    mf_close(mf);
    return failures ? 1 : 0;
}

static int get(const char *path)
{
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_READ, NULL);
    if (rc) {
        fprintf(stderr, "torture_check: open %s: %s\n", path, mf_strerror(rc));
        return 1;
    }
    for (int i = 0; cases[i]; i++) {
        void *obj = NULL;
        const mf_class *cls = NULL;
        cur_case = cases[i];
        rc = mf_get(mf, cases[i], &obj, &cls);
        CHECK(rc == 0, "get %s: %s: %s", cases[i], mf_strerror(rc), mf_errdetail());
        if (rc)
            continue;
        struct torture *want = fill(cases[i]);
        compare(obj, want);
        free_torture(want);
        mf_object_free(cls, obj);
    }
    mf_close(mf);
    return failures ? 1 : 0;
}

/* --- hostile payloads ------------------------------------------------------------------- */

static int grow(mf_writer *w, size_t need)
{
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < need)
        cap *= 2;
    unsigned char *b = realloc(w->buf, cap);
    if (!b)
        return -1;
    w->buf = b;
    w->cap = cap;
    return 0;
}

/* Decode a malloc'd copy of exactly @p n bytes, so ASan sees any overread. */
static void *decode(const mf_class *cls, const unsigned char *p, size_t n, int *err)
{
    unsigned char *copy = malloc(n ? n : 1);
    memcpy(copy, p, n);
    mf_reader r = mf_reader_make(copy, n);
    void *obj = cls->stream_in(&r, cls->version);
    *err = r.err;
    free(copy);
    return obj;
}

static int cut(void)
{
    const mf_class *cls;
    int rc = mf_registry_find(mf_registry_default(), "torture", &cls);
    if (rc) {
        fprintf(stderr, "torture_check: %s: %s\n", mf_strerror(rc), mf_errdetail());
        return 1;
    }
    srand(12345);
    for (int c = 0; cases[c]; c++) {
        if (strcmp(cases[c], "huge") == 0)
            continue; /* every prefix of 2 MB: too slow, and no new path */
        cur_case = cases[c];
        struct torture *t = fill(cases[c]);
        mf_writer w = {.reserve = grow};
        CHECK(cls->stream_out(t, &w) == 0 && !w.err, "%s: stream_out failed", cases[c]);
        int err;
        void *obj = decode(cls, w.buf, w.len, &err);
        CHECK(obj && !err, "%s: the whole payload does not decode (error %d)", cases[c], err);
        if (obj) {
            compare(obj, t);
            cls->destroy(obj);
        }
        for (size_t n = 0; n < w.len; n++) {
            obj = decode(cls, w.buf, n, &err);
            CHECK(!obj && err, "%s: a payload cut to %zu of %zu bytes decoded", cases[c], n, w.len);
            if (obj)
                cls->destroy(obj);
        }
        size_t decoded = 0;
        for (int k = 0; k < 3000 && w.len; k++) {
            unsigned char *m = malloc(w.len);
            memcpy(m, w.buf, w.len);
            m[(size_t)rand() % w.len] ^= (unsigned char)(1 + rand() % 255);
            obj = decode(cls, m, w.len, &err);
            CHECK(!obj == !!err, "%s: a result and an error disagree", cases[c]);
            if (obj) {
                decoded++;
                cls->destroy(obj);
            }
            free(m);
        }
        printf("%s: %zu-byte payload; every cut refused; %zu of 3000 mutants decoded\n",
               cases[c], w.len, decoded);
        free(w.buf);
        free_torture(t);
    }
    return failures ? 1 : 0;
}

/* --- against the hand-written reference ------------------------------------------ */

static const mf_class *find_class(void)
{
    const mf_class *cls;
    int rc = mf_registry_find(mf_registry_default(), "torture", &cls);
    if (rc) {
        fprintf(stderr, "torture_check: %s: %s\n", mf_strerror(rc), mf_errdetail());
        return NULL;
    }
    return cls;
}

/* Decode a malloc'd copy of @p n bytes with the reference codec. */
static struct torture *ref_decode(const unsigned char *p, size_t n, int *err)
{
    unsigned char *copy = malloc(n ? n : 1);
    memcpy(copy, p, n);
    mf_reader r = mf_reader_make(copy, n);
    struct torture *t = torture_ref_in(&r);
    *err = r.err;
    free(copy);
    return t;
}

/* Both writers on one object: the same bytes, or both refuse it. */
static void same_payload(const mf_class *cls, const struct torture *t, const char *what,
                         int want_ok, mf_writer *wg, mf_writer *wr)
{
    int g = cls->stream_out(t, wg) == 0 && !wg->err;
    int h = torture_ref_out(t, wr) == 0 && !wr->err;
    CHECK(g == want_ok && h == want_ok, "%s: generated stream_out %s, the reference %s (want %s)",
          what, g ? "ok" : "failed", h ? "ok" : "failed", want_ok ? "ok" : "a refusal");
    if (!g || !h)
        return;
    size_t at = 0;
    while (at < wg->len && at < wr->len && wg->buf[at] == wr->buf[at])
        at++;
    CHECK(wg->len == wr->len && at == wr->len,
          "%s: the generated payload (%zu bytes) differs from the reference's (%zu bytes) "
          "from byte %zu", what, wg->len, wr->len, at);
}

/* Cross-decode one case: the generated codec reads the reference's bytes
 * and the reference reads the generated codec's; both equal the fill. */
static void cross(const mf_class *cls, const char *name)
{
    cur_case = name;
    struct torture *t = fill(name);
    mf_writer wg = {.reserve = grow}, wr = {.reserve = grow};
    same_payload(cls, t, name, 1, &wg, &wr);
    int err;
    void *g = decode(cls, wr.buf, wr.len, &err);
    CHECK(g && !err, "%s: the generated codec refuses the reference's payload (%d)", name, err);
    struct torture *h = ref_decode(wg.buf, wg.len, &err);
    CHECK(h && !err, "%s: the reference refuses the generated payload (%d)", name, err);
    if (g)
        compare(g, t);
    if (h)
        compare(h, t);
    if (g && h)
        compare(g, h); /* field by field, each decoder's object */
    printf("%s: %zu-byte payload, byte-identical; cross-decoded equal\n", name, wg.len);
    if (g)
        cls->destroy(g);
    torture_ref_free(h);
    free(wg.buf);
    free(wr.buf);
    free_torture(t);
}

/* The objects put() shows the generated codec refusing: the reference
 * refuses them too. */
static void refusals(const mf_class *cls)
{
    struct torture *bad = fill("empty");
    mf_writer wg = {.reserve = grow}, wr = {.reserve = grow};
    bad->nsamples = 3;
    same_payload(cls, bad, "nsamples 3 with NULL arrays", 0, &wg, &wr);
    bad->nsamples = 0;
    bad->nitems = -1;
    wg.len = wr.len = 0;
    wg.err = wr.err = 0;
    same_payload(cls, bad, "nitems -1", 0, &wg, &wr);
    free(wg.buf);
    free(wr.buf);
    free_torture(bad);
}

/* Every cut and 3000 mutants of case full: both decoders accept exactly the
 * same payloads, and what they accept re-encodes to the same bytes. */
static void differential(const mf_class *cls)
{
    cur_case = "full";
    struct torture *t = fill("full");
    mf_writer w = {.reserve = grow};
    CHECK(torture_ref_out(t, &w) == 0, "full: the reference cannot write it");
    size_t both = 0;
    unsigned char *m = malloc(w.len);
    srand(4242);
    for (size_t k = 0; k < w.len + 3000; k++) {
        size_t n = k < w.len ? k : w.len; /* cuts first, then mutants */
        memcpy(m, w.buf, w.len);
        if (k >= w.len)
            m[(size_t)rand() % w.len] ^= (unsigned char)(1 + rand() % 255);
        int eg, eh;
        void *g = decode(cls, m, n, &eg);
        struct torture *h = ref_decode(m, n, &eh);
        CHECK(!g == !h, "a %zu-byte payload (try %zu): the generated codec %s it, the reference %s it",
              n, k, g ? "accepts" : "refuses", h ? "accepts" : "refuses");
        if (g && h) {
            mf_writer a = {.reserve = grow}, b = {.reserve = grow};
            CHECK(torture_ref_out(g, &a) == 0 && torture_ref_out(h, &b) == 0 &&
                      a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0,
                  "try %zu: the two decoders' objects differ", k);
            free(a.buf);
            free(b.buf);
            both++;
        }
        if (g)
            cls->destroy(g);
        torture_ref_free(h);
    }
    printf("full: %zu cuts refused by both; %zu of 3000 mutants accepted by both, "
           "the rest refused by both\n", w.len, both);
    free(m);
    free(w.buf);
    free_torture(t);
}

static int ref(void)
{
    const mf_class *cls = find_class();
    if (!cls)
        return 1;
    for (int c = 0; cases[c]; c++)
        cross(cls, cases[c]);
    refusals(cls);
    differential(cls);
    return failures ? 1 : 0;
}

/* Seeds for tests/fuzz/fuzz_gen_torture.c (huge is too big to be one). */
static int seeds(const char *dir)
{
    for (int c = 0; cases[c]; c++) {
        if (strcmp(cases[c], "huge") == 0)
            continue;
        struct torture *t = fill(cases[c]);
        mf_writer w = {.reserve = grow};
        mf_w_u8(&w, 0); /* the version the codec writes */
        CHECK(torture_ref_out(t, &w) == 0, "%s: the reference cannot write it", cases[c]);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, cases[c]);
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(w.buf, 1, w.len, f) == w.len && fclose(f) == 0, "cannot write %s", path);
        free(w.buf);
        free_torture(t);
    }
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "put") == 0)
        return put(argv[2]);
    if (argc == 3 && strcmp(argv[1], "get") == 0)
        return get(argv[2]);
    if (argc == 2 && strcmp(argv[1], "cut") == 0)
        return cut();
    if (argc == 2 && strcmp(argv[1], "ref") == 0)
        return ref();
    if (argc == 3 && strcmp(argv[1], "seeds") == 0)
        return seeds(argv[2]);
    fprintf(stderr, "usage: torture_check put|get FILE | cut | ref | seeds DIR\n");
    return 2;
}
