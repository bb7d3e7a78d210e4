/* test_shapes.c - circle and rect: objects whose vtable pointer must never
 * reach the file, and must be this process's own table after decoding. */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mapfile/codec.h>
#include <mapfile/shapes.h>
#include <mapfile/mapfile.h>

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif


static unsigned char *encode(const mf_class *cls, const void *obj, size_t *len)
{
    mf_writer w = mf_test_writer();
    cr_assert_eq(cls->stream_out(obj, &w), 0);
    cr_assert_eq(w.err, 0);
    *len = w.len;
    return w.buf;
}

/* Decodes a private exact-size copy so ASan catches any over-read. No
 * assertions inside (loops count failures and check afterwards). */
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
    cr_assert(!bad, "%s broke the stream_in contract (error %d)", cls->name, *err);
    return obj;
}

static void *decode(const mf_class *cls, const void *p, size_t len, int *err)
{
    return decode_ver(cls, p, len, cls->version, err);
}

static int contains(const unsigned char *hay, size_t n, const void *needle,
                    size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(hay + i, needle, m))
            return 1;
    return 0;
}

static char *json_of(const mf_class *cls, const void *obj)
{
    mf_writer w = mf_test_writer();
    cr_assert_eq(cls->to_json(obj, &w), 0);
    cr_assert_eq(w.reserve(&w, 1), 0);
    w.buf[w.len] = '\0';
    return (char *)w.buf;
}

/* The number after "key": in a flat JSON object; fails if it is missing
 * or not a plain number. */
static double json_num(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    cr_assert_not_null(p, "no key %s in %s", key, json);
    p += strlen(pat);
    char *end;
    double v = strtod(p, &end);
    cr_assert(end != p && (*end == ',' || *end == '}'), "bad number for %s in %s",
              key, json);
    return v;
}

typedef double (*fn_d_o)(void *);
typedef const char *(*fn_s_o)(void *);

static void (*method(const mf_class *cls, const char *name, const char *sig))(void)
{
    for (const mf_method *m = cls->methods; m && m->name; m++)
        if (!strcmp(m->name, name)) {
            cr_assert_str_eq(m->signature, sig);
            return m->fn;
        }
    cr_assert_fail("%s has no method %s", cls->name, name);
    return NULL;
}

/* ------------------------------------------------------------------------ */

Test(shapes, new_objects_point_at_this_process_vtable)
{
    mf_circle *c = mf_circle_new("c", 1, 2, 3);
    mf_rect *r = mf_rect_new("r", 0, 0, 2, 5);
    cr_assert_eq(c->ops, &mf_circle_ops);
    cr_assert_eq(r->ops, &mf_rect_ops);
    cr_assert_eq(mf_shape_ops_of(c), &mf_circle_ops);
    cr_assert_str_eq(mf_shape_ops_of(r)->kind, "rect");
    cr_assert_float_eq(mf_shape_area(c), 9 * 3.14159265358979323846, 1e-12);
    cr_assert_eq(mf_shape_area(r), 10);
    cr_assert_eq(r->ops->area(r), 10);
    mf_circle_free(c);
    mf_rect_free(r);
}

Test(shapes, new_rejects_negative_or_non_finite_sizes)
{
    cr_assert_null(mf_circle_new("c", 0, 0, -1));
    cr_assert_null(mf_circle_new("c", NAN, 0, 1));
    cr_assert_null(mf_circle_new("c", 0, 0, INFINITY));
    cr_assert_null(mf_rect_new("r", 0, 0, -1, 1));
    cr_assert_null(mf_rect_new("r", 0, INFINITY, 1, 1));
    mf_circle *c = mf_circle_new(NULL, 0, 0, 0);
    cr_assert_str_eq(c->name, "");
    mf_circle_free(c);
}

