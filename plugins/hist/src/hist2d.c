/* hist2d.c - the 2-D histogram, its codec and its methods. */
#include "hist_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Most columns and rows of the density map drawn by print(). */
#define MAP_COLS 40
#define MAP_ROWS 20

/* Cells of an nx by ny histogram, or 0 if over MF_HIST_MAX_CELLS. Both are
 * <= MF_HIST_MAX_CELLS here, so the product fits in 64 bits. */
static size_t cells_of(long long nx, long long ny)
{
    unsigned long long c = (unsigned long long)(nx + 2) * (unsigned long long)(ny + 2);
    return c > MF_HIST_MAX_CELLS ? 0 : (size_t)c;
}

static size_t hist2d_cells(const mf_hist2d *h)
{
    return ((size_t)h->xaxis.nbins + 2) * ((size_t)h->yaxis.nbins + 2);
}

mf_hist2d *mf_hist2d_new(const char *title, int nx, double xmin, double xmax,
                         int ny, double ymin, double ymax)
{
    if (!mf__hist_axis_ok(nx, xmin, xmax) || !mf__hist_axis_ok(ny, ymin, ymax) ||
        !cells_of(nx, ny))
        return NULL;
    mf_hist2d *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->title = mf__hist_strdup(title);
    h->bins = mf__hist_zalloc_doubles(cells_of(nx, ny));
    if (!h->title || !h->bins) {
        mf_hist2d_free(h);
        return NULL;
    }
    h->xaxis = (mf_axis){nx, xmin, xmax};
    h->yaxis = (mf_axis){ny, ymin, ymax};
    return h;
}

void mf_hist2d_free(mf_hist2d *h)
{
    if (!h)
        return;
    free(h->title);
    free(h->bins);
    free(h);
}

int mf_hist2d_bin(const mf_hist2d *h, int bx, int by)
{
    if (bx < 0 || bx > h->xaxis.nbins + 1 || by < 0 || by > h->yaxis.nbins + 1)
        return -1;
    return bx + (h->xaxis.nbins + 2) * by;
}

int mf_hist2d_find_bin(const mf_hist2d *h, double x, double y)
{
    return mf_hist2d_bin(h, mf__hist_axis_find(&h->xaxis, x),
                         mf__hist_axis_find(&h->yaxis, y));
}

int mf_hist2d_fill_w(mf_hist2d *h, double x, double y, double w)
{
    int bx = mf__hist_axis_find(&h->xaxis, x);
    int by = mf__hist_axis_find(&h->yaxis, y);
    int g = mf_hist2d_bin(h, bx, by);
    h->bins[g] += w;
    h->entries += 1.0;
    if (bx >= 1 && bx <= h->xaxis.nbins && by >= 1 && by <= h->yaxis.nbins) {
        h->sumw += w;
        h->sumw2 += w * w;
        h->sumwx += w * x;
        h->sumwx2 += w * x * x;
        h->sumwy += w * y;
        h->sumwy2 += w * y * y;
        h->sumwxy += w * x * y;
    }
    return g;
}

int mf_hist2d_fill(mf_hist2d *h, double x, double y)
{
    return mf_hist2d_fill_w(h, x, y, 1.0);
}

void mf_hist2d_reset(mf_hist2d *h)
{
    memset(h->bins, 0, hist2d_cells(h) * sizeof(double));
    h->entries = h->sumw = h->sumw2 = 0.0;
    h->sumwx = h->sumwx2 = h->sumwy = h->sumwy2 = h->sumwxy = 0.0;
}

double mf_hist2d_bin_content(const mf_hist2d *h, int bx, int by)
{
    int g = mf_hist2d_bin(h, bx, by);
    return g < 0 ? 0.0 : h->bins[g];
}

double mf_hist2d_global_bin_content(const mf_hist2d *h, int gbin)
{
    if (gbin < 0 || (size_t)gbin >= hist2d_cells(h))
        return 0.0;
    return h->bins[gbin];
}

double mf_hist2d_entries(const mf_hist2d *h) { return h->entries; }

double mf_hist2d_mean_x(const mf_hist2d *h)
{
    return mf__hist_stat_mean(h->sumw, h->sumwx);
}

double mf_hist2d_mean_y(const mf_hist2d *h)
{
    return mf__hist_stat_mean(h->sumw, h->sumwy);
}

double mf_hist2d_rms_x(const mf_hist2d *h)
{
    return mf__hist_stat_rms(h->sumw, h->sumwx, h->sumwx2);
}

double mf_hist2d_rms_y(const mf_hist2d *h)
{
    return mf__hist_stat_rms(h->sumw, h->sumwy, h->sumwy2);
}

double mf_hist2d_integral(const mf_hist2d *h)
{
    double s = 0.0;
    for (int by = 1; by <= h->yaxis.nbins; by++)
        for (int bx = 1; bx <= h->xaxis.nbins; bx++)
            s += h->bins[mf_hist2d_bin(h, bx, by)];
    return s;
}

