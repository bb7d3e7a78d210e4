/* test_registry.c - the codec registry: search order, laziness, shadowing,
 * refusing broken plugins, messages, threads; and the built-in classes. */
#include "internal.h"
#include "plugins/testplugins.h"

#include <mapfile/builtin.h>

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

#define ALPHA_SO MF_TP_GOOD1 "/tp_alpha.so"
#define BETA_SO MF_TP_GOOD2 "/tp_beta.so"

static void clean_env(void)
{
    unsetenv("MAPFILE_PLUGIN_PATH");
    unsetenv("MF_TP_ENTRY_CALLS");
}

/* Whether a shared object is mapped into this process right now. */
static int is_loaded(const char *path)
{
    void *h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return 0;
    dlclose(h);
    return 1;
}

static mf_registry *new_reg(void)
{
    mf_registry *reg = NULL;
    cr_assert_eq(mf_registry_create(&reg), 0);
    cr_assert_not_null(reg);
    return reg;
}

static const mf_registry_plugin *plugin_named(const mf_registry_plugin *pl,
                                              size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(pl[i].path, path) == 0)
            return &pl[i];
    return NULL;
}

static const mf_registry_class *class_in(const mf_registry_plugin *p,
                                         const char *name)
{
    for (size_t i = 0; i < p->nclasses; i++)
        if (strcmp(p->classes[i].name, name) == 0)
            return &p->classes[i];
    return NULL;
}

static int grow(mf_writer *w, size_t need)
{
    size_t cap = (w->len + need) * 2 + 16;
    unsigned char *b = realloc(w->buf, cap);
    if (!b)
        return -1;
    w->buf = b;
    w->cap = cap;
    return 0;
}

static mf_writer writer(void)
{
    mf_writer w = {NULL, 0, 0, 0, grow, NULL};
    return w;
}

/* stream_out then stream_in: a fresh object as a consumer would get it. */
static void *round_trip(const mf_class *cls, const void *obj)
{
    mf_writer w = writer();
    cr_assert_eq(cls->stream_out(obj, &w), 0);
    mf_reader r = mf_reader_make(w.buf, w.len);
    void *out = cls->stream_in(&r, cls->version);
    cr_assert_not_null(out, "stream_in failed: wire error %d", r.err);
    cr_assert_eq(mf_r_left(&r), 0);
    free(w.buf);
    return out;
}

static const mf_class *find_ok(mf_registry *reg, const char *name)
{
    const mf_class *cls = NULL;
    int rc = mf_registry_find(reg, name, &cls);
    cr_assert_eq(rc, 0, "find %s: %s (%s)", name, mf_err_name(rc), mf_errdetail());
    cr_assert_not_null(cls);
    cr_assert_str_eq(cls->name, name);
    return cls;
}

static int64_t call_i(const mf_class *cls, void *obj, const char *m)
{
    mf_value ret;
    cr_assert_eq(mf_call(cls, obj, m, NULL, 0, &ret), 0, "%s", mf_errdetail());
    cr_assert_eq(ret.type, MF_T_I64);
    return ret.v.i;
}

static const char *call_s(const mf_class *cls, void *obj, const char *m)
{
    mf_value ret;
    cr_assert_eq(mf_call(cls, obj, m, NULL, 0, &ret), 0, "%s", mf_errdetail());
    cr_assert_eq(ret.type, MF_T_STR);
    return ret.v.s;
}

/* A minimal valid in-process class. */
static int c_out(const void *obj, mf_writer *w)
{
    (void)obj;
    mf_w_u8(w, 7);
    return 0;
}
static void *c_in(mf_reader *r, uint32_t v)
{
    (void)v;
    static int dummy;
    mf_r_u8(r);
    return &dummy;
}
static int destroyed;
static void c_destroy(void *obj)
{
    (void)obj;
    destroyed++;
}

TestSuite(registry, .init = clean_env);
TestSuite(builtin, .init = clean_env);

/* ------------------------------------------------------------------------ */
/* Search order and laziness                                                */
/* ------------------------------------------------------------------------ */

Test(registry, builtins_are_in_process_in_every_registry)
{
    mf_registry *a = new_reg(), *b = new_reg();
    cr_assert_eq(find_ok(a, "text"), &mf__text_class);
    cr_assert_eq(find_ok(a, "blob"), &mf__blob_class);
    cr_assert_eq(find_ok(b, "text"), &mf__text_class);
    cr_assert_str_eq(mf__registry_class_origin(a, &mf__text_class), "in-process");

    const mf_registry_plugin *pl;
    size_t n;
    cr_assert_eq(mf_registry_list(a, &pl, &n, NULL), 0);
    cr_assert_geq(n, 1);
    cr_assert_str_eq(pl[0].path, "in-process");
    cr_assert(pl[0].loaded);
    cr_assert_not_null(class_in(&pl[0], "text"));
    cr_assert_not_null(class_in(&pl[0], "blob"));
    cr_assert_eq(class_in(&pl[0], "text")->cls, &mf__text_class);
    mf_registry_free(a);
    /* Freeing one registry must not unprepare the built-ins of another. */
    mf_value ret;
    char s[] = "abc";
    cr_assert_eq(mf_call(&mf__text_class, s, "length", NULL, 0, &ret), 0);
    cr_assert_eq(ret.v.u, 3);
    mf_registry_free(b);
}