Test(shapes, describe_is_owned_by_the_object_and_refreshed)
{
    mf_circle *c = mf_circle_new("wheel", 1, 2, 1);
    const char *d = mf_shape_describe(c);
    cr_assert(strstr(d, "circle \"wheel\" at (1, 2) r=1"), "%s", d);
    cr_assert(strstr(d, "area=3.14159"), "%s", d);
    c->r = 2;
    d = c->ops->describe(c);
    cr_assert(strstr(d, "r=2 "), "describe sees the current state: %s", d);
    mf_circle_free(c); /* frees the cached string: ASan/LSan would see a leak */

    mf_rect *r = mf_rect_new("box\n", 0, 1, 2, 3);
    d = mf_shape_describe(r);
    cr_assert_str_eq(d, "rect \"box?\" at (0, 1) 2 x 3 area=6");
    mf_rect_free(r);
}

Test(shapes, round_trip_rebuilds_with_the_consumer_vtable)
{
    mf_circle *c = mf_circle_new("sun", -1.5, 2.25, 0.125);
    mf_rect *r = mf_rect_new("door", 3, 4, 0.5, 2);
    /* A producer whose table lives elsewhere: the consumer must not care. */
    static const struct mf_shape_ops foreign = {NULL, NULL, "foreign"};
    c->ops = &foreign;
    r->ops = &foreign;

    size_t len;
    unsigned char *buf = encode(&mf_circle_class, c, &len);
    int err;
    mf_circle *c2 = decode(&mf_circle_class, buf, len, &err);
    cr_assert_not_null(c2, "error %d", err);
    cr_assert_eq(c2->ops, &mf_circle_ops, "stream_in sets the consumer's table");
    cr_assert_str_eq(c2->name, "sun");
    cr_assert_eq(c2->x, -1.5);
    cr_assert_eq(c2->y, 2.25);
    cr_assert_eq(c2->r, 0.125);
    cr_assert_eq(c2->ops->area(c2), 3.14159265358979323846 * 0.125 * 0.125);
    free(buf);

    buf = encode(&mf_rect_class, r, &len);
    mf_rect *r2 = decode(&mf_rect_class, buf, len, &err);
    cr_assert_not_null(r2, "error %d", err);
    cr_assert_eq(r2->ops, &mf_rect_ops);
    cr_assert_str_eq(r2->name, "door");
    cr_assert_eq(r2->x, 3);
    cr_assert_eq(r2->y, 4);
    cr_assert_eq(r2->w, 0.5);
    cr_assert_eq(r2->h, 2);
    cr_assert_eq(mf_shape_area(r2), 1);
    free(buf);

    mf_circle_class.destroy(c2);
    mf_rect_class.destroy(r2);
    mf_circle_free(c);
    mf_rect_free(r);
}

Test(shapes, producer_ops_pointer_never_reaches_the_payload)
{
    mf_circle *c = mf_circle_new("pointer check", 1, 2, 3);
    mf_rect *r = mf_rect_new("pointer check", 1, 2, 3, 4);
    const void *objs[] = {c, r};
    const mf_class *classes[] = {&mf_circle_class, &mf_rect_class};
    for (int i = 0; i < 2; i++) {
        const struct mf_shape_ops *ops = mf_shape_ops_of(objs[i]);
        size_t len;
        unsigned char *buf = encode(classes[i], objs[i], &len);
        cr_assert_not(contains(buf, len, &ops, sizeof ops),
                      "%s payload holds the vtable address", classes[i]->name);
        /* Nor any part of it that identifies the address space: the low
         * six bytes of a user-space pointer. */
        cr_assert_not(contains(buf, len, &ops, 6));
        /* The object's own address is not there either. */
        cr_assert_not(contains(buf, len, &objs[i], sizeof objs[i]));
        free(buf);
    }
    mf_circle_free(c);
    mf_rect_free(r);
}

