/*
 * gen_hist1d.h - the fields of mf_hist1d as a plain struct, for the bench
 * of issue 18 (sc_gen.c): its codec is the one `mapf gen` writes at build
 * time, measured against hist1d's hand-written codec on the same values.
 * The axis is flattened (min, max) and bins carries its own count
 * (ncells = nbins + 2), the way hist1d's payload does.
 */
#ifndef GEN_HIST1D_H
#define GEN_HIST1D_H

#include <mapfile/gen.h>

#include <stdint.h>

struct gen_hist1d {
    char *title;
    double min, max;
    double entries;
    double sumw, sumw2, sumwx, sumwx2;
    uint32_t ncells;
    double *bins MF_COUNT(ncells);
};

#endif
