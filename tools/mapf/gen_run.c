/* gen_run.c - the part of `mapf gen` that needs libclang, built as the
 * module mapf-gen.so (lib/mapfile/ beside libmapfile) which gen.c loads
 * only when gen runs: linking LLVM into mapf itself cost every mapf
 * command about 0.1 s and 60 MB to load it. It reads the header
 * (gen_model.c), keeps the schema history (gen_schema.c, gen_evolve.c) and
 * writes the project (gen_emit.c); mapf's own helpers (errorf, the
 * options) come from the mapf program, which exports them. */
#include "mapf.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const mapf_command mapf_cmd_gen;

#include "gen_model.h"
#include "gen_schema.h"

/* The entry point gen.c looks up (mapf_gen_run_fn): the module's one
 * exported symbol. */
__attribute__((visibility("default"))) int mapf_gen_run(const mapf_args *a);

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

/* DIR/FILE.tmpPID left by a run that was killed (PID gone): removed, so a
 * codec directory does not collect them. */
static void remove_stale_temps(const char *dir, const char *file)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t fl = strlen(file);
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, file, fl) != 0 || strncmp(e->d_name + fl, ".tmp", 4) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + fl + 4, &end, 10);
        if (pid <= 0 || *end || end == e->d_name + fl + 4)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* still running (or not ours to ask) */
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < sizeof path)
            unlink(path);
    }
    closedir(d);
}

/* Write DIR/FILE through a temporary file and rename(), so a failed or
 * killed run never leaves half a codec behind. */
static int write_output(const char *dir, const char *file, emit_fn emit,
                        const gen_model *m, const gen_target *t)
{
    char path[PATH_MAX], tmp[PATH_MAX + 16];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path) {
        errorf("gen", "path too long: %s/%s", dir, file);
        return EXIT_USAGE;
    }
    remove_stale_temps(dir, file);
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

int mapf_gen_run(const mapf_args *a)
{
    const char *header = a->pos[0];
    const char *name = mapf_value(a, "--struct");
    if (!name)
        return usage_error(&mapf_cmd_gen, "--struct NAME is required");
    const char *cls = mapf_value(a, "--class") ? mapf_value(a, "--class") : name;
    if (!mapf_class_name_ok(cls)) {
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
        mapf_c_identifier(cls, id, sizeof id);
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