Test(registry, nothing_is_loaded_at_creation)
{
    mf_registry *reg = new_reg();
    cr_assert_eq(mf_registry_add_path(reg, MF_TP_GOOD1), 0);
    cr_assert_eq(mf_registry_add_path(reg, MF_TP_GOOD2), 0);
    cr_assert_not(is_loaded(ALPHA_SO));
    cr_assert_not(is_loaded(BETA_SO));
    /* Built-ins never need a plugin. */
    find_ok(reg, "text");
    cr_assert_not(is_loaded(ALPHA_SO));
    mf_registry_free(reg);
}

Test(registry, find_loads_plugins_only_until_the_class_is_found)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    mf_registry_add_path(reg, MF_TP_GOOD2);
    find_ok(reg, "tp.alpha");
    cr_assert(is_loaded(ALPHA_SO));
    cr_assert_not(is_loaded(BETA_SO), "a plugin after the match was loaded");
    find_ok(reg, "tp.beta");
    cr_assert(is_loaded(BETA_SO));
    mf_registry_free(reg);
}

Test(registry, list_loads_every_plugin)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    mf_registry_add_path(reg, MF_TP_GOOD2);
    const mf_registry_plugin *pl;
    size_t n;
    cr_assert_eq(mf_registry_list(reg, &pl, &n, NULL), 0);
    cr_assert(is_loaded(ALPHA_SO));
    cr_assert(is_loaded(BETA_SO));
    const mf_registry_plugin *a = plugin_named(pl, n, ALPHA_SO);
    const mf_registry_plugin *b = plugin_named(pl, n, BETA_SO);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert(a->loaded && b->loaded);
    cr_assert_eq(a->error, 0);
    cr_assert_null(a->error_msg);
    cr_assert_str_eq(a->name, "alpha");
    cr_assert_eq(a->abi_major, MF_ABI_MAJOR);
    cr_assert_eq(a->abi_minor, MF_ABI_MINOR);
    cr_assert_eq(a->nclasses, 2);
    cr_assert_eq(class_in(a, "tp.alpha")->version, 1);
    cr_assert_eq(class_in(a, "tp.alpha")->min_version, 1);
    /* The in-process set comes first, plugins follow in search order. */
    cr_assert_str_eq(pl[0].path, "in-process");
    cr_assert_lt(a, b);
    mf_registry_free(reg);
}

Test(registry, first_directory_wins_a_duplicate_class)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    mf_registry_add_path(reg, MF_TP_GOOD2);
    cr_assert_eq(find_ok(reg, "tp.shared")->version, 3);
    mf_registry_free(reg);

    reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD2);
    mf_registry_add_path(reg, MF_TP_GOOD1);
    cr_assert_eq(find_ok(reg, "tp.shared")->version, 7);
    mf_registry_free(reg);
}

Test(registry, shadowed_duplicate_names_the_winner)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    mf_registry_add_path(reg, MF_TP_GOOD2);
    const mf_registry_plugin *pl;
    size_t n;
    cr_assert_eq(mf_registry_list(reg, &pl, &n, NULL), 0);
    const mf_registry_class *win = class_in(plugin_named(pl, n, ALPHA_SO), "tp.shared");
    const mf_registry_class *lose = class_in(plugin_named(pl, n, BETA_SO), "tp.shared");
    cr_assert_not_null(win);
    cr_assert_not_null(lose);
    cr_assert_not(win->shadowed);
    cr_assert_null(win->shadowed_by);
    cr_assert_not_null(win->cls);
    cr_assert(lose->shadowed);
    cr_assert_str_eq(lose->shadowed_by, ALPHA_SO);
    cr_assert_null(lose->cls);
    cr_assert_eq(lose->version, 7);
    /* Finding after listing still returns the winner. */
    cr_assert_eq(find_ok(reg, "tp.shared"), win->cls);
    mf_registry_free(reg);
}

Test(registry, name_order_decides_within_a_directory)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_BOTH);
    /* a_beta.so sorts before b_alpha.so. */
    cr_assert_eq(find_ok(reg, "tp.shared")->version, 7);
    cr_assert_str_eq(mf__registry_class_origin(reg, find_ok(reg, "tp.shared")),
                     MF_TP_BOTH "/a_beta.so");
    mf_registry_free(reg);
}

Test(registry, env_path_precedes_added_dirs)
{
    setenv("MAPFILE_PLUGIN_PATH", MF_TP_GOOD2, 1);
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    cr_assert_eq(find_ok(reg, "tp.shared")->version, 7);

    const mf_registry_plugin *pl;
    size_t n;
    const char *const *dirs;
    cr_assert_eq(mf_registry_list(reg, &pl, &n, &dirs), 0);
    cr_assert_str_eq(dirs[0], MF_TP_GOOD2);
    cr_assert_str_eq(dirs[1], MF_TP_GOOD1);
    cr_assert(class_in(plugin_named(pl, n, ALPHA_SO), "tp.shared")->shadowed);
    mf_registry_free(reg);
}

