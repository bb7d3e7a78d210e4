/* plugin.c - the entry point of mapfile-shapes.so. Objects this module
 * rebuilds point at the module's own vtables. */
#include <mapfile/shapes.h>

MF_DEFINE_PLUGIN(shapes, &mf_circle_class, &mf_rect_class)
