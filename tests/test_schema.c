/*
 * test_schema.c - stored wire schemas and emulated reading (issue 18 part
 * 4, mapfile/schema.h): the parser's limits, the interpreter's JSON, the
 * producer storing a class's schema once in the reserved record, reserved
 * names, and a replay of fuzz_schema's regression corpus through the
 * fuzzer's own contract checks.
 */
#include <criterion/criterion.h>

#include <mapfile/schema.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* fuzz/fuzz_schema.c */

#define CORPUS MF_TEST_SOURCE_DIR "/tests/fuzz/corpus/fuzz_schema"

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    unsigned char *buf = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        if (cap - *n < 4096) {
            cap = cap * 2 + 4096;
            buf = realloc(buf, cap);
            cr_assert(buf);
        }
        size_t got = fread(buf + *n, 1, cap - *n, f);
        *n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    return buf;
}

/* Seed @p name: its schema and payload, and the JSON (or error) they give. */
static int seed_json(const char *name, char **json)
{
    char path[512];
    size_t n;
    snprintf(path, sizeof path, "%s/%s", CORPUS, name);
    unsigned char *d = slurp(path, &n);
    cr_assert(n >= 2);
    size_t l = (size_t)d[0] | (size_t)d[1] << 8;
    cr_assert(l <= n - 2);
    mf_writer w = mf_test_writer();
    int rc = mf_schema_to_json(d + 2, l, d + 2 + l, n - 2 - l, &w);
    mf_w_u8(&w, '\0');
    *json = (char *)w.buf;
    free(d);
    return rc;
}

Test(schema, every_kind_decodes_to_the_generated_json)
{
    char *json;
    cr_assert_eq(seed_json("every_kind", &json), 0, "%s", mf_errdetail());
    cr_expect_str_eq(json,
                     "{\"t1\":1,\"t2\":-2,\"t3\":1027,\"t4\":-5,\"t5\":2055,\"t6\":0,"
                     "\"t7\":0,\"t8\":0,\"t9\":0,\"t10\":0,\"t11\":true,"
                     "\"m\":[[2,2],[2,2]],\"s\":\"abc\",\"n\":2,\"v\":[1.5,-2],"
                     "\"o\":{\"a\":7}}");
    free(json);
}

Test(schema, counted_structs_before_their_count)
{
    char *json;
    cr_assert_eq(seed_json("counted_after", &json), 0, "%s", mf_errdetail());
    cr_expect_str_eq(json, "{\"p\":[{\"x\":1},{\"x\":2}],\"q\":[5,6],\"k\":2}");
    free(json);
}

Test(schema, nesting_limit)
{
    char *json;
    cr_assert_eq(seed_json("deep64", &json), 0, "%s", mf_errdetail());
    cr_expect(strstr(json, "{\"x\":42}"), "%s", json);
    free(json);
    cr_assert_eq(seed_json("deep65", &json), MF_ECORRUPT);
    cr_expect(strstr(mf_errdetail(), "65 records"), "%s", mf_errdetail());
    free(json);
}

