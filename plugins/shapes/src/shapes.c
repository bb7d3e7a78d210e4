/* shapes.c - circle and rect: objects with a vtable, and codecs that never
 * store the vtable pointer but point rebuilt objects at this process's own
 * table. Compiled into both mapfile_shapes and mapfile-shapes.so. */
#include <mapfile/shapes.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char nomem_desc[] = "(out of memory)";

static char *dup_str(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

/* Replaces the cached description with a new formatted one. Control
 * characters (from a hostile name) become '?' so the string is safe to
 * print on a terminal. */
static const char *set_desc(char **cache, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *set_desc(char **cache, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!s)
        return nomem_desc; /* the old cache stays valid for its holders */
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    free(*cache);
    *cache = s;
    return s;
}

static int finite_pos(double v) { return isfinite(v) && v >= 0.0; }

/* Strings are stored with the name; a name longer than the payload fails
 * in mf_r_str_dup before anything is allocated for it. */
static void read_end(mf_reader *r)
{
    if (!r->err && r->pos != r->len)
        mf_r_fail(r, MF_WIRE_MALFORMED);
}

static int version_ok(mf_reader *r, uint32_t version)
{
    if (version < MF_SHAPES_MIN_VERSION || version > MF_SHAPES_VERSION) {
        mf_r_fail(r, MF_WIRE_CODEC);
        return 0;
    }
    return 1;
}

static void json_field(mf_writer *w, const char *key, double v)
{
    mf_w_printf(w, ",\"%s\":", key);
    mf_w_json_num(w, v);
}

static void json_head(mf_writer *w, const char *cls, const char *name)
{
    mf_w_printf(w, "{\"class\":");
    mf_w_json_str(w, cls);
    mf_w_printf(w, ",\"version\":%d,\"name\":", MF_SHAPES_VERSION);
    mf_w_json_str(w, name);
}

/* ---- circle ------------------------------------------------------------- */

static double circle_area(const void *o)
{
    const mf_circle *c = o;
    return 3.14159265358979323846 * c->r * c->r; /* M_PI is not C11 */
}

static const char *circle_describe(void *o)
{
    mf_circle *c = o;
    return set_desc(&c->desc_, "circle \"%s\" at (%g, %g) r=%g area=%g",
                    c->name, c->x, c->y, c->r, circle_area(c));
}

const struct mf_shape_ops mf_circle_ops = {circle_area, circle_describe,
                                           "circle"};

mf_circle *mf_circle_new(const char *name, double x, double y, double r)
{
    if (!isfinite(x) || !isfinite(y) || !finite_pos(r))
        return NULL;
    mf_circle *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ops = &mf_circle_ops;
    c->x = x;
    c->y = y;
    c->r = r;
    if (!(c->name = dup_str(name))) {
        free(c);
        return NULL;
    }
    return c;
}

void mf_circle_free(mf_circle *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->desc_);
    free(c);
}

static int circle_stream_out(const void *obj, mf_writer *w)
{
    const mf_circle *c = obj;
    /* c->ops is deliberately not written: it is an address in this
     * process only. */
    mf_w_str(w, c->name);
    mf_w_f64(w, c->x);
    mf_w_f64(w, c->y);
    mf_w_f64(w, c->r);
    return w->err ? -1 : 0;
}

static void *circle_stream_in(mf_reader *r, uint32_t version)
{
    if (!version_ok(r, version))
        return NULL;
    char *name = mf_r_str_dup(r);
    double x = mf_r_f64(r), y = mf_r_f64(r), rad = mf_r_f64(r);
    read_end(r);
    if (!r->err && (!isfinite(x) || !isfinite(y) || !finite_pos(rad)))
        mf_r_fail(r, MF_WIRE_CODEC);
    mf_circle *c = r->err ? NULL : mf_circle_new(name, x, y, rad);
    if (!c)
        mf_r_fail(r, MF_WIRE_NOMEM);
    free(name);
    return c;
}

static void circle_destroy(void *obj) { mf_circle_free(obj); }

static void circle_print(const void *obj, FILE *out)
{
    /* describe() caches into the object; print() must not modify it. */
    const mf_circle *c = obj;
    mf_circle tmp = *c;
    tmp.desc_ = NULL;
    fprintf(out, "%s\n", circle_describe(&tmp));
    free(tmp.desc_);
}

