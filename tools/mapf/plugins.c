/* plugins.c - `mapf plugins`: the codec search path (each directory
 * flagged when it is missing or unusable, as a "no codec" error flags it)
 * and every plugin on it, with its classes (and methods with -l), shadowed
 * duplicates and load failures. */
#include "mapf.h"

#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Search directories                                                       */
/* ------------------------------------------------------------------------ */

/* What is wrong with a search directory, checked the way the registry
 * scans it (opendir). */
typedef struct dir_state {
    const char *status; /* "ok", "missing", "not a directory", "unreadable" */
    const char *error;  /* strerror() text, NULL when ok */
    int relative;       /* resolved from the working directory */
} dir_state;

static dir_state check_dir(const char *path)
{
    dir_state s = {"ok", NULL, path[0] != '/'};
    DIR *d = opendir(path);
    if (d) {
        closedir(d);
        return s;
    }
    int e = errno;
    s.status = e == ENOENT ? "missing" : e == ENOTDIR ? "not a directory" : "unreadable";
    s.error = strerror(e);
    return s;
}

/* "  1. /dir [missing] (install dir)", "... [unreadable: Permission
 * denied] (MAPFILE_PLUGIN_PATH)". */
static void print_dir(size_t i, const char *path, const char *kind)
{
    dir_state s = check_dir(path);
    printf("  %zu. ", i + 1);
    fput_safe(path, stdout);
    if (strcmp(s.status, "missing") == 0 || strcmp(s.status, "not a directory") == 0)
        printf(" [%s]", s.status);
    else if (s.error)
        printf(" [%s: %s]", s.status, s.error);
    if (s.relative)
        printf(" [relative: depends on the working directory]");
    if (kind)
        printf(" (%s)", kind);
    putchar('\n');
}

static void json_dir(mf_writer *w, const char *path, const char *kind)
{
    dir_state s = check_dir(path);
    int f = 1;
    mf_w_u8(w, '{');
    json_kv_str(w, &f, "path", path);
    json_kv_str(w, &f, "kind", kind);
    json_kv_str(w, &f, "status", s.status);
    json_kv_str(w, &f, "error", s.error);
    json_kv_bool(w, &f, "relative", s.relative);
    mf_w_u8(w, '}');
}

