/* test_hist.c - the hist1d, hist2d and profile codecs: filling, round
 * trips through the wire format, JSON, printing, hostile payloads, versions,
 * methods and the plugin module. */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mapfile/codec.h>
#include <mapfile/hist.h>
#include <mapfile/mapfile.h>

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */


/* Encodes obj; returns the malloc'd payload and its length. */
static unsigned char *encode(const mf_class *cls, const void *obj, size_t *len)
{
    mf_writer w = mf_test_writer();
    cr_assert_eq(cls->stream_out(obj, &w), 0, "stream_out of %s failed", cls->name);
    cr_assert_eq(w.err, 0);
    *len = w.len;
    return w.buf;
}

/* Decodes exactly len bytes from a private copy, so that ASan sees any read
 * outside the payload. Makes no assertion (Criterion allocates for each),
 * so loops can measure the heap around it; *bad is set when the codec
 * breaks its contract (an object with an error, NULL without one, or
 * unread bytes). */
static void *try_decode(const mf_class *cls, const void *p, size_t len,
                        uint32_t version, int *err, int *bad)
{
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    if (len)
        memcpy(copy, p, len);
    mf_reader r = mf_reader_make(copy, len);
    void *obj = cls->stream_in(&r, version);
    *err = r.err;
    *bad = obj ? r.err != 0 || r.pos != len : r.err == 0;
    free(copy);
    return obj;
}

static void *decode_ver(const mf_class *cls, const void *p, size_t len,
                        uint32_t version, int *err)
{
    int bad;
    void *obj = try_decode(cls, p, len, version, err, &bad);
    cr_assert(!bad, "%s broke the stream_in contract: object %p, error %d",
              cls->name, obj, *err);
    return obj;
}

static void *decode(const mf_class *cls, const void *p, size_t len, int *err)
{
    return decode_ver(cls, p, len, cls->version, err);
}

#ifndef HAVE_LSAN
/* glibc's per-thread cache keeps freed chunks counted as "in use" by
 * mallinfo2(), which would hide or fake leaks. Only an environment tunable
 * turns it off, so the test re-executes itself once with it set. */
__attribute__((constructor)) static void reexec_without_tcache(void)
{
    if (getenv("MF_TEST_NO_TCACHE"))
        return;
    /* Under valgrind an exec would escape it; valgrind checks leaks itself. */
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload"))
        return;
    static char cmdline[65536];
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (!f)
        return;
    size_t n = fread(cmdline, 1, sizeof cmdline - 1, f);
    fclose(f);
    if (n == 0 || n >= sizeof cmdline - 1)
        return;
    char *argv[256];
    int argc = 0;
    for (size_t i = 0; i < n && argc < 255; i += strlen(cmdline + i) + 1)
        argv[argc++] = cmdline + i;
    argv[argc] = NULL;
    const char *old = getenv("GLIBC_TUNABLES");
    char tun[1024];
    snprintf(tun, sizeof tun, "%s%sglibc.malloc.tcache_count=0",
             old ? old : "", old ? ":" : "");
    setenv("GLIBC_TUNABLES", tun, 1);
    setenv("MF_TEST_NO_TCACHE", "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: run anyway; the leak checks warm caches first. */
}
#endif

/* Bytes of heap in use, to prove that a failing decode frees everything.
 * Under ASan the allocator is ASan's, so LeakSanitizer does the check. */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks;
}

static void assert_no_leak_since(size_t before, const char *what)
{
#ifdef HAVE_LSAN
    (void)before;
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
                 "%s leaked (see the LeakSanitizer report)", what);
#else
    cr_assert_eq(heap_in_use(), before, "%s leaked %zd bytes", what,
                 (ssize_t)(heap_in_use() - before));
#endif
}

/* Deterministic generator so every run checks the same data. */
static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s ? s : 0x9e3779b97f4a7c15u; }
static uint64_t rng_u64(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717u;
}
static double rng_unit(void) { return (double)(rng_u64() >> 11) * 0x1.0p-53; }
static double rng_gauss(void)
{
    double u = rng_unit(), v = rng_unit();
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * 3.14159265358979323846 * v);
}

static mf_hist1d *filled_hist1d(void)
{
    mf_hist1d *h = mf_hist1d_new("px distribution", 100, -4, 4);
    cr_assert_not_null(h);
    rng_seed(1);
    for (int i = 0; i < 5000; i++)
        mf_hist1d_fill_w(h, 1.5 * rng_gauss(), 0.5 + rng_unit());
    return h;
}

static mf_hist2d *filled_hist2d(void)
{
    mf_hist2d *h = mf_hist2d_new("py vs px", 40, -4, 4, 30, -3, 3);
    cr_assert_not_null(h);
    rng_seed(2);
    for (int i = 0; i < 5000; i++)
        mf_hist2d_fill_w(h, 1.5 * rng_gauss(), 1.5 * rng_gauss(), 0.5 + rng_unit());
    return h;
}

static mf_profile *filled_profile(void)
{
    mf_profile *p = mf_profile_new("pz vs px", 100, -4, 4);
    cr_assert_not_null(p);
    rng_seed(3);
    for (int i = 0; i < 5000; i++) {
        double x = 1.5 * rng_gauss(), y = rng_gauss();
        mf_profile_fill_w(p, x, x * x + y * y, 0.5 + rng_unit());
    }
    return p;
}

static void assert_doubles_identical(const double *a, const double *b, size_t n,
                                     const char *what)
{
    cr_assert_eq(memcmp(a, b, n * sizeof(double)), 0, "%s differ", what);
}

/* The output of print() as a malloc'd string. */
static char *print_to_string(const mf_class *cls, const void *obj)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cls->print(obj, f);
    cr_assert_eq(fclose(f), 0);
    return buf;
}

static char *json_of(const mf_class *cls, const void *obj)
{
    mf_writer w = mf_test_writer();
    cr_assert_eq(cls->to_json(obj, &w), 0);
    cr_assert_eq(w.reserve(&w, 1), 0);
    w.buf[w.len] = '\0';
    return (char *)w.buf;
}

/* ------------------------------------------------------------------------ */
/* A small strict JSON parser, enough to check what to_json writes          */
/* ------------------------------------------------------------------------ */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
    int type;
    double num;
    char *str;
    size_t n;
    struct jv *items; /* array items or object values */
    char **keys;      /* object keys */
} jv;

static void jv_free(jv *v)
{
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
}

static void skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')
        (*p)++;
}

static int parse_value(const char **p, jv *out, int depth);

