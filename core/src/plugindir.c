/*
 * plugindir.c - the plugin directory a registry searches after
 * MAPFILE_PLUGIN_PATH and mf_registry_add_path().
 *
 * This file is compiled twice, once into each library:
 *
 * - libmapfile.so (MF_PLUGIN_DIR_BESIDE_LIBRARY): the folder MF_PLUGIN_SUBDIR
 *   beside the library file itself, found with dladdr(). An install under any
 *   prefix, or a prefix moved elsewhere, finds its own plugins, and no path
 *   is compiled in. The build tree lays out lib/ the same way, so binaries
 *   run from it find the plugins just built there, and only those.
 * - libmapfile.a: the library cannot know where it was copied from, so it
 *   uses the directory configured at build time (MF_PLUGIN_INSTALL_DIR). A
 *   program of mapfile's own build tree (the tests) may define
 *   mf__build_plugin_dir() to search the build's plugins instead; nothing
 *   else defines it, so an installed libmapfile.a never looks into a build
 *   tree.
 */
#include "internal.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef MF_PLUGIN_DIR_BESIDE_LIBRARY

static char *join(const char *dir, size_t dir_len, const char *sub)
{
    size_t sub_len = strlen(sub);
    char *p = malloc(dir_len + 1 + sub_len + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, dir_len);
    p[dir_len] = '/';
    memcpy(p + dir_len + 1, sub, sub_len + 1);
    return p;
}

int mf__default_plugin_dir(char **out, int *from_build)
{
    *out = NULL;
    *from_build = 0;
    Dl_info info;
    /* Any function of this library locates the library's file. */
    if (dladdr((const void *)(uintptr_t)&mf__default_plugin_dir, &info) == 0 ||
        !info.dli_fname || info.dli_fname[0] != '/')
        return 0; /* unknown location: search no default directory */
    char real[PATH_MAX];
    if (!realpath(info.dli_fname, real))
        return 0;
    char *slash = strrchr(real, '/');
    *out = join(real, (size_t)(slash - real), MF_PLUGIN_SUBDIR);
    return *out ? 0 : MF_ENOMEM;
}

#else

/* Defined only by programs of mapfile's own build tree. */
const char *mf__build_plugin_dir(void) __attribute__((weak));

int mf__default_plugin_dir(char **out, int *from_build)
{
    const char *dir = MF_PLUGIN_INSTALL_DIR;
    *from_build = 0;
    if (mf__build_plugin_dir && mf__build_plugin_dir()) {
        dir = mf__build_plugin_dir();
        *from_build = 1;
    }
    *out = strdup(dir);
    return *out ? 0 : MF_ENOMEM;
}

#endif