int mf_hist2d_maximum_bin(const mf_hist2d *h)
{
    int best = mf_hist2d_bin(h, 1, 1);
    for (int by = 1; by <= h->yaxis.nbins; by++)
        for (int bx = 1; bx <= h->xaxis.nbins; bx++) {
            int g = mf_hist2d_bin(h, bx, by);
            if (h->bins[g] > h->bins[best])
                best = g;
        }
    return best;
}

/* ---- codec ------------------------------------------------------------ */

static int hist2d_stream_out(const void *obj, mf_writer *w)
{
    const mf_hist2d *h = obj;
    mf_w_str(w, h->title);
    mf_w_f64(w, h->xaxis.min);
    mf_w_f64(w, h->xaxis.max);
    mf_w_f64(w, h->yaxis.min);
    mf_w_f64(w, h->yaxis.max);
    mf_w_f64(w, h->entries);
    mf_w_f64(w, h->sumw);
    mf_w_f64(w, h->sumw2);
    mf_w_f64(w, h->sumwx);
    mf_w_f64(w, h->sumwx2);
    mf_w_f64(w, h->sumwy);
    mf_w_f64(w, h->sumwy2);
    mf_w_f64(w, h->sumwxy);
    mf_w_varint(w, (uint64_t)h->xaxis.nbins);
    mf_w_varint(w, (uint64_t)h->yaxis.nbins);
    mf_w_f64_array(w, h->bins, hist2d_cells(h));
    return w->err ? -1 : 0;
}

static void *hist2d_stream_in(mf_reader *r, uint32_t version)
{
    if (!mf__hist_version_ok(r, version))
        return NULL;
    mf_hist2d *h = calloc(1, sizeof *h);
    if (!h) {
        mf_r_fail(r, MF_WIRE_NOMEM);
        return NULL;
    }
    h->title = mf_r_str_dup(r);
    mf__hist_read_range(r, &h->xaxis.min, &h->xaxis.max);
    mf__hist_read_range(r, &h->yaxis.min, &h->yaxis.max);
    h->entries = mf__hist_read_entries(r);
    h->sumw = mf_r_f64(r);
    h->sumw2 = mf_r_f64(r);
    h->sumwx = mf_r_f64(r);
    h->sumwx2 = mf_r_f64(r);
    h->sumwy = mf_r_f64(r);
    h->sumwy2 = mf_r_f64(r);
    h->sumwxy = mf_r_f64(r);
    h->xaxis.nbins = mf__hist_read_nbins(r, sizeof(double));
    h->yaxis.nbins = mf__hist_read_nbins(r, sizeof(double));
    if (!r->err) {
        size_t cells = cells_of(h->xaxis.nbins, h->yaxis.nbins);
        /* Each axis fits the payload alone; the product must too, before
         * anything is allocated for it. */
        if (!cells || cells > mf_r_left(r) / sizeof(double)) {
            mf_r_fail(r, MF_WIRE_TOO_LARGE);
        } else if (!(h->bins = mf__hist_alloc_doubles(cells))) {
            mf_r_fail(r, MF_WIRE_NOMEM);
        } else {
            mf_r_f64_array(r, h->bins, cells);
        }
    }
    mf__hist_read_end(r);
    if (r->err) {
        mf_hist2d_free(h);
        return NULL;
    }
    return h;
}

static void hist2d_destroy(void *obj) { mf_hist2d_free(obj); }

/* Sum of the real cells in [bx0, bx1) x [by0, by1), clipped to the axes. */
static double block_sum(const mf_hist2d *h, int bx0, int bx1, int by0, int by1)
{
    double s = 0.0;
    for (int by = by0; by < by1 && by <= h->yaxis.nbins; by++)
        for (int bx = bx0; bx < bx1 && bx <= h->xaxis.nbins; bx++)
            s += h->bins[mf_hist2d_bin(h, bx, by)];
    return s;
}

static void hist2d_print(const void *obj, FILE *out)
{
    static const char shades[] = " .:-=+*#%@";
    const mf_hist2d *h = obj;
    const mf_axis *xa = &h->xaxis, *ya = &h->yaxis;
    int gx = (xa->nbins + MAP_COLS - 1) / MAP_COLS;
    int gy = (ya->nbins + MAP_ROWS - 1) / MAP_ROWS;
    int maxg = mf_hist2d_maximum_bin(h);
    int nx2 = xa->nbins + 2;

    mf__hist_print_title(out, "hist2d", h->title);
    fprintf(out, "  entries %.15g  integral %.15g\n", h->entries,
            mf_hist2d_integral(h));
    fprintf(out, "  mean x %.6g  rms x %.6g  mean y %.6g  rms y %.6g\n",
            mf_hist2d_mean_x(h), mf_hist2d_rms_x(h), mf_hist2d_mean_y(h),
            mf_hist2d_rms_y(h));
    fprintf(out, "  x: %d bins in [%g, %g)  y: %d bins in [%g, %g)\n",
            xa->nbins, xa->min, xa->max, ya->nbins, ya->min, ya->max);
    fprintf(out, "  maximum %g in bin (%d, %d)\n", h->bins[maxg], maxg % nx2,
            maxg / nx2);

    double maxval = 0.0;
    for (int by = 1; by <= ya->nbins; by += gy)
        for (int bx = 1; bx <= xa->nbins; bx += gx) {
            double s = block_sum(h, bx, bx + gx, by, by + gy);
            if (s > maxval)
                maxval = s;
        }
    /* Highest y on top, as on a plot. */
    int top = 1 + ((ya->nbins - 1) / gy) * gy;
    for (int by = top; by >= 1; by -= gy) {
        fprintf(out, "  %10.4g |", mf__hist_axis_low_edge(ya, by));
        for (int bx = 1; bx <= xa->nbins; bx += gx) {
            double s = block_sum(h, bx, bx + gx, by, by + gy);
            int level = 0;
            if (maxval > 0.0 && s > 0.0) {
                double f = s / maxval; /* NaN for inf/inf */
                level = !(f < 1.0) ? 9 : (int)ceil(9.0 * f);
                level = level < 1 ? 1 : level > 9 ? 9 : level;
            }
            fputc(shades[level], out);
        }
        fputs("|\n", out);
    }
}