static int parse_string(const char **p, char **out)
{
    const char *s = *p;
    if (*s++ != '"')
        return -1;
    size_t cap = strlen(s) + 1, n = 0;
    char *d = malloc(cap);
    cr_assert_not_null(d);
    while (*s && *s != '"') {
        unsigned char c = (unsigned char)*s++;
        if (c < 0x20)
            goto bad;
        if (c != '\\') {
            d[n++] = (char)c;
            continue;
        }
        switch (*s++) {
        case '"': d[n++] = '"'; break;
        case '\\': d[n++] = '\\'; break;
        case '/': d[n++] = '/'; break;
        case 'b': d[n++] = '\b'; break;
        case 'f': d[n++] = '\f'; break;
        case 'n': d[n++] = '\n'; break;
        case 'r': d[n++] = '\r'; break;
        case 't': d[n++] = '\t'; break;
        case 'u': {
            unsigned v = 0;
            for (int i = 0; i < 4; i++, s++) {
                char h = *s;
                if (h >= '0' && h <= '9') v = v * 16 + (unsigned)(h - '0');
                else if (h >= 'a' && h <= 'f') v = v * 16 + (unsigned)(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F') v = v * 16 + (unsigned)(h - 'A' + 10);
                else goto bad;
            }
            if (v >= 0x80) /* our codecs only escape control characters */
                goto bad;
            d[n++] = (char)v;
            break;
        }
        default:
            goto bad;
        }
    }
    if (*s != '"')
        goto bad;
    d[n] = '\0';
    *out = d;
    *p = s + 1;
    return 0;
bad:
    free(d);
    return -1;
}

static int parse_number(const char **p, double *out)
{
    const char *s = *p;
    /* JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return -1;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return -1;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return -1;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    *out = strtod(*p, NULL);
    *p = s;
    return 0;
}

static void jv_push(jv *v, size_t *cap, jv item, char *key)
{
    if (v->n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        v->items = realloc(v->items, *cap * sizeof *v->items);
        cr_assert_not_null(v->items);
        if (v->type == J_OBJ) {
            v->keys = realloc(v->keys, *cap * sizeof *v->keys);
            cr_assert_not_null(v->keys);
        }
    }
    v->items[v->n] = item;
    if (v->type == J_OBJ)
        v->keys[v->n] = key;
    v->n++;
}

static int parse_container(const char **p, jv *out, int depth, int obj)
{
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    out->type = obj ? J_OBJ : J_ARR;
    (*p)++;
    skip_ws(p);
    if (**p == (obj ? '}' : ']')) {
        (*p)++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        jv item;
        skip_ws(p);
        if (obj) {
            if (parse_string(p, &key) != 0)
                return -1;
            skip_ws(p);
            if (*(*p)++ != ':') {
                free(key);
                return -1;
            }
        }
        if (parse_value(p, &item, depth + 1) != 0) {
            free(key);
            return -1;
        }
        jv_push(out, &cap, item, key);
        skip_ws(p);
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (*(*p)++ != (obj ? '}' : ']'))
            return -1;
        return 0;
    }
}

static int parse_value(const char **p, jv *out, int depth)
{
    memset(out, 0, sizeof *out);
    if (depth > 32)
        return -1;
    skip_ws(p);
    switch (**p) {
    case '{': return parse_container(p, out, depth, 1);
    case '[': return parse_container(p, out, depth, 0);
    case '"':
        out->type = J_STR;
        return parse_string(p, &out->str);
    case 'n':
        if (strncmp(*p, "null", 4))
            return -1;
        *p += 4;
        out->type = J_NULL;
        return 0;
    case 't':
    case 'f':
        out->type = J_BOOL;
        if (!strncmp(*p, "true", 4)) { *p += 4; return 0; }
        if (!strncmp(*p, "false", 5)) { *p += 5; return 0; }
        return -1;
    default:
        out->type = J_NUM;
        return parse_number(p, &out->num);
    }
}

/* Parses a whole document; fails the test on any syntax error. */
static jv json_parse(const char *text)
{
    jv v;
    const char *p = text;
    int rc = parse_value(&p, &v, 0);
    skip_ws(&p);
    if (rc != 0 || *p != '\0') {
        jv_free(&v);
        cr_assert_fail("invalid JSON near offset %td: %s", p - text, text);
    }
    return v;
}

static const jv *jget(const jv *o, const char *key, int type)
{
    cr_assert_eq(o->type, J_OBJ);
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) {
            cr_assert_eq(o->items[i].type, type, "key %s has type %d, want %d",
                         key, o->items[i].type, type);
            return &o->items[i];
        }
    cr_assert_fail("JSON has no key \"%s\"", key);
    return NULL;
}

static void check_json_axis(const jv *doc, const char *key, const mf_axis *a)
{
    const jv *ax = jget(doc, key, J_OBJ);
    cr_assert_eq(jget(ax, "nbins", J_NUM)->num, a->nbins);
    cr_assert_eq(jget(ax, "min", J_NUM)->num, a->min);
    cr_assert_eq(jget(ax, "max", J_NUM)->num, a->max);
}

static void check_json_array(const jv *doc, const char *key, const double *v,
                             size_t n)
{
    const jv *arr = jget(doc, key, J_ARR);
    cr_assert_eq(arr->n, n, "%s has %zu items, want %zu", key, arr->n, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(arr->items[i].num, v[i], "%s[%zu] %.17g != %.17g", key, i,
                     arr->items[i].num, v[i]);
}

/* Calls method `name` of cls (which must have signature sig). */
static void (*method(const mf_class *cls, const char *name, const char *sig))(void)
{
    for (const mf_method *m = cls->methods; m && m->name; m++)
        if (!strcmp(m->name, name)) {
            cr_assert_str_eq(m->signature, sig, "%s.%s", cls->name, name);
            cr_assert_eq(m->struct_size, sizeof(mf_method));
            return m->fn;
        }
    cr_assert_fail("%s has no method %s", cls->name, name);
    return NULL;
}

typedef double (*fn_d_o)(void *);
typedef double (*fn_d_oi)(void *, int64_t);
typedef double (*fn_d_oii)(void *, int64_t, int64_t);
typedef int64_t (*fn_i_o)(void *);
typedef int64_t (*fn_i_od)(void *, double);
typedef int64_t (*fn_i_odd)(void *, double, double);

/* ------------------------------------------------------------------------ */
/* Filling and statistics                                                   */
/* ------------------------------------------------------------------------ */

Test(hist1d, fill_uses_root_binning_with_underflow_and_overflow)
{
    mf_hist1d *h = mf_hist1d_new("t", 4, 0, 8);
    cr_assert_eq(mf_hist1d_fill(h, 0.0), 1);
    cr_assert_eq(mf_hist1d_fill(h, 1.999), 1);
    cr_assert_eq(mf_hist1d_fill(h, 2.0), 2);
    cr_assert_eq(mf_hist1d_fill(h, nextafter(8.0, 0.0)), 4);
    cr_assert_eq(mf_hist1d_fill(h, 8.0), 5);
    cr_assert_eq(mf_hist1d_fill(h, 1e300), 5);
    cr_assert_eq(mf_hist1d_fill(h, -1e-9), 0);
    cr_assert_eq(mf_hist1d_fill(h, -INFINITY), 0);
    cr_assert_eq(mf_hist1d_fill(h, NAN), 0);
    cr_assert_eq(mf_hist1d_bin_content(h, 0), 3);
    cr_assert_eq(mf_hist1d_bin_content(h, 1), 2);
    cr_assert_eq(mf_hist1d_bin_content(h, 5), 2);
    cr_assert_eq(mf_hist1d_entries(h), 9);
    cr_assert_eq(mf_hist1d_integral(h), 4, "integral excludes under/overflow");
    cr_assert_eq(h->sumw, 4, "statistics exclude under/overflow");
    cr_assert(isfinite(mf_hist1d_mean(h)), "NaN fill must not poison the mean");
    mf_hist1d_free(h);

    /* x - min rounds up to the full width here: still the last real bin. */
    h = mf_hist1d_new("t", 100, -4, 4);
    cr_assert_eq(mf_hist1d_fill(h, nextafter(4.0, -INFINITY)), 100);
    cr_assert_eq(mf_hist1d_find_bin(h, nextafter(4.0, -INFINITY)), 100);
    mf_hist1d_free(h);
}

Test(hist1d, mean_rms_and_maximum_bin_follow_the_fills)
{
    mf_hist1d *h = mf_hist1d_new(NULL, 10, 0, 10);
    cr_assert_str_eq(h->title, "");
    cr_assert_eq(mf_hist1d_mean(h), 0, "empty mean is 0");
    cr_assert_eq(mf_hist1d_rms(h), 0, "empty rms is 0");
    mf_hist1d_fill(h, 1.0);
    mf_hist1d_fill(h, 2.0);
    mf_hist1d_fill(h, 3.0);
    mf_hist1d_fill_w(h, 7.5, 2.0);
    /* weights 1,1,1,2: mean = (1+2+3+15)/5 = 4.2 */
    cr_assert_float_eq(mf_hist1d_mean(h), 4.2, 1e-12);
    double ex2 = (1 + 4 + 9 + 2 * 56.25) / 5.0;
    cr_assert_float_eq(mf_hist1d_rms(h), sqrt(ex2 - 4.2 * 4.2), 1e-12);
    cr_assert_eq(mf_hist1d_maximum_bin(h), 8);
    cr_assert_eq(mf_hist1d_find_bin(h, 7.5), 8);
    cr_assert_float_eq(mf_hist1d_bin_center(h, 8), 7.5, 1e-12);
    cr_assert_float_eq(mf_hist1d_bin_low_edge(h, 8), 7.0, 1e-12);
    cr_assert_eq(mf_hist1d_bin_content(h, -1), 0);
    cr_assert_eq(mf_hist1d_bin_content(h, 12), 0);
    mf_hist1d_reset(h);
    cr_assert_eq(mf_hist1d_entries(h), 0);
    cr_assert_eq(mf_hist1d_integral(h), 0);
    cr_assert_eq(mf_hist1d_bin_content(h, 8), 0);
    cr_assert_eq(h->sumwx2, 0);
    mf_hist1d_free(h);
}

Test(hist1d, new_rejects_bad_axes)
{
    cr_assert_null(mf_hist1d_new("t", 0, 0, 1));
    cr_assert_null(mf_hist1d_new("t", -5, 0, 1));
    cr_assert_null(mf_hist1d_new("t", 10, 1, 1));
    cr_assert_null(mf_hist1d_new("t", 10, 2, 1));
    cr_assert_null(mf_hist1d_new("t", 10, NAN, 1));
    cr_assert_null(mf_hist1d_new("t", 10, 0, INFINITY));
    cr_assert_null(mf_hist1d_new("t", 10, -1e308, 1e308), "width overflows");
    cr_assert_null(mf_hist1d_new("t", MF_HIST_MAX_CELLS, 0, 1));
}

Test(hist2d, fill_uses_global_bins_and_in_range_statistics)
{
    mf_hist2d *h = mf_hist2d_new("t", 4, 0, 4, 2, 0, 2);
    cr_assert_eq(mf_hist2d_bin(h, 1, 1), 1 + 6 * 1);
    cr_assert_eq(mf_hist2d_bin(h, 6, 0), -1);
    cr_assert_eq(mf_hist2d_fill(h, 0.5, 0.5), mf_hist2d_bin(h, 1, 1));
    cr_assert_eq(mf_hist2d_fill(h, 3.5, 1.5), mf_hist2d_bin(h, 4, 2));
    cr_assert_eq(mf_hist2d_fill_w(h, 3.5, 1.5, 2), mf_hist2d_bin(h, 4, 2));
    cr_assert_eq(mf_hist2d_fill(h, -1, 5), mf_hist2d_bin(h, 0, 3));
    cr_assert_eq(mf_hist2d_bin_content(h, 4, 2), 3);
    cr_assert_eq(mf_hist2d_bin_content(h, 0, 3), 1);
    cr_assert_eq(mf_hist2d_bin_content(h, 9, 9), 0);
    cr_assert_eq(mf_hist2d_global_bin_content(h, mf_hist2d_bin(h, 4, 2)), 3);
    cr_assert_eq(mf_hist2d_global_bin_content(h, 6 * 4), 0);
    cr_assert_eq(mf_hist2d_global_bin_content(h, -1), 0);
    cr_assert_eq(mf_hist2d_entries(h), 4);
    cr_assert_eq(mf_hist2d_integral(h), 4);
    cr_assert_eq(mf_hist2d_maximum_bin(h), mf_hist2d_bin(h, 4, 2));
    cr_assert_float_eq(h->sumwxy, 0.5 * 0.5 + 3 * 3.5 * 1.5, 1e-12);
    cr_assert_float_eq(mf_hist2d_mean_x(h), (0.5 + 3 * 3.5) / 4, 1e-12);
    cr_assert_float_eq(mf_hist2d_mean_y(h), (0.5 + 3 * 1.5) / 4, 1e-12);
    cr_assert_float_eq(mf_hist2d_rms_y(h), sqrt((0.25 + 3 * 2.25) / 4 - 1.25 * 1.25), 1e-12);
    cr_assert_float_eq(mf_hist2d_rms_x(h), sqrt((0.25 + 3 * 12.25) / 4 - 2.75 * 2.75), 1e-12);
    mf_hist2d_reset(h);
    cr_assert_eq(mf_hist2d_entries(h), 0);
    cr_assert_eq(mf_hist2d_bin_content(h, 4, 2), 0);
    mf_hist2d_free(h);
}

Test(hist2d, new_rejects_too_many_cells)
{
    cr_assert_null(mf_hist2d_new("t", 10000, 0, 1, 10000, 0, 1));
    cr_assert_null(mf_hist2d_new("t", 10, 0, 1, 0, 0, 1));
    cr_assert_null(mf_hist2d_new("t", 10, 0, 1, 10, 1, 0));
}

Test(profile, bins_hold_the_mean_of_y_and_its_error)
{
    mf_profile *p = mf_profile_new("t", 2, 0, 2);
    mf_profile_fill(p, 0.5, 1.0);
    mf_profile_fill(p, 0.5, 3.0);
    mf_profile_fill(p, 1.5, 10.0);
    mf_profile_fill(p, 5.0, 100.0);
    cr_assert_eq(mf_profile_bin_content(p, 1), 2.0);
    cr_assert_eq(mf_profile_bin_entries(p, 1), 2.0);
    cr_assert_float_eq(mf_profile_bin_error(p, 1), 1.0 / sqrt(2.0), 1e-12);
    cr_assert_eq(mf_profile_bin_content(p, 2), 10.0);
    cr_assert_eq(mf_profile_bin_content(p, 3), 100.0, "overflow keeps its mean");
    cr_assert_eq(mf_profile_bin_content(p, 0), 0.0, "empty bin mean is 0");
    cr_assert_eq(mf_profile_bin_content(p, 4), 0.0);
    cr_assert_eq(mf_profile_bin_error(p, -1), 0.0);
    cr_assert_eq(mf_profile_entries(p), 4);
    cr_assert_float_eq(mf_profile_mean(p), (0.5 + 0.5 + 1.5) / 3, 1e-12);
    cr_assert_float_eq(mf_profile_mean_y(p), 14.0 / 3, 1e-12);
    cr_assert_float_eq(mf_profile_rms(p), sqrt((0.25 + 0.25 + 2.25) / 3 - (2.5 / 3) * (2.5 / 3)), 1e-12);
    cr_assert_float_eq(mf_profile_rms_y(p), sqrt((1 + 9 + 100) / 3.0 - (14.0 / 3) * (14.0 / 3)), 1e-12);
    cr_assert_eq(mf_profile_find_bin(p, 1.0), 2);
    mf_profile_reset(p);
    cr_assert_eq(mf_profile_bin_entries(p, 1), 0);
    cr_assert_eq(mf_profile_entries(p), 0);
    mf_profile_free(p);
}

/* ------------------------------------------------------------------------ */
/* Round trips                                                              */
/* ------------------------------------------------------------------------ */

Test(hist1d, round_trip_keeps_every_bin_and_statistic_exactly)
{
    mf_hist1d *h = filled_hist1d();
    size_t len;
    unsigned char *buf = encode(&mf_hist1d_class, h, &len);
    int err;
    mf_hist1d *g = decode(&mf_hist1d_class, buf, len, &err);
    cr_assert_not_null(g, "decode failed with %d", err);
    cr_assert_str_eq(g->title, h->title);
    cr_assert_eq(g->xaxis.nbins, 100);
    cr_assert_eq(g->xaxis.min, -4);
    cr_assert_eq(g->xaxis.max, 4);
    assert_doubles_identical(g->bins, h->bins, 102, "bins");
    cr_assert(h->bins[0] > 0 && h->bins[101] > 0, "test data reaches under/overflow");
    cr_assert_eq(g->entries, h->entries);
    cr_assert_eq(g->sumw, h->sumw);
    cr_assert_eq(g->sumw2, h->sumw2);
    cr_assert_eq(g->sumwx, h->sumwx);
    cr_assert_eq(g->sumwx2, h->sumwx2);
    cr_assert_eq(mf_hist1d_mean(g), mf_hist1d_mean(h));
    cr_assert_eq(mf_hist1d_integral(g), mf_hist1d_integral(h));

    /* Re-encoding the copy gives the same bytes. */
    size_t len2;
    unsigned char *buf2 = encode(&mf_hist1d_class, g, &len2);
    cr_assert_eq(len2, len);
    cr_assert_eq(memcmp(buf, buf2, len), 0);
    free(buf2);
    free(buf);
    mf_hist1d_class.destroy(g);
    mf_hist1d_free(h);
}

Test(hist2d, round_trip_keeps_every_bin_and_statistic_exactly)
{
    mf_hist2d *h = filled_hist2d();
    size_t len;
    unsigned char *buf = encode(&mf_hist2d_class, h, &len);
    int err;
    mf_hist2d *g = decode(&mf_hist2d_class, buf, len, &err);
    cr_assert_not_null(g, "decode failed with %d", err);
    cr_assert_str_eq(g->title, h->title);
    cr_assert_eq(g->xaxis.nbins, 40);
    cr_assert_eq(g->yaxis.nbins, 30);
    cr_assert_eq(g->yaxis.min, -3);
    cr_assert_eq(g->yaxis.max, 3);
    assert_doubles_identical(g->bins, h->bins, 42 * 32, "bins");
    cr_assert_eq(g->entries, h->entries);
    cr_assert_eq(g->sumw, h->sumw);
    cr_assert_eq(g->sumw2, h->sumw2);
    cr_assert_eq(g->sumwx, h->sumwx);
    cr_assert_eq(g->sumwx2, h->sumwx2);
    cr_assert_eq(g->sumwy, h->sumwy);
    cr_assert_eq(g->sumwy2, h->sumwy2);
    cr_assert_eq(g->sumwxy, h->sumwxy);
    free(buf);
    mf_hist2d_class.destroy(g);
    mf_hist2d_free(h);
}

Test(profile, round_trip_keeps_every_bin_and_statistic_exactly)
{
    mf_profile *p = filled_profile();
    size_t len;
    unsigned char *buf = encode(&mf_profile_class, p, &len);
    int err;
    mf_profile *g = decode(&mf_profile_class, buf, len, &err);
    cr_assert_not_null(g, "decode failed with %d", err);
    cr_assert_str_eq(g->title, p->title);
    cr_assert_eq(g->xaxis.nbins, 100);
    assert_doubles_identical(g->bin_sumwy, p->bin_sumwy, 102, "bin_sumwy");
    assert_doubles_identical(g->bin_sumwy2, p->bin_sumwy2, 102, "bin_sumwy2");
    assert_doubles_identical(g->bin_sumw, p->bin_sumw, 102, "bin_sumw");
    assert_doubles_identical(g->bin_sumw2, p->bin_sumw2, 102, "bin_sumw2");
    cr_assert_eq(g->entries, p->entries);
    cr_assert_eq(g->sumw, p->sumw);
    cr_assert_eq(g->sumw2, p->sumw2);
    cr_assert_eq(g->sumwx, p->sumwx);
    cr_assert_eq(g->sumwx2, p->sumwx2);
    cr_assert_eq(g->sumwy, p->sumwy);
    cr_assert_eq(g->sumwy2, p->sumwy2);
    for (int b = 0; b <= 101; b++)
        cr_assert_eq(mf_profile_bin_content(g, b), mf_profile_bin_content(p, b));
    free(buf);
    mf_profile_class.destroy(g);
    mf_profile_free(p);
}

Test(hist1d, stream_out_reports_a_writer_that_cannot_grow)
{
    mf_hist1d *h = filled_hist1d();
    unsigned char small[64];
    mf_writer w = {small, 0, sizeof small, 0, NULL, NULL};
    cr_assert_neq(mf_hist1d_class.stream_out(h, &w), 0);
    cr_assert_eq(w.err, MF_WIRE_NOMEM);
    mf_hist1d_free(h);
}

/* ------------------------------------------------------------------------ */
/* JSON and print                                                           */
/* ------------------------------------------------------------------------ */

Test(hist1d, to_json_has_the_documented_keys_and_values)
{
    mf_hist1d *h = filled_hist1d();
    char *text = json_of(&mf_hist1d_class, h);
    jv doc = json_parse(text);
    cr_assert_str_eq(jget(&doc, "class", J_STR)->str, "hist1d");
    cr_assert_eq(jget(&doc, "version", J_NUM)->num, MF_HIST_VERSION);
    cr_assert_str_eq(jget(&doc, "title", J_STR)->str, h->title);
    cr_assert_eq(jget(&doc, "entries", J_NUM)->num, h->entries);
    cr_assert_eq(jget(&doc, "mean", J_NUM)->num, mf_hist1d_mean(h));
    cr_assert_eq(jget(&doc, "rms", J_NUM)->num, mf_hist1d_rms(h));
    cr_assert_eq(jget(&doc, "integral", J_NUM)->num, mf_hist1d_integral(h));
    check_json_axis(&doc, "xaxis", &h->xaxis);
    check_json_array(&doc, "bins", h->bins, 102);
    jv_free(&doc);
    free(text);
    mf_hist1d_free(h);
}

Test(hist1d, to_json_escapes_the_title)
{
    const char *title = "a \"quoted\" \\ title\nwith\ttabs";
    mf_hist1d *h = mf_hist1d_new(title, 3, 0, 1);
    char *text = json_of(&mf_hist1d_class, h);
    jv doc = json_parse(text);
    cr_assert_str_eq(jget(&doc, "title", J_STR)->str, title);
    jv_free(&doc);
    free(text);
    mf_hist1d_free(h);
}

Test(hist1d, to_json_writes_non_finite_contents_as_null)
{
    mf_hist1d *h = mf_hist1d_new("t", 3, 0, 1);
    mf_hist1d_fill_w(h, 0.5, INFINITY);
    char *text = json_of(&mf_hist1d_class, h);
    jv doc = json_parse(text);
    cr_assert_eq(jget(&doc, "bins", J_ARR)->items[2].type, J_NULL);
    jv_free(&doc);
    free(text);
    mf_hist1d_free(h);
}

Test(hist2d, to_json_has_both_axes_and_global_bins)
{
    mf_hist2d *h = filled_hist2d();
    char *text = json_of(&mf_hist2d_class, h);
    jv doc = json_parse(text);
    cr_assert_str_eq(jget(&doc, "class", J_STR)->str, "hist2d");
    cr_assert_eq(jget(&doc, "version", J_NUM)->num, MF_HIST_VERSION);
    cr_assert_str_eq(jget(&doc, "title", J_STR)->str, h->title);
    cr_assert_eq(jget(&doc, "entries", J_NUM)->num, h->entries);
    cr_assert_eq(jget(&doc, "mean", J_NUM)->num, mf_hist2d_mean_x(h));
    cr_assert_eq(jget(&doc, "rms", J_NUM)->num, mf_hist2d_rms_x(h));
    cr_assert_eq(jget(&doc, "mean_y", J_NUM)->num, mf_hist2d_mean_y(h));
    cr_assert_eq(jget(&doc, "rms_y", J_NUM)->num, mf_hist2d_rms_y(h));
    check_json_axis(&doc, "xaxis", &h->xaxis);
    check_json_axis(&doc, "yaxis", &h->yaxis);
    check_json_array(&doc, "bins", h->bins, 42 * 32);
    jv_free(&doc);
    free(text);
    mf_hist2d_free(h);
}

Test(profile, to_json_bins_are_the_bin_means)
{
    mf_profile *p = filled_profile();
    char *text = json_of(&mf_profile_class, p);
    jv doc = json_parse(text);
    cr_assert_str_eq(jget(&doc, "class", J_STR)->str, "profile");
    cr_assert_eq(jget(&doc, "version", J_NUM)->num, MF_HIST_VERSION);
    cr_assert_str_eq(jget(&doc, "title", J_STR)->str, p->title);
    cr_assert_eq(jget(&doc, "entries", J_NUM)->num, p->entries);
    cr_assert_eq(jget(&doc, "mean", J_NUM)->num, mf_profile_mean(p));
    cr_assert_eq(jget(&doc, "rms", J_NUM)->num, mf_profile_rms(p));
    check_json_axis(&doc, "xaxis", &p->xaxis);
    double means[102];
    for (int b = 0; b < 102; b++)
        means[b] = mf_profile_bin_content(p, b);
    check_json_array(&doc, "bins", means, 102);
    check_json_array(&doc, "bin_entries", p->bin_sumw, 102);
    jv_free(&doc);
    free(text);
    mf_profile_free(p);
}

static int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);
        if (strstr(copy, needle))
            n++;
        free(copy);
        line += len + (end ? 1 : 0);
    }
    return n;
}

