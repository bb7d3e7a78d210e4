/* test_root_json.c - the hist codecs' to_root_json hook: hist1d, hist2d and
 * profile in ROOT's TBufferJSON layout (TH1D, TH2D, TProfile), with every
 * field JSROOT needs to draw them, parsed back and compared with the
 * histograms; hostile titles, non-finite values, failing writers, and the
 * same hook through the plugin module and a map file round trip. */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mapfile/hist.h>
#include <mapfile/mapfile.h>

#include "json.h"
#include "testutil.h"

/* Runs the class's to_root_json and parses the output. */
static mfw_json *root_json(const mf_class *cls, const void *obj)
{
    cr_assert(MF_CLASS_HAS(cls, to_root_json), "%s has no to_root_json", cls->name);
    mf_writer w = mf_test_writer();
    cr_assert_eq(cls->to_root_json(obj, &w), 0);
    cr_assert_eq(w.err, 0);
    mfw_json *j = mfw_json_parse((const char *)w.buf, w.len);
    cr_assert_not_null(j, "not valid JSON: %.*s", (int)(w.len > 400 ? 400 : w.len),
                       (const char *)w.buf);
    free(w.buf);
    return j;
}

static double num(const mfw_json *obj, const char *key)
{
    const mfw_json *v = mfw_json_get(obj, key);
    cr_assert_not_null(v, "no member %s", key);
    cr_assert_eq(v->type, MFW_JSON_NUMBER, "%s is not a number", key);
    return v->num;
}

static const char *str(const mfw_json *obj, const char *key)
{
    const mfw_json *v = mfw_json_get(obj, key);
    cr_assert_not_null(v, "no member %s", key);
    cr_assert_eq(v->type, MFW_JSON_STRING, "%s is not a string", key);
    return v->str;
}

