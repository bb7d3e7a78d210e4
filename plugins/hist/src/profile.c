/* profile.c - the profile histogram (mean of y per x bin), its codec and
 * its methods. */
#include <stdbool.h>
#include "hist_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The four per-bin arrays, in wire order. */
#define NARRAYS 4

/* The per-bin arrays of p, in wire order. */
static void arrays(const mf_profile *p, double *a[NARRAYS])
{
    a[0] = p->bin_sumwy;
    a[1] = p->bin_sumwy2;
    a[2] = p->bin_sumw;
    a[3] = p->bin_sumw2;
}

static size_t nbins2(const mf_profile *p) { return (size_t)p->xaxis.nbins + 2; }

static int alloc_bins(mf_profile *p, bool zero)
{
    size_t n = nbins2(p);
    double *(*alloc)(size_t) = zero ? mf__hist_zalloc_doubles : mf__hist_alloc_doubles;
    p->bin_sumwy = alloc(n);
    p->bin_sumwy2 = alloc(n);
    p->bin_sumw = alloc(n);
    p->bin_sumw2 = alloc(n);
    return p->bin_sumwy && p->bin_sumwy2 && p->bin_sumw && p->bin_sumw2 ? 0 : -1;
}

mf_profile *mf_profile_new(const char *title, int nbins, double min, double max)
{
    if (!mf__hist_axis_ok(nbins, min, max))
        return NULL;
    mf_profile *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->xaxis = (mf_axis){nbins, min, max};
    p->title = mf__hist_strdup(title);
    if (!p->title || alloc_bins(p, true) != 0) {
        mf_profile_free(p);
        return NULL;
    }
    return p;
}

void mf_profile_free(mf_profile *p)
{
    if (!p)
        return;
    free(p->title);
    free(p->bin_sumwy);
    free(p->bin_sumwy2);
    free(p->bin_sumw);
    free(p->bin_sumw2);
    free(p);
}

int mf_profile_fill_w(mf_profile *p, double x, double y, double w)
{
    int bin = mf__hist_axis_find(&p->xaxis, x);
    p->bin_sumwy[bin] += w * y;
    p->bin_sumwy2[bin] += w * y * y;
    p->bin_sumw[bin] += w;
    p->bin_sumw2[bin] += w * w;
    p->entries += 1.0;
    if (bin >= 1 && bin <= p->xaxis.nbins) {
        p->sumw += w;
        p->sumw2 += w * w;
        p->sumwx += w * x;
        p->sumwx2 += w * x * x;
        p->sumwy += w * y;
        p->sumwy2 += w * y * y;
    }
    return bin;
}

int mf_profile_fill(mf_profile *p, double x, double y)
{
    return mf_profile_fill_w(p, x, y, 1.0);
}

void mf_profile_reset(mf_profile *p)
{
    double *a[NARRAYS];
    arrays(p, a);
    for (int i = 0; i < NARRAYS; i++)
        memset(a[i], 0, nbins2(p) * sizeof(double));
    p->entries = p->sumw = p->sumw2 = p->sumwx = p->sumwx2 = 0.0;
    p->sumwy = p->sumwy2 = 0.0;
}

int mf_profile_find_bin(const mf_profile *p, double x)
{
    return mf__hist_axis_find(&p->xaxis, x);
}

static int in_range(const mf_profile *p, int bin)
{
    return bin >= 0 && bin <= p->xaxis.nbins + 1;
}

/* Mean and error from the sums of one bin or of a group of bins. */
static double sums_mean(double sw, double swy)
{
    return sw != 0.0 ? swy / sw : 0.0;
}

static double sums_error(double sw, double sw2, double swy, double swy2)
{
    if (sw == 0.0 || sw2 <= 0.0)
        return 0.0;
    double m = swy / sw;
    double spread = sqrt(fabs(swy2 / sw - m * m));
    double neff = sw * sw / sw2; /* effective entries for weighted fills */
    return spread / sqrt(neff);
}

double mf_profile_bin_content(const mf_profile *p, int bin)
{
    if (!in_range(p, bin))
        return 0.0;
    return sums_mean(p->bin_sumw[bin], p->bin_sumwy[bin]);
}

double mf_profile_bin_entries(const mf_profile *p, int bin)
{
    return in_range(p, bin) ? p->bin_sumw[bin] : 0.0;
}

double mf_profile_bin_error(const mf_profile *p, int bin)
{
    if (!in_range(p, bin))
        return 0.0;
    return sums_error(p->bin_sumw[bin], p->bin_sumw2[bin], p->bin_sumwy[bin],
                      p->bin_sumwy2[bin]);
}

double mf_profile_entries(const mf_profile *p) { return p->entries; }

double mf_profile_mean(const mf_profile *p)
{
    return mf__hist_stat_mean(p->sumw, p->sumwx);
}