Test(hist1d, print_draws_title_stats_and_one_bar_per_bin)
{
    mf_hist1d *h = mf_hist1d_new("my histogram", 20, 0, 20);
    for (int i = 0; i < 20; i++)
        for (int k = 0; k <= i; k++)
            mf_hist1d_fill(h, i + 0.5);
    char *out = print_to_string(&mf_hist1d_class, h);
    cr_assert(strstr(out, "my histogram"), "%s", out);
    cr_assert(strstr(out, "entries 210"), "%s", out);
    char mean[64];
    snprintf(mean, sizeof mean, "mean %.6g", mf_hist1d_mean(h));
    cr_assert(strstr(out, mean), "%s", out);
    cr_assert(strstr(out, "rms "), "%s", out);
    cr_assert_eq(count_lines_with(out, " |"), 20, "%s", out);
    /* The fullest bin spans the whole 60-column scale. */
    char full[61];
    memset(full, '#', 60);
    full[60] = '\0';
    cr_assert_eq(count_lines_with(out, full), 1, "%s", out);
    free(out);
    mf_hist1d_free(h);
}

Test(hist1d, print_groups_bins_beyond_fifty_rows)
{
    mf_hist1d *h = filled_hist1d(); /* 100 bins */
    char *out = print_to_string(&mf_hist1d_class, h);
    cr_assert_eq(count_lines_with(out, " |"), 50, "%s", out);
    cr_assert(strstr(out, "2 bins per row"), "%s", out);
    free(out);
    mf_hist1d_free(h);
}

