/*
 * emulate_check.c - emulated reading of a generated class, checked against
 * its plugin and against hostile stored schemas (tests/gen_emulate.sh).
 *
 *   emulate_check same FILE
 *       for each case (full, empty, nulls): the payload, every cut of it
 *       and 3000 mutants are decoded by the plugin (MAPFILE_PLUGIN_PATH)
 *       and by the schema stored in FILE: both refuse, or both give the
 *       same JSON, byte for byte
 *   emulate_check mutants FILE SCHEMA_RECORD
 *       the stored schema cut at every length, every single bit flipped,
 *       2000 random byte changes, huge counts and bad names: each decodes
 *       or fails with MF_ECORRUPT / MF_ECODEC and a detail, never a crash
 *   emulate_check reput FILE
 *       a producer restarted: open FILE for update, get "full" with the
 *       plugin and put it back (the schema is already stored)
 *   emulate_check corrupt FILE SCHEMA_RECORD SEED
 *       store a mutant of the schema (bit flips chosen by SEED) in FILE
 *       with mf_put_raw, for `mapf get --json` to read
 *
 * Exit status: 0 all good; 1 a failed check (printed).
 */
#include <mapfile/mapfile.h>
#include <mapfile/schema.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (!(cond)) {                                      \
            fprintf(stderr, "emulate_check: " __VA_ARGS__); \
            fputc('\n', stderr);                            \
            failures++;                                     \
        }                                                   \
    } while (0)

static const char *const cases[] = {"full", "empty", "nulls", NULL};

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

