/*
 * test_static_codecs.c - two codecs linked statically into one program.
 *
 * This executable is linked with sdk/template/calib_codec.c compiled with
 * MF_CODEC_STATIC (see tests/CMakeLists.txt) and with libmapfile_hist.a,
 * whose plugin.c is compiled the same way: each MF_DEFINE_PLUGIN gives its own
 * mapfile_plugin_<name>() and no mapfile_plugin_entry, so the link itself
 * is the first check (two entry symbols would be a "multiple definition").
 * mf_registry_add_plugin() then registers each in-process.
 */
#include <criterion/criterion.h>

#include <mapfile/hist.h>
#include <mapfile/mapfile.h>

#include <dlfcn.h>
#include <string.h>

#include "calib.h"
#include "calib_sample.h"
#include "testutil.h"

MF_DECLARE_PLUGIN(calib); /* hist.h declares mapfile_plugin_hist() */

static mf_registry *fresh(void)
{
    unsetenv("MAPFILE_PLUGIN_PATH");
    mf_registry *reg = NULL;
    cr_assert_eq(mf_registry_create(&reg), 0);
    return reg;
}

static const char *origin_of(mf_registry *reg, const char *name)
{
    const mf_registry_plugin *pl;
    size_t n;
    cr_assert_eq(mf_registry_list(reg, &pl, &n, NULL), 0);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < pl[i].nclasses; k++)
            if (strcmp(pl[i].classes[k].name, name) == 0 && !pl[i].classes[k].shadowed)
                return pl[i].path;
    return NULL;
}

/* Registered in-process (the build's plugin folder also has hist1d). */
static int in_process(mf_registry *reg, const char *name)
{
    const char *o = origin_of(reg, name);
    return o && strcmp(o, "in-process") == 0;
}

Test(static_codecs, each_has_its_own_function_and_no_entry_symbol)
{
    cr_assert_str_eq(mapfile_plugin_calib()->name, "calib");
    cr_assert_str_eq(mapfile_plugin_hist()->name, "hist");
    void *self = dlopen(NULL, RTLD_NOW);
    cr_assert_not_null(self);
    cr_assert_null(dlsym(self, MF_PLUGIN_ENTRY_NAME),
                   "a statically linked codec must not define the entry symbol");
    dlclose(self);
}

Test(static_codecs, both_register_in_process_and_round_trip)
{
    mf_registry *reg = fresh();
    cr_assert_eq(mf_registry_add_plugin(reg, mapfile_plugin_calib()), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_registry_add_plugin(reg, mapfile_plugin_hist()), 0, "%s", mf_errdetail());
    cr_assert_str_eq(origin_of(reg, CALIB_CLASS_NAME), "in-process");
    cr_assert_str_eq(origin_of(reg, "hist1d"), "in-process");
    cr_assert_str_eq(origin_of(reg, "profile"), "in-process");

    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = reg;
    mf_file *mf;
    const char *path = mf_test_path("static.map");
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, &o), 0, "%s", mf_errdetail());
    calib_table *t = calib_sample();
    mf_hist1d *h = mf_hist1d_new("h", 10, 0, 10);
    mf_hist1d_fill(h, 3.5);
    cr_assert_eq(mf_put(mf, "calib", CALIB_CLASS_NAME, t), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_put(mf, "h", "hist1d", h), 0, "%s", mf_errdetail());
    void *obj;
    const mf_class *cls;
    cr_assert_eq(mf_get(mf, "calib", &obj, &cls), 0, "%s", mf_errdetail());
    const calib_table *back = obj;
    cr_assert_str_eq(back->name, t->name);
    cr_assert_eq(back->nchannels, t->nchannels);
    mf_object_free(cls, obj);
    cr_assert_eq(mf_get(mf, "h", &obj, &cls), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_hist1d_entries(obj), 1);
    mf_object_free(cls, obj);
    mf_close(mf);
    calib_table_free(t);
    mf_hist1d_free(h);
    mf_test_unlink(path);
    mf_registry_free(reg);
}

Test(static_codecs, a_second_registration_fails_whole)
{
    mf_registry *reg = fresh();
    cr_assert_eq(mf_registry_add_plugin(reg, mapfile_plugin_hist()), 0);
    cr_assert_eq(mf_registry_add_plugin(reg, mapfile_plugin_hist()), MF_EDUPLICATE);
    cr_assert_not_null(strstr(mf_errdetail(), "hist1d"), "%s", mf_errdetail());
    cr_assert_str_eq(origin_of(reg, "hist2d"), "in-process");
    mf_registry_free(reg);
}

/* A class list whose second entry clashes with the first: nothing of it may
 * stay registered. */
Test(static_codecs, bad_descriptors_register_nothing)
{
    mf_registry *reg = fresh();
    const mf_class *const twice[] = {&mf_hist1d_class, &mf_hist2d_class, &mf_hist1d_class, NULL};
    mf_plugin dup = {sizeof(mf_plugin), MF_ABI_MAJOR, MF_ABI_MINOR, "dup", twice};
    cr_assert_eq(mf_registry_add_plugin(reg, &dup), MF_EDUPLICATE);
    cr_assert_not(in_process(reg, "hist1d"));
    cr_assert_not(in_process(reg, "hist2d"));

    const mf_class *const one[] = {&mf_profile_class, NULL};
    mf_plugin abi = {sizeof(mf_plugin), MF_ABI_MAJOR + 1, 0, "future", one};
    cr_assert_eq(mf_registry_add_plugin(reg, &abi), MF_EABI);
    mf_plugin newer = {sizeof(mf_plugin), MF_ABI_MAJOR, MF_ABI_MINOR + 1, "newer", one};
    cr_assert_eq(mf_registry_add_plugin(reg, &newer), MF_EABI);
    mf_plugin small = {4, MF_ABI_MAJOR, MF_ABI_MINOR, "small", one};
    cr_assert_eq(mf_registry_add_plugin(reg, &small), MF_EINVAL);
    mf_plugin nolist = {sizeof(mf_plugin), MF_ABI_MAJOR, MF_ABI_MINOR, "nolist", NULL};
    cr_assert_eq(mf_registry_add_plugin(reg, &nolist), MF_EINVAL);
    cr_assert_eq(mf_registry_add_plugin(reg, NULL), MF_EINVAL);
    cr_assert_eq(mf_registry_add_plugin(NULL, &abi), MF_EINVAL);
    cr_assert_not(in_process(reg, "profile"));
    /* The good one still registers afterwards. */
    mf_plugin good = {sizeof(mf_plugin), MF_ABI_MAJOR, MF_ABI_MINOR, "good", one};
    cr_assert_eq(mf_registry_add_plugin(reg, &good), 0, "%s", mf_errdetail());
    cr_assert_str_eq(origin_of(reg, "profile"), "in-process");
    mf_registry_free(reg);
}
