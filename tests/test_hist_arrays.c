/* test_hist_arrays.c - the `arrays` hook (ABI 1.1) of hist1d, hist2d and
 * profile: which arrays each class declares, their shapes, that they point
 * into the object (no copy), that a short `cap` is respected, and that the
 * plugin module's classes carry the hook too. */
#include <criterion/criterion.h>

#include <string.h>

#include <mapfile/codec.h>
#include <mapfile/hist.h>
#include <mapfile/mapfile.h>

#include "testutil.h"

#define GUARD 0xA5

/* Calls the hook with cap entries inside a guarded buffer; checks that it
 * wrote nothing past cap and returns its count. */
static int call_arrays(const mf_class *cls, void *obj, mf_array *out, size_t cap)
{
    mf_array buf[8];
    cr_assert_leq(cap, 6);
    memset(buf, GUARD, sizeof buf);
    cr_assert(MF_CLASS_HAS(cls, arrays), "%s has no arrays hook", cls->name);
    int n = cls->arrays(obj, buf, cap);
    const unsigned char *rest = (const unsigned char *)&buf[cap];
    for (size_t i = 0; i < (8 - cap) * sizeof(mf_array); i++)
        cr_assert_eq(rest[i], GUARD, "%s wrote past cap %zu", cls->name, cap);
    if (out)
        memcpy(out, buf, (size_t)(n < (int)cap ? n : (int)cap) * sizeof(mf_array));
    return n;
}

static void assert_array(const mf_array *a, const char *name, uint32_t ndim,
                         size_t s0, size_t s1, const void *data)
{
    cr_assert_str_eq(a->name, name);
    cr_assert_eq(a->type, MF_ELEM_F64, "%s: type %c", name, a->type);
    cr_assert_eq(a->ndim, ndim, "%s: ndim %u", name, a->ndim);
    cr_assert_eq(a->shape[0], s0, "%s: shape[0] %zu, want %zu", name, a->shape[0], s0);
    if (ndim > 1)
        cr_assert_eq(a->shape[1], s1, "%s: shape[1] %zu, want %zu", name, a->shape[1], s1);
    cr_assert_eq(a->data, data, "%s does not point into the object", name);
}

Test(hist1d, arrays_are_the_bins_with_under_and_overflow_and_the_sums)
{
    mf_hist1d *h = mf_hist1d_new("a", 10, 0, 10);
    for (int i = -3; i < 14; i++)
        mf_hist1d_fill_w(h, i + 0.5, 0.25 * i);
    mf_array a[2];
    cr_assert_eq(call_arrays(&mf_hist1d_class, h, a, 2), 2);
    assert_array(&a[0], "bins", 1, 12, 0, h->bins);
    assert_array(&a[1], "stats", 1, 4, 0, &h->sumw);
    const double *bins = a[0].data, *stats = a[1].data;
    for (int b = 0; b < 12; b++)
        cr_assert_eq(bins[b], mf_hist1d_bin_content(h, b), "bin %d", b);
    cr_assert_neq(bins[0], 0.0, "underflow is included");
    cr_assert_neq(bins[11], 0.0, "overflow is included");
    double want[4] = {h->sumw, h->sumw2, h->sumwx, h->sumwx2};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(stats[i], want[i], "stats[%d]", i);
    /* A view, not a copy: a later fill shows through it. */
    mf_hist1d_fill(h, 4.5);
    cr_assert_eq(bins[5], mf_hist1d_bin_content(h, 5));
    cr_assert_eq(stats[0], h->sumw);
    mf_hist1d_free(h);
}

Test(hist1d, arrays_count_is_returned_even_when_cap_is_short)
{
    mf_hist1d *h = mf_hist1d_new("a", 3, 0, 1);
    cr_assert_eq(call_arrays(&mf_hist1d_class, h, NULL, 0), 2);
    mf_array a[1];
    cr_assert_eq(call_arrays(&mf_hist1d_class, h, a, 1), 2);
    assert_array(&a[0], "bins", 1, 5, 0, h->bins);
    mf_hist1d_free(h);
}

