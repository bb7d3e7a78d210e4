/* gen.c - `mapf gen HEADER --struct NAME [--class CLASS] [--out DIR]`:
 * read a C header with libclang (gen_model.c) and write a complete codec
 * plugin project for struct NAME (gen_emit.c): CLASS_codec.c,
 * CMakeLists.txt and README.md. Built without libclang, the command is
 * there and says so. */
#include "mapf.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

#include "gen_model.h"
#include "gen_schema.h"

/* The class name as a C identifier: other characters become '_'. */
static void c_identifier(const char *name, char *id, size_t cap)
{
    size_t i = 0;
    if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
          name[0] == '_'))
        id[i++] = 'c';
    for (; *name && i + 1 < cap; name++) {
        char c = *name;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_';
        id[i++] = ok ? c : '_';
    }
    id[i] = '\0';
}

static int valid_class(const char *name)
{
    return *name && strlen(name) <= MF_CLASS_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_.:-") == strlen(name);
}

/* -I for <mapfile/gen.h>: the installed headers beside this program, else
 * (a build tree) the SDK's sources. */
static int sdk_include(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            if (snprintf(out, cap, "-I%s/%s", self, MAPF_INCLUDE_RELDIR) < (int)cap &&
                access(out + 2, F_OK) == 0) {
                char probe[PATH_MAX + 32];
                snprintf(probe, sizeof probe, "%s/mapfile/gen.h", out + 2);
                if (access(probe, R_OK) == 0)
                    return 0;
            }
        }
    }
    return snprintf(out, cap, "-I%s", MAPF_SDK_SOURCE_INCLUDE) < (int)cap ? 0 : -1;
}

typedef int (*emit_fn)(FILE *out, const gen_model *m, const gen_target *t);

static int emit_cmake_adapter(FILE *out, const gen_model *m, const gen_target *t)
{
    (void)m;
    return gen_emit_cmake(out, t);
}

/* Write DIR/FILE through a temporary file and rename(), so a failed run
 * never leaves half a codec behind. */
static int write_output(const char *dir, const char *file, emit_fn emit,
                        const gen_model *m, const gen_target *t)
{
    char path[PATH_MAX], tmp[PATH_MAX + 16];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path) {
        errorf("gen", "path too long: %s/%s", dir, file);
        return EXIT_USAGE;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *out = fopen(tmp, "w");
    if (!out) {
        errorf("gen", "cannot create %s: %s", tmp, strerror(errno));
        return EXIT_USAGE;
    }
    int bad = emit(out, m, t) != 0;
    bad |= fclose(out) != 0;
    if (bad || rename(tmp, path) != 0) {
        errorf("gen", "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static int emit_schema_adapter(FILE *out, const gen_model *m, const gen_target *t)
{
    (void)m;
    return gen_history_write(out, t->hist, t->cls);
}

/* The schema file last: should a write fail, the next run regenerates the
 * same version from the history as it was. */
static int write_project(const char *dir, const gen_model *m, const gen_target *t)
{
    char codec[MF_CLASS_NAME_MAX + 16], schema[MF_CLASS_NAME_MAX + 16];
    snprintf(codec, sizeof codec, "%s_codec.c", t->id);
    snprintf(schema, sizeof schema, "%s.schema", t->id);
    int rc = write_output(dir, codec, gen_emit_codec, m, t);
    if (!rc)
        rc = write_output(dir, "CMakeLists.txt", emit_cmake_adapter, m, t);
    if (!rc)
        rc = write_output(dir, "README.md", gen_emit_readme, m, t);
    if (!rc)
        rc = write_output(dir, schema, emit_schema_adapter, m, t);
    return rc;
}

/* Bring the history in DIR/ID.schema up to the struct: unchanged, it stays
 * as it is; changed, the struct becomes the next version, if every older
 * version converts to it (else exit 1, naming each field, nothing written). */
static int evolve(const char *dir, const gen_model *m, gen_target *t, gen_history *h)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s.schema", dir, t->id) >= sizeof path) {
        errorf("gen", "path too long: %s/%s.schema", dir, t->id);
        return EXIT_USAGE;
    }
    int rc = gen_history_load(h, path, t->cls);
    if (rc)
        return rc;
    gen_sversion now;
    gen_schema_from_model(&now, m, (unsigned)h->nv + 1);
    if (h->nv && gen_sversion_equal(&h->v[h->nv - 1], &now)) {
        gen_sversion_free(&now);
    } else if (gen_evolve_check(h, &now) > 0) {
        errorf("gen", "struct %s cannot become version %u of class '%s' (above); "
               "nothing written, %s unchanged", t->struct_name, now.version, t->cls, path);
        gen_sversion_free(&now);
        return EXIT_MISSING;
    } else {
        gen_history_append(h, &now);
    }
    t->version = h->v[h->nv - 1].version;
    t->hist = h;
    return EXIT_OK;
}

static int run_gen(const mapf_args *a)
{
    const char *header = a->pos[0];
    const char *name = mapf_value(a, "--struct");
    if (!name)
        return usage_error(&mapf_cmd_gen, "--struct NAME is required");
    const char *cls = mapf_value(a, "--class") ? mapf_value(a, "--class") : name;
    if (!valid_class(cls)) {
        errorf("gen", "'%s' is not a class name: 1 to %d bytes of [A-Za-z0-9_.:-]", cls,
               MF_CLASS_NAME_MAX);
        return EXIT_USAGE;
    }
    const char *dir = mapf_value(a, "--out") ? mapf_value(a, "--out") : cls;
    char hdr_abs[PATH_MAX];
    if (!realpath(header, hdr_abs)) {
        errorf("gen", "%s: %s", header, strerror(errno));
        return EXIT_USAGE;
    }
    char inc[PATH_MAX + 2];
    if (sdk_include(inc, sizeof inc) != 0) {
        errorf("gen", "cannot locate the SDK headers (mapfile/gen.h)");
        return EXIT_USAGE;
    }
    const char *extra[] = {inc};
    gen_model m;
    int rc = gen_model_build(&m, hdr_abs, name, extra, 1);
    if (rc == EXIT_OK && m.nerrors) {
        errorf("gen", "%s: %d field%s of struct %s cannot be streamed (above); nothing "
               "written", header, m.nerrors, m.nerrors == 1 ? "" : "s", name);
        rc = EXIT_MISSING;
    }
    if (rc == EXIT_OK) {
        char id[MF_CLASS_NAME_MAX + 2];
        c_identifier(cls, id, sizeof id);
        char *slash = strrchr(hdr_abs, '/');
        *slash = '\0';
        gen_target t = {cls, id, name, slash + 1, hdr_abs[0] ? hdr_abs : "/", 1, NULL};
        gen_history h = {NULL, 0};
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            errorf("gen", "cannot create %s: %s", dir, strerror(errno));
            rc = EXIT_USAGE;
        }
        if (rc == EXIT_OK)
            rc = evolve(dir, &m, &t, &h);
        if (rc == EXIT_OK)
            rc = write_project(dir, &m, &t);
        if (rc == EXIT_OK)
            printf("wrote the codec of class '%s' version %u (struct %s, %zu struct%s) in "
                   "%s/: %s_codec.c, CMakeLists.txt, README.md, %s.schema\n"
                   "build it:  cmake -S %s -B %s/build && cmake --build %s/build\n",
                   cls, t.version, name, m.nrec, m.nrec == 1 ? "" : "s", dir, id, id, dir,
                   dir, dir);
        gen_history_free(&h);
    }
    gen_model_free(&m);
    return rc == EXIT_OK ? finish_stdout(rc) : rc;
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