Test(registry, env_path_is_read_once_at_creation)
{
    mf_registry *reg = new_reg();
    setenv("MAPFILE_PLUGIN_PATH", MF_TP_GOOD2, 1);
    mf_registry_add_path(reg, MF_TP_GOOD1);
    cr_assert_eq(find_ok(reg, "tp.shared")->version, 3);
    cr_assert_null(strstr(mf__registry_path_string(reg), MF_TP_GOOD2));
    mf_registry_free(reg);
}

Test(registry, env_path_splits_on_colons_and_skips_empty_entries)
{
    setenv("MAPFILE_PLUGIN_PATH", "::" MF_TP_GOOD2 "::" MF_TP_GOOD1 "/:", 1);
    mf_registry *reg = new_reg();
    find_ok(reg, "tp.alpha");
    find_ok(reg, "tp.beta");
    const char *ps = mf__registry_path_string(reg);
    const char *want = MF_TP_GOOD2 ":" MF_TP_GOOD1 ":";
    cr_assert_eq(strncmp(ps, want, strlen(want)), 0, "path string: %s", ps);
    mf_registry_free(reg);
}

/* A test binary links libmapfile.a and names this build's plugin folder
 * (testutil.c): the registry searches it last, instead of the configured
 * install dir, and never both. */
Test(registry, path_string_lists_added_then_build_dir)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    const char *ps = mf__registry_path_string(reg);
    cr_assert_str_eq(ps, MF_TP_GOOD1 ":" MF_TEST_PLUGIN_DIR);
    const mf_registry_dir *d;
    size_t n;
    cr_assert_eq(mf_registry_dirs(reg, &d, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(d[0].path, MF_TP_GOOD1);
    cr_assert_str_eq(d[0].kind, "mf_registry_add_path");
    cr_assert_str_eq(d[1].path, MF_TEST_PLUGIN_DIR);
    cr_assert_str_eq(d[1].kind, "build dir");
    mf_registry_free(reg);
}

Test(registry, in_process_class_beats_plugins_even_after_a_find)
{
    static const mf_class mine = {sizeof(mf_class), "tp.shared", 99, 1, c_out,
                                  c_in, c_destroy, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    cr_assert_eq(find_ok(reg, "tp.shared")->version, 3);
    cr_assert_eq(mf_registry_add_class(reg, &mine), 0);
    cr_assert_eq(find_ok(reg, "tp.shared"), &mine);

    const mf_registry_plugin *pl;
    size_t n;
    cr_assert_eq(mf_registry_list(reg, &pl, &n, NULL), 0);
    const mf_registry_class *c = class_in(plugin_named(pl, n, ALPHA_SO), "tp.shared");
    cr_assert(c->shadowed);
    cr_assert_str_eq(c->shadowed_by, "in-process");
    cr_assert_not(class_in(&pl[0], "tp.shared")->shadowed);
    mf_registry_free(reg);
}

Test(registry, same_directory_added_twice_is_searched_once)
{
    mf_registry *reg = new_reg();
    cr_assert_eq(mf_registry_add_path(reg, MF_TP_GOOD1), 0);
    cr_assert_eq(mf_registry_add_path(reg, MF_TP_GOOD1 "/"), 0);
    const mf_registry_plugin *pl;
    size_t n;
    cr_assert_eq(mf_registry_list(reg, &pl, &n, NULL), 0);
    size_t seen = 0;
    for (size_t i = 0; i < n; i++)
        seen += strstr(pl[i].path, "/tp_alpha.so") != NULL;
    cr_assert_eq(seen, 1);
    cr_assert_not(class_in(plugin_named(pl, n, ALPHA_SO), "tp.alpha")->shadowed);
    mf_registry_free(reg);
}

Test(registry, add_path_rejects_null_and_empty)
{
    mf_registry *reg = new_reg();
    cr_assert_eq(mf_registry_add_path(reg, NULL), MF_EINVAL);
    cr_assert_eq(mf_registry_add_path(reg, ""), MF_EINVAL);
    cr_assert_eq(mf_registry_add_path(NULL, "/tmp"), MF_EINVAL);
    mf_registry_free(reg);
}

/* A class built against ABI 1.0 ends before the 1.1 hooks: it is accepted,
 * and MF_CLASS_HAS never reads the hooks past its end. */
Test(registry, abi_1_0_class_loads_without_the_newer_hooks)
{
    mf_registry *reg = new_reg();
    struct {
        mf_class c;
        unsigned char poison[64];
    } old;
    memset(&old, 0xff, sizeof old);
    old.c = (mf_class){sizeof(mf_class), "tp.abi10", 1, 1, c_out, c_in, c_destroy,
                       NULL, NULL, NULL, NULL, NULL, NULL, 0};
    old.c.struct_size = (uint32_t)offsetof(mf_class, arrays);
    /* What an older, shorter struct leaves after its end: garbage. */
    memset(&old.c.arrays, 0xa5, sizeof old.c.arrays + sizeof old.c.to_root_json);
    cr_assert_eq(mf_registry_add_class(reg, &old.c), 0, "%s", mf_errdetail());
    const mf_class *found;
    cr_assert_eq(mf_registry_find(reg, "tp.abi10", &found), 0);
    cr_assert(!MF_CLASS_HAS(found, arrays));
    cr_assert(!MF_CLASS_HAS(found, to_root_json));
    mf_registry_free(reg);
}

Test(registry, add_class_validates_the_class)
{
    mf_registry *reg = new_reg();
    mf_class c = {sizeof(mf_class), "tp.inproc", 1, 1, c_out, c_in, c_destroy,
                  NULL, NULL, NULL, NULL, NULL, NULL, 0};
    cr_assert_eq(mf_registry_add_class(reg, NULL), MF_EINVAL);

    mf_class bad = c;
    bad.stream_in = NULL;
    cr_assert_eq(mf_registry_add_class(reg, &bad), MF_EINVAL);
    cr_assert_not_null(strstr(mf_errdetail(), "stream_in"));
    bad = c;
    bad.destroy = NULL;
    cr_assert_eq(mf_registry_add_class(reg, &bad), MF_EINVAL);
    bad = c;
    bad.struct_size = 8;
    cr_assert_eq(mf_registry_add_class(reg, &bad), MF_EINVAL);
    bad = c;
    bad.min_version = 2;
    cr_assert_eq(mf_registry_add_class(reg, &bad), MF_EINVAL);
    bad = c;
    bad.name = "has space";
    cr_assert_eq(mf_registry_add_class(reg, &bad), MF_ENAME);
    bad = c;
    bad.name = NULL;
    cr_assert_eq(mf_registry_add_class(reg, &bad), MF_ENAME);

    static const mf_method bad_methods[] = {
        MF_METHOD("oops", "d(i)", c_destroy),
        {0, NULL, NULL, NULL},
    };
    bad = c;
    bad.methods = bad_methods;
    cr_assert_eq(mf_registry_add_class(reg, &bad), MF_ESIGNATURE);
    cr_assert_not_null(strstr(mf_errdetail(), "oops"));

    /* Nothing refused above became visible. */
    const mf_class *found;
    cr_assert_eq(mf_registry_find(reg, "tp.inproc", &found), MF_ENOCODEC);

    cr_assert_eq(mf_registry_add_class(reg, &c), 0);
    cr_assert_eq(find_ok(reg, "tp.inproc"), &c);
    mf_class again = c;
    cr_assert_eq(mf_registry_add_class(reg, &again), MF_EDUPLICATE);
    cr_assert_eq(mf_registry_add_class(reg, &mf__text_class), MF_EDUPLICATE);
    cr_assert_not_null(strstr(mf_errdetail(), "text"));
    mf_registry_free(reg);
}

Test(registry, object_free_uses_the_class_destroy)
{
    mf_class c = {sizeof(mf_class), "tp.inproc", 1, 1, c_out, c_in, c_destroy,
                  NULL, NULL, NULL, NULL, NULL, NULL, 0};
    int obj;
    destroyed = 0;
    mf_object_free(&c, &obj);
    cr_assert_eq(destroyed, 1);
    mf_object_free(&c, NULL);
    mf_object_free(NULL, &obj);
    cr_assert_eq(destroyed, 1);
}

/* ------------------------------------------------------------------------ */
/* Broken plugins                                                           */
/* ------------------------------------------------------------------------ */

typedef struct broken_case {
    const char *file;
    int error;
    const char *says[3]; /* substrings the message must contain */
} broken_case;

#define STR2(x) #x
#define STR(x) STR2(x)
#define HOST_ABI STR(MF_ABI_MAJOR) "." STR(MF_ABI_MINOR)

static const broken_case broken[] = {
    {"x.so", MF_EPLUGIN, {"cannot load", "ELF"}},
    {"no_entry.so", MF_EPLUGIN, {"no entry symbol", MF_PLUGIN_ENTRY_NAME}},
    {"entry_null.so", MF_EPLUGIN, {MF_PLUGIN_ENTRY_NAME "() returned NULL"}},
    {"small_desc.so", MF_EPLUGIN, {"descriptor struct_size 8"}},
    {"abi_major.so", MF_EABI, {"plugin ABI 2.0", "host ABI " HOST_ABI, "rebuild"}},
    {"abi_minor.so", MF_EABI, {"plugin ABI 1.3", "host ABI " HOST_ABI, "newer"}},
    {"name_null.so", MF_ENAME, {"NULL name"}},
    {"name_invalid.so", MF_ENAME, {"invalid class name '../evil'"}},
    {"dup_class.so", MF_EDUPLICATE, {"'tp.dup'", "twice"}},
    {"class_nofn.so", MF_EPLUGIN, {"'tp.broken'", "no destroy"}},
    {"class_version.so", MF_EPLUGIN, {"'tp.broken'", "min_version"}},
    {"class_small.so", MF_EPLUGIN, {"class struct_size 16"}},
    {"bad_sig.so", MF_ESIGNATURE, {"'tp.badsig'", "'broken'", "d(o,x)"}},
};

Test(registry, each_broken_plugin_is_refused_with_its_own_error)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_MIXED);
    const mf_registry_plugin *pl;
    size_t n;
    cr_assert_eq(mf_registry_list(reg, &pl, &n, NULL), 0);
    for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", MF_TP_MIXED, broken[i].file);
        const mf_registry_plugin *p = plugin_named(pl, n, path);
        cr_assert_not_null(p, "%s not listed", path);
        cr_assert_not(p->loaded, "%s loaded", path);
        cr_assert_eq(p->error, broken[i].error, "%s: %s, expected %s", path,
                     mf_err_name(p->error), mf_err_name(broken[i].error));
        cr_assert_eq(p->nclasses, 0);
        cr_assert_not_null(p->error_msg);
        cr_assert_not_null(strstr(p->error_msg, path), "%s", p->error_msg);
        for (size_t k = 0; k < 3 && broken[i].says[k]; k++)
            cr_assert_not_null(strstr(p->error_msg, broken[i].says[k]),
                               "%s: message '%s' lacks '%s'", path, p->error_msg,
                               broken[i].says[k]);
        cr_assert_not(is_loaded(path), "%s left loaded", path);
    }
    /* Each message is particular to its plugin's defect. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (pl[i].error_msg && pl[j].error_msg) {
                const char *a = strrchr(pl[i].path, '/');
                const char *b = strrchr(pl[j].path, '/');
                cr_assert(strcmp(strstr(pl[i].error_msg, a) + strlen(a),
                                 strstr(pl[j].error_msg, b) + strlen(b)) != 0,
                          "%s and %s fail with the same reason", a, b);
            }
    mf_registry_free(reg);
}

Test(registry, abi_message_reports_the_declared_version)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_MIXED);
    const mf_registry_plugin *pl;
    size_t n;
    cr_assert_eq(mf_registry_list(reg, &pl, &n, NULL), 0);
    const mf_registry_plugin *p = plugin_named(pl, n, MF_TP_MIXED "/abi_major.so");
    cr_assert_eq(p->abi_major, MF_ABI_MAJOR + 1);
    cr_assert_eq(p->abi_minor, 0);
    p = plugin_named(pl, n, MF_TP_MIXED "/abi_minor.so");
    cr_assert_eq(p->abi_major, MF_ABI_MAJOR);
    cr_assert_eq(p->abi_minor, MF_ABI_MINOR + 1);
    mf_registry_free(reg);
}

Test(registry, good_plugins_load_beside_broken_ones)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_MIXED);
    /* zz_last.so sorts after every broken plugin, so finding it means the
     * walk went through all of them. */
    const mf_class *last = find_ok(reg, "tp.last");
    cr_assert_eq(mf_errdetail()[0], '\0', "a successful find left: %s", mf_errdetail());
    const mf_class *gamma = find_ok(reg, "tp.gamma");
    mf_tp_obj in = {42};
    void *obj = round_trip(gamma, &in);
    cr_assert_eq(call_i(gamma, obj, "value"), 42);
    cr_assert_str_eq(call_s(gamma, obj, "who"), "gamma");
    mf_object_free(gamma, obj);
    obj = round_trip(last, &in);
    cr_assert_str_eq(call_s(last, obj, "who"), "last");
    mf_object_free(last, obj);
    mf_registry_free(reg);
}