Test(hist2d, arrays_bins_are_two_dimensional_rows_of_y)
{
    mf_hist2d *h = mf_hist2d_new("b", 4, 0, 4, 3, 0, 3);
    for (int i = -1; i < 6; i++)
        for (int j = -1; j < 5; j++)
            mf_hist2d_fill_w(h, i + 0.5, j + 0.5, 10 * i + j + 100);
    mf_array a[2];
    cr_assert_eq(call_arrays(&mf_hist2d_class, h, a, 2), 2);
    assert_array(&a[0], "bins", 2, 5, 6, h->bins); /* [ny+2][nx+2] */
    assert_array(&a[1], "stats", 1, 7, 0, &h->sumw);
    const double(*bins)[6] = a[0].data;
    for (int by = 0; by < 5; by++)
        for (int bx = 0; bx < 6; bx++)
            cr_assert_eq(bins[by][bx], mf_hist2d_bin_content(h, bx, by), "(%d, %d)", bx,
                         by);
    const double *stats = a[1].data;
    double want[7] = {h->sumw, h->sumw2, h->sumwx, h->sumwx2, h->sumwy, h->sumwy2, h->sumwxy};
    for (int i = 0; i < 7; i++)
        cr_assert_eq(stats[i], want[i], "stats[%d]", i);
    cr_assert_eq(call_arrays(&mf_hist2d_class, h, NULL, 1), 2);
    mf_hist2d_free(h);
}

Test(profile, arrays_are_the_per_bin_sums_and_the_sums)
{
    mf_profile *p = mf_profile_new("c", 5, 0, 5);
    for (int i = -1; i < 7; i++)
        mf_profile_fill_w(p, i + 0.5, i * i, 1.5);
    mf_array a[5];
    cr_assert_eq(call_arrays(&mf_profile_class, p, a, 5), 5);
    assert_array(&a[0], "bin_sumwy", 1, 7, 0, p->bin_sumwy);
    assert_array(&a[1], "bin_sumwy2", 1, 7, 0, p->bin_sumwy2);
    assert_array(&a[2], "bin_sumw", 1, 7, 0, p->bin_sumw);
    assert_array(&a[3], "bin_sumw2", 1, 7, 0, p->bin_sumw2);
    assert_array(&a[4], "stats", 1, 6, 0, &p->sumw);
    const double *sumw = a[2].data, *sumwy = a[0].data, *stats = a[4].data;
    for (int b = 0; b < 7; b++) {
        cr_assert_eq(sumw[b], mf_profile_bin_entries(p, b), "bin %d", b);
        if (sumw[b] != 0.0)
            cr_assert_eq(sumwy[b] / sumw[b], mf_profile_bin_content(p, b), "bin %d", b);
    }
    double want[6] = {p->sumw, p->sumw2, p->sumwx, p->sumwx2, p->sumwy, p->sumwy2};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(stats[i], want[i], "stats[%d]", i);
    cr_assert_eq(call_arrays(&mf_profile_class, p, NULL, 3), 5);
    mf_profile_free(p);
}

/* The module loaded by the registry declares the same arrays on the object
 * its own stream_in rebuilt. */
Test(plugin, module_classes_describe_the_arrays_of_decoded_objects)
{
    mf_registry *reg;
    cr_assert_eq(mf_registry_create(&reg), 0);
    cr_assert_eq(mf_registry_add_path(reg, MF_TEST_PLUGIN_DIR), 0);
    const mf_class *cls;
    cr_assert_eq(mf_registry_find(reg, "hist2d", &cls), 0, "%s", mf_errdetail());
    cr_assert_neq(cls, &mf_hist2d_class, "the class comes from the module");

    mf_hist2d *h = mf_hist2d_new("d", 3, 0, 3, 2, 0, 2);
    mf_hist2d_fill_w(h, 1.5, 0.5, 7);
    mf_hist2d_fill_w(h, 9, 9, 3);
    mf_writer w = mf_test_writer();
    cr_assert_eq(mf_hist2d_class.stream_out(h, &w), 0);
    mf_reader r = mf_reader_make(w.buf, w.len);
    mf_hist2d *g = cls->stream_in(&r, MF_HIST_VERSION);
    cr_assert_not_null(g);

    mf_array a[2];
    cr_assert_eq(call_arrays(cls, g, a, 2), 2);
    assert_array(&a[0], "bins", 2, 4, 5, g->bins);
    const double(*bins)[5] = a[0].data;
    cr_assert_eq(bins[1][2], 7.0);
    cr_assert_eq(bins[3][4], 3.0, "overflow cell");
    cls->destroy(g);
    free(w.buf);
    mf_hist2d_free(h);
    mf_registry_free(reg);
}