Test(hist1d, print_replaces_control_characters_in_the_title)
{
    mf_hist1d *h = mf_hist1d_new("evil\033[2Jtitle", 2, 0, 1);
    char *out = print_to_string(&mf_hist1d_class, h);
    cr_assert_null(strchr(out, '\033'));
    cr_assert(strstr(out, "evil?[2Jtitle"), "%s", out);
    free(out);
    mf_hist1d_free(h);
}

Test(hist2d, print_summarises_with_a_density_map)
{
    mf_hist2d *h = filled_hist2d();
    char *out = print_to_string(&mf_hist2d_class, h);
    cr_assert(strstr(out, "py vs px"), "%s", out);
    cr_assert(strstr(out, "entries 5000"), "%s", out);
    cr_assert(strstr(out, "mean x"), "%s", out);
    cr_assert(strstr(out, "@"), "the fullest cell is drawn darkest: %s", out);
    /* 30 y bins over at most 20 rows: two bins per row, 40 columns. */
    cr_assert_eq(count_lines_with(out, " |"), 15, "%s", out);
    cr_assert(strstr(out, "|\n"));
    const char *row = strstr(out, " |");
    const char *end = strstr(row + 2, "|\n");
    cr_assert_eq(end - (row + 2), 40, "%s", out);
    free(out);
    mf_hist2d_free(h);
}

