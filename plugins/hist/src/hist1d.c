/* hist1d.c - the 1-D histogram, its codec and its methods. */
#include "hist_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mf_hist1d *mf_hist1d_new(const char *title, int nbins, double min, double max)
{
    if (!mf__hist_axis_ok(nbins, min, max))
        return NULL;
    mf_hist1d *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->title = mf__hist_strdup(title);
    h->bins = mf__hist_zalloc_doubles((size_t)nbins + 2);
    if (!h->title || !h->bins) {
        mf_hist1d_free(h);
        return NULL;
    }
    h->xaxis.nbins = nbins;
    h->xaxis.min = min;
    h->xaxis.max = max;
    return h;
}

void mf_hist1d_free(mf_hist1d *h)
{
    if (!h)
        return;
    free(h->title);
    free(h->bins);
    free(h);
}

int mf_hist1d_fill_w(mf_hist1d *h, double x, double w)
{
    int bin = mf__hist_axis_find(&h->xaxis, x);
    h->bins[bin] += w;
    h->entries += 1.0;
    if (bin >= 1 && bin <= h->xaxis.nbins) {
        h->sumw += w;
        h->sumw2 += w * w;
        h->sumwx += w * x;
        h->sumwx2 += w * x * x;
    }
    return bin;
}

int mf_hist1d_fill(mf_hist1d *h, double x) { return mf_hist1d_fill_w(h, x, 1.0); }

void mf_hist1d_reset(mf_hist1d *h)
{
    memset(h->bins, 0, ((size_t)h->xaxis.nbins + 2) * sizeof(double));
    h->entries = h->sumw = h->sumw2 = h->sumwx = h->sumwx2 = 0.0;
}

int mf_hist1d_find_bin(const mf_hist1d *h, double x)
{
    return mf__hist_axis_find(&h->xaxis, x);
}

double mf_hist1d_bin_content(const mf_hist1d *h, int bin)
{
    if (bin < 0 || bin > h->xaxis.nbins + 1)
        return 0.0;
    return h->bins[bin];
}

double mf_hist1d_bin_low_edge(const mf_hist1d *h, int bin)
{
    return mf__hist_axis_low_edge(&h->xaxis, bin);
}

double mf_hist1d_bin_center(const mf_hist1d *h, int bin)
{
    return mf__hist_axis_low_edge(&h->xaxis, bin) +
           0.5 * (h->xaxis.max - h->xaxis.min) / (double)h->xaxis.nbins;
}

double mf_hist1d_entries(const mf_hist1d *h) { return h->entries; }

double mf_hist1d_mean(const mf_hist1d *h)
{
    return mf__hist_stat_mean(h->sumw, h->sumwx);
}

double mf_hist1d_rms(const mf_hist1d *h)
{
    return mf__hist_stat_rms(h->sumw, h->sumwx, h->sumwx2);
}

double mf_hist1d_integral(const mf_hist1d *h)
{
    double s = 0.0;
    for (int i = 1; i <= h->xaxis.nbins; i++)
        s += h->bins[i];
    return s;
}

int mf_hist1d_maximum_bin(const mf_hist1d *h)
{
    int best = 1;
    for (int i = 2; i <= h->xaxis.nbins; i++)
        if (h->bins[i] > h->bins[best])
            best = i;
    return best;
}

/* ---- codec ------------------------------------------------------------ */

static int hist1d_stream_out(const void *obj, mf_writer *w)
{
    const mf_hist1d *h = obj;
    mf_w_str(w, h->title);
    mf_w_f64(w, h->xaxis.min);
    mf_w_f64(w, h->xaxis.max);
    mf_w_f64(w, h->entries);
    mf_w_f64(w, h->sumw);
    mf_w_f64(w, h->sumw2);
    mf_w_f64(w, h->sumwx);
    mf_w_f64(w, h->sumwx2);
    mf_w_varint(w, (uint64_t)h->xaxis.nbins);
    mf_w_f64_array(w, h->bins, (size_t)h->xaxis.nbins + 2);
    return w->err ? -1 : 0;
}

static void *hist1d_stream_in(mf_reader *r, uint32_t version)
{
    if (!mf__hist_version_ok(r, version))
        return NULL;
    mf_hist1d *h = calloc(1, sizeof *h);
    if (!h) {
        mf_r_fail(r, MF_WIRE_NOMEM);
        return NULL;
    }
    h->title = mf_r_str_dup(r);
    mf__hist_read_range(r, &h->xaxis.min, &h->xaxis.max);
    h->entries = mf__hist_read_entries(r);
    h->sumw = mf_r_f64(r);
    h->sumw2 = mf_r_f64(r);
    h->sumwx = mf_r_f64(r);
    h->sumwx2 = mf_r_f64(r);
    h->xaxis.nbins = mf__hist_read_nbins(r, sizeof(double));
    if (!r->err) {
        /* Bounded: mf__hist_read_nbins checked nbins * 8 <= bytes left. */
        h->bins = mf__hist_alloc_doubles((size_t)h->xaxis.nbins + 2);
        if (!h->bins)
            mf_r_fail(r, MF_WIRE_NOMEM);
        else
            mf_r_f64_array(r, h->bins, (size_t)h->xaxis.nbins + 2);
    }
    mf__hist_read_end(r);
    if (r->err) {
        mf_hist1d_free(h);
        return NULL;
    }
    return h;
}