Test(registry, refused_plugin_is_refused_whole)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_MIXED);
    const mf_class *cls;
    /* Every broken build lists a valid sibling class before its bad one. */
    cr_assert_eq(mf_registry_find(reg, "tp.broken_sibling", &cls), MF_ENOCODEC);
    cr_assert_null(cls);
    cr_assert_eq(mf_registry_find(reg, "tp.badsig", &cls), MF_ENOCODEC);
    cr_assert_eq(mf_registry_find(reg, "tp.dup", &cls), MF_ENOCODEC);
    mf_registry_free(reg);
}

static long entry_calls(void)
{
    const char *s = getenv("MF_TP_ENTRY_CALLS");
    return s ? strtol(s, NULL, 10) : 0;
}

Test(registry, refused_plugin_is_never_retried)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_MIXED);
    const mf_class *cls;
    cr_assert_eq(mf_registry_find(reg, "tp.nowhere", &cls), MF_ENOCODEC);
    long calls = entry_calls();
    /* Every broken plugin but the two that never reach an entry call. */
    cr_assert_eq(calls, (long)(sizeof broken / sizeof *broken) - 2);
    cr_assert_eq(mf_registry_find(reg, "tp.nowhere", &cls), MF_ENOCODEC);
    cr_assert_eq(mf_registry_find(reg, "tp.badsig", &cls), MF_ENOCODEC);
    const mf_registry_plugin *pl;
    size_t n;
    cr_assert_eq(mf_registry_list(reg, &pl, &n, NULL), 0);
    cr_assert_eq(entry_calls(), calls);
    mf_registry_free(reg);
}

