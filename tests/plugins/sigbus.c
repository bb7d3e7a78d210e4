/*
 * sigbus.c - test plugins that fault on their own data, not on a map file
 * (issue 12, item 9). Each truncates a file it has mapped (a memfd) and
 * reads a page that is no longer there: SIGBUS, with an address in the
 * plugin's own mapping.
 *
 *   TP_SIGBUS_IN:    class tp.sigbus_in; stream_in faults, then decodes
 *   TP_SIGBUS_ENTRY: class tp.sigbus_entry; the plugin entry faults while
 *                    the registry loads it
 *
 * A process that handles the fault itself (a handler that maps a page
 * there) gets a working codec; otherwise the process dies of SIGBUS.
 */
#include <mapfile/codec.h>

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Read one byte of a page cut off from its file. Returns what was read (0
 * when a handler put a zero page there). */
static int touch_truncated_page(void)
{
    long page = sysconf(_SC_PAGESIZE);
    int fd = memfd_create("tp-sigbus", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 2 * page) != 0)
        abort();
    volatile unsigned char *p = mmap(NULL, (size_t)(2 * page), PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED || ftruncate(fd, 0) != 0)
        abort();
    int v = p[page];
    munmap((void *)p, (size_t)(2 * page));
    close(fd);
    return v;
}

typedef struct tp_obj {
    int64_t v;
} tp_obj;

static int obj_out(const void *obj, mf_writer *w)
{
    mf_w_i64(w, ((const tp_obj *)obj)->v);
    return w->err ? -1 : 0;
}

static void *obj_in(mf_reader *r, uint32_t version)
{
    (void)version;
#ifdef TP_SIGBUS_IN
    touch_truncated_page();
#endif
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

#ifdef TP_SIGBUS_IN
static const mf_class cls = {sizeof(mf_class), "tp.sigbus_in", 1, 1, obj_out, obj_in,
                             obj_destroy, NULL, NULL, NULL, NULL, NULL, NULL, 0};
MF_DEFINE_PLUGIN(sigbus_in, &cls)
#else
static const mf_class cls = {sizeof(mf_class), "tp.sigbus_entry", 1, 1, obj_out, obj_in,
                             obj_destroy, NULL, NULL, NULL, NULL, NULL, NULL, 0};
MF_PLUGIN_EXPORT const mf_plugin *MF_PLUGIN_ENTRY(void);
MF_PLUGIN_EXPORT const mf_plugin *MF_PLUGIN_ENTRY(void)
{
    static const mf_class *const classes[] = {&cls, NULL};
    static const mf_plugin plugin = {sizeof(mf_plugin), MF_ABI_MAJOR, MF_ABI_MINOR,
                                     "sigbus_entry", classes};
    touch_truncated_page();
    return &plugin;
}
#endif