/* A malloc'd copy of exactly @p n bytes, so ASan sees any overread. */
static unsigned char *copy_of(const unsigned char *p, size_t n)
{
    unsigned char *c = malloc(n ? n : 1);
    if (!c)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

/* Plugin: 0 and its JSON in @p w, or -1. */
static int plugin_json(const mf_class *cls, const unsigned char *p, size_t n, mf_writer *w)
{
    unsigned char *c = copy_of(p, n);
    mf_reader r = mf_reader_make(c, n);
    void *obj = cls->stream_in(&r, cls->version);
    free(c);
    if (!obj)
        return -1;
    int rc = cls->to_json(obj, w);
    cls->destroy(obj);
    return rc || w->err ? -1 : 0;
}

/* Schema: 0 and its JSON in @p w, or the error. */
static int schema_json(const unsigned char *s, size_t sn, const unsigned char *p, size_t n,
                       mf_writer *w)
{
    unsigned char *cs = copy_of(s, sn), *cp = copy_of(p, n);
    int rc = mf_schema_to_json(cs, sn, cp, n, w);
    free(cs);
    free(cp);
    return rc;
}

static int compare_one(const mf_class *cls, const unsigned char *s, size_t sn,
                       const unsigned char *p, size_t n, const char *what, size_t *ok)
{
    mf_writer a = {.reserve = grow}, b = {.reserve = grow};
    int ra = plugin_json(cls, p, n, &a);
    int rb = schema_json(s, sn, p, n, &b);
    CHECK((ra == 0) == (rb == 0), "%s: the plugin %s, the schema %s (%s)", what,
          ra ? "refuses" : "decodes", rb ? "refuses" : "decodes", rb ? mf_errdetail() : "");
    CHECK(rb == 0 || rb == MF_ECODEC, "%s: a payload error gave %s", what, mf_strerror(rb));
    if (ra == 0 && rb == 0) {
        CHECK(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0,
              "%s: the JSON differs:\n  plugin %.*s\n  schema %.*s", what, (int)a.len,
              (char *)a.buf, (int)b.len, (char *)b.buf);
        (*ok)++;
    }
    free(a.buf);
    free(b.buf);
    return 0;
}

static int load(mf_file *mf, const char *name, void **data, size_t *n)
{
    mf_record_info ri;
    int rc = mf_get_raw_alloc(mf, name, data, &ri);
    CHECK(rc == 0, "get_raw %s: %s: %s", name, mf_strerror(rc), mf_errdetail());
    *n = rc ? 0 : (size_t)ri.size;
    return rc;
}

static int same(const char *path)
{
    const mf_class *cls;
    mf_file *mf;
    int rc = mf_registry_find(mf_registry_default(), "torture", &cls);
    if (rc || (rc = mf_open(&mf, path, MF_READ, NULL))) {
        fprintf(stderr, "emulate_check: %s: %s\n", mf_strerror(rc), mf_errdetail());
        return 1;
    }
    void *schema;
    size_t sn;
    if (load(mf, ".mapfile/schema/torture@1", &schema, &sn))
        return 1;
    srand(4242);
    for (int c = 0; cases[c]; c++) {
        void *payload;
        size_t n, ok = 0;
        char what[128];
        if (load(mf, cases[c], &payload, &n))
            continue;
        const unsigned char *p = payload;
        snprintf(what, sizeof what, "%s (whole)", cases[c]);
        compare_one(cls, schema, sn, p, n, what, &ok);
        CHECK(ok == 1, "%s: the whole payload does not decode both ways", cases[c]);
        for (size_t k = 0; k < n; k++) {
            snprintf(what, sizeof what, "%s cut to %zu", cases[c], k);
            compare_one(cls, schema, sn, p, k, what, &ok);
        }
        size_t before = ok;
        for (int k = 0; k < 3000 && n; k++) {
            unsigned char *m = copy_of(p, n);
            size_t at = (size_t)rand() % n;
            m[at] ^= (unsigned char)(1 + rand() % 255);
            snprintf(what, sizeof what, "%s mutant %d (byte %zu)", cases[c], k, at);
            compare_one(cls, schema, sn, m, n, what, &ok);
            free(m);
        }
        printf("%s: %zu bytes, every cut and 3000 mutants: %zu mutants decoded, all "
               "alike\n", cases[c], n, ok - before);
        free(payload);
    }
    free(schema);
    mf_close(mf);
    return failures ? 1 : 0;
}

/* One hostile schema: decodes, or a clean error with a detail. */
static void try_schema(const unsigned char *s, size_t sn, const unsigned char *p, size_t n,
                       const char *what, size_t *refused)
{
    mf_writer w = {.reserve = grow};
    int rc = schema_json(s, sn, p, n, &w);
    CHECK(rc == 0 || rc == MF_ECORRUPT || rc == MF_ECODEC, "%s: %s", what, mf_strerror(rc));
    CHECK(rc == 0 || strlen(mf_errdetail()) > 0, "%s: an error without a detail", what);
    CHECK(rc == 0 || rc != MF_ECORRUPT || strstr(mf_errdetail(), "schema"),
          "%s: the detail does not say it is the schema: %s", what, mf_errdetail());
    int rc2 = mf_schema_check(s, sn);
    CHECK(rc2 == 0 || rc2 == MF_ECORRUPT, "%s: mf_schema_check gave %s", what, mf_strerror(rc2));
    CHECK(rc != MF_ECORRUPT || rc2 == MF_ECORRUPT, "%s: check and decode disagree", what);
    *refused += rc != 0;
    free(w.buf);
}

static int mutants(const char *path, const char *rec)
{
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_READ, NULL);
    if (rc) {
        fprintf(stderr, "emulate_check: %s: %s\n", mf_strerror(rc), mf_errdetail());
        return 1;
    }
    void *schema, *payload;
    size_t sn, n, refused = 0, total = 0;
    if (load(mf, rec, &schema, &sn) || load(mf, "full", &payload, &n))
        return 1;
    const unsigned char *s = schema;
    char what[128];
    for (size_t k = 0; k < sn; k++, total++) {
        snprintf(what, sizeof what, "schema cut to %zu", k);
        try_schema(s, k, payload, n, what, &refused);
    }
    for (size_t bit = 0; bit < sn * 8; bit++, total++) {
        unsigned char *m = copy_of(s, sn);
        m[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        snprintf(what, sizeof what, "schema bit %zu flipped", bit);
        try_schema(m, sn, payload, n, what, &refused);
        free(m);
    }
    srand(777);
    for (int k = 0; k < 2000; k++, total++) {
        unsigned char *m = copy_of(s, sn);
        for (int j = 0; j < 1 + k % 4; j++)
            m[(size_t)rand() % sn] = (unsigned char)rand();
        snprintf(what, sizeof what, "schema random mutant %d", k);
        try_schema(m, sn, payload, n, what, &refused);
        free(m);
    }
    /* A huge varint (2^63) spliced in at every position. */
    static const unsigned char huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    for (size_t at = 0; at < sn; at++, total++) {
        unsigned char *m = malloc(sn + sizeof huge);
        memcpy(m, s, at);
        memcpy(m + at, huge, sizeof huge);
        memcpy(m + at + sizeof huge, s + at, sn - at);
        snprintf(what, sizeof what, "huge count at byte %zu", at);
        try_schema(m, sn + sizeof huge, payload, n, what, &refused);
        free(m);
    }
    /* Bad names: every byte of the first field name replaced by a byte
     * that no name may hold. */
    static const unsigned char bad[] = {0, '-', ' ', '"', '\\', 0x80, 0xff, '{'};
    for (size_t b = 0; b < sizeof bad; b++, total++) {
        unsigned char *m = copy_of(s, sn);
        m[7] = bad[b]; /* "MFSC", format, nrec, nfields, then the first name's length */
        snprintf(what, sizeof what, "bad name byte 0x%02x", bad[b]);
        try_schema(m, sn, payload, n, what, &refused);
        CHECK(mf_schema_check(m, sn) == MF_ECORRUPT, "%s: accepted", what);
        free(m);
    }
    printf("%zu hostile schemas: %zu refused cleanly, %zu decoded\n", total, refused,
           total - refused);
    free(schema);
    free(payload);
    mf_close(mf);
    return failures ? 1 : 0;
}

static int corrupt(const char *path, const char *rec, int seed)
{
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_UPDATE, NULL);
    if (rc) {
        fprintf(stderr, "emulate_check: %s: %s\n", mf_strerror(rc), mf_errdetail());
        return 1;
    }
    void *schema;
    size_t sn;
    if (load(mf, rec, &schema, &sn))
        return 1;
    unsigned char *s = schema;
    srand((unsigned)seed);
    size_t len = sn;
    switch (seed % 3) {
    case 0: len = (size_t)rand() % sn; break;                    /* truncated */
    case 1: s[5 + (size_t)rand() % (sn - 5)] ^= 0x40; break;      /* a flip past the header */
    default: s[6] = 0x7f; break;                                  /* a huge field count */
    }
    rc = mf_put_raw(mf, rec, MF_SCHEMA_CLASS, MF_SCHEMA_FORMAT, s, len);
    CHECK(rc == 0, "put_raw %s: %s: %s", rec, mf_strerror(rc), mf_errdetail());
    free(schema);
    mf_close(mf);
    return failures ? 1 : 0;
}

static int reput(const char *path)
{
    mf_file *mf;
    void *obj = NULL;
    const mf_class *cls = NULL;
    int rc = mf_open(&mf, path, MF_UPDATE, NULL);
    if (rc == 0 && (rc = mf_get(mf, "full", &obj, &cls)) == 0) {
        rc = mf_put(mf, "full", "torture", obj);
        mf_object_free(cls, obj);
    }
    CHECK(rc == 0, "reput: %s: %s", mf_strerror(rc), mf_errdetail());
    mf_close(mf);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "reput") == 0)
        return reput(argv[2]);
    if (argc == 3 && strcmp(argv[1], "same") == 0)
        return same(argv[2]);
    if (argc == 4 && strcmp(argv[1], "mutants") == 0)
        return mutants(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "corrupt") == 0)
        return corrupt(argv[2], argv[3], atoi(argv[4]));
    fprintf(stderr, "usage: emulate_check same FILE | mutants FILE REC | corrupt FILE REC SEED\n");
    return 2;
}