/* ------------------------------------------------------------------------ */
/* Messages and names                                                       */
/* ------------------------------------------------------------------------ */

Test(registry, missing_codec_names_the_class_and_every_directory)
{
    setenv("MAPFILE_PLUGIN_PATH", "/nonexistent/env-a:" MF_TP_GOOD2, 1);
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    mf_registry_add_path(reg, MF_TP_MIXED);
    const mf_class *cls = (const mf_class *)1;
    cr_assert_eq(mf_registry_find(reg, "no.such-class", &cls), MF_ENOCODEC);
    cr_assert_null(cls);
    char d[1024];
    snprintf(d, sizeof d, "%s", mf_errdetail());
    const char *want[] = {"'no.such-class'", "in-process", "/nonexistent/env-a [missing]",
                          MF_TP_GOOD2 " (MAPFILE_PLUGIN_PATH)", MF_TP_GOOD1,
                          MF_TP_MIXED " (mf_registry_add_path)",
                          MF_TEST_PLUGIN_DIR " (build dir)",
                          "abi_major.so (MF_EABI)", "13 plugins failed to load"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert_not_null(strstr(d, want[i]), "'%s' lacks '%s'", d, want[i]);
    /* Directories appear in search order. */
    cr_assert_lt(strstr(d, "env-a"), strstr(d, MF_TP_GOOD2 " "));
    cr_assert_lt(strstr(d, MF_TP_GOOD2 " "), strstr(d, MF_TP_GOOD1 ","));
    cr_assert_lt(strstr(d, MF_TP_GOOD1 ","), strstr(d, MF_TEST_PLUGIN_DIR " "));
    cr_assert_null(strstr(d, "install dir"), "%s", d);
    mf_registry_free(reg);
}

Test(registry, class_names_are_checked)
{
    char longest[MF_CLASS_NAME_MAX + 1], too_long[MF_CLASS_NAME_MAX + 2];
    memset(longest, 'a', MF_CLASS_NAME_MAX);
    longest[MF_CLASS_NAME_MAX] = '\0';
    memset(too_long, 'a', MF_CLASS_NAME_MAX + 1);
    too_long[MF_CLASS_NAME_MAX + 1] = '\0';
    const char *good[] = {"a", "hist1d", "ns::Foo-1.2_x", "..", longest, "Z9"};
    const char *bad[] = {"", too_long, "a/b", "../evil", "a b", "x\n", "caf\xc3\xa9",
                         "tab\t", "semi;colon", "back\\slash", "q\"uote"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        cr_assert_eq(mf__check_class_name(good[i]), 0, "'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(mf__check_class_name(bad[i]), MF_ENAME, "'%s' accepted", bad[i]);
    cr_assert_eq(mf__check_class_name(NULL), MF_ENAME);
    /* Hostile bytes are not echoed raw into messages. */
    mf__check_class_name("x\n\x1b[31m");
    cr_assert_null(strchr(mf_errdetail(), '\n'));
    cr_assert_null(strchr(mf_errdetail(), '\x1b'));
}

Test(registry, find_with_an_invalid_name_loads_nothing)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    const mf_class *cls;
    cr_assert_eq(mf_registry_find(reg, "../tp_alpha", &cls), MF_ENAME);
    cr_assert_eq(mf_registry_find(reg, NULL, &cls), MF_ENAME);
    cr_assert_eq(mf_registry_find(reg, "", &cls), MF_ENAME);
    cr_assert_not(is_loaded(ALPHA_SO));
    mf_registry_free(reg);
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */
/* ------------------------------------------------------------------------ */

Test(registry, plugins_keep_their_own_symbols_under_rtld_local)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    mf_registry_add_path(reg, MF_TP_GOOD2);
    const mf_class *a = find_ok(reg, "tp.alpha");
    const mf_class *b = find_ok(reg, "tp.beta");
    mf_tp_obj in = {5};
    void *oa = round_trip(a, &in), *ob = round_trip(b, &in);
    /* Both export tp_identity and define a static whoami; each must reach
     * its own. */
    cr_assert_str_eq(call_s(a, oa, "who"), "alpha");
    cr_assert_str_eq(call_s(b, ob, "who"), "beta");
    cr_assert_str_eq(call_s(a, oa, "static_who"), "alpha");
    cr_assert_str_eq(call_s(b, ob, "static_who"), "beta");
    /* Local: nothing of theirs leaks into the global namespace. */
    cr_assert_null(dlsym(RTLD_DEFAULT, "tp_identity"));
    cr_assert_null(dlsym(RTLD_DEFAULT, MF_PLUGIN_ENTRY_NAME));
    mf_object_free(a, oa);
    mf_object_free(b, ob);
    mf_registry_free(reg);
}

Test(registry, class_origin_names_the_plugin_file)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD2);
    cr_assert_str_eq(mf__registry_class_origin(reg, find_ok(reg, "tp.beta")), BETA_SO);
    cr_assert_str_eq(mf__registry_class_origin(reg, find_ok(reg, "blob")), "in-process");
    mf_class stranger = mf__text_class;
    cr_assert_not_null(mf__registry_class_origin(reg, &stranger));
    cr_assert_str_neq(mf__registry_class_origin(reg, &stranger), "in-process");
    mf_registry_free(reg);
}

