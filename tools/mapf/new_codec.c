/* new_codec.c - `mapf new-codec NAME [DIR]`: a buildable codec project for
 * class NAME, written from the installed template (share/mapfile/template,
 * found relative to this program, or MAPFILE_TEMPLATE_DIR). The template's
 * calib codec becomes NAME's: the class name, the plugin's C name
 * (mapfile_plugin_<id>) and the CMake targets and file names (<id>_codec)
 * change; everything else is the template, ready to edit. */
#include "mapf.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TEMPLATE_FILE (1 << 20)

/* The template's files; calib_codec.c is renamed to <id>_codec.c. */
static const char *const template_files[] = {
    "calib_codec.c", "calib.h", "calib_sample.h", "producer.c", "consumer.c",
    "CMakeLists.txt", "README.md", NULL};
/* The generated variant's (--gen): its CMakeLists.txt runs mapf gen. */
static const char *const template_gen_files[] = {
    "calib.h", "calib_sample.h", "producer.c", "consumer.c", "CMakeLists.txt",
    "README.md", NULL};

static const mapf_option options[] = {{"--gen", NULL, 0}, {NULL, NULL, 0}};

/* Where the template is: MAPFILE_TEMPLATE_DIR, else beside this program's
 * prefix (MAPF_TEMPLATE_RELDIR is bin -> share/mapfile/template). */
static int template_dir(char *out, size_t cap)
{
    const char *env = getenv("MAPFILE_TEMPLATE_DIR");
    if (env && *env)
        return snprintf(out, cap, "%s", env) < (int)cap ? 0 : -1;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return snprintf(out, cap, "%s/%s", self, MAPF_TEMPLATE_RELDIR) < (int)cap ? 0 : -1;
}

int mapf_class_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n && n <= MF_CLASS_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_.:-") == n;
}

