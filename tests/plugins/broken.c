/*
 * broken.c - test plugins that a host must refuse, one defect per build.
 * Define exactly one TP_* macro (see CMakeLists.txt). Each entry call bumps
 * the environment variable MF_TP_ENTRY_CALLS, so a test can see that a
 * refused plugin is never tried again.
 */
#include <mapfile/codec.h>

#include <stdio.h>
#include <stdlib.h>

static int obj_out(const void *obj, mf_writer *w)
{
    (void)obj;
    mf_w_u8(w, 1);
    return w->err ? -1 : 0;
}

static void *obj_in(mf_reader *r, uint32_t version)
{
    static int one = 1;
    (void)version;
    mf_r_u8(r);
    return mf_reader_failed(r) ? NULL : &one;
}

static void obj_destroy(void *obj) { (void)obj; }

#if defined(TP_BAD_SIG)
static double m_fine(void *obj)
{
    (void)obj;
    return 1.0;
}

static const mf_method sig_methods[] = {
    MF_METHOD("fine", "d(o)", m_fine),
    MF_METHOD("broken", "d(o,x)", m_fine),
    {0, NULL, NULL, NULL},
};
#endif

/* A valid class listed before the bad one: the whole plugin must still be
 * refused, this one included. */
static const mf_class sibling = {
    sizeof(mf_class), "tp.broken_sibling", 1, 1, obj_out, obj_in, obj_destroy,
    NULL, NULL, NULL,
 NULL, NULL, NULL, 0};

#if defined(TP_NAME_NULL)
#define BAD_NAME NULL
#elif defined(TP_NAME_INVALID)
#define BAD_NAME "../evil"
#elif defined(TP_DUP_CLASS)
#define BAD_NAME "tp.dup"
#elif defined(TP_BAD_SIG)
#define BAD_NAME "tp.badsig"
#else
#define BAD_NAME "tp.broken"
#endif

static const mf_class bad = {
#if defined(TP_CLASS_SMALL)
    16,
#else
    sizeof(mf_class),
#endif
    BAD_NAME,
#if defined(TP_CLASS_VERSION)
    1, 2,
#else
    1, 1,
#endif
    obj_out, obj_in,
#if defined(TP_CLASS_NOFN)
    NULL,
#else
    obj_destroy,
#endif
    NULL, NULL,
#if defined(TP_BAD_SIG)
    sig_methods,
#else
    NULL,
#endif
    NULL, NULL, NULL, 0,
};

#if defined(TP_DUP_CLASS)
static const mf_class bad_again = {
    sizeof(mf_class), "tp.dup", 2, 1, obj_out, obj_in, obj_destroy,
    NULL, NULL, NULL,
 NULL, NULL, NULL, 0};
#endif

static const mf_class *const classes[] = {
    &sibling, &bad,
#if defined(TP_DUP_CLASS)
    &bad_again,
#endif
    NULL,
};

static const mf_plugin desc = {
#if defined(TP_SMALL_DESC)
    8,
#else
    sizeof(mf_plugin),
#endif
#if defined(TP_ABI_MAJOR)
    MF_ABI_MAJOR + 1, 0,
#elif defined(TP_ABI_MINOR)
    MF_ABI_MAJOR, MF_ABI_MINOR + 1,
#else
    MF_ABI_MAJOR, MF_ABI_MINOR,
#endif
    "broken", classes,
};

static void count_entry_call(void)
{
    const char *s = getenv("MF_TP_ENTRY_CALLS");
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", (s ? strtol(s, NULL, 10) : 0) + 1);
    setenv("MF_TP_ENTRY_CALLS", buf, 1);
}

#if defined(TP_NO_ENTRY)
/* Exported, but under the wrong name. */
MF_PLUGIN_EXPORT const mf_plugin *mapfile_plugin_entry_v0(void);
const mf_plugin *mapfile_plugin_entry_v0(void)
#else
MF_PLUGIN_EXPORT const mf_plugin *MF_PLUGIN_ENTRY(void);
const mf_plugin *MF_PLUGIN_ENTRY(void)
#endif
{
    count_entry_call();
#if defined(TP_ENTRY_NULL)
    (void)&desc;
    return NULL;
#else
    return &desc;
#endif
}