Test(registry, free_unloads_plugins)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    const mf_class *a = find_ok(reg, "tp.alpha");
    cr_assert(is_loaded(ALPHA_SO));
    cr_assert_geq(mf_class_methods(a, NULL), 1);
    mf_registry_free(reg);
    cr_assert_not(is_loaded(ALPHA_SO));
}

Test(registry, failing_codec_plugin_loads_and_fails_only_when_reading)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    const mf_class *f = find_ok(reg, MF_TP_FAILING_CLASS);
    mf_writer w = writer();
    cr_assert_eq(f->stream_out(&w, &w), 0);
    cr_assert_gt(w.len, 0);
    mf_reader r = mf_reader_make(w.buf, w.len);
    cr_assert_null(f->stream_in(&r, 1));
    cr_assert(mf_reader_failed(&r));
    free(w.buf);
    mf_registry_free(reg);
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct finder {
    mf_registry *reg;
    const mf_class *seen[4];
    int failures;
} finder;

static const char *const thread_names[4] = {"tp.alpha", "tp.shared", "tp.beta", "text"};

static void *find_many(void *arg)
{
    finder *f = arg;
    for (int i = 0; i < 2000; i++) {
        int k = i % 4;
        const mf_class *cls;
        if (mf_registry_find(f->reg, thread_names[k], &cls) != 0)
            f->failures++;
        else if (!f->seen[k])
            f->seen[k] = cls;
        else if (f->seen[k] != cls)
            f->failures++;
        if (i % 97 == 0 && mf_registry_find(f->reg, "tp.nowhere", &cls) != MF_ENOCODEC)
            f->failures++;
    }
    return NULL;
}