static int hist2d_to_json(const void *obj, mf_writer *w)
{
    const mf_hist2d *h = obj;
    mf__hist_json_head(w, "hist2d", h->title);
    mf__hist_json_num_field(w, "entries", h->entries);
    mf__hist_json_num_field(w, "mean", mf_hist2d_mean_x(h));
    mf__hist_json_num_field(w, "rms", mf_hist2d_rms_x(h));
    mf__hist_json_num_field(w, "mean_y", mf_hist2d_mean_y(h));
    mf__hist_json_num_field(w, "rms_y", mf_hist2d_rms_y(h));
    mf__hist_json_num_field(w, "integral", mf_hist2d_integral(h));
    mf__hist_json_num_field(w, "sumw", h->sumw);
    mf__hist_json_num_field(w, "sumw2", h->sumw2);
    mf__hist_json_num_field(w, "sumwx", h->sumwx);
    mf__hist_json_num_field(w, "sumwx2", h->sumwx2);
    mf__hist_json_num_field(w, "sumwy", h->sumwy);
    mf__hist_json_num_field(w, "sumwy2", h->sumwy2);
    mf__hist_json_num_field(w, "sumwxy", h->sumwxy);
    mf__hist_json_axis(w, "xaxis", &h->xaxis);
    mf__hist_json_axis(w, "yaxis", &h->yaxis);
    /* Flat, in global-bin order bx + (nx+2)*by, like bin_content. */
    mf__hist_json_array(w, "bins", h->bins, hist2d_cells(h));
    mf_w_u8(w, '}');
    return w->err ? -1 : 0;
}

/* ---- methods ------------------------------------------------------------ */

static double m_entries(void *o) { return mf_hist2d_entries(o); }
static double m_mean_x(void *o) { return mf_hist2d_mean_x(o); }
static double m_mean_y(void *o) { return mf_hist2d_mean_y(o); }
static double m_rms_x(void *o) { return mf_hist2d_rms_x(o); }
static double m_rms_y(void *o) { return mf_hist2d_rms_y(o); }
static double m_integral(void *o) { return mf_hist2d_integral(o); }

static double m_bin_content(void *o, int64_t bx, int64_t by)
{
    const mf_hist2d *h = o;
    if (bx < 0 || bx > (int64_t)h->xaxis.nbins + 1 || by < 0 ||
        by > (int64_t)h->yaxis.nbins + 1)
        return 0.0;
    return mf_hist2d_bin_content(h, (int)bx, (int)by);
}

static double m_global_bin_content(void *o, int64_t g)
{
    const mf_hist2d *h = o;
    if (g < 0 || (uint64_t)g >= hist2d_cells(h))
        return 0.0;
    return h->bins[g];
}

static int64_t m_find_bin(void *o, double x, double y)
{
    return mf_hist2d_find_bin(o, x, y);
}

static int64_t m_maximum_bin(void *o) { return mf_hist2d_maximum_bin(o); }

static const mf_method hist2d_methods[] = {
    MF_METHOD("entries", "d(o)", m_entries),
    MF_METHOD("mean_x", "d(o)", m_mean_x),
    MF_METHOD("mean_y", "d(o)", m_mean_y),
    MF_METHOD("rms_x", "d(o)", m_rms_x),
    MF_METHOD("rms_y", "d(o)", m_rms_y),
    MF_METHOD("integral", "d(o)", m_integral),
    MF_METHOD("bin_content", "d(o,i,i)", m_bin_content),
    MF_METHOD("global_bin_content", "d(o,i)", m_global_bin_content),
    MF_METHOD("find_bin", "i(o,d,d)", m_find_bin),
    MF_METHOD("maximum_bin", "i(o)", m_maximum_bin),
    {sizeof(mf_method), NULL, NULL, NULL},
};

const mf_class mf_hist2d_class = {
    sizeof(mf_class), "hist2d", MF_HIST_VERSION, MF_HIST_MIN_VERSION,
    hist2d_stream_out, hist2d_stream_in, hist2d_destroy, hist2d_print,
    hist2d_to_json, hist2d_methods,
    .to_root_json = mf__hist2d_to_root_json,
};