Test(profile, print_lists_bin_means)
{
    mf_profile *p = mf_profile_new("pz vs px", 4, 0, 4);
    mf_profile_fill(p, 0.5, 2.0);
    mf_profile_fill(p, 2.5, 8.0);
    char *out = print_to_string(&mf_profile_class, p);
    cr_assert(strstr(out, "pz vs px"), "%s", out);
    cr_assert(strstr(out, "entries 2"), "%s", out);
    cr_assert_eq(count_lines_with(out, " |"), 5, "header and 4 rows: %s", out);
    char want[32];
    snprintf(want, sizeof want, "| %12.6g ", 8.0);
    cr_assert(strstr(out, want), "bin mean 8 shown: %s", out);
    free(out);
    mf_profile_free(p);
}

/* ------------------------------------------------------------------------ */
/* Hostile payloads                                                         */
/* ------------------------------------------------------------------------ */

/* Decodes every proper prefix of obj's payload. Returns the first prefix
 * length that decoded or broke the contract (SIZE_MAX if none). */
static size_t truncation_pass(const mf_class *cls, const unsigned char *buf,
                              size_t len, int *bad_any)
{
    size_t decoded_at = SIZE_MAX;
    for (size_t n = 0; n < len; n++) {
        int err, bad;
        void *o = try_decode(cls, buf, n, cls->version, &err, &bad);
        *bad_any |= bad;
        if (o) {
            if (decoded_at == SIZE_MAX)
                decoded_at = n;
            cls->destroy(o);
        }
    }
    return decoded_at;
}

static void check_every_truncation_fails(const mf_class *cls, const void *obj)
{
    size_t len;
    unsigned char *buf = encode(cls, obj, &len);
    int bad = 0;
    /* The first pass warms malloc's caches so the second can prove that
     * failing decodes give back every byte. */
    size_t decoded_at = truncation_pass(cls, buf, len, &bad);
    size_t before = heap_in_use();
    truncation_pass(cls, buf, len, &bad);
    assert_no_leak_since(before, "a truncated decode");
    cr_assert(!bad, "%s broke the stream_in contract", cls->name);
    cr_assert_eq(decoded_at, SIZE_MAX, "%s: %zu of %zu bytes decoded",
                 cls->name, decoded_at, len);
    int err;
    void *o = decode(cls, buf, len, &err);
    cr_assert_not_null(o);
    cls->destroy(o);
    free(buf);
}

Test(hist1d, every_truncated_payload_fails_cleanly)
{
    mf_hist1d *h = mf_hist1d_new("truncate me", 7, -1, 1);
    mf_hist1d_fill(h, 0.1);
    check_every_truncation_fails(&mf_hist1d_class, h);
    mf_hist1d_free(h);
}

Test(hist2d, every_truncated_payload_fails_cleanly)
{
    mf_hist2d *h = mf_hist2d_new("truncate me", 3, -1, 1, 4, 0, 1);
    mf_hist2d_fill(h, 0.1, 0.2);
    check_every_truncation_fails(&mf_hist2d_class, h);
    mf_hist2d_free(h);
}

Test(profile, every_truncated_payload_fails_cleanly)
{
    mf_profile *p = mf_profile_new("truncate me", 5, -1, 1);
    mf_profile_fill(p, 0.1, 3);
    check_every_truncation_fails(&mf_profile_class, p);
    mf_profile_free(p);
}

/* Writes a hist1d header with the given nbins, followed by `extra` zero
 * bytes. */
static unsigned char *hist1d_header(uint64_t nbins, double min, double max,
                                    double entries, size_t extra, size_t *len)
{
    mf_writer w = mf_test_writer();
    mf_w_str(&w, "t");
    mf_w_f64(&w, min);
    mf_w_f64(&w, max);
    mf_w_f64(&w, entries);
    for (int i = 0; i < 4; i++)
        mf_w_f64(&w, 0.0);
    mf_w_varint(&w, nbins);
    for (size_t i = 0; i < extra; i++)
        mf_w_u8(&w, 0);
    cr_assert_eq(w.err, 0);
    *len = w.len;
    return w.buf;
}

Test(hist1d, huge_bin_count_fails_before_allocating)
{
    size_t len;
    unsigned char *buf = hist1d_header((uint64_t)1 << 60, 0, 1, 0, 64, &len);
    int err;
    cr_assert_null(decode(&mf_hist1d_class, buf, len, &err));
    cr_assert_eq(err, MF_WIRE_TOO_LARGE);
    free(buf);
    /* Just over what the payload holds: (nbins + 2) doubles needs 16 more. */
    buf = hist1d_header(10, 0, 1, 0, 10 * 8 + 15, &len);
    cr_assert_null(decode(&mf_hist1d_class, buf, len, &err));
    cr_assert_eq(err, MF_WIRE_TRUNCATED);
    free(buf);
    buf = hist1d_header(10, 0, 1, 0, 12 * 8, &len);
    void *ok = decode(&mf_hist1d_class, buf, len, &err);
    cr_assert_not_null(ok, "the exact size decodes");
    mf_hist1d_class.destroy(ok);
    free(buf);
}

Test(hist1d, huge_title_length_fails_before_allocating)
{
    const mf_class *classes[] = {&mf_hist1d_class, &mf_hist2d_class,
                                 &mf_profile_class};
    for (int c = 0; c < 3; c++) {
        mf_writer w = mf_test_writer();
        mf_w_varint(&w, (uint64_t)1 << 60);
        for (int i = 0; i < 200; i++)
            mf_w_u8(&w, 'x');
        int err;
        cr_assert_null(decode(classes[c], w.buf, w.len, &err));
        cr_assert_eq(err, MF_WIRE_TOO_LARGE, "%s", classes[c]->name);
        free(w.buf);
    }
}

Test(hist1d, invalid_axis_or_entries_are_rejected)
{
    struct {
        uint64_t nbins;
        double min, max, entries;
    } bad[] = {
        {0, 0, 1, 0},         {3, 1, 1, 0},        {3, 2, 1, 0},
        {3, NAN, 1, 0},       {3, 0, INFINITY, 0}, {3, -1e308, 1e308, 0},
        {3, 0, 1, -1},        {3, 0, 1, NAN},      {3, 0, 1, INFINITY},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len;
        unsigned char *buf = hist1d_header(bad[i].nbins, bad[i].min, bad[i].max,
                                           bad[i].entries, 5 * 8, &len);
        int err;
        cr_assert_null(decode(&mf_hist1d_class, buf, len, &err), "case %zu", i);
        cr_assert_eq(err, MF_WIRE_CODEC, "case %zu gave %d", i, err);
        free(buf);
    }
}

Test(hist1d, trailing_bytes_are_rejected)
{
    mf_hist1d *h1 = mf_hist1d_new("t", 3, 0, 1);
    mf_hist2d *h2 = mf_hist2d_new("t", 2, 0, 1, 2, 0, 1);
    mf_profile *p = mf_profile_new("t", 3, 0, 1);
    const mf_class *classes[] = {&mf_hist1d_class, &mf_hist2d_class,
                                 &mf_profile_class};
    const void *objs[] = {h1, h2, p};
    for (int c = 0; c < 3; c++) {
        mf_writer w = mf_test_writer();
        classes[c]->stream_out(objs[c], &w);
        mf_w_u8(&w, 0);
        int err;
        cr_assert_null(decode(classes[c], w.buf, w.len, &err), "%s", classes[c]->name);
        cr_assert_eq(err, MF_WIRE_MALFORMED);
        free(w.buf);
    }
    mf_hist1d_free(h1);
    mf_hist2d_free(h2);
    mf_profile_free(p);
}

