/* test_xproc.c - methods called by name on objects another process wrote
 * (issue 6).
 *
 * A producer process fills histograms and shapes with its statically
 * linked codecs and puts them. This process opens the file read-only with
 * a registry that has only the plugin directory, so every object is
 * rebuilt by mapfile-hist.so or mapfile-shapes.so, and mf_call runs the
 * plugin's functions through libffi. Every result must be exactly (==)
 * what a direct C call of the same function gives, on the rebuilt object
 * and on a reference built here by the same deterministic fills the
 * producer ran. Bad calls are covered by test_call.c. */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mapfile/hist.h>
#include <mapfile/mapfile.h>
#include <mapfile/shapes.h>

#include "testutil.h"

/* ---- the producer's objects ---------------------------------------------- */

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double uniform(uint64_t *s) { return (double)(rng(s) >> 11) * 0x1p-53; }

/* Roughly normal: the sum of four uniforms, centred. */
static double bell(uint64_t *s)
{
    return uniform(s) + uniform(s) + uniform(s) + uniform(s) - 2.0;
}

static mf_hist1d *make_hist1d(void)
{
    mf_hist1d *h = mf_hist1d_new("xproc energy", 80, -3.0, 5.0);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 20000; i++)
        mf_hist1d_fill_w(h, 1.5 * bell(&s) + 0.7, 0.5 + uniform(&s));
    mf_hist1d_fill(h, -100);  /* underflow */
    mf_hist1d_fill(h, 5.0);   /* overflow: x == max */
    mf_hist1d_fill(h, 1e300); /* overflow */
    return h;
}

static mf_hist2d *make_hist2d(void)
{
    mf_hist2d *h = mf_hist2d_new("xproc hitmap", 24, -2.0, 2.0, 16, 0.0, 8.0);
    uint64_t s = 12345;
    for (int i = 0; i < 30000; i++) {
        double x = bell(&s);
        double y = 4.0 + 2.0 * bell(&s) + 0.5 * x;
        mf_hist2d_fill_w(h, x, y, 0.25 + uniform(&s));
    }
    mf_hist2d_fill(h, -5, 4);  /* x underflow */
    mf_hist2d_fill(h, 0, 100); /* y overflow */
    return h;
}

static mf_profile *make_profile(void)
{
    mf_profile *p = mf_profile_new("xproc response", 40, 0.0, 10.0);
    uint64_t s = 777;
    for (int i = 0; i < 25000; i++) {
        double x = 10.0 * uniform(&s);
        mf_profile_fill_w(p, x, 3.0 + 0.4 * x + bell(&s), 0.5 + uniform(&s));
    }
    mf_profile_fill(p, -1, 2);  /* underflow */
    mf_profile_fill(p, 11, 9);  /* overflow */
    return p;
}

static mf_circle *make_circle(void) { return mf_circle_new("pad", 1.25, -0.5, 0.3); }
static mf_rect *make_rect(void) { return mf_rect_new("module", -1, 2, 0.1, 7.3); }

/* The producer: another process, its own registry of in-process codecs. */
static pid_t spawn_producer(const char *path)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    mf_registry *reg;
    if (mf_registry_create(&reg) || mf_registry_add_class(reg, &mf_hist1d_class) ||
        mf_registry_add_class(reg, &mf_hist2d_class) ||
        mf_registry_add_class(reg, &mf_profile_class) ||
        mf_registry_add_class(reg, &mf_circle_class) ||
        mf_registry_add_class(reg, &mf_rect_class))
        _exit(2);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = reg;
    mf_file *mf;
    if (mf_open(&mf, path, MF_RECREATE, &o))
        _exit(3);
    mf_hist1d *h1 = make_hist1d();
    mf_hist2d *h2 = make_hist2d();
    mf_profile *pr = make_profile();
    mf_circle *c = make_circle();
    mf_rect *r = make_rect();
    if (mf_put(mf, "h1", "hist1d", h1) || mf_put(mf, "h2", "hist2d", h2) ||
        mf_put(mf, "prof", "profile", pr) || mf_put(mf, "circle", "circle", c) ||
        mf_put(mf, "rect", "rect", r)) {
        fprintf(stderr, "producer: %s\n", mf_errdetail());
        _exit(4);
    }
    mf_close(mf);
    _exit(0);
}

