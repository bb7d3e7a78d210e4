/*
 * good.c - a well-formed test plugin, built several times with different
 * TP_WHO / TP_OWN_CLASS / TP_SHARED_VERSION to make distinct plugins.
 *
 * Every build defines the same static function and the same exported
 * function, so a test can tell whether each plugin kept its own symbols
 * (RTLD_LOCAL) or was bound to another plugin's copy.
 */
#include <mapfile/codec.h>

#include <stdlib.h>

#if !defined(TP_WHO) || !defined(TP_WHO_ID) || !defined(TP_OWN_CLASS)
#error "define TP_WHO, TP_WHO_ID (the same as an identifier) and TP_OWN_CLASS"
#endif

/* The object of every class here: one int64. */
typedef struct tp_obj {
    int64_t v;
} tp_obj;

static const char *whoami(void) { return TP_WHO; }

/* Exported on purpose and called through the PLT: with RTLD_GLOBAL a
 * second plugin's call could bind to the first plugin's copy. */
MF_PLUGIN_EXPORT const char *tp_identity(void);
const char *tp_identity(void) { return TP_WHO; }

static int obj_out(const void *obj, mf_writer *w)
{
    mf_w_i64(w, ((const tp_obj *)obj)->v);
    return w->err ? -1 : 0;
}

static void *obj_in(mf_reader *r, uint32_t version)
{
    (void)version;
    int64_t v = mf_r_i64(r);
    if (mf_reader_failed(r))
        return NULL;
    tp_obj *o = malloc(sizeof *o);
    if (!o) {
        mf_r_fail(r, MF_WIRE_NOMEM);
        return NULL;
    }
    o->v = v;
    return o;
}

static void obj_destroy(void *obj) { free(obj); }

static const char *m_who(void *obj)
{
    (void)obj;
    return tp_identity();
}

static const char *m_static_who(void *obj)
{
    (void)obj;
    return whoami();
}

static int64_t m_value(void *obj) { return ((tp_obj *)obj)->v; }

static const mf_method methods[] = {
    MF_METHOD("who", "s(o)", m_who),
    MF_METHOD("static_who", "s(o)", m_static_who),
    MF_METHOD("value", "i(o)", m_value),
    {0, NULL, NULL, NULL},
};

static const mf_class own_class = {
    sizeof(mf_class), TP_OWN_CLASS, 1, 1, obj_out, obj_in, obj_destroy,
    NULL, NULL, methods,
 NULL, NULL, NULL, 0};

#ifdef TP_SHARED_VERSION
/* The same class name in several plugins: the version tells which won. */
static const mf_class shared_class = {
    sizeof(mf_class), "tp.shared", TP_SHARED_VERSION, 1, obj_out, obj_in,
    obj_destroy, NULL, NULL, methods,
 NULL, NULL, NULL, 0};
MF_DEFINE_PLUGIN(TP_WHO_ID, &own_class, &shared_class)
#else
MF_DEFINE_PLUGIN(TP_WHO_ID, &own_class)
#endif