Test(hist2d, cell_count_product_is_capped_by_the_payload)
{
    /* Each axis alone fits the payload, their product does not. */
    const uint64_t n = 1000;
    mf_writer w = mf_test_writer();
    mf_w_str(&w, "t");
    for (int i = 0; i < 2; i++) {
        mf_w_f64(&w, 0);
        mf_w_f64(&w, 1);
    }
    for (int i = 0; i < 8; i++)
        mf_w_f64(&w, 0);
    mf_w_varint(&w, n);
    mf_w_varint(&w, n);
    for (uint64_t i = 0; i < (n + 2) * 8; i++)
        mf_w_u8(&w, 0);
    int err;
    cr_assert_null(decode(&mf_hist2d_class, w.buf, w.len, &err));
    cr_assert_eq(err, MF_WIRE_TOO_LARGE);
    free(w.buf);

    /* Both axes at 2^60 fail on the first. */
    w = mf_test_writer();
    mf_w_str(&w, "t");
    for (int i = 0; i < 2; i++) {
        mf_w_f64(&w, 0);
        mf_w_f64(&w, 1);
    }
    for (int i = 0; i < 8; i++)
        mf_w_f64(&w, 0);
    mf_w_varint(&w, (uint64_t)1 << 60);
    mf_w_varint(&w, (uint64_t)1 << 60);
    cr_assert_null(decode(&mf_hist2d_class, w.buf, w.len, &err));
    cr_assert_eq(err, MF_WIRE_TOO_LARGE);
    free(w.buf);
}

Test(profile, huge_bin_count_fails_before_allocating)
{
    mf_writer w = mf_test_writer();
    mf_w_str(&w, "t");
    mf_w_f64(&w, 0);
    mf_w_f64(&w, 1);
    for (int i = 0; i < 7; i++)
        mf_w_f64(&w, 0);
    /* 100 bins need 4 arrays of 102 doubles; give one array's worth. */
    mf_w_varint(&w, 100);
    for (int i = 0; i < 102 * 8; i++)
        mf_w_u8(&w, 0);
    int err;
    cr_assert_null(decode(&mf_profile_class, w.buf, w.len, &err));
    cr_assert_eq(err, MF_WIRE_TOO_LARGE, "per-bin cost is all four arrays");
    free(w.buf);
}

/* Exercises everything a consumer might do with a decoded object. */
static void use_object(const mf_class *cls, void *obj)
{
    FILE *null = fopen("/dev/null", "w");
    if (!null) /* no cr_assert: the caller measures the heap */
        abort();
    cls->print(obj, null);
    fclose(null);
    mf_writer w = mf_test_writer();
    cls->to_json(obj, &w);
    free(w.buf);
    for (const mf_method *m = cls->methods; m->name; m++) {
        if (!strcmp(m->signature, "d(o)"))
            (void)((fn_d_o)m->fn)(obj);
        else if (!strcmp(m->signature, "d(o,i)"))
            (void)((fn_d_oi)m->fn)(obj, 1);
        else if (!strcmp(m->signature, "i(o)"))
            (void)((fn_i_o)m->fn)(obj);
        else if (!strcmp(m->signature, "i(o,d)"))
            (void)((fn_i_od)m->fn)(obj, 0.5);
    }
}

/* One seeded run of garbage payloads; counts decodes and contract breaks. */
static void fuzz_pass(const mf_class *cls, const unsigned char *vbuf,
                      size_t vlen, uint64_t seed, int *decoded, int *nbad)
{
    rng_seed(seed);
    for (int iter = 0; iter < 4000; iter++) {
        size_t len;
        unsigned char *buf;
        if (iter % 2) {
            /* Pure noise of random length. */
            len = rng_u64() % 300;
            buf = malloc(len + 1);
            for (size_t i = 0; i < len; i++)
                buf[i] = (unsigned char)rng_u64();
        } else {
            /* A valid payload with a few bytes changed gets deeper. */
            len = vlen;
            buf = malloc(len);
            memcpy(buf, vbuf, len);
            int flips = 1 + (int)(rng_u64() % 4);
            for (int k = 0; k < flips; k++)
                buf[rng_u64() % len] = (unsigned char)rng_u64();
            if (rng_u64() % 4 == 0)
                len = rng_u64() % (len + 1);
        }
        int err, bad;
        void *obj = try_decode(cls, buf, len, cls->version, &err, &bad);
        *nbad += bad;
        if (obj) {
            ++*decoded;
            use_object(cls, obj);
            cls->destroy(obj);
        }
        free(buf);
    }
}

static void fuzz_class(const mf_class *cls, const void *valid, uint64_t seed)
{
    size_t vlen;
    unsigned char *vbuf = encode(cls, valid, &vlen);
    int decoded = 0, nbad = 0;
    fuzz_pass(cls, vbuf, vlen, seed, &decoded, &nbad);
    /* Same inputs again, now that malloc's caches are warm: no growth. */
    size_t before = heap_in_use();
    fuzz_pass(cls, vbuf, vlen, seed, &decoded, &nbad);
    assert_no_leak_since(before, "decoding garbage");
    cr_assert_eq(nbad, 0, "%s broke the stream_in contract %d times", cls->name, nbad);
    cr_assert(decoded > 0, "%s: some mutations (e.g. of bin contents) decode",
              cls->name);
    free(vbuf);
}

Test(hist1d, random_garbage_never_crashes)
{
    mf_hist1d *h = mf_hist1d_new("g", 6, -1, 1);
    mf_hist1d_fill(h, 0.3);
    fuzz_class(&mf_hist1d_class, h, 11);
    mf_hist1d_free(h);
}

Test(hist2d, random_garbage_never_crashes)
{
    mf_hist2d *h = mf_hist2d_new("g", 3, -1, 1, 2, -1, 1);
    mf_hist2d_fill(h, 0.3, 0.1);
    fuzz_class(&mf_hist2d_class, h, 12);
    mf_hist2d_free(h);
}

Test(profile, random_garbage_never_crashes)
{
    mf_profile *p = mf_profile_new("g", 3, -1, 1);
    mf_profile_fill(p, 0.3, 2);
    fuzz_class(&mf_profile_class, p, 13);
    mf_profile_free(p);
}

/* ------------------------------------------------------------------------ */
/* Versions                                                                 */
/* ------------------------------------------------------------------------ */

Test(hist1d, stream_in_reads_its_versions_and_refuses_others)
{
    const mf_class *classes[] = {&mf_hist1d_class, &mf_hist2d_class,
                                 &mf_profile_class};
    mf_hist1d *h1 = mf_hist1d_new("v", 2, 0, 1);
    mf_hist2d *h2 = mf_hist2d_new("v", 2, 0, 1, 2, 0, 1);
    mf_profile *p = mf_profile_new("v", 2, 0, 1);
    const void *objs[] = {h1, h2, p};
    for (int c = 0; c < 3; c++) {
        const mf_class *cls = classes[c];
        cr_assert_eq(cls->version, MF_HIST_VERSION);
        cr_assert_eq(cls->min_version, MF_HIST_MIN_VERSION);
        cr_assert_eq(cls->struct_size, sizeof(mf_class));
        size_t len;
        unsigned char *buf = encode(cls, objs[c], &len);
        int err;
        for (uint32_t v = cls->min_version; v <= cls->version; v++) {
            void *o = decode_ver(cls, buf, len, v, &err);
            cr_assert_not_null(o, "%s refuses version %u", cls->name, v);
            cls->destroy(o);
        }
        cr_assert_null(decode_ver(cls, buf, len, cls->min_version - 1, &err));
        cr_assert_eq(err, MF_WIRE_CODEC);
        cr_assert_null(decode_ver(cls, buf, len, cls->version + 1, &err));
        cr_assert_eq(err, MF_WIRE_CODEC);
        cr_assert_null(decode_ver(cls, buf, len, UINT32_MAX, &err));
        free(buf);
    }
    mf_hist1d_free(h1);
    mf_hist2d_free(h2);
    mf_profile_free(p);
}

/* ------------------------------------------------------------------------ */
/* Methods                                                                  */
/* ------------------------------------------------------------------------ */

