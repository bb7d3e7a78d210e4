/* shapes_consumer.c - gets a shape back knowing nothing of the shapes code
 * at build time: the registry loads mapfile-shapes.so, whose stream_in
 * points the new object at the plugin's own ops table.
 *
 *   shapes_consumer MAP NAME
 *
 * Prints, numbers in %a:
 *   ops ADDRESS FILE     the rebuilt shape's ops table and its object file
 *   kind KIND            ops->kind
 *   area A               through obj->ops->area(obj)
 *   call_area A          through mf_call(cls, obj, "area")
 *   describe TEXT        through obj->ops->describe(obj)
 * Exit: 0 done, 1 mapfile error, 2 usage. */
#include <mapfile/mapfile.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The consumer's own view of a shape: the layout every shape starts with,
 * as documented by the plugin (a pointer to its table of functions). */
struct shape_ops {
    double (*area)(const void *shape);
    const char *(*describe)(void *shape);
    const char *kind;
};

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MAP NAME\n", argv[0]);
        return 2;
    }
    mf_file *mf = NULL;
    void *obj;
    const mf_class *cls;
    int rc = mf_open(&mf, argv[1], MF_READ, NULL);
    if (!rc)
        rc = mf_get(mf, argv[2], &obj, &cls);
    if (rc) {
        printf("error %s %s\n", mf_err_name(rc), mf_errdetail());
        fflush(stdout);
        mf_close(mf);
        return 1;
    }
    const struct shape_ops *ops;
    memcpy(&ops, obj, sizeof ops);
    Dl_info dl;
    const char *file = dladdr(ops, &dl) && dl.dli_fname ? dl.dli_fname : "?";
    printf("ops %#jx %s\n", (uintmax_t)(uintptr_t)ops, file);
    printf("kind %s\n", ops->kind);
    printf("area %a\n", ops->area(obj));
    mf_value ret;
    rc = mf_call(cls, obj, "area", NULL, 0, &ret);
    if (rc) {
        printf("error %s %s\n", mf_err_name(rc), mf_errdetail());
        fflush(stdout);
        mf_object_free(cls, obj);
        mf_close(mf);
        return 1;
    }
    printf("call_area %a\n", ret.v.d);
    printf("describe %s\n", ops->describe(obj));
    mf_object_free(cls, obj);
    mf_close(mf);
    fflush(stdout);
    return 0;
}
