/**
 * @file mapfile/shapes.h
 * @brief Shapes with a vtable: the `circle` and `rect` classes.
 *
 * This is the example of why mapfile streams objects instead of sharing
 * them: every shape starts with a pointer to a table of functions
 * (#mf_shape_ops). That pointer is only meaningful in the process that set
 * it, so the codecs never write it. A consumer's stream_in points the new
 * object at the consumer's own table, and `obj->ops->area(obj)` runs the
 * consumer's code.
 *
 * Get the codecs either by linking the static library `mapfile_shapes` and
 * registering #mf_circle_class and #mf_rect_class in-process, or through
 * the plugin `mapfile-shapes.so`.
 *
 * ## Wire format (class version 1)
 * - circle: str name; f64 x, y, r
 * - rect:   str name; f64 x, y, w, h
 *
 * Coordinates must be finite, sizes finite and >= 0; anything else, and
 * bytes left over, make stream_in fail.
 */
#ifndef MAPFILE_SHAPES_H
#define MAPFILE_SHAPES_H

#include <string.h>

#include <mapfile/codec.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Class version written by the circle and rect codecs. */
#define MF_SHAPES_VERSION 1
/** Oldest class version they read. */
#define MF_SHAPES_MIN_VERSION 1

/** The virtual functions of a shape. */
struct mf_shape_ops {
    /** Area of the shape. */
    double (*area)(const void *shape);
    /** One-line description, owned by the shape: valid until the next
     *  describe() on it or its destruction. Never NULL. */
    const char *(*describe)(void *shape);
    /** Class name: "circle" or "rect". */
    const char *kind;
};

/** A circle centred on (x, y). */
typedef struct mf_circle {
    const struct mf_shape_ops *ops; /**< always first; this process's table */
    char *name;                     /**< never NULL */
    double x, y, r;
    char *desc_;                    /**< private: describe() result */
} mf_circle;

/** An axis-aligned rectangle with its lower-left corner at (x, y). */
typedef struct mf_rect {
    const struct mf_shape_ops *ops;
    char *name;
    double x, y, w, h;
    char *desc_;
} mf_rect;

/** This process's vtables; every circle/rect made here points to one. */
extern const struct mf_shape_ops mf_circle_ops, mf_rect_ops;
/** Codec descriptors, for mf_registry_add_class(). */
extern const mf_class mf_circle_class, mf_rect_class;

/**
 * Create a circle. @p name is copied (NULL means "").
 * @return NULL if a value is not finite, r < 0, or out of memory
 */
mf_circle *mf_circle_new(const char *name, double x, double y, double r);
/** Free a circle. NULL is ignored. */
void mf_circle_free(mf_circle *c);
/**
 * Create a rectangle. @return NULL if a value is not finite, w or h < 0,
 * or out of memory
 */
mf_rect *mf_rect_new(const char *name, double x, double y, double w, double h);
/** Free a rectangle. NULL is ignored. */
void mf_rect_free(mf_rect *r);

/**
 * The ops table of any shape (the pointer every shape starts with), so a
 * consumer holding a `void *` from mf_get() can write
 * `mf_shape_ops_of(obj)->area(obj)`.
 */
static inline const struct mf_shape_ops *mf_shape_ops_of(const void *shape)
{
    const struct mf_shape_ops *ops;
    memcpy(&ops, shape, sizeof ops);
    return ops;
}

/** Area through the shape's own vtable. */
static inline double mf_shape_area(const void *shape)
{
    return mf_shape_ops_of(shape)->area(shape);
}

/** Description through the shape's own vtable (see mf_shape_ops). */
static inline const char *mf_shape_describe(void *shape)
{
    return mf_shape_ops_of(shape)->describe(shape);
}

/*
 * Methods callable by name (mf_call), for both classes:
 *   area d(o), describe s(o)
 */

#ifdef __cplusplus
}
#endif

#endif /* MAPFILE_SHAPES_H */