/* ---- the consumer side ------------------------------------------------------- */

static mf_registry *creg;
static mf_file *cmf;

/* Produce in another process, then open with only the plugin directory. */
static void setup(void)
{
    unsetenv("MAPFILE_PLUGIN_PATH");
    const char *path = mf_test_path("xproc.map");
    pid_t pid = spawn_producer(path);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer failed: %d", st);
    cr_assert_eq(mf_registry_create(&creg), 0);
    cr_assert_eq(mf_registry_add_path(creg, MF_TEST_PLUGIN_DIR), 0);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = creg;
    cr_assert_eq(mf_open(&cmf, path, MF_READ, &o), 0, "%s", mf_errdetail());
}

static void teardown(void)
{
    mf_close(cmf);
    mf_registry_free(creg);
}

TestSuite(xproc, .init = setup, .fini = teardown);

static const char *object_file(const void *addr)
{
    Dl_info dl;
    return dladdr(addr, &dl) && dl.dli_fname ? dl.dli_fname : "?";
}

/* Get a record; its codec must come from the plugin, not from the copy of
 * the code linked into this test. */
static void *get_from_plugin(const char *name, const mf_class *static_cls,
                             const char *module, const mf_class **cls)
{
    void *obj;
    cr_assert_eq(mf_get(cmf, name, &obj, cls), 0, "%s", mf_errdetail());
    cr_assert_neq(*cls, static_cls, "%s was rebuilt by the linked-in codec", name);
    cr_assert(strstr(object_file(*cls), module), "%s codec lives in %s", name,
              object_file(*cls));
    for (const mf_method *m = (*cls)->methods; m && m->name; m++)
        cr_assert(strstr(object_file((const void *)(uintptr_t)m->fn), module),
                  "method %s runs from %s", m->name,
                  object_file((const void *)(uintptr_t)m->fn));
    return obj;
}

static mf_value arg_i(int64_t v)
{
    mf_value a;
    a.type = MF_T_I64;
    a.v.i = v;
    return a;
}

static mf_value arg_d(double v)
{
    mf_value a;
    a.type = MF_T_F64;
    a.v.d = v;
    return a;
}

static double call_d(const mf_class *cls, void *obj, const char *m,
                     const mf_value *args, size_t n)
{
    mf_value ret;
    int rc = mf_call(cls, obj, m, args, n, &ret);
    cr_assert_eq(rc, 0, "mf_call %s: %s", m, mf_errdetail());
    cr_assert_eq(ret.type, MF_T_F64, "%s returns a double", m);
    return ret.v.d;
}

static int64_t call_i(const mf_class *cls, void *obj, const char *m,
                      const mf_value *args, size_t n)
{
    mf_value ret;
    int rc = mf_call(cls, obj, m, args, n, &ret);
    cr_assert_eq(rc, 0, "mf_call %s: %s", m, mf_errdetail());
    cr_assert_eq(ret.type, MF_T_I64, "%s returns an int64", m);
    return ret.v.i;
}

/* Three values that must be the same double: by name on the rebuilt
 * object, directly on the rebuilt object, directly on the reference. */
#define ASSERT_SAME3(called, direct, ref, what, ...)                             \
    do {                                                                         \
        double c_ = (called), d_ = (direct), r_ = (ref);                         \
        cr_assert(c_ == d_ && d_ == r_, what ": call %a, direct %a, reference %a", \
                  __VA_ARGS__, c_, d_, r_);                                      \
    } while (0)

/* X-values for find_bin: edges, centres, out of range, infinities, NaN. */
static const double probe_x[] = {-INFINITY, -1e300, -3.0000001, -3.0, -2.95, -1.0,
                                 -0.0, 0.0, 0.05, 0.1, 0.7, 1.234567, 2.5, 4.9,
                                 4.9999999, 5.0, 7.5, 9.99, 10.0, 1e300, INFINITY,
                                 NAN};
#define NPROBE (sizeof probe_x / sizeof probe_x[0])

/* ---- hist1d ------------------------------------------------------------------ */