Test(shapes, methods_dispatch_through_the_object_vtable)
{
    mf_circle *c = mf_circle_new("m", 0, 0, 2);
    mf_rect *r = mf_rect_new("m", 0, 0, 2, 3);
    fn_d_o carea = (fn_d_o)method(&mf_circle_class, "area", "d(o)");
    fn_s_o cdesc = (fn_s_o)method(&mf_circle_class, "describe", "s(o)");
    fn_d_o rarea = (fn_d_o)method(&mf_rect_class, "area", "d(o)");
    cr_assert_eq(carea(c), mf_shape_area(c));
    cr_assert_eq(rarea(r), 6);
    const char *d = cdesc(c);
    cr_assert_eq(d, c->desc_, "the string is owned by the object");
    cr_assert(strstr(d, "circle \"m\""), "%s", d);
    mf_circle_free(c);
    mf_rect_free(r);
}

Test(shapes, to_json_and_print_show_the_fields)
{
    mf_circle *c = mf_circle_new("q\"uote", 1, 2, 3);
    char *j = json_of(&mf_circle_class, c);
    cr_assert(strstr(j, "{\"class\":\"circle\""), "%s", j);
    cr_assert(strstr(j, "\"name\":\"q\\\"uote\""), "%s", j);
    cr_assert_eq(json_num(j, "version"), MF_SHAPES_VERSION);
    cr_assert_eq(json_num(j, "x"), 1);
    cr_assert_eq(json_num(j, "y"), 2);
    cr_assert_eq(json_num(j, "r"), 3);
    cr_assert_eq(json_num(j, "area"), mf_shape_area(c));
    cr_assert_eq(j[strlen(j) - 1], '}');
    free(j);

    mf_rect *r = mf_rect_new("door", 0, 0, 2, 3);
    j = json_of(&mf_rect_class, r);
    cr_assert(strstr(j, "{\"class\":\"rect\""), "%s", j);
    cr_assert_eq(json_num(j, "w"), 2);
    cr_assert_eq(json_num(j, "h"), 3);
    cr_assert_eq(json_num(j, "area"), 6);
    free(j);

    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    mf_rect_class.print(r, f);
    mf_circle_class.print(c, f);
    fclose(f);
    cr_assert(strstr(out, "rect \"door\" at (0, 0) 2 x 3 area=6\n"), "%s", out);
    cr_assert(strstr(out, "circle \"q\"uote\""), "%s", out);
    cr_assert_null(r->desc_, "print leaves the object untouched");
    free(out);
    mf_circle_free(c);
    mf_rect_free(r);
}

Test(shapes, hostile_payloads_fail_cleanly)
{
    mf_circle *c = mf_circle_new("truncated", 1, 2, 3);
    mf_rect *r = mf_rect_new("truncated", 1, 2, 3, 4);
    const void *objs[] = {c, r};
    const mf_class *classes[] = {&mf_circle_class, &mf_rect_class};
    for (int i = 0; i < 2; i++) {
        size_t len;
        unsigned char *buf = encode(classes[i], objs[i], &len);
        for (size_t n = 0; n < len; n++) {
            int err;
            cr_assert_null(decode(classes[i], buf, n, &err), "%zu bytes", n);
        }
        free(buf);

        /* A name claiming 2^60 bytes fails before any allocation. */
        mf_writer w = mf_test_writer();
        mf_w_varint(&w, (uint64_t)1 << 60);
        for (int k = 0; k < 64; k++)
            mf_w_u8(&w, 'n');
        int err;
        cr_assert_null(decode(classes[i], w.buf, w.len, &err));
        cr_assert_eq(err, MF_WIRE_TOO_LARGE);
        free(w.buf);

        /* Negative size, NaN coordinate, trailing byte. */
        double bad[][4] = {{0, 0, -1, 1}, {NAN, 0, 1, 1}, {0, 0, 1, -INFINITY}};
        for (int k = 0; k < 3; k++) {
            w = mf_test_writer();
            mf_w_str(&w, "x");
            for (int f = 0; f < (i ? 4 : 3); f++)
                mf_w_f64(&w, bad[k][f]);
            if (i == 0 && k == 2)
                mf_w_u8(&w, 0); /* a circle has 3 numbers: make it trailing */
            cr_assert_null(decode(classes[i], w.buf, w.len, &err), "case %d", k);
            free(w.buf);
        }
    }
    mf_circle_free(c);
    mf_rect_free(r);
#ifdef HAVE_LSAN
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leak");
#endif
}

