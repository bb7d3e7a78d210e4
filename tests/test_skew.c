/* test_skew.c - producers and consumers that were built apart (issue 4).
 *
 * Schema evolution: the `calib` class exists as two real plugins,
 * tests/skew/v1/calib.so (version 1) and v2/calib.so (version 2, still
 * reads 1). Producers and consumers of either version are separate
 * executables that find their codec through MAPFILE_PLUGIN_PATH. A
 * checked-in v1 payload pins what an old producer really wrote.
 *
 * Vtables across executables: shapes_producer has the shapes code linked
 * in, shapes_consumer loads mapfile-shapes.so; each object is rebuilt with
 * the consumer's own table. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mapfile/mapfile.h>

#include "skew/proc.h"
#include "skew/skew.h"
#include "skew/v2/calib.h" /* the consumer side of these tests is v2 */
#include "testutil.h"

#define PRODUCER_V1 MF_SKEW_BIN "/calib_producer_v1"
#define PRODUCER_V2 MF_SKEW_BIN "/calib_producer_v2"
#define CONSUMER_V1 MF_SKEW_BIN "/calib_consumer_v1"
#define CONSUMER_V2 MF_SKEW_BIN "/calib_consumer_v2"

static void clean_env(void)
{
    /* Registries made here must see only the directories a test adds. */
    unsetenv("MAPFILE_PLUGIN_PATH");
}

TestSuite(fixture, .init = clean_env);
TestSuite(skew, .init = clean_env);
TestSuite(vtable, .init = clean_env);

static mf_registry *registry_with(const char *dir)
{
    mf_registry *reg;
    cr_assert_eq(mf_registry_create(&reg), 0);
    cr_assert_eq(mf_registry_add_path(reg, dir), 0);
    return reg;
}

static mf_file *open_read(const char *path, mf_registry *reg)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = reg;
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_READ, &o);
    cr_assert_eq(rc, 0, "open %s: %s", path, mf_errdetail());
    return mf;
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    static unsigned char buf[4096];
    *len = fread(buf, 1, sizeof buf, f);
    cr_assert(feof(f), "%s is larger than expected", path);
    fclose(f);
    return buf;
}

/* The table a producer of either version writes for `run`, as the v2
 * consumer must rebuild it (temperature NaN when stored by v1). */
static void assert_sample(const calib *c, uint32_t run, int stored_version)
{
    cr_assert_str_eq(c->detector, CALIB_SAMPLE_DETECTOR);
    cr_assert_eq(c->run, run);
    cr_assert_eq(c->ngains, calib_sample_ngains(run));
    for (uint32_t i = 0; i < c->ngains; i++)
        cr_assert_eq(c->gains[i], calib_sample_gain(run, i), "gain %u: %a != %a",
                     i, c->gains[i], calib_sample_gain(run, i));
    if (stored_version == 1)
        cr_assert(isnan(c->temperature), "v1 data has no temperature, got %g",
                  c->temperature);
    else
        cr_assert_eq(c->temperature, calib_sample_temperature(run));
}

/* The same check on a consumer executable's printout (doubles in %a). */
static void assert_printed_sample(const char *out, uint32_t run,
                                  unsigned stored_version, unsigned codec_version)
{
    char v[1024], want[1024];
    cr_assert_not_null(mf_out_field(out, "class_version", v, sizeof v), "%s", out);
    cr_assert_eq(strtoul(v, NULL, 10), stored_version, "%s", out);
    cr_assert_not_null(mf_out_field(out, "codec_version", v, sizeof v), "%s", out);
    cr_assert_eq(strtoul(v, NULL, 10), codec_version, "%s", out);
    cr_assert_not_null(mf_out_field(out, "detector", v, sizeof v), "%s", out);
    cr_assert_str_eq(v, CALIB_SAMPLE_DETECTOR);
    cr_assert_not_null(mf_out_field(out, "run", v, sizeof v), "%s", out);
    cr_assert_eq(strtoul(v, NULL, 10), run, "%s", out);
    int n = snprintf(want, sizeof want, "%u", (unsigned)calib_sample_ngains(run));
    for (uint32_t i = 0; i < calib_sample_ngains(run); i++)
        n += snprintf(want + n, sizeof want - (size_t)n, " %a",
                      calib_sample_gain(run, i));
    cr_assert_not_null(mf_out_field(out, "gains", v, sizeof v), "%s", out);
    cr_assert_str_eq(v, want);
    if (codec_version < 2) {
        cr_assert_null(mf_out_field(out, "temperature", v, sizeof v));
        return;
    }
    cr_assert_not_null(mf_out_field(out, "temperature", v, sizeof v), "%s", out);
    if (stored_version == 1) {
        cr_assert(isnan(strtod(v, NULL)), "temperature %s", v);
    } else {
        snprintf(want, sizeof want, "%a", calib_sample_temperature(run));
        cr_assert_str_eq(v, want);
    }
}