static void hist1d_destroy(void *obj) { mf_hist1d_free(obj); }

static void hist1d_print(const void *obj, FILE *out)
{
    const mf_hist1d *h = obj;
    const mf_axis *a = &h->xaxis;
    int group = (a->nbins + MF__HIST_MAX_ROWS - 1) / MF__HIST_MAX_ROWS;

    mf__hist_print_title(out, "hist1d", h->title);
    fprintf(out, "  entries %.15g  mean %.6g  rms %.6g  integral %.15g\n",
            h->entries, mf_hist1d_mean(h), mf_hist1d_rms(h),
            mf_hist1d_integral(h));
    fprintf(out, "  x: %d bins in [%g, %g)", a->nbins, a->min, a->max);
    if (group > 1)
        fprintf(out, ", %d bins per row", group);
    fprintf(out, "; underflow %g, overflow %g\n", h->bins[0],
            h->bins[a->nbins + 1]);

    double maxval = 0.0;
    for (int b = 1; b <= a->nbins; b += group) {
        double s = 0.0;
        for (int i = b; i < b + group && i <= a->nbins; i++)
            s += h->bins[i];
        if (s > maxval)
            maxval = s;
    }
    for (int b = 1; b <= a->nbins; b += group) {
        double s = 0.0;
        for (int i = b; i < b + group && i <= a->nbins; i++)
            s += h->bins[i];
        fprintf(out, "  %10.4g |", mf__hist_axis_low_edge(a, b));
        mf__hist_print_bar(out, s, maxval);
        fprintf(out, "| %g\n", s);
    }
}

static int hist1d_to_json(const void *obj, mf_writer *w)
{
    const mf_hist1d *h = obj;
    mf__hist_json_head(w, "hist1d", h->title);
    mf__hist_json_num_field(w, "entries", h->entries);
    mf__hist_json_num_field(w, "mean", mf_hist1d_mean(h));
    mf__hist_json_num_field(w, "rms", mf_hist1d_rms(h));
    mf__hist_json_num_field(w, "integral", mf_hist1d_integral(h));
    mf__hist_json_num_field(w, "sumw", h->sumw);
    mf__hist_json_num_field(w, "sumw2", h->sumw2);
    mf__hist_json_num_field(w, "sumwx", h->sumwx);
    mf__hist_json_num_field(w, "sumwx2", h->sumwx2);
    mf__hist_json_axis(w, "xaxis", &h->xaxis);
    mf__hist_json_array(w, "bins", h->bins, (size_t)h->xaxis.nbins + 2);
    mf_w_u8(w, '}');
    return w->err ? -1 : 0;
}

/* ---- methods (mf_call): void * first, int64_t indices ------------------ */

static double m_entries(void *o) { return mf_hist1d_entries(o); }
static double m_mean(void *o) { return mf_hist1d_mean(o); }
static double m_rms(void *o) { return mf_hist1d_rms(o); }
static double m_integral(void *o) { return mf_hist1d_integral(o); }
static double m_bin_content(void *o, int64_t bin)
{
    const mf_hist1d *h = o;
    /* Range-check in 64 bits before narrowing to int. */
    if (bin < 0 || bin > (int64_t)h->xaxis.nbins + 1)
        return 0.0;
    return mf_hist1d_bin_content(h, (int)bin);
}
static int64_t m_find_bin(void *o, double x) { return mf_hist1d_find_bin(o, x); }
static int64_t m_maximum_bin(void *o) { return mf_hist1d_maximum_bin(o); }

static const mf_method hist1d_methods[] = {
    MF_METHOD("entries", "d(o)", m_entries),
    MF_METHOD("mean", "d(o)", m_mean),
    MF_METHOD("rms", "d(o)", m_rms),
    MF_METHOD("integral", "d(o)", m_integral),
    MF_METHOD("bin_content", "d(o,i)", m_bin_content),
    MF_METHOD("find_bin", "i(o,d)", m_find_bin),
    MF_METHOD("maximum_bin", "i(o)", m_maximum_bin),
    {sizeof(mf_method), NULL, NULL, NULL},
};

const mf_class mf_hist1d_class = {
    sizeof(mf_class), "hist1d", MF_HIST_VERSION, MF_HIST_MIN_VERSION,
    hist1d_stream_out, hist1d_stream_in, hist1d_destroy, hist1d_print,
    hist1d_to_json, hist1d_methods,
    .to_root_json = mf__hist1d_to_root_json,
};
