/*
 * calib_sample.h - one deterministic calib_table shared by the example
 * producer (which publishes it) and consumer (which checks what it gets
 * back against it). Not part of a codec: only the examples use it.
 *
 * The sample exercises every part of the layout: a name that fills most of
 * the fixed buffer, a comment with non-ASCII bytes, doubles that do not
 * round-trip through text, a channel with no coefficients, and channels of
 * growing length.
 */
#ifndef CALIB_SAMPLE_H
#define CALIB_SAMPLE_H

#include <string.h>

#include "calib.h"

#define CALIB_SAMPLE_RECORD "calib/tpc/gain"
#define CALIB_SAMPLE_CHANNELS 6

/* Coefficient k of channel i: exact in binary only by accident. */
static inline double calib_sample_coeff(size_t i, size_t k)
{
    return (double)(i + 1) / 3.0 - (double)k * 0.1 + (double)(i * k) * 1e-9;
}

/** A new sample table (free with calib_table_free()), or NULL if out of
 *  memory. */
static inline calib_table *calib_sample(void)
{
    static const char comment[] =
        "sample calibration \xc2\xb5-corrected, produced by the mapfile "
        "SDK template";
    calib_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    strcpy(t->name, "tpc-gain-2024-sector-07-v3");
    t->comment = malloc(sizeof comment);
    t->channels = calloc(CALIB_SAMPLE_CHANNELS, sizeof *t->channels);
    if (!t->comment || !t->channels) {
        calib_table_free(t);
        return NULL;
    }
    memcpy(t->comment, comment, sizeof comment);
    t->first_run = 4711u;
    t->gains[0] = 1.0;
    t->gains[1] = 0.1;
    t->gains[2] = -0.0;
    t->gains[3] = 1e-300;
    t->nchannels = CALIB_SAMPLE_CHANNELS;
    for (size_t i = 0; i < CALIB_SAMPLE_CHANNELS; i++) {
        calib_channel *c = &t->channels[i];
        c->id = (uint32_t)(100 + 7 * i);
        c->ncoeffs = i; /* channel 0 has none */
        if (i == 0)
            continue;
        c->coeffs = malloc(i * sizeof *c->coeffs);
        if (!c->coeffs) {
            c->ncoeffs = 0;
            calib_table_free(t);
            return NULL;
        }
        for (size_t k = 0; k < i; k++)
            c->coeffs[k] = calib_sample_coeff(i, k);
    }
    return t;
}

#endif /* CALIB_SAMPLE_H */