/* ---- the checked-in v1 payload ---------------------------------------------- */

Test(fixture, v1_payload_on_disk_is_read_by_the_v2_codec_with_every_value)
{
    size_t len;
    const unsigned char *bytes = read_bytes(MF_SKEW_FIXTURE_V1, &len);
    cr_assert_eq(len, 59, "fixture is %zu bytes", len);

    /* Stored as any old producer stored it: class calib, version 1. */
    const char *path = mf_test_path("fixture.map");
    mf_file *w;
    cr_assert_eq(mf_open(&w, path, MF_RECREATE, NULL), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_put_raw(w, "calib/tpc", CALIB_CLASS, 1, bytes, len), 0, "%s",
                 mf_errdetail());
    cr_assert_eq(mf_close(w), 0);

    mf_registry *reg = registry_with(MF_SKEW_V2);
    mf_file *mf = open_read(path, reg);
    void *obj;
    const mf_class *cls;
    cr_assert_eq(mf_get(mf, "calib/tpc", &obj, &cls), 0, "%s", mf_errdetail());
    cr_assert_eq(cls->version, 2, "the v2 codec was used");
    cr_assert_eq(cls->min_version, 1);
    assert_sample(obj, MF_SKEW_FIXTURE_RUN, 1);
    mf_object_free(cls, obj);
    mf_close(mf);
    mf_registry_free(reg);

    /* And in a v2 consumer process, which knows only its own header. */
    static char out[4096];
    char *argv[] = {CONSUMER_V2, (char *)path, "calib/tpc", NULL};
    cr_assert_eq(mf_proc_run(MF_SKEW_V2, out, sizeof out, argv), 0, "%s", out);
    assert_printed_sample(out, MF_SKEW_FIXTURE_RUN, 1, 2);
}

Test(fixture, v1_producer_still_writes_the_fixture_bytes)
{
    size_t len;
    const unsigned char *want = read_bytes(MF_SKEW_FIXTURE_V1, &len);
    static unsigned char fixture[4096];
    memcpy(fixture, want, len);
    const char *map = mf_test_path("again.map");
    const char *bin = mf_test_path("again.bin");
    char run[16];
    snprintf(run, sizeof run, "%u", MF_SKEW_FIXTURE_RUN);
    static char out[4096];
    char *argv[] = {PRODUCER_V1, (char *)map, "calib", run, "--payload",
                    (char *)bin, NULL};
    cr_assert_eq(mf_proc_run(MF_SKEW_V1, out, sizeof out, argv), 0, "%s", out);
    size_t got_len;
    const unsigned char *got = read_bytes(bin, &got_len);
    cr_assert_eq(got_len, len);
    cr_assert_arr_eq(got, fixture, len, "the v1 wire format changed");
}

/* ---- live producers and consumers of different versions ---------------------- */

