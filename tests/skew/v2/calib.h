/* calib.h, version 2 - the `calib` struct one release after v1/calib.h:
 * it adds a temperature. The v2 codec still reads version-1 payloads and
 * gives them a NaN temperature ("not measured").
 *
 * Wire format, class version 2 (version 1 plus one field at the end):
 *   str detector; u32 run; varint ngains; f64[ngains] gains; f64 temperature
 */
#ifndef SKEW_CALIB_H
#define SKEW_CALIB_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../calib_sample.h"

#define CALIB_CLASS "calib"
#define CALIB_VERSION 2
#define CALIB_MIN_VERSION 1

typedef struct calib {
    char *detector;  /**< malloc'd, never NULL */
    uint32_t run;
    uint32_t ngains;
    double *gains;   /**< malloc'd, ngains entries (NULL when 0) */
    double temperature; /**< new in v2; NaN when read from a v1 payload */
} calib;

static inline void calib_free(calib *c)
{
    if (!c)
        return;
    free(c->detector);
    free(c->gains);
    free(c);
}

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
    c->temperature = NAN;
    return c;
}

/* The table every v2 producer writes for a run. */
static inline calib *calib_sample(uint32_t run)
{
    uint32_t n = calib_sample_ngains(run);
    calib *c = calib_alloc(CALIB_SAMPLE_DETECTOR, strlen(CALIB_SAMPLE_DETECTOR), n);
    if (!c)
        return NULL;
    c->run = run;
    for (uint32_t i = 0; i < n; i++)
        c->gains[i] = calib_sample_gain(run, i);
    c->temperature = calib_sample_temperature(run);
    return c;
}

#endif