Test(schema, hostile_schemas_are_refused_by_name)
{
#define S(lit) lit, sizeof lit - 1
    static const struct {
        const char *bytes;
        size_t n;
        const char *why;
    } cases[] = {
        {S("MFSX\x01\x01\x00"), "magic"},
        {S("MFSC\x02\x01\x00"), "format 2"},
        {S("MFSC\x01\x00"), "0 records"},
        {S("MFSC\x01\x01\x01\x01" "1\x01\x01\x00"), "bad field name"},
        {S("MFSC\x01\x01\x01\x01" "a\x09"), "unknown field kind"},
        {S("MFSC\x01\x01\x01\x01" "a\x01\x00\x00"), "refers to itself"},
        {S("MFSC\x01\x01\x01\x01" "a\x01\x01\x09"), "more than 8 dimensions"},
        {S("MFSC\x01\x01\x01\x01" "a\x01\x01\x01\x00"), "dimension is 0"},
        {S("MFSC\x01\x01\x01\x01" "a\x01\x01\x02\xff\xff\x0f\xff\xff\x0f"), "too many elements"},
        {S("MFSC\x01\x01\x01\x01" "a\x05\x09"), "integer type"},
        {S("MFSC\x01\x01\x01\x01" "a\x05\x05"), "sizes no array"},
        {S("MFSC\x01\x01\x01\x01" "a\x03\x05\x00"), "not a count field"},
        {S("MFSC\x01\x01\xff\xff\x03"), "bad field count"},
        {S("MFSC\x01\x01\x00\x00"), "after the last record"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_expect_eq(mf_schema_check(cases[i].bytes, cases[i].n), MF_ECORRUPT, "%s",
                     cases[i].why);
        cr_expect(strstr(mf_errdetail(), cases[i].why), "%s: detail '%s'", cases[i].why,
                  mf_errdetail());
    }
}

Test(schema, payload_unlike_its_schema)
{
    /* one u32 'x' */
    static const unsigned char s[] = "MFSC\x01\x01\x01\x01x\x01\x05\x00";
    mf_writer w = mf_test_writer();
    cr_expect_eq(mf_schema_to_json(s, sizeof s - 1, "\x01\x02\x03", 3, &w), MF_ECODEC);
    cr_expect(strstr(mf_errdetail(), "payload truncated"), "%s", mf_errdetail());
    w.len = 0;
    cr_expect_eq(mf_schema_to_json(s, sizeof s - 1, "\x01\x02\x03\x04\x05", 5, &w), MF_ECODEC);
    w.len = 0;
    cr_expect_eq(mf_schema_to_json(s, sizeof s - 1, "\x07\x00\x00\x00", 4, &w), 0);
    cr_expect_eq(w.len, 7);
    cr_expect(memcmp(w.buf, "{\"x\":7}", 7) == 0);
    free(w.buf);
}

/* --- a class that carries its schema ---------------------------------------------- */

static const unsigned char u32_schema[] = "MFSC\x01\x01\x01\x01x\x01\x05\x00";

static int u32_out(const void *obj, mf_writer *w)
{
    mf_w_u32(w, *(const uint32_t *)obj);
    return 0;
}

static void *u32_in(mf_reader *r, uint32_t version)
{
    (void)version;
    uint32_t *o = malloc(sizeof *o);
    if (o)
        *o = mf_r_u32(r);
    return o;
}

static const mf_class u32_class = {
    .struct_size = sizeof(mf_class), .name = "test.u32", .version = 3, .min_version = 3,
    .stream_out = u32_out, .stream_in = u32_in, .destroy = free,
    .schema = u32_schema, .schema_size = sizeof u32_schema - 1,
};

static const unsigned char bad_schema[] = "MFSC\x01\x01\x01\x01" "1\x01\x05\x00";
static const mf_class bad_class = {
    .struct_size = sizeof(mf_class), .name = "test.badschema", .version = 1,
    .min_version = 1, .stream_out = u32_out, .stream_in = u32_in, .destroy = free,
    .schema = bad_schema, .schema_size = sizeof bad_schema - 1,
};

static mf_file *open_with(const char *path, mf_registry **reg, int mode)
{
    cr_assert_eq(mf_registry_create(reg), 0);
    cr_assert_eq(mf_registry_add_class(*reg, &u32_class), 0);
    cr_assert_eq(mf_registry_add_class(*reg, &bad_class), 0);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = *reg;
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, mode, &o), 0, "%s", mf_errdetail());
    return mf;
}

