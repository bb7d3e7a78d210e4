/* plugin.c - the entry point of mapfile-hist.so. Only the module compiles
 * this file; the static library mapfile_hist exposes the same classes for
 * in-process registration. */
#include <mapfile/hist.h>

MF_DEFINE_PLUGIN(hist, &mf_hist1d_class, &mf_hist2d_class, &mf_profile_class)
