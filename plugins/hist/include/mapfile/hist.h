/**
 * @file mapfile/hist.h
 * @brief Histograms for mapfile: `hist1d`, `hist2d` and `profile`, like
 *        ROOT's TH1F, TH2F and TProfile (with double storage).
 *
 * Producers create and fill histograms with the functions below and share
 * them with mf_add()/mf_update() under the class names "hist1d", "hist2d"
 * and "profile". Consumers get them back with mf_get() and read them with
 * the same accessors, or call them by name through mf_call().
 *
 * Two ways to get the codecs:
 * - link the static library `mapfile_hist` and register the descriptors
 *   #mf_hist1d_class, #mf_hist2d_class and #mf_profile_class in-process
 *   with mf_registry_add_class();
 * - or let the registry load the plugin `mapfile-hist.so` (same code).
 *
 * ## Bins
 * Bin 0 is the underflow, bins 1..nbins are the real bins and bin nbins+1
 * is the overflow, as in ROOT. A value x falls in bin
 * `1 + floor(nbins * (x - min) / (max - min))`; x < min (and NaN) goes to
 * the underflow, x >= max to the overflow. The bin width is uniform.
 *
 * A hist2d stores (nx+2)*(ny+2) cells addressed by a *global bin*
 * `bx + (nx+2) * by`, with bx in [0, nx+1] and by in [0, ny+1]; see
 * mf_hist2d_bin().
 *
 * ## Statistics
 * As in ROOT, entries counts every fill, while the sums used for mean and
 * RMS (sumw, sumw2, sumwx, sumwx2, ...) only include fills that landed in a
 * real bin. The RMS is the standard deviation sqrt(<x^2> - <x>^2).
 *
 * ## Ownership
 * Every object returned by a `_new` function or by a codec's stream_in is
 * owned by the caller and freed with the matching `_free` (or the class's
 * destroy / mf_object_free()). Accessors never fail: an out-of-range bin
 * reads as 0.
 *
 * ## Wire format (class version 1, little-endian, see mapfile/codec.h)
 * - hist1d: str title; f64 xmin, xmax; f64 entries, sumw, sumw2, sumwx,
 *   sumwx2; varint nbins; f64[nbins+2] bins.
 * - hist2d: str title; f64 xmin, xmax, ymin, ymax; f64 entries, sumw,
 *   sumw2, sumwx, sumwx2, sumwy, sumwy2, sumwxy; varint nx; varint ny;
 *   f64[(nx+2)*(ny+2)] bins in global-bin order.
 * - profile: str title; f64 xmin, xmax; f64 entries, sumw, sumw2, sumwx,
 *   sumwx2, sumwy, sumwy2; varint nbins; then four f64[nbins+2] arrays:
 *   bin_sumwy, bin_sumwy2, bin_sumw, bin_sumw2.
 * A payload with bytes left over after the object is rejected.
 *
 * ## JSON (to_json)
 * One object with "class", "version", "title", "entries", "mean", "rms",
 * "integral" (not for profile), the raw sums ("sumw", "sumw2", "sumwx",
 * ...), "xaxis": {"nbins", "min", "max"} and "bins". "bins" has every cell
 * including under/overflow, indexed like bin_content: nbins+2 values for a
 * hist1d; (nx+2)*(ny+2) values in global-bin order for a hist2d, which also
 * has "mean_y", "rms_y" and "yaxis" ("mean"/"rms" are those of x); the bin
 * means for a profile, which adds "mean_y", "rms_y", "bin_entries",
 * "bin_sumwy", "bin_sumwy2" and "bin_sumw2". Non-finite numbers are null.
 *
 * ## ROOT JSON (to_root_json, ABI 1.1)
 * The classes also write ROOT's TBufferJSON layout, so THttpServer tools
 * and an unmodified JSROOT draw them: hist1d as a TH1D, hist2d as a TH2D
 * (ROOT's global bins are ours), profile as a TProfile (fArray holds the
 * per-bin sums of w*y, fSumw2 of w*y*y, fBinEntries of w, fBinSumw2 of w*w
 * or [] for unit weights). Every axis, the TAttLine/TAttFill/TAttMarker
 * fields and fBits are there with ROOT's defaults; fName is "" (an object
 * does not know its record's name; a server fills it in). hist1d and
 * hist2d keep no per-bin sum of squared weights, so their fSumw2 is [] and
 * the errors a viewer shows are sqrt(content), right for unit weights.
 */
