/* static_plugin.c - plugin.c for libmapfile_hist.a: mapfile_plugin_hist()
 * without the plugin entry symbol, so it links beside any other codec. */
#define MF_CODEC_STATIC
#include "plugin.c"