Test(hist1d, methods_agree_with_accessors)
{
    mf_hist1d *h = filled_hist1d();
    const mf_class *c = &mf_hist1d_class;
    cr_assert_eq(((fn_d_o)method(c, "entries", "d(o)"))(h), mf_hist1d_entries(h));
    cr_assert_eq(((fn_d_o)method(c, "mean", "d(o)"))(h), mf_hist1d_mean(h));
    cr_assert_eq(((fn_d_o)method(c, "rms", "d(o)"))(h), mf_hist1d_rms(h));
    cr_assert_eq(((fn_d_o)method(c, "integral", "d(o)"))(h), mf_hist1d_integral(h));
    fn_d_oi bc = (fn_d_oi)method(c, "bin_content", "d(o,i)");
    for (int b = 0; b <= 101; b++)
        cr_assert_eq(bc(h, b), mf_hist1d_bin_content(h, b));
    cr_assert_eq(bc(h, -1), 0);
    cr_assert_eq(bc(h, 102), 0);
    cr_assert_eq(bc(h, INT64_MAX), 0);
    cr_assert_eq(bc(h, INT64_MIN), 0);
    cr_assert_eq(bc(h, (int64_t)1 << 32 | 5), 0, "no truncation to int");
    fn_i_od fb = (fn_i_od)method(c, "find_bin", "i(o,d)");
    cr_assert_eq(fb(h, 0.01), mf_hist1d_find_bin(h, 0.01));
    cr_assert_eq(fb(h, 99), 101);
    cr_assert_eq(((fn_i_o)method(c, "maximum_bin", "i(o)"))(h),
                 mf_hist1d_maximum_bin(h));
    mf_hist1d_free(h);
}

Test(hist2d, methods_agree_with_accessors)
{
    mf_hist2d *h = filled_hist2d();
    const mf_class *c = &mf_hist2d_class;
    cr_assert_eq(((fn_d_o)method(c, "entries", "d(o)"))(h), mf_hist2d_entries(h));
    cr_assert_eq(((fn_d_o)method(c, "mean_x", "d(o)"))(h), mf_hist2d_mean_x(h));
    cr_assert_eq(((fn_d_o)method(c, "mean_y", "d(o)"))(h), mf_hist2d_mean_y(h));
    cr_assert_eq(((fn_d_o)method(c, "rms_x", "d(o)"))(h), mf_hist2d_rms_x(h));
    cr_assert_eq(((fn_d_o)method(c, "rms_y", "d(o)"))(h), mf_hist2d_rms_y(h));
    cr_assert_eq(((fn_d_o)method(c, "integral", "d(o)"))(h), mf_hist2d_integral(h));
    fn_d_oii bc = (fn_d_oii)method(c, "bin_content", "d(o,i,i)");
    fn_d_oi gbc = (fn_d_oi)method(c, "global_bin_content", "d(o,i)");
    for (int by = 0; by <= 31; by++)
        for (int bx = 0; bx <= 41; bx++) {
            cr_assert_eq(bc(h, bx, by), mf_hist2d_bin_content(h, bx, by));
            cr_assert_eq(gbc(h, mf_hist2d_bin(h, bx, by)),
                         mf_hist2d_bin_content(h, bx, by));
        }
    cr_assert_eq(bc(h, 42, 0), 0);
    cr_assert_eq(bc(h, 0, -1), 0);
    cr_assert_eq(bc(h, INT64_MAX, INT64_MIN), 0);
    cr_assert_eq(gbc(h, 42 * 32), 0);
    cr_assert_eq(gbc(h, -1), 0);
    cr_assert_eq(gbc(h, INT64_MAX), 0);
    fn_i_odd fb = (fn_i_odd)method(c, "find_bin", "i(o,d,d)");
    cr_assert_eq(fb(h, 0.3, -0.2), mf_hist2d_find_bin(h, 0.3, -0.2));
    cr_assert_eq(((fn_i_o)method(c, "maximum_bin", "i(o)"))(h),
                 mf_hist2d_maximum_bin(h));
    mf_hist2d_free(h);
}

Test(profile, methods_agree_with_accessors)
{
    mf_profile *p = filled_profile();
    const mf_class *c = &mf_profile_class;
    cr_assert_eq(((fn_d_o)method(c, "entries", "d(o)"))(p), mf_profile_entries(p));
    cr_assert_eq(((fn_d_o)method(c, "mean", "d(o)"))(p), mf_profile_mean(p));
    cr_assert_eq(((fn_d_o)method(c, "rms", "d(o)"))(p), mf_profile_rms(p));
    cr_assert_eq(((fn_d_o)method(c, "mean_y", "d(o)"))(p), mf_profile_mean_y(p));
    cr_assert_eq(((fn_d_o)method(c, "rms_y", "d(o)"))(p), mf_profile_rms_y(p));
    fn_d_oi bc = (fn_d_oi)method(c, "bin_content", "d(o,i)");
    fn_d_oi be = (fn_d_oi)method(c, "bin_entries", "d(o,i)");
    fn_d_oi err = (fn_d_oi)method(c, "bin_error", "d(o,i)");
    for (int b = 0; b <= 101; b++) {
        cr_assert_eq(bc(p, b), mf_profile_bin_content(p, b));
        cr_assert_eq(be(p, b), mf_profile_bin_entries(p, b));
        cr_assert_eq(err(p, b), mf_profile_bin_error(p, b));
    }
    int64_t outside[] = {-1, 102, INT64_MAX, INT64_MIN, (int64_t)1 << 32 | 50};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(bc(p, outside[i]), 0);
        cr_assert_eq(be(p, outside[i]), 0);
        cr_assert_eq(err(p, outside[i]), 0);
    }
    fn_i_od fb = (fn_i_od)method(c, "find_bin", "i(o,d)");
    cr_assert_eq(fb(p, -3.99), 1);
    mf_profile_free(p);
}

/* ------------------------------------------------------------------------ */
/* The plugin module                                                        */
/* ------------------------------------------------------------------------ */

Test(plugin, module_exports_the_three_classes_and_reads_our_payloads)
{
    const char *path = MF_TEST_PLUGIN_DIR "/mapfile-hist.so";
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(dl, "build the mapfile-hist target first: %s", dlerror());
    mf_plugin_entry_fn entry = (mf_plugin_entry_fn)dlsym(dl, MF_PLUGIN_ENTRY_NAME);
    cr_assert_not_null(entry);
    const mf_plugin *pl = entry();
    cr_assert_eq(pl->struct_size, sizeof(mf_plugin));
    cr_assert_eq(pl->abi_major, MF_ABI_MAJOR);
    cr_assert_eq(pl->abi_minor, MF_ABI_MINOR);
    cr_assert_str_eq(pl->name, "hist");
    const char *names[] = {"hist1d", "hist2d", "profile"};
    for (int i = 0; i < 3; i++) {
        cr_assert_not_null(pl->classes[i]);
        cr_assert_str_eq(pl->classes[i]->name, names[i]);
        cr_assert_neq(pl->classes[i], &mf_hist1d_class, "module has its own copy");
    }
    cr_assert_null(pl->classes[3]);
    /* No other symbol leaks out of the module. */
    cr_assert_null(dlsym(dl, "mf_hist1d_new"));

    mf_hist1d *h = filled_hist1d();
    size_t len;
    unsigned char *buf = encode(&mf_hist1d_class, h, &len);
    int err;
    mf_hist1d *g = decode(pl->classes[0], buf, len, &err);
    cr_assert_not_null(g);
    assert_doubles_identical(g->bins, h->bins, 102, "bins");
    cr_assert_eq(g->entries, h->entries);
    fn_d_o mean = NULL;
    for (const mf_method *m = pl->classes[0]->methods; m->name; m++)
        if (!strcmp(m->name, "mean"))
            mean = (fn_d_o)m->fn;
    cr_assert_not_null(mean);
    cr_assert_eq(mean(g), mf_hist1d_mean(h));
    pl->classes[0]->destroy(g);
    free(buf);
    mf_hist1d_free(h);
    dlclose(dl);
}

/* ------------------------------------------------------------------------ */
/* Through a map file                                                       */
/* ------------------------------------------------------------------------ */

static mf_value i64(int64_t v)
{
    mf_value a;
    a.type = MF_T_I64;
    a.v.i = v;
    return a;
}

static mf_value f64(double v)
{
    mf_value a;
    a.type = MF_T_F64;
    a.v.d = v;
    return a;
}

static double call_d(const mf_class *cls, void *obj, const char *name,
                     const mf_value *args, size_t nargs)
{
    mf_value ret;
    int rc = mf_call(cls, obj, name, args, nargs, &ret);
    cr_assert_eq(rc, 0, "mf_call %s: %s %s", name, mf_strerror(rc), mf_errdetail());
    cr_assert_eq(ret.type, MF_T_F64);
    return ret.v.d;
}

static int64_t call_i(const mf_class *cls, void *obj, const char *name,
                      const mf_value *args, size_t nargs)
{
    mf_value ret;
    int rc = mf_call(cls, obj, name, args, nargs, &ret);
    cr_assert_eq(rc, 0, "mf_call %s: %s %s", name, mf_strerror(rc), mf_errdetail());
    cr_assert_eq(ret.type, MF_T_I64);
    return ret.v.i;
}