/* An array member equal to v[0..n) (exactly: %.17g round-trips). */
static void expect_array(const mfw_json *obj, const char *key, const double *v,
                         size_t n)
{
    const mfw_json *a = mfw_json_get(obj, key);
    cr_assert_not_null(a, "no member %s", key);
    cr_assert_eq(a->type, MFW_JSON_ARRAY);
    cr_assert_eq(a->len, n, "%s has %zu elements, want %zu", key, a->len, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(a->kids[i]->num, v[i], "%s[%zu] = %g, want %g", key, i,
                     a->kids[i]->num, v[i]);
}

static void expect_empty_array(const mfw_json *obj, const char *key)
{
    const mfw_json *a = mfw_json_get(obj, key);
    cr_assert_not_null(a, "no member %s", key);
    cr_assert_eq(a->type, MFW_JSON_ARRAY);
    cr_assert_eq(a->len, 0, "%s should be empty", key);
}

/* The members JSROOT's painters read; without fBits the draw throws, and
 * without the TAttLine fields a TH1 draws with no line at all. */
static void expect_th1_members(const mfw_json *h)
{
    static const char *const nums[] = {
        "fUniqueID", "fBits", "fLineColor", "fLineStyle", "fLineWidth",
        "fFillColor", "fFillStyle", "fMarkerColor", "fMarkerStyle", "fMarkerSize",
        "fBarOffset", "fBarWidth", "fMaximum", "fMinimum", "fNormFactor",
        "fBufferSize", "fBinStatErrOpt", "fStatOverflows"};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        num(h, nums[i]);
    cr_assert_eq(num(h, "fLineColor"), 602);
    cr_assert_eq(num(h, "fBits"), 0, "bit 512 would hide the stats box");
    cr_assert_eq(num(h, "fMaximum"), -1111);
    cr_assert_eq(num(h, "fMinimum"), -1111);
    cr_assert_eq(num(h, "fStatOverflows"), 2);
    str(h, "fName");
    str(h, "fOption");
    const mfw_json *f = mfw_json_get(h, "fFunctions");
    cr_assert_str_eq(str(f, "_typename"), "TList");
    cr_assert_str_eq(str(f, "name"), "TList");
    expect_empty_array(f, "arr");
    expect_empty_array(f, "opt");
    expect_empty_array(h, "fContour");
    expect_empty_array(h, "fBuffer");
}

static const mfw_json *expect_axis(const mfw_json *h, const char *key,
                                   const char *name, double nbins, double min,
                                   double max)
{
    const mfw_json *a = mfw_json_get(h, key);
    cr_assert_not_null(a, "no axis %s", key);
    cr_assert_str_eq(str(a, "_typename"), "TAxis");
    cr_assert_str_eq(str(a, "fName"), name);
    static const char *const nums[] = {
        "fBits", "fNdivisions", "fAxisColor", "fLabelColor", "fLabelFont",
        "fLabelOffset", "fLabelSize", "fTickLength", "fTitleOffset", "fTitleSize",
        "fTitleColor", "fTitleFont", "fFirst", "fLast", "fBits2"};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        num(a, nums[i]);
    cr_assert_eq(num(a, "fNbins"), nbins);
    cr_assert_eq(num(a, "fXmin"), min);
    cr_assert_eq(num(a, "fXmax"), max);
    expect_empty_array(a, "fXbins");
    cr_assert_eq(mfw_json_get(a, "fTimeDisplay")->type, MFW_JSON_FALSE);
    cr_assert_eq(mfw_json_get(a, "fLabels")->type, MFW_JSON_NULL);
    return a;
}

Test(root_json, hist1d_is_a_th1d_with_every_cell_and_the_statistics)
{
    mf_hist1d *h = mf_hist1d_new("px \"quoted\"", 20, -2, 3);
    for (int i = 0; i < 500; i++)
        mf_hist1d_fill_w(h, -2.5 + i * 0.013, 1.0 + (i % 3));
    mfw_json *j = root_json(&mf_hist1d_class, h);
    cr_assert_str_eq(str(j, "_typename"), "TH1D");
    cr_assert_str_eq(str(j, "fTitle"), "px \"quoted\"");
    expect_th1_members(j);
    cr_assert_eq(num(j, "fNcells"), 22);
    expect_axis(j, "fXaxis", "xaxis", 20, -2, 3);
    expect_axis(j, "fYaxis", "yaxis", 1, 0, 1);
    expect_axis(j, "fZaxis", "zaxis", 1, 0, 1);
    cr_assert_eq(num(j, "fEntries"), 500);
    cr_assert_eq(num(j, "fTsumw"), h->sumw);
    cr_assert_eq(num(j, "fTsumw2"), h->sumw2);
    cr_assert_eq(num(j, "fTsumwx"), h->sumwx);
    cr_assert_eq(num(j, "fTsumwx2"), h->sumwx2);
    cr_assert_gt(h->bins[0], 0, "the test fills the underflow");
    cr_assert_gt(h->bins[21], 0, "and the overflow");
    expect_array(j, "fArray", h->bins, 22);
    expect_empty_array(j, "fSumw2");
    mfw_json_free(j);
    mf_hist1d_free(h);
}

Test(root_json, hist2d_is_a_th2d_in_root_global_bin_order)
{
    mf_hist2d *h = mf_hist2d_new("py vs px", 4, 0, 4, 3, -1, 2);
    for (int i = 0; i < 200; i++)
        mf_hist2d_fill_w(h, -0.5 + (i % 11) * 0.5, -1.5 + (i % 7) * 0.6, 0.5);
    mf_hist2d_fill(h, 3.5, 1.5); /* cell (4, 3) */
    mfw_json *j = root_json(&mf_hist2d_class, h);
    cr_assert_str_eq(str(j, "_typename"), "TH2D");
    expect_th1_members(j);
    cr_assert_eq(num(j, "fNcells"), 6 * 5);
    expect_axis(j, "fXaxis", "xaxis", 4, 0, 4);
    expect_axis(j, "fYaxis", "yaxis", 3, -1, 2);
    expect_axis(j, "fZaxis", "zaxis", 1, 0, 1);
    cr_assert_eq(num(j, "fEntries"), 201);
    cr_assert_eq(num(j, "fScalefactor"), 1);
    cr_assert_eq(num(j, "fTsumw"), h->sumw);
    cr_assert_eq(num(j, "fTsumwx2"), h->sumwx2);
    cr_assert_eq(num(j, "fTsumwy"), h->sumwy);
    cr_assert_eq(num(j, "fTsumwy2"), h->sumwy2);
    cr_assert_eq(num(j, "fTsumwxy"), h->sumwxy);
    expect_array(j, "fArray", h->bins, 30);
    /* ROOT's global bin of (bx, by) is bx + (nx+2)*by. */
    const mfw_json *arr = mfw_json_get(j, "fArray");
    cr_assert_eq(mfw_json_at(arr, 4 + 6 * 3)->num, mf_hist2d_bin_content(h, 4, 3));
    cr_assert_geq(mf_hist2d_bin_content(h, 4, 3), 1.0);
    mfw_json_free(j);
    mf_hist2d_free(h);
}

Test(root_json, profile_is_a_tprofile_with_sums_not_means)
{
    mf_profile *p = mf_profile_new("y vs x", 10, 0, 10);
    for (int i = 0; i < 300; i++)
        mf_profile_fill(p, (i % 12) - 0.5, (i % 5) * 1.5);
    mfw_json *j = root_json(&mf_profile_class, p);
    cr_assert_str_eq(str(j, "_typename"), "TProfile");
    expect_th1_members(j);
    cr_assert_eq(num(j, "fNcells"), 12);
    expect_axis(j, "fXaxis", "xaxis", 10, 0, 10);
    cr_assert_eq(num(j, "fEntries"), 300);
    cr_assert_eq(num(j, "fTsumwy"), p->sumwy);
    cr_assert_eq(num(j, "fTsumwy2"), p->sumwy2);
    cr_assert_eq(num(j, "fErrorMode"), 0);
    expect_array(j, "fArray", p->bin_sumwy, 12);
    expect_array(j, "fSumw2", p->bin_sumwy2, 12);
    expect_array(j, "fBinEntries", p->bin_sumw, 12);
    expect_empty_array(j, "fBinSumw2"); /* unit weights, as ROOT writes it */
    /* The mean JSROOT shows for a bin is fArray / fBinEntries. */
    const mfw_json *a = mfw_json_get(j, "fArray"), *e = mfw_json_get(j, "fBinEntries");
    cr_assert_float_eq(mfw_json_at(a, 3)->num / mfw_json_at(e, 3)->num,
                       mf_profile_bin_content(p, 3), 1e-12);
    mfw_json_free(j);
    mf_profile_free(p);
}

Test(root_json, weighted_profile_carries_its_bin_sumw2)
{
    mf_profile *p = mf_profile_new("weighted", 4, 0, 4);
    mf_profile_fill_w(p, 0.5, 2.0, 3.0);
    mf_profile_fill_w(p, 2.5, 1.0, 0.5);
    mfw_json *j = root_json(&mf_profile_class, p);
    expect_array(j, "fBinSumw2", p->bin_sumw2, 6);
    cr_assert_eq(mfw_json_at(mfw_json_get(j, "fBinSumw2"), 1)->num, 9.0);
    mfw_json_free(j);
    mf_profile_free(p);
}

Test(root_json, hostile_title_still_gives_valid_json)
{
    /* Control bytes, DEL, a lone continuation byte and a truncated
     * sequence: what a hostile payload's title may hold. */
    const char title[] = "a\x01\x1b[2J\x7f\x80z\xc3\"\\/\xe2\x82";
    mf_hist1d *h = mf_hist1d_new(title, 2, 0, 1);
    mfw_json *j = root_json(&mf_hist1d_class, h);
    cr_assert_str_eq(str(j, "fTitle"),
                     "a\x01\x1b[2J\x7f\xef\xbf\xbdz\xef\xbf\xbd\"\\/\xef\xbf\xbd\xef\xbf\xbd");
    mfw_json_free(j);
    mf_hist1d_free(h);
}

Test(root_json, non_finite_contents_become_null)
{
    mf_hist1d *h = mf_hist1d_new("inf", 3, 0, 3);
    mf_hist1d_fill_w(h, 1.5, INFINITY);
    mf_hist1d_fill_w(h, 2.5, NAN);
    mfw_json *j = root_json(&mf_hist1d_class, h);
    const mfw_json *a = mfw_json_get(j, "fArray");
    cr_assert_eq(mfw_json_at(a, 2)->type, MFW_JSON_NULL);
    cr_assert_eq(mfw_json_at(a, 3)->type, MFW_JSON_NULL);
    cr_assert_eq(mfw_json_get(j, "fTsumw")->type, MFW_JSON_NULL);
    mfw_json_free(j);
    mf_hist1d_free(h);
}

/* A writer that cannot grow past its fixed buffer. */
static int no_reserve(mf_writer *w, size_t need)
{
    (void)w;
    (void)need;
    return -1;
}

Test(root_json, a_writer_that_cannot_grow_is_a_failure_not_a_cut)
{
    const mf_class *classes[] = {&mf_hist1d_class, &mf_hist2d_class, &mf_profile_class};
    void *objs[] = {mf_hist1d_new("a", 100, 0, 1), mf_hist2d_new("b", 10, 0, 1, 10, 0, 1),
                    mf_profile_new("c", 100, 0, 1)};
    for (int i = 0; i < 3; i++) {
        unsigned char buf[512];
        mf_writer w = {buf, 0, sizeof buf, 0, no_reserve, NULL};
        cr_assert_neq(classes[i]->to_root_json(objs[i], &w), 0, "%s", classes[i]->name);
        cr_assert_eq(w.err, MF_WIRE_NOMEM);
        mf_object_free(classes[i], objs[i]);
    }
}

Test(root_json, plugin_module_has_the_hook_and_writes_the_same_bytes)
{
    void *dl = dlopen(MF_TEST_PLUGIN_DIR "/mapfile-hist.so", RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(dl, "build the mapfile-hist target first: %s", dlerror());
    mf_plugin_entry_fn entry = (mf_plugin_entry_fn)dlsym(dl, MF_PLUGIN_ENTRY_NAME);
    const mf_plugin *pl = entry();
    mf_profile *p = mf_profile_new("prof", 7, -1, 1);
    mf_profile_fill(p, 0.1, 4);
    const mf_class *cls = NULL;
    for (int i = 0; pl->classes[i]; i++)
        if (strcmp(pl->classes[i]->name, "profile") == 0)
            cls = pl->classes[i];
    cr_assert_not_null(cls);
    cr_assert(MF_CLASS_HAS(cls, to_root_json));
    mf_writer a = mf_test_writer(), b = mf_test_writer();
    cr_assert_eq(cls->to_root_json(p, &a), 0);
    cr_assert_eq(mf_profile_class.to_root_json(p, &b), 0);
    cr_assert_eq(a.len, b.len);
    cr_assert_eq(memcmp(a.buf, b.buf, a.len), 0);
    free(a.buf);
    free(b.buf);
    mf_profile_free(p);
    dlclose(dl);
}

Test(root_json, object_read_back_from_a_map_file_gives_the_same_th1d)
{
    mf_registry *reg;
    cr_assert_eq(mf_registry_create(&reg), 0);
    cr_assert_eq(mf_registry_add_class(reg, &mf_hist1d_class), 0);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = reg;
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, mf_test_path("rj.map"), MF_RECREATE, &o), 0);
    mf_hist1d *h = mf_hist1d_new("hpx", 50, -4, 4);
    for (int i = 0; i < 1000; i++)
        mf_hist1d_fill(h, sin(i) * 4.5);
    cr_assert_eq(mf_put(mf, "det/hpx", "hist1d", h), 0);
    void *obj;
    const mf_class *cls;
    cr_assert_eq(mf_get(mf, "det/hpx", &obj, &cls), 0);
    mfw_json *j = root_json(cls, obj);
    expect_array(j, "fArray", h->bins, 52);
    cr_assert_eq(num(j, "fEntries"), 1000);
    mfw_json_free(j);
    mf_object_free(cls, obj);
    mf_hist1d_free(h);
    mf_close(mf);
    mf_registry_free(reg);
}

/* The SDK's JSON string writer (every to_json, root.json and get --json
 * string goes through it): valid UTF-8 passes as it is, anything else
 * becomes U+FFFD, so the output always parses. */
Test(root_json, sdk_json_strings_keep_valid_utf8_and_replace_the_rest)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e\""},
        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},             /* overlong '/' */
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},  /* a surrogate */
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* past U+10FFFF */
        {"q\"b\\\n\x7f", "\"q\\\"b\\\\\\u000a\\u007f\""},
        {NULL, "\"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mf_writer w = mf_test_writer();
        mf_w_json_str(&w, cases[i].in);
        cr_assert_eq(w.err, 0);
        cr_assert_eq(w.len, strlen(cases[i].want), "case %zu: %.*s", i, (int)w.len,
                     (const char *)w.buf);
        cr_assert_eq(memcmp(w.buf, cases[i].want, w.len), 0, "case %zu: %.*s", i,
                     (int)w.len, (const char *)w.buf);
        mfw_json *j = mfw_json_parse((const char *)w.buf, w.len);
        cr_assert_not_null(j, "case %zu does not parse", i);
        mfw_json_free(j);
        free(w.buf);
    }
}