void mapf_c_identifier(const char *name, char *id, size_t cap)
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

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(MAX_TEMPLATE_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_TEMPLATE_FILE + 1, f) : 0;
    int bad = ferror(f) || n > MAX_TEMPLATE_FILE;
    fclose(f);
    if (!buf || bad) {
        free(buf);
        if (!bad)
            errno = ENOMEM;
        else
            errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Write @p text to @p out with every @p from replaced by @p to. */
static void put_replaced(FILE *out, const char *text, const char *const (*subst)[2])
{
    while (*text) {
        size_t k = 0;
        for (; subst[k][0]; k++)
            if (strncmp(text, subst[k][0], strlen(subst[k][0])) == 0)
                break;
        if (subst[k][0]) {
            fputs(subst[k][1], out);
            text += strlen(subst[k][0]);
        } else {
            fputc(*text++, out);
        }
    }
}

static int write_file(const char *src_dir, const char *file, const char *dst_dir,
                      const char *id, const char *const (*subst)[2])
{
    char src[PATH_MAX], dst[PATH_MAX];
    int ns = snprintf(src, sizeof src, "%s/%s", src_dir, file);
    int nd = strcmp(file, "calib_codec.c") == 0
                 ? snprintf(dst, sizeof dst, "%s/%s_codec.c", dst_dir, id)
                 : snprintf(dst, sizeof dst, "%s/%s", dst_dir, file);
    if (ns < 0 || nd < 0 || (size_t)ns >= sizeof src || (size_t)nd >= sizeof dst) {
        errorf("new-codec", "path too long: %s/%s", dst_dir, file);
        return EXIT_USAGE;
    }
    size_t len;
    char *text = read_all(src, &len);
    if (!text) {
        errorf("new-codec", "cannot read the template file %s: %s (is the "
               "template installed? set MAPFILE_TEMPLATE_DIR to its folder)",
               src, strerror(errno));
        return EXIT_USAGE;
    }
    FILE *out = fopen(dst, "wx");
    int rc = EXIT_OK;
    if (!out) {
        errorf("new-codec", "cannot create %s: %s", dst, strerror(errno));
        rc = EXIT_USAGE;
    } else {
        put_replaced(out, text, subst);
        if (fclose(out) != 0) {
            errorf("new-codec", "cannot write %s: %s", dst, strerror(errno));
            rc = EXIT_USAGE;
        }
    }
    free(text);
    return rc;
}

static int run_new_codec(const mapf_args *a)
{
    const char *name = a->pos[0];
    if (!mapf_class_name_ok(name)) {
        errorf("new-codec", "'%s' is not a class name: 1 to %d bytes of "
               "[A-Za-z0-9_.:-]", name, MF_CLASS_NAME_MAX);
        return EXIT_USAGE;
    }
    char id[MF_CLASS_NAME_MAX + 2];
    mapf_c_identifier(name, id, sizeof id);
    char dir_buf[PATH_MAX];
    const char *dir = a->npos > 1 ? a->pos[1] : id;
    char tdir[PATH_MAX];
    int gen = mapf_flag(a, "--gen");
    if (template_dir(tdir, sizeof tdir) != 0 ||
        (gen && strlen(tdir) + sizeof "-gen" > sizeof tdir)) {
        errorf("new-codec", "cannot locate the template: set MAPFILE_TEMPLATE_DIR");
        return EXIT_USAGE;
    }
    if (gen)
        strcat(tdir, "-gen"); /* share/mapfile/template-gen */
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        errorf("new-codec", "cannot create %s: %s", dir, strerror(errno));
        return EXIT_USAGE;
    }
    snprintf(dir_buf, sizeof dir_buf, "%s", dir);
    char cls[MF_CLASS_NAME_MAX + 8], codec[MF_CLASS_NAME_MAX + 16],
        plugin[MF_CLASS_NAME_MAX + 24];
    snprintf(cls, sizeof cls, "\"%s\"", name);
    snprintf(codec, sizeof codec, "%s_codec", id);
    snprintf(plugin, sizeof plugin, "MF_DEFINE_PLUGIN(%s,", id);
    char fn[MF_CLASS_NAME_MAX + 32];
    snprintf(fn, sizeof fn, "mapfile_plugin_%s", id);
    /* --gen: the class mapf gen is told, and the file it writes. */
    char gen_class[MF_CLASS_NAME_MAX + 16], gen_codec[MF_CLASS_NAME_MAX + 24];
    snprintf(gen_class, sizeof gen_class, "--class %s", name);
    snprintf(gen_codec, sizeof gen_codec, "%s_codec.c", id);
    const char *const subst[][2] = {{"\"calib_table\"", cls},
                                    {"calib_table_codec.c", gen_codec},
                                    {"--class calib_table", gen_class},
                                    {"calib_codec", codec},
                                    {"MF_DEFINE_PLUGIN(calib,", plugin},
                                    {"mapfile_plugin_calib", fn},
                                    {NULL, NULL}};
    const char *const *files = gen ? template_gen_files : template_files;
    for (size_t i = 0; files[i]; i++) {
        int rc = write_file(tdir, files[i], dir_buf, id, subst);
        if (rc)
            return rc;
    }
    if (gen)
        printf("wrote a generated codec project for class '%s' in %s/ (calib.h: edit the\n"
               "struct; CMakeLists.txt runs mapf gen on it; README.md)\n", name, dir);
    else
        printf("wrote a codec for class '%s' in %s/ (%s.c, CMakeLists.txt, README.md)\n",
               name, dir, codec);
    printf("build it:  cmake -S %s -B %s/build && cmake --build %s/build\n"
           "try it:    MAPFILE_PLUGIN_PATH=%s/build mapf plugins\n",
           dir, dir, dir, dir);
    return finish_stdout(EXIT_OK);
}

const mapf_command mapf_cmd_new_codec = {
    .name = "new-codec",
    .run = run_new_codec,
    .options = options,
    .min_pos = 1,
    .max_pos = 2,
    .synopsis = "NAME [DIR] [--gen]",
    .help = "Write a codec project for class NAME into DIR (default: NAME as a C\n"
            "identifier), from the installed template share/mapfile/template (or\n"
            "MAPFILE_TEMPLATE_DIR): NAME_codec.c (the codec: edit its struct and\n"
            "stream functions), calib.h, CMakeLists.txt, README.md and an example\n"
            "producer and consumer. Existing files are never overwritten. Build it\n"
            "with cmake against the installed mapfile; `cmake --install` puts the\n"
            "plugin beside mapfile's own.\n"
            "\n"
            "--gen: from the generated variant (share/mapfile/template-gen, or\n"
            "MAPFILE_TEMPLATE_DIR with -gen appended) instead: no codec source to\n"
            "edit; calib.h holds the struct and CMakeLists.txt runs `mapf gen` on it\n"
            "at build time.\n",
};