Test(shapes, random_garbage_never_crashes)
{
    mf_circle *c = mf_circle_new("g", 1, 2, 3);
    size_t vlen;
    unsigned char *valid = encode(&mf_circle_class, c, &vlen);
    uint64_t s = 42;
    int nbad = 0, decoded = 0;
    const mf_class *classes[] = {&mf_circle_class, &mf_rect_class};
    for (int iter = 0; iter < 20000; iter++) {
        unsigned char buf[96];
        size_t len;
        s = s * 6364136223846793005u + 1442695040888963407u;
        if (iter % 2) {
            memcpy(buf, valid, vlen);
            buf[(s >> 33) % vlen] ^= (unsigned char)(1u << ((s >> 20) % 8));
            len = vlen;
        } else {
            len = (s >> 40) % sizeof buf;
            for (size_t i = 0; i < len; i++) {
                s = s * 6364136223846793005u + 1442695040888963407u;
                buf[i] = (unsigned char)(s >> 56);
            }
        }
        const mf_class *cls = classes[iter % 4 < 2 ? 0 : 1];
        int err, bad;
        void *o = try_decode(cls, buf, len, cls->version, &err, &bad);
        nbad += bad;
        if (o) {
            decoded++;
            (void)mf_shape_area(o);
            (void)mf_shape_describe(o);
            cls->destroy(o);
        }
    }
    cr_assert_eq(nbad, 0);
    cr_assert(decoded > 0, "bit flips in the numbers still decode");
    free(valid);
    mf_circle_free(c);
#ifdef HAVE_LSAN
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leak");
#endif
}

Test(shapes, stream_in_honours_versions)
{
    mf_rect *r = mf_rect_new("v", 0, 0, 1, 1);
    size_t len;
    unsigned char *buf = encode(&mf_rect_class, r, &len);
    cr_assert_eq(mf_rect_class.version, MF_SHAPES_VERSION);
    cr_assert_eq(mf_circle_class.min_version, MF_SHAPES_MIN_VERSION);
    int err;
    for (uint32_t v = MF_SHAPES_MIN_VERSION; v <= MF_SHAPES_VERSION; v++) {
        void *o = decode_ver(&mf_rect_class, buf, len, v, &err);
        cr_assert_not_null(o);
        mf_rect_class.destroy(o);
    }
    cr_assert_null(decode_ver(&mf_rect_class, buf, len, MF_SHAPES_VERSION + 1, &err));
    cr_assert_eq(err, MF_WIRE_CODEC);
    cr_assert_null(decode_ver(&mf_rect_class, buf, len, 0, &err));
    free(buf);
    mf_rect_free(r);
}

