/* fuzz_common.h - what the libFuzzer harnesses share: a registry with every
 * shipped class in-process, and the contract every consumer call must keep
 * on hostile input (0 or a documented MF_ code, with a detail message).
 * A broken contract aborts, so libFuzzer saves the input. */
#ifndef MF_FUZZ_COMMON_H
#define MF_FUZZ_COMMON_H

#include "fuzz_writer.h"
#include <mapfile/builtin.h>
#include <mapfile/hist.h>
#include <mapfile/mapfile.h>
#include <mapfile/shapes.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every class the project ships, in the order fuzz_codec's selector uses. */
static const char *const fz_class_names[] = {"text", "blob", "hist1d", "hist2d",
                                             "profile", "circle", "rect"};
#define FZ_NCLASSES (sizeof fz_class_names / sizeof fz_class_names[0])

static inline mf_registry *fz_registry(void)
{
    static mf_registry *reg;
    if (reg)
        return reg;
    /* Plugins are never loaded: only the in-process classes count. */
    unsetenv("MAPFILE_PLUGIN_PATH");
    if (mf_registry_create(&reg))
        abort();
    const mf_class *cls[] = {&mf_hist1d_class, &mf_hist2d_class, &mf_profile_class,
                             &mf_circle_class, &mf_rect_class};
    for (size_t i = 0; i < sizeof cls / sizeof cls[0]; i++)
        if (mf_registry_add_class(reg, cls[i]))
            abort();
    return reg;
}

static inline void fz_violation(const char *what, int rc)
{
    fprintf(stderr, "contract broken: %s returned %d (%s); detail: '%s'\n", what, rc,
            mf_err_name(rc), mf_errdetail());
    abort();
}

/* rc must be 0 or one of the zero-terminated codes, with a detail. */
static inline void fz_expect(const char *what, int rc, const int *codes)
{
    if (rc == 0)
        return;
    for (const int *c = codes; *c; c++)
        if (rc == *c) {
            if (!mf_errdetail()[0])
                fz_violation(what, rc);
            return;
        }
    fz_violation(what, rc);
}

/* A decoded object must be usable: print it, write its JSON. */
static inline void fz_use_object(const mf_class *cls, const void *obj)
{
    static FILE *sink;
    if (!sink && !(sink = fopen("/dev/null", "w")))
        abort();
    if (cls->print)
        cls->print(obj, sink);
    if (cls->to_json) {
        mf_writer w = {NULL, 0, 0, 0, fz_reserve, NULL};
        if (cls->to_json(obj, &w) != 0 || w.err) {
            fprintf(stderr, "contract broken: %s to_json failed on an object its "
                    "stream_in accepted\n", cls->name);
            abort();
        }
        free(w.buf);
    }
}

#endif
