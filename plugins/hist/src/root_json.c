/* root_json.c - the histograms in ROOT's TBufferJSON layout (the optional
 * to_root_json hook of ABI 1.1): hist1d as TH1D, hist2d as TH2D and profile
 * as TProfile, so THttpServer tools and an unmodified JSROOT draw them.
 *
 * JSROOT needs more than the data: every TAttLine/TAttFill/TAttMarker
 * field (without them a TH1 draws with no line), fBits on the histogram
 * and on each of the three axes (its draw code calls TestBit), and an
 * empty TList of functions. The values written are ROOT's defaults for a
 * freshly constructed histogram. */
#include "hist_internal.h"

#include <stdint.h>

/* `,"key":value` */
static void root_num(mf_writer *w, const char *key, double v)
{
    mf_w_printf(w, ",\"%s\":", key);
    mf_w_json_num(w, v);
}

static void root_int(mf_writer *w, const char *key, long long v)
{
    mf_w_printf(w, ",\"%s\":%lld", key, v);
}

static void root_array(mf_writer *w, const char *key, const double *v, size_t n)
{
    mf_w_printf(w, ",\"%s\":[", key);
    for (size_t i = 0; i < n && !w->err; i++) {
        if (i)
            mf_w_u8(w, ',');
        mf_w_json_num(w, v[i]);
    }
    mf_w_u8(w, ']');
}

/* A TAxis with ROOT's TAttAxis defaults. An axis the histogram lacks (y of
 * a TH1, z of both) is one bin over [0, 1], as ROOT writes it. */
static void root_axis(mf_writer *w, const char *key, const char *name,
                      const mf_axis *a)
{
    mf_w_printf(w, ",\"%s\":{\"_typename\":\"TAxis\",\"fUniqueID\":0,"
                   "\"fBits\":0,\"fName\":\"%s\",\"fTitle\":\"\"",
                key, name);
    mf_w_printf(w, ",\"fNdivisions\":510,\"fAxisColor\":1,\"fLabelColor\":1,"
                   "\"fLabelFont\":42,\"fLabelOffset\":0.005,"
                   "\"fLabelSize\":0.035,\"fTickLength\":0.03,"
                   "\"fTitleOffset\":1,\"fTitleSize\":0.035,"
                   "\"fTitleColor\":1,\"fTitleFont\":42");
    root_int(w, "fNbins", a ? a->nbins : 1);
    root_num(w, "fXmin", a ? a->min : 0.0);
    root_num(w, "fXmax", a ? a->max : 1.0);
    mf_w_printf(w, ",\"fXbins\":[],\"fFirst\":0,\"fLast\":0,\"fBits2\":0,"
                   "\"fTimeDisplay\":false,\"fTimeFormat\":\"\","
                   "\"fLabels\":null,\"fModLabs\":null}");
}

/* Everything before the statistics: TNamed, TAttLine/Fill/Marker, the cell
 * count and the three axes. */
static void root_head(mf_writer *w, const char *typename_, const char *title,
                      size_t ncells, const mf_axis *x, const mf_axis *y)
{
    mf_w_printf(w, "{\"_typename\":\"%s\",\"fUniqueID\":0,\"fBits\":0,"
                   "\"fName\":\"\",\"fTitle\":",
                typename_);
    mf_w_json_str(w, title);
    mf_w_printf(w, ",\"fLineColor\":602,\"fLineStyle\":1,\"fLineWidth\":1,"
                   "\"fFillColor\":0,\"fFillStyle\":1001,"
                   "\"fMarkerColor\":1,\"fMarkerStyle\":1,\"fMarkerSize\":1");
    mf_w_printf(w, ",\"fNcells\":%zu", ncells);
    root_axis(w, "fXaxis", "xaxis", x);
    root_axis(w, "fYaxis", "yaxis", y);
    root_axis(w, "fZaxis", "zaxis", NULL);
    mf_w_printf(w, ",\"fBarOffset\":0,\"fBarWidth\":1000");
}

/* The TH1 members after the sums, up to (not including) fArray. fSumw2 is
 * empty: these histograms keep no per-bin sum of squared weights, so
 * JSROOT shows sqrt(content) errors, right for unit weights. */