double mf_profile_mean_y(const mf_profile *p)
{
    return mf__hist_stat_mean(p->sumw, p->sumwy);
}

double mf_profile_rms(const mf_profile *p)
{
    return mf__hist_stat_rms(p->sumw, p->sumwx, p->sumwx2);
}

double mf_profile_rms_y(const mf_profile *p)
{
    return mf__hist_stat_rms(p->sumw, p->sumwy, p->sumwy2);
}

/* ---- codec ------------------------------------------------------------ */

static int profile_stream_out(const void *obj, mf_writer *w)
{
    const mf_profile *p = obj;
    double *a[NARRAYS];
    arrays(p, a);
    mf_w_str(w, p->title);
    mf_w_f64(w, p->xaxis.min);
    mf_w_f64(w, p->xaxis.max);
    mf_w_f64(w, p->entries);
    mf_w_f64(w, p->sumw);
    mf_w_f64(w, p->sumw2);
    mf_w_f64(w, p->sumwx);
    mf_w_f64(w, p->sumwx2);
    mf_w_f64(w, p->sumwy);
    mf_w_f64(w, p->sumwy2);
    mf_w_varint(w, (uint64_t)p->xaxis.nbins);
    for (int i = 0; i < NARRAYS; i++)
        mf_w_f64_array(w, a[i], nbins2(p));
    return w->err ? -1 : 0;
}

static void *profile_stream_in(mf_reader *r, uint32_t version)
{
    if (!mf__hist_version_ok(r, version))
        return NULL;
    mf_profile *p = calloc(1, sizeof *p);
    if (!p) {
        mf_r_fail(r, MF_WIRE_NOMEM);
        return NULL;
    }
    p->title = mf_r_str_dup(r);
    mf__hist_read_range(r, &p->xaxis.min, &p->xaxis.max);
    p->entries = mf__hist_read_entries(r);
    p->sumw = mf_r_f64(r);
    p->sumw2 = mf_r_f64(r);
    p->sumwx = mf_r_f64(r);
    p->sumwx2 = mf_r_f64(r);
    p->sumwy = mf_r_f64(r);
    p->sumwy2 = mf_r_f64(r);
    /* Each bin costs NARRAYS doubles on the wire. */
    p->xaxis.nbins = mf__hist_read_nbins(r, NARRAYS * sizeof(double));
    if (!r->err) {
        if (alloc_bins(p, false) != 0) {
            mf_r_fail(r, MF_WIRE_NOMEM);
        } else {
            double *a[NARRAYS];
            arrays(p, a);
            for (int i = 0; i < NARRAYS; i++)
                mf_r_f64_array(r, a[i], nbins2(p));
        }
    }
    mf__hist_read_end(r);
    if (r->err) {
        mf_profile_free(p);
        return NULL;
    }
    return p;
}

static void profile_destroy(void *obj) { mf_profile_free(obj); }

/* Sums of bins [b, b + group) clipped to the real bins. */
static void group_sums(const mf_profile *p, int b, int group, double s[NARRAYS])
{
    s[0] = s[1] = s[2] = s[3] = 0.0;
    for (int i = b; i < b + group && i <= p->xaxis.nbins; i++) {
        s[0] += p->bin_sumwy[i];
        s[1] += p->bin_sumwy2[i];
        s[2] += p->bin_sumw[i];
        s[3] += p->bin_sumw2[i];
    }
}

static void profile_print(const void *obj, FILE *out)
{
    const mf_profile *p = obj;
    const mf_axis *a = &p->xaxis;
    int group = (a->nbins + MF__HIST_MAX_ROWS - 1) / MF__HIST_MAX_ROWS;

    mf__hist_print_title(out, "profile", p->title);
    fprintf(out, "  entries %.15g  mean x %.6g  rms x %.6g  mean y %.6g  "
                 "rms y %.6g\n",
            p->entries, mf_profile_mean(p), mf_profile_rms(p),
            mf_profile_mean_y(p), mf_profile_rms_y(p));
    fprintf(out, "  x: %d bins in [%g, %g)", a->nbins, a->min, a->max);
    if (group > 1)
        fprintf(out, ", %d bins per row", group);
    fputc('\n', out);

    /* A marker plot of the (positive part of the) mean of y per row, with
     * the numbers beside it; empty rows are left blank. */
    double s[NARRAYS], maxmean = 0.0;
    for (int b = 1; b <= a->nbins; b += group) {
        group_sums(p, b, group, s);
        double m = sums_mean(s[2], s[0]);
        if (s[2] != 0.0 && m > maxmean)
            maxmean = m;
    }
    fprintf(out, "  %10s |%-*s| %12s %12s %10s\n", "x", MF__HIST_BAR_COLS,
            " mean of y", "mean y", "error", "entries");
    for (int b = 1; b <= a->nbins; b += group) {
        group_sums(p, b, group, s);
        fprintf(out, "  %10.4g |", mf__hist_axis_low_edge(a, b));
        if (s[2] == 0.0) {
            fprintf(out, "%*s|\n", MF__HIST_BAR_COLS, "");
            continue;
        }
        double m = sums_mean(s[2], s[0]);
        mf__hist_print_bar(out, m, maxmean);
        fprintf(out, "| %12.6g %12.6g %10g\n", m,
                sums_error(s[2], s[3], s[0], s[1]), s[2]);
    }
}