Test(skew, live_v1_producer_is_read_by_a_v2_consumer_process, .timeout = 60)
{
    const char *path = mf_test_path("live.map");
    /* The v2 consumer starts first and waits for run 3 of a file that does
     * not exist yet. */
    mf_proc cons;
    char *cargv[] = {CONSUMER_V2, (char *)path, "calib", "--until-run", "3", NULL};
    cr_assert_eq(mf_proc_start(&cons, MF_SKEW_V2, cargv), 0);

    mf_proc prod;
    char *pargv[] = {PRODUCER_V1, (char *)path, "calib", "1", "--live", NULL};
    cr_assert_eq(mf_proc_start(&prod, MF_SKEW_V1, pargv), 0);
    char line[256];
    cr_assert_not_null(mf_proc_line(&prod, line, sizeof line));
    cr_assert_str_eq(line, "put calib run 1 version 1");

    /* A one-shot v2 consumer reads run 1 while the v1 producer lives. */
    static char out[4096];
    char *oargv[] = {CONSUMER_V2, (char *)path, "calib", NULL};
    cr_assert_eq(mf_proc_run(MF_SKEW_V2, out, sizeof out, oargv), 0, "%s", out);
    assert_printed_sample(out, 1, 1, 2);

    /* The producer moves on; the waiting consumer follows it. */
    cr_assert_eq(mf_proc_send(&prod, "2\n"), 0);
    cr_assert_not_null(mf_proc_line(&prod, line, sizeof line));
    cr_assert_str_eq(line, "put calib run 2 version 1");
    cr_assert_eq(mf_proc_send(&prod, "3\n"), 0);
    cr_assert_not_null(mf_proc_line(&prod, line, sizeof line));
    cr_assert_str_eq(line, "put calib run 3 version 1");

    cr_assert_eq(mf_proc_finish(&cons, out, sizeof out), 0, "%s", out);
    assert_printed_sample(out, 3, 1, 2);
    cr_assert_eq(mf_proc_finish(&prod, NULL, 0), 0);

    /* In this process too, through the v2 plugin. */
    mf_registry *reg = registry_with(MF_SKEW_V2);
    mf_file *mf = open_read(path, reg);
    void *obj;
    const mf_class *cls;
    cr_assert_eq(mf_get(mf, "calib", &obj, &cls), 0, "%s", mf_errdetail());
    assert_sample(obj, 3, 1);
    mf_object_free(cls, obj);
    mf_close(mf);
    mf_registry_free(reg);
}

Test(skew, v2_producer_data_is_read_by_a_v2_consumer_with_the_new_field)
{
    const char *path = mf_test_path("v2.map");
    static char out[4096];
    char *pargv[] = {PRODUCER_V2, (char *)path, "calib", "17", NULL};
    cr_assert_eq(mf_proc_run(MF_SKEW_V2, out, sizeof out, pargv), 0, "%s", out);
    char *cargv[] = {CONSUMER_V2, (char *)path, "calib", NULL};
    cr_assert_eq(mf_proc_run(MF_SKEW_V2, out, sizeof out, cargv), 0, "%s", out);
    assert_printed_sample(out, 17, 2, 2);
}

Test(skew, v2_data_is_refused_by_the_v1_codec_naming_record_class_versions_and_plugin)
{
    const char *path = mf_test_path("newer.map");
    const char *record = "det/tpc/calib-2024";
    static char out[4096];
    char *pargv[] = {PRODUCER_V2, (char *)path, (char *)record, "7", NULL};
    cr_assert_eq(mf_proc_run(MF_SKEW_V2, out, sizeof out, pargv), 0, "%s", out);

    mf_registry *reg = registry_with(MF_SKEW_V1);
    mf_file *mf = open_read(path, reg);
    mf_record_info info;
    cr_assert_eq(mf_stat(mf, record, &info), 0);
    cr_assert_eq(info.class_version, 2);
    cr_assert_str_eq(info.class_name, CALIB_CLASS);

    void *obj = (void *)1;
    const mf_class *cls = NULL;
    int rc = mf_get(mf, record, &obj, &cls);
    cr_assert_eq(rc, MF_ECLASSVERSION, "got %s: %s", mf_err_name(rc), mf_errdetail());
    cr_assert_null(obj, "nothing is returned");
    const char *d = mf_errdetail();
    cr_assert(strstr(d, record), "names the record: %s", d);
    cr_assert(strstr(d, "class 'calib'"), "names the class: %s", d);
    cr_assert(strstr(d, "version 2"), "names the stored version: %s", d);
    cr_assert(strstr(d, "1 to 1"), "names the versions the codec reads: %s", d);
    cr_assert(strstr(d, MF_SKEW_V1 "/calib.so"), "names the plugin file: %s", d);
    mf_close(mf);
    mf_registry_free(reg);

    /* A v1 consumer process gets the same answer. */
    char *cargv[] = {CONSUMER_V1, (char *)path, (char *)record, NULL};
    cr_assert_eq(mf_proc_run(MF_SKEW_V1, out, sizeof out, cargv), 1, "%s", out);
    cr_assert_eq(strncmp(out, "error MF_ECLASSVERSION ", 23), 0, "%s", out);
    cr_assert(strstr(out, "version 2") && strstr(out, "1 to 1") &&
              strstr(out, MF_SKEW_V1 "/calib.so") && strstr(out, record), "%s", out);

    /* The refusal is about the version, not the data: v2 reads it. */
    char *c2argv[] = {CONSUMER_V2, (char *)path, (char *)record, NULL};
    cr_assert_eq(mf_proc_run(MF_SKEW_V2, out, sizeof out, c2argv), 0, "%s", out);
    assert_printed_sample(out, 7, 2, 2);
}