Test(registry, concurrent_finds_agree)
{
    mf_registry *reg = new_reg();
    mf_registry_add_path(reg, MF_TP_GOOD1);
    mf_registry_add_path(reg, MF_TP_GOOD2);
    enum { N = 8 };
    finder f[N];
    pthread_t t[N];
    memset(f, 0, sizeof f);
    /* Threads start before anything is loaded, so they race to load. */
    for (int i = 0; i < N; i++) {
        f[i].reg = reg;
        cr_assert_eq(pthread_create(&t[i], NULL, find_many, &f[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(f[i].failures, 0);
        for (int k = 0; k < 4; k++)
            cr_assert_eq(f[i].seen[k], f[0].seen[k]);
    }
    cr_assert_eq(f[0].seen[1]->version, 3);
    mf_registry_free(reg);
}

static void *get_default(void *arg)
{
    *(mf_registry **)arg = mf_registry_default();
    return NULL;
}

Test(registry, default_registry_is_created_once)
{
    enum { N = 8 };
    pthread_t t[N];
    mf_registry *got[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, get_default, &got[i]), 0);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    cr_assert_not_null(got[0]);
    for (int i = 1; i < N; i++)
        cr_assert_eq(got[i], got[0]);
    cr_assert_eq(mf_registry_default(), got[0]);
    cr_assert_eq(find_ok(got[0], "text"), &mf__text_class);
}

/* ------------------------------------------------------------------------ */
/* Built-in classes                                                         */
/* ------------------------------------------------------------------------ */

/* Run a print or to_json into a string (free it). */
static char *printed(const mf_class *cls, const void *obj)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    cr_assert_not_null(f);
    cls->print(obj, f);
    fclose(f);
    return s;
}

static char *json(const mf_class *cls, const void *obj)
{
    mf_writer w = writer();
    cr_assert_eq(cls->to_json(obj, &w), 0);
    mf_w_u8(&w, 0);
    return (char *)w.buf;
}

static void *decode(const mf_class *cls, const void *p, size_t n, int *err)
{
    mf_reader r = mf_reader_make(p, n);
    void *obj = cls->stream_in(&r, 1);
    *err = r.err;
    return obj;
}

Test(builtin, text_round_trips)
{
    const char *texts[] = {"", "hello", "multi\nline \xc3\xa9t\xc3\xa9"};
    for (size_t i = 0; i < 3; i++) {
        char *back = round_trip(&mf__text_class, texts[i]);
        cr_assert_str_eq(back, texts[i]);
        mf_object_free(&mf__text_class, back);
    }
    cr_assert_eq(mf__text_class.version, 1);
    cr_assert_str_eq(mf__text_class.name, MF_TEXT_CLASS);
}

Test(builtin, text_payload_with_nul_trailing_bytes_or_bad_length_is_refused)
{
    int err;
    const unsigned char nul[] = {3, 'a', 0, 'b'};
    cr_assert_null(decode(&mf__text_class, nul, sizeof nul, &err));
    cr_assert_eq(err, MF_WIRE_MALFORMED);
    const unsigned char trailing[] = {1, 'a', 'b'};
    cr_assert_null(decode(&mf__text_class, trailing, sizeof trailing, &err));
    cr_assert_eq(err, MF_WIRE_MALFORMED);
    /* A length claiming far more than the payload holds allocates nothing. */
    const unsigned char huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'a'};
    cr_assert_null(decode(&mf__text_class, huge, sizeof huge, &err));
    cr_assert_eq(err, MF_WIRE_TOO_LARGE);
    cr_assert_null(decode(&mf__text_class, huge, 0, &err));
    cr_assert_eq(err, MF_WIRE_TRUNCATED);
}