Test(shapes, plugin_module_rebuilds_with_its_own_vtable)
{
    void *dl = dlopen(MF_TEST_PLUGIN_DIR "/mapfile-shapes.so", RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(dl, "build the mapfile-shapes target first: %s", dlerror());
    mf_plugin_entry_fn entry = (mf_plugin_entry_fn)dlsym(dl, MF_PLUGIN_ENTRY_NAME);
    cr_assert_not_null(entry);
    const mf_plugin *pl = entry();
    cr_assert_str_eq(pl->name, "shapes");
    cr_assert_eq(pl->abi_major, MF_ABI_MAJOR);
    cr_assert_str_eq(pl->classes[0]->name, "circle");
    cr_assert_str_eq(pl->classes[1]->name, "rect");
    cr_assert_null(pl->classes[2]);

    mf_circle *c = mf_circle_new("via module", 0, 0, 1);
    size_t len;
    unsigned char *buf = encode(&mf_circle_class, c, &len);
    int err;
    mf_circle *c2 = decode(pl->classes[0], buf, len, &err);
    cr_assert_not_null(c2);
    /* The module's table, not ours and not the producer's. */
    cr_assert_neq(c2->ops, &mf_circle_ops);
    cr_assert_neq(c2->ops, c->ops);
    cr_assert_str_eq(c2->ops->kind, "circle");
    cr_assert_eq(c2->ops->area(c2), mf_shape_area(c));
    Dl_info info;
    cr_assert(dladdr(c2->ops, &info) && info.dli_fname);
    cr_assert(strstr(info.dli_fname, "mapfile-shapes.so"), "table lives in %s",
              info.dli_fname);
    pl->classes[0]->destroy(c2);
    free(buf);
    mf_circle_free(c);
    dlclose(dl);
}

/* ------------------------------------------------------------------------ */
/* Through a map file                                                       */
/* ------------------------------------------------------------------------ */

Test(mapfile, consumer_shape_uses_the_plugin_vtable_not_the_producer_one)
{
    const char *path = mf_test_path("shapes.map");
    mf_registry *preg, *creg;
    cr_assert_eq(mf_registry_create(&preg), 0);
    cr_assert_eq(mf_registry_create(&creg), 0);
    cr_assert_eq(mf_registry_add_class(preg, &mf_circle_class), 0);
    cr_assert_eq(mf_registry_add_class(preg, &mf_rect_class), 0);
    cr_assert_eq(mf_registry_add_path(creg, MF_TEST_PLUGIN_DIR), 0);

    mf_open_options po = MF_OPEN_OPTIONS_INIT;
    po.registry = preg;
    mf_file *prod;
    cr_assert_eq(mf_open(&prod, path, MF_RECREATE, &po), 0, "%s", mf_errdetail());
    mf_circle *c = mf_circle_new("sun", 1, 2, 3);
    mf_rect *r = mf_rect_new("door", 0, 0, 1, 2);
    cr_assert_eq(mf_put(prod, "sky/sun", "circle", c), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_put(prod, "house/door", "rect", r), 0, "%s", mf_errdetail());

    /* The stored bytes hold no pointer of the producer. */
    void *raw;
    mf_record_info info;
    cr_assert_eq(mf_get_raw_alloc(prod, "sky/sun", &raw, &info), 0);
    cr_assert_not(contains(raw, info.size, &c->ops, sizeof c->ops));
    free(raw);

    mf_open_options co = MF_OPEN_OPTIONS_INIT;
    co.registry = creg;
    mf_file *cons;
    cr_assert_eq(mf_open(&cons, path, MF_READ, &co), 0, "%s", mf_errdetail());
    void *obj;
    const mf_class *cls;
    cr_assert_eq(mf_get(cons, "sky/sun", &obj, &cls), 0, "%s", mf_errdetail());
    const struct mf_shape_ops *ops = mf_shape_ops_of(obj);
    cr_assert_neq(ops, &mf_circle_ops, "the plugin rebuilt it with its own table");
    Dl_info dl;
    cr_assert(dladdr(ops, &dl) && strstr(dl.dli_fname, "mapfile-shapes.so"));
    cr_assert_eq(ops->area(obj), mf_shape_area(c));

    mf_value ret;
    cr_assert_eq(mf_call(cls, obj, "describe", NULL, 0, &ret), 0, "%s", mf_errdetail());
    cr_assert_eq(ret.type, MF_T_STR);
    cr_assert(strstr(ret.v.s, "circle \"sun\" at (1, 2) r=3"), "%s", ret.v.s);
    cr_assert_eq(mf_call(cls, obj, "area", NULL, 0, &ret), 0);
    cr_assert_eq(ret.v.d, mf_shape_area(c));
    mf_object_free(cls, obj);

    cr_assert_eq(mf_get(cons, "house/door", &obj, &cls), 0);
    cr_assert_eq(mf_shape_area(obj), 2);
    cr_assert_str_eq(mf_shape_ops_of(obj)->kind, "rect");
    mf_object_free(cls, obj);

    cr_assert_eq(mf_close(cons), 0);
    cr_assert_eq(mf_close(prod), 0);
    mf_circle_free(c);
    mf_rect_free(r);
    mf_registry_free(creg);
    mf_registry_free(preg);
}
