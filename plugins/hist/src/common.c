/* common.c - axis arithmetic, statistics and wire/JSON helpers shared by
 * the histogram codecs. */
#include "hist_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

char *mf__hist_strdup(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

int mf__hist_axis_ok(long long nbins, double min, double max)
{
    /* max - min must also be finite, or bin arithmetic yields inf/NaN. */
    return nbins >= 1 && nbins <= MF_HIST_MAX_CELLS - 2 && isfinite(min) &&
           isfinite(max) && min < max && isfinite(max - min);
}

int mf__hist_axis_find(const mf_axis *a, double x)
{
    /* Compare before converting: casting an out-of-range double to int is
     * undefined behaviour. NaN fails the first test and lands in bin 0. */
    if (!(x >= a->min))
        return 0;
    if (x >= a->max)
        return a->nbins + 1;
    int bin = 1 + (int)((double)a->nbins * (x - a->min) / (a->max - a->min));
    /* Rounding can push a value just below max into the overflow. */
    return bin > a->nbins ? a->nbins : bin;
}

double mf__hist_axis_low_edge(const mf_axis *a, int bin)
{
    return a->min + (double)(bin - 1) * (a->max - a->min) / (double)a->nbins;
}

double mf__hist_stat_mean(double sumw, double sumwx)
{
    return sumw != 0.0 ? sumwx / sumw : 0.0;
}

double mf__hist_stat_rms(double sumw, double sumwx, double sumwx2)
{
    if (sumw == 0.0)
        return 0.0;
    double m = sumwx / sumw;
    /* fabs: rounding can make the variance of a narrow peak slightly < 0. */
    return sqrt(fabs(sumwx2 / sumw - m * m));
}

double *mf__hist_zalloc_doubles(size_t n)
{
    if (n == 0 || n > SIZE_MAX / sizeof(double))
        return NULL;
    return calloc(n, sizeof(double));
}

double *mf__hist_alloc_doubles(size_t n)
{
    if (n == 0 || n > SIZE_MAX / sizeof(double))
        return NULL;
    return malloc(n * sizeof(double));
}

void mf__hist_array(mf_array *out, size_t cap, size_t i, const char *name,
                    double *data, size_t shape0, size_t shape1)
{
    if (i >= cap)
        return;
    mf_array *a = &out[i];
    memset(a, 0, sizeof *a);
    a->name = name;
    a->type = MF_ELEM_F64;
    a->ndim = shape1 ? 2 : 1;
    a->shape[0] = shape0;
    a->shape[1] = shape1;
    a->data = data;
}

int mf__hist_version_ok(mf_reader *r, uint32_t version)
{
    if (version < MF_HIST_MIN_VERSION || version > MF_HIST_VERSION) {
        mf_r_fail(r, MF_WIRE_CODEC);
        return 0;
    }
    return 1;
}

void mf__hist_read_range(mf_reader *r, double *min, double *max)
{
    *min = mf_r_f64(r);
    *max = mf_r_f64(r);
    if (!r->err && !mf__hist_axis_ok(1, *min, *max))
        mf_r_fail(r, MF_WIRE_CODEC);
}

int mf__hist_read_nbins(mf_reader *r, size_t per_bin)
{
    size_t n = mf_r_count(r, per_bin);
    if (r->err)
        return 0;
    if (n < 1) {
        mf_r_fail(r, MF_WIRE_CODEC);
        return 0;
    }
    if (n > (size_t)MF_HIST_MAX_CELLS - 2) {
        mf_r_fail(r, MF_WIRE_TOO_LARGE);
        return 0;
    }
    return (int)n;
}

void mf__hist_read_end(mf_reader *r)
{
    if (!r->err && r->pos != r->len)
        mf_r_fail(r, MF_WIRE_MALFORMED);
}

double mf__hist_read_entries(mf_reader *r)
{
    double e = mf_r_f64(r);
    if (!r->err && !(isfinite(e) && e >= 0.0))
        mf_r_fail(r, MF_WIRE_CODEC);
    return e;
}

void mf__hist_json_head(mf_writer *w, const char *cls, const char *title)
{
    mf_w_printf(w, "{\"class\":");
    mf_w_json_str(w, cls);
    mf_w_printf(w, ",\"version\":%d,\"title\":", MF_HIST_VERSION);
    mf_w_json_str(w, title);
}

void mf__hist_json_num_field(mf_writer *w, const char *key, double v)
{
    mf_w_printf(w, ",\"%s\":", key);
    mf_w_json_num(w, v);
}

void mf__hist_json_axis(mf_writer *w, const char *key, const mf_axis *a)
{
    mf_w_printf(w, ",\"%s\":{\"nbins\":%d,\"min\":", key, a->nbins);
    mf_w_json_num(w, a->min);
    mf_w_printf(w, ",\"max\":");
    mf_w_json_num(w, a->max);
    mf_w_u8(w, '}');
}

void mf__hist_json_array(mf_writer *w, const char *key, const double *v, size_t n)
{
    mf_w_printf(w, ",\"%s\":[", key);
    for (size_t i = 0; i < n && !w->err; i++) {
        if (i)
            mf_w_u8(w, ',');
        mf_w_json_num(w, v[i]);
    }
    mf_w_u8(w, ']');
}

void mf__hist_print_bar(FILE *out, double value, double maxval)
{
    int len = 0;
    /* Negative, NaN and empty rows draw no bar. */
    if (maxval > 0.0 && value > 0.0) {
        double f = value / maxval;
        /* inf/inf is NaN: draw it full rather than convert NaN to int. */
        len = !(f < 1.0) ? MF__HIST_BAR_COLS
                         : (int)(f * MF__HIST_BAR_COLS + 0.5);
    }
    for (int i = 0; i < MF__HIST_BAR_COLS; i++)
        fputc(i < len ? '#' : ' ', out);
}

void mf__hist_print_title(FILE *out, const char *kind, const char *title)
{
    fprintf(out, "%s \"", kind);
    for (const unsigned char *p = (const unsigned char *)title; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out);
    fputs("\"\n", out);
}