/* Why directory number i is searched, from the registry that listed it. */
static const char *dir_kind(size_t i)
{
    const mf_registry_dir *d;
    size_t n;
    if (mf_registry_dirs(mf_registry_default(), &d, &n) != 0 || i >= n)
        return NULL;
    return d[i].kind;
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */
/* ------------------------------------------------------------------------ */

static void json_methods(mf_writer *w, int *first, const mf_class *cls)
{
    const mf_method_info *m = NULL;
    int nm = cls ? mf_class_methods(cls, &m) : 0;
    json_key(w, first, "methods");
    mf_w_u8(w, '[');
    for (int j = 0; j < nm; j++) {
        int h = 1;
        if (j)
            mf_w_u8(w, ',');
        mf_w_u8(w, '{');
        json_kv_str(w, &h, "name", m[j].name);
        json_kv_str(w, &h, "signature", m[j].signature);
        mf_w_u8(w, '}');
    }
    mf_w_u8(w, ']');
}

static void json_class(mf_writer *w, const mf_registry_class *rc, int long_fmt)
{
    int g = 1;
    mf_w_u8(w, '{');
    json_kv_str(w, &g, "name", rc->name);
    json_kv_u64(w, &g, "version", rc->version);
    json_kv_u64(w, &g, "min_version", rc->min_version);
    json_kv_bool(w, &g, "shadowed", rc->shadowed);
    json_kv_str(w, &g, "shadowed_by", rc->shadowed ? rc->shadowed_by : NULL);
    if (long_fmt)
        json_methods(w, &g, rc->cls);
    mf_w_u8(w, '}');
}

static void json_plugin(mf_writer *w, const mf_registry_plugin *p, int long_fmt)
{
    int f = 1;
    mf_w_u8(w, '{');
    json_kv_str(w, &f, "path", p->path);
    json_kv_str(w, &f, "name", p->name);
    json_kv_bool(w, &f, "loaded", p->loaded);
    json_kv_u64(w, &f, "abi_major", p->abi_major);
    json_kv_u64(w, &f, "abi_minor", p->abi_minor);
    json_kv_str(w, &f, "error", p->loaded ? NULL : mf_err_name(p->error));
    json_kv_str(w, &f, "error_msg", p->loaded ? NULL : p->error_msg);
    json_key(w, &f, "classes");
    mf_w_u8(w, '[');
    for (size_t k = 0; k < p->nclasses; k++) {
        if (k)
            mf_w_u8(w, ',');
        json_class(w, &p->classes[k], long_fmt);
    }
    mf_w_printf(w, "]}");
}

/* {"search_path": [paths], "search_dirs": [{path, status, error,
 * relative}], "plugins": [...]}: search_path stays a list of strings for
 * existing readers; search_dirs says what is wrong with each. */
static void plugins_json(const mf_registry_plugin *pl, size_t n,
                         const char *const *dirs, int long_fmt, mf_writer *w)
{
    int first = 1;
    mf_w_u8(w, '{');
    json_key(w, &first, "search_path");
    mf_w_u8(w, '[');
    for (size_t i = 0; dirs && dirs[i]; i++) {
        if (i)
            mf_w_u8(w, ',');
        json_str(w, dirs[i]);
    }
    mf_w_u8(w, ']');
    json_key(w, &first, "search_dirs");
    mf_w_u8(w, '[');
    for (size_t i = 0; dirs && dirs[i]; i++) {
        if (i)
            mf_w_u8(w, ',');
        json_dir(w, dirs[i], dir_kind(i));
    }
    mf_w_u8(w, ']');
    json_key(w, &first, "plugins");
    mf_w_u8(w, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            mf_w_u8(w, ',');
        json_plugin(w, &pl[i], long_fmt);
    }
    mf_w_printf(w, "]}\n");
}

/* ------------------------------------------------------------------------ */
/* Text                                                                     */
/* ------------------------------------------------------------------------ */

static void text_class(const mf_registry_class *rc, int long_fmt)
{
    printf("    ");
    fput_safe(rc->name, stdout);
    printf("  version %" PRIu32 ", reads %" PRIu32 "..%" PRIu32, rc->version,
           rc->min_version, rc->version);
    if (rc->shadowed) {
        printf("  SHADOWED by ");
        fput_safe(rc->shadowed_by ? rc->shadowed_by : "?", stdout);
    }
    putchar('\n');
    if (!long_fmt || !rc->cls)
        return;
    const mf_method_info *m = NULL;
    int nm = mf_class_methods(rc->cls, &m);
    for (int j = 0; j < nm; j++) {
        printf("      ");
        fput_safe(m[j].name, stdout);
        putchar(' ');
        fput_safe(m[j].signature, stdout);
        putchar('\n');
    }
}

static void text_plugin(const mf_registry_plugin *p, int long_fmt)
{
    printf("  ");
    fput_safe(p->path, stdout);
    if (p->loaded) {
        printf("  [");
        if (p->name) {
            fput_safe(p->name, stdout);
            printf(", ");
        }
        printf("ABI %u.%u]\n", p->abi_major, p->abi_minor);
    } else {
        printf("  FAILED: %s", mf_strerror(p->error));
        if (p->error_msg) {
            printf(": ");
            fput_safe(p->error_msg, stdout);
        }
        putchar('\n');
    }
    for (size_t k = 0; k < p->nclasses; k++)
        text_class(&p->classes[k], long_fmt);
}

static void plugins_text(const mf_registry_plugin *pl, size_t n,
                         const char *const *dirs, int long_fmt)
{
    printf("Search path:\n");
    if (!dirs || !dirs[0])
        printf("  (empty)\n");
    for (size_t i = 0; dirs && dirs[i]; i++)
        print_dir(i, dirs[i], dir_kind(i));
    printf("Plugins:\n");
    if (n == 0)
        printf("  (none found)\n");
    for (size_t i = 0; i < n; i++)
        text_plugin(&pl[i], long_fmt);
}

static int run_plugins(const mapf_args *a)
{
    const mf_registry_plugin *pl;
    size_t n;
    const char *const *dirs = NULL;
    mf_registry *reg = mf_registry_default();
    if (!reg) {
        errorf("plugins", "cannot create the codec registry: out of memory");
        return EXIT_MISSING;
    }
    int rc = mf_registry_list(reg, &pl, &n, &dirs);
    if (rc < 0) {
        report_mf("plugins", NULL, rc);
        return EXIT_MISSING;
    }
    int status = EXIT_OK;
    if (mapf_flag(a, "--json")) {
        mf_writer w;
        buf_init(&w);
        plugins_json(pl, n, dirs, mapf_flag(a, "--long"), &w);
        if (buf_flush_stdout(&w)) {
            errorf("plugins", "out of memory");
            status = EXIT_MISSING;
        }
        buf_free(&w);
    } else {
        plugins_text(pl, n, dirs, mapf_flag(a, "--long"));
    }
    return finish_stdout(status);
}

static const mapf_option plugins_options[] = {
    {"--long", "-l", 0},
    {"--json", NULL, 0},
    {NULL, NULL, 0},
};

const mapf_command mapf_cmd_plugins = {
    .name = "plugins",
    .run = run_plugins,
    .options = plugins_options,
    .min_pos = 0,
    .max_pos = 0,
    .synopsis = "[-l] [--json]",
    .help = "List the codec search path in order, then every plugin found with its\n"
            "ABI and classes (version and oldest readable version), shadowed\n"
            "duplicates with the entry that wins, and plugins that failed to load\n"
            "with the reason. MAPFILE_PLUGIN_PATH (colon-separated) comes first.\n"
            "Each directory says why it is searched: (MAPFILE_PLUGIN_PATH), or\n"
            "(install dir) for the mapfile/plugins folder beside the libmapfile\n"
            "in use. A directory that cannot be searched is flagged: [missing],\n"
            "[not a directory] or [unreadable: why]; a relative one depends on\n"
            "the working directory.\n"
            "\n"
            "  -l, --long  also list each class's methods with their signatures\n"
            "  --json      print one JSON object: search_path (the directories),\n"
            "              search_dirs (each with kind, status \"ok\", \"missing\", \"not\n"
            "              a directory\" or \"unreadable\", error and relative) and\n"
            "              plugins\n",
};