Test(mapfile, consumer_rebuilds_histograms_with_the_plugin_and_calls_methods)
{
    const char *path = mf_test_path("hist.map");
    mf_registry *preg, *creg;
    cr_assert_eq(mf_registry_create(&preg), 0);
    cr_assert_eq(mf_registry_create(&creg), 0);
    cr_assert_eq(mf_registry_add_class(preg, &mf_hist1d_class), 0);
    cr_assert_eq(mf_registry_add_class(preg, &mf_hist2d_class), 0);
    cr_assert_eq(mf_registry_add_class(preg, &mf_profile_class), 0);
    cr_assert_eq(mf_registry_add_path(creg, MF_TEST_PLUGIN_DIR), 0);

    mf_open_options po = MF_OPEN_OPTIONS_INIT;
    po.registry = preg;
    mf_file *prod;
    cr_assert_eq(mf_open(&prod, path, MF_RECREATE, &po), 0, "%s", mf_errdetail());
    mf_hist1d *h1 = filled_hist1d();
    mf_hist2d *h2 = filled_hist2d();
    mf_profile *p = filled_profile();
    cr_assert_eq(mf_add(prod, "hpx", "hist1d", h1), 0);
    cr_assert_eq(mf_add(prod, "hpxpy", "hist2d", h2), 0);
    cr_assert_eq(mf_add(prod, "hprof", "profile", p), 0);
    cr_assert_eq(mf_update(prod, NULL), 0, "%s", mf_errdetail());

    mf_open_options co = MF_OPEN_OPTIONS_INIT;
    co.registry = creg;
    mf_file *cons;
    cr_assert_eq(mf_open(&cons, path, MF_READ, &co), 0, "%s", mf_errdetail());

    void *obj;
    const mf_class *cls;
    cr_assert_eq(mf_get(cons, "hpx", &obj, &cls), 0, "%s", mf_errdetail());
    cr_assert_neq(cls, &mf_hist1d_class, "the consumer uses the plugin's codec");
    Dl_info info;
    cr_assert(dladdr((const void *)cls, &info) && strstr(info.dli_fname, "mapfile-hist.so"));
    mf_hist1d *g1 = obj;
    assert_doubles_identical(g1->bins, h1->bins, 102, "hpx bins");
    cr_assert_eq(call_d(cls, obj, "entries", NULL, 0), h1->entries);
    cr_assert_eq(call_d(cls, obj, "mean", NULL, 0), mf_hist1d_mean(h1));
    cr_assert_eq(call_d(cls, obj, "rms", NULL, 0), mf_hist1d_rms(h1));
    mf_value a = i64(37);
    cr_assert_eq(call_d(cls, obj, "bin_content", &a, 1), h1->bins[37]);
    a = i64(-5);
    cr_assert_eq(call_d(cls, obj, "bin_content", &a, 1), 0);
    a = f64(0.01);
    cr_assert_eq(call_i(cls, obj, "find_bin", &a, 1), mf_hist1d_find_bin(h1, 0.01));
    cr_assert_eq(call_i(cls, obj, "maximum_bin", NULL, 0), mf_hist1d_maximum_bin(h1));
    mf_object_free(cls, obj);

    cr_assert_eq(mf_get(cons, "hpxpy", &obj, &cls), 0, "%s", mf_errdetail());
    mf_value xy[2] = {i64(20), i64(15)};
    cr_assert_eq(call_d(cls, obj, "bin_content", xy, 2),
                 mf_hist2d_bin_content(h2, 20, 15));
    cr_assert_eq(call_d(cls, obj, "mean_y", NULL, 0), mf_hist2d_mean_y(h2));
    mf_object_free(cls, obj);

    cr_assert_eq(mf_get(cons, "hprof", &obj, &cls), 0, "%s", mf_errdetail());
    a = i64(50);
    cr_assert_eq(call_d(cls, obj, "bin_content", &a, 1), mf_profile_bin_content(p, 50));
    cr_assert_eq(call_d(cls, obj, "bin_entries", &a, 1), mf_profile_bin_entries(p, 50));
    mf_object_free(cls, obj);

    /* A later update is seen by the same consumer. */
    mf_hist1d_fill(h1, 0.0);
    cr_assert_eq(mf_update(prod, "hpx"), 0);
    cr_assert_eq(mf_get(cons, "hpx", &obj, &cls), 0);
    cr_assert_eq(((mf_hist1d *)obj)->entries, h1->entries);
    mf_object_free(cls, obj);

    cr_assert_eq(mf_close(cons), 0);
    cr_assert_eq(mf_close(prod), 0);
    mf_hist1d_free(h1);
    mf_hist2d_free(h2);
    mf_profile_free(p);
    mf_registry_free(creg);
    mf_registry_free(preg);
}

/* ------------------------------------------------------------------------ */
/* The demo (tools/mapfile-demo.c)                                          */
/* ------------------------------------------------------------------------ */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static const char *demo_path(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/tools/mapfile-demo", MF_TEST_BUILD_DIR);
    cr_assert_eq(access(path, X_OK), 0, "build mapfile-demo first (%s)", path);
    return path;
}

Test(demo, consumer_started_first_sees_every_fill_of_the_producer, .timeout = 120)
{
    const char *demo = demo_path();
    const char *dir = mf_test_dir();
    char cmd[8192];
    /* The consumer starts first and waits for the file; it stops by itself
     * once the producer has finished (the 60 s limit is only a backstop). */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ('%s' consume demo.map --seconds 60 >cons.out 2>&1;"
             " echo $? >cons.rc) & "
             "cd '%s' && '%s' produce demo.map --fills 300 --every 10 --rate 0"
             " >prod.out 2>&1; echo $? >'%s/prod.rc'; wait",
             dir, demo, dir, demo, dir);
    cr_assert_eq(system(cmd), 0);

    char *prod = slurp(mf_test_path("prod.out"));
    char *cons = slurp(mf_test_path("cons.out"));
    char *prc = slurp(mf_test_path("prod.rc"));
    char *crc = slurp(mf_test_path("cons.rc"));
    cr_assert_str_eq(prc, "0\n", "producer failed:\n%s", prod);
    cr_assert_str_eq(crc, "0\n", "consumer failed:\n%s", cons);
    /* mf_print and mf_ls after the first update. */
    cr_assert(strstr(prod, "Demo memory mapped file with histograms"), "%s", prod);
    cr_assert(strstr(prod, "hpxpy"), "%s", prod);
    cr_assert(strstr(prod, "produced 300 fills in 30 updates"), "%s", prod);
    cr_assert(strstr(cons, "hist1d \"This is the px distribution\""), "%s", cons);
    cr_assert(strstr(cons, "hpx:   entries 300 "), "%s", cons);
    cr_assert(strstr(cons, "producer stopped; hpx has 300 entries"), "%s", cons);
    cr_assert_null(strstr(cons, "\033["), "no ANSI codes when not a tty");

    /* The file holds what the producer made. */
    mf_registry *reg;
    cr_assert_eq(mf_registry_create(&reg), 0);
    cr_assert_eq(mf_registry_add_class(reg, &mf_profile_class), 0);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = reg;
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, mf_test_path("demo.map"), MF_READ, &o), 0);
    void *obj;
    const mf_class *cls;
    cr_assert_eq(mf_get(mf, "hprof", &obj, &cls), 0, "%s", mf_errdetail());
    cr_assert_eq(cls, &mf_profile_class);
    mf_profile *p = obj;
    cr_assert_eq(p->entries, 300);
    cr_assert_str_eq(p->title, "Profile of pz versus px");
    cr_assert_eq(p->xaxis.nbins, 100);
    /* pz = px^2 + py^2 >= 0, so every bin mean is too. */
    for (int b = 0; b <= 101; b++)
        cr_assert_geq(mf_profile_bin_content(p, b), 0.0);
    mf_object_free(cls, obj);
    mf_close(mf);
    mf_registry_free(reg);
    free(prod);
    free(cons);
    free(prc);
    free(crc);
}

Test(demo, usage_errors_exit_2_and_help_exits_0)
{
    const char *demo = demo_path();
    const char *bad[] = {"", "frob x", "produce", "produce x --fills 0",
                         "produce x --every", "produce x y",
                         "consume x --seconds -1", "consume x --fills 3"};
    char cmd[8192];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>&1", demo, bad[i]);
        int st = system(cmd);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "'%s' gave %d", bad[i], st);
    }
    const char *help[] = {"--help", "produce --help", "consume x --help"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "'%s' %s | grep -q 'mapfile-demo consume FILE'",
                 demo, help[i]);
        cr_assert_eq(system(cmd), 0, "'%s'", help[i]);
    }
}