Test(schema, stored_once_and_read_without_the_codec)
{
    const char *path = mf_test_path("schema.map");
    mf_registry *reg;
    mf_file *mf = open_with(path, &reg, MF_RECREATE);
    uint32_t v = 7;
    cr_assert_eq(mf_put(mf, "a", "test.u32", &v), 0, "%s", mf_errdetail());
    v = 8;
    cr_assert_eq(mf_put(mf, "b", "test.u32", &v), 0, "%s", mf_errdetail());
    mf_close(mf);
    mf_registry_free(reg);
    /* A restarted producer: the same bytes are not stored again. */
    mf = open_with(path, &reg, MF_UPDATE);
    cr_assert_eq(mf_put(mf, "a", "test.u32", &v), 0, "%s", mf_errdetail());
    mf_batch *b;
    cr_assert_eq(mf_batch_begin(mf, &b), 0);
    cr_assert_eq(mf_batch_put(b, "c", "test.u32", &v), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_batch_commit(b), 0);
    /* An invalid schema fails the put, naming the class. */
    cr_expect_eq(mf_put(mf, "d", "test.badschema", &v), MF_ECODEC);
    cr_expect(strstr(mf_errdetail(), "test.badschema"), "%s", mf_errdetail());
    mf_record_info ri;
    cr_assert_eq(mf_stat(mf, ".mapfile/schema/test.u32@3", &ri), 0);
    cr_expect_eq(ri.update_count, 1);
    cr_expect_str_eq(ri.class_name, MF_SCHEMA_CLASS);
    cr_expect_eq(mf_stat(mf, "d", &ri), MF_ENOTFOUND);
    /* RemoveAll removes the objects, not the schema of a class still put. */
    cr_assert_eq(mf_remove_all(mf), 0, "%s", mf_errdetail());
    cr_expect_eq(mf_stat(mf, "a", &ri), MF_ENOTFOUND);
    cr_expect_eq(mf_stat(mf, ".mapfile/schema/test.u32@3", &ri), 0,
                 "mf_remove_all removed the stored schema");
    /* Removed by hand, it is stored again by the next put of its class. */
    cr_assert_eq(mf_remove(mf, ".mapfile/schema/test.u32@3"), 0, "%s", mf_errdetail());
    v = 8;
    cr_assert_eq(mf_put(mf, "a", "test.u32", &v), 0, "%s", mf_errdetail());
    cr_expect_eq(mf_stat(mf, ".mapfile/schema/test.u32@3", &ri), 0,
                 "a schema removed by hand was not stored again");
    mf_close(mf);
    mf_registry_free(reg);

    /* A reader with no codec at all. */
    cr_assert_eq(mf_registry_create(&reg), 0);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = reg;
    cr_assert_eq(mf_open(&mf, path, MF_READ, &o), 0);
    void *obj;
    const mf_class *cls;
    cr_expect_eq(mf_get(mf, "a", &obj, &cls), MF_ENOCODEC);
    mf_writer w = mf_test_writer();
    cr_assert_eq(mf_get_emulated_json(mf, "a", &w, &ri), 0, "%s", mf_errdetail());
    cr_expect_eq(w.len, 7);
    cr_expect(memcmp(w.buf, "{\"x\":8}", 7) == 0, "%.*s", (int)w.len, (char *)w.buf);
    cr_expect_eq(ri.class_version, 3);
    w.len = 0;
    cr_expect_eq(mf_get_emulated_json(mf, "nosuch", &w, NULL), MF_ENOTFOUND);
    free(w.buf);
    mf_close(mf);
    mf_registry_free(reg);
    mf_unlink_file(path);
}

Test(schema, reserved_names)
{
    const char *path = mf_test_path("reserved.map");
    mf_registry *reg;
    mf_file *mf = open_with(path, &reg, MF_RECREATE);
    uint32_t v = 1;
    cr_expect_eq(mf_put(mf, ".mapfile/x", "test.u32", &v), MF_ENAME);
    cr_expect(strstr(mf_errdetail(), "reserved"), "%s", mf_errdetail());
    cr_expect_eq(mf_add(mf, ".mapfile/schema/x", "test.u32", &v), MF_ENAME);
    cr_expect_eq(mf_put_raw(mf, ".mapfile/x", "text", 1, "hi", 2), MF_ENAME);
    /* Raw copies of schema records (mapf copy, mirror) are allowed. */
    cr_expect_eq(mf_put_raw(mf, ".mapfile/schema/test.u32@3", MF_SCHEMA_CLASS,
                            MF_SCHEMA_FORMAT, u32_schema, sizeof u32_schema - 1), 0);
    mf_batch *b;
    cr_assert_eq(mf_batch_begin(mf, &b), 0);
    cr_expect_eq(mf_batch_put(b, ".mapfile/y", "test.u32", &v), MF_ENAME);
    mf_batch_abort(b);
    cr_expect_eq(mf_put(mf, "mapfile/x", "test.u32", &v), 0, "only the dotted prefix is reserved");
    char name[32];
    cr_expect_eq(mf_schema_record_name(name, sizeof name, "test.u32", 3), 0);
    cr_expect_str_eq(name, ".mapfile/schema/test.u32@3");
    cr_expect_eq(mf_schema_record_name(name, 8, "test.u32", 3), MF_ETOOSMALL);
    cr_expect_eq(mf_schema_record_name(name, sizeof name, "../x", 3), MF_ENAME);
    mf_close(mf);
    mf_registry_free(reg);
    mf_unlink_file(path);
}

/* Every seed of the fuzzer's corpus through the fuzzer's own checks. */
Test(schema, fuzz_corpus_replay)
{
    DIR *d = opendir(CORPUS);
    cr_assert(d, "no corpus at %s", CORPUS);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", CORPUS, e->d_name);
        unsigned char *data = slurp(path, &len);
        LLVMFuzzerTestOneInput(data, len);
        free(data);
        n++;
    }
    closedir(d);
    cr_expect_geq(n, 7);
}