Test(xproc, hist1d_methods_by_name_equal_direct_calls_on_the_producers_histogram)
{
    const mf_class *cls;
    mf_hist1d *h = get_from_plugin("h1", &mf_hist1d_class, "mapfile-hist.so", &cls);
    mf_hist1d *ref = make_hist1d();

    static const struct {
        const char *name;
        double (*fn)(const mf_hist1d *);
    } stats[] = {{"entries", mf_hist1d_entries},
                 {"mean", mf_hist1d_mean},
                 {"rms", mf_hist1d_rms},
                 {"integral", mf_hist1d_integral}};
    for (size_t k = 0; k < sizeof stats / sizeof stats[0]; k++)
        ASSERT_SAME3(call_d(cls, h, stats[k].name, NULL, 0), stats[k].fn(h),
                     stats[k].fn(ref), "%s", stats[k].name);
    cr_assert_gt(mf_hist1d_entries(h), 20000, "the producer's fills arrived");

    for (int i = -2; i <= h->xaxis.nbins + 3; i++) {
        mf_value a = arg_i(i);
        ASSERT_SAME3(call_d(cls, h, "bin_content", &a, 1),
                     mf_hist1d_bin_content(h, i), mf_hist1d_bin_content(ref, i),
                     "bin_content(%d)", i);
    }
    for (size_t k = 0; k < NPROBE; k++) {
        mf_value a = arg_d(probe_x[k]);
        int64_t got = call_i(cls, h, "find_bin", &a, 1);
        cr_assert(got == mf_hist1d_find_bin(h, probe_x[k]) &&
                  got == mf_hist1d_find_bin(ref, probe_x[k]),
                  "find_bin(%g) = %lld", probe_x[k], (long long)got);
    }
    int64_t mb = call_i(cls, h, "maximum_bin", NULL, 0);
    cr_assert(mb == mf_hist1d_maximum_bin(h) && mb == mf_hist1d_maximum_bin(ref),
              "maximum_bin %lld", (long long)mb);
    cr_assert(mb >= 1 && mb <= h->xaxis.nbins);

    mf_object_free(cls, h);
    mf_hist1d_free(ref);
}

/* ---- hist2d ------------------------------------------------------------------ */

Test(xproc, hist2d_methods_by_name_equal_direct_calls_on_the_producers_histogram)
{
    const mf_class *cls;
    mf_hist2d *h = get_from_plugin("h2", &mf_hist2d_class, "mapfile-hist.so", &cls);
    mf_hist2d *ref = make_hist2d();

    static const struct {
        const char *name;
        double (*fn)(const mf_hist2d *);
    } stats[] = {{"entries", mf_hist2d_entries}, {"mean_x", mf_hist2d_mean_x},
                 {"mean_y", mf_hist2d_mean_y},   {"rms_x", mf_hist2d_rms_x},
                 {"rms_y", mf_hist2d_rms_y},     {"integral", mf_hist2d_integral}};
    for (size_t k = 0; k < sizeof stats / sizeof stats[0]; k++)
        ASSERT_SAME3(call_d(cls, h, stats[k].name, NULL, 0), stats[k].fn(h),
                     stats[k].fn(ref), "%s", stats[k].name);

    int nx = h->xaxis.nbins, ny = h->yaxis.nbins;
    for (int bx = -1; bx <= nx + 2; bx++)
        for (int by = -1; by <= ny + 2; by++) {
            mf_value a[2] = {arg_i(bx), arg_i(by)};
            ASSERT_SAME3(call_d(cls, h, "bin_content", a, 2),
                         mf_hist2d_bin_content(h, bx, by),
                         mf_hist2d_bin_content(ref, bx, by), "bin_content(%d, %d)",
                         bx, by);
        }
    for (int g = -1; g <= (nx + 2) * (ny + 2); g++) {
        mf_value a = arg_i(g);
        ASSERT_SAME3(call_d(cls, h, "global_bin_content", &a, 1),
                     mf_hist2d_global_bin_content(h, g),
                     mf_hist2d_global_bin_content(ref, g), "global_bin_content(%d)", g);
    }
    for (size_t i = 0; i < NPROBE; i++)
        for (size_t j = 0; j < NPROBE; j += 3) {
            double x = probe_x[i] / 2, y = probe_x[j] + 3;
            mf_value a[2] = {arg_d(x), arg_d(y)};
            int64_t got = call_i(cls, h, "find_bin", a, 2);
            cr_assert(got == mf_hist2d_find_bin(h, x, y) &&
                      got == mf_hist2d_find_bin(ref, x, y),
                      "find_bin(%g, %g) = %lld", x, y, (long long)got);
        }
    int64_t mb = call_i(cls, h, "maximum_bin", NULL, 0);
    cr_assert(mb == mf_hist2d_maximum_bin(h) && mb == mf_hist2d_maximum_bin(ref),
              "maximum_bin %lld", (long long)mb);

    mf_object_free(cls, h);
    mf_hist2d_free(ref);
}