#ifndef MAPFILE_HIST_H
#define MAPFILE_HIST_H

#include <stdio.h>

#include <mapfile/codec.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Class version written by the hist1d, hist2d and profile codecs. */
#define MF_HIST_VERSION 1
/** Oldest class version the codecs read. */
#define MF_HIST_MIN_VERSION 1
/** Most cells one histogram may have (bins including under/overflow,
 *  nx+2 times ny+2 for a hist2d), so every bin index fits an int. */
#define MF_HIST_MAX_CELLS (1 << 26)

/** A uniform axis. */
typedef struct mf_axis {
    int nbins;  /**< real bins, >= 1 */
    double min; /**< low edge of bin 1 */
    double max; /**< high edge of bin nbins; min < max, both finite */
} mf_axis;

/** A 1-D histogram (TH1F/TH1D). */
typedef struct mf_hist1d {
    char *title;  /**< never NULL */
    mf_axis xaxis;
    double *bins; /**< nbins + 2 contents, [0] underflow, [nbins+1] overflow */
    double entries; /**< number of fills, including under/overflow */
    double sumw, sumw2, sumwx, sumwx2; /**< in-range fill sums */
} mf_hist1d;

/** A 2-D histogram (TH2F/TH2D). */
typedef struct mf_hist2d {
    char *title;
    mf_axis xaxis, yaxis;
    double *bins; /**< (nx+2)*(ny+2) contents by global bin */
    double entries;
    double sumw, sumw2, sumwx, sumwx2, sumwy, sumwy2, sumwxy;
} mf_hist2d;

/** A profile of y versus x (TProfile): per x bin, the mean of y. */
typedef struct mf_profile {
    char *title;
    mf_axis xaxis;
    double *bin_sumwy;  /**< per bin: sum of w*y (nbins + 2) */
    double *bin_sumwy2; /**< per bin: sum of w*y*y */
    double *bin_sumw;   /**< per bin: sum of w ("bin entries") */
    double *bin_sumw2;  /**< per bin: sum of w*w */
    double entries;
    double sumw, sumw2, sumwx, sumwx2, sumwy, sumwy2;
} mf_profile;

/** Codec descriptors, for mf_registry_add_class(). */
extern const mf_class mf_hist1d_class, mf_hist2d_class, mf_profile_class;

/** All three classes at once, for a program linked with libmapfile_hist:
 *  `mf_registry_add_plugin(reg, mapfile_plugin_hist())` (mapfile.h). */
MF_DECLARE_PLUGIN(hist);

/* ------------------------------------------------------------------------ */
/* hist1d                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * Create an empty histogram.
 * @param title  copied; NULL means ""
 * @param nbins  1 .. #MF_HIST_MAX_CELLS - 2
 * @return the histogram, or NULL for bad arguments (min >= max, not
 *         finite, nbins out of range) or out of memory
 */
mf_hist1d *mf_hist1d_new(const char *title, int nbins, double min, double max);
/** Free a histogram. NULL is ignored. */
void mf_hist1d_free(mf_hist1d *h);
/** Fill x with weight 1. @return the bin filled */
int mf_hist1d_fill(mf_hist1d *h, double x);
/** Fill x with weight w. @return the bin filled */
int mf_hist1d_fill_w(mf_hist1d *h, double x, double w);
/** Zero every bin and statistic; keep title and axis. */
void mf_hist1d_reset(mf_hist1d *h);
/** Bin of x: 0 underflow, 1..nbins, nbins+1 overflow. */
int mf_hist1d_find_bin(const mf_hist1d *h, double x);
/** Content of a bin (0..nbins+1); 0 out of range. */
double mf_hist1d_bin_content(const mf_hist1d *h, int bin);
/** Low edge of a bin: min + (bin - 1) * width (also for bins 0, nbins+1). */
double mf_hist1d_bin_low_edge(const mf_hist1d *h, int bin);
/** Centre of a bin. */
double mf_hist1d_bin_center(const mf_hist1d *h, int bin);
/** Number of fills. */
double mf_hist1d_entries(const mf_hist1d *h);
/** Weighted mean of the in-range fills; 0 when empty. */
double mf_hist1d_mean(const mf_hist1d *h);
/** Standard deviation of the in-range fills; 0 when empty. */
double mf_hist1d_rms(const mf_hist1d *h);
/** Sum of the contents of bins 1..nbins. */
double mf_hist1d_integral(const mf_hist1d *h);
/** First bin in 1..nbins with the largest content. */
int mf_hist1d_maximum_bin(const mf_hist1d *h);

