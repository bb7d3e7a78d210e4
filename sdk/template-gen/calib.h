/*
 * calib.h - the C struct of the generated codec template: the same
 * calibration table as the hand-written template (../template), with the
 * annotations of <mapfile/gen.h> that let `mapf gen` write its codec.
 * CMakeLists.txt runs `mapf gen` on this header at build time, so the codec
 * follows every change to the struct: edit it and rebuild.
 *
 * A calibration table: a name, a free-text comment, the run it applies
 * from, a fixed set of gains, and a variable number of channels, each with a
 * variable number of polynomial coefficients.
 */
#ifndef CALIB_H
#define CALIB_H

#include <mapfile/gen.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/** Class name stored in the map file (mapf gen --class calib_table). */
#define CALIB_CLASS_NAME "calib_table"
/** Bytes in calib_table.name, the terminating NUL included. */
#define CALIB_NAME_SIZE 32
/** Entries in calib_table.gains. */
#define CALIB_NGAINS 4

/** One read-out channel and its calibration polynomial. */
typedef struct calib_channel {
    uint32_t id;                       /**< hardware channel number */
    size_t ncoeffs;                    /**< entries in coeffs (may be 0) */
    double *coeffs MF_COUNT(ncoeffs);  /**< c0 + c1*x + ...; NULL if none */
} calib_channel;

/** A calibration table. Every pointer is malloc'd and owned by the table. */
typedef struct calib_table {
    char name[CALIB_NAME_SIZE];  /**< fixed-size, NUL-terminated */
    char *comment;               /**< any length; may be NULL (kept) */
    uint32_t first_run;          /**< first run this table applies to */
    double gains[CALIB_NGAINS];  /**< fixed-size array */
    size_t nchannels;            /**< entries in channels */
    calib_channel *channels MF_COUNT(nchannels); /**< NULL if none */
} calib_table;

/** Free a table and everything it owns. NULL is ignored. */
static inline void calib_table_free(calib_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nchannels; i++)
        free(t->channels[i].coeffs);
    free(t->channels);
    free(t->comment);
    free(t);
}

#endif /* CALIB_H */
