/* calib.h, version 1 - the struct shared by the v1 `calib` codec
 * (v1/calib_codec.c) and the v1 producer and consumer. v2/calib.h is the
 * same struct one release later; the two never meet in one executable.
 *
 * Wire format, class version 1:
 *   str detector; u32 run; varint ngains; f64[ngains] gains
 */
#ifndef SKEW_CALIB_H
#define SKEW_CALIB_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../calib_sample.h"

#define CALIB_CLASS "calib"
#define CALIB_VERSION 1
#define CALIB_MIN_VERSION 1

typedef struct calib {
    char *detector;  /**< malloc'd, never NULL */
    uint32_t run;
    uint32_t ngains;
    double *gains;   /**< malloc'd, ngains entries (NULL when 0) */
} calib;

static inline void calib_free(calib *c)
{
    if (!c)
        return;
    free(c->detector);
    free(c->gains);
    free(c);
}

/* An empty table with room for n gains, or NULL. */
static inline calib *calib_alloc(const char *detector, size_t dlen, uint32_t n)
{
    calib *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->detector = malloc(dlen + 1);
    c->gains = n ? calloc(n, sizeof *c->gains) : NULL;
    if (!c->detector || (n && !c->gains)) {
        calib_free(c);
        return NULL;
    }
    memcpy(c->detector, detector, dlen);
    c->detector[dlen] = '\0';
    c->ngains = n;
    return c;
}

/* The table every v1 producer writes for a run. */
static inline calib *calib_sample(uint32_t run)
{
    uint32_t n = calib_sample_ngains(run);
    calib *c = calib_alloc(CALIB_SAMPLE_DETECTOR, strlen(CALIB_SAMPLE_DETECTOR), n);
    if (!c)
        return NULL;
    c->run = run;
    for (uint32_t i = 0; i < n; i++)
        c->gains[i] = calib_sample_gain(run, i);
    return c;
}

#endif