/* ---- vtables across executables ---------------------------------------------- */

static int contains(const void *hay, size_t n, const void *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp((const char *)hay + i, needle, k) == 0)
            return 1;
    return 0;
}

static const char *ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0 ? s : NULL;
}

struct shape_out {
    uintptr_t ops;
    char ops_file[1024];
    double area;
    char describe[1024];
};

static void parse_shape_out(const char *out, struct shape_out *s)
{
    char v[1024];
    cr_assert_not_null(mf_out_field(out, "ops", v, sizeof v), "%s", out);
    char *end;
    s->ops = (uintptr_t)strtoull(v, &end, 16);
    cr_assert_neq(s->ops, 0, "%s", out);
    cr_assert_eq(*end, ' ', "%s", out);
    snprintf(s->ops_file, sizeof s->ops_file, "%s", end + 1);
    cr_assert_not_null(mf_out_field(out, "area", v, sizeof v), "%s", out);
    s->area = strtod(v, NULL);
    cr_assert_not_null(mf_out_field(out, "describe", v, sizeof v), "%s", out);
    snprintf(s->describe, sizeof s->describe, "%s", v);
}

static void share_shape(const char *file, char *const prod_args[], const char *kind)
{
    const char *path = mf_test_path(file);
    const char *name = prod_args[0];
    char *pargv[8] = {MF_SKEW_BIN "/shapes_producer", (char *)path};
    for (int i = 0; prod_args[i]; i++)
        pargv[2 + i] = prod_args[i];
    static char pout[4096], cout[4096];
    cr_assert_eq(mf_proc_run(NULL, pout, sizeof pout, pargv), 0, "%s", pout);
    char *cargv[] = {MF_SKEW_BIN "/shapes_consumer", (char *)path, (char *)name, NULL};
    cr_assert_eq(mf_proc_run(MF_TEST_PLUGIN_DIR, cout, sizeof cout, cargv), 0,
                 "%s", cout);
    printf("%s: producer %s", kind, pout);
    printf("%s: consumer %s", kind, cout);

    struct shape_out p, c;
    parse_shape_out(pout, &p);
    parse_shape_out(cout, &c);
    /* Two executables, two tables: the producer's is linked into it, the
     * consumer's lives in the plugin it loaded. */
    cr_assert(ends_with(p.ops_file, "/shapes_producer"), "%s", p.ops_file);
    cr_assert(ends_with(c.ops_file, "/mapfile-shapes.so"), "%s", c.ops_file);
    cr_assert_neq(p.ops, c.ops);
    char v[64];
    cr_assert_not_null(mf_out_field(cout, "kind", v, sizeof v), "%s", cout);
    cr_assert_str_eq(v, kind);
    /* obj->ops->area(obj) in the consumer gives the producer's value. */
    cr_assert_eq(c.area, p.area, "%a != %a", c.area, p.area);
    cr_assert_not_null(mf_out_field(cout, "call_area", v, sizeof v));
    cr_assert_eq(strtod(v, NULL), p.area);
    cr_assert_str_eq(c.describe, p.describe);

    /* No table address of either process is in the stored bytes. */
    mf_registry *reg = registry_with(MF_TEST_PLUGIN_DIR);
    mf_file *mf = open_read(path, reg);
    void *raw;
    mf_record_info info;
    cr_assert_eq(mf_get_raw_alloc(mf, name, &raw, &info), 0, "%s", mf_errdetail());
    cr_assert_str_eq(info.class_name, kind);
    cr_assert_not(contains(raw, info.size, &p.ops, sizeof p.ops),
                  "the producer's ops pointer is in the payload");
    cr_assert_not(contains(raw, info.size, &c.ops, sizeof c.ops));
    free(raw);
    mf_close(mf);
    mf_registry_free(reg);
}

Test(vtable, circle_from_one_executable_runs_the_other_executables_area)
{
    char *args[] = {"sky/sun", "1.5", "-2.25", "3.3", NULL};
    share_shape("circle.map", args, "circle");
}

Test(vtable, rect_from_one_executable_runs_the_other_executables_area)
{
    char *args[] = {"house/door", "0.1", "0.2", "0.7", "2.3", NULL};
    share_shape("rect.map", args, "rect");
}