static void root_th1_tail(mf_writer *w)
{
    mf_w_printf(w, ",\"fMaximum\":-1111,\"fMinimum\":-1111,\"fNormFactor\":0,"
                   "\"fContour\":[],\"fSumw2\":[],\"fOption\":\"\","
                   "\"fFunctions\":{\"_typename\":\"TList\",\"name\":\"TList\","
                   "\"arr\":[],\"opt\":[]},"
                   "\"fBufferSize\":0,\"fBuffer\":[],\"fBinStatErrOpt\":0,"
                   "\"fStatOverflows\":2");
}

int mf__hist1d_to_root_json(const void *obj, mf_writer *w)
{
    const mf_hist1d *h = obj;
    size_t n = (size_t)h->xaxis.nbins + 2;
    root_head(w, "TH1D", h->title, n, &h->xaxis, NULL);
    root_num(w, "fEntries", h->entries);
    root_num(w, "fTsumw", h->sumw);
    root_num(w, "fTsumw2", h->sumw2);
    root_num(w, "fTsumwx", h->sumwx);
    root_num(w, "fTsumwx2", h->sumwx2);
    root_th1_tail(w);
    root_array(w, "fArray", h->bins, n);
    mf_w_u8(w, '}');
    return w->err ? -1 : 0;
}

int mf__hist2d_to_root_json(const void *obj, mf_writer *w)
{
    const mf_hist2d *h = obj;
    size_t n = ((size_t)h->xaxis.nbins + 2) * ((size_t)h->yaxis.nbins + 2);
    root_head(w, "TH2D", h->title, n, &h->xaxis, &h->yaxis);
    root_num(w, "fEntries", h->entries);
    root_num(w, "fTsumw", h->sumw);
    root_num(w, "fTsumw2", h->sumw2);
    root_num(w, "fTsumwx", h->sumwx);
    root_num(w, "fTsumwx2", h->sumwx2);
    root_th1_tail(w);
    mf_w_printf(w, ",\"fScalefactor\":1");
    root_num(w, "fTsumwy", h->sumwy);
    root_num(w, "fTsumwy2", h->sumwy2);
    root_num(w, "fTsumwxy", h->sumwxy);
    /* hist2d's global bin bx + (nx+2)*by is ROOT's layout too. */
    root_array(w, "fArray", h->bins, n);
    mf_w_u8(w, '}');
    return w->err ? -1 : 0;
}

/* ROOT leaves fBinSumw2 empty unless weights were used; with unit weights
 * every bin's sum of w*w equals its sum of w. */
static int profile_unit_weights(const mf_profile *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p->bin_sumw2[i] != p->bin_sumw[i])
            return 0;
    return 1;
}

int mf__profile_to_root_json(const void *obj, mf_writer *w)
{
    const mf_profile *p = obj;
    size_t n = (size_t)p->xaxis.nbins + 2;
    root_head(w, "TProfile", p->title, n, &p->xaxis, NULL);
    root_num(w, "fEntries", p->entries);
    root_num(w, "fTsumw", p->sumw);
    root_num(w, "fTsumw2", p->sumw2);
    root_num(w, "fTsumwx", p->sumwx);
    root_num(w, "fTsumwx2", p->sumwx2);
    /* TProfile's per-bin arrays hold sums, not means: fArray is the sum of
     * w*y, fSumw2 the sum of w*y*y, fBinEntries the sum of w. */
    mf_w_printf(w, ",\"fMaximum\":-1111,\"fMinimum\":-1111,\"fNormFactor\":0,"
                   "\"fContour\":[]");
    root_array(w, "fSumw2", p->bin_sumwy2, n);
    mf_w_printf(w, ",\"fOption\":\"\",\"fFunctions\":{\"_typename\":\"TList\","
                   "\"name\":\"TList\",\"arr\":[],\"opt\":[]},"
                   "\"fBufferSize\":0,\"fBuffer\":[],\"fBinStatErrOpt\":0,"
                   "\"fStatOverflows\":2");
    root_array(w, "fArray", p->bin_sumwy, n);
    root_array(w, "fBinEntries", p->bin_sumw, n);
    mf_w_printf(w, ",\"fErrorMode\":0,\"fYmin\":0,\"fYmax\":0,\"fScaling\":false");
    root_num(w, "fTsumwy", p->sumwy);
    root_num(w, "fTsumwy2", p->sumwy2);
    if (profile_unit_weights(p, n))
        mf_w_printf(w, ",\"fBinSumw2\":[]");
    else
        root_array(w, "fBinSumw2", p->bin_sumw2, n);
    mf_w_u8(w, '}');
    return w->err ? -1 : 0;
}
