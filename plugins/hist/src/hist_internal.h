/* hist_internal.h - helpers shared by the hist1d, hist2d and profile codecs.
 * Compiled into both the static library and the plugin module, so nothing
 * here may depend on libmapfile: only the sdk header. */
#ifndef MF_HIST_INTERNAL_H
#define MF_HIST_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include <mapfile/hist.h>

/* Width of one bar chart in columns, and most rows drawn. */
#define MF__HIST_BAR_COLS 60
#define MF__HIST_MAX_ROWS 50

char *mf__hist_strdup(const char *s);
/* Non-zero if an axis of nbins in [min, max) is acceptable. */
int mf__hist_axis_ok(long long nbins, double min, double max);
int mf__hist_axis_find(const mf_axis *a, double x);
double mf__hist_axis_low_edge(const mf_axis *a, int bin);
double mf__hist_stat_mean(double sumw, double sumwx);
double mf__hist_stat_rms(double sumw, double sumwx, double sumwx2);
/* Allocates n zeroed doubles; NULL on failure or overflow. */
double *mf__hist_zalloc_doubles(size_t n);
/* Uninitialised, for stream_in: every element is read from the payload
 * next, and zeroing 8 bytes per bin first cost 14% of a get. */
double *mf__hist_alloc_doubles(size_t n);

/* Wire helpers. Failures are recorded on the reader (sticky). */
int mf__hist_version_ok(mf_reader *r, uint32_t version);
/* Reads min, max and checks them; the axis's nbins comes later. */
void mf__hist_read_range(mf_reader *r, double *min, double *max);
/* Reads a bin count whose bins each need at least per_bin payload bytes,
 * so a hostile count never reaches malloc. Returns 0 on failure. */
int mf__hist_read_nbins(mf_reader *r, size_t per_bin);
/* Fails the reader if there are bytes after the object. */
void mf__hist_read_end(mf_reader *r);
/* Reads a finite, non-negative entries count. */
double mf__hist_read_entries(mf_reader *r);

/* JSON helpers: `"key":` then the value, no separators. */
void mf__hist_json_axis(mf_writer *w, const char *key, const mf_axis *a);
void mf__hist_json_array(mf_writer *w, const char *key, const double *v, size_t n);
void mf__hist_json_head(mf_writer *w, const char *cls, const char *title);
void mf__hist_json_num_field(mf_writer *w, const char *key, double v);

/* The to_root_json hooks (root_json.c): TH1D, TH2D and TProfile. */
int mf__hist1d_to_root_json(const void *obj, mf_writer *w);
int mf__hist2d_to_root_json(const void *obj, mf_writer *w);
int mf__profile_to_root_json(const void *obj, mf_writer *w);

/* Prints `kind "title"` and a newline; control characters in the title
 * become '?' so a hostile payload cannot drive the terminal. */
void mf__hist_print_title(FILE *out, const char *kind, const char *title);
/* A horizontal bar of len columns out of MF__HIST_BAR_COLS. */
void mf__hist_print_bar(FILE *out, double value, double maxval);

#endif