/* ------------------------------------------------------------------------ */
/* hist2d                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * Create an empty 2-D histogram; (nx+2)*(ny+2) must not exceed
 * #MF_HIST_MAX_CELLS. @return NULL for bad arguments or out of memory
 */
mf_hist2d *mf_hist2d_new(const char *title, int nx, double xmin, double xmax,
                         int ny, double ymin, double ymax);
void mf_hist2d_free(mf_hist2d *h);
/** Fill (x, y) with weight 1. @return the global bin filled */
int mf_hist2d_fill(mf_hist2d *h, double x, double y);
/** Fill (x, y) with weight w. @return the global bin filled */
int mf_hist2d_fill_w(mf_hist2d *h, double x, double y, double w);
void mf_hist2d_reset(mf_hist2d *h);
/** Global bin of (bx, by); -1 if either is out of [0, n+1]. */
int mf_hist2d_bin(const mf_hist2d *h, int bx, int by);
/** Global bin of the cell holding (x, y). */
int mf_hist2d_find_bin(const mf_hist2d *h, double x, double y);
/** Content of cell (bx, by); 0 out of range. */
double mf_hist2d_bin_content(const mf_hist2d *h, int bx, int by);
/** Content of a global bin; 0 out of range. */
double mf_hist2d_global_bin_content(const mf_hist2d *h, int gbin);
double mf_hist2d_entries(const mf_hist2d *h);
double mf_hist2d_mean_x(const mf_hist2d *h);
double mf_hist2d_mean_y(const mf_hist2d *h);
double mf_hist2d_rms_x(const mf_hist2d *h);
double mf_hist2d_rms_y(const mf_hist2d *h);
/** Sum of the contents of the real cells (no under/overflow). */
double mf_hist2d_integral(const mf_hist2d *h);
/** Global bin of the first real cell with the largest content. */
int mf_hist2d_maximum_bin(const mf_hist2d *h);

/* ------------------------------------------------------------------------ */
/* profile                                                                  */
/* ------------------------------------------------------------------------ */

/** Create an empty profile. @return NULL for bad arguments or no memory */
mf_profile *mf_profile_new(const char *title, int nbins, double min,
                           double max);
void mf_profile_free(mf_profile *p);
/** Fill (x, y) with weight 1. @return the bin filled */
int mf_profile_fill(mf_profile *p, double x, double y);
/** Fill (x, y) with weight w. @return the bin filled */
int mf_profile_fill_w(mf_profile *p, double x, double y, double w);
void mf_profile_reset(mf_profile *p);
int mf_profile_find_bin(const mf_profile *p, double x);
/** Mean of y in a bin (0 if the bin is empty or out of range). */
double mf_profile_bin_content(const mf_profile *p, int bin);
/** Sum of weights in a bin (the number of fills for unit weights). */
double mf_profile_bin_entries(const mf_profile *p, int bin);
/** Error on the bin mean: spread of y / sqrt(effective entries). */
double mf_profile_bin_error(const mf_profile *p, int bin);
double mf_profile_entries(const mf_profile *p);
/** Mean and RMS of x over in-range fills. */
double mf_profile_mean(const mf_profile *p);
double mf_profile_rms(const mf_profile *p);
/** Mean and RMS of y over in-range fills. */
double mf_profile_mean_y(const mf_profile *p);
double mf_profile_rms_y(const mf_profile *p);

/*
 * Methods callable by name (mf_call), same meaning as the functions above:
 *
 * hist1d:  entries d(o), mean d(o), rms d(o), integral d(o),
 *          bin_content d(o,i), find_bin i(o,d), maximum_bin i(o)
 * hist2d:  entries d(o), mean_x d(o), mean_y d(o), rms_x d(o), rms_y d(o),
 *          integral d(o), bin_content d(o,i,i) (bx, by),
 *          global_bin_content d(o,i), find_bin i(o,d,d) (global bin),
 *          maximum_bin i(o) (global bin)
 * profile: entries d(o), mean d(o), rms d(o), mean_y d(o), rms_y d(o),
 *          bin_content d(o,i) (bin mean), bin_entries d(o,i),
 *          bin_error d(o,i), find_bin i(o,d)
 *
 * Out-of-range indices return 0.
 */

#ifdef __cplusplus
}
#endif

#endif /* MAPFILE_HIST_H */
