/* evo version 3: note (a string) removed; corners (an array of nested
 * structs) and tags (a counted array) added; ratio f32 -> f64, level
 * i16 -> i32; pos.x i16 -> i32. */
#ifndef EVO_H
#define EVO_H
#include <mapfile/gen.h>
#include <stdint.h>

struct pos {
    int32_t x;
    int16_t y;
    int8_t z;
    char *tag;
};

struct evo {
    uint32_t serial;
    int32_t level;
    double ratio;
    struct pos where;
    struct pos corners[2];
    char *label;
    int32_t count16;
    double weights[2];
    uint32_t nvals;
    int32_t *vals MF_COUNT(nvals);
    uint16_t ntags;
    uint8_t *tags MF_COUNT(ntags);
    struct pos *extra;
};
#endif
