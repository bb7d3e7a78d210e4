/* evo version 2: fields reordered; label (a string) and weights added;
 * legacy removed; level i8 -> i16, count16 u16 -> i32, vals' elements
 * i16 -> i32; struct pos gains z and a string. */
#ifndef EVO_H
#define EVO_H
#include <mapfile/gen.h>
#include <stdint.h>

struct pos {
    int16_t x;
    int16_t y;
    int8_t z;
    char *tag;
};

struct evo {
    uint32_t serial;
    char *label;
    struct pos where;
    int16_t level;
    int32_t count16;
    float ratio;
    double weights[2];
    char *note;
    int32_t *vals MF_COUNT(nvals);
    uint32_t nvals;
    struct pos *extra;
};
#endif