Test(builtin, text_json_is_escaped_valid_utf8)
{
    char *j = json(&mf__text_class, "a\"b\\c\n\x01 \xc3\xa9 \xff \xe2\x82 \xed\xa0\x80 \xf0\x9f\x98\x80");
    cr_assert_str_eq(j, "{\"class\":\"text\",\"version\":1,\"text\":"
                        "\"a\\\"b\\\\c\\u000a\\u0001 \xc3\xa9 \\ufffd \\ufffd\\ufffd "
                        "\\ufffd\\ufffd\\ufffd \xf0\x9f\x98\x80\"}");
    free(j);
}

Test(builtin, text_print_writes_the_text)
{
    char *s = printed(&mf__text_class, "hello world");
    cr_assert_str_eq(s, "hello world\n");
    free(s);
}

Test(builtin, blob_round_trips)
{
    unsigned char bytes[300];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(i * 7);
    mf_blob in = {sizeof bytes, bytes};
    mf_blob *back = round_trip(&mf__blob_class, &in);
    cr_assert_eq(back->size, sizeof bytes);
    cr_assert_arr_eq(back->data, bytes, sizeof bytes);
    mf_object_free(&mf__blob_class, back);

    mf_blob empty = {0, NULL};
    back = round_trip(&mf__blob_class, &empty);
    cr_assert_eq(back->size, 0);
    cr_assert_not_null(back->data);
    mf_object_free(&mf__blob_class, back);
}

Test(builtin, blob_refuses_a_missing_buffer_and_reads_any_bytes)
{
    mf_blob bad = {4, NULL};
    mf_writer w = writer();
    cr_assert_neq(mf__blob_class.stream_out(&bad, &w), 0);
    free(w.buf);
    /* The payload is the bytes themselves: any bytes are a valid blob. */
    int err;
    const unsigned char raw[] = {1, 9, 9};
    mf_blob *b = decode(&mf__blob_class, raw, sizeof raw, &err);
    cr_assert_not_null(b);
    cr_assert_eq(b->size, 3);
    cr_assert_arr_eq(b->data, raw, 3);
    mf_object_free(&mf__blob_class, b);
}

Test(builtin, blob_json_has_size_and_base64)
{
    const char *cases[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="},
                              {"foo", "Zm9v"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < 5; i++) {
        mf_blob b = {strlen(cases[i][0]), (unsigned char *)cases[i][0]};
        char want[128];
        snprintf(want, sizeof want,
                 "{\"class\":\"blob\",\"version\":1,\"size\":%zu,\"base64\":\"%s\"}",
                 strlen(cases[i][0]), cases[i][1]);
        char *j = json(&mf__blob_class, &b);
        cr_assert_str_eq(j, want);
        free(j);
    }
}

Test(builtin, blob_print_shows_size_and_leading_bytes)
{
    unsigned char bytes[40];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)i;
    mf_blob b = {3, bytes};
    char *s = printed(&mf__blob_class, &b);
    cr_assert_str_eq(s, "blob, 3 bytes: 00 01 02\n");
    free(s);
    b.size = sizeof bytes;
    s = printed(&mf__blob_class, &b);
    cr_assert(strncmp(s, "blob, 40 bytes: 00 01", 21) == 0, "%s", s);
    cr_assert_not_null(strstr(s, " 1f ..."), "%s", s);
    cr_assert_null(strstr(s, " 20"), "%s", s);
    free(s);
}

Test(builtin, methods_report_length_and_size)
{
    mf_registry *reg = new_reg();
    char *t = round_trip(find_ok(reg, "text"), "four");
    mf_value ret;
    cr_assert_eq(mf_call(&mf__text_class, t, "length", NULL, 0, &ret), 0);
    cr_assert_eq(ret.type, MF_T_U64);
    cr_assert_eq(ret.v.u, 4);
    unsigned char bytes[9] = {0};
    mf_blob in = {sizeof bytes, bytes};
    mf_blob *b = round_trip(find_ok(reg, "blob"), &in);
    cr_assert_eq(mf_call(&mf__blob_class, b, "size", NULL, 0, &ret), 0);
    cr_assert_eq(ret.v.u, 9);
    const mf_method_info *mi;
    cr_assert_eq(mf_class_methods(&mf__text_class, &mi), 1);
    cr_assert_str_eq(mi[0].name, "length");
    cr_assert_str_eq(mi[0].signature, "u(o)");
    mf_object_free(&mf__text_class, t);
    mf_object_free(&mf__blob_class, b);
    mf_registry_free(reg);
}
