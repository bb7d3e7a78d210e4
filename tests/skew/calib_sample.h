/* calib_sample.h - the values every skew producer writes, so a test or a
 * consumer of another version can compute what it should read back. The
 * same formulas are compiled into every executable; all are plain IEEE
 * double arithmetic, so every process gets the same bits. */
#ifndef SKEW_CALIB_SAMPLE_H
#define SKEW_CALIB_SAMPLE_H

#include <stdint.h>

#define CALIB_SAMPLE_DETECTOR "tpc/sector-07"

/* 3 to 7 gains, depending on the run. */
static inline uint32_t calib_sample_ngains(uint32_t run) { return 3 + run % 5; }

static inline double calib_sample_gain(uint32_t run, uint32_t i)
{
    return (double)run + (double)(i + 1) / 3.0;
}

/* Only v2 has a temperature. */
static inline double calib_sample_temperature(uint32_t run)
{
    return 20.0 + (double)run / 7.0;
}

#endif