static int circle_to_json(const void *obj, mf_writer *w)
{
    const mf_circle *c = obj;
    json_head(w, "circle", c->name);
    json_field(w, "x", c->x);
    json_field(w, "y", c->y);
    json_field(w, "r", c->r);
    json_field(w, "area", circle_area(c));
    mf_w_u8(w, '}');
    return w->err ? -1 : 0;
}

/* ---- rect --------------------------------------------------------------- */

static double rect_area(const void *o)
{
    const mf_rect *r = o;
    return r->w * r->h;
}

static const char *rect_describe(void *o)
{
    mf_rect *r = o;
    return set_desc(&r->desc_, "rect \"%s\" at (%g, %g) %g x %g area=%g",
                    r->name, r->x, r->y, r->w, r->h, rect_area(r));
}

const struct mf_shape_ops mf_rect_ops = {rect_area, rect_describe, "rect"};

mf_rect *mf_rect_new(const char *name, double x, double y, double w, double h)
{
    if (!isfinite(x) || !isfinite(y) || !finite_pos(w) || !finite_pos(h))
        return NULL;
    mf_rect *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->ops = &mf_rect_ops;
    r->x = x;
    r->y = y;
    r->w = w;
    r->h = h;
    if (!(r->name = dup_str(name))) {
        free(r);
        return NULL;
    }
    return r;
}

void mf_rect_free(mf_rect *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->desc_);
    free(r);
}

static int rect_stream_out(const void *obj, mf_writer *w)
{
    const mf_rect *r = obj;
    mf_w_str(w, r->name);
    mf_w_f64(w, r->x);
    mf_w_f64(w, r->y);
    mf_w_f64(w, r->w);
    mf_w_f64(w, r->h);
    return w->err ? -1 : 0;
}

static void *rect_stream_in(mf_reader *r, uint32_t version)
{
    if (!version_ok(r, version))
        return NULL;
    char *name = mf_r_str_dup(r);
    double x = mf_r_f64(r), y = mf_r_f64(r);
    double w = mf_r_f64(r), h = mf_r_f64(r);
    read_end(r);
    if (!r->err && (!isfinite(x) || !isfinite(y) || !finite_pos(w) ||
                    !finite_pos(h)))
        mf_r_fail(r, MF_WIRE_CODEC);
    mf_rect *rc = r->err ? NULL : mf_rect_new(name, x, y, w, h);
    if (!rc)
        mf_r_fail(r, MF_WIRE_NOMEM);
    free(name);
    return rc;
}

static void rect_destroy(void *obj) { mf_rect_free(obj); }

static void rect_print(const void *obj, FILE *out)
{
    mf_rect tmp = *(const mf_rect *)obj;
    tmp.desc_ = NULL;
    fprintf(out, "%s\n", rect_describe(&tmp));
    free(tmp.desc_);
}

static int rect_to_json(const void *obj, mf_writer *w)
{
    const mf_rect *r = obj;
    json_head(w, "rect", r->name);
    json_field(w, "x", r->x);
    json_field(w, "y", r->y);
    json_field(w, "w", r->w);
    json_field(w, "h", r->h);
    json_field(w, "area", rect_area(r));
    mf_w_u8(w, '}');
    return w->err ? -1 : 0;
}

/* ---- methods: dispatched through the object's own vtable ---------------- */

static double m_area(void *o) { return mf_shape_area(o); }
static const char *m_describe(void *o) { return mf_shape_describe(o); }

static const mf_method shape_methods[] = {
    MF_METHOD("area", "d(o)", m_area),
    MF_METHOD("describe", "s(o)", m_describe),
    {sizeof(mf_method), NULL, NULL, NULL},
};

const mf_class mf_circle_class = {
    sizeof(mf_class), "circle", MF_SHAPES_VERSION, MF_SHAPES_MIN_VERSION,
    circle_stream_out, circle_stream_in, circle_destroy, circle_print,
    circle_to_json, shape_methods,
 NULL, NULL, NULL, 0};

const mf_class mf_rect_class = {
    sizeof(mf_class), "rect", MF_SHAPES_VERSION, MF_SHAPES_MIN_VERSION,
    rect_stream_out, rect_stream_in, rect_destroy, rect_print,
    rect_to_json, shape_methods,
 NULL, NULL, NULL, 0};
