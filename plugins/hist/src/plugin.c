/* plugin.c - the descriptor of the hist codecs. Compiled into the module
 * mapfile-hist.so (with the entry symbol) and, with MF_CODEC_STATIC, into
 * libmapfile_hist.a, where a producer registers all three classes with
 * mf_registry_add_plugin(reg, mapfile_plugin_hist()). */
#include <mapfile/hist.h>

MF_DEFINE_PLUGIN(hist, &mf_hist1d_class, &mf_hist2d_class, &mf_profile_class)
