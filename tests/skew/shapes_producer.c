/* shapes_producer.c - puts shapes from its own, statically linked copy of
 * the shapes code (classes registered in-process), so its vtables live in
 * this executable. shapes_consumer gets them back through the plugin
 * mapfile-shapes.so: two executables, two layouts, two tables.
 *
 *   shapes_producer MAP NAME X Y R   (a circle)
 *   shapes_producer MAP NAME X Y W H (a rect)
 *
 * Recreates MAP, puts the shape and prints, numbers in %a:
 *   ops ADDRESS FILE     the shape's ops table and the object file it is in
 *   area A               through obj->ops->area(obj)
 *   describe TEXT        through obj->ops->describe(obj)
 * Exit: 0 done, 1 mapfile error, 2 usage. */
#include <mapfile/mapfile.h>
#include <mapfile/shapes.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void free_shape(void *shape, int argc)
{
    if (argc == 6)
        mf_circle_free(shape);
    else
        mf_rect_free(shape);
}

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: %s MAP NAME X Y R | MAP NAME X Y W H\n", argv[0]);
        return 2;
    }
    double v[4];
    for (int i = 3; i < argc; i++)
        v[i - 3] = strtod(argv[i], NULL);
    mf_registry *reg = mf_registry_default();
    int rc = mf_registry_add_class(reg, &mf_circle_class);
    if (!rc)
        rc = mf_registry_add_class(reg, &mf_rect_class);
    if (rc) {
        printf("error %s %s\n", mf_err_name(rc), mf_errdetail());
        fflush(stdout);
        return 1;
    }
    void *shape;
    const char *cls;
    if (argc == 6) {
        shape = mf_circle_new(argv[2], v[0], v[1], v[2]);
        cls = "circle";
    } else {
        shape = mf_rect_new(argv[2], v[0], v[1], v[2], v[3]);
        cls = "rect";
    }
    if (!shape)
        return 2;
    mf_file *mf = NULL;
    rc = mf_open(&mf, argv[1], MF_RECREATE, NULL);
    if (!rc)
        rc = mf_put(mf, argv[2], cls, shape);
    if (rc) {
        printf("error %s %s\n", mf_err_name(rc), mf_errdetail());
        fflush(stdout);
        mf_close(mf);
        free_shape(shape, argc);
        return 1;
    }
    const struct mf_shape_ops *ops = mf_shape_ops_of(shape);
    Dl_info dl;
    const char *file = dladdr(ops, &dl) && dl.dli_fname ? dl.dli_fname : "?";
    printf("ops %#jx %s\n", (uintmax_t)(uintptr_t)ops, file);
    printf("area %a\n", ops->area(shape));
    printf("describe %s\n", ops->describe(shape));
    mf_close(mf);
    free_shape(shape, argc);
    fflush(stdout);
    return 0;
}
