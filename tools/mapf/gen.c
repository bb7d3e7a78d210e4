/* gen.c - `mapf gen HEADER --struct NAME [--class CLASS] [--out DIR]`:
 * read a C header with libclang (gen_model.c) and write a complete codec
 * plugin project for struct NAME (gen_emit.c): CLASS_codec.c,
 * CMakeLists.txt and README.md. The work is in gen_run.c, a module loaded
 * only by this command, so no other mapf command loads LLVM. Built without
 * libclang, the command is there and says so. */
#include "mapf.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern const mapf_command mapf_cmd_gen;

static const mapf_option options[] = {
    {"--struct", NULL, 1}, {"--class", NULL, 1}, {"--out", NULL, 1}, {NULL, NULL, 0}};

#ifndef MAPFILE_HAVE_GEN

static int run_gen(const mapf_args *a)
{
    (void)a;
    errorf("gen", "this mapf was built without libclang: install libclang-dev and "
           "configure mapfile with -DMAPFILE_GEN=ON");
    return EXIT_USAGE;
}

#else

#include <dlfcn.h>

typedef int (*mapf_gen_run_fn)(const mapf_args *a);

/* Load mapf-gen.so: installed beside libmapfile (MAPF_GEN_RELDIR from the
 * program's folder), or in a build tree at ../lib/mapfile. */
static void *load_gen(char *tried, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    const char *dirs[] = {MAPF_GEN_RELDIR, "../lib/mapfile"};
    size_t used = 0;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s/mapf-gen.so", self, dirs[i]);
        if (access(path, F_OK) != 0) {
            used += (size_t)snprintf(tried + used, used < cap ? cap - used : 0, "%s%s",
                                     used ? ", " : "", path);
            continue;
        }
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h)
            snprintf(tried, cap, "%s", dlerror());
        return h;
    }
    return NULL;
}

static int run_gen(const mapf_args *a)
{
    char why[2 * PATH_MAX + 200] = "";
    void *h = load_gen(why, sizeof why);
    mapf_gen_run_fn run = h ? (mapf_gen_run_fn)(uintptr_t)dlsym(h, "mapf_gen_run") : NULL;
    if (!run) {
        errorf("gen", "cannot load the libclang part of mapf gen (mapf-gen.so): %s",
               h ? dlerror() : why[0] ? why : "this program's path is unknown");
        return EXIT_USAGE;
    }
    return run(a); /* the module stays loaded until mapf exits */
}

#endif /* MAPFILE_HAVE_GEN */

const mapf_command mapf_cmd_gen = {
    .name = "gen",
    .run = run_gen,
    .options = options,
    .min_pos = 1,
    .max_pos = 1,
    .synopsis = "HEADER --struct NAME [--class CLASS] [--out DIR]",
    .help = "Write a codec plugin project for C struct NAME, read from HEADER with\n"
            "libclang, into DIR: ID_codec.c (ID is CLASS as a C identifier: stream_out,\n"
            "stream_in, destroy, to_json, print and the plugin descriptor),\n"
            "CMakeLists.txt (builds it against the installed mapfile), README.md and\n"
            "ID.schema.\n"
            "CLASS (default NAME) is the class name stored in the file; DIR defaults\n"
            "to ./CLASS. Generated files are replaced; your own files there (ID_ops.c)\n"
            "are kept. DIR/ID.schema keeps the struct's schema history: when the\n"
            "struct changed since the last run, gen adds a version (the class version)\n"
            "and the codec reads every older one by field name (added fields zero,\n"
            "removed ones skipped, widened numbers converted); a change older data\n"
            "cannot be converted to is refused naming the field (exit 1, nothing\n"
            "written). Headers that HEADER includes are found beside it, in the SDK\n"
            "(<mapfile/gen.h>), the system folders and CPATH (colon-separated).\n"
            "\n"
            "Fields: integers of 8 to 64 bits, enums, bool, float, double, fixed\n"
            "arrays of any dimension, nested structs, arrays of structs, char *\n"
            "strings (NULL kept), struct pointers (optional, NULL kept), pointers\n"
            "marked MF_COUNT(n) from <mapfile/gen.h> (n elements, n another field),\n"
            "MF_SKIP (not stored) and MF_OPS (not stored, set by ID_set_ops()).\n"
            "Anything else (unions, bitfields, void *, unmarked pointers, flexible\n"
            "arrays, function pointers...) is an error naming the field: exit 1 and\n"
            "nothing is written. A header that does not parse, or has no struct\n"
            "NAME: exit 2.\n",
};