static int profile_to_json(const void *obj, mf_writer *w)
{
    const mf_profile *p = obj;
    size_t n = nbins2(p);
    mf__hist_json_head(w, "profile", p->title);
    mf__hist_json_num_field(w, "entries", p->entries);
    mf__hist_json_num_field(w, "mean", mf_profile_mean(p));
    mf__hist_json_num_field(w, "rms", mf_profile_rms(p));
    mf__hist_json_num_field(w, "mean_y", mf_profile_mean_y(p));
    mf__hist_json_num_field(w, "rms_y", mf_profile_rms_y(p));
    mf__hist_json_num_field(w, "sumw", p->sumw);
    mf__hist_json_num_field(w, "sumw2", p->sumw2);
    mf__hist_json_num_field(w, "sumwx", p->sumwx);
    mf__hist_json_num_field(w, "sumwx2", p->sumwx2);
    mf__hist_json_num_field(w, "sumwy", p->sumwy);
    mf__hist_json_num_field(w, "sumwy2", p->sumwy2);
    mf__hist_json_axis(w, "xaxis", &p->xaxis);
    /* "bins" are the bin means, like bin_content; the raw sums follow. */
    mf_w_printf(w, ",\"bins\":[");
    for (size_t i = 0; i < n && !w->err; i++) {
        if (i)
            mf_w_u8(w, ',');
        mf_w_json_num(w, sums_mean(p->bin_sumw[i], p->bin_sumwy[i]));
    }
    mf_w_u8(w, ']');
    mf__hist_json_array(w, "bin_entries", p->bin_sumw, n);
    mf__hist_json_array(w, "bin_sumwy", p->bin_sumwy, n);
    mf__hist_json_array(w, "bin_sumwy2", p->bin_sumwy2, n);
    mf__hist_json_array(w, "bin_sumw2", p->bin_sumw2, n);
    mf_w_u8(w, '}');
    return w->err ? -1 : 0;
}

/* ---- methods ------------------------------------------------------------ */

/* Narrows a 64-bit bin index, mapping anything out of range to -1 (which
 * every accessor treats as out of range). */
static int bin_arg(const mf_profile *p, int64_t bin)
{
    return bin < 0 || bin > (int64_t)p->xaxis.nbins + 1 ? -1 : (int)bin;
}

static double m_entries(void *o) { return mf_profile_entries(o); }
static double m_mean(void *o) { return mf_profile_mean(o); }
static double m_rms(void *o) { return mf_profile_rms(o); }
static double m_mean_y(void *o) { return mf_profile_mean_y(o); }
static double m_rms_y(void *o) { return mf_profile_rms_y(o); }
static double m_bin_content(void *o, int64_t b)
{
    return mf_profile_bin_content(o, bin_arg(o, b));
}
static double m_bin_entries(void *o, int64_t b)
{
    return mf_profile_bin_entries(o, bin_arg(o, b));
}
static double m_bin_error(void *o, int64_t b)
{
    return mf_profile_bin_error(o, bin_arg(o, b));
}
static int64_t m_find_bin(void *o, double x) { return mf_profile_find_bin(o, x); }

static const mf_method profile_methods[] = {
    MF_METHOD("entries", "d(o)", m_entries),
    MF_METHOD("mean", "d(o)", m_mean),
    MF_METHOD("rms", "d(o)", m_rms),
    MF_METHOD("mean_y", "d(o)", m_mean_y),
    MF_METHOD("rms_y", "d(o)", m_rms_y),
    MF_METHOD("bin_content", "d(o,i)", m_bin_content),
    MF_METHOD("bin_entries", "d(o,i)", m_bin_entries),
    MF_METHOD("bin_error", "d(o,i)", m_bin_error),
    MF_METHOD("find_bin", "i(o,d)", m_find_bin),
    {sizeof(mf_method), NULL, NULL, NULL},
};

const mf_class mf_profile_class = {
    sizeof(mf_class), "profile", MF_HIST_VERSION, MF_HIST_MIN_VERSION,
    profile_stream_out, profile_stream_in, profile_destroy, profile_print,
    profile_to_json, profile_methods,
    .to_root_json = mf__profile_to_root_json,
};
