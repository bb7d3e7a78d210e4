/* plugins.c - `mapf plugins`: the codec search path and every plugin on
 * it, with its classes (and methods with -l), shadowed duplicates and load
 * failures. */
#include "mapf.h"

#include "json.h"

#include <inttypes.h>

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
    json_key(w, &first, "plugins");
    mf_w_u8(w, '[');
    for (size_t i = 0; i < n; i++) {
        const mf_registry_plugin *p = &pl[i];
        int f = 1;
        if (i)
            mf_w_u8(w, ',');
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
            const mf_registry_class *rc = &p->classes[k];
            int g = 1;
            if (k)
                mf_w_u8(w, ',');
            mf_w_u8(w, '{');
            json_kv_str(w, &g, "name", rc->name);
            json_kv_u64(w, &g, "version", rc->version);
            json_kv_u64(w, &g, "min_version", rc->min_version);
            json_kv_bool(w, &g, "shadowed", rc->shadowed);
            json_kv_str(w, &g, "shadowed_by", rc->shadowed ? rc->shadowed_by : NULL);
            if (long_fmt) {
                const mf_method_info *m = NULL;
                int nm = rc->cls ? mf_class_methods(rc->cls, &m) : 0;
                json_key(w, &g, "methods");
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
            mf_w_u8(w, '}');
        }
        mf_w_printf(w, "]}");
    }
    mf_w_printf(w, "]}\n");
}

static void plugins_text(const mf_registry_plugin *pl, size_t n,
                         const char *const *dirs, int long_fmt)
{
    printf("Search path:\n");
    if (!dirs || !dirs[0])
        printf("  (empty)\n");
    for (size_t i = 0; dirs && dirs[i]; i++) {
        printf("  %zu. ", i + 1);
        fput_safe(dirs[i], stdout);
        putchar('\n');
    }
    printf("Plugins:\n");
    if (n == 0)
        printf("  (none found)\n");
    for (size_t i = 0; i < n; i++) {
        const mf_registry_plugin *p = &pl[i];
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
        for (size_t k = 0; k < p->nclasses; k++) {
            const mf_registry_class *rc = &p->classes[k];
            printf("    ");
            fput_safe(rc->name, stdout);
            printf("  version %" PRIu32 ", reads %" PRIu32 "..%" PRIu32,
                   rc->version, rc->min_version, rc->version);
            if (rc->shadowed) {
                printf("  SHADOWED by ");
                fput_safe(rc->shadowed_by ? rc->shadowed_by : "?", stdout);
            }
            putchar('\n');
            if (long_fmt && rc->cls) {
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
        }
    }
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
            "\n"
            "  -l, --long  also list each class's methods with their signatures\n"
            "  --json      print one JSON object\n",
};