/* ---- profile ------------------------------------------------------------------ */

Test(xproc, profile_methods_by_name_equal_direct_calls_on_the_producers_profile)
{
    const mf_class *cls;
    mf_profile *p = get_from_plugin("prof", &mf_profile_class, "mapfile-hist.so", &cls);
    mf_profile *ref = make_profile();

    static const struct {
        const char *name;
        double (*fn)(const mf_profile *);
    } stats[] = {{"entries", mf_profile_entries}, {"mean", mf_profile_mean},
                 {"rms", mf_profile_rms},         {"mean_y", mf_profile_mean_y},
                 {"rms_y", mf_profile_rms_y}};
    for (size_t k = 0; k < sizeof stats / sizeof stats[0]; k++)
        ASSERT_SAME3(call_d(cls, p, stats[k].name, NULL, 0), stats[k].fn(p),
                     stats[k].fn(ref), "%s", stats[k].name);

    static const struct {
        const char *name;
        double (*fn)(const mf_profile *, int);
    } per_bin[] = {{"bin_content", mf_profile_bin_content},
                   {"bin_entries", mf_profile_bin_entries},
                   {"bin_error", mf_profile_bin_error}};
    for (size_t k = 0; k < sizeof per_bin / sizeof per_bin[0]; k++)
        for (int i = -2; i <= p->xaxis.nbins + 3; i++) {
            mf_value a = arg_i(i);
            ASSERT_SAME3(call_d(cls, p, per_bin[k].name, &a, 1), per_bin[k].fn(p, i),
                         per_bin[k].fn(ref, i), "%s(%d)", per_bin[k].name, i);
        }
    cr_assert_gt(mf_profile_bin_error(p, 20), 0, "bins hold a spread");
    for (size_t k = 0; k < NPROBE; k++) {
        mf_value a = arg_d(probe_x[k]);
        int64_t got = call_i(cls, p, "find_bin", &a, 1);
        cr_assert(got == mf_profile_find_bin(p, probe_x[k]) &&
                  got == mf_profile_find_bin(ref, probe_x[k]),
                  "find_bin(%g) = %lld", probe_x[k], (long long)got);
    }

    mf_object_free(cls, p);
    mf_profile_free(ref);
}

/* ---- shapes ------------------------------------------------------------------- */

static void check_shape(const char *name, const mf_class *static_cls,
                        const struct mf_shape_ops *static_ops, void *ref)
{
    const mf_class *cls;
    void *obj = get_from_plugin(name, static_cls, "mapfile-shapes.so", &cls);
    cr_assert_neq(mf_shape_ops_of(obj), static_ops, "rebuilt with the plugin's table");
    /* This process's own copy of the function, called directly. */
    double direct = static_ops->area(obj);
    ASSERT_SAME3(call_d(cls, obj, "area", NULL, 0), direct, mf_shape_area(ref),
                 "%s area", name);
    cr_assert_eq(mf_shape_area(obj), direct, "through the object's own vtable");

    mf_value ret;
    cr_assert_eq(mf_call(cls, obj, "describe", NULL, 0, &ret), 0, "%s", mf_errdetail());
    cr_assert_eq(ret.type, MF_T_STR);
    char *by_name = strdup(ret.v.s);
    cr_assert_str_eq(by_name, static_ops->describe(obj));
    cr_assert_str_eq(by_name, mf_shape_describe(ref));
    free(by_name);
    mf_object_free(cls, obj);
}

Test(xproc, shape_area_and_describe_by_name_equal_direct_calls)
{
    mf_circle *c = make_circle();
    mf_rect *r = make_rect();
    check_shape("circle", &mf_circle_class, &mf_circle_ops, c);
    check_shape("rect", &mf_rect_class, &mf_rect_ops, r);
    mf_circle_free(c);
    mf_rect_free(r);
}
