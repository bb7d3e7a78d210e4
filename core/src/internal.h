/*
 * internal.h - what the core's subsystems share. Public names are mf_,
 * internal non-static names are mf__.
 */
#ifndef MF_INTERNAL_H
#define MF_INTERNAL_H

#include <mapfile/mapfile.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#define MF__UNUSED(x) ((void)(x))

/* Record a detail message for mf_errdetail() and return err, so a failing
 * path reads: return mf__fail(MF_ENOTFOUND, "no record '%s'", name); */
int mf__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clear the detail message (called on entry by public functions that may
 * set one, so a stale message never describes a later success). */
void mf__clear_detail(void);
/* The current detail buffer, for callers that add context. */
const char *mf__detail(void);

/* A hostile string made printable and short (at most MF__QUOTE_MAX
 * characters, control bytes as \xNN) for messages; returns buf. A buffer of
 * MF__QUOTE_MAX * 4 + 8 bytes always holds the result. */
#define MF__QUOTE_MAX 64
const char *mf__quote(char *buf, size_t cap, const char *s);
/* What a codec's sticky #mf_wire_error means, for details. */
const char *mf__wire_error_text(int wire_err);

/* registry.c: the search path as one printable string ("a:b:c"), for
 * "no codec" messages. Valid until the registry changes. */
const char *mf__registry_path_string(mf_registry *reg);

/* registry.c: where a class came from: a plugin's file path, or
 * "in-process". Valid for the registry's lifetime. */
const char *mf__registry_class_origin(mf_registry *reg, const mf_class *cls);

/* plugindir.c: the default plugin directory (beside libmapfile.so, or the
 * configured one for libmapfile.a) as a malloc'd path, NULL if it cannot be
 * known; *from_build is set when it is a build tree's. 0 or MF_ENOMEM. */
int mf__default_plugin_dir(char **out, int *from_build);

/* call.c / registry.c: method tables prepared when a class is registered.
 * mf__methods_prepare validates every signature of cls and prepares its
 * libffi cifs; it returns MF_ESIGNATURE (detail names the method) on a bad
 * signature. */
int mf__methods_prepare(const mf_class *cls);
void mf__methods_forget(const mf_class *cls);

/* builtin.c: the built-in "text" and "blob" classes, always in-process. */
extern const mf_class mf__text_class;
extern const mf_class mf__blob_class;

/* checksum.c: XXH3-64 of a payload (and of names). */
uint64_t mf__checksum(const void *data, size_t len);
/* Which code path long checksums take on this CPU, for reports. */
const char *mf__checksum_path(void);

/* lock.c: getpid() without a system call per writer lock. */
uint32_t mf__pid(void);

/* Class names: 1..127 bytes of [A-Za-z0-9_.:-]. Returns 0 or MF_ENAME. */
int mf__check_class_name(const char *name);

/* guard.c: run `call` (an int expression) so that a SIGBUS from a map file
 * truncated under us makes rc MF_ECORRUPT instead of killing the process.
 * Guards nest. */
extern _Thread_local sigjmp_buf *mf__guard_env;
void mf__guard_init(void);
/* Register a mapping of ours before use, unregister it before munmap: the
 * handler only jumps for faults inside registered mappings. */
void mf__guard_map(const void *base, size_t len);
void mf__guard_unmap(const void *base);
int mf__guard_tripped(void);
#define MF__GUARDED(rc, call)                                   \
    do {                                                        \
        sigjmp_buf env_;                                        \
        sigjmp_buf *volatile saved_ = mf__guard_env;            \
        mf__guard_init();                                       \
        if (sigsetjmp(env_, 0)) {                               \
            mf__guard_env = saved_;                             \
            (rc) = mf__guard_tripped();                         \
        } else {                                                \
            mf__guard_env = &env_;                              \
            (rc) = (call);                                      \
            mf__guard_env = saved_;                             \
        }                                                       \
    } while (0)

/* Crash points for the tests: when set, called at every step of a change
 * where a writer could die, so a test can kill itself at each one. NULL in
 * production; costs one predictable branch. */
extern void (*mf__crash_point)(void);
/* How long a check on a read-only handle waits for writers to pause
 * before it checks the records alone (1 s; tests set 0 to check the
 * records alone beside a busy writer every time). */
extern int64_t mf__check_still_wait_ns;
/* Called by a check with each insertion-order entry it is about to check,
 * inside that entry's read window (tests change the file there). NULL in
 * production. */
extern void (*mf__check_entry_hook)(uint64_t entry);
#define MF__CRASH_POINT()                                  \
    do {                                                   \
        if (__builtin_expect(mf__crash_point != NULL, 0))  \
            mf__crash_point();                             \
    } while (0)

#endif
